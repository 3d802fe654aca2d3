package http

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestUIFlashCutsLongTextAtACharacter checks that a flash message longer
// than its bound is cut between characters, never inside one.
func TestUIFlashCutsLongTextAtACharacter(t *testing.T) {
	s := &Server{UISessionKey: []byte(strings.Repeat("k", uiMinKeyLength))}
	for _, tc := range []struct{ name, text, want string }{
		{"short_kept", "Saved.", "Saved."},
		{"ascii_cut", strings.Repeat("a", 700), strings.Repeat("a", 600) + "…"},
		{"cut_before_a_two_byte_character", strings.Repeat("a", 599) + "éé", strings.Repeat("a", 599) + "…"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			s.uiFlash(w, httptest.NewRequest("POST", "/ui/x", nil), "error", tc.text)
			cs := w.Result().Cookies()
			if len(cs) != 1 || cs[0].Name != uiFlashCookie {
				t.Fatalf("cookies %v", cs)
			}
			b, ok := s.uiOpen("flash", cs[0].Value)
			var m uiFlashMsg
			if !ok || json.Unmarshal(b, &m) != nil {
				t.Fatalf("flash cookie does not open: %q", cs[0].Value)
			}
			if m.Text != tc.want || !utf8.ValidString(m.Text) {
				t.Errorf("text %q, want %q", m.Text, tc.want)
			}
		})
	}
}
