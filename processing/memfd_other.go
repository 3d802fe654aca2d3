//go:build !(linux && (amd64 || arm64))

package processing

import (
	"errors"
	"os"
)

// memPair is unavailable here: runs hand the engine their inputs in
// memory (deid.Engine.ProcessBytesDigest) instead.
type memPair struct{}

func newMemPair(int) (*memPair, error) { return nil, errors.ErrUnsupported }

func (*memPair) input(int) ([]byte, error)        { return nil, errors.ErrUnsupported }
func (*memPair) output() ([]byte, *[]byte, error) { return nil, nil, errors.ErrUnsupported }
func (*memPair) files() (in, out *os.File)        { return nil, nil }
func (*memPair) close()                           {}
