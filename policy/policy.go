package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/ethos-imaging/ethos"
)

// Cell is one cell of the effective access matrix.
type Cell struct {
	Stage     ethos.Stage       `json:"stage"`
	PartyType ethos.PartyType   `json:"party_type"`
	Level     ethos.AccessLevel `json:"level"`
	Framework ethos.AccessLevel `json:"framework"` // the framework's level for the cell
	Openness  string            `json:"openness"`  // the framework's openness word for the stage
	Widened   bool              `json:"widened"`   // more open than the framework
	Narrowed  bool              `json:"narrowed"`  // more closed than the framework
	Note      string            `json:"note,omitempty"`
}

// Policy is an effective access policy: the framework's matrix with the
// deployment's overrides, and the role rules. A Policy is immutable after
// Load and safe for concurrent use.
type Policy struct {
	cells [5][3]ethos.AccessLevel
	notes [5][3]string
}

// Default returns the framework's policy with no override.
func Default() *Policy { return &Policy{cells: frameworkMatrix} }

// Source names the framework table the default policy comes from.
func Source() string { return frameworkSource }

// LevelMeaning returns the framework's definition of a level.
func LevelMeaning(l ethos.AccessLevel) string { return levelMeaning[l] }

// File is the policy override file: cells that differ from the framework.
//
//	{"cells": [{"stage": "processing", "party_type": "private", "level": "limited",
//	            "note": "IRB 2026-14: vendor may see de-identified processing data"}]}
type File struct {
	Cells []FileCell `json:"cells"`
}

// FileCell is one override.
type FileCell struct {
	Stage     ethos.Stage       `json:"stage"`
	PartyType ethos.PartyType   `json:"party_type"`
	Level     ethos.AccessLevel `json:"level"`
	Note      string            `json:"note"`
}

// ErrWider is returned by Load when the file opens a cell beyond the
// framework and AllowWider was not given.
var ErrWider = errors.New("policy: override is more open than the framework")

// FileError is a problem in a policy file, with the cell it is in.
type FileError struct {
	Cell   int // index in "cells", or -1 for the whole file
	Reason string
	Err    error
}

func (e *FileError) Error() string {
	if e.Cell < 0 {
		return "policy file: " + e.Reason
	}
	return fmt.Sprintf("policy file: cells[%d]: %s", e.Cell, e.Reason)
}

func (e *FileError) Unwrap() error { return e.Err }

// LoadOptions tunes Load.
type LoadOptions struct {
	// AllowWider accepts cells more open than the framework (the
	// --allow-wider-than-framework flag). They are still reported by
	// Widened.
	AllowWider bool
}

// maxPolicyFile bounds the size of a policy file.
const maxPolicyFile = 1 << 20

// Load reads an override file (JSON, unknown fields refused) and returns
// the effective policy.
func Load(r io.Reader, opts LoadOptions) (*Policy, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxPolicyFile+1))
	if err != nil {
		return nil, fmt.Errorf("read policy file: %w", err)
	}
	if len(data) > maxPolicyFile {
		return nil, &FileError{Cell: -1, Reason: fmt.Sprintf("larger than %d bytes", maxPolicyFile)}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f File
	if err := dec.Decode(&f); err != nil {
		return nil, &FileError{Cell: -1, Reason: err.Error(), Err: err}
	}
	if dec.More() {
		return nil, &FileError{Cell: -1, Reason: "data after the JSON object"}
	}
	return New(f, opts)
}

// New returns the effective policy for the overrides in f.
func New(f File, opts LoadOptions) (*Policy, error) {
	p := Default()
	seen := map[[2]int]int{}
	for i, c := range f.Cells {
		si, ti := c.Stage.Index(), c.PartyType.Index()
		switch {
		case si < 0:
			return nil, &FileError{Cell: i, Reason: fmt.Sprintf("unknown stage %q", c.Stage)}
		case ti < 0:
			return nil, &FileError{Cell: i, Reason: fmt.Sprintf("unknown party_type %q", c.PartyType)}
		case c.Level.Rank() < 0:
			return nil, &FileError{Cell: i, Reason: fmt.Sprintf("unknown level %q (want no, limited or yes)", c.Level)}
		}
		if j, dup := seen[[2]int{si, ti}]; dup {
			return nil, &FileError{Cell: i, Reason: fmt.Sprintf("%s/%s already set by cells[%d]", c.Stage, c.PartyType, j)}
		}
		seen[[2]int{si, ti}] = i
		if c.Level.Rank() > frameworkMatrix[si][ti].Rank() && !opts.AllowWider {
			return nil, &FileError{Cell: i, Err: ErrWider, Reason: fmt.Sprintf("%s/%s set to %q, more open than the framework's %q; pass --allow-wider-than-framework to accept",
				c.Stage, c.PartyType, c.Level, frameworkMatrix[si][ti])}
		}
		p.cells[si][ti] = c.Level
		p.notes[si][ti] = c.Note
	}
	return p, nil
}

// Level returns the effective level of a cell ("" for an unknown stage or
// party type).
func (p *Policy) Level(s ethos.Stage, t ethos.PartyType) ethos.AccessLevel {
	si, ti := s.Index(), t.Index()
	if si < 0 || ti < 0 {
		return ""
	}
	return p.cells[si][ti]
}

// Cells returns the 15 cells of the effective matrix, stage by stage.
func (p *Policy) Cells() []Cell {
	out := make([]Cell, 0, 15)
	for si, s := range ethos.Stages {
		for ti, t := range ethos.PartyTypes {
			l, fw := p.cells[si][ti], frameworkMatrix[si][ti]
			out = append(out, Cell{Stage: s, PartyType: t, Level: l, Framework: fw, Openness: stageOpenness[si],
				Widened: l.Rank() > fw.Rank(), Narrowed: l.Rank() < fw.Rank(), Note: p.notes[si][ti]})
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
