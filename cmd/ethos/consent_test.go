package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/consent"
)

const consentFixture = "../../consent/testdata/research-optin.json"

// consentSetup writes a secret file and returns it with the subject key of
// the fixture's patient under that secret.
func consentSetup(t *testing.T) (secretFile string, key ethos.SubjectKey) {
	t.Helper()
	secret := []byte("cli-test-secret-0123456789abcdef0123")
	secretFile = filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secretFile, append(secret, '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(consentFixture)
	if err != nil {
		t.Fatal(err)
	}
	im, err := consent.ParseConsent(data)
	if err != nil {
		t.Fatal(err)
	}
	key, err = ethos.DeriveSubjectKey(secret, *im.Patient)
	if err != nil {
		t.Fatal(err)
	}
	return secretFile, key
}

func TestConsentValidate(t *testing.T) {
	secretFile, key := consentSetup(t)
	t.Run("OKSummary", func(t *testing.T) {
		out, stderr, code := runCLI(t, "consent", "validate", consentFixture)
		if code != 0 || !strings.Contains(out, "img-ai-2025-000123\tactive\tresearch") || !strings.Contains(out, "ok: 1 consents, 1 with a raw patient identifier") {
			t.Errorf("code %d, stdout %q, stderr %q", code, out, stderr)
		}
		if strings.Contains(out, "MRN-FAKE") {
			t.Errorf("summary prints the patient identifier")
		}
	})
	t.Run("OKExportPseudonymised", func(t *testing.T) {
		out, stderr, code := runCLI(t, "consent", "validate", "--export", "--secret-file", secretFile, consentFixture)
		if code != 0 {
			t.Fatalf("code %d: %s", code, stderr)
		}
		ims, err := consent.ParseFHIR([]byte(out))
		if err != nil {
			t.Fatalf("export does not parse: %v", err)
		}
		if len(ims) != 1 || ims[0].Patient != nil || ims[0].Consent.Subject != key {
			t.Errorf("export does not name the patient by subject key")
		}
		if strings.Contains(out, "MRN-FAKE") {
			t.Errorf("export carries the patient identifier")
		}
	})
	t.Run("UsageExportWithoutSecret", func(t *testing.T) {
		_, stderr, code := runCLI(t, "consent", "validate", "--export", consentFixture)
		if code != 2 || !strings.Contains(stderr, "--secret-file") {
			t.Errorf("code %d, stderr %q", code, stderr)
		}
	})
	t.Run("ErrMalformedNamesPath", func(t *testing.T) {
		data, _ := os.ReadFile(consentFixture)
		bad := filepath.Join(t.TempDir(), "bad.json")
		os.WriteFile(bad, []byte(strings.Replace(string(data), `"MLTRAINING"`, `"MLTRAINNG"`, 1)), 0o644)
		_, stderr, code := runCLI(t, "consent", "validate", bad)
		if code != 1 || !strings.Contains(stderr, "provision.provision[0].purpose[1].code") {
			t.Errorf("code %d, stderr %q", code, stderr)
		}
	})
	t.Run("UsageNoFile", func(t *testing.T) {
		if _, _, code := runCLI(t, "consent", "validate"); code != 2 {
			t.Errorf("code %d, want 2", code)
		}
	})
	t.Run("UsageUnknownSubcommand", func(t *testing.T) {
		if _, _, code := runCLI(t, "consent", "frob"); code != 2 {
			t.Errorf("code %d, want 2", code)
		}
	})
}

func TestConsentDecide(t *testing.T) {
	secretFile, key := consentSetup(t)
	common := []string{"consent", "decide", "--secret-file", secretFile, "--subject", string(key), "--now", "2026-01-01"}
	tests := []struct {
		name   string
		args   []string
		code   int
		reason ethos.DecisionReason
	}{
		{"PermitResearch", []string{"--purpose", "research", "--party", "site-a", "--modality", "CT", "--body-part", "CHEST"}, 0, ethos.ReasonPermitted},
		{"DeniedVendor", []string{"--purpose", "ai-training", "--party", "vendor-acme-ai", "--modality", "CT", "--body-part", "CHEST"}, 1, ethos.ReasonDenied},
		{"OutOfScopeCommercial", []string{"--purpose", "commercial-use", "--party", "site-a", "--modality", "CT", "--body-part", "CHEST"}, 1, ethos.ReasonOutOfScope},
		{"ExpiredLater", []string{"--purpose", "research", "--party", "site-a", "--modality", "CT", "--body-part", "CHEST", "--now", "2031-01-01"}, 1, ethos.ReasonExpired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append(append(append([]string{}, common...), tt.args...), consentFixture)
			out, stderr, code := runCLI(t, args...)
			if code != tt.code {
				t.Errorf("code %d, want %d (stderr %q)", code, tt.code, stderr)
			}
			var d ethos.ConsentDecision
			if err := json.Unmarshal([]byte(out), &d); err != nil {
				t.Fatalf("stdout is not a decision: %v: %q", err, out)
			}
			if d.Reason != tt.reason || d.ConsentID != "img-ai-2025-000123" {
				t.Errorf("decision %+v, want reason %s", d, tt.reason)
			}
		})
	}
	t.Run("ExplainListsConsents", func(t *testing.T) {
		args := append(append([]string{}, common...), "--explain", "--purpose", "commercial-use", consentFixture)
		out, _, code := runCLI(t, args...)
		var got struct {
			Decision ethos.ConsentDecision
			Consents []consent.Evaluation
		}
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatal(err)
		}
		if code != 1 || got.Decision.Reason != ethos.ReasonOutOfScope || len(got.Consents) != 1 || got.Consents[0].Says != consent.SaysOutOfScope || !got.Consents[0].InForce {
			t.Errorf("code %d, got %+v", code, got)
		}
	})
	t.Run("AcquiredBeforeConsent", func(t *testing.T) {
		args := append(append([]string{}, common...), "--purpose", "research", "--party", "site-a", "--modality", "MR", "--body-part", "CHEST", "--acquired", "2024-12-01", consentFixture)
		out, _, code := runCLI(t, args...)
		var got map[string]ethos.ConsentDecision
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatal(err)
		}
		if code != 1 || got["acquired"].Reason != ethos.ReasonNotYetValid || got["now"].Reason != ethos.ReasonPermitted || got["decision"].Reason != ethos.ReasonNotYetValid {
			t.Errorf("code %d, got %+v", code, got)
		}
	})
	for _, tt := range []struct {
		name string
		args []string
	}{
		{"UsageBadPurpose", []string{"--purpose", "marketing"}},
		{"UsageBadTime", []string{"--purpose", "research", "--at", "yesterday"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			args := append(append(append([]string{}, common...), tt.args...), consentFixture)
			if _, _, code := runCLI(t, args...); code != 2 {
				t.Errorf("code %d, want 2", code)
			}
		})
	}
	t.Run("UsageBadSubject", func(t *testing.T) {
		if _, _, code := runCLI(t, "consent", "decide", "--subject", "MRN-FAKE-000123", "--purpose", "research", consentFixture); code != 2 {
			t.Errorf("code %d, want 2", code)
		}
	})
}
