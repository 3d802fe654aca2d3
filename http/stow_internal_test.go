package http

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

// TestReadPart checks that parts read into a shared arena keep their own
// bytes when the arena fills and the part moves to a larger one.
func TestReadPart(t *testing.T) {
	mk := func(n int, b byte) []byte { return bytes.Repeat([]byte{b}, n) }
	tests := []struct {
		name  string
		first int // initial arena capacity
		parts [][]byte
	}{
		{"fits", 1 << 10, [][]byte{mk(100, 'a'), mk(200, 'b')}},
		{"second_part_moves", 150, [][]byte{mk(100, 'a'), mk(200, 'b'), mk(3, 'c')}},
		{"one_part_larger_than_arena", 1, [][]byte{mk(3<<20, 'x')}},
		{"empty_part", 16, [][]byte{{}, mk(20, 'y'), {}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			arena := make([]byte, 0, tt.first)
			var got [][]byte
			for _, p := range tt.parts {
				var data []byte
				var err error
				// One byte at a time: every read boundary is exercised.
				arena, data, err = readPart(arena, iotest.OneByteReader(bytes.NewReader(p)))
				if err != nil {
					t.Fatal(err)
				}
				if cap(data) != len(data) {
					t.Errorf("part of %d bytes has capacity %d: a later append would show through", len(data), cap(data))
				}
				got = append(got, data)
			}
			for i, p := range tt.parts {
				if !bytes.Equal(got[i], p) {
					t.Errorf("part %d: %d bytes, want %d (content differs)", i, len(got[i]), len(p))
				}
			}
		})
	}
	t.Run("read_error_is_returned", func(t *testing.T) {
		boom := errors.New("boom")
		_, _, err := readPart(nil, io.MultiReader(bytes.NewReader([]byte("abc")), iotest.ErrReader(boom)))
		if !errors.Is(err, boom) {
			t.Fatalf("err = %v, want boom", err)
		}
	})
}

func TestSTOWArenaSize(t *testing.T) {
	for _, tt := range []struct {
		n    int64
		want int
	}{{-1, 1 << 20}, {0, 1 << 20}, {5000, 5000}, {MaxSTOWBytes, 64 << 20}, {MaxSTOWBytes + 1, 1 << 20}} {
		if got := stowArenaSize(tt.n); got != tt.want {
			t.Errorf("stowArenaSize(%d) = %d, want %d", tt.n, got, tt.want)
		}
	}
}
