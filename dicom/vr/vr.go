// Package vr describes the DICOM value representations of PS3.5 section 6.2:
// how each VR is encoded (the length field of explicit VR, the padding byte,
// the unit in which bytes swap between little and big endian) and what it
// holds (text, numbers, bytes, a sequence).
//
// A VR is its two-letter code packed into a uint16, first letter in the high
// byte, so that it can be read from or written to a stream without lookup.
// The zero VR means "no VR": items, delimiters, or a tag not in the
// dictionary before its VR is known.
package vr

// VR is a value representation: the two ASCII letters of its code.
type VR uint16

func code(s string) VR { return VR(s[0])<<8 | VR(s[1]) }

// The value representations of PS3.5 Table 6.2-1.
var (
	AE = code("AE") // application entity
	AS = code("AS") // age string
	AT = code("AT") // attribute tag
	CS = code("CS") // code string
	DA = code("DA") // date
	DS = code("DS") // decimal string
	DT = code("DT") // date time
	FD = code("FD") // floating point double
	FL = code("FL") // floating point single
	IS = code("IS") // integer string
	LO = code("LO") // long string
	LT = code("LT") // long text
	OB = code("OB") // other byte
	OD = code("OD") // other double
	OF = code("OF") // other float
	OL = code("OL") // other long
	OV = code("OV") // other 64-bit very long
	OW = code("OW") // other word
	PN = code("PN") // person name
	SH = code("SH") // short string
	SL = code("SL") // signed long
	SQ = code("SQ") // sequence of items
	SS = code("SS") // signed short
	ST = code("ST") // short text
	SV = code("SV") // signed 64-bit very long
	TM = code("TM") // time
	UC = code("UC") // unlimited characters
	UI = code("UI") // unique identifier
	UL = code("UL") // unsigned long
	UN = code("UN") // unknown
	UR = code("UR") // universal resource identifier
	US = code("US") // unsigned short
	UT = code("UT") // unlimited text
	UV = code("UV") // unsigned 64-bit very long
)

// Kind groups value representations by what their value holds.
type Kind uint8

// Kinds of value.
const (
	KindNone     Kind = iota // no VR, or not a standard one
	KindString               // character strings, backslash-separated values
	KindText                 // ST, LT, UT: one value, backslash is text
	KindNumber               // binary numbers (US, SS, UL, SL, FL, FD, SV, UV, AT)
	KindBytes                // OB, OW, OF, OD, OL, OV, UN: a byte or word stream
	KindSequence             // SQ
)

type props struct {
	kind    Kind
	long    bool   // explicit VR: 2 reserved bytes and a 32-bit length
	pad     byte   // padding byte to even length
	word    uint8  // byte-swap unit (1: none)
	maxLen  int    // maximum bytes per value, 0 when unbounded (or up to 2^32-2)
	charset bool   // affected by Specific Character Set
	code    string // the two letters (set when the dense table is built)
}

// standard lists the properties of every standard VR; lookups go through
// the dense table built from it (a map lookup per element was a visible
// part of parsing a header).
var standard = map[VR]props{
	AE: {kind: KindString, pad: ' ', word: 1, maxLen: 16},
	AS: {kind: KindString, pad: ' ', word: 1, maxLen: 4},
	AT: {kind: KindNumber, pad: 0, word: 2, maxLen: 4},
	CS: {kind: KindString, pad: ' ', word: 1, maxLen: 16},
	DA: {kind: KindString, pad: ' ', word: 1, maxLen: 8},
	DS: {kind: KindString, pad: ' ', word: 1, maxLen: 16},
	DT: {kind: KindString, pad: ' ', word: 1, maxLen: 26},
	FD: {kind: KindNumber, pad: 0, word: 8, maxLen: 8},
	FL: {kind: KindNumber, pad: 0, word: 4, maxLen: 4},
	IS: {kind: KindString, pad: ' ', word: 1, maxLen: 12},
	LO: {kind: KindString, pad: ' ', word: 1, maxLen: 64, charset: true},
	LT: {kind: KindText, pad: ' ', word: 1, maxLen: 10240, charset: true},
	OB: {kind: KindBytes, long: true, pad: 0, word: 1},
	OD: {kind: KindBytes, long: true, pad: 0, word: 8},
	OF: {kind: KindBytes, long: true, pad: 0, word: 4},
	OL: {kind: KindBytes, long: true, pad: 0, word: 4},
	OV: {kind: KindBytes, long: true, pad: 0, word: 8},
	OW: {kind: KindBytes, long: true, pad: 0, word: 2},
	PN: {kind: KindString, pad: ' ', word: 1, maxLen: 64 * 3, charset: true},
	SH: {kind: KindString, pad: ' ', word: 1, maxLen: 16, charset: true},
	SL: {kind: KindNumber, pad: 0, word: 4, maxLen: 4},
	SQ: {kind: KindSequence, long: true, pad: 0, word: 1},
	SS: {kind: KindNumber, pad: 0, word: 2, maxLen: 2},
	ST: {kind: KindText, pad: ' ', word: 1, maxLen: 1024, charset: true},
	SV: {kind: KindNumber, long: true, pad: 0, word: 8, maxLen: 8},
	TM: {kind: KindString, pad: ' ', word: 1, maxLen: 14},
	UC: {kind: KindString, long: true, pad: ' ', word: 1, charset: true},
	UI: {kind: KindString, pad: 0, word: 1, maxLen: 64},
	UL: {kind: KindNumber, pad: 0, word: 4, maxLen: 4},
	UN: {kind: KindBytes, long: true, pad: 0, word: 1},
	UR: {kind: KindText, long: true, pad: ' ', word: 1},
	US: {kind: KindNumber, pad: 0, word: 2, maxLen: 2},
	UT: {kind: KindText, long: true, pad: ' ', word: 1, charset: true},
	UV: {kind: KindNumber, long: true, pad: 0, word: 8, maxLen: 8},
}

// dense holds the properties of each two-capital-letter code at
// (first-'A')*26 + (second-'A'); codes that are not standard VRs have the
// zero props (KindNone).
var dense = func() (t [26 * 26]props) {
	for v, p := range standard {
		p.code = string([]byte{byte(v >> 8), byte(v)})
		t[int(v>>8-'A')*26+int(v&0xff-'A')] = p
	}
	return t
}()

// lookup returns the properties of v and whether it is a standard VR.
func lookup(v VR) (props, bool) {
	a, b := byte(v>>8)-'A', byte(v)-'A'
	if a >= 26 || b >= 26 {
		return props{}, false
	}
	p := dense[int(a)*26+int(b)]
	return p, p.kind != KindNone
}

// Parse returns the VR whose code is the two bytes a and b, and whether it
// is a standard VR.
func Parse(a, b byte) (VR, bool) {
	v := VR(a)<<8 | VR(b)
	_, ok := lookup(v)
	return v, ok
}

// FromString returns the VR with code s ("PN"), and whether it is standard.
func FromString(s string) (VR, bool) {
	if len(s) != 2 {
		return 0, false
	}
	return Parse(s[0], s[1])
}

// Bytes returns the two letters of the code.
func (v VR) Bytes() [2]byte { return [2]byte{byte(v >> 8), byte(v)} }

// String returns the two-letter code, "--" for the zero VR and a quoted hex
// form for bytes that are not printable.
func (v VR) String() string {
	if s, ok := v.Code(); ok {
		return s
	}
	if v == 0 {
		return "--"
	}
	a, b := byte(v>>8), byte(v)
	if a < 0x20 || a > 0x7e || b < 0x20 || b > 0x7e {
		const hex = "0123456789abcdef"
		return string([]byte{'0', 'x', hex[a>>4], hex[a&15], hex[b>>4], hex[b&15]})
	}
	return string([]byte{a, b})
}

// Code returns the two-letter code of a standard VR, and false for any
// other value. It is small enough to be inlined where a String call per
// element would show.
func (v VR) Code() (string, bool) {
	if a, b := uint(byte(v>>8)-'A'), uint(byte(v)-'A'); a < 26 && b < 26 {
		s := codes[a*26+b]
		return s, s != ""
	}
	return "", false
}

// codes holds the code of each standard VR at its place in dense, ""
// elsewhere.
var codes = func() (c [26 * 26]string) {
	for i, p := range dense {
		if p.kind != KindNone {
			c[i] = p.code
		}
	}
	return c
}()

// get returns the properties of v (the zero props for a VR that is not
// standard).
func get(v VR) props { p, _ := lookup(v); return p }

// Known reports whether v is one of the standard value representations.
func (v VR) Known() bool { _, ok := lookup(v); return ok }

// Kind returns what the value of v holds.
func (v VR) Kind() Kind { return get(v).kind }

// LongLength reports whether explicit VR encodes v with two reserved bytes
// and a 32-bit length (OB, OD, OF, OL, OV, OW, SQ, SV, UC, UN, UR, UT, UV)
// rather than a 16-bit length. Unknown VRs are treated as long, as PS3.5
// section 7.1.2 asks of VRs a reader does not recognise.
func (v VR) LongLength() bool {
	p, ok := lookup(v)
	return !ok || p.long
}

// Padding returns the byte that pads a value of v to even length: NUL for
// UI and binary VRs, space for character strings.
func (v VR) Padding() byte { return get(v).pad }

// WordSize returns the unit in which the bytes of a value of v swap between
// little and big endian: 1 for strings, OB and UN; 2 for US, SS, OW and the
// two halves of AT; 4 for UL, SL, FL, OF, OL; 8 for FD, OD, SV, UV, OV.
func (v VR) WordSize() int {
	p, ok := lookup(v)
	if !ok {
		return 1
	}
	return int(p.word)
}

// MaxLength returns the largest number of bytes one value of v may hold, or
// 0 when the standard sets no bound below the 32-bit length limit. For PN
// it is the bound of the three component groups together.
func (v VR) MaxLength() int { return get(v).maxLen }

// IsText reports whether v holds characters (KindString or KindText).
func (v VR) IsText() bool { k := get(v).kind; return k == KindString || k == KindText }

// CharsetAffected reports whether the Specific Character Set applies to
// values of v (SH, LO, UC, ST, LT, UT, PN); other text VRs use the default
// repertoire.
func (v VR) CharsetAffected() bool { return get(v).charset }

// MultiValued reports whether values of v are separated by backslashes
// (string VRs) or by their fixed size (numbers), as opposed to ST, LT, UT,
// UR, SQ and the byte streams, which hold one value.
func (v VR) MultiValued() bool {
	k := get(v).kind
	return (k == KindString && v != UR) || k == KindNumber
}

// All returns every standard VR in alphabetical order.
func All() []VR {
	return []VR{AE, AS, AT, CS, DA, DS, DT, FD, FL, IS, LO, LT, OB, OD, OF, OL, OV, OW,
		PN, SH, SL, SQ, SS, ST, SV, TM, UC, UI, UL, UN, UR, US, UT, UV}
}
