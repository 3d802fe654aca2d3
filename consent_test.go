package ethos_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/ethos-imaging/ethos"
)

var secret = []byte("0123456789abcdef0123456789abcdef")

func TestDeriveSubjectKey(t *testing.T) {
	id := ethos.PatientIdentifier{Issuer: "HOSP_A", Value: "PAT-00017"}
	k1, err := ethos.DeriveSubjectKey(secret, id)
	if err != nil {
		t.Fatal(err)
	}
	if !k1.Valid() {
		t.Fatalf("key %q is not valid", k1)
	}
	t.Run("Deterministic", func(t *testing.T) {
		k2, _ := ethos.DeriveSubjectKey(secret, id)
		if k1 != k2 {
			t.Errorf("%s != %s", k1, k2)
		}
	})
	t.Run("DICOMPaddingIgnored", func(t *testing.T) {
		k2, _ := ethos.DeriveSubjectKey(secret, ethos.PatientIdentifier{Issuer: "HOSP_A ", Value: "PAT-00017 "})
		if k1 != k2 {
			t.Errorf("padded identifier gives another key")
		}
	})
	for _, tt := range []struct {
		name   string
		secret []byte
		id     ethos.PatientIdentifier
	}{
		{"DifferentSecret", []byte("fedcba9876543210fedcba9876543210"), id},
		{"DifferentIssuer", secret, ethos.PatientIdentifier{Issuer: "HOSP_B", Value: "PAT-00017"}},
		{"DifferentValue", secret, ethos.PatientIdentifier{Issuer: "HOSP_A", Value: "PAT-00018"}},
		{"FieldBoundaryShifted", secret, ethos.PatientIdentifier{Issuer: "HOSP_AP", Value: "AT-00017"}},
		{"CaseMatters", secret, ethos.PatientIdentifier{Issuer: "hosp_a", Value: "PAT-00017"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			k, err := ethos.DeriveSubjectKey(tt.secret, tt.id)
			if err != nil {
				t.Fatal(err)
			}
			if k == k1 {
				t.Errorf("same key as the reference identifier")
			}
		})
	}
	for _, tt := range []struct {
		name   string
		secret []byte
		id     ethos.PatientIdentifier
	}{
		{"ErrShortSecret", secret[:31], id},
		{"ErrNoIssuer", secret, ethos.PatientIdentifier{Issuer: "  ", Value: "PAT-00017"}},
		{"ErrNoValue", secret, ethos.PatientIdentifier{Issuer: "HOSP_A"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ethos.DeriveSubjectKey(tt.secret, tt.id)
			if ethos.ErrorCode(err) != ethos.EINVALID {
				t.Fatalf("err = %v, want EINVALID", err)
			}
			if strings.Contains(err.Error(), "PAT-00017") || strings.Contains(err.Error(), "HOSP_A") {
				t.Errorf("error leaks the identifier: %v", err)
			}
		})
	}
}

func TestSubjectKeyValid(t *testing.T) {
	for _, tt := range []struct {
		k    ethos.SubjectKey
		want bool
	}{
		{ethos.SubjectKey(strings.Repeat("a1", 32)), true},
		{ethos.SubjectKey(strings.Repeat("A1", 32)), false},
		{ethos.SubjectKey(strings.Repeat("a", 63)), false},
		{ethos.SubjectKey(strings.Repeat("g", 64)), false},
		{"", false},
	} {
		if got := tt.k.Valid(); got != tt.want {
			t.Errorf("%q.Valid() = %v, want %v", tt.k, got, tt.want)
		}
	}
}

func TestPatientIdentifierNeverFormatted(t *testing.T) {
	id := ethos.PatientIdentifier{Issuer: "HOSP_A", Value: "PAT-00017"}
	var outs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
		outs = append(outs, fmt.Sprintf(verb, id), fmt.Sprintf(verb, &id))
	}
	outs = append(outs, fmt.Sprint(struct{ P ethos.PatientIdentifier }{id}), fmt.Sprintf("%+v", struct{ P *ethos.PatientIdentifier }{&id}))
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("ingest", "patient", id)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("ingest", "patient", id)
	outs = append(outs, buf.String(), fmt.Errorf("lookup %v: %w", id, errors.New("x")).Error())
	for _, s := range outs {
		if strings.Contains(s, "PAT-00017") || strings.Contains(s, "HOSP_A") {
			t.Errorf("identifier leaked: %s", s)
		}
	}
	if _, err := json.Marshal(struct{ P ethos.PatientIdentifier }{id}); !errors.Is(err, ethos.ErrIdentifierNotSerializable) {
		t.Errorf("json.Marshal: err = %v, want ErrIdentifierNotSerializable", err)
	}
}

func TestPurposeCodes(t *testing.T) {
	want := map[ethos.Purpose]string{
		ethos.PurposeClinicalCare: "TREAT",
		ethos.PurposeResearch:     "HRESCH",
		ethos.PurposeAITraining:   "MLTRAINING",
	}
	for _, p := range ethos.Purposes {
		t.Run(string(p), func(t *testing.T) {
			code, ok := p.HL7Code()
			if code != want[p] || ok != (want[p] != "") {
				t.Errorf("HL7Code = %q, %v; want %q", code, ok, want[p])
			}
			cd := p.Coding()
			back, ok := ethos.PurposeFromCoding(cd.System, cd.Code)
			if !ok || back != p {
				t.Errorf("PurposeFromCoding(%v) = %q, %v", cd, back, ok)
			}
			// The Ethos code is accepted for every purpose, also those
			// with an HL7 code.
			if back, ok := ethos.PurposeFromCoding(ethos.PurposeSystemEthos, string(p)); !ok || back != p {
				t.Errorf("Ethos coding not accepted")
			}
			if _, err := ethos.ParsePurpose(string(p)); err != nil {
				t.Error(err)
			}
		})
	}
	for _, cd := range []ethos.Coding{
		{System: ethos.PurposeSystemHL7, Code: "HMARKT"},
		{System: ethos.PurposeSystemEthos, Code: "TREAT"},
		{System: "http://example.org", Code: "research"},
	} {
		if p, ok := ethos.PurposeFromCoding(cd.System, cd.Code); ok {
			t.Errorf("PurposeFromCoding(%v) = %s, want none", cd, p)
		}
	}
	if _, err := ethos.ParsePurpose("marketing"); ethos.ErrorCode(err) != ethos.EINVALID {
		t.Errorf("ParsePurpose(marketing): err = %v", err)
	}
}

func TestPeriodCovers(t *testing.T) {
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	end := time.Date(2025, 12, 31, 23, 59, 59, 999999999, time.UTC)
	p := ethos.Period{Start: start, End: end}
	for _, tt := range []struct {
		name string
		p    ethos.Period
		t    time.Time
		want bool
	}{
		{"StartInclusive", p, start, true},
		{"BeforeStart", p, start.Add(-time.Nanosecond), false},
		{"EndInclusive", p, end, true},
		{"AfterEnd", p, end.Add(time.Nanosecond), false},
		{"OpenStart", ethos.Period{End: end}, time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC), true},
		{"OpenEnd", ethos.Period{Start: start}, time.Date(2999, 1, 1, 0, 0, 0, 0, time.UTC), true},
		{"OtherZoneSameInstant", p, start.In(time.FixedZone("CET", 3600)), true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.p.Covers(tt.t); got != tt.want {
				t.Errorf("Covers = %v, want %v", got, tt.want)
			}
		})
	}
}

func validConsent() *ethos.Consent {
	k, _ := ethos.DeriveSubjectKey(secret, ethos.PatientIdentifier{Issuer: "HOSP_A", Value: "PAT-00017"})
	return &ethos.Consent{
		ID: "c-1", Status: ethos.ConsentActive, Scope: ethos.ScopeResearch, Subject: k,
		DateTime: time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC),
		Policies: []ethos.Policy{{URI: "https://irb.example.org/p/1"}},
		Provision: ethos.Provision{Type: ethos.ProvisionDeny, Provisions: []ethos.Provision{
			{Type: ethos.ProvisionPermit, Purposes: []ethos.Purpose{ethos.PurposeResearch}, Modalities: []string{"CT"}, BodyParts: []string{"CHEST"}},
		}},
	}
}

func TestConsentValidate(t *testing.T) {
	if err := validConsent().Validate(); err != nil {
		t.Fatalf("valid consent: %v", err)
	}
	deep := ethos.Provision{Type: ethos.ProvisionPermit}
	for range ethos.MaxProvisionDepth + 1 {
		deep = ethos.Provision{Provisions: []ethos.Provision{deep}}
	}
	wide := make([]ethos.Provision, ethos.MaxProvisions)
	for _, tt := range []struct {
		name  string
		edit  func(c *ethos.Consent)
		field string
	}{
		{"ErrBadID", func(c *ethos.Consent) { c.ID = "c/1" }, "consent id"},
		{"ErrStatus", func(c *ethos.Consent) { c.Status = "cancelled" }, "status"},
		{"ErrScope", func(c *ethos.Consent) { c.Scope = "" }, "scope"},
		{"ErrSubject", func(c *ethos.Consent) { c.Subject = "PAT-00017" }, "subject"},
		{"ErrDateTime", func(c *ethos.Consent) { c.DateTime = time.Time{} }, "dateTime"},
		{"ErrNoPolicyBasis", func(c *ethos.Consent) { c.Policies = nil }, "policy"},
		{"ErrPatientGrantorWithParty", func(c *ethos.Consent) {
			c.Grantors = []ethos.Grantor{{Kind: ethos.GrantorPatient, Party: "p1"}}
		}, "grantors[0].party"},
		{"ErrProvisionType", func(c *ethos.Consent) { c.Provision.Provisions[0].Type = "maybe" }, "provision.provision[0].type"},
		{"ErrPurpose", func(c *ethos.Consent) { c.Provision.Provisions[0].Purposes[0] = "marketing" }, "provision.provision[0].purpose[0]"},
		{"ErrModality", func(c *ethos.Consent) { c.Provision.Provisions[0].Modalities[0] = "XRAY" }, "provision.provision[0].modality[0]"},
		{"ErrBodyPart", func(c *ethos.Consent) { c.Provision.Provisions[0].BodyParts[0] = "chest" }, "provision.provision[0].bodyPart[0]"},
		{"ErrActorParty", func(c *ethos.Consent) { c.Provision.Actors = []ethos.Actor{{Party: ""}} }, "provision.actor[0]"},
		{"ErrPeriodBackwards", func(c *ethos.Consent) {
			c.Provision.Period = ethos.Period{Start: c.DateTime, End: c.DateTime.Add(-time.Hour)}
		}, "provision.period"},
		{"ErrTooDeep", func(c *ethos.Consent) { c.Provision = deep }, "nested deeper"},
		{"ErrTooMany", func(c *ethos.Consent) { c.Provision.Provisions = wide }, "more than"},
		{"ErrWithdrawalRequester", func(c *ethos.Consent) {
			c.Status = ethos.ConsentInactive
			c.Withdrawal = &ethos.ConsentWithdrawal{At: c.DateTime.Add(time.Hour), RecordedBy: "u1", RequestedBy: "Neighbour"}
		}, "withdrawal.requestedBy"},
		{"ErrWithdrawnButActive", func(c *ethos.Consent) {
			c.Withdrawal = &ethos.ConsentWithdrawal{At: c.DateTime.Add(time.Hour), RecordedBy: "u1", RequestedBy: ethos.GrantorPatient}
		}, "withdrawal"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := validConsent()
			tt.edit(c)
			err := c.Validate()
			if ethos.ErrorCode(err) != ethos.EINVALID || !strings.Contains(err.Error(), tt.field) {
				t.Errorf("err = %v, want EINVALID naming %q", err, tt.field)
			}
		})
	}
	t.Run("WithdrawnInactive", func(t *testing.T) {
		c := validConsent()
		c.Status = ethos.ConsentInactive
		c.Withdrawal = &ethos.ConsentWithdrawal{At: c.DateTime.Add(time.Hour), RecordedBy: "u1", RequestedBy: ethos.GrantorPatient, ErasureRequested: true}
		if err := c.Validate(); err != nil {
			t.Error(err)
		}
	})
}

func TestConsentPeriodDefaultsToDateTime(t *testing.T) {
	c := validConsent()
	if got := c.Period(); !got.Start.Equal(c.DateTime) || !got.End.IsZero() {
		t.Errorf("Period() = %+v, want start at dateTime, open end", got)
	}
	start := c.DateTime.AddDate(-5, 0, 0)
	c.Provision.Period.Start = start
	if got := c.Period(); !got.Start.Equal(start) {
		t.Errorf("Period().Start = %v, want %v", got.Start, start)
	}
}

func TestConsentDecisionErr(t *testing.T) {
	k := validConsent().Subject
	d := ethos.ConsentDecision{Decision: ethos.DecisionNoConsent, Reason: ethos.ReasonOutOfScope, Subject: k,
		Purpose: ethos.PurposeCommercialUse, ConsentID: "c-1", Provision: "provision"}
	err := d.Err()
	if ethos.ErrorCode(err) != ethos.ECONSENT {
		t.Fatalf("code = %s", ethos.ErrorCode(err))
	}
	msg := ethos.ErrorMessage(err)
	for _, want := range []string{k.Short(), "commercial-use", "OUT_OF_SCOPE", "c-1", "new consent"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
	if strings.Contains(msg, string(k)) {
		t.Errorf("message carries the full subject key: %q", msg)
	}
	if (ethos.ConsentDecision{Decision: ethos.DecisionPermit}).Err() != nil {
		t.Error("permit has an error")
	}
}

func TestConsentPurposes(t *testing.T) {
	c := validConsent()
	c.Provision.Provisions = append(c.Provision.Provisions,
		ethos.Provision{Type: ethos.ProvisionDeny, Purposes: []ethos.Purpose{ethos.PurposeCommercialUse, ethos.PurposeResearch},
			Provisions: []ethos.Provision{{Purposes: []ethos.Purpose{ethos.PurposeAITraining}}}})
	got := c.Purposes()
	want := []ethos.Purpose{ethos.PurposeResearch, ethos.PurposeCommercialUse, ethos.PurposeAITraining}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Purposes() = %v, want %v", got, want)
	}
}

func TestStagePurpose(t *testing.T) {
	want := map[ethos.Stage]ethos.Purpose{
		ethos.StageTraining:   ethos.PurposeAITraining,
		ethos.StageEvaluation: ethos.PurposeAIEvaluation,
		ethos.StageDeployment: ethos.PurposeAIDeploymentMonitoring,
	}
	for _, s := range ethos.Stages {
		p, ok := ethos.StagePurpose(s)
		if p != want[s] || ok != (want[s] != "") {
			t.Errorf("StagePurpose(%s) = %q, %v; want %q", s, p, ok, want[s])
		}
	}
}
