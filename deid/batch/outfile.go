package batch

import (
	"fmt"
	"os"
	"path/filepath"
)

// outFile is an output being written. It becomes visible under its final
// name only through publish, so a reader never sees a partial file.
type outFile struct {
	*os.File
	name string // the temporary name, or "" for an unnamed (O_TMPFILE) file
}

// createTempNamed makes a named temporary file in dir: the portable way,
// published by rename.
func createTempNamed(dir string) (*outFile, error) {
	f, err := os.CreateTemp(dir, tmpPrefix+"*")
	if err != nil {
		return nil, err
	}
	return &outFile{File: f, name: f.Name()}, nil
}

// discard closes and removes an output that is not published.
func (o *outFile) discard() {
	o.File.Close()
	if o.name != "" {
		os.Remove(o.name)
	}
}

// publish gives the (synced as the caller wants) output its final name
// dst, replacing any file there, and closes it.
func (o *outFile) publish(dst string) error {
	if o.name == "" {
		if err := linkUnnamed(o.File, dst); err != nil {
			o.File.Close()
			return err
		}
		if err := o.File.Close(); err != nil {
			os.Remove(dst)
			return fmt.Errorf("close output: %w", err)
		}
		return nil
	}
	if err := o.File.Close(); err != nil {
		return fmt.Errorf("close output: %w", err)
	}
	if err := os.Rename(o.name, dst); err != nil {
		return fmt.Errorf("rename output: %w", err)
	}
	o.name = ""
	return nil
}

// replaceVia links an unnamed file under a temporary name next to dst
// and renames it over dst (a rename inside one directory).
func replaceVia(link func(string) error, dst string) error {
	tmp, err := os.CreateTemp(filepath.Dir(dst), tmpPrefix+"*")
	if err != nil {
		return fmt.Errorf("create output: %w", err)
	}
	name := tmp.Name()
	tmp.Close()
	os.Remove(name)
	if err := link(name); err != nil {
		return fmt.Errorf("link output: %w", err)
	}
	if err := os.Rename(name, dst); err != nil {
		os.Remove(name)
		return fmt.Errorf("rename output: %w", err)
	}
	return nil
}
