package processing

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/ethos-imaging/ethos"
)

// SplitSpec asks for a patient-level split.
type SplitSpec struct {
	Parts      []ethos.DatasetSplitPart // e.g. train 0.7, val 0.15, test 0.15
	StratifyBy []string                 // "label" and/or attribute names ("sex", "age", "modality", "body_part", …)
	Seed       int64
}

func (s *SplitSpec) validate() error {
	if len(s.Parts) < 1 {
		return ethos.Errorf(ethos.EINVALID, "split: at least one part")
	}
	sum := 0.0
	seen := map[string]bool{}
	for i, p := range s.Parts {
		// Part names are words like "train" or "test": they go into
		// the manifest and the audit entry, so free text
		// (which could carry a patient's name) is refused, unquoted.
		if !ethos.ValidID(p.Name) || ethos.IdentifierProblem(p.Name, true) != "" || seen[p.Name] {
			return ethos.Errorf(ethos.EINVALID, "split: part %d: part names must be distinct words of letters, digits, '_', '-' or '.' (at most 64), such as train, val, test", i+1)
		}
		seen[p.Name] = true
		if !(p.Fraction > 0 && p.Fraction <= 1) {
			return ethos.Errorf(ethos.EINVALID, "split: part %d: fraction must be in (0, 1]", i+1)
		}
		sum += p.Fraction
	}
	if math.Abs(sum-1) > 1e-9 {
		return ethos.Errorf(ethos.EINVALID, "split: fractions add up to %g, not 1", sum)
	}
	return nil
}

// ParseParts reads "train=0.7,val=0.15,test=0.15".
func ParseParts(s string) ([]ethos.DatasetSplitPart, error) {
	var out []ethos.DatasetSplitPart
	for f := range strings.SplitSeq(s, ",") {
		name, frac, ok := strings.Cut(strings.TrimSpace(f), "=")
		var x float64
		if _, err := fmt.Sscanf(frac, "%g", &x); !ok || err != nil {
			return nil, ethos.Errorf(ethos.EINVALID, "split parts: %q is not name=fraction", f)
		}
		out = append(out, ethos.DatasetSplitPart{Name: name, Fraction: x})
	}
	return out, nil
}

// attrValue returns an entry's value of a stratification attribute.
func attrValue(e *ethos.ManifestEntry, attr string) string {
	var v string
	switch attr {
	case "label":
		v = e.Label
	case "modality":
		v = e.Modality
	case "body_part":
		v = e.BodyPart
	default:
		v = e.Attributes[attr]
	}
	if v == "" {
		return "unknown"
	}
	return v
}

// checkStratify refuses a stratification attribute that is neither one
// of every entry's own fields (label, modality, body_part) nor a kept
// attribute of some entry of v: stratifying by it would put every
// patient in one "unknown" stratum, and the name (typed text) would reach
// the audit entry. The error lists the names that are known, not the one
// given.
func checkStratify(v *ethos.DatasetVersion, attrs []string) error {
	known := map[string]bool{"label": true, "modality": true, "body_part": true}
	for i := range v.Entries {
		for k := range v.Entries[i].Attributes {
			known[k] = true
		}
	}
	for i, a := range attrs {
		if !known[a] {
			names := slices.Sorted(maps.Keys(known))
			return ethos.Errorf(ethos.EINVALID, "split: stratification attribute %d is not an attribute of this dataset version (known: %s)", i+1, strings.Join(names, ", "))
		}
	}
	return nil
}

// SplitVersion splits v at patient level: all instances of a patient go to
// one part. Patients are grouped into strata by the values of the chosen
// attributes (a patient's value is that of the first of their entries by
// id, or "mixed" when their entries disagree); within each stratum they
// are ordered by a hash of the seed and their pseudonym and dealt to the
// part furthest below its target share, so every stratum is split in the
// requested proportions as nearly as whole patients allow. The same
// version, spec and seed give the same split on every machine. The result
// carries the leakage check (recomputed from the assignment) and the
// balance table of every stratification attribute and the label.
func SplitVersion(v *ethos.DatasetVersion, spec SplitSpec) (*ethos.DatasetSplit, error) {
	if err := spec.validate(); err != nil {
		return nil, err
	}
	if err := checkStratify(v, spec.StratifyBy); err != nil {
		return nil, err
	}
	byPatient := map[string][]*ethos.ManifestEntry{}
	for i := range v.Entries {
		e := &v.Entries[i]
		if e.Patient == "" {
			return nil, ethos.Errorf(ethos.EINVALID, "split: entry %s has no pseudonymous patient", e.ID)
		}
		byPatient[e.Patient] = append(byPatient[e.Patient], e)
	}
	strata := map[string][]string{}
	for p, es := range byPatient {
		var key []string
		for _, a := range spec.StratifyBy {
			val := attrValue(es[0], a)
			for _, e := range es[1:] {
				if attrValue(e, a) != val {
					val = "mixed"
					break
				}
			}
			key = append(key, val)
		}
		k := strings.Join(key, "\x00")
		strata[k] = append(strata[k], p)
	}
	partOf := map[string]string{}
	for _, k := range slices.Sorted(mapKeys(strata)) {
		ps := strata[k]
		slices.SortFunc(ps, func(a, b string) int {
			ha, hb := seedHash(spec.Seed, a), seedHash(spec.Seed, b)
			if ha != hb {
				if ha < hb {
					return -1
				}
				return 1
			}
			return strings.Compare(a, b)
		})
		counts := make([]int, len(spec.Parts))
		for n, p := range ps {
			// The part with the largest deficit against its target after
			// n+1 patients; ties go to the earlier part.
			best, bestDef := 0, math.Inf(-1)
			for i, part := range spec.Parts {
				def := part.Fraction*float64(n+1) - float64(counts[i])
				if def > bestDef+1e-12 {
					best, bestDef = i, def
				}
			}
			counts[best]++
			partOf[p] = spec.Parts[best].Name
		}
	}
	sp := &ethos.DatasetSplit{VersionID: v.ID, Seed: spec.Seed, Parts: spec.Parts, StratifyBy: slices.Clone(spec.StratifyBy), Assignment: map[string]string{}}
	if sp.StratifyBy == nil {
		sp.StratifyBy = []string{}
	}
	for _, e := range v.Entries {
		sp.Assignment[e.ID] = partOf[e.Patient]
	}
	sp.Leakage = CheckLeakage(v, sp.Assignment)
	attrs := slices.Clone(spec.StratifyBy)
	if !slices.Contains(attrs, "label") {
		attrs = append([]string{"label"}, attrs...)
	}
	sp.Balance = Balance(v, sp.Assignment, spec.Parts, attrs)
	return sp, nil
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func seedHash(seed int64, patient string) uint64 {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(seed))
	h := sha256.New()
	h.Write(b[:])
	h.Write([]byte(patient))
	return binary.BigEndian.Uint64(h.Sum(nil)[:8])
}

// CheckLeakage verifies from an assignment alone that no patient has
// entries in two parts (and that every entry is assigned).
func CheckLeakage(v *ethos.DatasetVersion, assignment map[string]string) ethos.DatasetLeakage {
	parts := map[string]map[string]bool{}
	missing := false
	for _, e := range v.Entries {
		p, ok := assignment[e.ID]
		if !ok || p == "" {
			missing = true
			continue
		}
		if parts[e.Patient] == nil {
			parts[e.Patient] = map[string]bool{}
		}
		parts[e.Patient][p] = true
	}
	l := ethos.DatasetLeakage{Patients: len(parts)}
	for p, s := range parts {
		if len(s) > 1 {
			l.Leaked = append(l.Leaked, p)
		}
	}
	slices.Sort(l.Leaked)
	l.Verified = len(l.Leaked) == 0 && !missing
	return l
}

// Balance counts the instances of each value of each attribute per part.
func Balance(v *ethos.DatasetVersion, assignment map[string]string, parts []ethos.DatasetSplitPart, attrs []string) []ethos.DatasetBalanceRow {
	var rows []ethos.DatasetBalanceRow
	for _, a := range attrs {
		counts := map[string]map[string]int{}
		for i := range v.Entries {
			e := &v.Entries[i]
			val := attrValue(e, a)
			if counts[val] == nil {
				counts[val] = map[string]int{}
			}
			counts[val][assignment[e.ID]]++
		}
		for _, val := range slices.Sorted(mapKeys(counts)) {
			r := ethos.DatasetBalanceRow{Attribute: a, Value: val, Counts: map[string]int{}, Fractions: map[string]float64{}}
			total := 0
			for _, p := range parts {
				r.Counts[p.Name] = counts[val][p.Name]
				total += r.Counts[p.Name]
			}
			for _, p := range parts {
				if total > 0 {
					r.Fractions[p.Name] = float64(r.Counts[p.Name]) / float64(total)
				}
			}
			rows = append(rows, r)
		}
	}
	return rows
}

// Split makes, checks and stores a split of a version of the caller's
// project. A split whose leakage check fails is never stored.
func (d *Datasets) Split(ctx context.Context, c *Caller, versionID string, spec SplitSpec) (*ethos.DatasetSplit, error) {
	if _, err := d.decide(ctx, c, ethos.StageProcessing, ethos.ActionWrite, c.Purpose, "", "dataset.split", "dataset-version/"+versionID); err != nil {
		return nil, err
	}
	v, err := d.Versions.DatasetVersion(ctx, versionID)
	if err != nil {
		return nil, err
	}
	if v.ProjectID != c.Project.ID {
		return nil, ethos.Errorf(ethos.ENOTFOUND, "dataset version %.12s not found in project %s", versionID, c.Project.ID)
	}
	sp, err := SplitVersion(v, spec)
	if err != nil {
		return nil, err
	}
	if !sp.Leakage.Verified {
		return nil, ethos.Errorf(ethos.EINTERNAL, "split: %d patients in more than one part", len(sp.Leakage.Leaked))
	}
	sp.CreatedAt, sp.CreatedBy = d.now(), c.Access.UserID
	if err := d.Versions.CreateDatasetSplit(ctx, sp); err != nil {
		return nil, err
	}
	var parts []string
	for _, p := range sp.Parts {
		parts = append(parts, fmt.Sprintf("%s=%g", p.Name, p.Fraction))
	}
	reason := fmt.Sprintf("split %s of %.12s: seed %d, parts %s, stratified by [%s], %d patients, leakage verified",
		sp.ID, v.ID, sp.Seed, strings.Join(parts, ","), strings.Join(sp.StratifyBy, ","), sp.Leakage.Patients)
	if err := d.audit(ctx, c, ethos.StageProcessing, c.Purpose, "dataset.split", "dataset-version/"+v.ID, "allow", reason); err != nil {
		return nil, err
	}
	return sp, nil
}

// Weight is the reweighing weight of one (group, label) cell (Kamiran and
// Calders 2012): the count expected if group and label were independent
// over the count observed, P(g)·P(l)/P(g,l). Training with these instance
// weights removes the statistical dependence between group and label.
type Weight struct {
	Group  string  `json:"group"` // attribute values joined by "|", in the order asked
	Label  string  `json:"label"`
	Count  int     `json:"count"`
	Weight float64 `json:"weight"`
}

// Reweigh computes the weights per (group, label) over the entries of v,
// with groups formed by the attributes given (at least one).
func Reweigh(v *ethos.DatasetVersion, attrs []string) ([]Weight, error) {
	if len(attrs) == 0 {
		return nil, ethos.Errorf(ethos.EINVALID, "reweigh: name at least one attribute")
	}
	n := len(v.Entries)
	if n == 0 {
		return nil, ethos.Errorf(ethos.EINVALID, "reweigh: empty dataset version")
	}
	groupN, labelN, cellN := map[string]int{}, map[string]int{}, map[[2]string]int{}
	for i := range v.Entries {
		g, l := groupOf(&v.Entries[i], attrs), attrValue(&v.Entries[i], "label")
		groupN[g]++
		labelN[l]++
		cellN[[2]string{g, l}]++
	}
	var out []Weight
	for k, c := range cellN {
		w := float64(groupN[k[0]]) * float64(labelN[k[1]]) / (float64(n) * float64(c))
		out = append(out, Weight{Group: k[0], Label: k[1], Count: c, Weight: w})
	}
	slices.SortFunc(out, func(a, b Weight) int {
		if c := strings.Compare(a.Group, b.Group); c != 0 {
			return c
		}
		return strings.Compare(a.Label, b.Label)
	})
	return out, nil
}

func groupOf(e *ethos.ManifestEntry, attrs []string) string {
	vals := make([]string, len(attrs))
	for i, a := range attrs {
		vals[i] = attrValue(e, a)
	}
	return strings.Join(vals, "|")
}
