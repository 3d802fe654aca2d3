//go:build linux && (amd64 || arm64)

package processing

import (
	"fmt"
	"io"
	"os"
	"syscall"
	"unsafe"
)

const mfdCloexec = 1 // MFD_CLOEXEC

// memFD returns an anonymous file that lives in memory (memfd_create(2)):
// an *os.File the engine can read and write, seek and copy between with
// copy_file_range, without a file system behind it.
func memFD(name string) (*os.File, error) {
	p, err := syscall.BytePtrFromString(name)
	if err != nil {
		return nil, err
	}
	fd, _, errno := syscall.Syscall(sysMemfdCreate, uintptr(unsafe.Pointer(p)), mfdCloexec, 0)
	if errno != 0 {
		return nil, fmt.Errorf("memfd_create: %w", errno)
	}
	return os.NewFile(fd, name), nil
}

// memPair is a worker's two files in memory: the decrypted input of the
// instance it works on and the engine's output. Each is mapped once, at
// its full capacity, for the life of the run: the input is decrypted
// straight into its mapping and the output is read (hashed, compared,
// encrypted) straight from its, so neither is copied between the process
// and the kernel, and pages kept from one instance to the next are not
// faulted in again. Only [0, size) of a mapping is ever touched.
type memPair struct {
	in, out       *os.File
	inMap, outMap []byte
}

func newMemPair(capacity int) (*memPair, error) {
	m := &memPair{}
	var err error
	if m.in, err = memFD("ethos-processing-in"); err != nil {
		return nil, err
	}
	if m.out, err = memFD("ethos-processing-out"); err != nil {
		m.close()
		return nil, err
	}
	if m.inMap, err = syscall.Mmap(int(m.in.Fd()), 0, capacity, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED); err != nil {
		m.close()
		return nil, fmt.Errorf("map input: %w", err)
	}
	if m.outMap, err = syscall.Mmap(int(m.out.Fd()), 0, capacity, syscall.PROT_READ, syscall.MAP_SHARED); err != nil {
		m.close()
		return nil, fmt.Errorf("map output: %w", err)
	}
	return m, nil
}

// input sizes the input file to n bytes and returns its mapping, for the
// caller to fill, and rewinds both files for the engine (which reads and
// writes from the current positions).
func (m *memPair) input(n int) ([]byte, error) {
	if n > len(m.inMap) {
		return nil, fmt.Errorf("input of %d bytes exceeds the %d mapped", n, len(m.inMap))
	}
	if err := m.in.Truncate(int64(n)); err != nil {
		return nil, err
	}
	if _, err := m.in.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	if _, err := m.out.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	return m.inMap[:n], nil
}

// output returns what the engine wrote since input: a slice of the
// output's mapping, or a pooled copy (to hand back with putBuf; nil
// otherwise) when the output outgrew the mapping. The file may hold a
// longer earlier output past it.
func (m *memPair) output() (data []byte, buf *[]byte, err error) {
	n, err := m.out.Seek(0, io.SeekCurrent)
	if err != nil {
		return nil, nil, err
	}
	if n <= int64(len(m.outMap)) {
		return m.outMap[:n], nil, nil
	}
	buf = getBuf(int(n))
	if _, err := m.out.ReadAt(*buf, 0); err != nil {
		putBuf(buf)
		return nil, nil, err
	}
	return *buf, buf, nil
}

func (m *memPair) close() {
	if m.inMap != nil {
		syscall.Munmap(m.inMap)
	}
	if m.outMap != nil {
		syscall.Munmap(m.outMap)
	}
	if m.in != nil {
		m.in.Close()
	}
	if m.out != nil {
		m.out.Close()
	}
}

func (m *memPair) files() (in, out *os.File) { return m.in, m.out }
