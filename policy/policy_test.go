package policy_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/internal/testenv"
	"github.com/ethos-imaging/ethos/policy"
)

// frameworkCells reads access-matrix.json independently of the generated
// table, so a stale matrix_gen.go fails here.
func frameworkCells(t *testing.T) map[[2]string]ethos.Level {
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
	out := map[[2]string]ethos.Level{}
	for _, s := range m.Stages {
		for _, pt := range []string{"public", "private", "third_party"} {
			out[[2]string{s["stage"], pt}] = ethos.Level(s[pt])
		}
	}
	if len(out) != 15 {
		t.Fatalf("matrix has %d cells, want 15", len(out))
	}
	return out
}

var now = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// writerFor returns a role allowed to read and write in stage s.
func writerFor(s ethos.Stage) ethos.Role {
	switch s {
	case ethos.StageCollection, ethos.StageProcessing:
		return ethos.RoleDataSteward
	case ethos.StageDeployment:
		return ethos.RoleClinician
	}
	return ethos.RoleMLEngineer
}

func TestDecideEveryCell(t *testing.T) {
	cells := frameworkCells(t)
	p := policy.Default()
	for _, st := range ethos.Stages {
		for _, pt := range ethos.PartyTypes {
			want := cells[[2]string{string(st), string(pt)}]
			dua := &ethos.DUA{ID: "d1", PartyID: "p1", ProjectID: "pr1", Stages: []ethos.Stage{st},
				Purposes: []string{"research"}, Views: []ethos.View{ethos.ViewDeidentified},
				ExpiresAt: now.Add(time.Hour), ApprovedBy: "IRB"}
			for _, withDUA := range []bool{false, true} {
				for _, action := range []ethos.Action{ethos.ActionRead, ethos.ActionWrite} {
					req := &ethos.AccessRequest{UserID: "u1", PartyID: "p1", PartyType: pt,
						Roles: []ethos.Role{writerFor(st)}, ProjectID: "pr1", Stage: st, ProjectStage: st,
						Action: action, Purpose: "research", View: ethos.ViewDeidentified, Now: now}
					if withDUA {
						req.DUAs = []*ethos.DUA{dua}
					}
					d := p.Decide(req)
					wantAllow := want == ethos.LevelYes || (want == ethos.LevelLimited && withDUA)
					name := string(st) + "/" + string(pt) + "/" + string(action)
					if withDUA {
						name += "/dua"
					}
					if d.Allow != wantAllow || d.Level != want {
						t.Errorf("%s: got allow=%v level=%s rule=%s (%s), want allow=%v level=%s",
							name, d.Allow, d.Level, d.Rule, d.Reason, wantAllow, want)
					}
					if d.Rule == "" || d.Reason == "" {
						t.Errorf("%s: decision without rule or reason: %+v", name, d)
					}
					if want == ethos.LevelLimited && withDUA && d.DUAID != "d1" {
						t.Errorf("%s: limited allow names agreement %q, want d1", name, d.DUAID)
					}
				}
			}
		}
	}
}

func TestDecideRules(t *testing.T) {
	p := policy.Default()
	active := &ethos.DUA{ID: "d1", PartyID: "tp", ProjectID: "pr", Stages: []ethos.Stage{ethos.StageCollection},
		Purposes: []string{"research"}, Views: []ethos.View{ethos.ViewAggregate}, ExpiresAt: now.Add(time.Hour), ApprovedBy: "IRB"}
	expired := *active
	expired.ID, expired.ExpiresAt, expired.Views = "d2", now.Add(-time.Second), []ethos.View{ethos.ViewDeidentified}
	otherParty := *active
	otherParty.ID, otherParty.PartyID = "d3", "someone-else"
	base := ethos.AccessRequest{PartyID: "tp", PartyType: ethos.PartyThirdParty, Roles: []ethos.Role{ethos.RoleDataSteward},
		ProjectID: "pr", Stage: ethos.StageCollection, ProjectStage: ethos.StageCollection, Action: ethos.ActionRead,
		Purpose: "research", View: ethos.ViewAggregate, DUAs: []*ethos.DUA{active}, Now: now}
	tests := []struct {
		name  string
		edit  func(r *ethos.AccessRequest)
		allow bool
		rule  string
	}{
		{"AllowedUnderDUA", func(r *ethos.AccessRequest) {}, true, "dua"},
		{"DeniedViewNotGranted", func(r *ethos.AccessRequest) { r.View = ethos.ViewDeidentified }, false, "dua.view"},
		{"DeniedIdentifiedView", func(r *ethos.AccessRequest) { r.View = ethos.ViewIdentified }, false, "view.identified"},
		{"DeniedNoView", func(r *ethos.AccessRequest) { r.View = "" }, false, "view.required"},
		{"DeniedNoPurpose", func(r *ethos.AccessRequest) { r.Purpose = "" }, false, "purpose.required"},
		{"DeniedOtherPurpose", func(r *ethos.AccessRequest) { r.Purpose = "marketing" }, false, "dua.missing"},
		{"DeniedExpired", func(r *ethos.AccessRequest) {
			r.DUAs = []*ethos.DUA{&expired}
			r.View = ethos.ViewDeidentified
		}, false, "dua.inactive"},
		{"DeniedOtherPartysDUA", func(r *ethos.AccessRequest) { r.DUAs = []*ethos.DUA{&otherParty} }, false, "dua.missing"},
		{"DeniedRole", func(r *ethos.AccessRequest) { r.Roles = []ethos.Role{ethos.RoleAdmin} }, false, "role.read.collection"},
		{"DeniedWriteOutsideCurrentStage", func(r *ethos.AccessRequest) {
			r.Action, r.ProjectStage = ethos.ActionWrite, ethos.StageProcessing
		}, false, "stage.current"},
		{"DeniedMatrixNo", func(r *ethos.AccessRequest) { r.PartyType = ethos.PartyPrivate }, false, "matrix.collection.private"},
		{"DeniedUnknownStage", func(r *ethos.AccessRequest) { r.Stage = "marketing" }, false, "request.stage"},
		{"DeniedUnknownAction", func(r *ethos.AccessRequest) { r.Action = "delete" }, false, "request.action"},
		{"AllowedManageByAdmin", func(r *ethos.AccessRequest) {
			r.Action, r.Roles = ethos.ActionManage, []ethos.Role{ethos.RoleAdmin}
		}, true, "role.manage"},
		{"DeniedManageByResearcher", func(r *ethos.AccessRequest) {
			r.Action, r.Roles = ethos.ActionManage, []ethos.Role{ethos.RoleResearcher}
		}, false, "role.manage"},
		{"AllowedAuditReadByAuditor", func(r *ethos.AccessRequest) {
			r.Action, r.Roles = ethos.ActionAuditRead, []ethos.Role{ethos.RoleAuditor}
		}, true, "role.audit.read"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := base
			tt.edit(&req)
			d := p.Decide(&req)
			if d.Allow != tt.allow || d.Rule != tt.rule {
				t.Errorf("got allow=%v rule=%s (%s), want allow=%v rule=%s", d.Allow, d.Rule, d.Reason, tt.allow, tt.rule)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		wider   bool
		wantErr string
		widened int
	}{
		{"NarrowerAccepted", `{"cells":[{"stage":"evaluation","party_type":"private","level":"limited","note":"vendor contract"}]}`, false, "", 0},
		{"ErrWiderWithoutFlag", `{"cells":[{"stage":"collection","party_type":"public","level":"yes"}]}`, false, "more open than the framework", 0},
		{"WiderWithFlagReported", `{"cells":[{"stage":"collection","party_type":"public","level":"yes","note":"hospital stewards"}]}`, true, "", 1},
		{"ErrUnknownField", `{"cells":[{"stage":"collection","party":"public","level":"yes"}]}`, true, "unknown field", 0},
		{"ErrUnknownLevel", `{"cells":[{"stage":"collection","party_type":"public","level":"maybe"}]}`, true, "cells[0]: unknown level", 0},
		{"ErrDuplicate", `{"cells":[{"stage":"training","party_type":"public","level":"no"},{"stage":"training","party_type":"public","level":"no"}]}`, true, "cells[1]", 0},
		{"ErrTrailingData", `{"cells":[]} {}`, true, "data after", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := policy.Load(strings.NewReader(tt.file), tt.wider)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got err %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := len(p.Widened()); got != tt.widened {
				t.Errorf("widened cells = %d, want %d", got, tt.widened)
			}
		})
	}
	_, err := policy.Load(strings.NewReader(`{"cells":[{"stage":"deployment","party_type":"private","level":"limited"}]}`), false)
	if _, ok := errors.AsType[*policy.WidenedError](err); !ok {
		t.Errorf("widening deployment/private: got %v, want *WidenedError", err)
	}
}

func TestWidenedCellDecides(t *testing.T) {
	p, err := policy.Load(strings.NewReader(`{"cells":[{"stage":"collection","party_type":"public","level":"yes"}]}`), true)
	if err != nil {
		t.Fatal(err)
	}
	d := p.Decide(&ethos.AccessRequest{PartyType: ethos.PartyPublic, Roles: []ethos.Role{ethos.RoleDataSteward},
		Stage: ethos.StageCollection, Action: ethos.ActionRead, Now: now})
	if !d.Allow || !d.Widened || !strings.Contains(d.Reason, "wider than the framework") {
		t.Errorf("got %+v, want a widened allow", d)
	}
}

func BenchmarkDecide(b *testing.B) {
	p := policy.Default()
	dua := &ethos.DUA{ID: "d1", PartyID: "tp", ProjectID: "pr", Stages: []ethos.Stage{ethos.StageCollection},
		Purposes: []string{"research"}, Views: []ethos.View{ethos.ViewAggregate}, ExpiresAt: now.Add(time.Hour), ApprovedBy: "IRB"}
	cases := map[string]ethos.AccessRequest{
		"yes": {PartyType: ethos.PartyPublic, Roles: []ethos.Role{ethos.RoleMLEngineer}, Stage: ethos.StageTraining,
			Action: ethos.ActionRead, Now: now},
		"limited-dua": {PartyID: "tp", PartyType: ethos.PartyThirdParty, Roles: []ethos.Role{ethos.RoleDataSteward}, ProjectID: "pr",
			Stage: ethos.StageCollection, Action: ethos.ActionRead, Purpose: "research", View: ethos.ViewAggregate,
			DUAs: []*ethos.DUA{dua}, Now: now},
		"no": {PartyType: ethos.PartyPrivate, Roles: []ethos.Role{ethos.RoleDataSteward}, Stage: ethos.StageCollection,
			Action: ethos.ActionRead, Now: now},
	}
	for name, req := range cases {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				p.Decide(&req)
			}
		})
	}
}
