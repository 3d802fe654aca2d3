package deployment

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ethos-imaging/ethos"
)

// The notification clocks. Hours are elapsed time; days are calendar days
// counted in the incident's zone (see calendarDeadline).
const (
	gdprAuthorityHours = 72 // GDPR art. 33(1)
	aiActGeneralDays   = 15 // EU AI Act art. 73(2)
	aiActDeathDays     = 10 // EU AI Act art. 73(4)
	aiActUrgentDays    = 2  // EU AI Act art. 73(3): widespread infringement or art. 3(49)(b)
	hipaaDays          = 60 // 45 CFR 164.404(b), 164.406(b), 164.408(b)
	hipaaLogDays       = 60 // 45 CFR 164.408(c): after the end of the calendar year
	hipaaLargeBreach   = 500
)

// locations caches loaded zones: time.LoadLocation reads and parses the
// zone file on every call.
var locations sync.Map // string → *time.Location

// loadLocation returns the IANA zone name, refusing "" and "Local" (the
// machine's zone is not a jurisdiction).
func loadLocation(name string) (*time.Location, bool) {
	if name == "" || name == "Local" {
		return nil, false
	}
	if l, ok := locations.Load(name); ok {
		return l.(*time.Location), true
	}
	l, err := time.LoadLocation(name)
	if err != nil {
		return nil, false
	}
	locations.Store(name, l)
	return l, true
}

// ValidateIncident checks the fields the deadline rules depend on and
// returns the location of the incident's zone.
func ValidateIncident(inc *ethos.Incident) (*time.Location, error) {
	if inc.AwareAt.IsZero() {
		return nil, ethos.Errorf(ethos.EINVALID, "incident %s: aware_at: required", inc.ID)
	}
	if inc.Zone == "" {
		return nil, ethos.Errorf(ethos.EINVALID, "incident %s: zone: required (IANA name of the reporting jurisdiction's zone, e.g. Europe/Berlin)", inc.ID)
	}
	loc, ok := loadLocation(inc.Zone)
	if !ok {
		return nil, ethos.Errorf(ethos.EINVALID, "incident %s: zone: not a known IANA time zone (e.g. Europe/Paris)", inc.ID)
	}
	if len(inc.Classes) == 0 {
		return nil, ethos.Errorf(ethos.EINVALID, "incident %s: classes: at least one required", inc.ID)
	}
	for _, c := range inc.Classes {
		switch c {
		case ethos.IncidentMalfunction, ethos.IncidentSerious, ethos.IncidentPersonalDataBreach:
		default:
			return nil, ethos.Errorf(ethos.EINVALID, "incident %s: classes: unknown class", inc.ID)
		}
	}
	for _, o := range inc.Outcomes {
		switch o {
		case ethos.OutcomeDeath, ethos.OutcomeSeriousHarmHealth, ethos.OutcomeCriticalInfrastructure,
			ethos.OutcomeFundamentalRights, ethos.OutcomePropertyEnvironment, ethos.OutcomeWidespread:
		default:
			return nil, ethos.Errorf(ethos.EINVALID, "incident %s: outcomes: unknown outcome", inc.ID)
		}
	}
	if slices.Contains(inc.Classes, ethos.IncidentSerious) && len(inc.Outcomes) == 0 {
		return nil, ethos.Errorf(ethos.EINVALID, "incident %s: outcomes: a serious incident needs at least one outcome of EU AI Act art. 3(49)", inc.ID)
	}
	for _, j := range inc.Jurisdictions {
		if j != ethos.JurisdictionEU && j != ethos.JurisdictionUS {
			return nil, ethos.Errorf(ethos.EINVALID, "incident %s: jurisdictions: unknown jurisdiction", inc.ID)
		}
	}
	switch inc.Status {
	case "", ethos.IncidentOpen, ethos.IncidentInvestigating, ethos.IncidentContained, ethos.IncidentClosed:
	default:
		return nil, ethos.Errorf(ethos.EINVALID, "incident %s: status: unknown status", inc.ID)
	}
	if inc.GDPRRiskUnlikely && inc.GDPRHighRisk {
		return nil, ethos.Errorf(ethos.EINVALID, "incident %s: gdpr_risk_unlikely and gdpr_high_risk contradict each other", inc.ID)
	}
	if inc.AffectedSubjects < 0 {
		return nil, ethos.Errorf(ethos.EINVALID, "incident %s: affected_subjects: must not be negative", inc.ID)
	}
	sum := 0
	for st, n := range inc.AffectedByState {
		if len(st) != 2 || strings.ToUpper(st) != st {
			return nil, ethos.Errorf(ethos.EINVALID, "incident %s: affected_by_state: a key is not a two-letter state code", inc.ID)
		}
		if n < 0 {
			return nil, ethos.Errorf(ethos.EINVALID, "incident %s: affected_by_state %s: must not be negative", inc.ID, st)
		}
		sum += n
	}
	if sum > inc.AffectedSubjects {
		return nil, ethos.Errorf(ethos.EINVALID, "incident %s: affected_by_state adds up to %d, more than affected_subjects %d", inc.ID, sum, inc.AffectedSubjects)
	}
	for j, z := range inc.ReportingZones {
		if j != ethos.JurisdictionEU && j != ethos.JurisdictionUS {
			return nil, ethos.Errorf(ethos.EINVALID, "incident %s: reporting_zones: unknown jurisdiction", inc.ID)
		}
		if _, ok := loadLocation(z); !ok {
			return nil, ethos.Errorf(ethos.EINVALID, "incident %s: reporting_zones %s: not a known IANA time zone", inc.ID, j)
		}
	}
	for i, n := range inc.Notifications {
		if n.SentAt.IsZero() || n.SentBy == "" {
			return nil, ethos.Errorf(ethos.EINVALID, "incident %s: notifications[%d]: sent_at and sent_by required", inc.ID, i)
		}
		switch n.Recipient {
		case ethos.RecipientSupervisoryAuthority, ethos.RecipientDataSubjects, ethos.RecipientMarketSurveillance,
			ethos.RecipientIndividuals, ethos.RecipientHHS, ethos.RecipientMedia, ethos.RecipientProvider:
		default:
			return nil, ethos.Errorf(ethos.EINVALID, "incident %s: notifications[%d]: unknown recipient", inc.ID, i)
		}
		if n.SentAt.Before(inc.AwareAt) {
			return nil, ethos.Errorf(ethos.EINVALID, "incident %s: notifications[%d]: sent before the organisation became aware", inc.ID, i)
		}
		if n.Recipient == ethos.RecipientMedia && n.USState == "" {
			return nil, ethos.Errorf(ethos.EINVALID, "incident %s: notifications[%d]: a media notice names its state", inc.ID, i)
		}
	}
	return loc, nil
}

// calendarDeadline returns the last instant of the day that is n calendar
// days after the day of t, both days taken in loc. The day of the event
// itself is not counted, and the period runs to the end of its last day;
// the result is one nanosecond before the next local day begins, so it is
// right across daylight-saving changes (a day then lasts 23 or 25 hours).
func calendarDeadline(t time.Time, n int, loc *time.Location) time.Time {
	y, m, d := t.In(loc).Date()
	return startOfDay(y, m, d+n+1, loc).Add(-time.Nanosecond)
}

// startOfDay returns the first instant of the local date y-m-d (d may
// overflow the month). Usually that is midnight; where the clocks jump
// forward at midnight (America/Santiago, America/Havana) the day begins at
// 01:00, and time.Date resolves the missing midnight to 23:00 of the day
// before, so the start is then the end of that zone period.
func startOfDay(y int, m time.Month, d int, loc *time.Location) time.Time {
	t := time.Date(y, m, d, 0, 0, 0, 0, loc)
	want := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	if gy, gm, gd := t.Date(); gy != want.Year() || gm != want.Month() || gd != want.Day() {
		if _, end := t.ZoneBounds(); !end.IsZero() && end.After(t) {
			return end
		}
	}
	return t
}

// Deadlines returns the notification duties of an incident, earliest first
// (duties with no fixed limit last). It applies:
//   - GDPR art. 33(1) (EU, personal-data breach, unless the controller
//     recorded that a risk is unlikely): supervisory authority within 72
//     hours of awareness, elapsed time;
//   - GDPR art. 34(1) (EU, breach likely to result in a high risk): data
//     subjects without undue delay, no fixed limit;
//   - EU AI Act art. 73 (EU, serious incident): market surveillance
//     authority within 15 days of awareness, 10 days in case of a death,
//     2 days for a widespread infringement or a serious incident of art.
//     3(49)(b); the shortest applicable clock wins; a deployer also
//     informs the provider immediately (art. 26(5), no fixed limit);
//   - HIPAA (US, breach): individuals within 60 calendar days of discovery
//     (45 CFR 164.404(b)); HHS within the same 60 days when 500 or more are
//     affected, else within 60 days after the end of the calendar year of
//     discovery (164.408(b), (c)); media in every state with more than 500
//     affected residents within 60 days (164.406).
//
// Days are calendar days in the incident's zone: the day of awareness is
// not counted and the last day runs to its local midnight.
func Deadlines(inc *ethos.Incident) ([]ethos.Deadline, error) {
	loc, err := ValidateIncident(inc)
	if err != nil {
		return nil, err
	}
	var ds []ethos.Deadline
	eu := slices.Contains(inc.Jurisdictions, ethos.JurisdictionEU)
	us := slices.Contains(inc.Jurisdictions, ethos.JurisdictionUS)
	breach := slices.Contains(inc.Classes, ethos.IncidentPersonalDataBreach)
	serious := slices.Contains(inc.Classes, ethos.IncidentSerious)
	zone := func(j ethos.Jurisdiction) (string, *time.Location) {
		if z, ok := inc.ReportingZones[j]; ok {
			l, _ := loadLocation(z) // validated above
			return z, l
		}
		return inc.Zone, loc
	}
	euZone, euLoc := zone(ethos.JurisdictionEU)
	usZone, usLoc := zone(ethos.JurisdictionUS)

	if eu && breach && !inc.GDPRRiskUnlikely {
		ds = append(ds, ethos.Deadline{
			Rule: "GDPR art. 33(1)", Recipient: ethos.RecipientSupervisoryAuthority,
			Due: inc.AwareAt.Add(gdprAuthorityHours * time.Hour), Zone: euZone,
			Basis: "72 hours of elapsed time after awareness",
		})
	}
	if eu && breach && inc.GDPRHighRisk {
		ds = append(ds, ethos.Deadline{
			Rule: "GDPR art. 34(1)", Recipient: ethos.RecipientDataSubjects, Zone: euZone,
			Basis: "without undue delay; no fixed limit",
		})
	}
	if eu && serious {
		n, why := aiActGeneralDays, "15 days after awareness (art. 73(2))"
		if slices.Contains(inc.Outcomes, ethos.OutcomeDeath) {
			n, why = aiActDeathDays, "10 days after awareness: death of a person (art. 73(4))"
		}
		if slices.Contains(inc.Outcomes, ethos.OutcomeWidespread) || slices.Contains(inc.Outcomes, ethos.OutcomeCriticalInfrastructure) {
			n, why = aiActUrgentDays, "2 days after awareness: widespread infringement or critical infrastructure (art. 73(3))"
		}
		ds = append(ds, ethos.Deadline{
			Rule: "EU AI Act art. 73", Recipient: ethos.RecipientMarketSurveillance,
			Due: calendarDeadline(inc.AwareAt, n, euLoc), Zone: euZone, Basis: why + ", calendar days in " + euZone,
		})
	}
	if eu && serious && inc.AIActDeployer {
		ds = append(ds, ethos.Deadline{
			Rule: "EU AI Act art. 26(5)", Recipient: ethos.RecipientProvider, Zone: euZone,
			Basis: "deployer informs the provider immediately; no fixed limit",
		})
	}
	if us && breach {
		basis := fmt.Sprintf("60 calendar days after discovery, in %s", usZone)
		due := calendarDeadline(inc.AwareAt, hipaaDays, usLoc)
		ds = append(ds, ethos.Deadline{
			Rule: "HIPAA 45 CFR 164.404(b)", Recipient: ethos.RecipientIndividuals, Due: due, Zone: usZone, Basis: basis,
		})
		if inc.AffectedSubjects >= hipaaLargeBreach {
			ds = append(ds, ethos.Deadline{
				Rule: "HIPAA 45 CFR 164.408(b)", Recipient: ethos.RecipientHHS, Due: due, Zone: usZone,
				Basis: fmt.Sprintf("%d affected (500 or more): with the notice to individuals, %s", inc.AffectedSubjects, basis),
			})
		} else {
			y := inc.AwareAt.In(usLoc).Year()
			ds = append(ds, ethos.Deadline{
				Rule: "HIPAA 45 CFR 164.408(c)", Recipient: ethos.RecipientHHS,
				Due: calendarDeadline(time.Date(y, 12, 31, 12, 0, 0, 0, usLoc), hipaaLogDays, usLoc), Zone: usZone,
				Basis: fmt.Sprintf("%d affected (fewer than 500): annual log, 60 days after the end of %d, in %s", inc.AffectedSubjects, y, usZone),
			})
		}
		for _, st := range slices.Sorted(maps.Keys(inc.AffectedByState)) {
			if n := inc.AffectedByState[st]; n > hipaaLargeBreach {
				ds = append(ds, ethos.Deadline{
					Rule: "HIPAA 45 CFR 164.406", Recipient: ethos.RecipientMedia, USState: st, Due: due, Zone: usZone,
					Basis: fmt.Sprintf("%d residents of %s affected (more than 500): %s", n, st, basis),
				})
			}
		}
	}
	slices.SortStableFunc(ds, func(a, b ethos.Deadline) int {
		if a.Due.IsZero() != b.Due.IsZero() {
			if a.Due.IsZero() {
				return 1
			}
			return -1
		}
		return cmp.Or(a.Due.Compare(b.Due), cmp.Compare(a.Rule, b.Rule), cmp.Compare(a.USState, b.USState))
	})
	return ds, nil
}

// Status returns each deadline of the incident with its state at now: met
// or late when a notification to its recipient (and state, for media) was
// sent — the earliest one counts —, otherwise overdue once now is after
// Due, else pending. A notification exactly at Due is on time.
func Status(inc *ethos.Incident, now time.Time) ([]ethos.DeadlineStatus, error) {
	ds, err := Deadlines(inc)
	if err != nil {
		return nil, err
	}
	out := make([]ethos.DeadlineStatus, len(ds))
	for i, d := range ds {
		st := ethos.DeadlineStatus{Deadline: d, State: ethos.DeadlinePending}
		for _, n := range inc.Notifications {
			if n.Recipient != d.Recipient || n.USState != d.USState {
				continue
			}
			if st.Sent == nil || n.SentAt.Before(st.Sent.SentAt) {
				st.Sent = &n
			}
		}
		switch {
		case st.Sent != nil && (d.Due.IsZero() || !st.Sent.SentAt.After(d.Due)):
			st.State = ethos.DeadlineMet
		case st.Sent != nil:
			st.State = ethos.DeadlineLate
		case !d.Due.IsZero() && now.After(d.Due):
			st.State = ethos.DeadlineOverdue
		}
		out[i] = st
	}
	return out, nil
}

// Overdue returns the deadlines of the incident that are overdue at now.
func Overdue(inc *ethos.Incident, now time.Time) ([]ethos.DeadlineStatus, error) {
	all, err := Status(inc, now)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(all, func(s ethos.DeadlineStatus) bool { return s.State != ethos.DeadlineOverdue }), nil
}

// CheckClose refuses to close an incident while a notification duty is
// unmet (pending or overdue): close only after notifying, even late.
func CheckClose(inc *ethos.Incident, now time.Time) error {
	all, err := Status(inc, now)
	if err != nil {
		return err
	}
	var open []string
	for _, s := range all {
		if s.State == ethos.DeadlinePending || s.State == ethos.DeadlineOverdue {
			due := "no fixed limit"
			if !s.Due.IsZero() {
				due = "due " + s.Due.Format(time.RFC3339)
			}
			open = append(open, fmt.Sprintf("%s to %s (%s%s)", s.Rule, s.Recipient, due, stateSuffix(s.State)))
		}
	}
	if len(open) > 0 {
		return ethos.Errorf(ethos.ECONFLICT, "incident %s cannot be closed: notifications not sent: %s", inc.ID, strings.Join(open, "; "))
	}
	return nil
}

func stateSuffix(s ethos.DeadlineState) string {
	if s == ethos.DeadlineOverdue {
		return ", overdue"
	}
	return ""
}
