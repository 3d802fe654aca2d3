// Package uid knows the DICOM transfer syntaxes (how a data set is encoded:
// VR explicit or implicit, byte order, deflate, encapsulated pixel data) and
// the storage SOP classes Ethos reasons about, plus UID validation and
// generation of 2.25 UIDs (PS3.5 section B.2).
package uid

import (
	"crypto/rand"
	"math/big"
	"strings"
)

// Transfer syntax UIDs (PS3.5 section 10 and Annex A).
const (
	ImplicitVRLittleEndian         = "1.2.840.10008.1.2"
	ExplicitVRLittleEndian         = "1.2.840.10008.1.2.1"
	EncapsulatedUncompressedLE     = "1.2.840.10008.1.2.1.98"
	DeflatedExplicitVRLittleEndian = "1.2.840.10008.1.2.1.99"
	ExplicitVRBigEndian            = "1.2.840.10008.1.2.2"
	JPEGBaseline8Bit               = "1.2.840.10008.1.2.4.50"
	JPEGExtended12Bit              = "1.2.840.10008.1.2.4.51"
	JPEGLossless                   = "1.2.840.10008.1.2.4.57"
	JPEGLosslessSV1                = "1.2.840.10008.1.2.4.70"
	JPEGLSLossless                 = "1.2.840.10008.1.2.4.80"
	JPEGLSNearLossless             = "1.2.840.10008.1.2.4.81"
	JPEG2000Lossless               = "1.2.840.10008.1.2.4.90"
	JPEG2000                       = "1.2.840.10008.1.2.4.91"
	JPEG2000MCLossless             = "1.2.840.10008.1.2.4.92"
	JPEG2000MC                     = "1.2.840.10008.1.2.4.93"
	MPEG2MPML                      = "1.2.840.10008.1.2.4.100"
	MPEG4HP41                      = "1.2.840.10008.1.2.4.102"
	HEVCMP51                       = "1.2.840.10008.1.2.4.107"
	HTJ2KLossless                  = "1.2.840.10008.1.2.4.201"
	HTJ2KLosslessRPCL              = "1.2.840.10008.1.2.4.202"
	HTJ2K                          = "1.2.840.10008.1.2.4.203"
	JPIPReferenced                 = "1.2.840.10008.1.2.4.94"
	RLELossless                    = "1.2.840.10008.1.2.5"
)

// Syntax describes how a transfer syntax encodes a data set.
type Syntax struct {
	UID          string
	Name         string
	Implicit     bool // VR not written (implicit VR little endian)
	BigEndian    bool
	Deflated     bool // everything after the meta group is raw deflate (RFC 1951)
	Encapsulated bool // pixel data in fragments, compressed or not
	Retired      bool
}

var syntaxes = []Syntax{
	{UID: ImplicitVRLittleEndian, Name: "Implicit VR Little Endian", Implicit: true},
	{UID: ExplicitVRLittleEndian, Name: "Explicit VR Little Endian"},
	{UID: EncapsulatedUncompressedLE, Name: "Encapsulated Uncompressed Explicit VR Little Endian", Encapsulated: true},
	{UID: DeflatedExplicitVRLittleEndian, Name: "Deflated Explicit VR Little Endian", Deflated: true},
	{UID: ExplicitVRBigEndian, Name: "Explicit VR Big Endian", BigEndian: true, Retired: true},
	{UID: JPEGBaseline8Bit, Name: "JPEG Baseline (Process 1)", Encapsulated: true},
	{UID: JPEGExtended12Bit, Name: "JPEG Extended (Process 2 & 4)", Encapsulated: true},
	{UID: JPEGLossless, Name: "JPEG Lossless, Non-Hierarchical (Process 14)", Encapsulated: true},
	{UID: JPEGLosslessSV1, Name: "JPEG Lossless, First-Order Prediction (Process 14 SV1)", Encapsulated: true},
	{UID: JPEGLSLossless, Name: "JPEG-LS Lossless", Encapsulated: true},
	{UID: JPEGLSNearLossless, Name: "JPEG-LS Lossy (Near-Lossless)", Encapsulated: true},
	{UID: JPEG2000Lossless, Name: "JPEG 2000 Lossless Only", Encapsulated: true},
	{UID: JPEG2000, Name: "JPEG 2000", Encapsulated: true},
	{UID: JPEG2000MCLossless, Name: "JPEG 2000 Part 2 Multi-component Lossless Only", Encapsulated: true},
	{UID: JPEG2000MC, Name: "JPEG 2000 Part 2 Multi-component", Encapsulated: true},
	{UID: JPIPReferenced, Name: "JPIP Referenced"},
	{UID: MPEG2MPML, Name: "MPEG2 Main Profile / Main Level", Encapsulated: true},
	{UID: MPEG4HP41, Name: "MPEG-4 AVC/H.264 High Profile / Level 4.1", Encapsulated: true},
	{UID: HEVCMP51, Name: "HEVC/H.265 Main Profile / Level 5.1", Encapsulated: true},
	{UID: HTJ2KLossless, Name: "High-Throughput JPEG 2000 Lossless Only", Encapsulated: true},
	{UID: HTJ2KLosslessRPCL, Name: "High-Throughput JPEG 2000 with RPCL Options Lossless Only", Encapsulated: true},
	{UID: HTJ2K, Name: "High-Throughput JPEG 2000", Encapsulated: true},
	{UID: RLELossless, Name: "RLE Lossless", Encapsulated: true},
}

// LookupSyntax returns the transfer syntax with the given UID (trailing NUL
// or space padding ignored). An unknown UID yields explicit VR little endian
// with encapsulated pixel data, the encoding every compressed syntax the
// standard has defined since 1993 uses, and ok false.
func LookupSyntax(u string) (s Syntax, ok bool) {
	u = Trim(u)
	for _, s := range syntaxes {
		if s.UID == u {
			return s, true
		}
	}
	return Syntax{UID: u, Name: "unknown transfer syntax", Encapsulated: true}, false
}

// Syntaxes returns every transfer syntax this package knows.
func Syntaxes() []Syntax { return append([]Syntax(nil), syntaxes...) }

// Storage SOP classes used by Ethos rules (modality-specific checks,
// burned-in text screening, structured reports).
const (
	CTImageStorage                   = "1.2.840.10008.5.1.4.1.1.2"
	EnhancedCTImageStorage           = "1.2.840.10008.5.1.4.1.1.2.1"
	MRImageStorage                   = "1.2.840.10008.5.1.4.1.1.4"
	EnhancedMRImageStorage           = "1.2.840.10008.5.1.4.1.1.4.1"
	CRImageStorage                   = "1.2.840.10008.5.1.4.1.1.1"
	DXImageStorageForPresentation    = "1.2.840.10008.5.1.4.1.1.1.1"
	MammographyForPresentation       = "1.2.840.10008.5.1.4.1.1.1.2"
	UltrasoundImageStorage           = "1.2.840.10008.5.1.4.1.1.6.1"
	UltrasoundMultiFrameImageStorage = "1.2.840.10008.5.1.4.1.1.3.1"
	SecondaryCaptureImageStorage     = "1.2.840.10008.5.1.4.1.1.7"
	MultiFrameTrueColorSCStorage     = "1.2.840.10008.5.1.4.1.1.7.4"
	XRayAngiographicImageStorage     = "1.2.840.10008.5.1.4.1.1.12.1"
	NuclearMedicineImageStorage      = "1.2.840.10008.5.1.4.1.1.20"
	PETImageStorage                  = "1.2.840.10008.5.1.4.1.1.128"
	SegmentationStorage              = "1.2.840.10008.5.1.4.1.1.66.4"
	RTImageStorage                   = "1.2.840.10008.5.1.4.1.1.481.1"
	RTDoseStorage                    = "1.2.840.10008.5.1.4.1.1.481.2"
	RTStructureSetStorage            = "1.2.840.10008.5.1.4.1.1.481.3"
	RTPlanStorage                    = "1.2.840.10008.5.1.4.1.1.481.5"
	RTIonPlanStorage                 = "1.2.840.10008.5.1.4.1.1.481.8"
	BasicTextSRStorage               = "1.2.840.10008.5.1.4.1.1.88.11"
	EnhancedSRStorage                = "1.2.840.10008.5.1.4.1.1.88.22"
	ComprehensiveSRStorage           = "1.2.840.10008.5.1.4.1.1.88.33"
	TwelveLeadECGWaveformStorage     = "1.2.840.10008.5.1.4.1.1.9.1.1"
	EncapsulatedPDFStorage           = "1.2.840.10008.5.1.4.1.1.104.1"
)

// Trim removes the NUL or space padding that makes a UI value even.
func Trim(u string) string { return strings.TrimRight(u, "\x00 ") }

// Valid reports whether u is a syntactically valid UID: at most 64
// characters, dot-separated numeric components, no leading zero in a
// multi-digit component (PS3.5 section 9.1).
func Valid(u string) bool {
	if u == "" || len(u) > 64 {
		return false
	}
	for _, c := range strings.Split(u, ".") {
		if c == "" || (len(c) > 1 && c[0] == '0') {
			return false
		}
		for i := 0; i < len(c); i++ {
			if c[i] < '0' || c[i] > '9' {
				return false
			}
		}
	}
	return true
}

// FromInt returns the 2.25 UID of n (the decimal form of a 128-bit UUID
// value, PS3.5 section B.2).
func FromInt(n *big.Int) string { return "2.25." + n.String() }

// New returns a fresh random 2.25 UID (a version 4 UUID as an integer).
func New() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0F | 0x40
	b[8] = b[8]&0x3F | 0x80
	return FromInt(new(big.Int).SetBytes(b[:]))
}
