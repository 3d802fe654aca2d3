package consent_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/consent"
)

// byteSource turns fuzz input into small choices.
type byteSource struct {
	b []byte
	i int
}

func (s *byteSource) next(n int) int {
	if s.i >= len(s.b) {
		return 0
	}
	v := int(s.b[s.i]) % n
	s.i++
	return v
}

func (s *byteSource) provision(depth int) ethos.Provision {
	p := ethos.Provision{Type: []ethos.ProvisionType{"", ethos.ProvisionPermit, ethos.ProvisionDeny}[s.next(3)]}
	if s.next(3) == 0 {
		p.Purposes = []ethos.Purpose{ethos.Purposes[s.next(len(ethos.Purposes))]}
	}
	if s.next(3) == 0 {
		p.Modalities = []string{[]string{"CT", "MR"}[s.next(2)]}
	}
	if s.next(4) == 0 {
		p.Actors = []ethos.Actor{{Party: []string{"a", "b"}[s.next(2)]}}
	}
	if s.next(5) == 0 {
		start := day("2024-01-01").AddDate(0, s.next(24), 0)
		p.Period = ethos.Period{Start: start, End: start.AddDate(0, s.next(24), 0)}
	}
	if s.next(5) == 0 {
		start := day("2015-01-01").AddDate(s.next(10), 0, 0)
		p.DataPeriod = ethos.Period{Start: start, End: start.AddDate(s.next(10), 0, 0)}
	}
	if depth < 3 {
		for range s.next(3) {
			p.Provisions = append(p.Provisions, s.provision(depth+1))
		}
	}
	return p
}

// find returns the provision at a path like provision.provision[1].provision[0].
func find(c *ethos.Consent, path string) (*ethos.Provision, ethos.ProvisionType, bool) {
	rest, ok := strings.CutPrefix(path, "provision")
	if !ok {
		return nil, "", false
	}
	p := &c.Provision
	typ := p.Type
	for rest != "" {
		var idx string
		if idx, ok = strings.CutPrefix(rest, ".provision["); !ok {
			return nil, "", false
		}
		n, after, _ := strings.Cut(idx, "]")
		i, err := strconv.Atoi(n)
		if err != nil || i >= len(p.Provisions) {
			return nil, "", false
		}
		p, rest = &p.Provisions[i], after
		if p.Type != "" {
			typ = p.Type
		}
	}
	return p, typ, true
}

// FuzzDecide checks the engine's invariants on random consent sets: the
// decision and reason agree, the named provision exists and has the type
// the decision implies, consent order and entered-in-error records never
// change the answer.
func FuzzDecide(f *testing.F) {
	f.Add([]byte("\x02\x01\x03\x00\x01\x02\x01\x00\x03\x01\x02"))
	f.Add([]byte("\x04\x02\x02\x01\x00\x00\x01\x02\x02\x01\x00\x01\x02\x02\x02\x01\x01\x00\x03"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s := &byteSource{b: data}
		now := day("2026-01-01")
		n := 1 + s.next(4)
		var cs []*ethos.Consent
		for i := range n {
			c := mk(fmt.Sprintf("c%d", i), "2024-01-01", s.provision(0))
			c.DateTime = c.DateTime.AddDate(0, s.next(30), 0)
			c.Status = []ethos.ConsentStatus{ethos.ConsentActive, ethos.ConsentActive, ethos.ConsentInactive, ethos.ConsentDraft}[s.next(4)]
			cs = append(cs, c)
		}
		q := consent.Query{Subject: subjA, Purpose: ethos.Purposes[s.next(len(ethos.Purposes))],
			Party: []string{"", "a", "b"}[s.next(3)], Modality: []string{"", "CT", "MR"}[s.next(3)],
			At: day("2023-06-01").AddDate(0, s.next(40), 0), Now: now}
		if s.next(2) == 0 {
			q.Acquired = day("2014-01-01").AddDate(s.next(12), 0, 0)
		}
		d, err := consent.Decide(cs, q)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case d.Decision == ethos.DecisionPermit && d.Reason != ethos.ReasonPermitted,
			d.Decision == ethos.DecisionDeny && d.Reason != ethos.ReasonDenied,
			d.Decision == ethos.DecisionNoConsent && (d.Reason == ethos.ReasonPermitted || d.Reason == ethos.ReasonDenied):
			t.Fatalf("decision %s with reason %s", d.Decision, d.Reason)
		}
		if d.Provision != "" {
			var c *ethos.Consent
			for _, x := range cs {
				if x.ID == d.ConsentID {
					c = x
				}
			}
			if c == nil {
				t.Fatalf("decision names unknown consent %q", d.ConsentID)
			}
			_, typ, ok := find(c, d.Provision)
			if !ok {
				t.Fatalf("decision names missing provision %s", d.Provision)
			}
			wantDeny := d.Reason == ethos.ReasonDenied || d.Reason == ethos.ReasonOutOfScope
			if (typ == ethos.ProvisionDeny) != wantDeny {
				t.Fatalf("reason %s from a %q provision %s", d.Reason, typ, d.Provision)
			}
		}
		// Reversed order and an added entered-in-error consent change nothing.
		rev := make([]*ethos.Consent, 0, n+1)
		for i := n - 1; i >= 0; i-- {
			rev = append(rev, cs[i])
		}
		bogus := mk("zz-error", "2025-12-31", ethos.Provision{Type: ethos.ProvisionPermit}, status(ethos.ConsentEnteredInError))
		rev = append(rev, bogus)
		if d2, _ := consent.Decide(rev, q); d2 != d {
			t.Fatalf("order or entered-in-error changed the decision: %+v vs %+v", d2, d)
		}
	})
}
