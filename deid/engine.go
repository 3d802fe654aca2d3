package deid

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Tags the engine reads or writes by name.
const (
	tagSpecificCharacterSet = 0x00080005
	tagSOPClassUID          = 0x00080016
	tagSOPInstanceUID       = 0x00080018
	tagModality             = 0x00080060
	tagManufacturer         = 0x00080070
	tagModelName            = 0x00081090
	tagAccessionNumber      = 0x00080050
	tagPatientName          = 0x00100010
	tagPatientID            = 0x00100020
	tagIssuerOfPatientID    = 0x00100021
	tagPatientBirthDate     = 0x00100030
	tagPatientSex           = 0x00100040
	tagOtherPatientIDs      = 0x00101000
	tagOtherPatientNames    = 0x00101001
	tagOtherPatientIDsSeq   = 0x00101002
	tagPatientBirthName     = 0x00101005
	tagPatientAge           = 0x00101010
	tagPatientMotherName    = 0x00101060
	tagMedicalRecordLocator = 0x00101090
	tagStudyInstanceUID     = 0x0020000D
	tagSeriesInstanceUID    = 0x0020000E
	tagStudyDate            = 0x00080020
	tagRows                 = 0x00280010
	tagColumns              = 0x00280011
	tagBurnedInAnnotation   = 0x00280301
	tagLongitudinalTemporal = 0x00280303
	tagPatientIdentityRem   = 0x00120062
	tagDeidMethod           = 0x00120063
	tagDeidMethodCodeSeq    = 0x00120064
	tagCodeValue            = 0x00080100
	tagCodingScheme         = 0x00080102
	tagCodeMeaning          = 0x00080104
	tagSharedFunctionalGrps = 0x52009229
	tagPixelData            = 0x7FE00010
	tagOverlayData          = 0x60003000 // masked row (60xx,3000)
	tagCurveGroup           = 0x50000000 // masked row (50xx,xxxx)
	tagMediaStorageSOPInst  = 0x00020003
)

// codeTags hold coded concepts, not typed text: free-text handling inside
// dummied or cleaned sequences leaves them alone.
var codeTags = map[uint32]bool{
	0x00080100: true, 0x00080102: true, 0x00080103: true, 0x00080104: true, 0x00080105: true,
	0x00080106: true, 0x00080107: true, 0x0008010B: true, 0x0008010D: true, 0x0008010F: true,
	0x00080117: true, 0x00080118: true, 0x00080119: true, 0x00080120: true, 0x00080121: true,
	0x00080122: true, 0x00080123: true, 0x00080124: true, 0x00080220: true, 0x00080221: true,
	0x00080222: true, 0x0040A040: true, 0x0040A010: true, 0x0040A050: true, 0x0040A30A: true,
	0x0040DB00: true, 0x0040DB06: true, 0x0040DB07: true, 0x0040A0B0: true, 0x00700022: true,
}

// classUIDTags hold UIDs that name classes, syntaxes, coding schemes and
// other definitions rather than instances: they identify no one and must
// keep their value (a private SOP class, for example, must stay
// resolvable). Every other UI attribute that Table E.1-1 does not list is
// treated as an instance UID and mapped.
var classUIDTags = map[uint32]bool{
	0x00020002: true, 0x00020010: true, 0x00020012: true, 0x00020032: true, 0x00020100: true,
	0x00041510: true, 0x00041512: true, 0x0004151A: true,
	0x00080016: true, 0x0008001A: true, 0x0008001B: true, 0x00080062: true, 0x0008010C: true,
	0x0008010D: true, 0x00080117: true, 0x00080118: true, 0x0008040E: true, 0x00081150: true,
	0x0008115A: true, 0x00083002: true, 0x00089123: true, 0x00340003: true, 0x0040E011: true,
	0x0040E030: true, 0x0040E031: true, 0x04000010: true, 0x04000510: true, 0x3010001F: true,
	0x30100052: true, 0x30100053: true, 0x0072007F: true,
}

// placeholderNames are name parts that test and already-anonymised data
// use; they are not searched for as residual identifiers because the
// engine's own dummies and ordinary words contain them.
var placeholderNames = map[string]bool{
	"anonymized": true, "anonymised": true, "anonymous": true, "anon": true, "unknown": true,
	"test": true, "phantom": true, "patient": true, "none": true, "removed": true,
	"deidentified": true, "de-identified": true, "na": true, "xx": true, "mr": true, "mrs": true,
	"ms": true, "dr": true, "jr": true, "sr": true, "name": true, "first": true, "last": true,
	"given": true, "family": true, "middle": true,
}

// Engine de-identifies datasets under one configuration and key. It is
// safe for concurrent use.
type Engine struct {
	cfg  *Config
	keys *Keys
	// Software names the de-identifier in DeidentificationMethod.
	Software string
	// PixelDigests makes the digest entry points (ProcessFileDigest,
	// ProcessBytesDigest, ProcessFileTo with digest) also report the
	// pixel data digests (FileResult.InputPixelSHA256, OutputPixelSHA256):
	// one more SHA-256 pass over the pixel data, so off unless asked for.
	PixelDigests bool
	// NoCounts leaves the action counts out (Outcome.Counts and
	// FileResult.Counts stay nil): for runs that keep no processing
	// record, where nobody reads them.
	NoCounts bool
	implUID  string
	counts   *countMaps
	// codeValues are the values of the method code items (codeValuesFor);
	// method caches methodValue.
	codeValues [][3][]byte
	method     atomic.Pointer[methodCache]
}

// NewEngine returns an engine for cfg and keys.
func NewEngine(cfg *Config, keys *Keys) *Engine {
	return &Engine{cfg: cfg, keys: keys, Software: "ethos", implUID: ImplementationClassUID, counts: &countMaps{m: map[countKey]countEntry{}},
		codeValues: codeValuesFor(cfg.Options)}
}

// countMaps interns the per-tag maps of Outcome.Counts: across a batch
// the same few combinations (this tag, removed once) recur in every file,
// and building a map for each, in each file, was a tenth of the engine's
// time with the garbage it left. Interned maps are shared between the
// results of one engine and must not be modified.
type countMaps struct {
	mu sync.RWMutex
	m  map[countKey]countEntry
}

type countKey struct {
	tag uint32
	n   [numActions]int
}

type countEntry struct {
	key string
	m   map[string]int
}

// countMapsMax bounds the interned combinations (counts that vary from
// file to file, such as the number of private elements removed, are
// built anew once it is reached).
const countMapsMax = 4096

// entry returns the report key and action map for a tag's counts.
func (c *countMaps) entry(tag uint32, n *[numActions]int) (string, map[string]int) {
	k := countKey{tag: tag, n: *n}
	if c != nil {
		c.mu.RLock()
		e, ok := c.m[k]
		c.mu.RUnlock()
		if ok {
			return e.key, e.m
		}
	}
	var key string
	switch {
	case tag == 0xFFFFFFFF:
		key = "(gggg,eeee) private"
	case tag == 0x50000000:
		key = "(50xx,xxxx)"
	default:
		key = tagKey(tag)
	}
	m := map[string]int{}
	for a, v := range n {
		if v > 0 {
			m[Action(a).String()] = v
		}
	}
	if c != nil {
		c.mu.Lock()
		if len(c.m) < countMapsMax {
			c.m[k] = countEntry{key: key, m: m}
		}
		c.mu.Unlock()
	}
	return key, m
}

// ImplementationClassUID identifies Ethos as the writer of the output
// files (a 2.25 UID derived from the name, fixed for all versions).
var ImplementationClassUID = func() string {
	sum := sha256.Sum256([]byte("github.com/ethos-imaging/ethos deid"))
	u := sum[:16]
	u[6] = u[6]&0x0F | 0x80
	u[8] = u[8]&0x3F | 0x80
	var n [16]byte
	copy(n[:], u)
	return "2.25." + bigDecimal(n)
}()

// Outcome is what the engine decided for one instance.
type Outcome struct {
	// Quarantine is true when the instance must not be written; Reasons
	// say why (never containing an identifier).
	Quarantine bool
	Reasons    []string
	// Name is the output path: new Study/Series/SOP Instance UIDs.
	Name string
	// Counts counts actions by tag ("(gggg,eeee)") and action name. The
	// per-tag maps may be shared with other outcomes of the engine: read
	// them, never modify them.
	Counts map[string]map[string]int
	// Group holds coarse demographics for bias monitoring (QC-PRO-2).
	// The map is shared with other outcomes: read it, never modify it.
	Group map[string]string
	// PixelRects are the regions to blank under Clean Pixel Data (nil
	// when pixels pass through unchanged).
	PixelRects [][4]int
}

// instance is the per-instance state of one run of the engine.
type instance struct {
	e        *Engine
	opts     Options
	scan     *InstanceScanner
	pk       PatientKey
	shift    int
	shiftSet bool // shift is computed (on the first date moved)
	pseudoID string
	tctx     typeContext
	cs       charset
	out      *Outcome
	modified bool // a date was shifted
	counts   map[uint32]*[numActions]int
	creators []privateBlock // private blocks of the levels being walked
	slab     *elemSlab      // where new elements come from (nil: allocated)
}

type textMode uint8

const (
	textKeep  textMode = iota
	textDummy          // inside a sequence whose action is D: free text becomes a dummy
	textClean          // inside a sequence whose action is C: free text is cleaned
)

// Apply de-identifies meta (the file meta group, may be nil) and ds in
// place and decides whether the instance may be written. Pixel data is
// not touched here; see Outcome.PixelRects.
func (e *Engine) Apply(meta, ds *Dataset) (*Outcome, error) {
	return e.apply(meta, ds, nil)
}

// apply is Apply with the elements it adds taken from slab (the file's,
// or nil).
func (e *Engine) apply(meta, ds *Dataset, slab *elemSlab) (*Outcome, error) {
	out := &Outcome{}
	in := &instance{e: e, opts: e.cfg.Options, out: out, slab: slab}
	if !e.NoCounts {
		out.Counts = make(map[string]map[string]int, 64)
		in.counts = make(map[uint32]*[numActions]int, 64)
	}
	in.cs = newCharset(ds.String(tagSpecificCharacterSet))

	ids := gatherIdentifiers(ds)
	pk := PatientKey{ID: ds.String(tagPatientID), Issuer: ds.String(tagIssuerOfPatientID),
		Name: ds.String(tagPatientName), BirthDate: ds.String(tagPatientBirthDate), StudyUID: ds.String(tagStudyInstanceUID)}
	in.scan = instanceScanners.Get().(*InstanceScanner)
	in.scan.prepare(e.cfg.scanner, ids)
	defer instanceScanners.Put(in.scan)
	in.pk = pk
	in.pseudoID = e.keys.PatientID(e.cfg.patientIDPrefix(), pk)
	in.tctx = typeContext{sopClass: ds.String(tagSOPClassUID), enhanced: ds.Find(tagSharedFunctionalGrps) != nil}
	out.Group = demographics(ds)

	sopOrig := ds.String(tagSOPInstanceUID)
	if sopOrig == "" {
		return nil, fmt.Errorf("deid: no SOP Instance UID (0008,0018): not a composite instance")
	}

	// Pixel policy is decided on the original attributes.
	in.pixelPolicy(ds)
	in.embeddedOverlays(ds)

	in.apply(ds, false, textKeep)
	in.finish(ds)
	if meta != nil {
		in.applyMeta(meta, ds)
	}
	in.residualScan(ds, false)
	in.flushCounts()

	study, series, sop := ds.String(tagStudyInstanceUID), ds.String(tagSeriesInstanceUID), ds.String(tagSOPInstanceUID)
	if study == "" {
		study = "no-study"
	}
	if series == "" {
		series = "no-series"
	}
	out.Name = safeName(study) + "/" + safeName(series) + "/" + safeName(sop) + ".dcm"
	return out, nil
}

func safeName(uid string) string {
	ok := true
	for i := 0; i < len(uid) && ok; i++ {
		ok = safeNameRune(rune(uid[i])) // a byte ≥ 0x80 is not safe, as its rune is not
	}
	if ok {
		return uid // a UID as written: nothing to replace
	}
	return strings.Map(func(r rune) rune {
		if safeNameRune(r) {
			return r
		}
		return '_'
	}, uid)
}

// safeNameRune reports whether r may stand in an output name as it is.
func safeNameRune(r rune) bool {
	return r >= '0' && r <= '9' || r == '.' || r >= 'a' && r <= 'z' || r == '-'
}

func (in *instance) count(tag uint32, a Action) {
	if in.counts == nil {
		return // not counting (Engine.NoCounts)
	}
	// Private, overlay and curve tags are counted under their group rule.
	switch g := tag >> 16; {
	case g&1 == 1:
		tag = 0xFFFFFFFF
	case g&0xFF00 == 0x6000:
		tag = 0x6000<<16 | tag&0xFFFF
	case g&0xFF00 == 0x5000:
		tag = 0x50000000
	}
	c := in.counts[tag]
	if c == nil {
		c = new([numActions]int)
		in.counts[tag] = c
	}
	c[a]++
}

// flushCounts turns the counts into the report form (per-tag maps
// interned by the engine).
func (in *instance) flushCounts() {
	for tag, c := range in.counts {
		key, m := in.e.counts.entry(tag, c)
		in.out.Counts[key] = m
	}
}

func tagKey(tag uint32) string {
	g := tag >> 16
	switch {
	case g&1 == 1:
		return "(gggg,eeee) private"
	case g&0xFF00 == 0x6000:
		return fmt.Sprintf("(60xx,%04X)", tag&0xFFFF)
	case g&0xFF00 == 0x5000:
		return "(50xx,xxxx)"
	}
	const hexDigits = "0123456789ABCDEF"
	b := [11]byte{'(', 0, 0, 0, 0, ',', 0, 0, 0, 0, ')'}
	for i := range 4 {
		b[1+i] = hexDigits[(tag>>(28-4*i))&0xF]
		b[6+i] = hexDigits[(tag>>(12-4*i))&0xF]
	}
	return string(b[:])
}

func (in *instance) quarantine(reason string) {
	in.out.Quarantine = true
	if !slices.Contains(in.out.Reasons, reason) {
		in.out.Reasons = append(in.out.Reasons, reason)
	}
}

// gatherIdentifiers collects the patient's own identifiers before any
// change.
func gatherIdentifiers(ds *Dataset) Identifiers {
	var ids Identifiers
	for _, t := range []uint32{tagPatientName, tagOtherPatientNames, tagPatientBirthName, tagPatientMotherName} {
		for _, v := range ds.Strings(t) {
			ids.Names = append(ids.Names, v)
		}
	}
	for _, t := range []uint32{tagPatientID, tagOtherPatientIDs, tagAccessionNumber, tagMedicalRecordLocator} {
		ids.IDs = append(ids.IDs, ds.Strings(t)...)
	}
	if e := ds.Find(tagOtherPatientIDsSeq); e != nil {
		for _, it := range e.Items {
			ids.IDs = append(ids.IDs, it.Strings(tagPatientID)...)
		}
	}
	ids.BirthDates = ds.Strings(tagPatientBirthDate)
	// Drop placeholder words from names so dummies do not match.
	var names []string
	for _, n := range ids.Names {
		var parts []string
		for _, p := range nameParts(n) {
			if !placeholderNames[strings.ToLower(p)] {
				parts = append(parts, p)
			}
		}
		if len(parts) > 0 {
			names = append(names, strings.Join(parts, "^"))
		}
	}
	ids.Names = names
	return ids
}

// demographics returns sex and a ten-year age band (90+ for the oldest),
// from Patient's Age or, failing that, birth and study dates. The map is
// one of a few shared by every instance with the same values: read only.
func demographics(ds *Dataset) map[string]string {
	sex := 3 // unknown
	if e := ds.Find(tagPatientSex); e != nil {
		switch v := trimBytes(e.Value); {
		case len(v) != 1:
		case v[0] == 'M' || v[0] == 'm':
			sex = 0
		case v[0] == 'F' || v[0] == 'f':
			sex = 1
		case v[0] == 'O' || v[0] == 'o':
			sex = 2
		}
	}
	years := -1
	if a := ds.String(tagPatientAge); len(a) == 4 {
		if n, err := strconv.Atoi(a[:3]); err == nil {
			switch a[3] {
			case 'Y':
				years = n
			case 'M':
				years = n / 12
			case 'W':
				years = n / 52
			case 'D':
				years = n / 365
			}
		}
	}
	if years < 0 {
		b, s := ds.String(tagPatientBirthDate), ds.String(tagStudyDate)
		if len(b) == 8 && len(s) == 8 {
			by, e1 := strconv.Atoi(b[:4])
			sy, e2 := strconv.Atoi(s[:4])
			if e1 == nil && e2 == nil && sy >= by {
				years = sy - by
				if s[4:] < b[4:] {
					years--
				}
			}
		}
	}
	band := 0 // unknown
	switch {
	case years < 0:
	case years >= 90:
		band = 10
	default:
		band = 1 + years/10
	}
	return groupMaps[sex][band]
}

// groupMaps holds the group of every sex (M, F, O, unknown) and age band
// (unknown, 0-9, …, 80-89, 90+), shared read only by the outcomes.
var groupMaps = func() (g [4][11]map[string]string) {
	sexes := [4]string{"M", "F", "O", "unknown"}
	for s := range g {
		for b := range g[s] {
			band := "unknown"
			switch {
			case b == 10:
				band = "90+"
			case b > 0:
				band = fmt.Sprintf("%d-%d", (b-1)*10, (b-1)*10+9)
			}
			g[s][b] = map[string]string{"sex": sexes[s], "ageBand": band}
		}
	}
	return g
}()

// apply walks one dataset level.
func (in *instance) apply(ds *Dataset, nested bool, mode textMode) {
	// Private blocks: the creator of each (group, block) at this level,
	// on a stack shared by all levels (a sequence's items are walked
	// while this level's blocks are in use).
	base := len(in.creators)
	defer func() { in.creators = in.creators[:base] }()
	for _, el := range ds.Elements {
		g := el.Tag >> 16
		elem := el.Tag & 0xFFFF
		if g&1 == 1 && elem >= 0x10 && elem <= 0xFF {
			in.creators = append(in.creators, privateBlock{key: g<<8 | elem, creator: trimBytes(el.Value)})
		}
	}
	blocks := in.creators[base:len(in.creators):len(in.creators)]
	// The elements kept are moved to the front of ds.Elements (nothing
	// reads the level while it is walked).
	kept := ds.Elements[:0]
	var removedOverlay [4]uint64 // bit g&0xFF: group g (60xx) lost its overlay data
	anyOverlay := false
	for _, el := range ds.Elements {
		if in.element(el, nested, mode, blocks) {
			kept = append(kept, el)
		} else if g := el.Tag >> 16; g&0xFF00 == 0x6000 && el.Tag&0xFFFF == 0x3000 {
			removedOverlay[g>>6&3] |= 1 << (g & 63)
			anyOverlay = true
		}
	}
	// Private creators stay only for blocks with a kept element.
	if len(blocks) > 0 {
		kept = slices.DeleteFunc(kept, func(el *Element) bool {
			g, elem := el.Tag>>16, el.Tag&0xFFFF
			if g&1 == 1 && elem >= 0x10 && elem <= 0xFF {
				if b := findBlock(blocks, g<<8|elem); b != nil && b.keep {
					return false
				}
				in.count(el.Tag, Remove)
				return true
			}
			return false
		})
	}
	// Overlay groups whose data was removed lose all their elements.
	if anyOverlay {
		kept = slices.DeleteFunc(kept, func(el *Element) bool {
			if g := el.Tag >> 16; g&0xFF00 == 0x6000 && removedOverlay[g>>6&3]&(1<<(g&63)) != 0 {
				in.count(el.Tag, Remove)
				return true
			}
			return false
		})
	}
	clear(ds.Elements[len(kept):])
	ds.Elements = kept
}

// privateBlock is a private block (group<<8 | block number) of the level
// being walked, its creator (trimmed) and whether an element of it stays.
type privateBlock struct {
	key     uint32
	creator []byte
	keep    bool
}

// findBlock returns the block with key k (the last, should a malformed
// level repeat a creator), or nil. A level has few blocks: a scan is
// quicker than a map, and needs no allocation.
func findBlock(blocks []privateBlock, k uint32) *privateBlock {
	for i := len(blocks) - 1; i >= 0; i-- {
		if blocks[i].key == k {
			return &blocks[i]
		}
	}
	return nil
}

// element applies the action for one element and reports whether it stays.
func (in *instance) element(el *Element, nested bool, mode textMode, blocks []privateBlock) bool {
	g, elem := el.Tag>>16, el.Tag&0xFFFF
	// Group lengths are recomputed or dropped by the writer.
	if elem == 0 && g != 0x0002 {
		return false
	}
	// Private elements.
	if g&1 == 1 {
		if elem < 0x0010 {
			return false // invalid private range
		}
		if elem <= 0xFF {
			return true // creator: decided after the block
		}
		if o, ok := in.e.cfg.override(el.Tag); ok {
			return in.do(el, o.Action, nested, mode)
		}
		if in.opts.Has(RetainSafePrivate) {
			if b := findBlock(blocks, g<<8|elem>>8); b != nil && in.e.cfg.safe.has(uint16(g), string(b.creator), uint8(elem&0xFF)) {
				b.keep = true
				in.count(el.Tag, Keep)
				return true
			}
		}
		in.count(el.Tag, Remove)
		return false
	}
	if o, ok := in.e.cfg.override(el.Tag); ok {
		return in.do(el, o.Action, nested, mode)
	}
	switch el.Tag {
	case tagPatientID:
		// A keyed pseudonym (a D action): the same patient gets the same
		// ID in every batch.
		in.setText(el, in.pseudoID)
		in.count(el.Tag, Dummy)
		return true
	case tagPatientName:
		in.setText(el, in.pseudoID)
		in.count(el.Tag, Dummy)
		return true
	case tagPatientAge:
		if p := in.e.cfg.plans.find(el.Tag); p != nil && p.code == "K" {
			in.capAge(el)
			return true
		}
	}
	p := in.e.cfg.plans.find(el.Tag)
	if p == nil {
		return in.unlisted(el, nested, mode)
	}
	// The row's action under the options, resolved by the attribute's
	// type when the code is compound (newPlan). Under Clean Graphics, an
	// overlay bitmap or a curve is a drawing the engine cannot read, so
	// it cannot be cleaned of text drawn in it: it is removed (and with
	// its data, the whole overlay group).
	a := p.action(el.Tag, typeContext{sopClass: in.tctx.sopClass, enhanced: in.tctx.enhanced, nested: nested})
	return in.do(el, a, nested, mode)
}

// unlisted handles an attribute that Table E.1-1 does not name: kept, but
// sequences are processed, free text follows the enclosing sequence's
// mode and instance UIDs are replaced (only DICOM's own class and
// transfer syntax UIDs, under 1.2.840.10008, stay).
func (in *instance) unlisted(el *Element, nested bool, mode textMode) bool {
	switch {
	case el.VR == "SQ" || len(el.Items) > 0:
		for _, it := range el.Items {
			in.apply(it, true, mode)
		}
		return true
	case (el.VR == "DA" || el.VR == "DT") && in.opts.Has(RetainLongitudinalModifiedDates) && len(el.Value) > 0:
		// Dates Table E.1-1 does not list still move with the others under
		// Modified Dates: keeping them would reveal the offset.
		in.count(el.Tag, Shift)
		in.shiftValue(el)
		return true
	case el.VR == "UI":
		if classUIDTags[el.Tag] {
			return true
		}
		if !in.opts.Has(RetainUIDs) && in.remapUIDs(el) {
			in.count(el.Tag, UID)
		}
		return true
	case mode != textKeep && freeTextVR(el.VR) && !codeTags[el.Tag]:
		if mode == textDummy {
			return in.do(el, Dummy, nested, mode)
		}
		return in.do(el, Clean, nested, mode)
	}
	return true
}

// remapUIDs replaces every value of a UI element that is not a DICOM
// well-known UID; it reports whether anything changed.
func (in *instance) remapUIDs(el *Element) bool {
	v := trimBytes(el.Value)
	if bytes.IndexByte(v, '\\') < 0 {
		// One value (nearly always): no splitting and joining.
		if len(v) == 0 || bytes.HasPrefix(v, []byte("1.2.840.10008.")) {
			return false
		}
		setValue(el, padUI(in.e.keys.uidBytes(v)))
		return true
	}
	vals := strings.Split(string(v), `\`)
	changed := false
	for i, v := range vals {
		if v == "" || strings.HasPrefix(v, "1.2.840.10008.") {
			continue
		}
		vals[i] = in.e.keys.UID(v)
		changed = true
	}
	if changed {
		setValue(el, padUI(strings.Join(vals, `\`)))
	}
	return changed
}

// do performs a resolved action.
func (in *instance) do(el *Element, a Action, nested bool, mode textMode) bool {
	isSeq := el.VR == "SQ" || len(el.Items) > 0
	switch a {
	case Remove:
		in.count(el.Tag, Remove)
		return false
	case Zero:
		in.count(el.Tag, Zero)
		if isSeq {
			el.Items = nil
			el.Dirty = true
			return true
		}
		setValue(el, nil)
		return true
	case Keep:
		in.count(el.Tag, Keep)
		if isSeq {
			for _, it := range el.Items {
				in.apply(it, true, mode)
			}
		}
		return true
	case UID:
		in.count(el.Tag, UID)
		if isSeq {
			for _, it := range el.Items {
				in.apply(it, true, mode)
			}
			return true
		}
		in.remapUIDs(el)
		return true
	case Dummy:
		in.count(el.Tag, Dummy)
		if isSeq {
			for _, it := range el.Items {
				in.apply(it, true, textDummy)
			}
			return true
		}
		in.dummy(el)
		return true
	case Shift:
		in.count(el.Tag, Shift)
		in.shiftValue(el)
		return true
	case Clean:
		in.count(el.Tag, Clean)
		if isSeq {
			for _, it := range el.Items {
				in.apply(it, true, textClean)
			}
			return true
		}
		in.clean(el)
		return true
	}
	return true
}

// dummy replaces a value with a non-empty value of the same VR that holds
// no original information.
func (in *instance) dummy(el *Element) {
	switch el.VR {
	case "UI":
		if trimValue(el.Value) == "" {
			setValue(el, padUI(in.e.keys.UID("dummy")))
			return
		}
		in.remapUIDs(el)
		return
	case "PN":
		in.setText(el, "ANONYMIZED")
	case "DA":
		in.setText(el, "19000101")
	case "TM":
		in.setText(el, "000000.00")
	case "DT":
		in.setText(el, "19000101000000.00")
	case "AS":
		in.setText(el, "000D")
	case "IS", "DS":
		in.setText(el, "0")
	case "UR":
		in.setText(el, "urn:anonymized")
	case "AE", "CS", "LO", "SH", "ST", "LT", "UT", "UC":
		in.setText(el, "ANONYMIZED")
	case "AT", "SS", "US", "SL", "UL", "FL", "FD", "SV", "UV", "OB", "OW", "OF", "OD", "OL", "OV", "UN":
		n := len(el.Value)
		if n == 0 {
			n = binarySize(el.VR)
		}
		setValue(el, make([]byte, n))
	default:
		setValue(el, nil)
	}
}

func binarySize(vr string) int {
	switch vr {
	case "SS", "US":
		return 2
	case "FD", "SV", "UV", "OD", "OV":
		return 8
	case "OB", "UN":
		return 2
	}
	return 4
}

// clean replaces identifying content with values of similar meaning.
func (in *instance) clean(el *Element) {
	switch {
	case el.VR == "AE":
		// A keyed pseudonym keeps device links without naming the device.
		v := trimValue(el.Value)
		if v != "" {
			m := hmac.New(sha256.New, in.e.keys.patient)
			m.Write([]byte("ae\x00" + v))
			in.setText(el, "AE"+strings.ToUpper(hex.EncodeToString(m.Sum(nil)[:7])))
		}
	case el.VR == "DA" || el.VR == "DT" || el.VR == "TM":
		if in.opts.Has(RetainLongitudinalModifiedDates) {
			in.shiftValue(el)
		} else {
			setValue(el, nil)
		}
	case el.VR == "UI":
		in.remapUIDs(el)
	case textVR(el.VR):
		s := in.cs.decode(el.Value)
		cleaned, changed := in.scan.CleanText(strings.TrimRight(s, " \x00"))
		if changed {
			in.setText(el, cleaned)
		}
	default:
		// Other binary values have no text to clean. (Overlay bitmaps and
		// curves never get here: Clean Graphics removes them.)
	}
}

// shiftValue moves a DA or DT by the patient's offset. The offset is a
// whole number of days, so a time of day does not change: TM values are
// kept when they are valid times, and a DT keeps its time part while its
// date moves exactly like the DA of the same moment. Anything unreadable
// (a DA, DT or TM holding something else than a date or time) is emptied,
// since text the engine cannot read could identify.
func (in *instance) shiftValue(el *Element) {
	v := trimValue(el.Value)
	if v == "" {
		return
	}
	var vals []string
	for _, x := range strings.Split(v, `\`) {
		var s string
		ok := true
		switch el.VR {
		case "DA":
			s, ok = ShiftDA(x, in.dateShift())
		case "DT":
			s, ok = ShiftDT(x, in.dateShift())
		case "TM":
			s, ok = x, ValidTM(strings.TrimSpace(x)) || validTMRange(x)
		default:
			ok = false
		}
		if !ok {
			setValue(el, nil)
			return
		}
		vals = append(vals, s)
	}
	in.modified = true
	in.setText(el, strings.Join(vals, `\`))
}

// dateShift returns the patient's date offset in days, computed once.
func (in *instance) dateShift() int {
	if !in.shiftSet {
		lo, hi := in.e.cfg.shiftRange()
		in.shift, in.shiftSet = in.e.keys.DateShift(in.pk, lo, hi), true
	}
	return in.shift
}

// validTMRange accepts a TM range "A-B" whose ends are valid times.
func validTMRange(x string) bool {
	lo, hi, ok := strings.Cut(strings.TrimSpace(x), "-")
	return ok && (lo != "" || hi != "") && ValidTM(lo) && ValidTM(hi)
}

// capAge applies the HIPAA Safe Harbor cap to a retained age.
func (in *instance) capAge(el *Element) {
	in.count(el.Tag, Keep)
	a := trimValue(el.Value)
	if len(a) != 4 || a[3] != 'Y' {
		return
	}
	n, err := strconv.Atoi(a[:3])
	if err == nil && n > in.e.cfg.maxAge() {
		in.setText(el, fmt.Sprintf("%03dY", in.e.cfg.maxAge()+1))
		in.count(el.Tag, Clean)
	}
}

// setText stores a text value in the dataset's character set, padded to
// even length. Text that cannot be encoded is replaced by an empty value.
func (in *instance) setText(el *Element, s string) {
	b, ok := in.cs.encode(s)
	if !ok {
		b = nil
	}
	if len(b)%2 == 1 {
		b = append(b, ' ')
	}
	setValue(el, b)
}

func padUI(s string) []byte {
	b := []byte(s)
	if len(b)%2 == 1 {
		b = append(b, 0)
	}
	return b
}

func setValue(el *Element, b []byte) {
	el.Value = b
	el.Items = nil
	el.Dirty = true
}

// finish adds the attributes that record the de-identification.
func (in *instance) finish(ds *Dataset) {
	ds.Set(in.newElement(tagPatientIdentityRem, "CS", valueYES))
	el := in.newElement(tagDeidMethod, "LO", nil)
	if m := in.e.methodValue(); m != nil {
		setValue(el, m) // ASCII: the same bytes in every character set
	} else {
		in.setText(el, in.e.methodText())
	}
	ds.Set(el)

	codes := in.e.codeValues
	items := in.slab.dsPtrsList(len(codes))
	for i, c := range codes {
		it := in.slab.datasetsOne()
		it.Elements = in.slab.elemPtrsList(3)
		for j, t := range [3]uint32{tagCodeValue, tagCodingScheme, tagCodeMeaning} {
			vr := "SH"
			if j == 2 {
				vr = "LO"
			}
			it.Elements[j] = in.newElement(t, vr, c[j])
			it.Elements[j].Dirty = true
		}
		items[i] = it
	}
	ds.Set(in.newElement(tagDeidMethodCodeSeq, "SQ", nil, items...))

	lt := valueREMOVED
	switch {
	case in.opts.Has(RetainLongitudinalFullDates):
		lt = valueUNMODIFIED
	case in.opts.Has(RetainLongitudinalModifiedDates):
		lt = valueMODIFIED
	}
	ds.Set(in.newElement(tagLongitudinalTemporal, "CS", lt))
}

// Values finish writes, shared by every output (read only).
var (
	valueYES        = []byte("YES ")
	valueREMOVED    = padText("REMOVED")
	valueUNMODIFIED = padText("UNMODIFIED")
	valueMODIFIED   = padText("MODIFIED")
)

// newElement returns a new element (from the file's slab when there is
// one).
func (in *instance) newElement(tag uint32, vr string, value []byte, items ...*Dataset) *Element {
	e := in.slab.elementsOne()
	*e = Element{Tag: tag, VR: vr, Value: value, Items: items}
	return e
}

// methodText is the value of De-identification Method: the profile, its
// options and the software.
func (e *Engine) methodText() string {
	method := []string{"PS3.15 E.1 Basic Application Confidentiality Profile"}
	for _, o := range e.cfg.Options.List() {
		_, m := o.Code()
		method = append(method, strings.TrimSuffix(m, " Option")+" Option")
	}
	method = append(method, truncate(e.Software, 64))
	return strings.Join(method, `\`)
}

// methodValue returns methodText padded, when it is ASCII (its bytes in
// any character set), else nil; it is made once for each Software.
func (e *Engine) methodValue() []byte {
	if m := e.method.Load(); m != nil && m.software == e.Software {
		return m.value
	}
	text := e.methodText()
	var v []byte
	if isASCII([]byte(text)) {
		v = padText(text)
	}
	e.method.Store(&methodCache{software: e.Software, value: v})
	return v
}

type methodCache struct {
	software string
	value    []byte
}

// codeValuesFor returns the values of the items of De-identification
// Method Code Sequence under opts: code value, coding scheme and
// meaning, padded.
func codeValuesFor(opts Options) [][3][]byte {
	out := [][3][]byte{{padText(basicProfileCode), padText("DCM"), padText(basicProfileMeaning)}}
	for _, o := range opts.List() {
		v, m := o.Code()
		out = append(out, [3][]byte{padText(v), padText("DCM"), padText(m)})
	}
	return out
}

func padText(s string) []byte {
	b := []byte(s)
	if len(b)%2 == 1 {
		b = append(b, ' ')
	}
	return b
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// applyMeta rewrites the file meta group: the media storage instance UID
// follows the new SOP Instance UID, application entity titles and private
// information go.
func (in *instance) applyMeta(meta, ds *Dataset) {
	if sop := ds.String(tagSOPInstanceUID); sop != "" {
		if el := meta.Find(tagMediaStorageSOPInst); el != nil {
			setValue(el, padUI(sop))
			in.count(el.Tag, UID)
		} else {
			meta.Set(&Element{Tag: tagMediaStorageSOPInst, VR: "UI", Value: padUI(sop)})
		}
	}
	for _, t := range []uint32{0x00020016, 0x00020017, 0x00020018, 0x00020100, 0x00020102} {
		if meta.Find(t) != nil {
			meta.Delete(t)
			in.count(t, Remove)
		}
	}
	if el := meta.Find(0x00020012); el != nil { // Implementation Class UID
		setValue(el, padUI(in.e.implUID))
	}
	if el := meta.Find(0x00020013); el != nil { // Implementation Version Name
		setValue(el, padText("ETHOS"))
	}
}

// residualScan checks every text value that the engine left as it was
// (kept or unlisted) against the original identifiers; a hit quarantines.
func (in *instance) residualScan(ds *Dataset, nested bool) {
	for _, el := range ds.Elements {
		if len(el.Items) > 0 {
			for _, it := range el.Items {
				in.residualScan(it, true)
			}
			continue
		}
		if el.Dirty || !scannedVR(el.VR) || len(el.Value) == 0 {
			continue
		}
		if el.Tag>>16&1 == 1 && el.Tag&0xFFFF <= 0xFF {
			continue // private creator
		}
		var kind string
		var hit bool
		if in.cs.latin1 && !isASCII(el.Value) {
			if hits := in.scan.Find(in.cs.decode(el.Value)); len(hits) > 0 {
				kind, hit = hits[0].Kind, true
			}
		} else {
			// As text, the value is its bytes (UTF-8, the default
			// repertoire, or ASCII bytes of any set).
			kind, hit = in.scan.FirstKind(el.Value)
		}
		if hit {
			in.quarantine(fmt.Sprintf("residual identifier (%s) in %s", kind, tagKey(el.Tag)))
		}
	}
}

// instanceScanners are reused from instance to instance (their needle
// lists and first-byte index).
var instanceScanners = sync.Pool{New: func() any { return new(InstanceScanner) }}

// scannedVR reports the VRs whose values the residual scan reads: text a
// person or a device may have typed, and dates. Numbers, ages, times and
// UIDs cannot hold a name and would only give false hits on short IDs.
func scannedVR(vr string) bool {
	switch vr {
	case "AE", "CS", "DA", "DT", "LO", "LT", "PN", "SH", "ST", "UC", "UR", "UT":
		return true
	}
	return false
}

// pixelPolicy decides, from the original attributes, whether burned-in
// text may be present and whether Clean Pixel Data covers it.
func (in *instance) pixelPolicy(ds *Dataset) {
	if ds.Find(tagPixelData) == nil {
		return
	}
	modality := strings.ToUpper(ds.String(tagModality))
	sopClass := ds.String(tagSOPClassUID)
	burned := strings.ToUpper(ds.String(tagBurnedInAnnotation))
	risky := false
	reason := ""
	switch {
	case burned == "YES":
		risky, reason = true, "BurnedInAnnotation is YES"
	case burned == "" && (modality == "US" || modality == "XA" || modality == "SC" || modality == "OT" || isSecondaryCapture(sopClass)):
		risky, reason = true, "BurnedInAnnotation absent on "+modalityLabel(modality, sopClass)
	}
	var rects [][4]int
	if in.opts.Has(CleanPixelData) {
		rows, cols := ds.uint16(tagRows), ds.uint16(tagColumns)
		for i := range in.e.cfg.Profile.CleanPixels {
			r := &in.e.cfg.Profile.CleanPixels[i]
			if r.Matches(modality, ds.String(tagManufacturer), ds.String(tagModelName), rows, cols) {
				rects = append(rects, r.Rects...)
			}
		}
	}
	if len(rects) > 0 {
		in.out.PixelRects = rects
		if e := ds.Find(tagBurnedInAnnotation); e != nil && burned == "YES" {
			// The identifying regions are blanked: the pixels no longer
			// carry the annotation the attribute announced.
			setValue(e, padText("NO"))
		}
		return
	}
	if risky {
		in.quarantine("possible burned-in text: " + reason + " and no Clean Pixel Data region matches")
	}
}

// embeddedOverlays quarantines an instance whose overlay lives in the
// unused high bits of the pixel data (the retired form: Overlay Bits
// Allocated above 1 and no Overlay Data element). Removing the overlay
// attributes would leave the bitmap, possibly with text, in the pixels.
func (in *instance) embeddedOverlays(ds *Dataset) {
	if ds.Find(tagPixelData) == nil {
		return
	}
	for _, el := range ds.Elements {
		g := el.Tag >> 16
		if g&0xFF00 != 0x6000 || g&1 == 1 || el.Tag&0xFFFF != 0x0100 {
			continue
		}
		if ds.uint16(g<<16|0x0100) > 1 && ds.Find(g<<16|0x3000) == nil {
			in.quarantine(fmt.Sprintf("overlay %04X embedded in the pixel data bits (retired form): it cannot be removed without rewriting the pixels", g))
			return
		}
	}
}

func isSecondaryCapture(sopClass string) bool {
	return strings.HasPrefix(sopClass, "1.2.840.10008.5.1.4.1.1.7")
}

func modalityLabel(modality, sopClass string) string {
	if isSecondaryCapture(sopClass) {
		return "a secondary capture"
	}
	if modality == "" {
		return "an image without modality"
	}
	return modality
}
