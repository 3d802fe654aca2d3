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
