//go:build !(linux && (amd64 || arm64))

package fileblob

// syncFS syncs each of paths (files, then their directories) where there
// is no syncfs(2).
func syncFS(_ string, paths []string) error {
	for _, p := range paths {
		if err := syncDir(p); err != nil {
			return err
		}
	}
	return nil
}
