//go:build linux && (amd64 || arm64)

package batch

import (
	"os"
	"syscall"
	"unsafe"
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

// spreadSubdirs marks dir, an output directory this run created, as the
// top of unrelated hierarchies (FS_TOPDIR_FL, what `chattr +T` sets).
// ext4's Orlov allocator then places each study directory made in it,
// and so the files made in that, in a block group of its own choosing
// instead of all in dir's group. Every new inode is allocated by scanning
// its group's bitmap; on ext4 without a journal that scan also steps over
// every inode freed in the last 30 seconds, so a run that follows the
// deletion of an earlier output (a benchmark round, a re-run into a
// cleared directory) paid a scan over thousands of inodes per file and
// per directory created (in a kernel profile, a third of the run's CPU).
// File systems without the flag refuse it; that is ignored.
func spreadSubdirs(dir string) {
	const (
		fsIocGetflags = 0x80086601
		fsIocSetflags = 0x40086602
		fsTopdirFl    = 0x00020000
	)
	fd, err := syscall.Open(dir, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return
	}
	defer syscall.Close(fd)
	var flags uint32
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), fsIocGetflags, uintptr(unsafe.Pointer(&flags))); errno != 0 || flags&fsTopdirFl != 0 {
		return
	}
	flags |= fsTopdirFl
	syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), fsIocSetflags, uintptr(unsafe.Pointer(&flags)))
}
