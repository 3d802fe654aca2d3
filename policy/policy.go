// Package policy is Ethos's single access decision point. It is pure: it
// reads nothing and writes nothing, it answers one AccessRequest with one
// AccessDecision naming the rule that decided and a reason a user can read.
//
// The default policy is the framework's access matrix
// (../shared/framework/access-matrix.json, turned into matrix_gen.go by
// go generate) together with the role rules of roles.go, documented in
// docs/access.md. A deployment may override matrix cells with a policy file
// (Load); a cell made more open than the framework is refused unless the
// caller allows it explicitly, and is then reported as widened.
package policy

//go:generate go run ./internal/gen -in ../../shared/framework/access-matrix.json -out matrix_gen.go

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"

	"github.com/ethos-imaging/ethos"
)

// partyIndex returns the column of t in the matrix, or -1.
func partyIndex(t ethos.PartyType) int {
	switch t {
	case ethos.PartyPublic:
		return 0
	case ethos.PartyPrivate:
		return 1
	case ethos.PartyThirdParty:
		return 2
	}
	return -1
}

// Cell is one cell of the effective matrix.
type Cell struct {
	Stage     ethos.Stage     `json:"stage"`
	PartyType ethos.PartyType `json:"party_type"`
	Level     ethos.Level     `json:"level"`
	Framework ethos.Level     `json:"framework"` // the framework's level
	Source    string          `json:"source"`    // "framework" or "override"
	Widened   bool            `json:"widened"`   // more open than the framework
	Note      string          `json:"note,omitempty"`
}

// cell is the decision data of one cell, with its reasons prepared so
// Decide does not format strings.
type cell struct {
	Cell
	rule       string
	denyReason string
	yesReason  string
}

// Policy is an effective access policy. The zero value is not usable; use
// Default or Load. A Policy is immutable and safe for concurrent use.
type Policy struct {
	cells [5][3]cell
}

// Default returns the framework's policy with no override.
func Default() *Policy {
	p := &Policy{}
	for si, st := range ethos.Stages {
		for pi, pt := range ethos.PartyTypes {
			l := frameworkMatrix[si][pi]
			p.cells[si][pi] = newCell(Cell{Stage: st, PartyType: pt, Level: l, Framework: l, Source: "framework"})
		}
	}
	return p
}

func newCell(c Cell) cell {
	src := "the framework"
	if c.Source == "override" {
		src = "this deployment's policy override"
		if c.Widened {
			src = "this deployment's policy override (wider than the framework)"
		}
	}
	return cell{
		Cell: c,
		rule: "matrix." + string(c.Stage) + "." + string(c.PartyType),
		denyReason: fmt.Sprintf("the %s stage is closed to %s parties (%s, level no)",
			c.Stage, partyWord(c.PartyType), src),
		yesReason: fmt.Sprintf("the %s stage is open to %s parties within their role (%s, level yes)",
			c.Stage, partyWord(c.PartyType), src),
	}
}

func partyWord(t ethos.PartyType) string {
	if t == ethos.PartyThirdParty {
		return "third-party"
	}
	return string(t)
}

// Override is the policy file: cells that replace the framework's.
type Override struct {
	Cells []OverrideCell `json:"cells"`
}

// OverrideCell replaces one cell of the matrix.
type OverrideCell struct {
	Stage     ethos.Stage     `json:"stage"`
	PartyType ethos.PartyType `json:"party_type"`
	Level     ethos.Level     `json:"level"`
	Note      string          `json:"note"` // why the deployment differs (kept for access show)
}

// WidenedError reports an override cell more open than the framework when
// widening was not allowed.
type WidenedError struct {
	Stage     ethos.Stage
	PartyType ethos.PartyType
	Level     ethos.Level
	Framework ethos.Level
}

func (e *WidenedError) Error() string {
	return fmt.Sprintf("policy override: %s/%s = %s is more open than the framework's %s (needs --allow-wider-than-framework)",
		e.Stage, e.PartyType, e.Level, e.Framework)
}

// Load reads a policy file (JSON, see Override) and returns the framework
// policy with its cells replaced. A cell more open than the framework is a
// *WidenedError unless allowWider; unknown fields, unknown stages, party
// types or levels and duplicate cells are errors naming the cell.
func Load(r io.Reader, allowWider bool) (*Policy, error) {
	data, err := io.ReadAll(io.LimitReader(r, 1<<20+1))
	if err != nil {
		return nil, fmt.Errorf("policy override: %w", err)
	}
	if len(data) > 1<<20 {
		return nil, fmt.Errorf("policy override: larger than 1 MiB")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var o Override
	if err := dec.Decode(&o); err != nil {
		return nil, fmt.Errorf("policy override: %w", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("policy override: data after the JSON object")
	}
	return Apply(o, allowWider)
}

// Apply returns the framework policy with o's cells replaced (see Load).
func Apply(o Override, allowWider bool) (*Policy, error) {
	p := Default()
	seen := map[[2]int]bool{}
	for i, oc := range o.Cells {
		si, pi := oc.Stage.Index(), partyIndex(oc.PartyType)
		switch {
		case si < 0:
			return nil, fmt.Errorf("policy override: cells[%d]: unknown stage %q", i, oc.Stage)
		case pi < 0:
			return nil, fmt.Errorf("policy override: cells[%d]: unknown party_type %q", i, oc.PartyType)
		case !oc.Level.Valid():
			return nil, fmt.Errorf("policy override: cells[%d]: unknown level %q (want no, limited or yes)", i, oc.Level)
		case seen[[2]int{si, pi}]:
			return nil, fmt.Errorf("policy override: cells[%d]: %s/%s given twice", i, oc.Stage, oc.PartyType)
		}
		seen[[2]int{si, pi}] = true
		fw := frameworkMatrix[si][pi]
		wider := oc.Level.Rank() > fw.Rank()
		if wider && !allowWider {
			return nil, &WidenedError{Stage: oc.Stage, PartyType: oc.PartyType, Level: oc.Level, Framework: fw}
		}
		p.cells[si][pi] = newCell(Cell{Stage: oc.Stage, PartyType: oc.PartyType, Level: oc.Level,
			Framework: fw, Source: "override", Widened: wider, Note: oc.Note})
	}
	return p, nil
}

// Cells returns the effective matrix, stage by stage.
func (p *Policy) Cells() []Cell {
	out := make([]Cell, 0, 15)
	for si := range p.cells {
		for pi := range p.cells[si] {
			out = append(out, p.cells[si][pi].Cell)
		}
	}
	return out
}

// Widened returns the cells more open than the framework.
func (p *Policy) Widened() []Cell {
	var out []Cell
	for _, c := range p.Cells() {
		if c.Widened {
			out = append(out, c)
		}
	}
	return out
}

// Level returns the effective level of a stage for a party type.
func (p *Policy) Level(s ethos.Stage, t ethos.PartyType) ethos.Level {
	si, pi := s.Index(), partyIndex(t)
	if si < 0 || pi < 0 {
		return ethos.LevelNo
	}
	return p.cells[si][pi].Level
}

// FrameworkSource names the document the default matrix comes from.
func FrameworkSource() string { return matrixSource }

// LevelMeaning returns the framework's definition of a level.
func LevelMeaning(l ethos.Level) string { return levelMeaning[l] }

// StageOpenness returns the framework's openness of a stage.
func StageOpenness(s ethos.Stage) string {
	if i := s.Index(); i >= 0 {
		return stageOpenness[i]
	}
	return ""
}

var _ ethos.Decider = (*Policy)(nil)
