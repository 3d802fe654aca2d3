package processing

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/ethos-imaging/ethos"
)

// Limits of a label file.
const (
	MaxLabelBytes  = 64 << 20 // whole file
	MaxLabelLen    = 64       // one label, in bytes
	maxLabelErrors = 100      // errors reported before giving up
)

// ErrLabels is the sentinel of every label file error.
var ErrLabels = errors.New("label file rejected")

// LabelError is one problem in a label file, by position: row 1 is the
// header; Column is 1-based (0 when the whole row is at fault).
type LabelError struct {
	Row    int
	Column int
	Msg    string
}

func (e *LabelError) Error() string {
	if e.Column > 0 {
		return fmt.Sprintf("row %d, column %d: %s", e.Row, e.Column, e.Msg)
	}
	return fmt.Sprintf("row %d: %s", e.Row, e.Msg)
}

// LabelErrors are all the problems found in one file; nothing of the file
// is applied when there is one.
type LabelErrors struct {
	Errs      []*LabelError
	Truncated bool // more errors than were kept
}

func (e *LabelErrors) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%v: %d error(s)", ErrLabels, len(e.Errs))
	for i, x := range e.Errs {
		if i == 5 {
			fmt.Fprintf(&b, "; …")
			break
		}
		b.WriteString("; ")
		b.WriteString(x.Error())
	}
	return b.String()
}

func (e *LabelErrors) Unwrap() error { return ErrLabels }

// LabelSpec says what a label file may contain.
type LabelSpec struct {
	// Known reports whether an id names an entry of the version.
	Known func(id string) bool
	// Allowed, when not empty, is the closed set of label values.
	Allowed []string
}

// ParseLabels reads a CSV label file: a header with the columns "id" and
// "label" (in any order, other columns not allowed), then one row per
// entry. Every row is checked — unknown id, id given twice, empty, too
// long, not UTF-8, control characters, outer spaces, value outside the
// allowed set — and every problem is reported with its row and column;
// the map is returned only when the file has none. Ids are never echoed
// in errors beyond the row number (they are pseudonyms, but files from
// outside may hold anything in that column).
func ParseLabels(r io.Reader, spec LabelSpec) (map[string]string, error) {
	lr := &io.LimitedReader{R: r, N: MaxLabelBytes + 1}
	cr := csv.NewReader(lr)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	errs := &LabelErrors{}
	add := func(row, col int, format string, args ...any) bool {
		if len(errs.Errs) >= maxLabelErrors {
			errs.Truncated = true
			return false
		}
		errs.Errs = append(errs.Errs, &LabelError{Row: row, Column: col, Msg: fmt.Sprintf(format, args...)})
		return true
	}
	header, err := cr.Read()
	if err != nil {
		if err == io.EOF {
			add(1, 0, "empty file: want a header with id and label")
		} else {
			add(1, 0, "%s", csvMsg(err))
		}
		return nil, errs
	}
	idCol, labelCol := -1, -1
	for i, h := range header {
		switch strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))) {
		case "id":
			if idCol >= 0 {
				add(1, i+1, "column id given twice")
			}
			idCol = i
		case "label":
			if labelCol >= 0 {
				add(1, i+1, "column label given twice")
			}
			labelCol = i
		default:
			add(1, i+1, "unknown column (want id and label)")
		}
	}
	if idCol < 0 || labelCol < 0 {
		add(1, 0, "header must name the columns id and label")
	}
	if len(errs.Errs) > 0 {
		return nil, errs
	}
	allowed := map[string]bool{}
	for _, a := range spec.Allowed {
		allowed[a] = true
	}
	out := map[string]string{}
	firstRow := map[string]int{}
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			row := 0
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				row = pe.StartLine
			}
			add(row, 0, "%s", csvMsg(err))
			if !errors.As(err, &pe) || pe.Err != csv.ErrFieldCount {
				break // the reader cannot resync after a quoting error
			}
			continue
		}
		row, _ := cr.FieldPos(0)
		if len(rec) != len(header) {
			if !add(row, 0, "%d fields, the header has %d", len(rec), len(header)) {
				break
			}
			continue
		}
		id, label := rec[idCol], rec[labelCol]
		ok := true
		switch {
		case id == "":
			ok = add(row, idCol+1, "empty id")
		case spec.Known != nil && !spec.Known(id):
			ok = add(row, idCol+1, "unknown instance: no entry of the dataset version has this id")
		case firstRow[id] != 0:
			ok = add(row, idCol+1, "duplicate: the same id is labelled on row %d", firstRow[id])
		}
		if id != "" && firstRow[id] == 0 {
			firstRow[id] = row
		}
		if why := badLabel(label); why != "" {
			ok = add(row, labelCol+1, "bad label: %s", why) && ok
		} else if len(allowed) > 0 && !allowed[label] {
			ok = add(row, labelCol+1, "bad label: not one of %s", strings.Join(slices.Sorted(mapsKeys(allowed)), ", ")) && ok
		}
		if !ok && errs.Truncated {
			break
		}
		out[id] = label
	}
	if lr.N <= 0 {
		add(0, 0, "file larger than %d bytes", MaxLabelBytes)
	}
	if len(errs.Errs) > 0 {
		return nil, errs
	}
	if len(out) == 0 {
		add(2, 0, "no label rows")
		return nil, errs
	}
	return out, nil
}

func mapsKeys(m map[string]bool) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func csvMsg(err error) string {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return "malformed CSV: " + pe.Err.Error()
	}
	return "read: " + err.Error()
}

// badLabel says why s cannot be a label ("" when it can).
func badLabel(s string) string {
	switch {
	case s == "":
		return "empty"
	case len(s) > MaxLabelLen:
		return fmt.Sprintf("longer than %d bytes", MaxLabelLen)
	case !utf8.ValidString(s):
		return "not UTF-8"
	case strings.TrimSpace(s) != s:
		return "leading or trailing space"
	case strings.ContainsRune("=+@", rune(s[0])):
		return "starts with =, + or @ (a spreadsheet would run it as a formula)"
	}
	for _, c := range s {
		if unicode.IsControl(c) {
			return "control character"
		}
	}
	return ""
}

// ImportLabels applies a label file to a version and stores the result as
// a new version whose parent is the old one: all rows or none (a file with
// any error changes nothing). Entries the file does not name keep their
// labels. Returns the new version (or the existing one with the same
// content) and the diff from the parent.
func (d *Datasets) ImportLabels(ctx context.Context, c *Caller, versionID string, r io.Reader, allowed []string) (*ethos.DatasetVersion, *Diff, error) {
	if _, err := d.decide(ctx, c, ethos.StageProcessing, ethos.ActionWrite, c.Purpose, "", "dataset.labels", "dataset-version/"+versionID); err != nil {
		return nil, nil, err
	}
	old, err := d.Versions.DatasetVersion(ctx, versionID)
	if err != nil {
		return nil, nil, err
	}
	if old.ProjectID != c.Project.ID {
		return nil, nil, ethos.Errorf(ethos.ENOTFOUND, "dataset version %.12s not found in project %s", versionID, c.Project.ID)
	}
	known := map[string]bool{}
	for _, e := range old.Entries {
		known[e.ID] = true
	}
	labels, err := ParseLabels(r, LabelSpec{Known: func(id string) bool { return known[id] }, Allowed: allowed})
	if err != nil {
		if aerr := d.audit(ctx, c, ethos.StageProcessing, c.Purpose, "dataset.labels", "dataset-version/"+versionID, "", "label file rejected: "+firstLine(err)); aerr != nil {
			return nil, nil, errors.Join(err, aerr)
		}
		return nil, nil, err
	}
	v := &ethos.DatasetVersion{ProjectID: old.ProjectID, RunID: old.RunID, Parent: old.ID, Description: old.Description,
		CreatedAt: d.now(), CreatedBy: c.Access.UserID, Entries: slices.Clone(old.Entries), Members: slices.Clone(old.Members)}
	for i := range v.Entries {
		if l, ok := labels[v.Entries[i].ID]; ok {
			v.Entries[i].Label = l
		}
	}
	diff := DiffVersions(old, v)
	nv, err := d.store(ctx, c, v, "dataset.labels", fmt.Sprintf("labels for %d entries from version %.12s: %d relabelled", len(labels), old.ID, len(diff.Relabelled)))
	if err != nil {
		return nil, nil, err
	}
	return nv, diff, nil
}

func firstLine(err error) string {
	var le *LabelErrors
	if errors.As(err, &le) && len(le.Errs) > 0 {
		return fmt.Sprintf("%d error(s), first: %s", len(le.Errs), le.Errs[0].Error())
	}
	return ethos.ErrorMessage(err)
}
