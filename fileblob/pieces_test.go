package fileblob_test

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"testing"
)

// piecesReader is bytes in pieces handed over whole (fileblob.UnreadPieces);
// Read is never called by the store.
type piecesReader struct{ parts [][]byte }

func (p piecesReader) Read([]byte) (int, error) { return 0, fmt.Errorf("read called") }
func (p piecesReader) UnreadPieces() [][]byte   { return p.parts }

// TestPutPieces: bytes handed over in pieces, split anywhere (inside
// segments, on their boundaries, in empty pieces), are stored as the same
// blob as their concatenation: same address, same file size, same bytes
// read back.
func TestPutPieces(t *testing.T) {
	const seg = 1024
	data := make([]byte, 5*seg+300)
	for i := range data {
		data[i] = byte(i*7 + i>>8)
	}
	splits := map[string][]int{
		"one_piece":               {},
		"inside_segments":         {10, 1500, 1501, 4000},
		"on_segment_boundaries":   {seg, 2 * seg, 5 * seg},
		"empty_pieces":            {0, 0, 700, 700, len(data)},
		"many_small_in_a_segment": {1, 2, 3, 4, 5, 6, 7, 1030, 1031},
	}
	for _, size := range []int{0, 1, seg, len(data)} {
		for name, at := range splits {
			t.Run(fmt.Sprintf("%s_%d_bytes", name, size), func(t *testing.T) {
				e := mustStore(t, seg)
				sub := subject(t, "P1")
				want := data[:size]
				var parts [][]byte
				prev := 0
				for _, a := range at {
					a = min(a, size)
					parts = append(parts, want[prev:a])
					prev = a
				}
				parts = append(parts, want[prev:])
				first, err := e.store.PutDeferred(ctx, sub, piecesReader{parts})
				if err != nil {
					t.Fatal(err)
				}
				ref, err := e.store.PutDeferredBuffered(ctx, sub, piecesReader{parts})
				if err != nil || ref != first {
					t.Fatalf("second put: %v (%v), want %v", ref, err, first)
				}
				whole, err := e.store.Put(ctx, sub, struct{ io.Reader }{bytes.NewReader(want)})
				if err != nil {
					t.Fatal(err)
				}
				if err := e.store.Flush(ctx); err != nil {
					t.Fatal(err)
				}
				if ref != whole {
					t.Fatalf("pieces stored as %v, their concatenation as %v", ref, whole)
				}
				fi, err := os.Stat(blobPath(t, e, ref))
				if err != nil {
					t.Fatal(err)
				}
				segs := max(1, (size+seg-1)/seg)
				if wantSize := int64(68 + size + 16*segs); fi.Size() != wantSize {
					t.Fatalf("blob file is %d bytes, want %d", fi.Size(), wantSize)
				}
				got, err := readAll(t, e.store, ref)
				if err != nil || !bytes.Equal(got, want) {
					t.Fatalf("read back %d bytes (%v), want %d", len(got), err, len(want))
				}
			})
		}
	}
}
