package deid

// SetMaxMap changes the largest mapped file size for a test and returns
// a function that restores it.
func SetMaxMap(n int64) func() {
	old := maxMap
	maxMap = n
	return func() { maxMap = old }
}
