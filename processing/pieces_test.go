package processing_test

import (
	"bytes"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/ethos-imaging/ethos/processing"
)

// TestPieces: an output written partly from the input's own memory reads
// back, hashes and hands over exactly the bytes written, keeps large
// slices of the input by reference only, and compares a shared range in
// place.
func TestPieces(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	in := make([]byte, 200<<10)
	for i := range in {
		in[i] = byte(rng.Uint32())
	}
	other := bytes.Clone(in[:40<<10]) // large, not the input's memory
	writes := [][]byte{
		[]byte("DICM header bytes"),
		in[1000 : 1000+100<<10], // shared
		[]byte{0xFE, 0xFF, 0xDD, 0xE0},
		in[5:105],                // input, but small: copied
		other,                    // copied
		in[150<<10 : 190<<10],    // shared
		in[190<<10 : 190<<10+10], // adjacent, small: copied
	}
	var want []byte
	for _, w := range writes {
		want = append(want, w...)
	}
	ps, release := processing.WritePieces(in, writes...)
	defer release()

	t.Run("shares_only_large_slices_of_the_input", func(t *testing.T) {
		if got := ps.SharedBytes(in); got != 100<<10+40<<10 {
			t.Fatalf("%d bytes shared, want %d", got, 140<<10)
		}
	})
	t.Run("reads_back_what_was_written", func(t *testing.T) {
		got, err := io.ReadAll(ps)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("read %d bytes (%v), want the %d written", len(got), err, len(want))
		}
		for _, c := range []struct{ off, n int }{{0, 5}, {10, 30}, {17, 1}, {16, 2}, {1000, 200 << 10}, {len(want) - 3, 3}} {
			n := min(c.n, len(want)-c.off)
			b := make([]byte, n)
			if k, err := ps.ReadAt(b, int64(c.off)); k != n || (err != nil && err != io.EOF) || !bytes.Equal(b, want[c.off:c.off+n]) {
				t.Fatalf("ReadAt(%d bytes at %d) = %d, %v", n, c.off, k, err)
			}
		}
		if k, err := ps.ReadAt(make([]byte, 4), int64(len(want))); k != 0 || err != io.EOF {
			t.Fatalf("ReadAt past the end = %d, %v; want 0, EOF", k, err)
		}
	})
	t.Run("hands_over_from_the_read_position", func(t *testing.T) {
		for _, pos := range []int64{0, 7, 17, int64(len(want)) - 1, int64(len(want))} {
			if _, err := ps.Seek(pos, io.SeekStart); err != nil {
				t.Fatal(err)
			}
			if got := bytes.Join(ps.UnreadPieces(), nil); !bytes.Equal(got, want[pos:]) {
				t.Fatalf("from %d: %d bytes handed over, want %d", pos, len(got), len(want)-int(pos))
			}
		}
	})
	t.Run("hashes_what_was_written", func(t *testing.T) {
		sum := sha256.Sum256(want)
		if got := ps.Sum(); !bytes.Equal(got, sum[:]) || !bytes.Equal(ps.PlainSHA256(), sum[:]) {
			t.Fatalf("sum %x, want %x", got, sum)
		}
	})
	t.Run("compares_in_place", func(t *testing.T) {
		off := int64(len(writes[0]))
		if at := ps.FirstDiffIn(off, in[1000:1000+100<<10]); at != -1 {
			t.Fatalf("shared range differs at %d", at)
		}
		// A range across pieces, against a copy with one byte changed.
		from := off + 100<<10 - 50
		c := bytes.Clone(want[from : from+200])
		if at := ps.FirstDiffIn(from, c); at != -1 {
			t.Fatalf("equal range across pieces differs at %d", at)
		}
		c[120] ^= 1
		if at := ps.FirstDiffIn(from, c); at != 120 {
			t.Fatalf("first difference at %d, want 120", at)
		}
		// The input's memory, but 2 bytes off.
		if at := ps.FirstDiffIn(off, in[1002:1002+100<<10]); at < 0 {
			t.Fatal("a shifted range of the input compared equal")
		}
	})
}
