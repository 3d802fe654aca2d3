package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/ethos-imaging/ethos/internal/testenv"
)

// TestEvalReportMatchesSchema checks real reports (with bootstrap,
// criteria, undefined values and intersections) against the published JSON
// Schema, docs/eval-report.schema.json, with a checker for the keywords
// that schema uses.
func TestEvalReportMatchesSchema(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "docs", "eval-report.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	var schema map[string]any
	if err := json.Unmarshal(raw, &schema); err != nil {
		t.Fatal(err)
	}
	in := evalRows(t, 600)
	crit := filepath.Join(t.TempDir(), "c.json")
	os.WriteFile(crit, []byte(`[{"id":"a","metric":"auroc","scope":"overall","bound":"ci_lower","comparator":">=","value":0.5},
 {"metric":"sensitivity","scope":"group","attribute":"sex|site","comparator":">=","value":0.1},
 {"metric":"fnr","scope":"gap","attribute":"site","aggregate":"worst","comparator":"<=","value":0.9}]`), 0o644)
	for _, args := range [][]string{
		{"--group", "sex", "--group", "site", "--intersect", "--bootstrap", "30", "--criteria", crit, "--patient", "patient", "--prevalence", "0.2"},
		{"--group", "sex", "--group", "site", "--bootstrap", "20", "--bootstrap-metrics", "auroc,fnr"},
		{"--group", "sex", "--threshold", "1", "--fairlearn-compat"},
		{},
	} {
		stdout, stderr, code := runCLI(t, append([]string{"eval", "--in", in, "--label", "label", "--score", "score"}, args...)...)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		var doc any
		if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
			t.Fatal(err)
		}
		v := &schemaChecker{root: schema}
		v.check("$", schema, doc)
		if len(v.errs) > 0 {
			t.Errorf("args %v: %d schema violations, first: %s", args, len(v.errs), strings.Join(v.errs[:min(5, len(v.errs))], "; "))
		}
	}
}

type schemaChecker struct {
	root map[string]any
	errs []string
}

func (v *schemaChecker) fail(path, format string, args ...any) {
	v.errs = append(v.errs, path+": "+fmt.Sprintf(format, args...))
}

func (v *schemaChecker) check(path string, s map[string]any, doc any) {
	if ref, ok := s["$ref"].(string); ok {
		name := strings.TrimPrefix(ref, "#/$defs/")
		def, ok := v.root["$defs"].(map[string]any)[name].(map[string]any)
		if !ok {
			v.fail(path, "unknown $ref %s", ref)
			return
		}
		v.check(path, def, doc)
		return
	}
	if c, ok := s["const"]; ok && doc != c {
		v.fail(path, "want %v, got %v", c, doc)
	}
	if e, ok := s["enum"].([]any); ok && !slices.Contains(e, doc) {
		v.fail(path, "%v not in %v", doc, e)
	}
	if ty, ok := s["type"]; ok {
		var types []string
		switch ty := ty.(type) {
		case string:
			types = []string{ty}
		case []any:
			for _, x := range ty {
				types = append(types, x.(string))
			}
		}
		if !slices.ContainsFunc(types, func(ty string) bool { return hasType(doc, ty) }) {
			v.fail(path, "want type %v, got %T", types, doc)
			return
		}
	}
	switch d := doc.(type) {
	case map[string]any:
		for _, r := range asList(s["required"]) {
			if _, ok := d[r.(string)]; !ok {
				v.fail(path, "missing %s", r)
			}
		}
		props, _ := s["properties"].(map[string]any)
		patterns, _ := s["patternProperties"].(map[string]any)
		for k, x := range d {
			if p, ok := props[k].(map[string]any); ok {
				v.check(path+"."+k, p, x)
				continue
			}
			matched := false
			for pat, ps := range patterns {
				if regexp.MustCompile(pat).MatchString(k) {
					matched = true
					v.check(path+"."+k, ps.(map[string]any), x)
				}
			}
			if matched {
				continue
			}
			switch ap := s["additionalProperties"].(type) {
			case bool:
				if !ap {
					v.fail(path, "unexpected property %s", k)
				}
			case map[string]any:
				v.check(path+"."+k, ap, x)
			}
		}
	case []any:
		if items, ok := s["items"].(map[string]any); ok {
			for i, x := range d {
				v.check(fmt.Sprintf("%s[%d]", path, i), items, x)
			}
		}
	}
}

func asList(x any) []any { l, _ := x.([]any); return l }

func hasType(doc any, ty string) bool {
	switch ty {
	case "null":
		return doc == nil
	case "object":
		_, ok := doc.(map[string]any)
		return ok
	case "array":
		_, ok := doc.([]any)
		return ok
	case "string":
		_, ok := doc.(string)
		return ok
	case "boolean":
		_, ok := doc.(bool)
		return ok
	case "number":
		_, ok := doc.(float64)
		return ok
	case "integer":
		f, ok := doc.(float64)
		return ok && f == math.Trunc(f)
	}
	return false
}
