//go:build !linux

package fileblob

import "os"

// Direct I/O is used on Linux only; elsewhere blobs go through the page
// cache.
const oDirect = 0

func oDirectIf(bool) int { return 0 }

func setDirect(*os.File, bool) error { return nil }

func isInvalid(error) bool { return false }
