package dicom_test

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPackageDocs checks that every package of the codec has a package
// comment, and that generated files say so.
func TestPackageDocs(t *testing.T) {
	for _, dir := range []string{".", "tag", "vr", "uid", "tag/internal/gen"} {
		t.Run(dir, func(t *testing.T) {
			fset := token.NewFileSet()
			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			documented := false
			for _, e := range entries {
				name := e.Name()
				if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
					continue
				}
				f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, parser.ParseComments|parser.PackageClauseOnly)
				if err != nil {
					t.Fatal(err)
				}
				if f.Doc != nil && strings.HasPrefix(f.Doc.Text(), "Package ") || f.Doc != nil && f.Name.Name == "main" {
					documented = true
				}
				if strings.HasSuffix(name, "_gen.go") {
					src, _ := os.ReadFile(filepath.Join(dir, name))
					if !strings.Contains(strings.SplitN(string(src), "\n", 2)[0], "Code generated") || !strings.Contains(string(src[:200]), "DO NOT EDIT.") {
						t.Errorf("%s lacks the generated-code header", name)
					}
				}
			}
			if !documented {
				t.Errorf("package in %s has no package comment", dir)
			}
		})
	}
}
