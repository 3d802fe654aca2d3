// Package storetest is the conformance suite every Ethos store passes: the
// SQLite store now, the PostgreSQL store later. A store's test calls
//
//	storetest.Run(t, func(t *testing.T) storetest.Stores { … a fresh, empty store … })
//
// The suite checks the service contracts of the root package: ids assigned,
// validation before writing, not-found and conflict codes, filters and
// counts, token authentication (expiry, revocation, disabled users, last
// use), the stage history kept with each move, and data-use agreements.
package storetest

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/ethos-imaging/ethos"
)

// Stores is the set of services under test, over one fresh store.
type Stores struct {
	Parties  ethos.PartyService
	Users    ethos.UserService
	Tokens   ethos.TokenService
	Projects ethos.ProjectService
	DUAs     ethos.DUAService
	Records  ethos.RecordService
	// Now is the clock the store stamps records with; the suite uses it
	// for expiry checks.
	Now func() time.Time
}

// Run runs the suite; open returns a fresh, empty store for each subtest.
func Run(t *testing.T, open func(t *testing.T) Stores) {
	t.Run("Parties", func(t *testing.T) { testParties(t, open(t)) })
	t.Run("Users", func(t *testing.T) { testUsers(t, open(t)) })
	t.Run("Tokens", func(t *testing.T) { testTokens(t, open(t)) })
	t.Run("Projects", func(t *testing.T) { testProjects(t, open(t)) })
	t.Run("DUAs", func(t *testing.T) { testDUAs(t, open(t)) })
	t.Run("Records", func(t *testing.T) { testRecords(t, open(t)) })
}

func code(t *testing.T, err error, want string) {
	t.Helper()
	if got := ethos.ErrorCode(err); got != want {
		t.Errorf("error %v: code %q, want %q", err, got, want)
	}
}

// MustParty creates a party of the given type.
func MustParty(tb testing.TB, s Stores, name string, typ ethos.PartyType) *ethos.Party {
	tb.Helper()
	p := &ethos.Party{Name: name, Type: typ}
	if err := s.Parties.CreateParty(context.Background(), p); err != nil {
		tb.Fatal(err)
	}
	return p
}

// MustUser creates a user of party with roles.
func MustUser(tb testing.TB, s Stores, party *ethos.Party, roles ...ethos.Role) *ethos.User {
	tb.Helper()
	u := &ethos.User{PartyID: party.ID, Name: "user of " + party.Name, Roles: roles}
	if err := s.Users.CreateUser(context.Background(), u); err != nil {
		tb.Fatal(err)
	}
	return u
}

// MustProject creates a project owned by party.
func MustProject(tb testing.TB, s Stores, party *ethos.Party, by string) *ethos.Project {
	tb.Helper()
	p := &ethos.Project{Name: "Chest X-ray triage", IntendedUse: "flag suspected pneumothorax for priority reading",
		Modality: "DX", ClinicalSetting: "emergency department", PartyID: party.ID}
	if err := s.Projects.CreateProject(context.Background(), p, by); err != nil {
		tb.Fatal(err)
	}
	return p
}

func testParties(t *testing.T, s Stores) {
	ctx := context.Background()
	p := MustParty(t, s, "St. Elsewhere", ethos.PartyPublic)
	if !ethos.ValidID(p.ID) || p.CreatedAt.IsZero() {
		t.Fatalf("created party %+v: want an id and a creation time", p)
	}
	got, err := s.Parties.FindPartyByID(ctx, p.ID)
	if err != nil || got.Name != p.Name || got.Type != p.Type {
		t.Fatalf("FindPartyByID = %+v, %v", got, err)
	}
	_, err = s.Parties.FindPartyByID(ctx, "pty_missing")
	code(t, err, ethos.ENOTFOUND)
	code(t, s.Parties.CreateParty(ctx, &ethos.Party{Name: "St. Elsewhere", Type: ethos.PartyPrivate}), ethos.ECONFLICT)
	code(t, s.Parties.CreateParty(ctx, &ethos.Party{Name: "Acme", Type: "charity"}), ethos.EINVALID)
	code(t, s.Parties.CreateParty(ctx, &ethos.Party{Name: "", Type: ethos.PartyPrivate}), ethos.EINVALID)
	MustParty(t, s, "Acme AI", ethos.PartyPrivate)
	MustParty(t, s, "Audit Co", ethos.PartyThirdParty)
	all, n, err := s.Parties.FindParties(ctx, ethos.PartyFilter{})
	if err != nil || n != 3 || len(all) != 3 {
		t.Fatalf("FindParties = %d (%d), %v; want 3", len(all), n, err)
	}
	typ := ethos.PartyPrivate
	priv, n, err := s.Parties.FindParties(ctx, ethos.PartyFilter{Type: &typ})
	if err != nil || n != 1 || priv[0].Name != "Acme AI" {
		t.Fatalf("FindParties(private) = %+v (%d), %v", priv, n, err)
	}
	page, n, err := s.Parties.FindParties(ctx, ethos.PartyFilter{Offset: 1, Limit: 1})
	if err != nil || n != 3 || len(page) != 1 || page[0].Name != "Acme AI" {
		t.Fatalf("FindParties(offset 1, limit 1) = %+v (%d), %v", page, n, err)
	}
}

func testUsers(t *testing.T, s Stores) {
	ctx := context.Background()
	p := MustParty(t, s, "St. Elsewhere", ethos.PartyPublic)
	u := MustUser(t, s, p, ethos.RoleResearcher, ethos.RoleClinician)
	got, err := s.Users.FindUserByID(ctx, u.ID)
	if err != nil || got.PartyID != p.ID || len(got.Roles) != 2 || !got.HasRole(ethos.RoleClinician) {
		t.Fatalf("FindUserByID = %+v, %v", got, err)
	}
	code(t, s.Users.CreateUser(ctx, &ethos.User{PartyID: "pty_missing", Name: "x", Roles: []ethos.Role{ethos.RoleAdmin}}), ethos.EINVALID)
	code(t, s.Users.CreateUser(ctx, &ethos.User{PartyID: p.ID, Name: "x", Roles: []ethos.Role{"wizard"}}), ethos.EINVALID)
	code(t, s.Users.CreateUser(ctx, &ethos.User{PartyID: p.ID, Name: "x"}), ethos.EINVALID)
	role := ethos.RoleClinician
	found, n, err := s.Users.FindUsers(ctx, ethos.UserFilter{Role: &role})
	if err != nil || n != 1 || found[0].ID != u.ID {
		t.Fatalf("FindUsers(clinician) = %+v (%d), %v", found, n, err)
	}
	roles := []ethos.Role{ethos.RoleMLEngineer}
	disabled := true
	upd, err := s.Users.UpdateUser(ctx, u.ID, ethos.UserUpdate{Roles: &roles, Disabled: &disabled})
	if err != nil || !upd.Disabled || len(upd.Roles) != 1 || upd.Roles[0] != ethos.RoleMLEngineer {
		t.Fatalf("UpdateUser = %+v, %v", upd, err)
	}
	_, n, _ = s.Users.FindUsers(ctx, ethos.UserFilter{Role: &role})
	if n != 0 {
		t.Errorf("after the update FindUsers(clinician) counts %d, want 0", n)
	}
	_, err = s.Users.UpdateUser(ctx, "usr_missing", ethos.UserUpdate{Disabled: &disabled})
	code(t, err, ethos.ENOTFOUND)
	empty := []ethos.Role{}
	_, err = s.Users.UpdateUser(ctx, u.ID, ethos.UserUpdate{Roles: &empty})
	code(t, err, ethos.EINVALID)
}

func testTokens(t *testing.T, s Stores) {
	ctx := context.Background()
	now := s.Now()
	p := MustParty(t, s, "St. Elsewhere", ethos.PartyPublic)
	u := MustUser(t, s, p, ethos.RoleAdmin)
	secret, hash := ethos.NewTokenSecret()
	if !ethos.WellFormedTokenSecret(secret) {
		t.Fatalf("secret %q is not well formed", secret[:8])
	}
	tok := &ethos.Token{UserID: u.ID, Name: "laptop", Hash: hash, ExpiresAt: now.Add(24 * time.Hour)}
	if err := s.Tokens.CreateToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	gotTok, gotUser, err := s.Tokens.Authenticate(ctx, ethos.HashTokenSecret(secret), now)
	if err != nil || gotTok.ID != tok.ID || gotUser.ID != u.ID {
		t.Fatalf("Authenticate = %v, %v, %v", gotTok, gotUser, err)
	}
	if gotTok.LastUsedAt == nil {
		t.Error("Authenticate did not record the last use")
	}
	stored, err := s.Tokens.FindTokenByID(ctx, tok.ID)
	if err != nil || stored.LastUsedAt == nil || stored.Hash != hash {
		t.Fatalf("FindTokenByID after use = %+v, %v", stored, err)
	}
	_, _, err = s.Tokens.Authenticate(ctx, ethos.HashTokenSecret(secret+"x"), now)
	code(t, err, ethos.EUNAUTHORIZED)
	_, _, err = s.Tokens.Authenticate(ctx, hash, now.Add(25*time.Hour))
	code(t, err, ethos.EUNAUTHORIZED)
	code(t, s.Tokens.CreateToken(ctx, &ethos.Token{UserID: u.ID, Hash: hash, ExpiresAt: now.Add(time.Hour)}), ethos.ECONFLICT)
	_, h2 := ethos.NewTokenSecret()
	code(t, s.Tokens.CreateToken(ctx, &ethos.Token{UserID: u.ID, Hash: h2, ExpiresAt: now.Add(-time.Hour)}), ethos.EINVALID)
	code(t, s.Tokens.CreateToken(ctx, &ethos.Token{UserID: u.ID, Hash: h2, ExpiresAt: now.Add(2 * ethos.MaxTokenLifetime)}), ethos.EINVALID)
	code(t, s.Tokens.CreateToken(ctx, &ethos.Token{UserID: "usr_missing", Hash: h2, ExpiresAt: now.Add(time.Hour)}), ethos.EINVALID)

	revoked, err := s.Tokens.RevokeToken(ctx, tok.ID, now)
	if err != nil || revoked.RevokedAt == nil {
		t.Fatalf("RevokeToken = %+v, %v", revoked, err)
	}
	again, err := s.Tokens.RevokeToken(ctx, tok.ID, now.Add(time.Hour))
	if err != nil || !again.RevokedAt.Equal(*revoked.RevokedAt) {
		t.Errorf("second RevokeToken moved the revocation time: %v, %v", again.RevokedAt, err)
	}
	_, _, err = s.Tokens.Authenticate(ctx, hash, now)
	code(t, err, ethos.EUNAUTHORIZED)
	_, err = s.Tokens.RevokeToken(ctx, "tok_missing", now)
	code(t, err, ethos.ENOTFOUND)

	// A disabled user's tokens stop working.
	secret2, h3 := ethos.NewTokenSecret()
	if err := s.Tokens.CreateToken(ctx, &ethos.Token{UserID: u.ID, Name: "ci", Hash: h3, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	active, n, err := s.Tokens.FindTokens(ctx, ethos.TokenFilter{UserID: &u.ID, Active: &now})
	if err != nil || n != 1 || active[0].Name != "ci" {
		t.Fatalf("FindTokens(active) = %+v (%d), %v", active, n, err)
	}
	yes := true
	if _, err := s.Users.UpdateUser(ctx, u.ID, ethos.UserUpdate{Disabled: &yes}); err != nil {
		t.Fatal(err)
	}
	_, _, err = s.Tokens.Authenticate(ctx, ethos.HashTokenSecret(secret2), now)
	code(t, err, ethos.EUNAUTHORIZED)
}

func testProjects(t *testing.T, s Stores) {
	ctx := context.Background()
	party := MustParty(t, s, "St. Elsewhere", ethos.PartyPublic)
	u := MustUser(t, s, party, ethos.RoleDataSteward)
	p := MustProject(t, s, party, u.ID)
	if p.Stage != ethos.StageCollection || len(p.StageHistory) != 1 {
		t.Fatalf("new project %+v: want stage collection with one history entry", p)
	}
	bad := &ethos.Project{Name: "x", IntendedUse: "y", Modality: "XRAY", ClinicalSetting: "z", PartyID: party.ID}
	code(t, s.Projects.CreateProject(ctx, bad, u.ID), ethos.EINVALID)
	bad.Modality, bad.PartyID = "CT", "pty_missing"
	code(t, s.Projects.CreateProject(ctx, bad, u.ID), ethos.EINVALID)

	_, err := s.Projects.MoveStage(ctx, p.ID, ethos.StageChange{To: ethos.StageTraining, By: u.ID})
	code(t, err, ethos.EINVALID) // skipping processing
	_, err = s.Projects.MoveStage(ctx, p.ID, ethos.StageChange{To: ethos.StageCollection, By: u.ID})
	code(t, err, ethos.ECONFLICT)
	for _, st := range []ethos.Stage{ethos.StageProcessing, ethos.StageTraining, ethos.StageEvaluation, ethos.StageTraining} {
		if _, err := s.Projects.MoveStage(ctx, p.ID, ethos.StageChange{To: st, By: u.ID, Reason: "next"}); err != nil {
			t.Fatalf("move to %s: %v", st, err)
		}
	}
	got, err := s.Projects.FindProjectByID(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	var path []ethos.Stage
	for _, c := range got.StageHistory {
		path = append(path, c.To)
	}
	want := []ethos.Stage{ethos.StageCollection, ethos.StageProcessing, ethos.StageTraining, ethos.StageEvaluation, ethos.StageTraining}
	if got.Stage != ethos.StageTraining || len(path) != len(want) {
		t.Fatalf("history %v, stage %s; want %v", path, got.Stage, want)
	}
	for i := range want {
		if path[i] != want[i] {
			t.Fatalf("history %v, want %v", path, want)
		}
	}
	if last := got.StageHistory[4]; last.From != ethos.StageEvaluation || last.By != u.ID {
		t.Errorf("last change %+v: want from evaluation by %s", last, u.ID)
	}
	name := "Chest X-ray triage v2"
	upd, err := s.Projects.UpdateProject(ctx, p.ID, ethos.ProjectUpdate{Name: &name})
	if err != nil || upd.Name != name || upd.Stage != ethos.StageTraining {
		t.Fatalf("UpdateProject = %+v, %v", upd, err)
	}
	st := ethos.StageTraining
	list, n, err := s.Projects.FindProjects(ctx, ethos.ProjectFilter{Stage: &st})
	if err != nil || n != 1 || list[0].ID != p.ID {
		t.Fatalf("FindProjects(training) = %+v (%d), %v", list, n, err)
	}
	_, err = s.Projects.FindProjectByID(ctx, "prj_missing")
	code(t, err, ethos.ENOTFOUND)
}

func testDUAs(t *testing.T, s Stores) {
	ctx := context.Background()
	now := s.Now()
	owner := MustParty(t, s, "St. Elsewhere", ethos.PartyPublic)
	vendor := MustParty(t, s, "Acme AI", ethos.PartyPrivate)
	irb := MustUser(t, s, owner, ethos.RoleEthicsReviewer)
	p := MustProject(t, s, owner, irb.ID)
	d := &ethos.DUA{PartyID: vendor.ID, ProjectID: p.ID, Stages: []ethos.Stage{ethos.StageTraining},
		Purposes: []ethos.Purpose{ethos.PurposeAITraining}, Views: []ethos.View{ethos.ViewDeidentified},
		ExpiresAt: now.Add(30 * 24 * time.Hour), ApprovedBy: irb.ID, Reference: "IRB-2026-14"}
	if err := s.DUAs.CreateDUA(ctx, d); err != nil {
		t.Fatal(err)
	}
	got, err := s.DUAs.FindDUAByID(ctx, d.ID)
	if err != nil || !got.Covers(ethos.StageTraining, ethos.PurposeAITraining, ethos.ViewDeidentified) || got.Covers(ethos.StageTraining, ethos.PurposeResearch, ethos.ViewDeidentified) {
		t.Fatalf("FindDUAByID = %+v, %v", got, err)
	}
	full := *d
	full.ID, full.Views = "", []ethos.View{ethos.ViewFull}
	code(t, s.DUAs.CreateDUA(ctx, &full), ethos.EINVALID)
	noExpiry := *d
	noExpiry.ID, noExpiry.ExpiresAt = "", time.Time{}
	code(t, s.DUAs.CreateDUA(ctx, &noExpiry), ethos.EINVALID)
	ghost := *d
	ghost.ID, ghost.ApprovedBy = "", "usr_missing"
	code(t, s.DUAs.CreateDUA(ctx, &ghost), ethos.EINVALID)

	if err := s.DUAs.TouchDUA(ctx, d.ID, now); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.DUAs.FindDUAByID(ctx, d.ID); got.LastUsedAt == nil {
		t.Error("TouchDUA did not record the use")
	}
	active, n, err := s.DUAs.FindDUAs(ctx, ethos.DUAFilter{PartyID: &vendor.ID, ProjectID: &p.ID, Active: &now})
	if err != nil || n != 1 || active[0].ID != d.ID {
		t.Fatalf("FindDUAs(active) = %+v (%d), %v", active, n, err)
	}
	if _, err := s.DUAs.RevokeDUA(ctx, d.ID, now); err != nil {
		t.Fatal(err)
	}
	_, n, _ = s.DUAs.FindDUAs(ctx, ethos.DUAFilter{Active: &now})
	if n != 0 {
		t.Errorf("a revoked agreement is still active")
	}
}

func testRecords(t *testing.T, s Stores) {
	ctx := context.Background()
	owner := MustParty(t, s, "St. Elsewhere", ethos.PartyPublic)
	u := MustUser(t, s, owner, ethos.RoleDataSteward)
	p := MustProject(t, s, owner, u.ID)
	for i, r := range []ethos.StageRecord{
		{Kind: "dataset", Body: json.RawMessage(`{"series":120}`)},
		{Kind: "dataset", Body: json.RawMessage(`{"series":80}`), Identifiable: true},
		{Kind: "labels", Body: json.RawMessage(`{"readers":2}`)},
	} {
		r.ProjectID, r.Stage, r.CreatedBy = p.ID, ethos.StageCollection, u.ID
		if err := s.Records.CreateRecord(ctx, &r); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
	}
	code(t, s.Records.CreateRecord(ctx, &ethos.StageRecord{ProjectID: p.ID, Stage: ethos.StageCollection, Kind: "x", Body: json.RawMessage(`{`)}), ethos.EINVALID)
	code(t, s.Records.CreateRecord(ctx, &ethos.StageRecord{ProjectID: "prj_missing", Stage: ethos.StageCollection, Kind: "x", Body: json.RawMessage(`1`)}), ethos.ENOTFOUND)
	no := false
	deid, n, err := s.Records.FindRecords(ctx, ethos.RecordFilter{ProjectID: p.ID, Stage: ethos.StageCollection, Identifiable: &no})
	if err != nil || n != 2 || len(deid) != 2 {
		t.Fatalf("FindRecords(deidentified) = %d (%d), %v; want 2", len(deid), n, err)
	}
	counts, err := s.Records.CountRecords(ctx, ethos.RecordFilter{ProjectID: p.ID, Stage: ethos.StageCollection})
	if err != nil || len(counts) != 2 || counts[0] != (ethos.RecordCount{Kind: "dataset", Count: 2}) || counts[1] != (ethos.RecordCount{Kind: "labels", Count: 1}) {
		t.Fatalf("CountRecords = %+v, %v", counts, err)
	}
	other, n, _ := s.Records.FindRecords(ctx, ethos.RecordFilter{ProjectID: p.ID, Stage: ethos.StageTraining})
	if n != 0 || len(other) != 0 {
		t.Errorf("training has %d records, want 0", n)
	}
}
