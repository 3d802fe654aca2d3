package processing_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/processing"
)

// alteredBlobs hands out stored files changed after they were stored: the
// last byte flipped, or one byte more.
type alteredBlobs struct {
	ethos.BlobStore
	grow bool
}

func (a alteredBlobs) Open(ctx context.Context, ref ethos.BlobRef) (io.ReadCloser, error) {
	rc, err := a.BlobStore.Open(ctx, ref)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return nil, err
	}
	if a.grow {
		b = append(b, 0)
	} else if len(b) > 0 {
		b[len(b)-1] ^= 0xFF
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

// TestExportRefusesAlteredFiles: a stored file that no longer matches its
// manifest entry (content or size) fails the export, to a directory
// (which is then not created) and as a tar stream, and the tar failure is
// audited.
func TestExportRefusesAlteredFiles(t *testing.T) {
	ctx := context.Background()
	f := setup(t, writtenFiles...)
	_, v, _ := labelled(t, f)
	for _, tc := range []struct {
		name string
		grow bool
		want string
	}{
		{"ErrContentChanged", false, "content hash"},
		{"ErrSizeChanged", true, "longer than the"},
	} {
		t.Run(tc.name+"/Dir", func(t *testing.T) {
			ds := f.datasets()
			ds.Blobs = alteredBlobs{ds.Blobs, tc.grow}
			out := filepath.Join(t.TempDir(), "export")
			_, err := ds.Export(ctx, f.caller(), v.ID, out, processing.ExportOptions{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
			if _, err := os.Lstat(out); !os.IsNotExist(err) {
				t.Errorf("export directory after a failed export: %v", err)
			}
		})
		t.Run(tc.name+"/Tar", func(t *testing.T) {
			ds := f.datasets()
			ds.Blobs = alteredBlobs{ds.Blobs, tc.grow}
			before := len(f.audit.events)
			var w bytes.Buffer
			_, err := ds.ExportTar(ctx, f.caller(), v.ID, &w, processing.ExportOptions{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
			evs := f.audit.events[before:]
			if len(evs) != 2 || evs[0].Decision != "allow" || !strings.Contains(evs[1].Reason, "stream interrupted after 0 of") {
				t.Errorf("audit %+v, want the export and its interruption", evs)
			}
		})
	}
}
