package deid_test

import (
	"bytes"
	"testing"

	"github.com/ethos-imaging/ethos/deid"
)

// TestTrimBytesMatchesBytesTrim holds the engine's loop trim to what it
// replaced: leading spaces, trailing spaces and NULs.
func TestTrimBytesMatchesBytesTrim(t *testing.T) {
	for _, v := range []string{"", " ", "\x00", "  \x00", "M", " M ", "1.2.3\x00", "A B \x00 \x00", "\x00A", " \x00 x", "x\x00y "} {
		got := deid.TrimBytes([]byte(v))
		want := bytes.TrimRight(bytes.TrimLeft([]byte(v), " "), " \x00")
		if !bytes.Equal(got, want) {
			t.Errorf("TrimBytes(%q) = %q, want %q", v, got, want)
		}
	}
}

// TestSafeName: a UID as written passes unchanged; any other byte or rune
// becomes one underscore.
func TestSafeName(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"2.25.1234", "2.25.1234"},
		{"", ""},
		{"1.2-abc", "1.2-abc"},
		{"1.2/../x", "1.2_.._x"},
		{"A.1 2", "_.1_2"},
		{"1.é.2", "1._.2"},
	} {
		if got := deid.SafeName(tt.in); got != tt.want {
			t.Errorf("SafeName(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
