package deid

import (
	"fmt"
	"slices"
	"strings"
)

//go:generate go run ./internal/gentable

// Code is an action code of PS3.15 Table E.1-1 as printed in the standard:
// a single action (X, Z, D, K, C, U) or a compound one (X/Z, X/D, Z/D,
// X/Z/D, X/Z/U*) that is resolved by the attribute's type in the IOD.
type Code string

// Rule is one row of Table E.1-1: the Basic Profile action of an attribute
// and, for each option that changes it, the action under that option.
type Rule struct {
	Tag      uint32 // group<<16 | element; for masked rows the fixed bits
	Mask     uint32 // bits of Tag that must match (0xFFFFFFFF for one tag)
	Private  bool   // the "(gggg,eeee) where gggg is odd" row
	Name     string
	Keyword  string
	VR       string // from the PS3.6 dictionary; "" when not listed there
	InStdIOD bool   // used in a standard composite IOD
	Basic    Code
	Options  [numTableOptions]Code
}

// Matches reports whether the rule applies to tag t.
func (r *Rule) Matches(t uint32) bool {
	if r.Private {
		return t>>16&1 == 1
	}
	return t&r.Mask == r.Tag
}

// TagString formats the rule's tag as in the standard, with xx for
// masked nibbles.
func (r *Rule) TagString() string {
	if r.Private {
		return "(gggg,eeee) odd group"
	}
	var b strings.Builder
	b.WriteByte('(')
	for i := 7; i >= 0; i-- {
		if i == 3 {
			b.WriteByte(',')
		}
		if (r.Mask>>(4*i))&0xF == 0 {
			b.WriteByte('x')
			continue
		}
		fmt.Fprintf(&b, "%X", (r.Tag>>(4*i))&0xF)
	}
	b.WriteByte(')')
	return b.String()
}

// Action is a resolved, single de-identification action.
type Action uint8

// The resolved actions. Remove, Zero, Dummy, Keep, Clean and UID are
// the codes X, Z, D, K, C and U of PS3.15 E.1.1; Shift is the Clean
// action applied to a date or time under the Retain Longitudinal
// Temporal Information with Modified Dates option.
const (
	Keep Action = iota
	Remove
	Zero
	Dummy
	Clean
	UID
	Shift
	numActions
)

var actionNames = [numActions]string{"keep", "remove", "zero", "dummy", "clean", "uid", "shift"}

// String returns the action's lower-case name, as used in reports and
// profile files.
func (a Action) String() string {
	if a >= numActions {
		return fmt.Sprintf("Action(%d)", a)
	}
	return actionNames[a]
}

// Letter returns the action's code letter of Table E.1-1.
func (a Action) Letter() string {
	return [numActions]string{"K", "X", "Z", "D", "C", "U", "C"}[a]
}

// ParseAction accepts an action name or its single-letter code.
func ParseAction(s string) (Action, error) {
	ls := strings.ToLower(strings.TrimSpace(s))
	for i, n := range actionNames {
		if ls == n {
			return Action(i), nil
		}
	}
	switch ls {
	case "k":
		return Keep, nil
	case "x":
		return Remove, nil
	case "z":
		return Zero, nil
	case "d":
		return Dummy, nil
	case "c":
		return Clean, nil
	case "u":
		return UID, nil
	}
	return 0, fmt.Errorf("deid: unknown action %q", s)
}

// MarshalText implements encoding.TextMarshaler.
func (a Action) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (a *Action) UnmarshalText(b []byte) error {
	v, err := ParseAction(string(b))
	if err != nil {
		return err
	}
	*a = v
	return nil
}

// Table returns a copy of Table E.1-1 as generated from the standard.
func Table() []Rule { return slices.Clone(tableE11) }

// ruleIndex maps single tags to their row; masked rows are searched
// linearly (there are three).
var (
	ruleIndex  = map[uint32]*Rule{}
	maskedRows []*Rule
	privateRow *Rule
)

func init() {
	for i := range tableE11 {
		r := &tableE11[i]
		switch {
		case r.Private:
			privateRow = r
		case r.Mask != 0xFFFFFFFF:
			maskedRows = append(maskedRows, r)
		default:
			ruleIndex[r.Tag] = r
		}
	}
}

// LookupRule returns the Table E.1-1 row for tag t, if any. Private tags
// (odd groups) match the private-attributes row.
func LookupRule(t uint32) (*Rule, bool) {
	if r, ok := ruleIndex[t]; ok {
		return r, true
	}
	if t>>16&1 == 1 {
		return privateRow, privateRow != nil
	}
	for _, r := range maskedRows {
		if r.Matches(t) {
			return r, true
		}
	}
	return nil, false
}

// Code returns the action code of the rule under the option set: an
// option that keeps the attribute (K) wins over one that cleans it (C),
// which wins over the Basic Profile action.
func (r *Rule) Code(opts Options) (code Code, by Option, optional bool) {
	var clean Option = -1
	for o := range numTableOptions {
		if !opts.Has(o) {
			continue
		}
		switch r.Options[o] {
		case "K":
			return "K", o, true
		case "C":
			if clean < 0 {
				clean = o
			}
		}
	}
	if clean >= 0 {
		return "C", clean, true
	}
	return r.Basic, -1, false
}

// AttrType is the type of an attribute in an IOD (PS3.3): 1 required with
// a value, 2 required possibly empty, 3 optional.
type AttrType uint8

// The attribute types. TypeUnknown means the engine has no module table
// entry for the attribute in the instance's IOD.
const (
	TypeUnknown AttrType = iota
	Type1
	Type2
	Type3
)

// Resolve turns a (possibly compound) code into one action. For compound
// codes PS3.15 E.1.1 picks the first action unless the attribute's type
// requires a later one to keep the IOD conformant: Type 3 → X, Type 2 → Z,
// Type 1 → D (or U for X/Z/U*, which keeps a sequence of references and
// replaces the UIDs inside). When the type is unknown, the action that
// keeps the object conformant whatever its type is chosen; every such
// action stores no original information (a zero-length value, a dummy, or
// consistently replaced UIDs).
func Resolve(c Code, t AttrType) (Action, error) {
	switch c {
	case "K":
		return Keep, nil
	case "X":
		return Remove, nil
	case "Z":
		return Zero, nil
	case "D":
		return Dummy, nil
	case "C":
		return Clean, nil
	case "U":
		return UID, nil
	}
	parts := strings.Split(c.String(), "/")
	if len(parts) < 2 {
		return 0, fmt.Errorf("deid: unknown action code %q", c)
	}
	pick := func(letter string) Action {
		switch strings.TrimSuffix(letter, "*") {
		case "X":
			return Remove
		case "Z":
			return Zero
		case "D":
			return Dummy
		}
		return UID
	}
	has := func(l string) bool { return slices.Contains(parts, l) }
	strongest := pick(parts[len(parts)-1])
	switch t {
	case Type3:
		if has("X") {
			return Remove, nil
		}
		return pick(parts[0]), nil
	case Type2:
		if has("Z") {
			return Zero, nil
		}
		return strongest, nil // X/D on a Type 2 attribute: removal would break the IOD
	case Type1:
		return strongest, nil
	}
	return strongest, nil
}

func (c Code) String() string { return string(c) }
