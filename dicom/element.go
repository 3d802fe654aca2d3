package dicom

import (
	"bytes"
	"encoding/binary"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/ethos-imaging/ethos/dicom/tag"
	"github.com/ethos-imaging/ethos/dicom/vr"
)

// UndefinedLength is the length value 0xFFFFFFFF: a sequence, item or
// encapsulated value ended by a delimiter instead of a byte count.
const UndefinedLength uint32 = 0xFFFFFFFF

// Element is one data element.
//
// Exactly one of three forms holds the value:
//   - Value: the raw bytes as encoded (byte order of the transfer syntax the
//     element was read with, padding included, odd lengths kept);
//   - Items: the items of a sequence (VR SQ, or VR UN holding a sequence
//     encoded in implicit VR little endian);
//   - Fragments: encapsulated pixel data (undefined length), Fragments[0]
//     being the Basic Offset Table, possibly empty. Fragments are never
//     decoded.
//
// Bulk is set instead when a reader left a large value in its source (see
// Reader and WithBulkThreshold).
type Element struct {
	Tag    tag.Tag
	VR     vr.VR
	Length uint32 // as read; for SQ, items and encapsulated values UndefinedLength selects the delimited form on write
	Value  []byte
	Items  []*Item
	// Fragments of an encapsulated value; nil unless the value is encapsulated.
	Fragments [][]byte
	Bulk      *Bulk
	Offset    int64 // byte offset of the element's tag in the input, -1 for built elements

	bigEndian bool     // byte order of Value
	charsets  []string // Specific Character Set in force where the element was read
}

// Bulk locates a value that a Reader did not load: Length bytes at Offset
// of the input. For an encapsulated value the bytes are the encoded items
// (Basic Offset Table, fragments) and the sequence delimiter, as read;
// read from an input that cannot seek, their Length is -1 (unknown until
// the delimiter has been read).
type Bulk struct {
	Offset       int64
	Length       int64
	Encapsulated bool
	BigEndian    bool
	skipped      bool // SkipPixelData: never readable
}

// Item is one item of a sequence: a nested data set.
type Item struct {
	Dataset
	Undefined bool  // encoded with undefined length and an item delimiter
	Offset    int64 // byte offset of the item tag, -1 for built items
}

// IsSequence reports whether e holds items (VR SQ, or a UN or unknown
// private element that turned out to hold a sequence).
//
// An element with a non-nil Items slice is a sequence whatever its VR; the
// writer encodes the items of a non-SQ element in implicit VR little
// endian, as PS3.5 6.2.2 asks of UN.
func (e *Element) IsSequence() bool { return e.VR == vr.SQ || e.Items != nil }

// IsEncapsulated reports whether e holds encapsulated fragments.
// An element is encapsulated when Fragments is not nil (it holds at least
// the Basic Offset Table, maybe empty).
func (e *Element) IsEncapsulated() bool {
	return (e.Fragments != nil && !e.IsSequence()) || (e.Bulk != nil && e.Bulk.Encapsulated)
}

// SetBigEndian declares the byte order of Value. Elements built with the
// New functions are little endian; one built in the byte order of a big
// endian file must say so, or the writer swaps it.
func (e *Element) SetBigEndian(big bool) { e.bigEndian = big }

// BigEndian reports whether Value is in big-endian byte order.
func (e *Element) BigEndian() bool { return e.bigEndian }

// CharacterSets returns the Specific Character Set values in force where
// the element was read (or given when it was built).
func (e *Element) CharacterSets() []string { return e.charsets }

func (e *Element) order() binary.ByteOrder {
	if e.bigEndian {
		return binary.BigEndian
	}
	return binary.LittleEndian
}

// Text returns the value of a text element decoded to UTF-8, with the
// padding (trailing spaces and NULs; leading spaces too for string VRs other
// than UT, ST, LT, UR) removed. Values in a character set Ethos does not
// decode come back as their bytes.
func (e *Element) Text() string {
	if e == nil {
		return ""
	}
	b := e.Value
	if e.VR.CharsetAffected() {
		s, _ := DecodeText(e.charsets, b)
		return trimPadding(e.VR, s)
	}
	return trimPadding(e.VR, string(b))
}

// Texts returns the backslash-separated values of a string element, each
// trimmed of padding. ST, LT, UT and UR hold one value.
func (e *Element) Texts() []string {
	if e == nil || len(e.Value) == 0 {
		return nil
	}
	s := e.Text()
	if !e.VR.MultiValued() {
		return []string{s}
	}
	parts := strings.Split(s, `\`)
	for i := range parts {
		parts[i] = trimPadding(e.VR, parts[i])
	}
	return parts
}

func trimPadding(v vr.VR, s string) string {
	s = strings.TrimRight(s, " \x00")
	if v.Kind() == vr.KindString {
		s = strings.TrimLeft(s, " ")
	}
	return s
}

// Uints returns the values of a US, UL, UV, OW, OL, OV or AT element as
// unsigned integers (for AT: group<<16|element).
func (e *Element) Uints() []uint64 {
	if e == nil {
		return nil
	}
	o := e.order()
	b := e.Value
	var out []uint64
	switch e.VR {
	case vr.US, vr.OW, vr.SS:
		for ; len(b) >= 2; b = b[2:] {
			out = append(out, uint64(o.Uint16(b)))
		}
	case vr.UL, vr.OL, vr.SL:
		for ; len(b) >= 4; b = b[4:] {
			out = append(out, uint64(o.Uint32(b)))
		}
	case vr.AT:
		for ; len(b) >= 4; b = b[4:] {
			out = append(out, uint64(o.Uint16(b))<<16|uint64(o.Uint16(b[2:])))
		}
	case vr.UV, vr.OV, vr.SV:
		for ; len(b) >= 8; b = b[8:] {
			out = append(out, o.Uint64(b))
		}
	}
	return out
}

// Ints returns signed values: SS, SL, SV binary values, or IS strings
// (values that do not parse are skipped).
func (e *Element) Ints() []int64 {
	if e == nil {
		return nil
	}
	o := e.order()
	b := e.Value
	var out []int64
	switch e.VR {
	case vr.SS:
		for ; len(b) >= 2; b = b[2:] {
			out = append(out, int64(int16(o.Uint16(b))))
		}
	case vr.SL:
		for ; len(b) >= 4; b = b[4:] {
			out = append(out, int64(int32(o.Uint32(b))))
		}
	case vr.SV:
		for ; len(b) >= 8; b = b[8:] {
			out = append(out, int64(o.Uint64(b)))
		}
	case vr.US, vr.UL, vr.UV:
		for _, u := range e.Uints() {
			out = append(out, int64(u))
		}
	case vr.IS:
		for _, s := range e.Texts() {
			if n, err := strconv.ParseInt(s, 10, 64); err == nil {
				out = append(out, n)
			}
		}
	}
	return out
}

// Floats returns FL, FD, OF, OD binary values or DS strings (values that
// do not parse are skipped).
func (e *Element) Floats() []float64 {
	if e == nil {
		return nil
	}
	o := e.order()
	b := e.Value
	var out []float64
	switch e.VR {
	case vr.FL, vr.OF:
		for ; len(b) >= 4; b = b[4:] {
			out = append(out, float64(math.Float32frombits(o.Uint32(b))))
		}
	case vr.FD, vr.OD:
		for ; len(b) >= 8; b = b[8:] {
			out = append(out, math.Float64frombits(o.Uint64(b)))
		}
	case vr.DS:
		for _, s := range e.Texts() {
			if f, err := strconv.ParseFloat(s, 64); err == nil {
				out = append(out, f)
			}
		}
	}
	return out
}

// NewText builds a text element holding vals joined by backslashes, encoded
// in the character set charsets (nil: default repertoire, or UTF-8 when a
// value needs it is an error; pass []string{"ISO_IR 192"} for UTF-8) and
// padded to even length with the VR's padding byte. A zero v takes the
// dictionary VR.
func NewText(t tag.Tag, v vr.VR, charsets []string, vals ...string) (*Element, error) {
	if v == 0 {
		v = dictVR(t)
	}
	joined := strings.Join(vals, `\`)
	var b []byte
	if v.CharsetAffected() {
		var err error
		b, err = EncodeText(charsets, joined)
		if err != nil {
			return nil, &Error{Tag: t, Offset: -1, Msg: "encode text", Err: err}
		}
	} else {
		for i := 0; i < len(joined); i++ {
			if joined[i] >= 0x80 {
				return nil, &Error{Tag: t, Offset: -1, Msg: "VR " + v.String() + " takes the default repertoire only", Err: ErrBadCharset}
			}
		}
		b = []byte(joined)
	}
	if len(b)%2 == 1 {
		b = append(b, v.Padding())
	}
	return &Element{Tag: t, VR: v, Length: uint32(len(b)), Value: b, Offset: -1, charsets: charsets}, nil
}

// NewBytes builds an element whose value is b as given (little endian for
// binary numbers); the writer pads an odd length only if asked to.
func NewBytes(t tag.Tag, v vr.VR, b []byte) *Element {
	if v == 0 {
		v = dictVR(t)
	}
	return &Element{Tag: t, VR: v, Length: uint32(len(b)), Value: b, Offset: -1}
}

// NewUints builds a US, UL, UV, OW, OL, OV or AT element (little endian).
func NewUints(t tag.Tag, v vr.VR, vals ...uint64) *Element {
	if v == 0 {
		v = dictVR(t)
	}
	w := v.WordSize()
	if v == vr.AT {
		w = 4
	}
	b := make([]byte, 0, len(vals)*w)
	for _, u := range vals {
		switch {
		case v == vr.AT:
			b = binary.LittleEndian.AppendUint16(b, uint16(u>>16))
			b = binary.LittleEndian.AppendUint16(b, uint16(u))
		case w == 2:
			b = binary.LittleEndian.AppendUint16(b, uint16(u))
		case w == 4:
			b = binary.LittleEndian.AppendUint32(b, uint32(u))
		default:
			b = binary.LittleEndian.AppendUint64(b, u)
		}
	}
	return NewBytes(t, v, b)
}

// NewSequence builds a sequence element of undefined length.
func NewSequence(t tag.Tag, items ...*Item) *Element {
	return &Element{Tag: t, VR: vr.SQ, Length: UndefinedLength, Items: append([]*Item{}, items...), Offset: -1}
}

// NewItem builds an item of undefined length holding elems.
func NewItem(elems ...*Element) *Item {
	it := &Item{Undefined: true, Offset: -1}
	for _, e := range elems {
		it.Set(e)
	}
	return it
}

// NewEncapsulated builds encapsulated pixel data from the Basic Offset
// Table (may be empty) and the fragments.
func NewEncapsulated(t tag.Tag, v vr.VR, offsetTable []byte, fragments ...[]byte) *Element {
	fr := append([][]byte{offsetTable}, fragments...)
	return &Element{Tag: t, VR: v, Length: UndefinedLength, Fragments: fr, Offset: -1}
}

func dictVR(t tag.Tag) vr.VR {
	v, _ := tag.DictVR(t)
	return v
}

// Dataset is an ordered list of data elements. Elements keep the order in
// which they were read; Set inserts new elements in tag order.
type Dataset struct {
	Elements []*Element
	charsets []string // inherited Specific Character Set (items)
}

// Get returns the element with tag t, or nil.
func (d *Dataset) Get(t tag.Tag) *Element {
	if d == nil {
		return nil
	}
	for _, e := range d.Elements {
		if e.Tag == t {
			return e
		}
	}
	return nil
}

// Has reports whether d holds an element with tag t.
func (d *Dataset) Has(t tag.Tag) bool { return d.Get(t) != nil }

// Set replaces the element with e's tag, or inserts e before the first
// element with a larger tag.
func (d *Dataset) Set(e *Element) {
	for i, x := range d.Elements {
		if x.Tag == e.Tag {
			d.Elements[i] = e
			return
		}
	}
	i := len(d.Elements)
	for j, x := range d.Elements {
		if x.Tag > e.Tag {
			i = j
			break
		}
	}
	d.Elements = slices.Insert(d.Elements, i, e)
}

// Delete removes the element with tag t and reports whether it was there.
func (d *Dataset) Delete(t tag.Tag) bool {
	for i, x := range d.Elements {
		if x.Tag == t {
			d.Elements = slices.Delete(d.Elements, i, i+1)
			return true
		}
	}
	return false
}

// DeleteFunc removes every element for which del returns true (top level
// only) and returns how many it removed.
func (d *Dataset) DeleteFunc(del func(*Element) bool) int {
	n := len(d.Elements)
	d.Elements = slices.DeleteFunc(d.Elements, del)
	return n - len(d.Elements)
}

// Text returns the decoded text of element t ("" when absent).
func (d *Dataset) Text(t tag.Tag) string { return d.Get(t).Text() }

// Texts returns the decoded values of element t.
func (d *Dataset) Texts(t tag.Tag) []string { return d.Get(t).Texts() }

// CharacterSets returns the Specific Character Set in force in d: its own
// (0008,0005) or, for an item, the one inherited from the enclosing data set.
func (d *Dataset) CharacterSets() []string {
	if e := d.Get(tag.SpecificCharacterSet); e != nil {
		return splitCharsets(e.Value)
	}
	return d.charsets
}

// SetText sets element t to vals encoded in d's character set (see NewText).
func (d *Dataset) SetText(t tag.Tag, v vr.VR, vals ...string) error {
	e, err := NewText(t, v, d.CharacterSets(), vals...)
	if err != nil {
		return err
	}
	d.Set(e)
	return nil
}

// Path is the location of an element inside nested sequences: for each
// level, the sequence tag and the item index.
type Path []PathStep

// PathStep is one level of a Path.
type PathStep struct {
	Tag  tag.Tag
	Item int
}

// String formats the path as "(0040,A730)[0].(0040,A730)[2]".
func (p Path) String() string {
	var sb strings.Builder
	for i, s := range p {
		if i > 0 {
			sb.WriteByte('.')
		}
		sb.WriteString(s.Tag.String())
		sb.WriteByte('[')
		sb.WriteString(strconv.Itoa(s.Item))
		sb.WriteByte(']')
	}
	return sb.String()
}

// Walk calls fn for every element of d in order, depth first: a sequence
// element comes before the elements of its items. The path names the items
// that enclose el. Returning an error stops the walk.
func (d *Dataset) Walk(fn func(path Path, el *Element) error) error {
	return d.walk(nil, fn)
}

func (d *Dataset) walk(path Path, fn func(Path, *Element) error) error {
	for _, e := range d.Elements {
		if err := fn(path, e); err != nil {
			return err
		}
		for i, it := range e.Items {
			if err := it.walk(append(path[:len(path):len(path)], PathStep{e.Tag, i}), fn); err != nil {
				return err
			}
		}
	}
	return nil
}

// Clone returns a deep copy of e: values, items and fragments are copied,
// so changing the copy leaves e as it was. A Bulk reference is shared (it
// only locates bytes in the source).
func (e *Element) Clone() *Element {
	if e == nil {
		return nil
	}
	c := *e
	c.Value = bytes.Clone(e.Value)
	if e.Items != nil {
		c.Items = make([]*Item, len(e.Items))
		for i, it := range e.Items {
			c.Items[i] = it.Clone()
		}
	}
	if e.Fragments != nil {
		c.Fragments = make([][]byte, len(e.Fragments))
		for i, f := range e.Fragments {
			c.Fragments[i] = bytes.Clone(f)
		}
	}
	if e.Bulk != nil {
		b := *e.Bulk
		c.Bulk = &b
	}
	return &c
}

// Clone returns a deep copy of the item.
func (it *Item) Clone() *Item {
	c := &Item{Undefined: it.Undefined, Offset: it.Offset}
	c.Dataset = *it.Dataset.Clone()
	return c
}

// Clone returns a deep copy of d.
func (d *Dataset) Clone() *Dataset {
	c := &Dataset{charsets: d.charsets}
	if d.Elements != nil {
		c.Elements = make([]*Element, len(d.Elements))
		for i, e := range d.Elements {
			c.Elements[i] = e.Clone()
		}
	}
	return c
}

// PrivateCreator returns the creator string (padding trimmed) that
// reserves the block of private element t in d, and false when t is not a
// private data element or its block has no creator in d.
func (d *Dataset) PrivateCreator(t tag.Tag) (string, bool) {
	ct, ok := t.PrivateCreator()
	if !ok {
		return "", false
	}
	e := d.Get(ct)
	if e == nil {
		return "", false
	}
	return strings.TrimRight(string(e.Value), " \x00"), true
}
