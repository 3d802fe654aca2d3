package ethos_test

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/ethos-imaging/ethos"
)

func TestAuditText(t *testing.T) {
	reason := "seen on DOE^JANE, MRN 004417731, born 1961-04-12"
	sum := sha256.Sum256([]byte(reason))
	tests := []struct {
		name, text, want string
	}{
		{"EmptyIsNone", "", "none"},
		{"LengthAndDigest", reason, "48 bytes, sha256:" + hex.EncodeToString(sum[:8])},
		{"BytesNotRunes", "é", "2 bytes, sha256:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ethos.AuditText(tt.text)
			if !strings.HasPrefix(got, tt.want) {
				t.Errorf("AuditText(%q) = %q, want %q", tt.text, got, tt.want)
			}
		})
	}
	t.Run("NoPartOfTheText", func(t *testing.T) {
		got := ethos.AuditText(reason)
		for _, part := range strings.FieldsFunc(reason, func(r rune) bool { return r == ' ' || r == ',' }) {
			if len(part) > 3 && strings.Contains(got, part) {
				t.Errorf("AuditText keeps %q: %q", part, got)
			}
		}
	})
	t.Run("AnEditChangesIt", func(t *testing.T) {
		if ethos.AuditText(reason) == ethos.AuditText(strings.Replace(reason, "1961", "1962", 1)) {
			t.Error("a changed text has the same reference")
		}
	})
}
