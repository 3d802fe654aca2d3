package deployment_test

import (
	"strings"
	"testing"
	"time"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/deployment"
)

// fuzzZones includes zones with half-hour shifts (Australia/Lord_Howe),
// odd offsets (Pacific/Chatham) and a date line jump (Pacific/Apia
// skipped 30 December 2011) and zones whose clocks change at midnight, so
// that some local midnights do not exist (America/Santiago, America/Havana,
// Asia/Beirut).
var fuzzZones = []string{"Europe/Berlin", "America/New_York", "UTC", "Australia/Lord_Howe", "Pacific/Chatham", "Pacific/Apia", "Asia/Kolkata", "America/Santiago", "America/Havana", "Asia/Beirut"}

// FuzzDeadlines checks, for any awareness instant, zone and incident shape,
// that Deadlines does not panic and that every due instant is after
// awareness, within its clock's length, and (for calendar-day clocks) the
// last instant of a local day.
func FuzzDeadlines(f *testing.F) {
	f.Add(time.Date(2026, 10, 25, 1, 30, 0, 0, time.UTC).Unix(), uint8(0), uint8(7), uint8(63), 812, 640)
	f.Add(time.Date(2026, 3, 8, 6, 59, 0, 0, time.UTC).Unix(), uint8(1), uint8(4), uint8(1), 499, 0)
	f.Add(time.Date(2011, 12, 29, 10, 0, 0, 0, time.UTC).Unix(), uint8(5), uint8(6), uint8(4), 501, 501)
	f.Add(time.Date(2026, 9, 3, 16, 0, 0, 0, time.UTC).Unix(), uint8(7), uint8(2), uint8(4), 0, 0)
	f.Fuzz(func(t *testing.T, sec int64, zone, classes, outcomes uint8, affected, inState int) {
		if sec < -1e10 || sec > 1e10 || affected < 0 || inState < 0 || inState > affected {
			return
		}
		name := fuzzZones[int(zone)%len(fuzzZones)]
		loc := mustLoc(t, name)
		inc := &ethos.Incident{ID: "inc_f", AwareAt: time.Unix(sec, 0), Zone: name,
			Jurisdictions: []ethos.Jurisdiction{ethos.JurisdictionEU, ethos.JurisdictionUS}, AffectedSubjects: affected,
			AffectedByState: map[string]int{"NY": inState}}
		all := []ethos.IncidentClass{ethos.IncidentMalfunction, ethos.IncidentSerious, ethos.IncidentPersonalDataBreach}
		for i, c := range all {
			if classes&(1<<i) != 0 {
				inc.Classes = append(inc.Classes, c)
			}
		}
		outs := []ethos.SeriousOutcome{ethos.OutcomeDeath, ethos.OutcomeSeriousHarmHealth, ethos.OutcomeCriticalInfrastructure,
			ethos.OutcomeFundamentalRights, ethos.OutcomePropertyEnvironment, ethos.OutcomeWidespread}
		for i, o := range outs {
			if outcomes&(1<<i) != 0 {
				inc.Outcomes = append(inc.Outcomes, o)
			}
		}
		ds, err := deployment.Deadlines(inc)
		if err != nil {
			if ethos.ErrorCode(err) != ethos.EINVALID {
				t.Fatalf("error %v not invalid", err)
			}
			return
		}
		for _, d := range ds {
			if d.Due.IsZero() {
				continue
			}
			if !d.Due.After(inc.AwareAt) {
				t.Fatalf("%s due %v not after awareness %v", d.Rule, d.Due, inc.AwareAt)
			}
			if d.Rule == "GDPR art. 33(1)" {
				if d.Due.Sub(inc.AwareAt) != 72*time.Hour {
					t.Fatalf("GDPR clock %v", d.Due.Sub(inc.AwareAt))
				}
				continue
			}
			days := map[string]int{"EU AI Act art. 73": 15, "HIPAA 45 CFR 164.408(c)": 426}[d.Rule]
			if strings.HasPrefix(d.Basis, "10 days") {
				days = 10
			} else if strings.HasPrefix(d.Basis, "2 days") {
				days = 2
			} else if days == 0 {
				days = 60
			}
			if got := d.Due.Sub(inc.AwareAt); got > time.Duration(days+2)*24*time.Hour || (days < 400 && got < time.Duration(days-1)*24*time.Hour) {
				t.Fatalf("%s: due %v after awareness, want about %d days", d.Rule, got, days)
			}
			// The due instant is the last of a local day: one nanosecond
			// later is another local date (usually 00:00; 01:00 where the
			// clocks jump at midnight).
			y1, m1, d1 := d.Due.In(loc).Date()
			y2, m2, d2 := d.Due.Add(time.Nanosecond).In(loc).Date()
			if y1 == y2 && m1 == m2 && d1 == d2 {
				t.Fatalf("%s: due %v is not the last instant of a local day in %s", d.Rule, d.Due.In(loc), name)
			}
		}
	})
}
