package deid

// SetMaxMap changes the largest mapped file size for a test and returns
// a function that restores it.
func SetMaxMap(n int64) func() {
	old := maxMap
	maxMap = n
	return func() { maxMap = old }
}

// RLE coding, for the codec tests.
var (
	RLEEncodeRow     = rleEncodeRow
	RLEDecodeSegment = rleDecodeSegment
)
