//go:build !race

package dicom_test

const raceEnabled = false
