//go:build linux && (amd64 || arm64)

package batch_test

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"unsafe"

	"github.com/ethos-imaging/ethos/deid/batch"
)

// dirFlags reads a directory's inode flags (FS_IOC_GETFLAGS); ok is false
// where the file system has none (tmpfs, for one).
func dirFlags(t *testing.T, dir string) (uint32, bool) {
	t.Helper()
	f, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var flags uint32
	_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), 0x80086601, uintptr(unsafe.Pointer(&flags)))
	return flags, errno == 0
}

// TestRunSpreadsNewOutputDir: an output directory the run creates is
// marked as the top of unrelated trees (chattr +T); one that existed is
// left as it was.
func TestRunSpreadsNewOutputDir(t *testing.T) {
	const topdir = 0x00020000
	in := mustTree(t, map[string]string{"a": "one"})
	root := t.TempDir()
	if _, ok := dirFlags(t, root); !ok {
		t.Skip("the temporary directory's file system has no inode flags")
	}
	tests := []struct {
		name     string
		existing bool
		want     bool
	}{
		{"NewDirMarked", false, true},
		{"ExistingDirUntouched", true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(root, tt.name)
			if tt.existing {
				if err := os.Mkdir(out, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := batch.Run(context.Background(), batch.Options{In: in, Out: out, Processor: &toProcessor{}, RunKey: "k"}); err != nil {
				t.Fatal(err)
			}
			flags, _ := dirFlags(t, out)
			if got := flags&topdir != 0; got != tt.want {
				t.Errorf("top-directory flag %v, want %v", got, tt.want)
			}
		})
	}
}
