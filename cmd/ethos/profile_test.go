package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestProfileFromEnv(t *testing.T) {
	dir := t.TempDir()
	vars := map[string]string{
		"ETHOS_CPUPROFILE": filepath.Join(dir, "cpu.prof"),
		"ETHOS_TRACE":      filepath.Join(dir, "run.trace"),
	}
	var errb bytes.Buffer
	env := &Env{Stderr: &errb, Getenv: func(k string) string { return vars[k] }}
	stop := profileFromEnv(env)
	stop()
	for name, path := range vars {
		if st, err := os.Stat(path); err != nil || st.Size() == 0 {
			t.Errorf("%s: no output at %s (%v)", name, path, err)
		}
	}
	if errb.Len() != 0 {
		t.Errorf("stderr: %s", errb.String())
	}

	t.Run("ErrUnwritablePathReported", func(t *testing.T) {
		var errb bytes.Buffer
		bad := filepath.Join(dir, "missing", "cpu.prof")
		env := &Env{Stderr: &errb, Getenv: func(k string) string {
			if k == "ETHOS_CPUPROFILE" {
				return bad
			}
			return ""
		}}
		profileFromEnv(env)()
		if !strings.Contains(errb.String(), "ETHOS_CPUPROFILE") {
			t.Errorf("stderr %q does not name the variable", errb.String())
		}
	})
}
