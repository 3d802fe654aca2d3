//go:build !(linux && (amd64 || arm64))

package fileblob

import (
	"errors"
	"io/fs"
)

// syncFS syncs each of paths (files, then their directories) where there
// is no syncfs(2). A path removed since it became pending (a blob deleted
// or shredded before the Flush, or removed by a put that found its subject
// shredded) has nothing left to make durable and is skipped: failing on it
// would keep it pending and fail every later Flush.
func syncFS(_ string, paths []string) error {
	for _, p := range paths {
		if err := syncDir(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}
