//go:build linux && (amd64 || arm64)

package batch

import (
	"os"
	"syscall"
)

// syncDir flushes the file system that holds dir (syncfs(2)): one call
// makes every output of the run durable.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, _, errno := syscall.Syscall(sysSyncfs, f.Fd(), 0, 0); errno != 0 {
		return errno
	}
	return nil
}
