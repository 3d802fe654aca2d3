//go:build !linux

package batch

import (
	"errors"
	"os"
)

// createOutput makes a named temporary output file in dir.
func createOutput(dir string) (*outFile, error) { return createTempNamed(dir) }

func linkUnnamed(*os.File, string) error {
	return errors.New("batch: unnamed files are not supported here")
}

func openInput(name string) (*os.File, error) { return os.Open(name) }
