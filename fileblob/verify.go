package fileblob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/ethos-imaging/ethos"
)

// VerifyReport is the result of reading back every blob of a store.
type VerifyReport struct {
	Subjects int   `json:"subjects"`
	Blobs    int   `json:"blobs"`
	Bytes    int64 `json:"bytes"` // plaintext bytes read and authenticated
	// Corrupt lists the blobs that failed authentication, each as
	// "<blob ref>: <reason>".
	Corrupt []string `json:"corrupt"`
	// Orphans lists key directories with no data key in the key store:
	// the remains of a shredding interrupted after the key was destroyed,
	// or of a power loss before a Flush synced a new subject's key (both
	// unreadable, never acknowledged; safe to delete), or of a key store
	// restored from an older backup (then the keys are missing:
	// investigate).
	Orphans []string `json:"orphans"`
	// TempFiles counts unfinished puts left by a crash (never read).
	TempFiles int `json:"temp_files"`
}

// OK reports whether nothing was found wrong.
func (r *VerifyReport) OK() bool { return len(r.Corrupt) == 0 && len(r.Orphans) == 0 }

// Verify reads back and authenticates every blob of every subject in the
// key store, and lists what lies in the store directory without a key.
// It changes nothing.
func (s *Store) Verify(ctx context.Context) (*VerifyReport, error) {
	keys, err := s.Keys.DataKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	rep := &VerifyReport{Subjects: len(keys), Corrupt: []string{}, Orphans: []string{}}
	known := map[string]bool{}
	for _, k := range keys {
		known[k.ID] = true
		dir := filepath.Join(s.Dir, k.ID)
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) && p == dir {
					return nil // a subject whose blobs were all deleted
				}
				return err
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			switch {
			case d.IsDir():
				return nil
			case strings.HasPrefix(d.Name(), ".put-"):
				rep.TempFiles++
				return nil
			case !ethos.ValidBlobDigest(d.Name()):
				return nil
			}
			ref := ethos.BlobRef{Subject: k.Subject, Digest: d.Name()}
			rep.Blobs++
			rc, err := s.Open(ctx, ref)
			if err == nil {
				var n int64
				n, err = io.Copy(io.Discard, rc)
				rc.Close()
				rep.Bytes += n
			}
			if err != nil {
				if _, ok := errors.AsType[*CorruptError](err); ok || errors.Is(err, ErrUnwrap) {
					rep.Corrupt = append(rep.Corrupt, err.Error())
					return nil
				}
				return err
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("verify: %w", err)
		}
	}
	entries, err := os.ReadDir(s.Dir)
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	for _, e := range entries {
		if e.IsDir() && validKeyID(e.Name()) && !known[e.Name()] {
			rep.Orphans = append(rep.Orphans, e.Name())
		}
	}
	slices.Sort(rep.Corrupt)
	slices.Sort(rep.Orphans)
	return rep, nil
}
