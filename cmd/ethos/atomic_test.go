package main

import (
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// Output paths that are devices or pipes (/dev/null, /dev/stdout, a FIFO)
// are written in place: renaming a temporary file over one would replace
// the device with a regular file for every other program on the machine.
func TestWriteAtomicKeepsSpecialFiles(t *testing.T) {
	for name, write := range map[string]func(path string) error{
		"writeFileAtomic": func(p string) error {
			return writeFileAtomic(p, func(w io.Writer) error { _, err := io.WriteString(w, "hello"); return err })
		},
		"writeAtomic": func(p string) error { return writeAtomic(p, []byte("hello"), 0o600) },
	} {
		t.Run(name, func(t *testing.T) {
			fifo := filepath.Join(t.TempDir(), "pipe")
			if err := syscall.Mkfifo(fifo, 0o600); err != nil {
				t.Fatal(err)
			}
			got := make(chan string, 1)
			go func() {
				b, _ := os.ReadFile(fifo)
				got <- string(b)
			}()
			if err := write(fifo); err != nil {
				t.Fatal(err)
			}
			if s := <-got; s != "hello" {
				t.Errorf("reader got %q, want %q", s, "hello")
			}
			fi, err := os.Lstat(fifo)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode()&os.ModeNamedPipe == 0 {
				t.Errorf("the pipe was replaced: mode %v", fi.Mode())
			}
		})
	}
}
