package http_test

import (
	"net/http"
	"testing"
)

// FuzzRequestBodies sends arbitrary bodies to the routes that decode JSON.
// Whatever the bytes, the answer is a 2xx, a 4xx naming the problem, never
// a 5xx.
func FuzzRequestBodies(f *testing.F) {
	for _, s := range []string{
		`{"name":"Acme","type":"private"}`,
		`{"name":5}`, `{"name":"a","type":"public","x":1}`, `[]`, `null`, `{"name":"\u0000"}`,
		`{"purpose":"research","kind":"dataset","identifiable":false,"body":{"n":1}}`,
		`{"party_id":"p","project_id":"q","stages":["training"],"purposes":["research"],"views":["deidentified"],"expires_at":"2027-01-01T00:00:00Z"}`,
		`{"stage":"processing","reason":"ok"}`, `{"roles":["admin","admin"]}`, `{"expires_in_days":-3}`,
	} {
		f.Add(s)
	}
	fx := newFixture(f)
	f.Fuzz(func(t *testing.T, body string) {
		fx.t = t
		for _, rt := range []struct{ method, path string }{
			{"POST", "/api/v1/parties"}, {"POST", "/api/v1/users"}, {"POST", "/api/v1/tokens"}, {"POST", "/api/v1/projects"},
			{"POST", "/api/v1/duas"}, {"POST", "/api/v1/access/check"}, {"PATCH", "/api/v1/projects/prj_x"},
			{"POST", "/api/v1/projects/prj_x/stages/training/records"},
		} {
			code, m := fx.do(rt.method, rt.path, fx.admin, body, nil)
			if code >= 500 || code < 200 {
				t.Fatalf("%s %s with %q: %d %v", rt.method, rt.path, body, code, m)
			}
			if code >= 400 && code != http.StatusNotFound && m["message"] == "" {
				t.Fatalf("%s %s: %d without a message", rt.method, rt.path, code)
			}
		}
	})
}
