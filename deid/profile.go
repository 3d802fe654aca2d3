package deid

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
)

// Profile is the project's de-identification configuration, read from a
// JSON file (--profile). Every field is optional; the zero Profile is the
// Basic Profile with no options.
type Profile struct {
	// Name labels the profile in reports.
	Name string `json:"name,omitempty"`
	// Options are option names (as on the command line) that the profile
	// always applies; --option adds to them.
	Options []string `json:"options,omitempty"`
	// Overrides replace the action of Table E.1-1 for single tags,
	// wherever the tag occurs (also inside sequences).
	Overrides []Override `json:"overrides,omitempty"`
	// SafePrivate extends the built-in safe private list used under the
	// Retain Safe Private option.
	SafePrivate []SafePrivate `json:"safePrivate,omitempty"`
	// Patterns are extra regular expressions that the residual scan treats
	// as identifiers and Clean removes.
	Patterns []Pattern `json:"patterns,omitempty"`
	// CleanPixels lists the regions blanked under Clean Pixel Data, per
	// modality, manufacturer, model and image size.
	CleanPixels []PixelRule `json:"cleanPixels,omitempty"`
	// PatientIDPrefix starts every pseudonymous Patient ID (default "ETHOS-").
	PatientIDPrefix *string `json:"patientIdPrefix,omitempty"`
	// DateShiftDays bounds the per-patient shift of the Modified Dates
	// option: dates move back between Min and Max days (default 1..3652).
	DateShiftDays *ShiftRange `json:"dateShiftDays,omitempty"`
	// MaxAgeYears caps retained ages (default 89, HIPAA Safe Harbor:
	// larger ages become 090Y).
	MaxAgeYears *int `json:"maxAgeYears,omitempty"`
}

// ShiftRange bounds a date shift in days.
type ShiftRange struct {
	Min int `json:"min"`
	Max int `json:"max"`
}

// Override sets the action of one tag. Tag is "(gggg,eeee)", "ggggeeee"
// or the keyword of a Table E.1-1 attribute.
type Override struct {
	Tag    string `json:"tag"`
	Action Action `json:"action"`
	Reason string `json:"reason,omitempty"`
	tag    uint32
}

// PixelRule blanks rectangles of the pixel data of matching instances.
// Empty match fields match anything; Rows and Columns 0 match any size.
type PixelRule struct {
	Modality     string `json:"modality,omitempty"`
	Manufacturer string `json:"manufacturer,omitempty"`
	Model        string `json:"model,omitempty"`
	Rows         int    `json:"rows,omitempty"`
	Columns      int    `json:"columns,omitempty"`
	// Rects are x, y, width, height in pixels from the top-left corner.
	Rects [][4]int `json:"rects"`
}

// Matches reports whether the rule applies to an image.
func (r *PixelRule) Matches(modality, manufacturer, model string, rows, cols int) bool {
	eq := func(want, got string) bool {
		return want == "" || strings.EqualFold(strings.TrimSpace(want), strings.TrimSpace(got))
	}
	prefix := func(want, got string) bool {
		return want == "" || strings.HasPrefix(strings.ToUpper(strings.TrimSpace(got)), strings.ToUpper(strings.TrimSpace(want)))
	}
	return eq(r.Modality, modality) && prefix(r.Manufacturer, manufacturer) && prefix(r.Model, model) &&
		(r.Rows == 0 || r.Rows == rows) && (r.Columns == 0 || r.Columns == cols)
}

// ReadProfile reads a profile file. Unknown fields are an error, so a
// misspelt key cannot silently weaken de-identification.
func ReadProfile(path string) (*Profile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("deid: open profile: %w", err)
	}
	defer f.Close()
	return DecodeProfile(f)
}

// DecodeProfile parses and validates a profile.
func DecodeProfile(r io.Reader) (*Profile, error) {
	dec := json.NewDecoder(io.LimitReader(r, 8<<20))
	dec.DisallowUnknownFields()
	var p Profile
	if err := dec.Decode(&p); err != nil {
		if se, ok := errors.AsType[*json.SyntaxError](err); ok {
			return nil, fmt.Errorf("deid: profile: byte %d: %w", se.Offset, err)
		}
		return nil, fmt.Errorf("deid: profile: %w", err)
	}
	if err := p.validate(); err != nil {
		return nil, err
	}
	return &p, nil
}

func (p *Profile) validate() error {
	for i := range p.Overrides {
		o := &p.Overrides[i]
		t, err := ParseTag(o.Tag)
		if err != nil {
			return fmt.Errorf("deid: profile override %d: %w", i, err)
		}
		o.tag = t
		if o.Action == Shift {
			return fmt.Errorf("deid: profile override %d (%s): action shift applies only through the modified-dates option", i, o.Tag)
		}
	}
	if _, err := ParseOptions(strings.Join(p.Options, ",")); err != nil {
		return fmt.Errorf("deid: profile options: %w", err)
	}
	for i, s := range p.SafePrivate {
		if s.Group%2 == 0 {
			return fmt.Errorf("deid: profile safePrivate %d: group %04X is not private (odd)", i, s.Group)
		}
		if strings.TrimSpace(s.Creator) == "" {
			return fmt.Errorf("deid: profile safePrivate %d: empty private creator", i)
		}
	}
	if _, err := NewScanner(p.Patterns); err != nil {
		return err
	}
	for i, r := range p.CleanPixels {
		if len(r.Rects) == 0 {
			return fmt.Errorf("deid: profile cleanPixels %d: no rectangles", i)
		}
		for j, rc := range r.Rects {
			if rc[0] < 0 || rc[1] < 0 || rc[2] <= 0 || rc[3] <= 0 {
				return fmt.Errorf("deid: profile cleanPixels %d rect %d: need x,y >= 0 and width,height > 0", i, j)
			}
		}
	}
	if r := p.DateShiftDays; r != nil && (r.Min < 0 || r.Max < r.Min || r.Max > 36500) {
		return fmt.Errorf("deid: profile dateShiftDays: need 0 <= min <= max <= 36500")
	}
	if p.MaxAgeYears != nil && (*p.MaxAgeYears < 1 || *p.MaxAgeYears > 150) {
		return fmt.Errorf("deid: profile maxAgeYears: need 1..150")
	}
	if p.PatientIDPrefix != nil && len(*p.PatientIDPrefix) > 40 {
		return fmt.Errorf("deid: profile patientIdPrefix: at most 40 characters")
	}
	return nil
}

// ParseTag reads "(gggg,eeee)", "gggg,eeee", "ggggeeee" or the keyword of
// a Table E.1-1 attribute.
func ParseTag(s string) (uint32, error) {
	t := strings.TrimSpace(s)
	hexs := strings.NewReplacer("(", "", ")", "", ",", "", " ", "").Replace(t)
	if len(hexs) == 8 {
		if v, err := strconv.ParseUint(hexs, 16, 32); err == nil {
			return uint32(v), nil
		}
	}
	for i := range tableE11 {
		if tableE11[i].Keyword != "" && strings.EqualFold(tableE11[i].Keyword, t) {
			return tableE11[i].Tag, nil
		}
	}
	return 0, fmt.Errorf("tag %q: want (gggg,eeee) or a keyword of Table E.1-1", s)
}

// Config is a profile combined with the options of a run: everything that
// decides the output besides the key.
type Config struct {
	Profile   Profile
	Options   Options
	overrides map[uint32]Override
	safe      safeSet
	scanner   *Scanner
	plans     *plans // Table E.1-1 resolved under Options
}

// NewConfig combines a profile (nil for none) with extra options.
func NewConfig(p *Profile, extra Options) (*Config, error) {
	c := &Config{}
	if p != nil {
		c.Profile = *p
	}
	if err := c.Profile.validate(); err != nil {
		return nil, err
	}
	opts, err := ParseOptions(strings.Join(c.Profile.Options, ","))
	if err != nil {
		return nil, err
	}
	c.Options = opts | extra
	if err := c.Options.Validate(); err != nil {
		return nil, err
	}
	c.overrides = map[uint32]Override{}
	for _, o := range c.Profile.Overrides {
		c.overrides[o.tag] = o
	}
	c.safe = newSafeSet(builtinSafePrivate, c.Profile.SafePrivate)
	c.plans = newPlans(c.Options)
	if c.scanner, err = NewScanner(c.Profile.Patterns); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Config) patientIDPrefix() string {
	if c.Profile.PatientIDPrefix != nil {
		return *c.Profile.PatientIDPrefix
	}
	return "ETHOS-"
}

func (c *Config) shiftRange() (int, int) {
	if r := c.Profile.DateShiftDays; r != nil {
		return r.Min, r.Max
	}
	return 1, 3652
}

func (c *Config) maxAge() int {
	if c.Profile.MaxAgeYears != nil {
		return *c.Profile.MaxAgeYears
	}
	return 89
}

// Hash is the SHA-256 of the canonical JSON form of the effective
// configuration (profile fields and the option set). Two runs with the
// same hash and key fingerprint apply the same actions.
func (c *Config) Hash() string {
	p := c.Profile
	p.Options = nil
	for _, o := range c.Options.List() {
		p.Options = append(p.Options, o.String())
	}
	b, _ := json.Marshal(struct {
		Version int     `json:"version"`
		Profile Profile `json:"profile"`
	}{1, p})
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// EffectiveRow is one line of the effective table: the Table E.1-1 row,
// the code chosen by the options, how a compound code resolves at the top
// level of a common image, and any profile override.
type EffectiveRow struct {
	Tag      string `json:"tag"`
	Name     string `json:"name"`
	Basic    Code   `json:"basic"`
	Code     Code   `json:"code"`
	ByOption string `json:"byOption,omitempty"`
	Action   Action `json:"action"`
	Note     string `json:"note,omitempty"`
}

// Effective returns the action of every Table E.1-1 attribute under the
// configuration, followed by profile overrides of tags not in the table.
func (c *Config) Effective() []EffectiveRow {
	var rows []EffectiveRow
	inTable := map[uint32]bool{}
	for i := range tableE11 {
		r := &tableE11[i]
		code, by, _ := r.Code(c.Options)
		t := attrType(r.Tag, typeContext{})
		a, _ := Resolve(code, t)
		row := EffectiveRow{Tag: r.TagString(), Name: r.Name, Basic: r.Basic, Code: code, Action: a}
		if by >= 0 {
			row.ByOption = by.String()
		}
		if code == "C" {
			row.Action, row.Note = c.cleanKind(r)
		}
		if strings.Contains(string(code), "/") {
			row.Note = "compound: " + typeNote(t) + familyNote(code, r.Tag)
		}
		if r.Private {
			switch {
			case c.Options.Has(RetainSafePrivate):
				row.Note = fmt.Sprintf("%d safe private attributes kept, others removed", len(c.safe))
			default:
				row.Note = "all private attributes removed"
			}
		}
		if r.Tag == 0x00100020 {
			row.Action, row.Note = Dummy, "keyed pseudonym"
		}
		if r.Tag == 0x00100010 {
			row.Note = "set to the keyed pseudonym (a dummy value)"
		}
		if !r.Private && r.Mask == 0xFFFFFFFF {
			inTable[r.Tag] = true
			if o, ok := c.overrides[r.Tag]; ok {
				row.Action, row.Note = o.Action, "profile override: "+o.Reason
			}
		}
		rows = append(rows, row)
	}
	var extra []EffectiveRow
	for t, o := range c.overrides {
		if inTable[t] {
			continue
		}
		extra = append(extra, EffectiveRow{Tag: fmt.Sprintf("(%04X,%04X)", t>>16, t&0xFFFF), Name: "(not in Table E.1-1)",
			Code: Code(o.Action.Letter()), Action: o.Action, Note: "profile override: " + o.Reason})
	}
	slices.SortFunc(extra, func(a, b EffectiveRow) int { return strings.Compare(a.Tag, b.Tag) })
	return append(rows, extra...)
}

// familyNote describes the IOD families where the compound code resolves
// differently from the common image IODs.
func familyNote(code Code, tag uint32) string {
	row, ok := compoundTypes[tag]
	if !ok {
		return ""
	}
	var parts []string
	for _, f := range []struct {
		t    AttrType
		name string
	}{{row.sr, "SR"}, {row.rt, "RT"}, {row.waveform, "waveform"}, {row.enhanced, "enhanced multi-frame"}, {row.nested, "nested"}} {
		if f.t == TypeUnknown || f.t == row.top {
			continue
		}
		a, _ := Resolve(code, f.t)
		parts = append(parts, fmt.Sprintf("%s in %s", a, f.name))
	}
	if len(parts) == 0 {
		return ""
	}
	return "; " + strings.Join(parts, ", ")
}

func typeNote(t AttrType) string {
	switch t {
	case Type1:
		return "Type 1 in common IODs"
	case Type2:
		return "Type 2 in common IODs"
	case Type3:
		return "Type 3 in common IODs"
	}
	return "type unknown, most conformant choice"
}

// cleanKind says what Clean does to an attribute.
func (c *Config) cleanKind(r *Rule) (Action, string) {
	switch {
	case r.Options[RetainLongitudinalModifiedDates] == "C" && c.Options.Has(RetainLongitudinalModifiedDates):
		return Shift, "dates shifted by the per-patient offset"
	case r.VR == "SQ":
		return Clean, "items kept, their text cleaned"
	case r.VR == "AE":
		return Clean, "AE title replaced by a keyed pseudonym"
	case r.Private:
		return Clean, "safe private attributes kept"
	case r.Tag == tagOverlayData && r.Mask == 0xFF00FFFF, r.Tag == tagCurveGroup && r.Mask == 0xFF000000:
		return Remove, "a drawing cannot be cleaned of text: removed, with its whole group"
	case r.Tag>>16 == 0x6000 && r.Mask == 0xFF00FFFF:
		return Clean, "identifiers removed from the text (the group goes when its overlay data goes)"
	}
	return Clean, "identifiers removed from the text"
}

// WriteEffective prints the effective table as aligned text.
func (c *Config) WriteEffective(w io.Writer) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# options: %s\n# profile hash: %s\n", orNone(c.Options.String()), c.Hash())
	fmt.Fprintf(&b, "%-22s %-6s %-6s %-7s %s\n", "TAG", "BASIC", "CODE", "ACTION", "NAME / NOTE")
	for _, r := range c.Effective() {
		note := r.Name
		if r.ByOption != "" {
			note += " [" + r.ByOption + "]"
		}
		if r.Note != "" {
			note += " — " + r.Note
		}
		fmt.Fprintf(&b, "%-22s %-6s %-6s %-7s %s\n", r.Tag, r.Basic, r.Code, r.Action, note)
	}
	fmt.Fprintf(&b, "\n# safe private attributes (kept only under %s):\n", RetainSafePrivate)
	for _, sp := range c.SafePrivateList() {
		fmt.Fprintf(&b, "(%04X,xx%02X) %-28s %-2s %s\n", sp.Group, sp.Element, sp.Creator, sp.VR, sp.Name)
	}
	_, err := w.Write(b.Bytes())
	return err
}

// SafePrivateList returns the effective safe private list (built in and
// from the profile), sorted by group, creator and element.
func (c *Config) SafePrivateList() []SafePrivate {
	out := make([]SafePrivate, 0, len(c.safe))
	for _, sp := range c.safe {
		out = append(out, sp)
	}
	slices.SortFunc(out, func(a, b SafePrivate) int {
		if a.Group != b.Group {
			return int(a.Group) - int(b.Group)
		}
		if c := strings.Compare(a.Creator, b.Creator); c != 0 {
			return c
		}
		return int(a.Element) - int(b.Element)
	})
	return out
}

func orNone(s string) string {
	if s == "" {
		return "(none: Basic Profile)"
	}
	return s
}

// override returns the profile's override of tag t. Most profiles have
// none: the map is then not consulted (once per element).
func (c *Config) override(t uint32) (Override, bool) {
	if len(c.overrides) == 0 {
		return Override{}, false
	}
	o, ok := c.overrides[t]
	return o, ok
}
