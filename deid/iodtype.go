package deid

import "strings"

// typeContext is what the engine knows about where an attribute sits when
// it resolves a compound action.
type typeContext struct {
	sopClass string // SOPClassUID of the instance
	enhanced bool   // the instance has multi-frame functional groups
	nested   bool   // the attribute is inside a sequence item
}

// typeRow gives the type of one attribute that has a compound action in
// Table E.1-1: top is the type at the top level of the common image IODs
// (CT, MR, US, XA, CR, DX, NM, PET, SC), nested the type inside a sequence
// item, and the other fields the cases where a family of IODs differs.
// The values were read from PS3.3 module tables (General Study, General
// Series, General Equipment, Enhanced General Equipment, General Image,
// General Acquisition, SR Document General, RT General Plan, RT Treatment
// Record, Approval, Presentation State Identification, Contrast/Bolus).
// TypeUnknown means the attribute belongs to modules this table does not
// describe; Resolve then keeps the object conformant.
type typeRow struct {
	top, nested AttrType
	sr          AttrType // SR documents (1.2.840.10008.5.1.4.1.1.88.*)
	rt          AttrType // RT objects (1.2.840.10008.5.1.4.1.1.481.*)
	waveform    AttrType // waveforms (1.2.840.10008.5.1.4.1.1.9.*)
	enhanced    AttrType // enhanced multi-frame IODs and Segmentation
}

var compoundTypes = map[uint32]typeRow{
	0x00080012: {top: Type3, nested: Type3},                                              // Instance Creation Date (SOP Common)
	0x00080013: {top: Type3, nested: Type3},                                              // Instance Creation Time (SOP Common)
	0x00080021: {top: Type3, nested: Type3},                                              // Series Date (General Series)
	0x00080022: {top: Type3, nested: Type3},                                              // Acquisition Date (General Acquisition)
	0x00080023: {top: Type2, nested: Type2, sr: Type1, waveform: Type1, enhanced: Type1}, // Content Date (General Image 2C; SR, Waveform Identification and multi-frame 1)
	0x0008002A: {top: Type3, nested: Type3, waveform: Type1, enhanced: Type1},            // Acquisition DateTime (Waveform Identification 1; enhanced image modules 1C)
	0x00080031: {top: Type3, nested: Type3},                                              // Series Time
	0x00080032: {top: Type3, nested: Type3},                                              // Acquisition Time
	0x00080033: {top: Type2, nested: Type2, sr: Type1, waveform: Type1, enhanced: Type1}, // Content Time
	0x00080080: {top: Type3, nested: Type3},                                              // Institution Name (General Equipment)
	0x00080082: {top: Type3, nested: Type3},                                              // Institution Code Sequence
	0x00081010: {top: Type3, nested: Type3},                                              // Station Name
	0x00081070: {top: Type3, nested: Type3, rt: Type2},                                   // Operators' Name (General Series 3; RT Series 2)
	0x00081072: {top: Type3, nested: Type3},                                              // Operator Identification Sequence
	0x00081110: {top: Type3, nested: Type3},                                              // Referenced Study Sequence (General Study)
	0x00081111: {top: Type3, nested: Type3, sr: Type2},                                   // Referenced Performed Procedure Step Sequence (SR Document Series 2)
	0x00081140: {top: Type3, nested: Type1},                                              // Referenced Image Sequence (1 inside referenced-series items)
	0x00082112: {top: Type3, nested: Type1},                                              // Source Image Sequence (1 inside Derivation Image Sequence)
	0x00100020: {top: Type2, nested: Type2},                                              // Patient ID (Patient)
	0x00102203: {top: Type2, nested: Type2},                                              // Patient's Sex Neutered (Patient, 2C)
	0x00180010: {top: Type2, nested: Type2},                                              // Contrast/Bolus Agent (Contrast/Bolus)
	0x00181000: {top: Type3, nested: Type3, enhanced: Type1},                             // Device Serial Number (Enhanced General Equipment 1)
	0x00181030: {top: Type3, nested: Type3},                                              // Protocol Name (General Series)
	0x00181400: {top: Type3, nested: Type3},                                              // Acquisition Device Processing Description (DX Image)
	0x0018700A: {top: Type3, nested: Type3},                                              // Detector ID (DX Detector)
	0x0018700C: {top: Type3, nested: Type3},                                              // Date of Last Detector Calibration
	0x0018700E: {top: Type3, nested: Type3},                                              // Time of Last Detector Calibration
	0x00189516: {top: Type3, nested: Type3},                                              // Start Acquisition DateTime
	0x00189517: {top: Type3, nested: Type3},                                              // End Acquisition DateTime
	0x00321060: {top: Type3, nested: TypeUnknown},                                        // Requested Procedure Description
	0x00400555: {top: Type2, nested: Type2},                                              // Acquisition Context Sequence (Acquisition Context module)
	0x0040A032: {top: Type3, nested: Type3},                                              // Observation DateTime (SR content items)
	0x00700084: {top: Type2, nested: Type2},                                              // Content Creator's Name (Content Identification)
	0x300A0006: {top: Type2, nested: Type2},                                              // RT Plan Date (RT General Plan)
	0x300A0007: {top: Type2, nested: Type2},                                              // RT Plan Time
	0x300A00B2: {top: Type2, nested: Type2},                                              // Treatment Machine Name (RT Beams)
	0x30080054: {top: Type2, nested: Type2},                                              // First Treatment Date (RT Treatment Summary Record)
	0x30080056: {top: Type2, nested: Type2},                                              // Most Recent Treatment Date
	0x30080250: {top: Type2, nested: Type2},                                              // Treatment Date (RT treatment records)
	0x30080251: {top: Type2, nested: Type2},                                              // Treatment Time
	0x300E0008: {top: Type2, nested: Type2},                                              // Reviewer Name (Approval, 2C)
	0x22000002: {top: TypeUnknown, nested: TypeUnknown},                                  // Label Text (media creation)
	0x22000005: {top: TypeUnknown, nested: TypeUnknown},                                  // Barcode Value
	0x00189919: {top: TypeUnknown, nested: TypeUnknown},                                  // Instruction Performed DateTime
	0x3010004C: {top: TypeUnknown, nested: TypeUnknown},                                  // Intended Phase Start Date
	0x3010004D: {top: TypeUnknown, nested: TypeUnknown},                                  // Intended Phase End Date
	0x30100056: {top: TypeUnknown, nested: TypeUnknown},                                  // RT Treatment Approach Label
	0x30100077: {top: TypeUnknown, nested: TypeUnknown},                                  // Treatment Site
	0x30080105: {top: TypeUnknown, nested: TypeUnknown},                                  // Source Serial Number
}

// attrType returns the type of tag in the given context.
func attrType(tag uint32, c typeContext) AttrType {
	row, ok := compoundTypes[tag]
	if !ok {
		return TypeUnknown
	}
	return rowType(&row, c)
}

// rowType returns the type an attribute of compoundTypes row has in
// context c.
func rowType(row *typeRow, c typeContext) AttrType {
	if c.nested {
		return row.nested
	}
	for _, f := range []struct {
		t      AttrType
		prefix string
	}{{row.sr, "1.2.840.10008.5.1.4.1.1.88."}, {row.rt, "1.2.840.10008.5.1.4.1.1.481."}, {row.waveform, "1.2.840.10008.5.1.4.1.1.9."}} {
		if f.t != TypeUnknown && strings.HasPrefix(c.sopClass, f.prefix) {
			return f.t
		}
	}
	if row.enhanced != TypeUnknown && (c.enhanced || c.sopClass == "1.2.840.10008.5.1.4.1.1.66.4") {
		return row.enhanced
	}
	return row.top
}
