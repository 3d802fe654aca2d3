package deployment_test

import (
	"strings"
	"testing"
	"time"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/deployment"
)

func mustLoc(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

// TestDeadlines checks each rule's due instant, including awareness on
// either side of the daylight-saving changes of Europe/Berlin (29 March and
// 25 October 2026) and America/New_York (8 March and 1 November 2026).
func TestDeadlines(t *testing.T) {
	berlin := mustLoc(t, "Europe/Berlin")
	ny := mustLoc(t, "America/New_York")
	eu := []ethos.Jurisdiction{ethos.JurisdictionEU}
	us := []ethos.Jurisdiction{ethos.JurisdictionUS}
	breach := []ethos.IncidentClass{ethos.IncidentPersonalDataBreach}
	serious := []ethos.IncidentClass{ethos.IncidentSerious}
	tests := []struct {
		name string
		inc  ethos.Incident
		want []ethos.Deadline // Rule, Recipient, State, Due only
	}{
		{"GDPR72HoursAcrossAutumnDST", ethos.Incident{
			AwareAt: time.Date(2026, 10, 23, 10, 0, 0, 0, berlin), Zone: "Europe/Berlin", Jurisdictions: eu, Classes: breach,
		}, []ethos.Deadline{{Rule: "GDPR art. 33(1)", Recipient: ethos.RecipientSupervisoryAuthority,
			// 72 elapsed hours: 09:00 local wall clock, since the clocks went back.
			Due: time.Date(2026, 10, 26, 9, 0, 0, 0, berlin)}}},
		{"GDPR72HoursAcrossSpringDST", ethos.Incident{
			AwareAt: time.Date(2026, 3, 27, 10, 0, 0, 0, berlin), Zone: "Europe/Berlin", Jurisdictions: eu, Classes: breach,
		}, []ethos.Deadline{{Rule: "GDPR art. 33(1)", Recipient: ethos.RecipientSupervisoryAuthority,
			Due: time.Date(2026, 3, 30, 11, 0, 0, 0, berlin)}}},
		{"GDPRRiskUnlikelyHighRiskSubjects", ethos.Incident{
			AwareAt: utc("2026-05-01T08:00:00Z"), Zone: "Europe/Berlin", Jurisdictions: eu, Classes: breach, GDPRRiskUnlikely: true,
		}, nil},
		{"GDPRHighRiskAddsSubjects", ethos.Incident{
			AwareAt: utc("2026-05-01T08:00:00Z"), Zone: "Europe/Berlin", Jurisdictions: eu, Classes: breach, GDPRHighRisk: true,
		}, []ethos.Deadline{
			{Rule: "GDPR art. 33(1)", Recipient: ethos.RecipientSupervisoryAuthority, Due: utc("2026-05-04T08:00:00Z")},
			{Rule: "GDPR art. 34(1)", Recipient: ethos.RecipientDataSubjects},
		}},
		{"AIAct15DaysAcrossAutumnDST", ethos.Incident{
			AwareAt: time.Date(2026, 10, 20, 14, 0, 0, 0, berlin), Zone: "Europe/Berlin", Jurisdictions: eu, Classes: serious,
			Outcomes: []ethos.SeriousOutcome{ethos.OutcomeSeriousHarmHealth},
		}, []ethos.Deadline{{Rule: "EU AI Act art. 73", Recipient: ethos.RecipientMarketSurveillance,
			Due: utc("2026-11-04T22:59:59.999999999Z")}}},
		{"AIActDeath10DaysAcrossSpringDST", ethos.Incident{
			AwareAt: time.Date(2026, 3, 20, 9, 0, 0, 0, berlin), Zone: "Europe/Berlin", Jurisdictions: eu, Classes: serious,
			Outcomes: []ethos.SeriousOutcome{ethos.OutcomeDeath, ethos.OutcomeSeriousHarmHealth},
		}, []ethos.Deadline{{Rule: "EU AI Act art. 73", Recipient: ethos.RecipientMarketSurveillance,
			Due: utc("2026-03-30T21:59:59.999999999Z")}}},
		{"AIActCriticalInfrastructure2Days", ethos.Incident{
			// 23:30 CET on 28 March is 22:30 UTC; the day counted is the Berlin day.
			AwareAt: utc("2026-03-28T22:30:00Z"), Zone: "Europe/Berlin", Jurisdictions: eu, Classes: serious,
			Outcomes: []ethos.SeriousOutcome{ethos.OutcomeCriticalInfrastructure},
		}, []ethos.Deadline{{Rule: "EU AI Act art. 73", Recipient: ethos.RecipientMarketSurveillance,
			Due: utc("2026-03-30T21:59:59.999999999Z")}}},
		{"AIActWidespreadBeatsDeath", ethos.Incident{
			AwareAt: time.Date(2026, 6, 1, 9, 0, 0, 0, berlin), Zone: "Europe/Berlin", Jurisdictions: eu, Classes: serious,
			Outcomes: []ethos.SeriousOutcome{ethos.OutcomeDeath, ethos.OutcomeWidespread},
		}, []ethos.Deadline{{Rule: "EU AI Act art. 73", Recipient: ethos.RecipientMarketSurveillance,
			Due: utc("2026-06-03T21:59:59.999999999Z")}}},
		{"AIActDeployerInformsProvider", ethos.Incident{
			AwareAt: time.Date(2026, 6, 1, 9, 0, 0, 0, berlin), Zone: "Europe/Berlin", Jurisdictions: eu, Classes: serious,
			Outcomes: []ethos.SeriousOutcome{ethos.OutcomeFundamentalRights}, AIActDeployer: true,
		}, []ethos.Deadline{
			{Rule: "EU AI Act art. 73", Recipient: ethos.RecipientMarketSurveillance, Due: utc("2026-06-16T21:59:59.999999999Z")},
			{Rule: "EU AI Act art. 26(5)", Recipient: ethos.RecipientProvider},
		}},
		{"AIActMidnightSkippedInSantiago", ethos.Incident{
			// Chile's clocks jump from 00:00 to 01:00 on 6 September 2026:
			// 5 September ends at 01:00 -03, which is 04:00 UTC.
			AwareAt: utc("2026-09-03T16:00:00Z"), Zone: "America/Santiago", Jurisdictions: eu, Classes: serious,
			Outcomes: []ethos.SeriousOutcome{ethos.OutcomeCriticalInfrastructure},
		}, []ethos.Deadline{{Rule: "EU AI Act art. 73", Recipient: ethos.RecipientMarketSurveillance,
			Due: utc("2026-09-06T03:59:59.999999999Z")}}},
		{"AIActNotInUS", ethos.Incident{
			AwareAt: utc("2026-06-01T09:00:00Z"), Zone: "America/New_York", Jurisdictions: us, Classes: serious,
			Outcomes: []ethos.SeriousOutcome{ethos.OutcomeDeath},
		}, nil},
		{"MalfunctionOnly", ethos.Incident{
			AwareAt: utc("2026-06-01T09:00:00Z"), Zone: "Europe/Berlin", Jurisdictions: eu, Classes: []ethos.IncidentClass{ethos.IncidentMalfunction},
		}, nil},
		{"HIPAASmallAcrossSpringDST", ethos.Incident{
			AwareAt: time.Date(2026, 3, 7, 12, 0, 0, 0, ny), Zone: "America/New_York", Jurisdictions: us, Classes: breach, AffectedSubjects: 499,
		}, []ethos.Deadline{
			{Rule: "HIPAA 45 CFR 164.404(b)", Recipient: ethos.RecipientIndividuals, Due: utc("2026-05-07T03:59:59.999999999Z")},
			{Rule: "HIPAA 45 CFR 164.408(c)", Recipient: ethos.RecipientHHS, Due: utc("2027-03-02T04:59:59.999999999Z")},
		}},
		{"HIPAALargeEveningBeforeAutumnDST", ethos.Incident{
			// 03:30 UTC on 1 November is 23:30 EDT on 31 October in New York.
			AwareAt: utc("2026-11-01T03:30:00Z"), Zone: "America/New_York", Jurisdictions: us, Classes: breach, AffectedSubjects: 500,
			AffectedByState: map[string]int{"NY": 300, "NJ": 200},
		}, []ethos.Deadline{
			{Rule: "HIPAA 45 CFR 164.404(b)", Recipient: ethos.RecipientIndividuals, Due: utc("2026-12-31T04:59:59.999999999Z")},
			{Rule: "HIPAA 45 CFR 164.408(b)", Recipient: ethos.RecipientHHS, Due: utc("2026-12-31T04:59:59.999999999Z")},
		}},
		{"HIPAAMediaOver500InState", ethos.Incident{
			AwareAt: time.Date(2026, 7, 1, 9, 0, 0, 0, ny), Zone: "America/New_York", Jurisdictions: us, Classes: breach, AffectedSubjects: 1200,
			AffectedByState: map[string]int{"NY": 501, "NJ": 500, "CT": 199},
		}, []ethos.Deadline{
			{Rule: "HIPAA 45 CFR 164.404(b)", Recipient: ethos.RecipientIndividuals, Due: utc("2026-08-31T03:59:59.999999999Z")},
			{Rule: "HIPAA 45 CFR 164.406", Recipient: ethos.RecipientMedia, USState: "NY", Due: utc("2026-08-31T03:59:59.999999999Z")},
			{Rule: "HIPAA 45 CFR 164.408(b)", Recipient: ethos.RecipientHHS, Due: utc("2026-08-31T03:59:59.999999999Z")},
		}},
		{"HIPAAAnnualLogLeapYear", ethos.Incident{
			AwareAt: time.Date(2027, 5, 5, 9, 0, 0, 0, ny), Zone: "America/New_York", Jurisdictions: us, Classes: breach, AffectedSubjects: 3,
		}, []ethos.Deadline{
			{Rule: "HIPAA 45 CFR 164.404(b)", Recipient: ethos.RecipientIndividuals, Due: utc("2027-07-05T03:59:59.999999999Z")},
			{Rule: "HIPAA 45 CFR 164.408(c)", Recipient: ethos.RecipientHHS, Due: utc("2028-03-01T04:59:59.999999999Z")},
		}},
		{"EUAndUSBreach", ethos.Incident{
			AwareAt: utc("2026-12-30T12:00:00Z"), Zone: "Europe/Berlin", Jurisdictions: []ethos.Jurisdiction{ethos.JurisdictionEU, ethos.JurisdictionUS},
			Classes: breach, AffectedSubjects: 10,
		}, []ethos.Deadline{
			{Rule: "GDPR art. 33(1)", Recipient: ethos.RecipientSupervisoryAuthority, Due: utc("2027-01-02T12:00:00Z")},
			{Rule: "HIPAA 45 CFR 164.404(b)", Recipient: ethos.RecipientIndividuals, Due: utc("2027-02-28T22:59:59.999999999Z")},
			{Rule: "HIPAA 45 CFR 164.408(c)", Recipient: ethos.RecipientHHS, Due: utc("2027-03-01T22:59:59.999999999Z")},
		}},
		{"EUAndUSBreachWithUSReportingZone", ethos.Incident{
			AwareAt: utc("2026-12-30T12:00:00Z"), Zone: "Europe/Berlin", Jurisdictions: []ethos.Jurisdiction{ethos.JurisdictionEU, ethos.JurisdictionUS},
			ReportingZones: map[ethos.Jurisdiction]string{ethos.JurisdictionUS: "America/New_York"},
			Classes:        breach, AffectedSubjects: 10,
		}, []ethos.Deadline{
			{Rule: "GDPR art. 33(1)", Recipient: ethos.RecipientSupervisoryAuthority, Due: utc("2027-01-02T12:00:00Z")},
			{Rule: "HIPAA 45 CFR 164.404(b)", Recipient: ethos.RecipientIndividuals, Due: utc("2027-03-01T04:59:59.999999999Z")},
			{Rule: "HIPAA 45 CFR 164.408(c)", Recipient: ethos.RecipientHHS, Due: utc("2027-03-02T04:59:59.999999999Z")},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := deployment.Deadlines(&tt.inc)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d deadlines %+v, want %d", len(got), got, len(tt.want))
			}
			for i, w := range tt.want {
				g := got[i]
				if g.Rule != w.Rule || g.Recipient != w.Recipient || g.USState != w.USState || !g.Due.Equal(w.Due) {
					t.Errorf("deadline %d = %s %s %s %s, want %s %s %s %s", i,
						g.Rule, g.Recipient, g.USState, g.Due.UTC().Format(time.RFC3339Nano),
						w.Rule, w.Recipient, w.USState, w.Due.UTC().Format(time.RFC3339Nano))
				}
				if g.Zone == "" {
					t.Errorf("deadline %d has no zone", i)
				}
				if g.Basis == "" {
					t.Errorf("deadline %d has no basis", i)
				}
			}
		})
	}
}

func TestStatusBoundaries(t *testing.T) {
	aware := utc("2026-10-23T08:00:00Z")
	due := aware.Add(72 * time.Hour)
	base := func(ns ...ethos.Notification) *ethos.Incident {
		return &ethos.Incident{ID: "inc_1", AwareAt: aware, Zone: "Europe/Berlin", Jurisdictions: []ethos.Jurisdiction{ethos.JurisdictionEU},
			Classes: []ethos.IncidentClass{ethos.IncidentPersonalDataBreach}, Notifications: ns}
	}
	sent := func(at time.Time) ethos.Notification {
		return ethos.Notification{Recipient: ethos.RecipientSupervisoryAuthority, SentAt: at, SentBy: "usr_dpo"}
	}
	tests := []struct {
		name string
		inc  *ethos.Incident
		now  time.Time
		want ethos.DeadlineState
	}{
		{"PendingAtDeadline", base(), due, ethos.DeadlinePending},
		{"OverdueOneNanosecondAfter", base(), due.Add(time.Nanosecond), ethos.DeadlineOverdue},
		{"MetExactlyAtDeadline", base(sent(due)), due.Add(time.Hour), ethos.DeadlineMet},
		{"LateOneNanosecondAfter", base(sent(due.Add(time.Nanosecond))), due.Add(time.Hour), ethos.DeadlineLate},
		{"EarliestNotificationCounts", base(sent(due.Add(time.Hour)), sent(due.Add(-time.Hour))), due.Add(2 * time.Hour), ethos.DeadlineMet},
		{"OtherRecipientDoesNotCount", base(ethos.Notification{Recipient: ethos.RecipientDataSubjects, SentAt: aware, SentBy: "usr_dpo"}), due.Add(time.Nanosecond), ethos.DeadlineOverdue},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := deployment.Status(tt.inc, tt.now)
			if err != nil {
				t.Fatal(err)
			}
			if len(st) != 1 || st[0].State != tt.want {
				t.Fatalf("status = %+v, want one %s", st, tt.want)
			}
			over, err := deployment.Overdue(tt.inc, tt.now)
			if err != nil {
				t.Fatal(err)
			}
			if (len(over) == 1) != (tt.want == ethos.DeadlineOverdue) {
				t.Errorf("Overdue = %+v", over)
			}
		})
	}
}

func TestStatusCalendarDayBoundary(t *testing.T) {
	// Two-day AI Act clock from 23:30 Berlin time before the spring change:
	// due at the last nanosecond of 30 March, Berlin time (CEST).
	inc := &ethos.Incident{ID: "inc_2", AwareAt: utc("2026-03-28T22:30:00Z"), Zone: "Europe/Berlin",
		Jurisdictions: []ethos.Jurisdiction{ethos.JurisdictionEU}, Classes: []ethos.IncidentClass{ethos.IncidentSerious},
		Outcomes: []ethos.SeriousOutcome{ethos.OutcomeCriticalInfrastructure}}
	midnight := time.Date(2026, 3, 31, 0, 0, 0, 0, mustLoc(t, "Europe/Berlin"))
	for _, tc := range []struct {
		name string
		now  time.Time
		want ethos.DeadlineState
	}{
		{"PendingLastNanosecond", midnight.Add(-time.Nanosecond), ethos.DeadlinePending},
		{"OverdueAtLocalMidnight", midnight, ethos.DeadlineOverdue},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := deployment.Status(inc, tc.now)
			if err != nil {
				t.Fatal(err)
			}
			if st[0].State != tc.want {
				t.Errorf("state = %s, want %s", st[0].State, tc.want)
			}
		})
	}
}

func TestCheckClose(t *testing.T) {
	aware := utc("2026-06-01T08:00:00Z")
	inc := &ethos.Incident{ID: "inc_3", AwareAt: aware, Zone: "Europe/Berlin", Jurisdictions: []ethos.Jurisdiction{ethos.JurisdictionEU},
		Classes: []ethos.IncidentClass{ethos.IncidentPersonalDataBreach}, GDPRHighRisk: true}
	err := deployment.CheckClose(inc, aware.Add(100*time.Hour))
	if ethos.ErrorCode(err) != ethos.ECONFLICT || !strings.Contains(err.Error(), "overdue") || !strings.Contains(err.Error(), "no fixed limit") {
		t.Fatalf("CheckClose with nothing sent = %v", err)
	}
	inc.Notifications = []ethos.Notification{
		{Recipient: ethos.RecipientSupervisoryAuthority, SentAt: aware.Add(80 * time.Hour), SentBy: "usr_dpo"},
		{Recipient: ethos.RecipientDataSubjects, SentAt: aware.Add(90 * time.Hour), SentBy: "usr_dpo"},
	}
	if err := deployment.CheckClose(inc, aware.Add(100*time.Hour)); err != nil {
		t.Fatalf("CheckClose after notifying (late) = %v", err)
	}
}

func TestValidateIncident(t *testing.T) {
	ok := func() ethos.Incident {
		return ethos.Incident{ID: "inc_4", AwareAt: utc("2026-06-01T08:00:00Z"), Zone: "America/New_York",
			Jurisdictions: []ethos.Jurisdiction{ethos.JurisdictionUS}, Classes: []ethos.IncidentClass{ethos.IncidentPersonalDataBreach},
			AffectedSubjects: 10, AffectedByState: map[string]int{"NY": 10}}
	}
	tests := []struct {
		name, want string
		edit       func(*ethos.Incident)
	}{
		{"Valid", "", func(*ethos.Incident) {}},
		{"ErrNoAwareness", "aware_at", func(i *ethos.Incident) { i.AwareAt = time.Time{} }},
		{"ErrNoZone", "zone: required", func(i *ethos.Incident) { i.Zone = "" }},
		{"ErrBadZone", "not a known IANA", func(i *ethos.Incident) { i.Zone = "Mars/Olympus" }},
		{"ErrLocalZone", "not a known IANA", func(i *ethos.Incident) { i.Zone = "Local" }},
		{"ErrNoClass", "classes: at least one", func(i *ethos.Incident) { i.Classes = nil }},
		{"ErrUnknownClass", "unknown class", func(i *ethos.Incident) { i.Classes = []ethos.IncidentClass{"oops"} }},
		{"ErrSeriousWithoutOutcome", "needs at least one outcome", func(i *ethos.Incident) { i.Classes = []ethos.IncidentClass{ethos.IncidentSerious} }},
		{"ErrUnknownOutcome", "unknown outcome", func(i *ethos.Incident) { i.Outcomes = []ethos.SeriousOutcome{"bad"} }},
		{"ErrJurisdiction", "unknown jurisdiction", func(i *ethos.Incident) { i.Jurisdictions = []ethos.Jurisdiction{"UK"} }},
		{"ErrNegativeCount", "must not be negative", func(i *ethos.Incident) { i.AffectedSubjects = -1 }},
		{"ErrStateSum", "adds up to 11", func(i *ethos.Incident) { i.AffectedByState["NJ"] = 1 }},
		{"ErrStateCode", "two-letter", func(i *ethos.Incident) { i.AffectedByState["new york"] = 0 }},
		{"ErrMediaWithoutState", "names its state", func(i *ethos.Incident) {
			i.Notifications = []ethos.Notification{{Recipient: ethos.RecipientMedia, SentAt: i.AwareAt, SentBy: "u"}}
		}},
		{"ErrReportingZone", "reporting_zones US", func(i *ethos.Incident) {
			i.ReportingZones = map[ethos.Jurisdiction]string{ethos.JurisdictionUS: "EST5EDT6"}
		}},
		{"ErrStatus", "unknown status", func(i *ethos.Incident) { i.Status = "forgotten" }},
		{"ErrContradictoryGDPRRisk", "contradict", func(i *ethos.Incident) { i.GDPRHighRisk, i.GDPRRiskUnlikely = true, true }},
		{"ErrRecipient", "unknown recipient", func(i *ethos.Incident) {
			i.Notifications = []ethos.Notification{{Recipient: "press", SentAt: i.AwareAt, SentBy: "u"}}
		}},
		{"ErrSentBeforeAwareness", "sent before", func(i *ethos.Incident) {
			i.Notifications = []ethos.Notification{{Recipient: ethos.RecipientHHS, SentAt: i.AwareAt.Add(-time.Nanosecond), SentBy: "u"}}
		}},
		{"ErrNotificationUnsigned", "sent_by required", func(i *ethos.Incident) {
			i.Notifications = []ethos.Notification{{Recipient: ethos.RecipientHHS, SentAt: i.AwareAt}}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inc := ok()
			tt.edit(&inc)
			_, err := deployment.ValidateIncident(&inc)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if ethos.ErrorCode(err) != ethos.EINVALID || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want invalid containing %q", err, tt.want)
			}
		})
	}
}
