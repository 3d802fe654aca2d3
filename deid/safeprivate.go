package deid

import "strings"

// SafePrivate names one private attribute that is kept under the Retain
// Safe Private option: its group, its private creator and the low byte of
// its element (the xx of (gggg,xxee) is the block the creator reserved).
type SafePrivate struct {
	Group   uint16 `json:"group"`
	Creator string `json:"creator"`
	Element uint8  `json:"element"`
	VR      string `json:"vr,omitempty"`
	Name    string `json:"name,omitempty"`
}

type safeKey struct {
	group   uint16
	creator string
	element uint8
}

func (s SafePrivate) key() safeKey { return safeKey{s.Group, normCreator(s.Creator), s.Element} }

func normCreator(c string) string { return strings.ToUpper(strings.TrimRight(c, " \x00")) }

// builtinSafePrivate is the built-in list, after PS3.15 Table E.3.10-1: the
// acquisition-technique and quantitation attributes that vendors have
// documented as free of identity (CT table speed, pitch and rotation,
// diffusion b-values and directions, PET SUV factors, MR scale factors).
// Entries that hold UIDs, opaque binary blobs or free text were left out:
// a UID would need remapping and a blob cannot be checked.
var builtinSafePrivate = []SafePrivate{
	// GE CT acquisition (GEMS_ACQU_01, GEMS_PARM_01, GEMS_HELIOS_01, GEMS_SERS_01).
	{0x0019, "GEMS_ACQU_01", 0x23, "DS", "table speed"},
	{0x0019, "GEMS_ACQU_01", 0x24, "DS", "mid scan time"},
	{0x0019, "GEMS_ACQU_01", 0x27, "DS", "gantry rotation speed"},
	{0x0019, "GEMS_ACQU_01", 0x9E, "LO", "internal pulse sequence name"},
	{0x0043, "GEMS_PARM_01", 0x27, "SH", "helical scan pitch"},
	{0x0043, "GEMS_PARM_01", 0x39, "IS", "slop integers (diffusion b-value)"},
	{0x0043, "GEMS_PARM_01", 0x6F, "DS", "scanner table entry and gradient coil"},
	{0x0045, "GEMS_HELIOS_01", 0x01, "SS", "number of detector macro rows"},
	{0x0045, "GEMS_HELIOS_01", 0x02, "FL", "detector macro width at isocentre"},
	{0x0025, "GEMS_SERS_01", 0x07, "SL", "number of images in series"},
	// GE PACS flags.
	{0x0903, "GEIIS PACS", 0x10, "US", "image rejected flag"},
	{0x0903, "GEIIS PACS", 0x11, "US", "significant flag"},
	{0x0903, "GEIIS PACS", 0x12, "US", "confidential flag"},
	// Elscint / Philips CT.
	{0x00E1, "ELSCINT1", 0x21, "DS", "dose length product"},
	{0x00E1, "ELSCINT1", 0x50, "DS", "acquisition duration"},
	{0x01E1, "ELSCINT1", 0x26, "CS", "CTDI phantom type"},
	{0x01F1, "ELSCINT1", 0x01, "CS", "acquisition type"},
	{0x01F1, "ELSCINT1", 0x07, "DS", "table velocity"},
	{0x01F1, "ELSCINT1", 0x26, "DS", "pitch"},
	{0x01F1, "ELSCINT1", 0x27, "DS", "rotation time"},
	// Philips MR and PET.
	{0x2001, "Philips Imaging DD 001", 0x03, "FL", "diffusion b-factor"},
	{0x2001, "Philips Imaging DD 001", 0x04, "CS", "diffusion direction"},
	{0x2005, "Philips MR Imaging DD 001", 0x0D, "FL", "scale intercept"},
	{0x2005, "Philips MR Imaging DD 001", 0x0E, "FL", "scale slope"},
	{0x7053, "Philips PET Private Group", 0x00, "DS", "SUV factor"},
	{0x7053, "Philips PET Private Group", 0x09, "DS", "activity concentration factor"},
	// Siemens MR diffusion.
	{0x0019, "SIEMENS MR HEADER", 0x0C, "IS", "diffusion b-value"},
	{0x0019, "SIEMENS MR HEADER", 0x0D, "CS", "diffusion directionality"},
	{0x0019, "SIEMENS MR HEADER", 0x0E, "FD", "diffusion gradient direction"},
	{0x0019, "SIEMENS MR HEADER", 0x27, "FD", "B matrix"},
}

// safeSet is a lookup of safe private attributes.
type safeSet map[safeKey]SafePrivate

func newSafeSet(lists ...[]SafePrivate) safeSet {
	s := safeSet{}
	for _, l := range lists {
		for _, e := range l {
			s[e.key()] = e
		}
	}
	return s
}

// has reports whether element el (its low byte) of group g in the block
// reserved by creator is safe.
func (s safeSet) has(g uint16, creator string, el uint8) bool {
	_, ok := s[safeKey{g, normCreator(creator), el}]
	return ok
}
