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

// PlanAction is the action the engine's plan gives an element of tag t
// (ok false when Table E.1-1 does not list it).
func PlanAction(c *Config, t uint32, sopClass string, enhanced, nested bool) (Action, bool) {
	p := c.plans.find(t)
	if p == nil {
		return 0, false
	}
	return p.action(t, typeContext{sopClass: sopClass, enhanced: enhanced, nested: nested}), true
}

// AttrTypeOf is the type of tag t in the given context.
func AttrTypeOf(t uint32, sopClass string, enhanced, nested bool) AttrType {
	return attrType(t, typeContext{sopClass: sopClass, enhanced: enhanced, nested: nested})
}

// Prepare readies is for ids as the engine does with its reused scanners.
func (is *InstanceScanner) Prepare(s *Scanner, ids Identifiers) { is.prepare(s, ids) }

// DateForms and DateLayouts are the forms of a birth date the scanner
// looks for, and their time package layouts.
var DateLayouts = dateLayouts[:]

// DateForms is the list of those forms for one DA value.
func DateForms(da string) []string { return appendDateForms(nil, da) }

// TrimBytes is the engine's value trim.
var TrimBytes = trimBytes

// SafeName is the output path part made of a UID.
var SafeName = safeName
