package policy_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/internal/testenv"
	"github.com/ethos-imaging/ethos/policy"
)

var now = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// frameworkCells reads the framework's matrix straight from the shared
// folder, independently of the generated table.
func frameworkCells(t *testing.T) map[[2]string]string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(testenv.Shared(t), "framework", "access-matrix.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Stages []map[string]string `json:"stages"`
	}
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	out := map[[2]string]string{}
	for _, row := range m.Stages {
		for _, pt := range []string{"public", "private", "third_party"} {
			out[[2]string{row["stage"], pt}] = row[pt]
		}
	}
	if len(out) != 15 {
		t.Fatalf("framework matrix has %d cells, want 15", len(out))
	}
	return out
}

func request(stage ethos.Stage, pt ethos.PartyType, duas ...*ethos.DUA) *ethos.AccessRequest {
	return &ethos.AccessRequest{
		UserID: "usr_1", PartyID: "pty_other", PartyType: pt, Roles: []ethos.Role{ethos.RoleDataSteward},
		ProjectID: "prj_1", ProjectPartyID: "pty_owner", Stage: stage, Action: ethos.ActionRead,
		Purpose: ethos.PurposeResearch, View: ethos.ViewDeidentified, DUAs: duas, Now: now,
	}
}

func dua(stage ethos.Stage) *ethos.DUA {
	return &ethos.DUA{ID: "dua_1", PartyID: "pty_other", ProjectID: "prj_1", Stages: []ethos.Stage{stage},
		Purposes: []ethos.Purpose{ethos.PurposeResearch}, Views: []ethos.View{ethos.ViewDeidentified},
		ExpiresAt: now.Add(time.Hour), ApprovedBy: "usr_irb"}
}

func TestEveryMatrixCell(t *testing.T) {
	cells := frameworkCells(t)
	p := policy.Default()
	for key, level := range cells {
		stage, pt := ethos.Stage(key[0]), ethos.PartyType(key[1])
		t.Run(key[0]+"/"+key[1], func(t *testing.T) {
			if got := p.Level(stage, pt); string(got) != level {
				t.Fatalf("Level = %q, framework says %q", got, level)
			}
			without := p.Decide(request(stage, pt))
			with := p.Decide(request(stage, pt, dua(stage)))
			switch level {
			case "no":
				if without.Allow || with.Allow {
					t.Errorf("closed cell allowed: without DUA %+v, with DUA %+v", without, with)
				}
				if want := "matrix/" + key[0] + "/" + key[1]; with.Rule != want {
					t.Errorf("rule = %q, want %q", with.Rule, want)
				}
			case "yes":
				if !without.Allow || !with.Allow {
					t.Errorf("open cell denied: without DUA %+v, with DUA %+v", without, with)
				}
			case "limited":
				if without.Allow {
					t.Errorf("limited cell allowed without a DUA: %+v", without)
				}
				if !with.Allow || with.DUAID != "dua_1" {
					t.Errorf("limited cell denied with a covering DUA: %+v", with)
				}
				if !strings.HasPrefix(with.Rule, "limited/") {
					t.Errorf("rule = %q, want limited/…", with.Rule)
				}
			default:
				t.Fatalf("unknown level %q in the framework", level)
			}
		})
	}
}

func TestLimitedCell(t *testing.T) {
	p := policy.Default()
	// training/private is limited in the framework.
	const stage, pt = ethos.StageTraining, ethos.PartyPrivate
	expired := dua(stage)
	expired.ExpiresAt = now
	revoked := dua(stage)
	revoked.RevokedAt = &now
	otherParty := dua(stage)
	otherParty.PartyID = "pty_x"
	aggregateOnly := dua(stage)
	aggregateOnly.Views = []ethos.View{ethos.ViewAggregate}
	tests := []struct {
		name   string
		mod    func(r *ethos.AccessRequest)
		allow  bool
		reason string
	}{
		{"Allowed", func(r *ethos.AccessRequest) {}, true, "allowed under data-use agreement dua_1"},
		{"DeniedNoDUA", func(r *ethos.AccessRequest) { r.DUAs = nil }, false, "no data-use agreement"},
		{"DeniedExpired", func(r *ethos.AccessRequest) { r.DUAs = []*ethos.DUA{expired} }, false, "expired"},
		{"DeniedRevoked", func(r *ethos.AccessRequest) { r.DUAs = []*ethos.DUA{revoked} }, false, "revoked"},
		{"DeniedOtherParty", func(r *ethos.AccessRequest) { r.DUAs = []*ethos.DUA{otherParty} }, false, "no data-use agreement"},
		{"DeniedOtherStage", func(r *ethos.AccessRequest) { r.DUAs = []*ethos.DUA{dua(ethos.StageEvaluation)} }, false, "does not cover the training stage"},
		{"DeniedPurpose", func(r *ethos.AccessRequest) { r.Purpose = ethos.PurposeCommercialUse }, false, "does not cover the purpose commercial-use"},
		{"DeniedView", func(r *ethos.AccessRequest) { r.DUAs = []*ethos.DUA{aggregateOnly} }, false, "does not allow the deidentified view"},
		{"DeniedFullView", func(r *ethos.AccessRequest) { r.View = ethos.ViewFull }, false, "only de-identified or aggregate"},
		{"DeniedWrite", func(r *ethos.AccessRequest) {
			r.Action = ethos.ActionWrite
			r.Roles = []ethos.Role{ethos.RoleMLEngineer}
		}, false, "read-only"},
		{"AllowedSecondDUA", func(r *ethos.AccessRequest) { r.DUAs = []*ethos.DUA{expired, dua(stage)} }, true, "dua_1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := request(stage, pt, dua(stage))
			tt.mod(r)
			d := p.Decide(r)
			if d.Allow != tt.allow || !strings.Contains(d.Reason, tt.reason) {
				t.Errorf("Decide = %+v, want allow=%v with reason containing %q", d, tt.allow, tt.reason)
			}
		})
	}
}

func TestRoles(t *testing.T) {
	p := policy.Default()
	tests := []struct {
		name   string
		roles  []ethos.Role
		stage  ethos.Stage
		action ethos.Action
		view   ethos.View
		kind   string
		allow  bool
		rule   string
	}{
		{"AdminSeesNoStageData", []ethos.Role{ethos.RoleAdmin}, ethos.StageEvaluation, ethos.ActionRead, ethos.ViewAggregate, "", false, "role/evaluation/read"},
		{"ResearcherTrains", []ethos.Role{ethos.RoleResearcher}, ethos.StageTraining, ethos.ActionWrite, "", "", true, "matrix/training/public"},
		{"ResearcherCannotWriteDeployment", []ethos.Role{ethos.RoleResearcher}, ethos.StageDeployment, ethos.ActionWrite, "", "", false, "role/deployment/write"},
		{"EthicsApproves", []ethos.Role{ethos.RoleEthicsReviewer}, ethos.StageProcessing, ethos.ActionApprove, "", "", true, "matrix/processing/public"},
		{"ClinicianCannotApproveTraining", []ethos.Role{ethos.RoleClinician}, ethos.StageTraining, ethos.ActionApprove, "", "", false, "role/training/approve"},
		{"AdvocateAggregate", []ethos.Role{ethos.RolePatientAdvocate}, ethos.StageEvaluation, ethos.ActionRead, ethos.ViewAggregate, "", true, "matrix/evaluation/public"},
		{"AdvocateNotRecords", []ethos.Role{ethos.RolePatientAdvocate}, ethos.StageEvaluation, ethos.ActionRead, ethos.ViewDeidentified, "", false, "role/evaluation/view"},
		{"AuditorDeidentified", []ethos.Role{ethos.RoleAuditor}, ethos.StageTraining, ethos.ActionRead, ethos.ViewDeidentified, "", true, "matrix/training/public"},
		{"AuditorNotFull", []ethos.Role{ethos.RoleAuditor}, ethos.StageTraining, ethos.ActionRead, ethos.ViewFull, "", false, "role/training/view"},
		{"AuditorWithResearcherFull", []ethos.Role{ethos.RoleAuditor, ethos.RoleResearcher}, ethos.StageTraining, ethos.ActionRead, ethos.ViewFull, "", true, "matrix/training/public"},
		{"AdminManagesParties", []ethos.Role{ethos.RoleAdmin}, "", ethos.ActionManage, "", "party", true, "role/manage/party"},
		{"ResearcherCannotManageUsers", []ethos.Role{ethos.RoleResearcher}, "", ethos.ActionManage, "", "user", false, "role/manage/user"},
		{"StewardRegistersDUA", []ethos.Role{ethos.RoleDataSteward}, "", ethos.ActionManage, "", "dua", true, "role/manage/dua"},
		{"AuditorReadsLog", []ethos.Role{ethos.RoleAuditor}, "", ethos.ActionAudit, "", "", true, "role/audit"},
		{"ClinicianCannotReadLog", []ethos.Role{ethos.RoleClinician}, "", ethos.ActionAudit, "", "", false, "role/audit"},
		{"UnknownAction", []ethos.Role{ethos.RoleAdmin}, "", "delete", "", "", false, "request/action"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &ethos.AccessRequest{UserID: "u", PartyID: "pty_other", PartyType: ethos.PartyPublic, Roles: tt.roles,
				ProjectID: "prj_1", ProjectPartyID: "pty_owner", Stage: tt.stage, Action: tt.action,
				Purpose: ethos.PurposeResearch, View: tt.view, ManageKind: tt.kind, Now: now}
			d := p.Decide(r)
			if d.Allow != tt.allow || d.Rule != tt.rule {
				t.Errorf("Decide = %+v, want allow=%v rule=%q", d, tt.allow, tt.rule)
			}
			if d.Reason == "" {
				t.Error("decision has no reason")
			}
		})
	}
}

func TestOwnerWorksOnOwnProject(t *testing.T) {
	p := policy.Default()
	// collection/public is "no" for other parties, but a hospital collects
	// its own project's data.
	r := request(ethos.StageCollection, ethos.PartyPublic)
	r.ProjectPartyID = r.PartyID
	r.View = ethos.ViewFull
	if d := p.Decide(r); !d.Allow || d.Rule != "owner/collection" {
		t.Errorf("owner denied: %+v", d)
	}
	r.Roles = []ethos.Role{ethos.RoleAdmin}
	if d := p.Decide(r); d.Allow {
		t.Errorf("owner's admin allowed stage data: %+v", d)
	}
}

func TestLoad(t *testing.T) {
	tests := []struct {
		name     string
		file     string
		wider    bool
		wantErr  error
		errText  string
		widened  int
		cell     [2]string
		wantCell ethos.AccessLevel
	}{
		{"Narrowed", `{"cells":[{"stage":"evaluation","party_type":"private","level":"limited","note":"IRB 14"}]}`, false, nil, "", 0, [2]string{"evaluation", "private"}, ethos.LevelLimited},
		{"ErrWider", `{"cells":[{"stage":"collection","party_type":"private","level":"yes"}]}`, false, policy.ErrWider, "cells[0]: collection/private", 0, [2]string{}, ""},
		{"WiderAllowed", `{"cells":[{"stage":"collection","party_type":"private","level":"limited"}]}`, true, nil, "", 1, [2]string{"collection", "private"}, ethos.LevelLimited},
		{"ErrUnknownField", `{"cells":[{"stage":"collection","party":"private","level":"no"}]}`, false, nil, "unknown field", 0, [2]string{}, ""},
		{"ErrUnknownStage", `{"cells":[{"stage":"storage","party_type":"private","level":"no"}]}`, false, nil, `cells[0]: unknown stage "storage"`, 0, [2]string{}, ""},
		{"ErrUnknownLevel", `{"cells":[{"stage":"training","party_type":"private","level":"maybe"}]}`, false, nil, `unknown level "maybe"`, 0, [2]string{}, ""},
		{"ErrDuplicate", `{"cells":[{"stage":"training","party_type":"private","level":"no"},{"stage":"training","party_type":"private","level":"no"}]}`, false, nil, "cells[1]: training/private already set", 0, [2]string{}, ""},
		{"ErrTrailing", `{"cells":[]} {}`, false, nil, "data after", 0, [2]string{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := policy.Load(strings.NewReader(tt.file), policy.LoadOptions{AllowWider: tt.wider})
			if tt.errText != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errText) {
					t.Fatalf("err = %v, want one containing %q", err, tt.errText)
				}
				if _, ok := errors.AsType[*policy.FileError](err); !ok {
					t.Errorf("err %T is not a *policy.FileError", err)
				}
				if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
					t.Errorf("err = %v, want errors.Is %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := len(p.Widened()); got != tt.widened {
				t.Errorf("Widened = %d cells, want %d", got, tt.widened)
			}
			if got := p.Level(ethos.Stage(tt.cell[0]), ethos.PartyType(tt.cell[1])); got != tt.wantCell {
				t.Errorf("Level = %q, want %q", got, tt.wantCell)
			}
		})
	}
}

func BenchmarkDecide(b *testing.B) {
	p := policy.Default()
	d := dua(ethos.StageTraining)
	reqs := map[string]*ethos.AccessRequest{
		"limited-allow": request(ethos.StageTraining, ethos.PartyPrivate, &ethos.DUA{ID: "dua_0", PartyID: "pty_other", ProjectID: "prj_9", ExpiresAt: now.Add(time.Hour)}, d),
		"matrix-deny":   request(ethos.StageCollection, ethos.PartyPrivate),
		"matrix-allow":  request(ethos.StageEvaluation, ethos.PartyPrivate),
	}
	for name, r := range reqs {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if p.Decide(r).Rule == "" {
					b.Fatal("no rule")
				}
			}
		})
	}
}

// TestRoleTableDocumented checks the role table of docs/access.md against
// the rules the decision point applies.
func TestRoleTableDocumented(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "docs", "access.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	start := strings.Index(doc, "## Roles within a stage")
	if start < 0 {
		t.Fatal("docs/access.md has no role table")
	}
	rows := 0
	for _, line := range strings.Split(doc[start:], "\n") {
		cells := strings.Split(strings.Trim(line, "| "), "|")
		if len(cells) != 4 {
			continue
		}
		stage := ethos.Stage(strings.TrimSpace(cells[0]))
		if !stage.Valid() {
			continue
		}
		rows++
		for i, action := range []ethos.Action{ethos.ActionRead, ethos.ActionWrite, ethos.ActionApprove} {
			var documented []string
			for _, r := range strings.Split(cells[i+1], ",") {
				documented = append(documented, strings.Trim(strings.TrimSpace(r), "¹²"))
			}
			var want []string
			for _, r := range policy.StageRoles(stage, action) {
				want = append(want, string(r))
			}
			slices.Sort(documented)
			slices.Sort(want)
			if !slices.Equal(documented, want) {
				t.Errorf("%s/%s: docs list %v, the policy applies %v", stage, action, documented, want)
			}
		}
	}
	if rows != 5 {
		t.Errorf("found %d stage rows in the documented table, want 5", rows)
	}
}
