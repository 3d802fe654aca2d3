//go:build race

package dicom_test

// raceEnabled: the race detector's sync.Pool drops a share of what is
// put back, so allocation counts do not hold under it.
const raceEnabled = true
