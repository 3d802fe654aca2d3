package deployment

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/ethos-imaging/ethos"
)

// DefaultMatrix returns the default 5 × 5 matrix. Its regions follow common
// ISO 14971 practice: a band of acceptable cells for low severity or low
// probability, an ALARP band along the diagonal, and unacceptable cells
// where a serious harm is likely. Catastrophic harm (death) is never
// plainly acceptable, even when improbable.
//
//	severity \ probability  1 2 3 4 5
//	1 negligible            A A A A L
//	2 minor                 A A L L U
//	3 serious               A L L U U
//	4 critical              L L U U U
//	5 catastrophic          L U U U U
func DefaultMatrix() ethos.RiskMatrix {
	m, err := matrixFromGrid(
		[]string{"negligible", "minor", "serious", "critical", "catastrophic"},
		[]string{"improbable", "remote", "occasional", "probable", "frequent"},
		[]string{"AAAAL", "AALLU", "ALLUU", "LLUUU", "LUUUU"},
	)
	if err != nil {
		panic("deployment: default matrix: " + err.Error())
	}
	return m
}

// MaxMatrixConfig bounds the size of a matrix configuration file.
const MaxMatrixConfig = 64 << 10

// matrixConfig is the file form of a risk matrix: labels lowest first and
// one grid row per severity (lowest first), one letter per probability:
// A acceptable, L ALARP, U unacceptable.
type matrixConfig struct {
	Severity    []string `json:"severity"`
	Probability []string `json:"probability"`
	Grid        []string `json:"grid"`
}

// ParseMatrix reads a risk matrix configuration (JSON; see matrixConfig)
// and validates it. Errors say which field, row and column is wrong.
func ParseMatrix(r io.Reader) (ethos.RiskMatrix, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxMatrixConfig+1))
	if err != nil {
		return ethos.RiskMatrix{}, fmt.Errorf("read risk matrix: %w", err)
	}
	if len(data) > MaxMatrixConfig {
		return ethos.RiskMatrix{}, ethos.Errorf(ethos.EINVALID, "risk matrix: configuration larger than %d bytes", MaxMatrixConfig)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var c matrixConfig
	if err := dec.Decode(&c); err != nil {
		if se, ok := errors.AsType[*json.SyntaxError](err); ok {
			return ethos.RiskMatrix{}, ethos.Errorf(ethos.EINVALID, "risk matrix: byte offset %d: %v", se.Offset, err)
		}
		return ethos.RiskMatrix{}, ethos.Errorf(ethos.EINVALID, "risk matrix: %v", err)
	}
	if dec.More() {
		return ethos.RiskMatrix{}, ethos.Errorf(ethos.EINVALID, "risk matrix: byte offset %d: data after the configuration object", dec.InputOffset())
	}
	return matrixFromGrid(c.Severity, c.Probability, c.Grid)
}

// FormatMatrix writes m in the form ParseMatrix reads.
func FormatMatrix(w io.Writer, m ethos.RiskMatrix) error {
	c := matrixConfig{Severity: m.Severity[:], Probability: m.Probability[:]}
	for s := range ethos.RiskLevels {
		var b strings.Builder
		for p := range ethos.RiskLevels {
			b.WriteByte(regionLetter[m.Regions[s][p]])
		}
		c.Grid = append(c.Grid, b.String())
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(c)
}

var letterRegion = map[byte]ethos.RiskRegion{'A': ethos.RiskAcceptable, 'L': ethos.RiskALARP, 'U': ethos.RiskUnacceptable}
var regionLetter = map[ethos.RiskRegion]byte{ethos.RiskAcceptable: 'A', ethos.RiskALARP: 'L', ethos.RiskUnacceptable: 'U'}

func matrixFromGrid(sev, prob, grid []string) (ethos.RiskMatrix, error) {
	var m ethos.RiskMatrix
	if len(sev) != ethos.RiskLevels {
		return m, ethos.Errorf(ethos.EINVALID, "risk matrix: severity: want %d labels, got %d", ethos.RiskLevels, len(sev))
	}
	if len(prob) != ethos.RiskLevels {
		return m, ethos.Errorf(ethos.EINVALID, "risk matrix: probability: want %d labels, got %d", ethos.RiskLevels, len(prob))
	}
	if len(grid) != ethos.RiskLevels {
		return m, ethos.Errorf(ethos.EINVALID, "risk matrix: grid: want %d rows (one per severity), got %d", ethos.RiskLevels, len(grid))
	}
	copy(m.Severity[:], sev)
	copy(m.Probability[:], prob)
	for s, row := range grid {
		if len(row) != ethos.RiskLevels {
			return m, ethos.Errorf(ethos.EINVALID, "risk matrix: grid row %d (severity %d): want %d letters, got %d bytes", s+1, s+1, ethos.RiskLevels, len(row))
		}
		for p := range ethos.RiskLevels {
			r, ok := letterRegion[row[p]]
			if !ok {
				return m, ethos.Errorf(ethos.EINVALID, "risk matrix: grid row %d column %d: %q is not A, L or U", s+1, p+1, row[p])
			}
			m.Regions[s][p] = r
		}
	}
	return m, ValidateMatrix(m)
}

// ValidateMatrix checks labels (non-empty, distinct, at most 64 bytes) and
// regions: every cell set, and the region never becomes less severe when
// severity or probability rises (a matrix that calls a likelier or worse
// harm more acceptable is a configuration mistake). At least one cell must
// be unacceptable and one acceptable.
func ValidateMatrix(m ethos.RiskMatrix) error {
	for _, axis := range []struct {
		name   string
		labels []string
	}{{"severity", m.Severity[:]}, {"probability", m.Probability[:]}} {
		seen := map[string]bool{}
		for i, l := range axis.labels {
			if strings.TrimSpace(l) == "" || len(l) > 64 {
				return ethos.Errorf(ethos.EINVALID, "risk matrix: %s label %d: want 1 to 64 bytes of text", axis.name, i+1)
			}
			if seen[l] {
				return ethos.Errorf(ethos.EINVALID, "risk matrix: %s label %d: %q repeated", axis.name, i+1, l)
			}
			seen[l] = true
		}
	}
	var hasA, hasU bool
	for s := range ethos.RiskLevels {
		for p := range ethos.RiskLevels {
			r := m.Regions[s][p]
			if r.Rank() < 0 {
				return ethos.Errorf(ethos.EINVALID, "risk matrix: severity %d probability %d: unknown region %q", s+1, p+1, r)
			}
			hasA = hasA || r == ethos.RiskAcceptable
			hasU = hasU || r == ethos.RiskUnacceptable
			if s > 0 && r.Rank() < m.Regions[s-1][p].Rank() {
				return ethos.Errorf(ethos.EINVALID, "risk matrix: severity %d probability %d: %s is less severe than %s at the lower severity %d", s+1, p+1, r, m.Regions[s-1][p], s)
			}
			if p > 0 && r.Rank() < m.Regions[s][p-1].Rank() {
				return ethos.Errorf(ethos.EINVALID, "risk matrix: severity %d probability %d: %s is less severe than %s at the lower probability %d", s+1, p+1, r, m.Regions[s][p-1], p)
			}
		}
	}
	if !hasA || !hasU {
		return ethos.Errorf(ethos.EINVALID, "risk matrix: needs at least one acceptable and one unacceptable cell")
	}
	return nil
}

// Region returns the region of score s in m.
func Region(m ethos.RiskMatrix, s ethos.RiskScore) (ethos.RiskRegion, error) {
	if !s.Valid() {
		return "", ethos.Errorf(ethos.EINVALID, "risk score: severity %d probability %d: each must be 1 to %d", s.Severity, s.Probability, ethos.RiskLevels)
	}
	return m.Regions[s.Severity-1][s.Probability-1], nil
}

// Gap is one thing missing or wrong in a risk register.
type Gap struct {
	RiskID  string `json:"risk_id,omitempty"` // "" for register-wide gaps
	Field   string `json:"field"`
	Problem string `json:"problem"`
}

func (g Gap) String() string {
	if g.RiskID == "" {
		return g.Field + ": " + g.Problem
	}
	return "risk " + g.RiskID + ": " + g.Field + ": " + g.Problem
}

// IncompleteError lists every gap of a register judged incomplete.
type IncompleteError struct{ Gaps []Gap }

func (e *IncompleteError) Error() string {
	parts := make([]string, len(e.Gaps))
	for i, g := range e.Gaps {
		parts[i] = g.String()
	}
	return fmt.Sprintf("risk register incomplete (%d gaps): %s", len(e.Gaps), strings.Join(parts, "; "))
}

// Unwrap gives the coded error a user sees.
func (e *IncompleteError) Unwrap() error {
	return ethos.Errorf(ethos.EINVALID, "%s", e.Error())
}

// Complete checks a register before go-live (QC-DEP-3) and returns every
// gap, in register order; none means complete. It checks that:
//   - the matrix is valid and the register names its stakeholder roles;
//   - every hazard of catalogue is a risk or declared not applicable with a reason;
//   - every risk has a hazard, a valid initial score, controls unless its
//     initial risk is acceptable, verified controls, and a residual score
//     no worse than the initial one;
//   - an ALARP residual has a rationale, an unacceptable residual a
//     signed acceptance by a permitted role;
//   - every stakeholder role acknowledged the current revision, at or
//     after the time it was made.
func Complete(reg *ethos.RiskRegister, catalogue []ethos.Hazard) []Gap {
	var gaps []Gap
	add := func(id, field, format string, args ...any) {
		gaps = append(gaps, Gap{RiskID: id, Field: field, Problem: fmt.Sprintf(format, args...)})
	}
	matrixOK := true
	if err := ValidateMatrix(reg.Matrix); err != nil {
		matrixOK = false
		add("", "matrix", "%s", ethos.ErrorMessage(err))
	}
	if reg.Revision < 1 {
		add("", "revision", "must be 1 or more")
	}
	if reg.RevisedAt.IsZero() {
		add("", "revised_at", "the time of this revision is not recorded")
	}
	if len(reg.Risks) == 0 {
		add("", "risks", "the register has no risks")
	}
	if len(reg.StakeholderRoles) == 0 {
		add("", "stakeholder_roles", "the deployment plan names no stakeholder roles")
	}
	for _, r := range reg.StakeholderRoles {
		if !r.Valid() {
			add("", "stakeholder_roles", "unknown role %q", r)
		}
	}
	accepters := reg.AcceptanceRoles
	if len(accepters) == 0 {
		accepters = []ethos.Role{ethos.RoleEthicsReviewer}
	}

	covered := map[string]bool{}
	seen := map[string]bool{}
	for i, r := range reg.Risks {
		id := r.ID
		if id == "" {
			id = fmt.Sprintf("#%d", i+1)
			add(id, "id", "missing")
		} else if seen[id] {
			add(id, "id", "repeated")
		}
		seen[id] = true
		covered[r.Hazard.ID] = true
		if r.Hazard.ID == "" || strings.TrimSpace(r.Hazard.Title) == "" {
			add(id, "hazard", "needs an id and a title")
		}
		if strings.TrimSpace(r.Hazard.Harm) == "" {
			add(id, "hazard.harm", "the harm it can lead to is not described")
		}
		initial, err := Region(reg.Matrix, r.Initial)
		if err != nil {
			add(id, "initial", "%s", ethos.ErrorMessage(err))
		}
		if len(r.Controls) == 0 && (err != nil || initial != ethos.RiskAcceptable) {
			add(id, "controls", "none, and the initial risk is not acceptable")
		}
		for j, c := range r.Controls {
			if strings.TrimSpace(c.Description) == "" {
				add(id, fmt.Sprintf("controls[%d]", j), "no description")
			}
			switch c.Kind {
			case ethos.ControlByDesign, ethos.ControlProtective, ethos.ControlInformation:
			default:
				add(id, fmt.Sprintf("controls[%d].kind", j), "%q is not by-design, protective or information", c.Kind)
			}
			if strings.TrimSpace(c.Verification) == "" {
				add(id, fmt.Sprintf("controls[%d].verification", j), "implementation and effect not verified")
			}
		}
		if r.Residual == nil {
			add(id, "residual", "not re-scored after controls")
			continue
		}
		residual, rerr := Region(reg.Matrix, *r.Residual)
		if rerr != nil {
			add(id, "residual", "%s", ethos.ErrorMessage(rerr))
			continue
		}
		if err == nil && (r.Residual.Severity > r.Initial.Severity || r.Residual.Probability > r.Initial.Probability) {
			add(id, "residual", "scored worse than before controls (severity %d→%d, probability %d→%d)",
				r.Initial.Severity, r.Residual.Severity, r.Initial.Probability, r.Residual.Probability)
		}
		if !matrixOK {
			continue
		}
		switch residual {
		case ethos.RiskALARP:
			if strings.TrimSpace(r.ALARPRationale) == "" {
				add(id, "alarp_rationale", "residual risk is ALARP but no rationale says why it cannot be reduced further")
			}
		case ethos.RiskUnacceptable:
			a := r.Acceptance
			switch {
			case a == nil:
				add(id, "acceptance", "residual risk is unacceptable and no signed justification is recorded")
			case a.UserID == "" || a.At.IsZero() || strings.TrimSpace(a.Reason) == "":
				add(id, "acceptance", "justification must name who signed, when and why")
			case !slices.Contains(accepters, a.Role):
				add(id, "acceptance", "signed as %q; only %s may accept an unacceptable residual risk", a.Role, roleList(accepters))
			}
		}
	}
	for _, h := range catalogue {
		if covered[h.ID] {
			continue
		}
		if reason, ok := reg.NotApplicable[h.ID]; ok && strings.TrimSpace(reason) != "" {
			continue
		}
		add("", "hazards", "catalogue hazard %s (%s) is neither assessed nor declared not applicable with a reason", h.ID, h.Title)
	}
	acked := map[ethos.Role]bool{}
	for _, a := range reg.Acknowledgements {
		if a.Revision == reg.Revision && a.UserID != "" && !a.At.IsZero() && !a.At.Before(reg.RevisedAt) {
			acked[a.Role] = true
		}
	}
	for _, r := range reg.StakeholderRoles {
		if !acked[r] {
			add("", "acknowledgements", "no %s has acknowledged revision %d", r, reg.Revision)
		}
	}
	return gaps
}

// CheckComplete returns nil when the register is complete and an
// *IncompleteError listing every gap otherwise.
func CheckComplete(reg *ethos.RiskRegister, catalogue []ethos.Hazard) error {
	if gaps := Complete(reg, catalogue); len(gaps) > 0 {
		return &IncompleteError{Gaps: gaps}
	}
	return nil
}

func roleList(rs []ethos.Role) string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = string(r)
	}
	return strings.Join(s, ", ")
}
