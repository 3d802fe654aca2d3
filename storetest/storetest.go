// Package storetest is the conformance suite every Ethos store passes: the
// SQLite adapter runs it now, a PostgreSQL adapter will run the same tests.
// It exercises the root service interfaces only, never a store's tables.
package storetest

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/ethos-imaging/ethos"
)

// Stores are the services of one store under test, over one empty
// database.
type Stores struct {
	Parties  ethos.PartyService
	Users    ethos.UserService
	Tokens   ethos.TokenService
	Projects ethos.ProjectService
	Records  ethos.StageRecordService
	DUAs     ethos.DUAService
	// Now is the clock the store stamps times with.
	Now func() time.Time
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := ethos.ErrorCode(err); got != code {
		t.Fatalf("got error %v (code %q), want code %q", err, got, code)
	}
}

// Run runs the suite; newStores returns services over a fresh, empty
// database each call.
func Run(t *testing.T, newStores func(t *testing.T) Stores) {
	ctx := context.Background()

	setup := func(t *testing.T) (Stores, *ethos.Party, *ethos.User) {
		s := newStores(t)
		p := &ethos.Party{Name: "St Elsewhere", Type: ethos.PartyPublic}
		must(t, s.Parties.CreateParty(ctx, p))
		u := &ethos.User{PartyID: p.ID, Name: "Dana Steward", Roles: []ethos.Role{ethos.RoleDataSteward, ethos.RoleResearcher}}
		must(t, s.Users.CreateUser(ctx, u))
		return s, p, u
	}

	t.Run("Parties", func(t *testing.T) {
		s, p, _ := setup(t)
		got, err := s.Parties.FindPartyByID(ctx, p.ID)
		must(t, err)
		if got.Name != p.Name || got.Type != p.Type || !got.CreatedAt.Equal(p.CreatedAt) {
			t.Errorf("read back %+v, want %+v", got, p)
		}
		wantCode(t, s.Parties.CreateParty(ctx, &ethos.Party{Name: p.Name, Type: ethos.PartyPrivate}), ethos.ECONFLICT)
		wantCode(t, s.Parties.CreateParty(ctx, &ethos.Party{Name: "X", Type: "gov"}), ethos.EINVALID)
		must(t, s.Parties.CreateParty(ctx, &ethos.Party{Name: "Vendor", Type: ethos.PartyPrivate}))
		typ := ethos.PartyPrivate
		ps, n, err := s.Parties.FindParties(ctx, ethos.PartyFilter{Type: &typ})
		must(t, err)
		if n != 1 || len(ps) != 1 || ps[0].Name != "Vendor" {
			t.Errorf("filter by type: got %d (%d), want the vendor only", len(ps), n)
		}
		ps, n, err = s.Parties.FindParties(ctx, ethos.PartyFilter{Limit: 1, Offset: 1})
		must(t, err)
		if n != 2 || len(ps) != 1 || ps[0].Name != "Vendor" {
			t.Errorf("paging: got %d rows of %d, want the second of 2", len(ps), n)
		}
		name := "St Elsewhere University Hospital"
		up, err := s.Parties.UpdateParty(ctx, p.ID, ethos.PartyUpdate{Name: &name})
		must(t, err)
		if up.Name != name || up.Type != ethos.PartyPublic {
			t.Errorf("update: got %+v", up)
		}
		_, err = s.Parties.FindPartyByID(ctx, "pty_missing")
		wantCode(t, err, ethos.ENOTFOUND)
	})

	t.Run("Users", func(t *testing.T) {
		s, p, u := setup(t)
		got, err := s.Users.FindUserByID(ctx, u.ID)
		must(t, err)
		if got.PartyID != p.ID || got.Party == nil || got.Party.Type != ethos.PartyPublic || len(got.Roles) != 2 {
			t.Errorf("read back %+v", got)
		}
		wantCode(t, s.Users.CreateUser(ctx, &ethos.User{PartyID: "pty_missing", Name: "N", Roles: []ethos.Role{ethos.RoleAuditor}}), ethos.EINVALID)
		wantCode(t, s.Users.CreateUser(ctx, &ethos.User{PartyID: p.ID, Name: "N", Roles: []ethos.Role{"boss"}}), ethos.EINVALID)
		must(t, s.Users.CreateUser(ctx, &ethos.User{PartyID: p.ID, Name: "Ann Auditor", Roles: []ethos.Role{ethos.RoleAuditor}}))
		role := ethos.RoleAuditor
		us, n, err := s.Users.FindUsers(ctx, ethos.UserFilter{Role: &role})
		must(t, err)
		if n != 1 || us[0].Name != "Ann Auditor" {
			t.Errorf("filter by role: got %d", n)
		}
		yes := true
		up, err := s.Users.UpdateUser(ctx, u.ID, ethos.UserUpdate{Disabled: &yes})
		must(t, err)
		if !up.Disabled {
			t.Error("update: user not disabled")
		}
	})

	t.Run("TokenLifecycle", func(t *testing.T) {
		s, _, u := setup(t)
		now := s.Now()
		secret, hash := ethos.NewTokenSecret()
		tok := &ethos.Token{UserID: u.ID, Name: "laptop", Hash: hash, ExpiresAt: now.Add(time.Hour)}
		must(t, s.Tokens.CreateToken(ctx, tok))
		gt, gu, err := s.Tokens.Authenticate(ctx, secret, now)
		must(t, err)
		if gt.ID != tok.ID || gu.ID != u.ID || gt.LastUsedAt == nil {
			t.Errorf("authenticate: got token %+v user %+v", gt, gu)
		}
		ts, _, err := s.Tokens.FindTokens(ctx, ethos.TokenFilter{ID: &tok.ID})
		must(t, err)
		if ts[0].LastUsedAt == nil {
			t.Error("last use not stored")
		}
		other, _ := ethos.NewTokenSecret()
		_, _, err = s.Tokens.Authenticate(ctx, other, now)
		wantCode(t, err, ethos.EUNAUTHORIZED)
		_, _, err = s.Tokens.Authenticate(ctx, "Bearer nonsense", now)
		wantCode(t, err, ethos.EUNAUTHORIZED)
		gt, _, err = s.Tokens.Authenticate(ctx, secret, now.Add(2*time.Hour))
		wantCode(t, err, ethos.EUNAUTHORIZED)
		if gt == nil || gt.ID != tok.ID {
			t.Error("expired token not returned for auditing")
		}
		_, err = s.Tokens.RevokeToken(ctx, tok.ID, now)
		must(t, err)
		_, _, err = s.Tokens.Authenticate(ctx, secret, now)
		wantCode(t, err, ethos.EUNAUTHORIZED)
		_, err = s.Tokens.RevokeToken(ctx, tok.ID, now)
		wantCode(t, err, ethos.ECONFLICT)
		// A disabled user's valid token does not authenticate.
		s2, hash2 := ethos.NewTokenSecret()
		must(t, s.Tokens.CreateToken(ctx, &ethos.Token{UserID: u.ID, Name: "second", Hash: hash2, ExpiresAt: now.Add(time.Hour)}))
		yes := true
		_, err = s.Users.UpdateUser(ctx, u.ID, ethos.UserUpdate{Disabled: &yes})
		must(t, err)
		_, _, err = s.Tokens.Authenticate(ctx, s2, now)
		wantCode(t, err, ethos.EUNAUTHORIZED)
	})

	t.Run("ProjectsAndStageHistory", func(t *testing.T) {
		s, _, u := setup(t)
		uctx := ethos.NewContextWithUser(ctx, u)
		p := &ethos.Project{Name: "Chest X-ray triage", IntendedUse: "flag likely pneumothorax for priority reading",
			Modality: "CR,DX", ClinicalSetting: "emergency department"}
		must(t, s.Projects.CreateProject(uctx, p))
		if p.Stage != ethos.StageCollection {
			t.Errorf("new project stage %s, want collection", p.Stage)
		}
		wantCode(t, s.Projects.CreateProject(uctx, &ethos.Project{Name: p.Name, IntendedUse: "x"}), ethos.ECONFLICT)
		_, err := s.Projects.SetProjectStage(uctx, p.ID, ethos.StageTraining, "skip")
		wantCode(t, err, ethos.EINVALID)
		_, err = s.Projects.SetProjectStage(uctx, p.ID, ethos.StageProcessing, "")
		wantCode(t, err, ethos.EINVALID)
		got, err := s.Projects.SetProjectStage(uctx, p.ID, ethos.StageProcessing, "collection signed off by IRB-42")
		must(t, err)
		if got.Stage != ethos.StageProcessing {
			t.Errorf("stage %s after move", got.Stage)
		}
		_, err = s.Projects.SetProjectStage(uctx, p.ID, ethos.StageCollection, "re-collect a missing site")
		must(t, err)
		h, err := s.Projects.StageHistory(ctx, p.ID)
		must(t, err)
		want := [][2]ethos.Stage{{"", ethos.StageCollection}, {ethos.StageCollection, ethos.StageProcessing}, {ethos.StageProcessing, ethos.StageCollection}}
		if len(h) != len(want) {
			t.Fatalf("history has %d entries, want %d", len(h), len(want))
		}
		for i, c := range h {
			if c.From != want[i][0] || c.To != want[i][1] || c.By != u.ID {
				t.Errorf("history[%d] = %+v, want %v by %s", i, c, want[i], u.ID)
			}
		}
		mod := "CT"
		up, err := s.Projects.UpdateProject(ctx, p.ID, ethos.ProjectUpdate{Modality: &mod})
		must(t, err)
		if up.Modality != "CT" || up.Name != p.Name {
			t.Errorf("update: %+v", up)
		}
		st := ethos.StageCollection
		_, n, err := s.Projects.FindProjects(ctx, ethos.ProjectFilter{Stage: &st})
		must(t, err)
		if n != 1 {
			t.Errorf("filter by stage: %d", n)
		}
	})

	t.Run("StageRecords", func(t *testing.T) {
		s, _, u := setup(t)
		uctx := ethos.NewContextWithUser(ctx, u)
		p := &ethos.Project{Name: "P", IntendedUse: "u"}
		must(t, s.Projects.CreateProject(uctx, p))
		for i, v := range []ethos.View{ethos.ViewIdentified, ethos.ViewDeidentified, ethos.ViewAggregate} {
			body, _ := json.Marshal(map[string]int{"n": i})
			must(t, s.Records.CreateStageRecord(uctx, &ethos.StageRecord{ProjectID: p.ID, Stage: ethos.StageCollection,
				Kind: "datasheet", Title: "site " + string(v), View: v, Body: body}))
		}
		wantCode(t, s.Records.CreateStageRecord(uctx, &ethos.StageRecord{ProjectID: p.ID, Stage: ethos.StageCollection,
			Kind: "k", Title: "t", View: ethos.ViewAggregate, Body: []byte("{")}), ethos.EINVALID)
		wantCode(t, s.Records.CreateStageRecord(uctx, &ethos.StageRecord{ProjectID: "prj_missing", Stage: ethos.StageCollection,
			Kind: "k", Title: "t", View: ethos.ViewAggregate}), ethos.ENOTFOUND)
		st := ethos.StageCollection
		rs, n, err := s.Records.FindStageRecords(ctx, ethos.StageRecordFilter{ProjectID: &p.ID, Stage: &st,
			Views: []ethos.View{ethos.ViewDeidentified, ethos.ViewAggregate}})
		must(t, err)
		if n != 2 || len(rs) != 2 {
			t.Errorf("view filter: got %d, want 2", n)
		}
		for _, r := range rs {
			if r.View == ethos.ViewIdentified || r.CreatedBy != u.ID || len(r.Body) == 0 {
				t.Errorf("record %+v", r)
			}
		}
		rs, _, err = s.Records.FindStageRecords(ctx, ethos.StageRecordFilter{ProjectID: &p.ID, Views: []ethos.View{}})
		must(t, err)
		if len(rs) != 0 {
			t.Errorf("empty view set returned %d records", len(rs))
		}
	})

	t.Run("DUAs", func(t *testing.T) {
		s, p, u := setup(t)
		now := s.Now()
		uctx := ethos.NewContextWithUser(ctx, u)
		pr := &ethos.Project{Name: "P", IntendedUse: "u"}
		must(t, s.Projects.CreateProject(uctx, pr))
		d := &ethos.DUA{PartyID: p.ID, ProjectID: pr.ID, Stages: []ethos.Stage{ethos.StageCollection},
			Purposes: []string{"research"}, Views: []ethos.View{ethos.ViewAggregate}, ExpiresAt: now.Add(24 * time.Hour), ApprovedBy: "IRB 7"}
		must(t, s.DUAs.CreateDUA(ctx, d))
		wantCode(t, s.DUAs.CreateDUA(ctx, &ethos.DUA{PartyID: p.ID, ProjectID: pr.ID, Stages: []ethos.Stage{ethos.StageCollection},
			Purposes: []string{"r"}, Views: []ethos.View{ethos.ViewIdentified}, ExpiresAt: now.Add(time.Hour), ApprovedBy: "x"}), ethos.EINVALID)
		wantCode(t, s.DUAs.CreateDUA(ctx, &ethos.DUA{PartyID: "pty_missing", ProjectID: pr.ID, Stages: []ethos.Stage{ethos.StageCollection},
			Purposes: []string{"r"}, Views: []ethos.View{ethos.ViewAggregate}, ExpiresAt: now.Add(time.Hour), ApprovedBy: "x"}), ethos.EINVALID)
		ds, n, err := s.DUAs.FindDUAs(ctx, ethos.DUAFilter{PartyID: &p.ID, ProjectID: &pr.ID})
		must(t, err)
		if n != 1 || !ds[0].Active(now) || !ds[0].Covers(ethos.StageCollection, "research") || !ds[0].Allows(ethos.ViewAggregate) {
			t.Fatalf("read back %+v", ds)
		}
		must(t, s.DUAs.TouchDUA(ctx, d.ID, now))
		ds, _, _ = s.DUAs.FindDUAs(ctx, ethos.DUAFilter{ID: &d.ID})
		if ds[0].LastUsedAt == nil {
			t.Error("use not recorded")
		}
		r, err := s.DUAs.RevokeDUA(ctx, d.ID, now)
		must(t, err)
		if r.Active(now) {
			t.Error("revoked agreement still active")
		}
		_, err = s.DUAs.RevokeDUA(ctx, d.ID, now)
		wantCode(t, err, ethos.ECONFLICT)
	})
}
