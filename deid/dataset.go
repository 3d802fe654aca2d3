package deid

import (
	"slices"
	"strings"
)

// Element is the engine's view of one data element. Text values hold the
// bytes as stored (in the dataset's character set, possibly padded); the
// codec adapter converts to and from the codec's elements.
type Element struct {
	Tag   uint32
	VR    string
	Value []byte
	Items []*Dataset // for SQ (and UN holding a sequence, decoded by the codec)
	// Src is the codec element this one was read from; Dirty says the
	// engine changed the value or the items, so Src no longer matches.
	Src   any
	Dirty bool
}

// Dataset is an ordered list of elements (the top level or a sequence
// item).
type Dataset struct {
	Elements []*Element
	Src      any
	// ordered says Elements were checked to be in tag order (the codec
	// adapter checks what it reads; Set and Delete keep the order): a tag
	// the binary search misses is then absent, with no scan to confirm.
	ordered bool
}

// Find returns the element with tag t at this level.
func (d *Dataset) Find(t uint32) *Element {
	lo, hi := 0, len(d.Elements)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		switch et := d.Elements[m].Tag; {
		case et < t:
			lo = m + 1
		case et > t:
			hi = m
		default:
			return d.Elements[m]
		}
	}
	if d.ordered {
		return nil
	}
	// Elements may be out of order (malformed input): fall back to a scan.
	for _, e := range d.Elements {
		if e.Tag == t {
			return e
		}
	}
	return nil
}

// String returns the value of t as text with padding removed, or "".
func (d *Dataset) String(t uint32) string {
	e := d.Find(t)
	if e == nil {
		return ""
	}
	return trimValue(e.Value)
}

// uint16 returns a US value (little endian; the file layer converts big
// endian datasets), or 0.
func (d *Dataset) uint16(t uint32) int {
	e := d.Find(t)
	if e == nil || len(e.Value) < 2 {
		return 0
	}
	return int(e.Value[0]) | int(e.Value[1])<<8
}

// Strings returns the backslash-separated values of t.
func (d *Dataset) Strings(t uint32) []string {
	s := d.String(t)
	if s == "" {
		return nil
	}
	return strings.Split(s, `\`)
}

// Set inserts or replaces an element, keeping tag order.
func (d *Dataset) Set(e *Element) {
	e.Dirty = true
	i, ok := slices.BinarySearchFunc(d.Elements, e.Tag, func(x *Element, t uint32) int {
		switch {
		case x.Tag < t:
			return -1
		case x.Tag > t:
			return 1
		}
		return 0
	})
	if ok {
		d.Elements[i] = e
		return
	}
	d.Elements = slices.Insert(d.Elements, i, e)
}

// inOrder reports whether the elements' tags ascend.
func inOrder(els []*Element) bool {
	for i := 1; i < len(els); i++ {
		if els[i].Tag <= els[i-1].Tag {
			return false
		}
	}
	return true
}

// Delete removes the element with tag t at this level.
func (d *Dataset) Delete(t uint32) {
	d.Elements = slices.DeleteFunc(d.Elements, func(e *Element) bool { return e.Tag == t })
}

func trimValue(b []byte) string {
	return string(trimBytes(b))
}

// trimBytes is trimValue without making a string: leading spaces and
// trailing spaces and NULs removed, in b's own memory. Written as loops
// so that it inlines where the engine calls it per element.
func trimBytes(b []byte) []byte {
	for len(b) > 0 && b[0] == ' ' {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == 0) {
		b = b[:len(b)-1]
	}
	return b
}

// textVR reports VRs whose value is character data.
func textVR(vr string) bool {
	switch vr {
	case "AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UI", "UR", "UT":
		return true
	}
	return false
}

// freeTextVR reports VRs that hold free text a person typed (where
// identifiers hide).
func freeTextVR(vr string) bool {
	switch vr {
	case "LO", "LT", "PN", "SH", "ST", "UC", "UT":
		return true
	}
	return false
}

// charset decodes and encodes text values of one Specific Character Set.
type charset struct {
	latin1 bool // ISO_IR 100
	utf8   bool // ISO_IR 192 or the default repertoire
	other  bool // ISO 2022 or other multi-byte sets: bytes kept as read
}

func newCharset(scs string) charset {
	switch v := strings.ToUpper(strings.TrimSpace(strings.Split(scs, `\`)[0])); v {
	case "", "ISO_IR 6", "ISO 2022 IR 6", "ISO_IR 192":
		if strings.Contains(scs, `\`) {
			return charset{other: true}
		}
		return charset{utf8: true}
	case "ISO_IR 100", "ISO 2022 IR 100":
		if strings.Contains(scs, `\`) {
			return charset{other: true}
		}
		return charset{latin1: true}
	}
	return charset{other: true}
}

// decode returns the value as UTF-8 text (other sets: bytes as they are,
// which matches their ASCII parts).
func (c charset) decode(b []byte) string {
	if c.latin1 {
		var sb strings.Builder
		for _, x := range b {
			sb.WriteRune(rune(x))
		}
		return sb.String()
	}
	return string(b)
}

// encode converts text back; ok is false when the set cannot represent it
// (the caller then empties the value rather than write wrong bytes).
func (c charset) encode(s string) ([]byte, bool) {
	switch {
	case c.latin1:
		out := make([]byte, 0, len(s))
		for _, r := range s {
			if r > 0xFF {
				return nil, false
			}
			out = append(out, byte(r))
		}
		return out, true
	case c.utf8:
		return []byte(s), true
	}
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 || s[i] == 0x1B {
			return nil, false
		}
	}
	return []byte(s), true
}
