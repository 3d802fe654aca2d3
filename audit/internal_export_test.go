package audit

// SetSplitAt makes Verify split logs from n events on, for tests of the
// two-range path on small logs; the returned func restores the default.
func SetSplitAt(n int64) (restore func()) {
	old := splitAt
	splitAt = n
	return func() { splitAt = old }
}
