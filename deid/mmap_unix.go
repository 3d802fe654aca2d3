//go:build linux || darwin || freebsd || netbsd || openbsd

package deid

import (
	"os"
	"syscall"
)

// maxMap is the largest file mapped. Mapped pages count in the resident
// set once touched, so larger files are read through a small buffer
// instead: memory stays bounded whatever the file size.
var maxMap int64 = 8 << 20

// mapFile maps f read-only. It returns nil data (and no error) when the
// file cannot be mapped (empty, special, too large).
func mapFile(f *os.File) ([]byte, func(), error) {
	st, err := f.Stat()
	if err != nil {
		return nil, func() {}, err
	}
	size := st.Size()
	if !st.Mode().IsRegular() || size <= 0 || size > maxMap || int64(int(size)) != size {
		return nil, func() {}, nil
	}
	data, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED|mapPopulate)
	if err != nil {
		return nil, func() {}, nil
	}
	return data, func() { syscall.Munmap(data) }, nil
}
