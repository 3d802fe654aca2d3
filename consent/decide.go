// Package consent decides whether a use of a subject's data is covered by
// the subject's consents, and reads and writes consents as HL7 FHIR R4
// Consent resources.
//
// The engine is pure: no I/O, no clock (the caller passes the times), no
// patient identifiers (subjects are ethos.SubjectKey values).
//
// # Decision rules
//
// A Query names a subject, a purpose, the party that will use the data, the
// data (DICOM modality and body part), an action (default use), the time At
// the question is about and the current time Now.
//
//  1. Only the subject's consents count that are active, were recorded no
//     later than Now (DateTime <= Now), and are in force at At: the root
//     provision's period covers At, both ends inclusive; a root period
//     without a start begins at the consent's DateTime. Draft, proposed,
//     rejected and inactive (withdrawn) consents never count;
//     entered-in-error consents are ignored entirely, also when explaining
//     a refusal.
//
//  2. Within one consent, a provision matches when each criterion it sets
//     matches: its period covers At; its data period covers the data's
//     acquisition time; its purposes include the purpose; its actors
//     include the party; its actions include the action; its modalities and
//     body parts include the data's. An empty list or a zero period sets no
//     criterion. When the query leaves the party, modality, body part or
//     acquisition time unknown (empty), a permit provision that restricts
//     it does not match and a deny provision that restricts it does: an
//     unknown attribute can never unlock data, nor slip past a refusal.
//
//  3. Nested provisions refine their parent: a nested provision is only
//     considered where its parent matches (criteria accumulate down the
//     tree), and where it matches, it takes precedence over its parent. A
//     provision without a type takes the type of its nearest typed
//     ancestor. So the deciding provisions of a consent are the deepest
//     matching typed provisions on every branch. If any of them denies, the
//     consent denies (deny overrides permit between branches); otherwise,
//     if any permits, the consent permits; if none matches, the consent is
//     silent about the use.
//
//  4. A consent whose decision comes from its root provision denying (the
//     base rule of an opt-in consent: "deny everything except …") while the
//     consent permits something elsewhere does not refuse the use
//     explicitly: the use lies outside what the patient agreed to. That is
//     reported as NO_CONSENT / OUT_OF_SCOPE (new consent is needed: the
//     framework's rule consent@training in stage-principles.json). A root
//     deny in a consent that permits nothing (a blanket opt-out), and any
//     nested deny, is an explicit refusal: DENY / DENIED.
//
//  5. Across consents, the newest consent (by DateTime) that is not silent
//     about the use decides. Consents recorded at the same instant are
//     combined: an explicit deny wins over a permit, a permit over an
//     out-of-scope base rule.
//
//  6. When no counting consent speaks for the use, the answer is
//     NO_CONSENT, and the reason explains why. If a consent that does not
//     count would have permitted the use, the newest such consent names the
//     reason: WITHDRAWN for inactive, NOT_ACTIVE for draft, proposed or
//     rejected, EXPIRED when its period ended before At, NOT_YET_VALID when
//     it starts after At or was recorded after Now. Otherwise OUT_OF_SCOPE
//     when consents are in force (none covers the use), and
//     NO_CONSENT_ON_FILE when there are none.
package consent

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ethos-imaging/ethos"
)

// Query is one consent question.
type Query struct {
	Subject  ethos.SubjectKey
	Purpose  ethos.Purpose
	Party    string              // the Ethos party that will use the data; "" when not known
	Modality string              // DICOM Modality (0008,0060); "" when not known
	BodyPart string              // DICOM Body Part Examined (0018,0015); "" when not known
	Action   ethos.ConsentAction // "" means use
	Acquired time.Time           // when the data was acquired; zero when not known
	At       time.Time           // the time the question is about; zero means Now
	Now      time.Time           // the current time (required)
}

// Validate reports whether q can be decided.
func (q Query) Validate() error {
	switch {
	case !q.Subject.Valid():
		return ethos.Errorf(ethos.EINVALID, "consent query: subject is not a subject key")
	case !q.Purpose.Valid():
		return ethos.Errorf(ethos.EINVALID, "consent query: unknown purpose %q", q.Purpose)
	case q.Action != "" && !q.Action.Valid():
		return ethos.Errorf(ethos.EINVALID, "consent query: unknown action %q", q.Action)
	case q.Now.IsZero():
		return ethos.Errorf(ethos.EINVALID, "consent query: the current time is missing")
	}
	return nil
}

// outcome is what one consent says about a query.
type outcome int

const (
	silent       outcome = iota // no typed provision matches
	baseDeny                    // only the root deny of an opt-in consent matches
	permit                      // a permit provision matches, no deny does
	explicitDeny                // a deny provision matches
)

// verdict is one consent's answer with the provision that gave it.
type verdict struct {
	c    *ethos.Consent
	out  outcome
	path string
}

// Decide answers q from consents. Consents of other subjects are ignored, so
// the caller may pass a superset. The result names the consent and the
// provision that decided.
func Decide(consents []*ethos.Consent, q Query) (ethos.ConsentDecision, error) {
	if err := q.Validate(); err != nil {
		return ethos.ConsentDecision{}, err
	}
	if q.At.IsZero() {
		q.At = q.Now
	}
	if q.Action == "" {
		q.Action = ethos.ActionUse
	}
	d := ethos.ConsentDecision{Subject: q.Subject, Purpose: q.Purpose, At: q.At}

	// Rule 1: the counting consents, newest first.
	var counting []*ethos.Consent
	var others []*ethos.Consent
	for _, c := range consents {
		if c == nil || c.Subject != q.Subject || c.Status == ethos.ConsentEnteredInError {
			continue
		}
		if inForce(c, q) {
			counting = append(counting, c)
		} else {
			others = append(others, c)
		}
	}
	newestFirst := func(a, b *ethos.Consent) int {
		if c := b.DateTime.Compare(a.DateTime); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	}
	slices.SortFunc(counting, newestFirst)
	slices.SortFunc(others, newestFirst)

	// Rule 5: the newest group of consents recorded at the same instant
	// that is not silent decides.
	for i := 0; i < len(counting); {
		j := i + 1
		for j < len(counting) && counting[j].DateTime.Equal(counting[i].DateTime) {
			j++
		}
		var best verdict
		for _, c := range counting[i:j] {
			v := evaluate(c, q)
			if v.out > best.out {
				best = v
			}
		}
		if best.out != silent {
			return explain(d, best, q), nil
		}
		i = j
	}

	// Rule 6: nothing in force speaks for the use. A consent that would
	// have permitted it explains the refusal best; then consents in force
	// that do not cover it.
	d.Decision = ethos.DecisionNoConsent
	for _, c := range others {
		v := evaluate(c, q)
		if v.out != permit {
			continue
		}
		d.ConsentID, d.Provision = c.ID, v.path
		switch {
		case c.Status == ethos.ConsentInactive:
			d.Reason = ethos.ReasonWithdrawn
			d.Detail = fmt.Sprintf("consent %s would permit %s but was withdrawn", c.ID, q.Purpose)
		case c.Status != ethos.ConsentActive:
			d.Reason = ethos.ReasonNotActive
			d.Detail = fmt.Sprintf("consent %s would permit %s but is %s", c.ID, q.Purpose, c.Status)
		case c.Period().End.IsZero() || !q.At.After(c.Period().End):
			d.Reason = ethos.ReasonNotYetValid
			d.Detail = fmt.Sprintf("consent %s would permit %s but is not in force yet at %s", c.ID, q.Purpose, q.At.UTC().Format(time.RFC3339))
		default:
			d.Reason = ethos.ReasonExpired
			d.Detail = fmt.Sprintf("consent %s would permit %s but ended before %s", c.ID, q.Purpose, q.At.UTC().Format(time.RFC3339))
		}
		return d, nil
	}
	if len(counting) > 0 {
		d.Reason = ethos.ReasonOutOfScope
		d.ConsentID = counting[0].ID
		d.Detail = fmt.Sprintf("no consent in force covers %s; consent %s is the newest in force: new consent is needed for this use", q.Purpose, counting[0].ID)
		return d, nil
	}
	d.Reason = ethos.ReasonNoConsent
	d.Detail = fmt.Sprintf("no consent on file covers %s", q.Purpose)
	return d, nil
}

func inForce(c *ethos.Consent, q Query) bool {
	return c.Status == ethos.ConsentActive && !c.DateTime.After(q.Now) && c.Period().Covers(q.At)
}

func explain(d ethos.ConsentDecision, v verdict, q Query) ethos.ConsentDecision {
	d.ConsentID, d.Provision = v.c.ID, v.path
	switch v.out {
	case permit:
		d.Decision, d.Reason = ethos.DecisionPermit, ethos.ReasonPermitted
		d.Detail = fmt.Sprintf("consent %s %s permits %s", v.c.ID, v.path, q.Purpose)
	case explicitDeny:
		d.Decision, d.Reason = ethos.DecisionDeny, ethos.ReasonDenied
		d.Detail = fmt.Sprintf("consent %s %s denies %s", v.c.ID, v.path, q.Purpose)
	case baseDeny:
		d.Decision, d.Reason = ethos.DecisionNoConsent, ethos.ReasonOutOfScope
		d.Detail = fmt.Sprintf("consent %s does not grant %s for this data and party (base rule %s): new consent is needed for this use", v.c.ID, q.Purpose, v.path)
	}
	return d
}

// evaluate applies rules 2 to 4 to one consent, ignoring its status and
// overall period (the caller has checked them, or is explaining why the
// consent does not count).
func evaluate(c *ethos.Consent, q Query) verdict {
	if q.At.IsZero() {
		q.At = q.Now
	}
	if q.Action == "" {
		q.Action = ethos.ActionUse
	}
	var found []hit
	walk(&c.Provision, "provision", "", q, &found, 0)
	v := verdict{c: c}
	for _, h := range found {
		o := permit
		if h.typ == ethos.ProvisionDeny {
			o = explicitDeny
			if h.path == "provision" && hasPermit(&c.Provision) {
				o = baseDeny
			}
		}
		if o > v.out {
			v.out, v.path = o, h.path
		}
	}
	return v
}

type hit struct {
	typ  ethos.ProvisionType
	path string
}

// walk collects the deepest matching typed provisions below p into found and
// reports whether it added any.
func walk(p *ethos.Provision, path string, inherited ethos.ProvisionType, q Query, found *[]hit, depth int) bool {
	typ := p.Type
	if typ == "" {
		typ = inherited
	}
	if depth > ethos.MaxProvisionDepth || !matches(p, typ, q, depth > 0) {
		return false
	}
	added := false
	for i := range p.Provisions {
		if walk(&p.Provisions[i], path+".provision["+strconv.Itoa(i)+"]", typ, q, found, depth+1) {
			added = true
		}
	}
	if added || typ == "" {
		return added
	}
	*found = append(*found, hit{typ, path})
	return true
}

// matches reports whether p's own criteria match q. The root provision's
// period is the consent's period, checked by inForce, so checkPeriod is
// false for the root.
func matches(p *ethos.Provision, typ ethos.ProvisionType, q Query, checkPeriod bool) bool {
	if checkPeriod && !p.Period.IsZero() && !p.Period.Covers(q.At) {
		return false
	}
	if len(p.Purposes) > 0 && !slices.Contains(p.Purposes, q.Purpose) {
		return false
	}
	if len(p.Actions) > 0 && !slices.Contains(p.Actions, q.Action) {
		return false
	}
	// Unknown attributes: permits do not match, denies do (rule 2).
	unknownMatches := typ == ethos.ProvisionDeny
	if len(p.Actors) > 0 {
		if q.Party == "" {
			if !unknownMatches {
				return false
			}
		} else if !slices.ContainsFunc(p.Actors, func(a ethos.Actor) bool { return a.Party == q.Party }) {
			return false
		}
	}
	if !matchTerm(p.Modalities, q.Modality, unknownMatches) || !matchTerm(p.BodyParts, q.BodyPart, unknownMatches) {
		return false
	}
	if !p.DataPeriod.IsZero() {
		if q.Acquired.IsZero() {
			return unknownMatches
		}
		return p.DataPeriod.Covers(q.Acquired)
	}
	return true
}

func matchTerm(list []string, v string, unknownMatches bool) bool {
	if len(list) == 0 {
		return true
	}
	v = strings.ToUpper(strings.TrimSpace(v))
	if v == "" {
		return unknownMatches
	}
	return slices.Contains(list, v)
}

func hasPermit(p *ethos.Provision) bool {
	for i := range p.Provisions {
		c := &p.Provisions[i]
		if c.Type == ethos.ProvisionPermit || hasPermit(c) {
			return true
		}
	}
	return false
}

// Coverage is the answer to "is this instance covered on the date it was
// acquired and now?": two decisions for the same query.
type Coverage struct {
	Acquired ethos.ConsentDecision // At = the acquisition time
	Now      ethos.ConsentDecision // At = Now
}

// Decision returns the combined decision: permitted only when both are.
// Otherwise it returns the refusal now when there is one (withdrawal and
// expiry show there), else the refusal at acquisition.
func (c Coverage) Decision() ethos.ConsentDecision {
	if !c.Now.Permitted() {
		return c.Now
	}
	if !c.Acquired.Permitted() {
		return c.Acquired
	}
	return c.Now
}

// DecideAcquiredAndNow checks q on the acquisition date and at q.Now (q.At
// is ignored; q.Acquired is set to acquired, for data periods). Ingest uses it: an instance enters a project only if its
// acquisition fell within a consent's scope and the use is covered today.
func DecideAcquiredAndNow(consents []*ethos.Consent, q Query, acquired time.Time) (Coverage, error) {
	if acquired.IsZero() {
		return Coverage{}, ethos.Errorf(ethos.EINVALID, "consent query: the acquisition time is missing")
	}
	var cov Coverage
	var err error
	q.Acquired = acquired
	q.At = acquired
	if cov.Acquired, err = Decide(consents, q); err != nil {
		return Coverage{}, err
	}
	q.At = q.Now
	if cov.Now, err = Decide(consents, q); err != nil {
		return Coverage{}, err
	}
	return cov, nil
}
