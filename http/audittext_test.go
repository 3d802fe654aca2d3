package http_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/ethos-imaging/ethos"
)

// Text users type (reasons, titles, comments) stays on the record it
// belongs to; the audit entry names the record and carries only
// ethos.AuditText of the text. Each test submits text naming a fake
// patient, reads the whole audit log back and finds none of it there,
// then reads the text back where it belongs.

func TestDeploymentTextStaysOutOfTheAudit(t *testing.T) {
	d := newDepFixture(t)
	code, m, dep := d.register("mv-1")
	if code != 201 {
		t.Fatalf("register: %d %v", code, m)
	}
	t.Run("ChangeReasonInTheChangeLog", func(t *testing.T) {
		reason := withFakePatient("drift on the new scanner")
		var out struct {
			Change ethos.DeploymentChange `json:"change"`
		}
		if code, m := d.do("POST", "/api/v1/deployments/"+dep.ID+"/changes", d.eng, ethos.ChangeRequest{Kind: ethos.ChangeSuspend, Reason: reason,
			ExpectedEffect: "no AI triage until reviewed", Notified: []ethos.Role{ethos.RoleClinician}}, &out); code != 200 {
			t.Fatalf("suspend: %d %v", code, m)
		}
		ev := lastOf(t, d.lastEvents(2), "deployment.change")
		if want := "change 2 suspend; reason in the change log: " + ethos.AuditText(reason); ev.Reason != want || ev.Resource != "deployment/"+dep.ID {
			t.Errorf("change audited as %q on %s, want %q", ev.Reason, ev.Resource, want)
		}
		var log struct{ Items []ethos.DeploymentChange }
		if code, m := d.do("GET", "/api/v1/deployments/"+dep.ID+"/changes", d.clin, nil, &log); code != 200 || len(log.Items) != 2 || log.Items[1].Reason != reason {
			t.Fatalf("change log: %d %v", code, m)
		}
		d.auditClean()
	})
	t.Run("IncidentTitleOnTheIncident", func(t *testing.T) {
		title := withFakePatient("worklist leaked to a shared drive")
		var out ethos.Incident
		if code, m := d.do("POST", "/api/v1/deployments/"+dep.ID+"/incidents", d.eng, map[string]any{"title": title, "aware_at": d.clock.Now(),
			"zone": "Europe/Paris", "jurisdictions": []string{"EU"}, "classes": []string{"personal-data-breach"}, "affected_subjects": 1}, &out); code != 201 {
			t.Fatalf("incident: %d %v", code, m)
		}
		var list struct{ Items []ethos.Incident }
		if code, m := d.do("GET", "/api/v1/deployments/"+dep.ID+"/incidents", d.eng, nil, &list); code != 200 || len(list.Items) != 1 || list.Items[0].Title != title {
			t.Fatalf("incidents: %d %v", code, m)
		}
		d.auditClean()
	})
	t.Run("WaiverReasonOnTheChecklist", func(t *testing.T) {
		reason := withFakePatient("private hospital, no public service mandate")
		if code, m := d.do("POST", "/api/v1/deployments/"+dep.ID+"/attestations", d.ethics, map[string]any{"item_id": "AIA-27", "role": ethos.RoleEthicsReviewer,
			"reason": reason, "waiver": true}, nil); code != 201 {
			t.Fatalf("waiver: %d %v", code, m)
		}
		var comp struct{ Results []ethos.ComplianceResult }
		if code, m := d.do("GET", "/api/v1/deployments/"+dep.ID+"/compliance", d.clin, nil, &comp); code != 200 {
			t.Fatalf("compliance: %d %v", code, m)
		}
		found := false
		for _, r := range comp.Results {
			found = found || (r.Attestation != nil && r.Attestation.Reason == reason)
		}
		if !found {
			t.Fatalf("the waiver's reason is not on the checklist: %+v", comp.Results)
		}
		d.auditClean()
	})
}

func TestAccessCheckRefusesUnknownValues(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct{ name, field, value string }{
		{"UnknownAction", "action", fakePatient[0]},
		{"UnknownStage", "stage", fakePatient[1]},
		{"UnknownPurpose", "purpose", fakePatient[2]},
		{"UnknownView", "view", fakePatient[0]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := map[string]string{"stage": "training", "action": "read", "purpose": "ai-training", "view": "full"}
			in[tc.field] = tc.value
			before := f.log.Size()
			code, m := f.do("POST", "/api/v1/access/check", f.admin, in, nil)
			if code != 400 || m["field"] != tc.field {
				t.Fatalf("%s %q: %d %v, want 400 naming the field", tc.field, tc.value, code, m)
			}
			if strings.Contains(m["message"].(string), tc.value) {
				t.Errorf("the error echoes the value: %v", m)
			}
			if n := f.log.Size(); n != before {
				t.Errorf("a refused check wrote %d audit entries", n-before)
			}
		})
	}
	t.Run("KnownValuesDecided", func(t *testing.T) {
		var out struct {
			Decision ethos.AccessDecision `json:"decision"`
		}
		if code, m := f.do("POST", "/api/v1/access/check", f.admin, map[string]string{"stage": "training", "action": "read", "purpose": "ai-training"}, &out); code != 200 || out.Decision.Rule == "" {
			t.Fatalf("check: %d %v", code, m)
		}
		if ev := f.lastEvents(1)[0]; ev.Action != "access.check" || ev.Stage != "training" || ev.Purpose != "ai-training" {
			t.Errorf("check audited as %+v", ev)
		}
	})
	f.auditClean()
}

func TestAuthFailureNamesTheRouteNotThePath(t *testing.T) {
	f := newFixture(t)
	path := "/api/v1/users/" + url.PathEscape(fakePatient[1])
	if code, _ := f.do("GET", path, "", nil, nil); code != 401 {
		t.Fatalf("GET %s without a token: %d, want 401", path, code)
	}
	if ev := f.lastEvents(1)[0]; ev.Action != "auth.fail" || ev.Resource != "api/users/{id}" {
		t.Errorf("refusal audited as %+v, want resource api/users/{id}", ev)
	}
	f.auditClean()
}

func TestPathThatIsNotAnIDIsNotAudited(t *testing.T) {
	f := newFixture(t)
	for _, path := range []string{
		"/api/v1/users/" + url.PathEscape(fakePatient[0]),
		"/api/v1/projects/" + url.PathEscape(fakePatient[1]),
		"/api/v1/parties/" + url.PathEscape(fakePatient[2]+" x"),
	} {
		before := f.log.Size()
		code, m := f.do("GET", path, f.admin, nil, nil)
		if code != 404 || m["error"] != "not_found" {
			t.Errorf("GET %s: %d %v, want 404", path, code, m)
		}
		if msg, _ := m["message"].(string); strings.Contains(msg, fakePatient[0]) || strings.Contains(msg, fakePatient[1]) || strings.Contains(msg, fakePatient[2]) {
			t.Errorf("GET %s: the error echoes the path: %q", path, msg)
		}
		if n := f.log.Size(); n != before {
			t.Errorf("GET %s wrote %d audit entries", path, n-before)
		}
	}
	f.auditClean()
}
