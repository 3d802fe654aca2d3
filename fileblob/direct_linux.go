package fileblob

import (
	"errors"
	"os"
	"syscall"
)

const oDirect = syscall.O_DIRECT

func oDirectIf(on bool) int {
	if on {
		return oDirect
	}
	return 0
}

// setDirect sets or clears O_DIRECT on an open file.
func setDirect(f *os.File, on bool) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = rc.Control(func(fd uintptr) {
		flags, _, errno := syscall.Syscall(syscall.SYS_FCNTL, fd, syscall.F_GETFL, 0)
		if errno != 0 {
			serr = errno
			return
		}
		flags &^= oDirect
		if on {
			flags |= oDirect
		}
		if _, _, errno := syscall.Syscall(syscall.SYS_FCNTL, fd, syscall.F_SETFL, flags); errno != 0 {
			serr = errno
		}
	})
	if err != nil {
		return err
	}
	return serr
}

func isInvalid(err error) bool { return errors.Is(err, syscall.EINVAL) }
