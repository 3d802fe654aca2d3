// Package testenv locates the shared test corpus and the external tools that
// tests run (dcmtk, dicom3tools, python3 with scikit-learn, chromium,
// PostgreSQL). A missing tool skips the test on a developer machine and fails
// it when the CI environment variable is set, so CI can never pass by
// skipping.
package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

var (
	rootOnce sync.Once
	rootDir  string
)

// RepoRoot returns the directory that holds the module's go.mod.
func RepoRoot(tb testing.TB) string {
	tb.Helper()
	rootOnce.Do(func() {
		dir, err := os.Getwd()
		if err != nil {
			return
		}
		for {
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				rootDir = dir
				return
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				return
			}
			dir = parent
		}
	})
	if rootDir == "" {
		tb.Fatal("testenv: cannot find go.mod above the working directory")
	}
	return rootDir
}

// Shared returns the path of the shared folder that sits beside the
// repository (../shared), or $ETHOS_SHARED when set. The folder is required:
// its absence fails the test.
func Shared(tb testing.TB) string {
	tb.Helper()
	dir := os.Getenv("ETHOS_SHARED")
	if dir == "" {
		dir = filepath.Join(RepoRoot(tb), "..", "shared")
	}
	if _, err := os.Stat(dir); err != nil {
		tb.Fatalf("testenv: shared folder not found at %s (set ETHOS_SHARED): %v", dir, err)
	}
	return dir
}

// DICOMDir returns ../shared/testdata/dicom.
func DICOMDir(tb testing.TB) string {
	tb.Helper()
	return filepath.Join(Shared(tb), "testdata", "dicom")
}

// InCI reports whether the CI environment variable is set.
func InCI() bool { return os.Getenv("CI") != "" }

// Tool returns the path of an external program. When it is missing the test
// is skipped, or failed when running in CI.
func Tool(tb testing.TB, name string) string {
	tb.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(tb, name+" is not installed (the test command installs it: make test)")
	}
	return p
}

// Missing skips the test with reason, or fails it in CI.
func Missing(tb testing.TB, reason string) {
	tb.Helper()
	if InCI() {
		tb.Fatalf("required by this test in CI: %s", reason)
	}
	tb.Skipf("skipped (not in CI): %s", reason)
}
