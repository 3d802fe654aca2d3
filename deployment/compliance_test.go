package deployment_test

import (
	"context"
	"errors"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/deployment"
)

type failingEvidence struct{}

func (failingEvidence) Observe(context.Context, ethos.EvidenceKey) (ethos.Observation, bool, error) {
	return ethos.Observation{}, false, errors.New("store down")
}

func TestEvaluate(t *testing.T) {
	now := utc("2026-11-20T10:00:00Z")
	evItem := ethos.ComplianceItem{ID: "E", Regime: "X", Evidence: ethos.EvidenceInferenceLogging}
	both := ethos.ComplianceItem{ID: "B", Regime: "X", Evidence: ethos.EvidenceMonitoringOnTime, AttestRoles: []ethos.Role{ethos.RoleAdmin}}
	att := ethos.ComplianceItem{ID: "A", Regime: "X", AttestRoles: []ethos.Role{ethos.RoleDataSteward}}
	sig := func(item string, role ethos.Role, at time.Time, waiver bool) ethos.Attestation {
		return ethos.Attestation{ItemID: item, Signature: ethos.Signature{UserID: "usr_" + string(role), Role: role, At: at, Reason: "checked the record"}, Waiver: waiver}
	}
	okObs := ethos.Observation{OK: true, Detail: "on", Source: "config", At: now}
	badObs := ethos.Observation{OK: false, Detail: "off", Source: "config", At: now}
	tests := []struct {
		name       string
		item       ethos.ComplianceItem
		ev         ethos.ComplianceEvidence
		atts       []ethos.Attestation
		want       ethos.ComplianceOutcome
		wantReason string
	}{
		{"PassFromEvidence", evItem, deployment.EvidenceMap{ethos.EvidenceInferenceLogging: okObs}, nil, ethos.CompliancePass, "evidence inference-logging-enabled: on"},
		{"FailFromEvidence", evItem, deployment.EvidenceMap{ethos.EvidenceInferenceLogging: badObs}, nil, ethos.ComplianceFail, "failed: off"},
		{"FailNotOverruledByAttestation", both, deployment.EvidenceMap{ethos.EvidenceMonitoringOnTime: badObs}, []ethos.Attestation{sig("B", ethos.RoleAdmin, now, false)}, ethos.ComplianceFail, "failed"},
		{"AttestationNeededWithoutEvidence", evItem, deployment.EvidenceMap{}, nil, ethos.ComplianceAttestationNeeded, "no evidence recorded for inference-logging-enabled"},
		{"AttestationNeededNilEvidence", evItem, nil, nil, ethos.ComplianceAttestationNeeded, "no evidence recorded"},
		{"AttestedWhenNoEvidence", both, deployment.EvidenceMap{}, []ethos.Attestation{sig("B", ethos.RoleAdmin, now, false)}, ethos.CompliancePass, "attested by usr_admin (admin)"},
		{"AttestedAtNow", att, nil, []ethos.Attestation{sig("A", ethos.RoleDataSteward, now, false)}, ethos.CompliancePass, "attested"},
		{"AttestationNeededFutureDated", att, nil, []ethos.Attestation{sig("A", ethos.RoleDataSteward, now.Add(time.Nanosecond), false)}, ethos.ComplianceAttestationNeeded, "dated in the future"},
		{"AttestationNeededWrongRole", att, nil, []ethos.Attestation{sig("A", ethos.RoleResearcher, now, false)}, ethos.ComplianceAttestationNeeded, "role researcher, which may not attest"},
		{"AttestationNeededOtherItem", att, nil, []ethos.Attestation{sig("Z", ethos.RoleDataSteward, now, false)}, ethos.ComplianceAttestationNeeded, "needs an attestation by data-steward"},
		{"AttestationNeededNoStatement", att, nil, []ethos.Attestation{{ItemID: "A", Signature: ethos.Signature{UserID: "u", Role: ethos.RoleDataSteward, At: now}}}, ethos.ComplianceAttestationNeeded, "lacks who, when or statement"},
		{"WaivedLatestWins", att, nil, []ethos.Attestation{sig("A", ethos.RoleDataSteward, now.Add(-time.Hour), false), sig("A", ethos.RoleDataSteward, now.Add(-time.Minute), true)}, ethos.ComplianceWaived, "waived by usr_data-steward"},
		{"PassLatestWins", att, nil, []ethos.Attestation{sig("A", ethos.RoleDataSteward, now.Add(-time.Minute), false), sig("A", ethos.RoleDataSteward, now.Add(-time.Hour), true)}, ethos.CompliancePass, "attested"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs, err := deployment.Evaluate(context.Background(), []ethos.ComplianceItem{tt.item}, tt.ev, tt.atts, now)
			if err != nil {
				t.Fatal(err)
			}
			if rs[0].Outcome != tt.want || !strings.Contains(rs[0].Reason, tt.wantReason) {
				t.Errorf("got %s %q, want %s containing %q", rs[0].Outcome, rs[0].Reason, tt.want, tt.wantReason)
			}
			if (rs[0].Observation != nil) != (tt.want == ethos.CompliancePass && tt.item.ID == "E" || tt.want == ethos.ComplianceFail) {
				t.Errorf("observation = %+v", rs[0].Observation)
			}
		})
	}
	t.Run("ErrEvidenceStore", func(t *testing.T) {
		_, err := deployment.Evaluate(context.Background(), []ethos.ComplianceItem{evItem}, failingEvidence{}, nil, now)
		if err == nil || !strings.Contains(err.Error(), "store down") {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestValidateChecklist(t *testing.T) {
	if err := deployment.ValidateChecklist(deployment.Checklist()); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		items []ethos.ComplianceItem
		want  string
	}{
		{"ErrNoID", []ethos.ComplianceItem{{Evidence: ethos.EvidenceInferenceLogging}}, "id required"},
		{"ErrRepeated", []ethos.ComplianceItem{{ID: "a", Evidence: "k"}, {ID: "a", Evidence: "k"}}, "repeated"},
		{"ErrUndecidable", []ethos.ComplianceItem{{ID: "a"}}, "neither an evidence key nor roles"},
		{"ErrRole", []ethos.ComplianceItem{{ID: "a", AttestRoles: []ethos.Role{"boss"}}}, "unknown role"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := deployment.ValidateChecklist(tc.items)
			if ethos.ErrorCode(err) != ethos.EINVALID || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

// TestChecklistEndToEnd evaluates the default checklist from a complete
// register, a late breach notification and some attestations.
func TestChecklistEndToEnd(t *testing.T) {
	now := utc("2026-11-20T10:00:00Z")
	aware := utc("2026-11-01T08:00:00Z")
	inc := &ethos.Incident{ID: "inc_9", AwareAt: aware, Zone: "Europe/Berlin", Jurisdictions: []ethos.Jurisdiction{ethos.JurisdictionEU},
		Classes:       []ethos.IncidentClass{ethos.IncidentPersonalDataBreach},
		Notifications: []ethos.Notification{{Recipient: ethos.RecipientSupervisoryAuthority, SentAt: aware.Add(73 * time.Hour), SentBy: "usr_dpo"}}}
	incObs, err := deployment.IncidentsObservations([]*ethos.Incident{inc}, now)
	if err != nil {
		t.Fatal(err)
	}
	ev := deployment.EvidenceMap{
		ethos.EvidenceRiskRegisterComplete: deployment.RegisterObservation(completeRegister(), deployment.Catalogue(), now),
		ethos.EvidenceInferenceLogging:     {OK: true, Detail: "inference events received in the last 24 h", Source: "event store", At: now},
	}
	maps.Copy(ev, incObs)
	atts := []ethos.Attestation{{ItemID: "GDPR-35", Signature: ethos.Signature{UserID: "usr_dpo", Role: ethos.RoleDataSteward, At: now, Reason: "DPIA v2 approved"}}}
	rs, err := deployment.Evaluate(context.Background(), deployment.Checklist(), ev, atts, now)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]ethos.ComplianceOutcome{}
	for _, r := range rs {
		got[r.Item.ID] = r.Outcome
	}
	for id, want := range map[string]ethos.ComplianceOutcome{
		"AIA-9": ethos.CompliancePass, "AIA-12": ethos.CompliancePass, "GDPR-35": ethos.CompliancePass,
		"GDPR-33": ethos.ComplianceFail, "AIA-73": ethos.CompliancePass, "HIPAA-404": ethos.CompliancePass,
		"AIA-26-6": ethos.ComplianceAttestationNeeded, "HIPAA-504E": ethos.ComplianceAttestationNeeded,
	} {
		if got[id] != want {
			t.Errorf("%s = %s, want %s", id, got[id], want)
		}
	}
	sum := deployment.Summary(rs)
	if sum[ethos.CompliancePass] != 5 || sum[ethos.ComplianceFail] != 1 || sum[ethos.CompliancePass]+sum[ethos.ComplianceFail]+sum[ethos.ComplianceAttestationNeeded] != len(rs) {
		t.Errorf("summary = %v", sum)
	}
	bad := deployment.RegisterObservation(&ethos.RiskRegister{ProjectID: "prj_2", Revision: 1, Matrix: deployment.DefaultMatrix()}, nil, now)
	if bad.OK || !strings.Contains(bad.Detail, "3 gaps, first: revised_at: the time of this revision is not recorded") {
		t.Errorf("incomplete register observation = %+v", bad)
	}
}
