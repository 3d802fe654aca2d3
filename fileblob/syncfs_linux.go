//go:build linux && (amd64 || arm64)

package fileblob

import (
	"fmt"
	"os"
	"syscall"
)

// syncFS makes every written byte of the file system holding dir durable
// with one syncfs(2): the cost of one journal commit for a whole batch of
// blobs instead of one fsync per file and directory. Since Linux 5.8 it
// reports write-back errors of the file system.
func syncFS(dir string, _ []string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	for {
		_, _, errno := syscall.Syscall(sysSyncfs, d.Fd(), 0, 0)
		if errno == syscall.EINTR {
			continue
		}
		if errno != 0 {
			return fmt.Errorf("syncfs %s: %w", dir, errno)
		}
		return nil
	}
}
