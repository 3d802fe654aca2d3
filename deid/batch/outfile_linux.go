//go:build linux

package batch

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"syscall"
	"unsafe"
)

const oTmpfile = 0o20000000 | syscall.O_DIRECTORY // O_TMPFILE as the kernel spells it

var procFD = sync.OnceValue(func() bool {
	_, err := os.Stat("/proc/self/fd")
	return err == nil
})

// createOutput makes the output file for one input. On Linux it is an
// unnamed file (O_TMPFILE) in dir, linked under its final name when done.
// Unlike a named temporary renamed into a study directory, this needs no
// cross-directory rename: those take a file-system-wide lock and both
// directories' locks, and with every worker creating and renaming through
// the one output root they serialised the workers (lock_two_directories
// in a kernel profile). Where O_TMPFILE or /proc is missing, a named
// temporary is used instead.
func createOutput(dir string) (*outFile, error) {
	if procFD() {
		// Mode 0644 as published (after the umask; the runner corrects
		// it if the umask takes more): the file has no name until it is
		// complete, so nobody can open it before.
		fd, err := syscall.Open(dir, oTmpfile|syscall.O_RDWR|syscall.O_CLOEXEC, 0o644)
		if err == nil {
			return &outFile{File: os.NewFile(uintptr(fd), dir)}, nil
		}
		if !errors.Is(err, syscall.EOPNOTSUPP) && !errors.Is(err, syscall.EISDIR) && !errors.Is(err, syscall.EINVAL) {
			return nil, &os.PathError{Op: "create", Path: dir, Err: err}
		}
	}
	return createTempNamed(dir)
}

// openInput opens an input file for reading. os.Open would also try to
// register the descriptor with the runtime's poller (four fcntl calls
// and a failing epoll_ctl for a regular file); this costs one fcntl.
func openInput(name string) (*os.File, error) {
	for {
		fd, err := syscall.Open(name, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "open", Path: name, Err: err}
		}
		return os.NewFile(uintptr(fd), name), nil
	}
}

// linkUnnamed gives the unnamed file f the name dst.
func linkUnnamed(f *os.File, dst string) error {
	src := "/proc/self/fd/" + strconv.Itoa(int(f.Fd()))
	link := func(name string) error {
		return linkat(src, name)
	}
	err := link(dst)
	if errors.Is(err, syscall.EEXIST) {
		// An earlier run's output is there: replace it atomically.
		return replaceVia(link, dst)
	}
	if err != nil {
		return fmt.Errorf("link output: %w", err)
	}
	return nil
}

func linkat(src, dst string) error {
	const atFDCWD, atSymlinkFollow = -100, 0x400
	s, err := syscall.BytePtrFromString(src)
	if err != nil {
		return err
	}
	d, err := syscall.BytePtrFromString(dst)
	if err != nil {
		return err
	}
	for {
		fd := atFDCWD
		_, _, errno := syscall.Syscall6(syscall.SYS_LINKAT, uintptr(fd), uintptr(unsafe.Pointer(s)),
			uintptr(fd), uintptr(unsafe.Pointer(d)), atSymlinkFollow, 0)
		if errno != syscall.EINTR {
			if errno != 0 {
				return errno
			}
			return nil
		}
	}
}
