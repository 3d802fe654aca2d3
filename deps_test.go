package ethos_test

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/ethos-imaging/ethos"

// layer names a group of packages by path below the module.
type layer struct {
	name string
	pkgs []string // package paths relative to the module; "." is the root
}

var (
	root     = layer{"root vocabulary", []string{"."}}
	engines  = layer{"generic engines", []string{"dicom", "deid", "audit", "evalstat", "drift", "svgchart"}}
	deciders = layer{"decision engines", []string{"consent", "policy", "checks"}}
	stages   = layer{"stage packages", []string{"collection", "processing", "training", "evaluation", "deployment"}}
	adapters = layer{"adapters", []string{"sqlite", "postgres", "sqlstore", "fileblob", "http", "html"}}
)

// forbidden lists, for each layer, the layers its packages must never
// import, directly or not. Dependencies point one way: cmd/ethos sees
// everything, adapters see the vocabulary and engines, stages see the
// vocabulary and engines, engines see only the standard library and
// their own sub-packages.
var forbidden = []struct {
	from layer
	to   []layer
}{
	{root, []layer{engines, deciders, stages, adapters}},
	{engines, []layer{root, deciders, stages, adapters}},
	{deciders, []layer{stages, adapters}},
	{stages, []layer{adapters}},
	{adapters, []layer{stages}},
}

func inLayer(pkg string, l layer) (string, bool) {
	rel, ok := strings.CutPrefix(pkg, module)
	if !ok {
		return "", false
	}
	rel = strings.TrimPrefix(rel, "/")
	if rel == "" {
		rel = "."
	}
	for _, p := range l.pkgs {
		if rel == p || (p != "." && strings.HasPrefix(rel, p+"/")) {
			return p, true
		}
	}
	return "", false
}

func TestDependencyDirection(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}}|{{join .Deps \" \"}}", "./...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, deps, _ := strings.Cut(line, "|")
		for _, rule := range forbidden {
			fromTop, ok := inLayer(pkg, rule.from)
			if !ok {
				continue
			}
			for _, dep := range strings.Fields(deps) {
				for _, to := range rule.to {
					depTop, ok := inLayer(dep, to)
					if !ok {
						continue
					}
					// Stage packages must not import one another either,
					// but a package may import its own sub-packages.
					if depTop == fromTop {
						continue
					}
					t.Errorf("%s (%s) depends on %s (%s)", pkg, rule.from.name, dep, to.name)
				}
			}
			// Stage packages never import another stage package.
			if rule.from.name == stages.name {
				for _, dep := range strings.Fields(deps) {
					if depTop, ok := inLayer(dep, stages); ok && depTop != fromTop {
						t.Errorf("stage package %s depends on stage package %s", pkg, dep)
					}
				}
			}
		}
		if _, ok := inLayer(pkg, root); ok {
			for _, dep := range strings.Fields(deps) {
				if strings.Contains(strings.SplitN(dep, "/", 2)[0], ".") {
					t.Errorf("root package imports %s: the vocabulary uses the standard library only", dep)
				}
			}
		}
	}
}

func TestEveryPackageHasADocComment(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}}|{{.Doc}}", "./...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, doc, _ := strings.Cut(line, "|")
		if strings.TrimSpace(doc) == "" {
			t.Errorf("package %s has no package comment", pkg)
		}
	}
}
