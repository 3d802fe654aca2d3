package processing

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"time"

	"github.com/ethos-imaging/ethos"
)

// ExportTar streams a version for training to w as a tar archive:
// manifest.json and manifest.csv first, then every de-identified file at
// its manifest path (files/STUDY/SERIES/INSTANCE.dcm). It makes the same
// decisions and checks as Export before the first byte is written, and
// records the export in the audit log then, since the data starts to
// leave; a failure while streaming (a file whose SHA-256 or size does not
// match the manifest, a broken connection) is audited too, and leaves w
// with a truncated archive that a reader detects by checking the files
// against manifest.json, which comes first for that reason.
func (d *Datasets) ExportTar(ctx context.Context, c *Caller, versionID string, w io.Writer, o ExportOptions) (*ExportResult, error) {
	pl, err := d.planExport(ctx, c, versionID, o)
	if err != nil {
		return nil, err
	}
	m := &pl.m
	var mj, mc bytes.Buffer
	if err := writeManifestJSON(&mj, m); err != nil {
		return nil, err
	}
	if err := writeManifestCSV(&mc, m); err != nil {
		return nil, err
	}
	res := &ExportResult{VersionID: m.Version, DUAID: pl.dec.DUAID, Weights: m.Weights}
	var total int64
	for _, e := range m.Entries {
		if e.Size < 0 {
			return nil, ethos.Errorf(ethos.EINVALID, "entry %s: negative size", e.ID)
		}
		total += e.Size
	}
	if err := d.audit(ctx, c, ethos.StageTraining, ethos.PurposeAITraining, "dataset.export", pl.resource, "allow", pl.reason(len(m.Entries), total)+", streamed as tar"); err != nil {
		return nil, err
	}
	fail := func(err error) (*ExportResult, error) {
		why := fmt.Sprintf("stream interrupted after %d of %d files: %s", res.Files, len(m.Entries), ethos.ErrorMessage(err))
		if ethos.ErrorCode(err) == ethos.EINTERNAL {
			why = fmt.Sprintf("stream interrupted after %d of %d files", res.Files, len(m.Entries))
		}
		if aerr := d.audit(ctx, c, ethos.StageTraining, ethos.PurposeAITraining, "dataset.export", pl.resource, "", why); aerr != nil {
			return nil, fmt.Errorf("%w (and audit: %v)", err, aerr)
		}
		return nil, err
	}
	tw := tar.NewWriter(w)
	mod := time.Unix(0, 0).UTC()
	for _, f := range []struct {
		name string
		b    []byte
	}{{"manifest.json", mj.Bytes()}, {"manifest.csv", mc.Bytes()}} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: f.name, Size: int64(len(f.b)), Mode: 0o644, ModTime: mod, Format: tar.FormatPAX}); err != nil {
			return fail(err)
		}
		if _, err := tw.Write(f.b); err != nil {
			return fail(err)
		}
	}
	for _, e := range m.Entries {
		if err := ctx.Err(); err != nil {
			return fail(err)
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: e.Path, Size: e.Size, Mode: 0o644, ModTime: mod, Format: tar.FormatPAX}); err != nil {
			return fail(err)
		}
		if err := d.copyVerified(ctx, tw, pl.blobOf[e.ID], e); err != nil {
			return fail(fmt.Errorf("export entry %s: %w", e.ID, err))
		}
		res.Files++
		res.Bytes += e.Size
	}
	if err := tw.Close(); err != nil {
		return fail(err)
	}
	return res, nil
}

// copyVerified copies one blob into the archive, checking its size and
// SHA-256 against the manifest entry.
func (d *Datasets) copyVerified(ctx context.Context, w io.Writer, ref ethos.BlobRef, e exportEntry) error {
	rc, err := d.Blobs.Open(ctx, ref)
	if err != nil {
		return err
	}
	defer rc.Close()
	h := sha256.New()
	// Exactly the manifest's size goes to w (a tar entry takes no more),
	// then one byte more is asked for.
	n, err := io.Copy(io.MultiWriter(w, h), io.LimitReader(rc, e.Size))
	if err != nil {
		return err
	}
	if n != e.Size {
		return ethos.Errorf(ethos.EINTERNAL, "stored file is %d bytes, the manifest says %d", n, e.Size)
	}
	if more, err := pastEnd(rc); err != nil {
		return err
	} else if more {
		return ethos.Errorf(ethos.EINTERNAL, "stored file is longer than the %d bytes the manifest says", e.Size)
	}
	if sum := hex.EncodeToString(h.Sum(nil)); sum != e.SHA256 {
		return ethos.Errorf(ethos.EINTERNAL, "content hash %.12s does not match the manifest's %.12s", sum, e.SHA256)
	}
	return nil
}
