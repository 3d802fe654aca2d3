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
		fd, err := syscall.Open(dir, oTmpfile|syscall.O_RDWR|syscall.O_CLOEXEC, 0o600)
		if err == nil {
			return &outFile{File: os.NewFile(uintptr(fd), dir)}, nil
		}
		if !errors.Is(err, syscall.EOPNOTSUPP) && !errors.Is(err, syscall.EISDIR) && !errors.Is(err, syscall.EINVAL) {
			return nil, &os.PathError{Op: "create", Path: dir, Err: err}
		}
	}
	return createTempNamed(dir)
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
