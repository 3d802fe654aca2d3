package collection

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/evalstat"
)

// ReportVersion is the version of the representation report's JSON form.
// It changes whenever a field changes meaning or disappears.
const ReportVersion = 1

// CheckID is the framework quality check the report is evidence for.
const CheckID = "QC-COL-1"

// Report is the representation report (QC-COL-1). Every slice is in a
// deterministic order: attributes in ethos.StandardAttributes order then by
// name, groups by value in natural order (so "2-9" before "10-19").
type Report struct {
	Version   int              `json:"version"`
	Check     string           `json:"check"`
	Reference ReferenceSummary `json:"reference"`
	// Unit is "subject" when records carry subject keys (each subject
	// counted once) and "instance" otherwise.
	Unit    string `json:"unit"`
	Records int    `json:"records"` // input records
	Units   int    `json:"units"`   // counted units
	// Conflicts counts subjects whose records disagree on an attribute
	// (the first record's value is used).
	Conflicts  int     `json:"conflicts"`
	Labelled   int     `json:"labelled"`
	Positives  int     `json:"positives"`
	Confidence float64 `json:"confidence"` // level of every interval, 0.95

	Attributes    []*Breakdown `json:"attributes"`
	Intersections []*Breakdown `json:"intersections"`
	Findings      []Finding    `json:"findings"`
}

// ReferenceSummary repeats what the report was compared against.
type ReferenceSummary struct {
	Name       string  `json:"name"`
	Source     string  `json:"source,omitempty"`
	Floor      float64 `json:"floor"`
	SmallGroup int     `json:"small_group"`
}

// Breakdown is the distribution of one attribute or of the intersection
// of two.
type Breakdown struct {
	Attributes []string `json:"attributes"` // one name, or two for an intersection
	// Known counts units that have a value for every attribute; shares
	// are of Known. Missing = Units − Known.
	Known        int     `json:"known"`
	Missing      int     `json:"missing"`
	MissingShare float64 `json:"missing_share"` // of all units
	// Reference tells where the expected shares come from: "declared",
	// "independence" (an intersection: product of the two declared
	// marginal shares) or "" (none declared).
	Reference string   `json:"reference,omitempty"`
	Groups    []*Group `json:"groups"`
}

// Key names a breakdown: "sex" or "sex×age_band".
func (b *Breakdown) Key() string { return strings.Join(b.Attributes, "×") }

// Interval is a confidence interval of a proportion.
type Interval = evalstat.Interval

// Group is one value (or pair of values) of a breakdown.
type Group struct {
	Values  []string `json:"values"`
	Count   int      `json:"count"`
	Share   float64  `json:"share"`    // Count / Known
	ShareCI Interval `json:"share_ci"` // Wilson score interval
	// Expected is the reference share (nil when the reference says
	// nothing about this group) and Ratio = Share / Expected.
	Expected *float64 `json:"expected,omitempty"`
	Ratio    *float64 `json:"ratio,omitempty"`
	// UnderFloor: Ratio < floor. Shortfall: even the upper end of the
	// share's interval is below floor × expected, so the gap is not
	// explained by sampling noise.
	UnderFloor     bool `json:"under_floor"`
	Shortfall      bool `json:"shortfall"`
	Absent         bool `json:"absent"`           // expected but no unit at all
	Small          bool `json:"small"`            // 0 < Count < small-group threshold
	NotInReference bool `json:"not_in_reference"` // observed, but the declared reference has no share for it
	// Label prevalence among the group's labelled units.
	Labelled     int       `json:"labelled"`
	Positives    int       `json:"positives"`
	Prevalence   *float64  `json:"prevalence,omitempty"`
	PrevalenceCI *Interval `json:"prevalence_ci,omitempty"`
}

// Label returns the group's values joined for display ("F × 40-49").
func (g *Group) Label() string { return strings.Join(g.Values, " × ") }

// Finding kinds, most serious first.
const (
	FindingAbsent         = "absent"
	FindingUnderFloor     = "under_floor"
	FindingSmallGroup     = "small_group"
	FindingNotInReference = "not_in_reference"
	FindingMissing        = "missing"
)

var findingRank = map[string]int{FindingAbsent: 0, FindingUnderFloor: 1, FindingSmallGroup: 2, FindingNotInReference: 3, FindingMissing: 4}

// Finding is one thing a reviewer should look at.
type Finding struct {
	Kind      string `json:"kind"`
	Severity  string `json:"severity"` // "flag" (under the declared floor) or "warning"
	Breakdown string `json:"breakdown"`
	// Group names the group of a flag; a warning about several groups of
	// one breakdown lists them, comma-separated.
	Group   string `json:"group,omitempty"`
	Message string `json:"message"`
}

type unit struct {
	attrs    map[string]string
	labelled bool
	positive bool
}

// Represent computes the representation report of records against ref.
func Represent(records []ethos.InstanceAttributes, ref *ethos.ReferencePopulation) (*Report, error) {
	if err := ref.Validate(); err != nil {
		return nil, err
	}
	units, unitName, conflicts, err := unitsOf(records)
	if err != nil {
		return nil, err
	}
	r := &Report{
		Version: ReportVersion, Check: CheckID,
		Reference:  ReferenceSummary{Name: ref.Name, Source: ref.Source, Floor: ref.Floor, SmallGroup: ref.SmallGroup},
		Unit:       unitName,
		Records:    len(records),
		Units:      len(units),
		Conflicts:  conflicts,
		Confidence: 0.95,
	}
	for _, u := range units {
		if u.labelled {
			r.Labelled++
			if u.positive {
				r.Positives++
			}
		}
	}
	attrs := attributeOrder(units, ref)
	if len(attrs) > MaxAttributes {
		return nil, ethos.Errorf(ethos.EINVALID, "%d attributes, at most %d in one report", len(attrs), MaxAttributes)
	}
	for _, a := range attrs {
		r.Attributes = append(r.Attributes, breakdown(units, []string{a}, ref))
	}
	for i := range attrs {
		for j := i + 1; j < len(attrs); j++ {
			r.Intersections = append(r.Intersections, breakdown(units, []string{attrs[i], attrs[j]}, ref))
		}
	}
	r.Findings = findings(r, ref)
	return r, nil
}

func unitsOf(records []ethos.InstanceAttributes) ([]*unit, string, int, error) {
	bySubject := false
	for _, rec := range records {
		if rec.Subject != "" {
			bySubject = true
			break
		}
	}
	var units []*unit
	index := map[ethos.SubjectKey]*unit{}
	conflicted := map[ethos.SubjectKey]bool{}
	for i, rec := range records {
		attrs := map[string]string{}
		for k, v := range rec.Attributes {
			if !ethos.ValidAttributeName(k) {
				return nil, "", 0, ethos.Errorf(ethos.EINVALID, "record %d: attribute name %q: want lowercase letters, digits and _", i+1, k)
			}
			if v = strings.TrimSpace(v); v != "" {
				attrs[k] = v
			}
		}
		u := &unit{attrs: attrs, labelled: rec.Label != nil, positive: rec.Label != nil && *rec.Label}
		if !bySubject {
			units = append(units, u)
			continue
		}
		if rec.Subject == "" {
			return nil, "", 0, ethos.Errorf(ethos.EINVALID, "record %d has no subject while others do: give every record a subject or none", i+1)
		}
		first, ok := index[rec.Subject]
		if !ok {
			index[rec.Subject] = u
			units = append(units, u)
			continue
		}
		for k, v := range attrs {
			if fv, ok := first.attrs[k]; !ok {
				first.attrs[k] = v
			} else if fv != v {
				conflicted[rec.Subject] = true
			}
		}
		if u.labelled {
			first.labelled = true
			first.positive = first.positive || u.positive
		}
	}
	name := "instance"
	if bySubject {
		name = "subject"
	}
	return units, name, len(conflicted), nil
}

// attributeOrder lists the attributes that have a value in some unit or a
// declared reference: the standard ones in their order, then the others
// by name.
func attributeOrder(units []*unit, ref *ethos.ReferencePopulation) []string {
	seen := map[string]bool{}
	for _, u := range units {
		for k := range u.attrs {
			seen[k] = true
		}
	}
	for k := range ref.Expected {
		seen[k] = true
	}
	var out []string
	for _, a := range ethos.StandardAttributes {
		if seen[a] {
			out = append(out, a)
			delete(seen, a)
		}
	}
	var rest []string
	for a := range seen {
		rest = append(rest, a)
	}
	slices.Sort(rest)
	return append(out, rest...)
}

func breakdown(units []*unit, attrs []string, ref *ethos.ReferencePopulation) *Breakdown {
	b := &Breakdown{Attributes: attrs}
	groups := map[string]*Group{}
	key := func(vals []string) string { return strings.Join(vals, "\x00") }
	for _, u := range units {
		vals := make([]string, len(attrs))
		ok := true
		for i, a := range attrs {
			vals[i], ok = u.attrs[a]
			if !ok {
				break
			}
		}
		if !ok {
			b.Missing++
			continue
		}
		b.Known++
		g := groups[key(vals)]
		if g == nil {
			g = &Group{Values: vals}
			groups[key(vals)] = g
		}
		g.Count++
		if u.labelled {
			g.Labelled++
			if u.positive {
				g.Positives++
			}
		}
	}
	if n := len(units); n > 0 {
		b.MissingShare = float64(b.Missing) / float64(n)
	}

	// Expected shares: declared for one attribute, the product of the two
	// declared marginals for an intersection.
	declared := true
	for _, a := range attrs {
		if len(ref.Expected[a]) == 0 {
			declared = false
		}
	}
	expected := map[string]float64{}
	if declared {
		b.Reference = "declared"
		if len(attrs) == 2 {
			b.Reference = "independence"
		}
		var walk func(i int, vals []string, p float64)
		walk = func(i int, vals []string, p float64) {
			if i == len(attrs) {
				k := key(vals)
				expected[k] = p
				if groups[k] == nil {
					groups[k] = &Group{Values: slices.Clone(vals)}
				}
				return
			}
			for v, s := range ref.Expected[attrs[i]] {
				walk(i+1, append(vals, v), p*s)
			}
		}
		walk(0, nil, 1)
	}

	for k, g := range groups {
		if b.Known > 0 {
			g.Share = float64(g.Count) / float64(b.Known)
			if ci, ok := evalstat.Wilson(float64(g.Count), float64(b.Known), evalstat.Z95); ok {
				g.ShareCI = ci
			}
		}
		if g.Labelled > 0 {
			p := float64(g.Positives) / float64(g.Labelled)
			g.Prevalence = &p
			if ci, ok := evalstat.Wilson(float64(g.Positives), float64(g.Labelled), evalstat.Z95); ok {
				g.PrevalenceCI = &ci
			}
		}
		g.Small = g.Count > 0 && g.Count < ref.SmallGroup
		e, ok := expected[k]
		if !ok {
			g.NotInReference = declared
			continue
		}
		g.Expected = &e
		if b.Known == 0 {
			continue // nothing to compare: the attribute is missing everywhere
		}
		ratio := g.Share / e
		g.Ratio = &ratio
		g.UnderFloor = ratio < ref.Floor
		g.Absent = g.Count == 0
		g.Shortfall = g.ShareCI.Upper < ref.Floor*e
	}
	b.Groups = make([]*Group, 0, len(groups))
	for _, g := range groups {
		b.Groups = append(b.Groups, g)
	}
	slices.SortFunc(b.Groups, func(x, y *Group) int {
		for i := range x.Values {
			if c := naturalCompare(x.Values[i], y.Values[i]); c != 0 {
				return c
			}
		}
		return 0
	})
	return b
}

func findings(r *Report, ref *ethos.ReferencePopulation) []Finding {
	var out []Finding
	pct := func(x float64) string { return fmt.Sprintf("%.1f%%", 100*x) }
	for _, b := range slices.Concat(r.Attributes, r.Intersections) {
		if b.Missing > 0 && b.Reference != "" && len(b.Attributes) == 1 {
			out = append(out, Finding{Kind: FindingMissing, Severity: "warning", Breakdown: b.Key(),
				Message: fmt.Sprintf("%d of %d %s (%s) have no %s; shares are of the %d that do", b.Missing, r.Units, plural(r.Units, r.Unit), pct(b.MissingShare), b.Key(), b.Known)})
		}
		// Flags name one group each; warnings of one kind are gathered
		// into one finding per breakdown, so that a long tail of small
		// sites or scanner models stays readable.
		var small, unknown []*Group
		for _, g := range b.Groups {
			f := Finding{Breakdown: b.Key(), Group: g.Label(), Severity: "flag"}
			switch {
			case g.Absent:
				f.Kind = FindingAbsent
				f.Message = fmt.Sprintf("no %s at all, %s expected", r.Unit, pct(*g.Expected))
			case g.UnderFloor:
				f.Kind = FindingUnderFloor
				f.Message = fmt.Sprintf("share %s against %s expected: ratio %.2f under the floor %.2f", pct(g.Share), pct(*g.Expected), *g.Ratio, ref.Floor)
				if g.Shortfall {
					f.Message += fmt.Sprintf("; even the upper end of its interval (%s) is under floor × expected", pct(g.ShareCI.Upper))
				} else {
					f.Message += " (the upper end of its interval reaches floor × expected: could be sampling noise)"
				}
			case g.Small && (len(b.Attributes) == 1 || b.Reference != ""):
				// Small cells of an intersection without a reference are
				// the norm and stay in the tables; they are not findings.
				small = append(small, g)
				continue
			case g.NotInReference && len(b.Attributes) == 1:
				unknown = append(unknown, g)
				continue
			default:
				continue
			}
			out = append(out, f)
		}
		if len(small) > 0 {
			lo, hi := small[0].Count, small[0].Count
			for _, g := range small {
				lo, hi = min(lo, g.Count), max(hi, g.Count)
			}
			counts := fmt.Sprint(lo)
			if hi != lo {
				counts = fmt.Sprintf("%d to %d", lo, hi)
			}
			out = append(out, Finding{Kind: FindingSmallGroup, Severity: "warning", Breakdown: b.Key(), Group: groupList(small),
				Message: fmt.Sprintf("%d %s under the small-group threshold of %d %s (%s each): shares and prevalences are uncertain",
					len(small), plural(len(small), "group"), ref.SmallGroup, plural(ref.SmallGroup, r.Unit), counts)})
		}
		if len(unknown) > 0 {
			n := 0
			for _, g := range unknown {
				n += g.Count
			}
			out = append(out, Finding{Kind: FindingNotInReference, Severity: "warning", Breakdown: b.Key(), Group: groupList(unknown),
				Message: fmt.Sprintf("%d %s in %d %s the reference does not declare", n, plural(n, r.Unit), len(unknown), plural(len(unknown), "group"))})
		}
	}
	// Single attributes before intersections, most serious first, then
	// the order of the breakdowns and groups (a stable sort keeps it).
	slices.SortStableFunc(out, func(x, y Finding) int {
		if c := cmp.Compare(strings.Count(x.Breakdown, "×"), strings.Count(y.Breakdown, "×")); c != 0 {
			return c
		}
		return cmp.Compare(findingRank[x.Kind], findingRank[y.Kind])
	})
	return out
}

func groupList(gs []*Group) string {
	names := make([]string, len(gs))
	for i, g := range gs {
		names[i] = g.Label()
	}
	return strings.Join(names, ", ")
}

func plural(n int, unit string) string {
	if n == 1 {
		return unit
	}
	return unit + "s"
}

// naturalCompare orders strings with runs of digits compared as numbers,
// so age bands sort "0-9", "10-19", …, "90+".
func naturalCompare(a, b string) int {
	for a != "" && b != "" {
		da, db := digitRun(a), digitRun(b)
		if da > 0 && db > 0 {
			na, nb := strings.TrimLeft(a[:da], "0"), strings.TrimLeft(b[:db], "0")
			if c := cmp.Compare(len(na), len(nb)); c != 0 {
				return c
			}
			if c := strings.Compare(na, nb); c != 0 {
				return c
			}
			a, b = a[da:], b[db:]
			continue
		}
		if a[0] != b[0] {
			return cmp.Compare(a[0], b[0])
		}
		a, b = a[1:], b[1:]
	}
	return cmp.Compare(len(a), len(b))
}

func digitRun(s string) int {
	i := 0
	for i < len(s) && '0' <= s[i] && s[i] <= '9' {
		i++
	}
	return i
}
