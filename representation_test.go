package ethos_test

import (
	"strings"
	"testing"

	"github.com/ethos-imaging/ethos"
)

func TestAgeBand(t *testing.T) {
	for _, tc := range []struct {
		years int
		want  string
	}{{-1, ""}, {0, "0-9"}, {9, "0-9"}, {10, "10-19"}, {45, "40-49"}, {89, "80-89"}, {90, "90+"}, {120, "90+"}} {
		if got := ethos.AgeBand(tc.years); got != tc.want {
			t.Errorf("AgeBand(%d) = %q, want %q", tc.years, got, tc.want)
		}
	}
}

func TestBlobRefValidate(t *testing.T) {
	s := ethos.SubjectKey(strings.Repeat("a", 64))
	d := strings.Repeat("0", 64)
	for _, tc := range []struct {
		name string
		ref  ethos.BlobRef
		ok   bool
	}{
		{"OK", ethos.BlobRef{Subject: s, Digest: d, Size: 3}, true},
		{"ErrInvalidTraversal", ethos.BlobRef{Subject: s, Digest: "../" + d[3:]}, false},
		{"ErrInvalidUpperHex", ethos.BlobRef{Subject: s, Digest: strings.Repeat("A", 64)}, false},
		{"ErrInvalidSubject", ethos.BlobRef{Subject: "p1", Digest: d}, false},
		{"ErrInvalidSize", ethos.BlobRef{Subject: s, Digest: d, Size: -1}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.ref.Validate()
			if (err == nil) != tc.ok {
				t.Fatalf("Validate() = %v", err)
			}
			if err != nil && ethos.ErrorCode(err) != ethos.EINVALID {
				t.Fatalf("code %s", ethos.ErrorCode(err))
			}
		})
	}
	if got := (ethos.BlobRef{Subject: s, Digest: d}).String(); strings.Contains(got, string(s)) {
		t.Fatalf("String() %q carries the whole subject key", got)
	}
}

func TestValidAttributeName(t *testing.T) {
	for name, want := range map[string]bool{"sex": true, "age_band": true, "site2": true, "": false, "2x": false, "Sex": false, "a-b": false, strings.Repeat("a", 65): false} {
		if got := ethos.ValidAttributeName(name); got != want {
			t.Errorf("ValidAttributeName(%q) = %v", name, got)
		}
	}
}
