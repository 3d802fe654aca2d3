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

// startWriteback asks the kernel to start writing f's dirty pages to the
// disk now (sync_file_range with SYNC_FILE_RANGE_WRITE: no wait, no
// metadata). Under SyncEnd the disk then works while the run goes on, and
// the final syncfs finds little left to write, instead of the whole
// output at once. Errors are left to that syncfs, which reports them.
func startWriteback(f *os.File) {
	const syncFileRangeWrite = 2
	syscall.Syscall6(syscall.SYS_SYNC_FILE_RANGE, f.Fd(), 0, 0, syncFileRangeWrite, 0, 0)
}
