package consent

import (
	"slices"
	"strings"
	"time"

	"github.com/ethos-imaging/ethos"
)

// Evaluation is what one consent says about a query, for people who need
// to see why a decision came out as it did (IRB members, auditors).
type Evaluation struct {
	ConsentID string              `json:"consentId"`
	DateTime  time.Time           `json:"dateTime"`
	Status    ethos.ConsentStatus `json:"status"`
	// InForce reports whether the consent counts (rule 1).
	InForce bool `json:"inForce"`
	// Says is what the consent's provisions say about the use, regardless
	// of whether it counts: PERMIT, DENY, OUT_OF_SCOPE (the base rule of an
	// opt-in consent) or SILENT (no provision matches).
	Says      string `json:"says"`
	Provision string `json:"provision,omitempty"`
}

// What an Evaluation says.
const (
	SaysPermit     = "PERMIT"
	SaysDeny       = "DENY"
	SaysOutOfScope = "OUT_OF_SCOPE"
	SaysSilent     = "SILENT"
)

// Explain evaluates every consent of q.Subject against q, newest first,
// entered-in-error consents included (they never count). Decide's answer is
// derived from these evaluations by rules 5 and 6.
func Explain(consents []*ethos.Consent, q Query) ([]Evaluation, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	if q.At.IsZero() {
		q.At = q.Now
	}
	var out []Evaluation
	for _, c := range consents {
		if c == nil || c.Subject != q.Subject {
			continue
		}
		v := evaluate(c, q)
		e := Evaluation{ConsentID: c.ID, DateTime: c.DateTime, Status: c.Status,
			InForce: c.Status != ethos.ConsentEnteredInError && inForce(c, q), Provision: v.path}
		switch v.out {
		case permit:
			e.Says = SaysPermit
		case explicitDeny:
			e.Says = SaysDeny
		case baseDeny:
			e.Says = SaysOutOfScope
		default:
			e.Says = SaysSilent
		}
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b Evaluation) int {
		if c := b.DateTime.Compare(a.DateTime); c != 0 {
			return c
		}
		return strings.Compare(a.ConsentID, b.ConsentID)
	})
	return out, nil
}
