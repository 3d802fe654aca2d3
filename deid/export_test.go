package deid

import "github.com/ethos-imaging/ethos/dicom/uid"

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

// EncapsulatedReason gives the quarantine reason for a syntax UID.
func EncapsulatedReason(u string) string {
	syn, _ := uid.LookupSyntax(u)
	return encapsulatedReason(syn)
}

// Decimal128 formats a 128-bit big-endian value in decimal.
var Decimal128 = bigDecimal
