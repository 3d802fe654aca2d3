package consent_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/consent"
	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// testSecret keys the subject keys of the test fixtures (fake data only).
var testSecret = []byte("ethos-test-secret-not-for-production-0001")

// examples are the hand-written FHIR documents in testdata (fake patients).
var examples = []string{"research-optin", "optout-commercial", "guardian-withdrawn", "bundle"}

// mustImport parses a fixture and gives every consent that arrived with a
// raw identifier the subject key derived from it, as the caller of the
// import does.
func mustImport(tb testing.TB, data []byte) []*ethos.Consent {
	tb.Helper()
	ims, err := consent.ParseFHIR(data)
	if err != nil {
		tb.Fatalf("ParseFHIR: %v", err)
	}
	return withSubjects(tb, ims)
}

func withSubjects(tb testing.TB, ims []consent.Imported) []*ethos.Consent {
	tb.Helper()
	out := make([]*ethos.Consent, len(ims))
	for i, im := range ims {
		if (im.Patient == nil) == (im.Consent.Subject == "") {
			tb.Fatalf("consent %s: subject %q and patient identifier present=%v: want exactly one", im.Consent.ID, im.Consent.Subject, im.Patient != nil)
		}
		if im.Patient != nil {
			k, err := ethos.DeriveSubjectKey(testSecret, *im.Patient)
			if err != nil {
				tb.Fatalf("DeriveSubjectKey: %v", err)
			}
			im.Consent.Subject = k
		}
		out[i] = im.Consent
	}
	return out
}

func export(tb testing.TB, cs []*ethos.Consent, bundle bool) []byte {
	tb.Helper()
	var b []byte
	var err error
	if bundle {
		b, err = consent.MarshalFHIRBundle(cs)
	} else {
		b, err = consent.MarshalFHIR(cs[0])
	}
	if err != nil {
		tb.Fatalf("export: %v", err)
	}
	return b
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run go test -update to create it): %v", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s differs from golden (-want +got):\n%s", path, diff)
	}
}

func TestFHIRRoundTrip(t *testing.T) {
	for _, name := range examples {
		t.Run(name, func(t *testing.T) {
			src, err := os.ReadFile(filepath.Join("testdata", name+".json"))
			if err != nil {
				t.Fatal(err)
			}
			cs := mustImport(t, src)
			bundle := name == "bundle"

			// The Ethos form of the consents, as a golden file: the
			// mapping from FHIR to the vocabulary, field by field.
			vocab, err := json.MarshalIndent(cs, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			golden(t, name+".ethos.json", append(vocab, '\n'))

			// Export, as a golden file.
			out := export(t, cs, bundle)
			golden(t, name+".fhir.json", out)

			// The export parses back to the same consents, and exports to
			// the same bytes.
			again := mustImport(t, out)
			if diff := cmp.Diff(cs, again); diff != "" {
				t.Errorf("consents changed in the round trip (-first +second):\n%s", diff)
			}
			if out2 := export(t, again, bundle); !bytes.Equal(out, out2) {
				t.Errorf("second export differs from the first:\n%s", cmp.Diff(string(out), string(out2)))
			}

			// No real identifier leaves through the export.
			for _, leak := range []string{"MRN-FAKE", "FAKE-BSN", "FAKE-772", "Fakename", "Fictional", "p-4711"} {
				if bytes.Contains(out, []byte(leak)) {
					t.Errorf("export contains %q", leak)
				}
			}
		})
	}
}

func TestFHIRImportMapping(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("testdata", "research-optin.json"))
	if err != nil {
		t.Fatal(err)
	}
	im, err := consent.ParseConsent(src)
	if err != nil {
		t.Fatal(err)
	}
	if im.Patient == nil || im.Patient.Issuer != "urn:oid:1.2.826.0.1.3680043.9.7604.1" || im.Patient.Value != "MRN-FAKE-000123" {
		t.Fatalf("patient identifier not returned separately")
	}
	if im.Consent.Subject != "" {
		t.Errorf("subject set from a raw identifier: %q", im.Consent.Subject)
	}
	c := im.Consent
	if got, want := c.DateTime, time.Date(2025, 3, 14, 9, 32, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("dateTime = %v, want %v", got, want)
	}
	if got, want := c.Provision.Period.End, time.Date(2030, 3, 14, 0, 0, 0, 0, time.UTC).Add(-time.Nanosecond); !got.Equal(want) {
		t.Errorf("period end = %v, want the last instant of 2030-03-13 %v", got, want)
	}
	nested := c.Provision.Provisions[0].Provisions[0]
	if got, want := nested.Period.End, time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC).Add(-time.Nanosecond); !got.Equal(want) {
		t.Errorf("month-precision end = %v, want %v", got, want)
	}
	if got := c.Provision.Provisions[0].Purposes; !cmp.Equal(got, []ethos.Purpose{ethos.PurposeResearch, ethos.PurposeAITraining, ethos.PurposeAIEvaluation}) {
		t.Errorf("purposes = %v", got)
	}
	if got := c.Grantors; !cmp.Equal(got, []ethos.Grantor{{Kind: ethos.GrantorPatient}, {Kind: ethos.GrantorPractitioner, Party: "dr-radiology-7"}}) {
		t.Errorf("grantors = %v", got)
	}

	// The imported consent decides as written: research on chest CT is
	// permitted, the AI vendor is refused until the end of 2026,
	// commercial use needs new consent.
	c.Subject = subjA
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		name   string
		q      consent.Query
		reason ethos.DecisionReason
	}{
		{"PermittedResearchCT", consent.Query{Purpose: ethos.PurposeResearch, Party: "site-a", Modality: "CT", BodyPart: "CHEST"}, ethos.ReasonPermitted},
		{"DeniedVendorInPeriod", consent.Query{Purpose: ethos.PurposeAITraining, Party: "vendor-acme-ai", Modality: "CT", BodyPart: "CHEST"}, ethos.ReasonDenied},
		{"OutOfScopeCommercial", consent.Query{Purpose: ethos.PurposeCommercialUse, Party: "site-a", Modality: "CT", BodyPart: "CHEST"}, ethos.ReasonOutOfScope},
		{"OutOfScopeHead", consent.Query{Purpose: ethos.PurposeResearch, Party: "site-a", Modality: "CT", BodyPart: "HEAD"}, ethos.ReasonOutOfScope},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.q.Subject, tt.q.Now = subjA, now
			d, err := consent.Decide([]*ethos.Consent{c}, tt.q)
			if err != nil {
				t.Fatal(err)
			}
			if d.Reason != tt.reason {
				t.Errorf("reason %s (%s), want %s", d.Reason, d.Detail, tt.reason)
			}
		})
	}
}

// base is a minimal valid Consent; the malformed cases edit it.
const base = `{
  "resourceType": "Consent",
  "id": "c-1",
  "status": "active",
  "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "research"}]},
  "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
  "patient": {"identifier": {"system": "urn:oid:1.2.3", "value": "SECRET-MRN-42"}},
  "dateTime": "2025-01-02T03:04:05Z",
  "policyRule": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "OPTIN"}]},
  "provision": {
    "type": "deny",
    "provision": [
      {"type": "permit", "purpose": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "HRESCH"}]},
      {"type": "permit", "purpose": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "MLTRAINING"}]}
    ]
  }
}`

func TestFHIRRejects(t *testing.T) {
	if _, err := consent.ParseFHIR([]byte(base)); err != nil {
		t.Fatalf("base document does not parse: %v", err)
	}
	edit := func(old, new string) string {
		if !strings.Contains(base, old) {
			t.Fatalf("base has no %q", old)
		}
		return strings.Replace(base, old, new, 1)
	}
	tests := []struct {
		name string
		doc  string
		path string
	}{
		{"ErrUnknownPurposeCode", edit(`"MLTRAINING"`, `"MARKETING"`), "provision.provision[1].purpose[0].code"},
		{"ErrUnknownPurposeSystem", edit(`"http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "HRESCH"`, `"http://example.org/purposes", "code": "HRESCH"`), "provision.provision[0].purpose[0].system"},
		{"ErrUnknownStatus", edit(`"active"`, `"cancelled"`), "status"},
		{"ErrStatusNotString", edit(`"active"`, `1`), "status"},
		{"ErrUnknownScope", edit(`"code": "research"`, `"code": "marketing"`), "scope.coding[0].code"},
		{"ErrMissingPatient", edit(`"patient": {"identifier": {"system": "urn:oid:1.2.3", "value": "SECRET-MRN-42"}},`, ``), "patient"},
		{"ErrPatientReferenceOnly", edit(`{"identifier": {"system": "urn:oid:1.2.3", "value": "SECRET-MRN-42"}}`, `{"reference": "Patient/SECRET-MRN-42"}`), "patient.identifier"},
		{"ErrPatientNoSystem", edit(`"system": "urn:oid:1.2.3", `, ``), "patient.identifier.system"},
		{"ErrBadSubjectKey", edit(`"urn:oid:1.2.3"`, `"https://ethos-imaging.org/fhir/NamingSystem/subject-key"`), "patient.identifier.value"},
		{"ErrBadDateTime", edit(`"2025-01-02T03:04:05Z"`, `"2025-01-02T03:04:05"`), "dateTime"},
		{"ErrImpossibleDate", edit(`"2025-01-02T03:04:05Z"`, `"2025-02-30"`), "dateTime"},
		{"ErrMissingDateTime", edit(`"dateTime": "2025-01-02T03:04:05Z",`, ``), "dateTime"},
		{"ErrNoPolicyBasis", edit(`"policyRule": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "OPTIN"}]},`, ``), "policy"},
		{"ErrUnknownProvisionType", edit(`"type": "deny"`, `"type": "maybe"`), "provision.type"},
		{"ErrUnknownElement", edit(`"status": "active",`, `"status": "active", "colour": "blue",`), "colour"},
		{"ErrModifierExtension", edit(`{"type": "permit", "purpose": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "HRESCH"}]}`,
			`{"type": "permit", "modifierExtension": [{"url": "x"}], "purpose": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "HRESCH"}]}`), "provision.provision[0].modifierExtension"},
		{"ErrDataPeriodBackwards", edit(`"type": "deny",`, `"type": "deny", "dataPeriod": {"start": "2021", "end": "2020"},`), "provision.dataPeriod"},
		{"ErrDataReferenceUnsupported", edit(`"type": "deny",`, `"type": "deny", "data": [{"meaning": "instance", "reference": {"reference": "ImagingStudy/1"}}],`), "provision.data"},
		{"ErrSecurityLabelUnsupported", edit(`"type": "deny",`, `"type": "deny", "securityLabel": [{"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "R"}],`), "provision.securityLabel"},
		{"ErrUnknownModality", edit(`"type": "deny",`, `"type": "deny", "code": [{"coding": [{"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "XRAY"}]}],`), "provision.code[0].coding[0].code"},
		{"ErrBadBodyPart", edit(`"type": "deny",`, `"type": "deny", "code": [{"coding": [{"system": "https://ethos-imaging.org/fhir/CodeSystem/body-part-examined", "code": "chest"}]}],`), "provision.code[0].coding[0].code"},
		{"ErrSNOMEDBodyPartUnsupported", edit(`"type": "deny",`, `"type": "deny", "code": [{"coding": [{"system": "http://snomed.info/sct", "code": "51185008"}]}],`), "provision.code[0].coding[0].system"},
		{"ErrTextOnlyConcept", edit(`"type": "deny",`, `"type": "deny", "action": [{"text": "use"}],`), "provision.action[0].coding"},
		{"ErrUnknownAction", edit(`"type": "deny",`, `"type": "deny", "action": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentaction", "code": "sell"}]}],`), "provision.action[0].coding[0].code"},
		{"ErrNonImagingClass", edit(`"type": "deny",`, `"type": "deny", "class": [{"system": "http://hl7.org/fhir/resource-types", "code": "Observation"}],`), "provision.class[0]"},
		{"ErrPeriodBackwards", edit(`"type": "deny",`, `"type": "deny", "period": {"start": "2025-02-01", "end": "2025-01-01"},`), "provision.period"},
		{"ErrActorPatient", edit(`"type": "deny",`, `"type": "deny", "actor": [{"role": {"coding": [{"system": "x", "code": "IRCP"}]}, "reference": {"reference": "Patient/p1"}}],`), "provision.actor[0].reference"},
		{"ErrActorWithoutRole", edit(`"type": "deny",`, `"type": "deny", "actor": [{"reference": {"reference": "Organization/o1"}}],`), "provision.actor[0].role"},
		{"ErrEmptyArray", edit(`"type": "deny",`, `"type": "deny", "purpose": [],`), "provision.purpose"},
		{"ErrDuplicateKey", edit(`"status": "active",`, `"status": "active", "status": "draft",`), "status"},
		{"ErrMalformedJSON", base[:len(base)-3], "provision"},
		{"ErrTrailingData", base + `{}`, ""},
		{"ErrNotConsent", edit(`"resourceType": "Consent"`, `"resourceType": "Patient"`), "resourceType"},
		{"ErrBadID", edit(`"id": "c-1"`, `"id": "c 1"`), "id"},
		{"ErrPaddedString", edit(`"c-1"`, `" c-1"`), "id"},
		{"ErrTooDeep", edit(`{"type": "permit", "purpose": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "HRESCH"}]}`,
			strings.Repeat(`{"provision": [`, 9)+`{"type": "permit"}`+strings.Repeat(`]}`, 9)), "provision.provision[0]" + strings.Repeat(".provision[0]", 8)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ims, err := consent.ParseFHIR([]byte(tt.doc))
			if err == nil {
				t.Fatalf("parsed %d consents, want an error at %s", len(ims), tt.path)
			}
			if ims != nil {
				t.Errorf("returned %d consents alongside the error", len(ims))
			}
			fe, ok := errors.AsType[*consent.FHIRError](err)
			if !ok {
				t.Fatalf("error %T %v is not a *FHIRError", err, err)
			}
			if fe.Path != tt.path {
				t.Errorf("path = %q, want %q (%v)", fe.Path, tt.path, err)
			}
			if !errors.Is(err, consent.ErrInvalidFHIR) || ethos.ErrorCode(err) != ethos.EINVALID {
				t.Errorf("error %v: not ErrInvalidFHIR / EINVALID", err)
			}
			if strings.Contains(err.Error(), "SECRET-MRN-42") {
				t.Errorf("error leaks the patient identifier: %v", err)
			}
		})
	}
}

func TestFHIRBundleAllOrNothing(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("testdata", "bundle.json"))
	if err != nil {
		t.Fatal(err)
	}
	if got := len(mustImport(t, src)); got != 2 {
		t.Fatalf("bundle has %d consents, want 2", got)
	}
	bad := bytes.Replace(src, []byte(`"code": "TREAT"`), []byte(`"code": "TREATX"`), 1)
	ims, err := consent.ParseFHIR(bad)
	if err == nil || ims != nil {
		t.Fatalf("bad second entry: got %d consents, err %v; want none and an error", len(ims), err)
	}
	fe, ok := errors.AsType[*consent.FHIRError](err)
	if !ok || fe.Path != "entry[1].resource.provision.purpose[0].code" {
		t.Errorf("error %v, want path entry[1].resource.provision.purpose[0].code", err)
	}
	dup := bytes.Replace(src, []byte(`"id": "site-b-772"`), []byte(`"id": "site-b-771"`), 1)
	if _, err := consent.ParseFHIR(dup); err == nil || !strings.Contains(err.Error(), "entry[1].resource.id") {
		t.Errorf("duplicate ids: err = %v", err)
	}
	other := bytes.Replace(src, []byte(`"resourceType": "Consent",
        "id": "site-b-772"`), []byte(`"resourceType": "Patient",
        "id": "site-b-772"`), 1)
	if _, err := consent.ParseFHIR(other); err == nil || !strings.Contains(err.Error(), "entry[1].resource.resourceType") {
		t.Errorf("non-consent entry: err = %v", err)
	}
}

func TestReadFHIRLimit(t *testing.T) {
	big := bytes.Repeat([]byte(" "), consent.MaxFHIRBytes+1)
	if _, err := consent.ReadFHIR(bytes.NewReader(big)); !errors.Is(err, consent.ErrInvalidFHIR) {
		t.Errorf("oversized document: err = %v, want ErrInvalidFHIR", err)
	}
}

func TestMarshalFHIRRejectsInvalid(t *testing.T) {
	c := mk("c1", "2025-01-01", optIn(ethos.PurposeResearch))
	c.Subject = ""
	if _, err := consent.MarshalFHIR(c); ethos.ErrorCode(err) != ethos.EINVALID {
		t.Errorf("consent without subject: err = %v, want EINVALID", err)
	}
}

// FuzzParseFHIR checks that the parser never panics and that whatever it
// accepts survives export and re-import unchanged.
func FuzzParseFHIR(f *testing.F) {
	for _, name := range examples {
		for _, p := range []string{filepath.Join("testdata", name+".json"), filepath.Join("testdata", "golden", name+".fhir.json")} {
			if b, err := os.ReadFile(p); err == nil {
				f.Add(b)
			}
		}
	}
	f.Add([]byte(base))
	f.Fuzz(func(t *testing.T, data []byte) {
		ims, err := consent.ParseFHIR(data)
		if err != nil {
			if ims != nil {
				t.Fatalf("consents returned with error %v", err)
			}
			if _, ok := errors.AsType[*consent.FHIRError](err); !ok {
				t.Fatalf("error is not a *FHIRError: %v", err)
			}
			return
		}
		cs := withSubjects(t, ims)
		out1, err := consent.MarshalFHIRBundle(cs)
		if err != nil {
			t.Fatalf("accepted consents do not export: %v", err)
		}
		again, err := consent.ParseFHIR(out1)
		if err != nil {
			t.Fatalf("export does not parse: %v\n%s", err, out1)
		}
		cs2 := withSubjects(t, again)
		if diff := cmp.Diff(cs, cs2); diff != "" {
			t.Fatalf("round trip changed the consents:\n%s", diff)
		}
		out2, err := consent.MarshalFHIRBundle(cs2)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out1, out2) {
			t.Fatalf("export not stable:\n%s", cmp.Diff(string(out1), string(out2)))
		}
	})
}

// TestFHIRWriteThenParse writes consents built in Go and parses them back:
// every field the mapping keeps must come back equal, including period
// ends at every precision.
func TestFHIRWriteThenParse(t *testing.T) {
	cet := time.FixedZone("", 3600)
	allPurposes := append([]ethos.Purpose(nil), ethos.Purposes...)
	tests := []struct {
		name string
		edit func(c *ethos.Consent)
	}{
		{"OKMinimal", func(c *ethos.Consent) { c.Provision = ethos.Provision{} }},
		{"OKAllPurposes", func(c *ethos.Consent) { c.Provision.Provisions[0].Purposes = allPurposes }},
		{"OKEndOfDayUTC", func(c *ethos.Consent) { c.Provision.Period.End = endOf("2027-06-30") }},
		{"OKEndOfSecond", func(c *ethos.Consent) {
			c.Provision.Period.End = time.Date(2027, 6, 30, 17, 0, 0, 999999999, cet)
		}},
		{"OKEndExactInstant", func(c *ethos.Consent) {
			c.Provision.Period.End = time.Date(2027, 6, 30, 17, 0, 0, 0, time.UTC)
		}},
		{"OKEndFraction", func(c *ethos.Consent) {
			c.Provision.Period.End = time.Date(2027, 6, 30, 17, 0, 0, 123000000, cet)
		}},
		{"OKStartWithZone", func(c *ethos.Consent) {
			c.Provision.Period.Start = time.Date(2019, 2, 3, 0, 0, 0, 0, cet)
			c.DateTime = time.Date(2025, 1, 2, 3, 4, 5, 600000000, cet)
		}},
		{"OKActorsActionsData", func(c *ethos.Consent) {
			c.Provision.Provisions[0].Actors = []ethos.Actor{{Role: ethos.Coding{System: "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", Code: "PRCP"}, Party: "site-a"}}
			c.Provision.Provisions[0].Actions = []ethos.ConsentAction{ethos.ActionUse, ethos.ActionDisclose}
			c.Provision.Provisions[0].Modalities = []string{"CT", "PT"}
			c.Provision.Provisions[0].BodyParts = []string{"WHOLEBODY", "HEAD AND NECK"}
		}},
		{"OKGrantors", func(c *ethos.Consent) {
			c.Grantors = []ethos.Grantor{{Kind: ethos.GrantorPatient}, {Kind: ethos.GrantorRelatedPerson},
				{Kind: ethos.GrantorPractitionerRole, Party: "radiologist-on-duty"}, {Kind: ethos.GrantorOrganization, Party: "hospital-a"}}
		}},
		{"OKPoliciesAndRule", func(c *ethos.Consent) {
			c.Policies = []ethos.Policy{{Authority: "https://irb.example.org"}, {URI: "https://irb.example.org/p/7"}}
		}},
		{"OKDeepNesting", func(c *ethos.Consent) {
			p := ethos.Provision{Type: ethos.ProvisionPermit}
			for range ethos.MaxProvisionDepth {
				p = ethos.Provision{Provisions: []ethos.Provision{p}}
			}
			c.Provision = p
		}},
		{"OKEveryStatus", func(c *ethos.Consent) { c.Status = ethos.ConsentEnteredInError }},
		{"OKDataPeriod", func(c *ethos.Consent) {
			c.Provision.Provisions[0].DataPeriod = ethos.Period{Start: day("2015-01-01"), End: endOf("2019-12-31")}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mk("w-1", "2025-01-01", optIn(ethos.PurposeResearch))
			c.Categories = []ethos.Coding{{System: "http://loinc.org", Code: "59284-0"}}
			tt.edit(c)
			if err := c.Validate(); err != nil {
				t.Fatalf("test consent invalid: %v", err)
			}
			out, err := consent.MarshalFHIR(c)
			if err != nil {
				t.Fatal(err)
			}
			im, err := consent.ParseConsent(out)
			if err != nil {
				t.Fatalf("parse: %v\n%s", err, out)
			}
			if im.Patient != nil {
				t.Errorf("exported patient came back as an identifier")
			}
			want := *c
			// An actor without a role is written with the default role.
			for i := range want.Provision.Provisions {
				for j := range want.Provision.Provisions[i].Actors {
					if want.Provision.Provisions[i].Actors[j].Role.IsZero() {
						want.Provision.Provisions[i].Actors[j].Role = consent.DefaultActorRole
					}
				}
			}
			if diff := cmp.Diff(&want, im.Consent); diff != "" {
				t.Errorf("consent changed (-written +parsed):\n%s", diff)
			}
		})
	}
}

// valuesTemplate is a Consent whose interesting values come from the fuzzer.
const valuesTemplate = `{
  "resourceType": "Consent", "id": %s, "status": %s,
  "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": %s}]},
  "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
  "patient": {"identifier": {"system": "urn:oid:1.2.3", "value": %s}},
  "dateTime": %s,
  "performer": [{"reference": %s}],
  "policy": [{"uri": "https://irb.example.org/p/1"}],
  "provision": {
    "type": "deny", "period": {"start": %s, "end": %s},
    "provision": [{
      "type": %s,
      "purpose": [{"system": %s, "code": %s}],
      "code": [{"coding": [{"system": "http://dicom.nema.org/resources/ontology/DCM", "code": %s}]},
               {"coding": [{"system": "https://ethos-imaging.org/fhir/CodeSystem/body-part-examined", "code": %s}]}],
      "actor": [{"role": {"coding": [{"system": "x", "code": "IRCP"}]}, "reference": {"reference": %s}}]
    }]
  }
}`

var mrnLike = regexp.MustCompile(`^[A-Z0-9-]*[0-9][A-Z0-9-]*$`)

// FuzzFHIRValues puts fuzzed strings into the elements whose values the
// parser interprets (dates, codes, references, ids), so that the semantic
// checks and the date round trip are explored, not just JSON syntax.
func FuzzFHIRValues(f *testing.F) {
	f.Add("c-1", "active", "research", "MRN-1", "2025-01-02T03:04:05+01:00", "Practitioner/dr-1", "2025", "2030-06",
		"permit", ethos.PurposeSystemHL7, "HRESCH", "CT", "CHEST", "Organization/site-a")
	f.Add("x.y", "inactive", "treatment", " ", "2025-01-02", "Patient/p", "2025-01-02T00:00:00.5-00:00", "2025-01-02T23:59:59+14:00",
		"deny", ethos.PurposeSystemEthos, "ai-evaluation", "MG", "HEAD AND NECK", "PractitionerRole/r")
	f.Fuzz(func(t *testing.T, id, status, scope, mrn, dateTime, performer, start, end, typ, purposeSystem, purposeCode, modality, bodyPart, actor string) {
		q := func(s string) string { b, _ := json.Marshal(s); return string(b) }
		doc := fmt.Sprintf(valuesTemplate, q(id), q(status), q(scope), q(mrn), q(dateTime), q(performer), q(start), q(end),
			q(typ), q(purposeSystem), q(purposeCode), q(modality), q(bodyPart), q(actor))
		ims, err := consent.ParseFHIR([]byte(doc))
		if err != nil {
			// A realistic identifier that occurs only as the patient's
			// identifier must never show up in an error.
			if len(mrn) >= 6 && mrnLike.MatchString(mrn) && strings.Count(doc, mrn) == 1 && strings.Contains(err.Error(), mrn) {
				t.Fatalf("error quotes the patient identifier: %v", err)
			}
			return
		}
		cs := withSubjects(t, ims)
		out1, err := consent.MarshalFHIRBundle(cs)
		if err != nil {
			t.Fatalf("accepted consent does not export: %v", err)
		}
		again, err := consent.ParseFHIR(out1)
		if err != nil {
			t.Fatalf("export does not parse: %v\n%s", err, out1)
		}
		cs2 := withSubjects(t, again)
		if diff := cmp.Diff(cs, cs2); diff != "" {
			t.Fatalf("round trip changed the consents:\n%s", diff)
		}
		out2, _ := consent.MarshalFHIRBundle(cs2)
		if !bytes.Equal(out1, out2) {
			t.Fatalf("export not stable:\n%s", cmp.Diff(string(out1), string(out2)))
		}
	})
}

// TestFHIRStringsMayBePadded: elements of type string (identifier values,
// displays, text) may carry surrounding whitespace in FHIR; codes may not.
func TestFHIRStringsMayBePadded(t *testing.T) {
	doc := strings.Replace(base, `"value": "SECRET-MRN-42"`, `"value": " SECRET-MRN-42 "`, 1)
	doc = strings.Replace(doc, `"code": "59284-0"}`, `"code": "59284-0", "display": "Patient consent "}`, 1)
	im, err := consent.ParseConsent([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	padded, _ := ethos.DeriveSubjectKey(testSecret, *im.Patient)
	plain, _ := ethos.DeriveSubjectKey(testSecret, ethos.PatientIdentifier{Issuer: "urn:oid:1.2.3", Value: "SECRET-MRN-42"})
	if padded != plain {
		t.Errorf("padding changes the subject key")
	}
	if _, err := consent.ParseFHIR([]byte(strings.Replace(base, `"code": "59284-0"`, `"code": "59284-0 "`, 1))); err == nil {
		t.Errorf("padded code accepted")
	}
}
