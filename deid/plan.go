package deid

import "slices"

// A plan is a Table E.1-1 row resolved once for a configuration's options:
// its code, and the action that code gives, per attribute type when the
// code is compound. The engine looks one up for every element; resolving
// the row each time (the option loop, splitting a compound code, the map
// of attribute types) was a tenth of its work.
type plan struct {
	rule *Rule
	code Code
	// byType[t] is the action for an attribute of type t; for a code that
	// does not depend on the type, all four are the same.
	byType   [4]Action
	compound bool     // byType depends on the type
	types    *typeRow // the attribute's row of compoundTypes, if any
}

// plans holds the plans of every single-tag row, sorted by tag, and of
// the masked rows (searched after, as LookupRule does).
type plans struct {
	tags   []uint32
	plans  []plan
	masked []plan
	// slots is an open-addressing table of the single-tag rows: slot
	// slotIndex(t) and the ones after it hold 1 + the index in tags of
	// each tag (0: empty). It is at most an eighth full, so a lookup,
	// hit or miss, reads one or two slots.
	slots []uint32
	shift uint // 32 - log2(len(slots))
}

func (p *plans) slotIndex(t uint32) uint32 { return t * 0x9E3779B1 >> p.shift }

func newPlans(opts Options) *plans {
	p := &plans{}
	for i := range tableE11 {
		r := &tableE11[i]
		switch {
		case r.Private:
		case r.Mask != 0xFFFFFFFF:
			p.masked = append(p.masked, newPlan(r, opts))
		default:
			p.tags = append(p.tags, r.Tag)
			p.plans = append(p.plans, newPlan(r, opts))
		}
	}
	idx := make([]int, len(p.tags))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		switch {
		case p.tags[a] < p.tags[b]:
			return -1
		case p.tags[a] > p.tags[b]:
			return 1
		}
		return 0
	})
	tags, pl := make([]uint32, 0, len(idx)), make([]plan, 0, len(idx))
	for _, i := range idx {
		if n := len(tags); n > 0 && tags[n-1] == p.tags[i] {
			pl[n-1] = p.plans[i] // a later row wins, as in ruleIndex
			continue
		}
		tags, pl = append(tags, p.tags[i]), append(pl, p.plans[i])
	}
	p.tags, p.plans = tags, pl
	bits := uint(4)
	for 1<<bits < 8*len(p.tags) {
		bits++
	}
	p.slots, p.shift = make([]uint32, 1<<bits), 32-bits
	for i, t := range p.tags {
		j := p.slotIndex(t)
		for p.slots[j] != 0 {
			j = (j + 1) & uint32(len(p.slots)-1)
		}
		p.slots[j] = uint32(i + 1)
	}
	return p
}

// newPlan resolves rule r under opts as the engine did element by
// element: a C code is Clean (Shift for dates under Modified Dates),
// except that Clean Graphics removes overlay data and curves; another
// code goes through Resolve with the attribute's type.
func newPlan(r *Rule, opts Options) plan {
	code, _, _ := r.Code(opts)
	p := plan{rule: r, code: code}
	if row, ok := compoundTypes[r.Tag]; ok && r.Mask == 0xFFFFFFFF {
		p.types = &row
	}
	switch {
	case code == "C" && (r.Tag == tagOverlayData && r.Mask == 0xFF00FFFF || r.Tag == tagCurveGroup && r.Mask == 0xFF000000):
		p.byType = [4]Action{Remove, Remove, Remove, Remove}
	case code == "C":
		a := Clean
		if r.Options[RetainLongitudinalModifiedDates] == "C" && opts.Has(RetainLongitudinalModifiedDates) {
			a = Shift
		}
		p.byType = [4]Action{a, a, a, a}
	default:
		for t := range p.byType {
			a, err := Resolve(code, AttrType(t))
			if err != nil {
				a = Remove
			}
			p.byType[t] = a
		}
		p.compound = p.byType != [4]Action{p.byType[0], p.byType[0], p.byType[0], p.byType[0]}
	}
	return p
}

// find returns the plan of tag t (not private), or nil when Table E.1-1
// does not list it.
func (p *plans) find(t uint32) *plan {
	for j := p.slotIndex(t); p.slots[j] != 0; j = (j + 1) & uint32(len(p.slots)-1) {
		if k := p.slots[j] - 1; p.tags[k] == t {
			return &p.plans[k]
		}
	}
	for i := range p.masked {
		if p.masked[i].rule.Matches(t) {
			return &p.masked[i]
		}
	}
	return nil
}

// action returns the plan's action for an element of tag t in context c.
func (p *plan) action(t uint32, c typeContext) Action {
	if !p.compound {
		return p.byType[0]
	}
	if p.rule.Mask != 0xFFFFFFFF {
		return p.byType[attrType(t, c)] // a masked row: the element's own tag
	}
	typ := TypeUnknown
	if p.types != nil {
		typ = rowType(p.types, c)
	}
	return p.byType[typ]
}
