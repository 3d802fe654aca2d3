package consent_test

import (
	"strings"
	"testing"
	"time"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/consent"
)

var (
	subjA = mustKey("subject-a")
	subjB = mustKey("subject-b")
)

func mustKey(v string) ethos.SubjectKey {
	k, err := ethos.DeriveSubjectKey([]byte("0123456789abcdef0123456789abcdef"), ethos.PatientIdentifier{Issuer: "urn:oid:1.2.3", Value: v})
	if err != nil {
		panic(err)
	}
	return k
}

func day(s string) time.Time {
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		panic(err)
	}
	return t
}

// endOf returns the last instant of the day s, as a FHIR period end given
// as a date is stored.
func endOf(s string) time.Time { return day(s).AddDate(0, 0, 1).Add(-time.Nanosecond) }

// mk builds an active consent for subjA given on date, with root as its
// root provision; opts adjust it.
func mk(id, date string, root ethos.Provision, opts ...func(*ethos.Consent)) *ethos.Consent {
	c := &ethos.Consent{
		ID: id, Status: ethos.ConsentActive, Scope: ethos.ScopeResearch, Subject: subjA,
		DateTime: day(date), PolicyRule: ethos.Coding{System: "http://terminology.hl7.org/CodeSystem/v3-ActCode", Code: "OPTIN"},
		Provision: root,
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

func status(s ethos.ConsentStatus) func(*ethos.Consent) {
	return func(c *ethos.Consent) { c.Status = s }
}

func period(start, end string) func(*ethos.Consent) {
	return func(c *ethos.Consent) {
		if start != "" {
			c.Provision.Period.Start = day(start)
		}
		if end != "" {
			c.Provision.Period.End = endOf(end)
		}
	}
}

func subject(k ethos.SubjectKey) func(*ethos.Consent) {
	return func(c *ethos.Consent) { c.Subject = k }
}

// optIn is the usual research consent: deny everything except the listed
// purposes.
func optIn(purposes ...ethos.Purpose) ethos.Provision {
	return ethos.Provision{Type: ethos.ProvisionDeny, Provisions: []ethos.Provision{
		{Type: ethos.ProvisionPermit, Purposes: purposes},
	}}
}

func permitAll() ethos.Provision { return ethos.Provision{Type: ethos.ProvisionPermit} }

// retro permits research on images acquired 2015 to 2019 only.
func retro() ethos.Provision {
	return ethos.Provision{Type: ethos.ProvisionDeny, Provisions: []ethos.Provision{
		{Type: ethos.ProvisionPermit, Purposes: []ethos.Purpose{ethos.PurposeResearch},
			DataPeriod: ethos.Period{Start: day("2015-01-01"), End: endOf("2019-12-31")}},
	}}
}

func TestDecide(t *testing.T) {
	now := day("2026-06-01")
	q := func(p ethos.Purpose, mod ...func(*consent.Query)) consent.Query {
		q := consent.Query{Subject: subjA, Purpose: p, Party: "site-a", Modality: "CT", BodyPart: "CHEST", Now: now}
		for _, m := range mod {
			m(&q)
		}
		return q
	}
	at := func(s string) func(*consent.Query) { return func(q *consent.Query) { q.At = day(s) } }
	atT := func(t time.Time) func(*consent.Query) { return func(q *consent.Query) { q.At = t } }

	tests := []struct {
		name      string
		consents  []*ethos.Consent
		query     consent.Query
		decision  ethos.Decision
		reason    ethos.DecisionReason
		consentID string
		provision string
	}{
		{
			name:     "NoConsentOnFile",
			query:    q(ethos.PurposeResearch),
			decision: ethos.DecisionNoConsent, reason: ethos.ReasonNoConsent,
		},
		{
			name:     "OtherSubjectIgnored",
			consents: []*ethos.Consent{mk("c1", "2025-01-01", permitAll(), subject(subjB))},
			query:    q(ethos.PurposeResearch),
			decision: ethos.DecisionNoConsent, reason: ethos.ReasonNoConsent,
		},
		{
			name:     "PermitByNestedProvision",
			consents: []*ethos.Consent{mk("c1", "2025-01-01", optIn(ethos.PurposeResearch, ethos.PurposeAITraining))},
			query:    q(ethos.PurposeAITraining),
			decision: ethos.DecisionPermit, reason: ethos.ReasonPermitted, consentID: "c1", provision: "provision.provision[0]",
		},
		{
			name:     "OutOfScopeCommercialWhenOnlyResearchGranted",
			consents: []*ethos.Consent{mk("c1", "2025-01-01", optIn(ethos.PurposeResearch))},
			query:    q(ethos.PurposeCommercialUse),
			decision: ethos.DecisionNoConsent, reason: ethos.ReasonOutOfScope, consentID: "c1", provision: "provision",
		},
		{
			name: "OutOfScopeWhenConsentIsSilent",
			consents: []*ethos.Consent{mk("c1", "2025-01-01", ethos.Provision{
				Type: ethos.ProvisionPermit, Purposes: []ethos.Purpose{ethos.PurposeClinicalCare}})},
			query:    q(ethos.PurposeResearch),
			decision: ethos.DecisionNoConsent, reason: ethos.ReasonOutOfScope, consentID: "c1",
		},
		{
			name:     "BlanketOptOutDenies",
			consents: []*ethos.Consent{mk("c1", "2025-01-01", ethos.Provision{Type: ethos.ProvisionDeny})},
			query:    q(ethos.PurposeResearch),
			decision: ethos.DecisionDeny, reason: ethos.ReasonDenied, consentID: "c1", provision: "provision",
		},
		{
			name: "NestedDenyOverridesParentPermit",
			consents: []*ethos.Consent{mk("c1", "2025-01-01", ethos.Provision{Type: ethos.ProvisionPermit, Provisions: []ethos.Provision{
				{Type: ethos.ProvisionDeny, Purposes: []ethos.Purpose{ethos.PurposeCommercialUse}},
			}})},
			query:    q(ethos.PurposeCommercialUse),
			decision: ethos.DecisionDeny, reason: ethos.ReasonDenied, consentID: "c1", provision: "provision.provision[0]",
		},
		{
			name: "ParentPermitAppliesWhereNestedDenyDoesNotMatch",
			consents: []*ethos.Consent{mk("c1", "2025-01-01", ethos.Provision{Type: ethos.ProvisionPermit, Provisions: []ethos.Provision{
				{Type: ethos.ProvisionDeny, Purposes: []ethos.Purpose{ethos.PurposeCommercialUse}},
			}})},
			query:    q(ethos.PurposeAITraining),
			decision: ethos.DecisionPermit, reason: ethos.ReasonPermitted, consentID: "c1", provision: "provision",
		},
		{
			name: "DenyOverridesPermitBetweenSiblings",
			consents: []*ethos.Consent{mk("c1", "2025-01-01", ethos.Provision{Type: ethos.ProvisionDeny, Provisions: []ethos.Provision{
				{Type: ethos.ProvisionPermit, Purposes: []ethos.Purpose{ethos.PurposeResearch}},
				{Type: ethos.ProvisionDeny, Modalities: []string{"CT"}},
			}})},
			query:    q(ethos.PurposeResearch),
			decision: ethos.DecisionDeny, reason: ethos.ReasonDenied, consentID: "c1", provision: "provision.provision[1]",
		},
		{
			name: "DoublyNestedPermitRefinesNestedDeny",
			consents: []*ethos.Consent{mk("c1", "2025-01-01", ethos.Provision{Type: ethos.ProvisionDeny, Provisions: []ethos.Provision{
				{Type: ethos.ProvisionPermit, Purposes: []ethos.Purpose{ethos.PurposeResearch}, Provisions: []ethos.Provision{
					{Type: ethos.ProvisionDeny, BodyParts: []string{"HEAD"}, Provisions: []ethos.Provision{
						{Type: ethos.ProvisionPermit, Actors: []ethos.Actor{{Party: "site-a"}}},
					}},
				}},
			}})},
			query:    q(ethos.PurposeResearch, func(q *consent.Query) { q.BodyPart = "HEAD" }),
			decision: ethos.DecisionPermit, reason: ethos.ReasonPermitted, consentID: "c1", provision: "provision.provision[0].provision[0].provision[0]",
		},
		{
			name: "NestedDenyByBodyPart",
			consents: []*ethos.Consent{mk("c1", "2025-01-01", ethos.Provision{Type: ethos.ProvisionDeny, Provisions: []ethos.Provision{
				{Type: ethos.ProvisionPermit, Purposes: []ethos.Purpose{ethos.PurposeResearch}, Provisions: []ethos.Provision{
					{Type: ethos.ProvisionDeny, BodyParts: []string{"HEAD"}},
				}},
			}})},
			query:    q(ethos.PurposeResearch, func(q *consent.Query) { q.BodyPart = "HEAD"; q.Party = "site-b" }),
			decision: ethos.DecisionDeny, reason: ethos.ReasonDenied, consentID: "c1", provision: "provision.provision[0].provision[0]",
		},
		{
			name: "UntypedNestedInheritsParentType",
			consents: []*ethos.Consent{mk("c1", "2025-01-01", ethos.Provision{Type: ethos.ProvisionDeny, Provisions: []ethos.Provision{
				{Type: ethos.ProvisionPermit, Provisions: []ethos.Provision{{Purposes: []ethos.Purpose{ethos.PurposeAIEvaluation}}}},
			}})},
			query:    q(ethos.PurposeAIEvaluation),
			decision: ethos.DecisionPermit, reason: ethos.ReasonPermitted, consentID: "c1", provision: "provision.provision[0].provision[0]",
		},
		{
			name: "UnknownModalityDoesNotUnlockPermit",
			consents: []*ethos.Consent{mk("c1", "2025-01-01", ethos.Provision{Type: ethos.ProvisionDeny, Provisions: []ethos.Provision{
				{Type: ethos.ProvisionPermit, Purposes: []ethos.Purpose{ethos.PurposeResearch}, Modalities: []string{"MR"}},
			}})},
			query:    q(ethos.PurposeResearch, func(q *consent.Query) { q.Modality = "" }),
			decision: ethos.DecisionNoConsent, reason: ethos.ReasonOutOfScope, consentID: "c1", provision: "provision",
		},
		{
			name: "UnknownModalityCannotSlipPastDeny",
			consents: []*ethos.Consent{mk("c1", "2025-01-01", ethos.Provision{Type: ethos.ProvisionPermit, Provisions: []ethos.Provision{
				{Type: ethos.ProvisionDeny, Modalities: []string{"MG"}},
			}})},
			query:    q(ethos.PurposeResearch, func(q *consent.Query) { q.Modality = "" }),
			decision: ethos.DecisionDeny, reason: ethos.ReasonDenied, consentID: "c1", provision: "provision.provision[0]",
		},
		{
			name: "UnknownPartyCannotSlipPastDeny",
			consents: []*ethos.Consent{mk("c1", "2025-01-01", ethos.Provision{Type: ethos.ProvisionPermit, Provisions: []ethos.Provision{
				{Type: ethos.ProvisionDeny, Actors: []ethos.Actor{{Party: "vendor-x"}}},
			}})},
			query:    q(ethos.PurposeResearch, func(q *consent.Query) { q.Party = "" }),
			decision: ethos.DecisionDeny, reason: ethos.ReasonDenied, consentID: "c1", provision: "provision.provision[0]",
		},
		{
			name: "ActorRestrictedPermitForOtherParty",
			consents: []*ethos.Consent{mk("c1", "2025-01-01", ethos.Provision{Type: ethos.ProvisionDeny, Provisions: []ethos.Provision{
				{Type: ethos.ProvisionPermit, Actors: []ethos.Actor{{Party: "site-a"}}},
			}})},
			query:    q(ethos.PurposeThirdPartySharing, func(q *consent.Query) { q.Party = "vendor-x"; q.Action = ethos.ActionDisclose }),
			decision: ethos.DecisionNoConsent, reason: ethos.ReasonOutOfScope, consentID: "c1", provision: "provision",
		},
		{
			name: "ActionRestrictedPermitDoesNotCoverDisclose",
			consents: []*ethos.Consent{mk("c1", "2025-01-01", ethos.Provision{Type: ethos.ProvisionDeny, Provisions: []ethos.Provision{
				{Type: ethos.ProvisionPermit, Actions: []ethos.ConsentAction{ethos.ActionUse}},
			}})},
			query:    q(ethos.PurposeResearch, func(q *consent.Query) { q.Action = ethos.ActionDisclose }),
			decision: ethos.DecisionNoConsent, reason: ethos.ReasonOutOfScope, consentID: "c1", provision: "provision",
		},
		{
			name: "NestedPeriodLimitsPermit",
			consents: []*ethos.Consent{mk("c1", "2025-01-01", ethos.Provision{Type: ethos.ProvisionDeny, Provisions: []ethos.Provision{
				{Type: ethos.ProvisionPermit, Period: ethos.Period{End: endOf("2025-12-31")}},
			}})},
			query:    q(ethos.PurposeResearch),
			decision: ethos.DecisionNoConsent, reason: ethos.ReasonOutOfScope, consentID: "c1", provision: "provision",
		},
		{
			name: "NewestConsentWinsDeny",
			consents: []*ethos.Consent{
				mk("old", "2024-01-01", optIn(ethos.PurposeResearch)),
				mk("new", "2025-03-01", ethos.Provision{Type: ethos.ProvisionDeny}),
			},
			query:    q(ethos.PurposeResearch),
			decision: ethos.DecisionDeny, reason: ethos.ReasonDenied, consentID: "new", provision: "provision",
		},
		{
			name: "NewestConsentWinsPermit",
			consents: []*ethos.Consent{
				mk("new", "2025-03-01", optIn(ethos.PurposeResearch)),
				mk("old", "2024-01-01", ethos.Provision{Type: ethos.ProvisionDeny}),
			},
			query:    q(ethos.PurposeResearch),
			decision: ethos.DecisionPermit, reason: ethos.ReasonPermitted, consentID: "new", provision: "provision.provision[0]",
		},
		{
			name: "NewerOptInNarrowsOlderPermitAll",
			consents: []*ethos.Consent{
				mk("old", "2024-01-01", permitAll()),
				mk("new", "2025-03-01", optIn(ethos.PurposeResearch)),
			},
			query:    q(ethos.PurposeCommercialUse),
			decision: ethos.DecisionNoConsent, reason: ethos.ReasonOutOfScope, consentID: "new", provision: "provision",
		},
		{
			name: "SilentNewerConsentLeavesOlderInCharge",
			consents: []*ethos.Consent{
				mk("research", "2024-01-01", optIn(ethos.PurposeResearch)),
				mk("care", "2025-03-01", ethos.Provision{Type: ethos.ProvisionPermit, Purposes: []ethos.Purpose{ethos.PurposeClinicalCare}}),
			},
			query:    q(ethos.PurposeResearch),
			decision: ethos.DecisionPermit, reason: ethos.ReasonPermitted, consentID: "research", provision: "provision.provision[0]",
		},
		{
			name: "SameInstantDenyWins",
			consents: []*ethos.Consent{
				mk("b", "2025-03-01", optIn(ethos.PurposeResearch)),
				mk("a", "2025-03-01", ethos.Provision{Type: ethos.ProvisionPermit, Provisions: []ethos.Provision{
					{Type: ethos.ProvisionDeny, Purposes: []ethos.Purpose{ethos.PurposeResearch}}}}),
			},
			query:    q(ethos.PurposeResearch),
			decision: ethos.DecisionDeny, reason: ethos.ReasonDenied, consentID: "a", provision: "provision.provision[0]",
		},
		{
			name: "SameInstantPermitBeatsBaseDeny",
			consents: []*ethos.Consent{
				mk("a", "2025-03-01", optIn(ethos.PurposeResearch)),
				mk("b", "2025-03-01", optIn(ethos.PurposeCommercialUse)),
			},
			query:    q(ethos.PurposeCommercialUse),
			decision: ethos.DecisionPermit, reason: ethos.ReasonPermitted, consentID: "b", provision: "provision.provision[0]",
		},
		{
			name: "OverlappingPeriodsNewestInForceWins",
			consents: []*ethos.Consent{
				mk("old", "2023-01-01", optIn(ethos.PurposeResearch), period("2023-01-01", "2027-12-31")),
				mk("new", "2024-01-01", ethos.Provision{Type: ethos.ProvisionDeny}, period("2024-01-01", "2024-12-31")),
			},
			query:    q(ethos.PurposeResearch, at("2024-06-01")),
			decision: ethos.DecisionDeny, reason: ethos.ReasonDenied, consentID: "new", provision: "provision",
		},
		{
			name: "OverlappingPeriodsOlderAfterNewerExpired",
			consents: []*ethos.Consent{
				mk("old", "2023-01-01", optIn(ethos.PurposeResearch), period("2023-01-01", "2027-12-31")),
				mk("new", "2024-01-01", ethos.Provision{Type: ethos.ProvisionDeny}, period("2024-01-01", "2024-12-31")),
			},
			query:    q(ethos.PurposeResearch, at("2025-06-01")),
			decision: ethos.DecisionPermit, reason: ethos.ReasonPermitted, consentID: "old", provision: "provision.provision[0]",
		},
		{
			name:     "DataPeriodCoversAcquisition",
			consents: []*ethos.Consent{mk("c1", "2025-01-01", retro())},
			query:    q(ethos.PurposeResearch, func(q *consent.Query) { q.Acquired = day("2017-05-05") }),
			decision: ethos.DecisionPermit, reason: ethos.ReasonPermitted, consentID: "c1", provision: "provision.provision[0]",
		},
		{
			name:     "DataPeriodEndInclusive",
			consents: []*ethos.Consent{mk("c1", "2025-01-01", retro())},
			query:    q(ethos.PurposeResearch, func(q *consent.Query) { q.Acquired = endOf("2019-12-31") }),
			decision: ethos.DecisionPermit, reason: ethos.ReasonPermitted, consentID: "c1", provision: "provision.provision[0]",
		},
		{
			name:     "DataPeriodExcludesNewerImages",
			consents: []*ethos.Consent{mk("c1", "2025-01-01", retro())},
			query:    q(ethos.PurposeResearch, func(q *consent.Query) { q.Acquired = day("2020-01-01") }),
			decision: ethos.DecisionNoConsent, reason: ethos.ReasonOutOfScope, consentID: "c1", provision: "provision",
		},
		{
			name:     "DataPeriodUnknownAcquisitionDoesNotUnlockPermit",
			consents: []*ethos.Consent{mk("c1", "2025-01-01", retro())},
			query:    q(ethos.PurposeResearch),
			decision: ethos.DecisionNoConsent, reason: ethos.ReasonOutOfScope, consentID: "c1", provision: "provision",
		},
		{
			name: "DataPeriodUnknownAcquisitionCannotSlipPastDeny",
			consents: []*ethos.Consent{mk("c1", "2025-01-01", ethos.Provision{Type: ethos.ProvisionPermit, Provisions: []ethos.Provision{
				{Type: ethos.ProvisionDeny, DataPeriod: ethos.Period{End: endOf("2010-12-31")}},
			}})},
			query:    q(ethos.PurposeResearch),
			decision: ethos.DecisionDeny, reason: ethos.ReasonDenied, consentID: "c1", provision: "provision.provision[0]",
		},
		{
			name:     "Expired",
			consents: []*ethos.Consent{mk("c1", "2020-01-01", optIn(ethos.PurposeResearch), period("2020-01-01", "2024-12-31"))},
			query:    q(ethos.PurposeResearch),
			decision: ethos.DecisionNoConsent, reason: ethos.ReasonExpired, consentID: "c1", provision: "provision.provision[0]",
		},
		{
			name:     "PeriodEndInclusiveLastInstant",
			consents: []*ethos.Consent{mk("c1", "2020-01-01", optIn(ethos.PurposeResearch), period("2020-01-01", "2024-12-31"))},
			query:    q(ethos.PurposeResearch, atT(endOf("2024-12-31"))),
			decision: ethos.DecisionPermit, reason: ethos.ReasonPermitted, consentID: "c1", provision: "provision.provision[0]",
		},
		{
			name:     "PeriodEndExclusiveNextDay",
			consents: []*ethos.Consent{mk("c1", "2020-01-01", optIn(ethos.PurposeResearch), period("2020-01-01", "2024-12-31"))},
			query:    q(ethos.PurposeResearch, at("2025-01-01")),
			decision: ethos.DecisionNoConsent, reason: ethos.ReasonExpired, consentID: "c1", provision: "provision.provision[0]",
		},
		{
			name:     "PeriodStartInclusive",
			consents: []*ethos.Consent{mk("c1", "2020-01-01", optIn(ethos.PurposeResearch), period("2021-03-01", ""))},
			query:    q(ethos.PurposeResearch, at("2021-03-01")),
			decision: ethos.DecisionPermit, reason: ethos.ReasonPermitted, consentID: "c1", provision: "provision.provision[0]",
		},
		{
			name:     "NotYetValidBeforeStart",
			consents: []*ethos.Consent{mk("c1", "2020-01-01", optIn(ethos.PurposeResearch), period("2021-03-01", ""))},
			query:    q(ethos.PurposeResearch, atT(day("2021-03-01").Add(-time.Nanosecond))),
			decision: ethos.DecisionNoConsent, reason: ethos.ReasonNotYetValid, consentID: "c1", provision: "provision.provision[0]",
		},
		{
			name:     "NoPeriodStartsAtDateTime",
			consents: []*ethos.Consent{mk("c1", "2024-05-10", optIn(ethos.PurposeResearch))},
			query:    q(ethos.PurposeResearch, at("2024-05-09")),
			decision: ethos.DecisionNoConsent, reason: ethos.ReasonNotYetValid, consentID: "c1", provision: "provision.provision[0]",
		},
		{
			name:     "RetrospectivePeriodCoversEarlierAcquisition",
			consents: []*ethos.Consent{mk("c1", "2024-05-10", optIn(ethos.PurposeResearch), period("2015-01-01", ""))},
			query:    q(ethos.PurposeResearch, at("2016-02-02")),
			decision: ethos.DecisionPermit, reason: ethos.ReasonPermitted, consentID: "c1", provision: "provision.provision[0]",
		},
		{
			name:     "RecordedAfterNowDoesNotCount",
			consents: []*ethos.Consent{mk("c1", "2026-07-01", optIn(ethos.PurposeResearch), period("2020-01-01", ""))},
			query:    q(ethos.PurposeResearch),
			decision: ethos.DecisionNoConsent, reason: ethos.ReasonNotYetValid, consentID: "c1", provision: "provision.provision[0]",
		},
		{
			name:     "WithdrawnInactive",
			consents: []*ethos.Consent{mk("c1", "2025-01-01", optIn(ethos.PurposeResearch), status(ethos.ConsentInactive))},
			query:    q(ethos.PurposeResearch),
			decision: ethos.DecisionNoConsent, reason: ethos.ReasonWithdrawn, consentID: "c1", provision: "provision.provision[0]",
		},
		{
			name: "WithdrawnNewerExplainsOverOlderDraft",
			consents: []*ethos.Consent{
				mk("draft", "2024-01-01", optIn(ethos.PurposeResearch), status(ethos.ConsentDraft)),
				mk("gone", "2025-01-01", optIn(ethos.PurposeResearch), status(ethos.ConsentInactive)),
			},
			query:    q(ethos.PurposeResearch),
			decision: ethos.DecisionNoConsent, reason: ethos.ReasonWithdrawn, consentID: "gone", provision: "provision.provision[0]",
		},
		{
			name: "WithdrawnNewerLeavesOlderActive",
			consents: []*ethos.Consent{
				mk("old", "2024-01-01", optIn(ethos.PurposeResearch)),
				mk("gone", "2025-01-01", optIn(ethos.PurposeResearch), status(ethos.ConsentInactive)),
			},
			query:    q(ethos.PurposeResearch),
			decision: ethos.DecisionPermit, reason: ethos.ReasonPermitted, consentID: "old", provision: "provision.provision[0]",
		},
		{
			name: "WithdrawnExplainsOverSilentConsentInForce",
			consents: []*ethos.Consent{
				mk("care", "2025-03-01", ethos.Provision{Type: ethos.ProvisionPermit, Purposes: []ethos.Purpose{ethos.PurposeClinicalCare}}),
				mk("gone", "2024-01-01", optIn(ethos.PurposeResearch), status(ethos.ConsentInactive)),
			},
			query:    q(ethos.PurposeResearch),
			decision: ethos.DecisionNoConsent, reason: ethos.ReasonWithdrawn, consentID: "gone", provision: "provision.provision[0]",
		},
		{
			name:     "Draft",
			consents: []*ethos.Consent{mk("c1", "2025-01-01", optIn(ethos.PurposeResearch), status(ethos.ConsentDraft))},
			query:    q(ethos.PurposeResearch),
			decision: ethos.DecisionNoConsent, reason: ethos.ReasonNotActive, consentID: "c1", provision: "provision.provision[0]",
		},
		{
			name:     "Proposed",
			consents: []*ethos.Consent{mk("c1", "2025-01-01", optIn(ethos.PurposeResearch), status(ethos.ConsentProposed))},
			query:    q(ethos.PurposeResearch),
			decision: ethos.DecisionNoConsent, reason: ethos.ReasonNotActive, consentID: "c1", provision: "provision.provision[0]",
		},
		{
			name:     "Rejected",
			consents: []*ethos.Consent{mk("c1", "2025-01-01", optIn(ethos.PurposeResearch), status(ethos.ConsentRejected))},
			query:    q(ethos.PurposeResearch),
			decision: ethos.DecisionNoConsent, reason: ethos.ReasonNotActive, consentID: "c1", provision: "provision.provision[0]",
		},
		{
			name:     "EnteredInErrorIgnoredEntirely",
			consents: []*ethos.Consent{mk("c1", "2025-01-01", optIn(ethos.PurposeResearch), status(ethos.ConsentEnteredInError))},
			query:    q(ethos.PurposeResearch),
			decision: ethos.DecisionNoConsent, reason: ethos.ReasonNoConsent,
		},
		{
			name: "EnteredInErrorDenyDoesNotOverride",
			consents: []*ethos.Consent{
				mk("ok", "2024-01-01", optIn(ethos.PurposeResearch)),
				mk("bad", "2025-01-01", ethos.Provision{Type: ethos.ProvisionDeny}, status(ethos.ConsentEnteredInError)),
			},
			query:    q(ethos.PurposeResearch),
			decision: ethos.DecisionPermit, reason: ethos.ReasonPermitted, consentID: "ok", provision: "provision.provision[0]",
		},
		{
			name:     "InactiveOutOfScopeIsNotWithdrawnForOtherPurpose",
			consents: []*ethos.Consent{mk("c1", "2025-01-01", optIn(ethos.PurposeResearch), status(ethos.ConsentInactive))},
			query:    q(ethos.PurposeCommercialUse),
			decision: ethos.DecisionNoConsent, reason: ethos.ReasonNoConsent,
		},
		{
			name:     "ModalityCaseInsensitiveInQuery",
			consents: []*ethos.Consent{mk("c1", "2025-01-01", ethos.Provision{Type: ethos.ProvisionDeny, Provisions: []ethos.Provision{{Type: ethos.ProvisionPermit, Modalities: []string{"MR"}}}})},
			query:    q(ethos.PurposeResearch, func(q *consent.Query) { q.Modality = " mr" }),
			decision: ethos.DecisionPermit, reason: ethos.ReasonPermitted, consentID: "c1", provision: "provision.provision[0]",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := consent.Decide(tt.consents, tt.query)
			if err != nil {
				t.Fatalf("Decide: %v", err)
			}
			if got.Decision != tt.decision || got.Reason != tt.reason || got.ConsentID != tt.consentID || got.Provision != tt.provision {
				t.Errorf("got %s/%s consent %q provision %q (%s)\nwant %s/%s consent %q provision %q",
					got.Decision, got.Reason, got.ConsentID, got.Provision, got.Detail,
					tt.decision, tt.reason, tt.consentID, tt.provision)
			}
			if got.Subject != tt.query.Subject || got.Purpose != tt.query.Purpose {
				t.Errorf("decision names subject %s purpose %s, want %s %s", got.Subject.Short(), got.Purpose, tt.query.Subject.Short(), tt.query.Purpose)
			}
			if got.Detail == "" {
				t.Error("decision has no detail")
			}
			// The order of the consents never matters.
			n := len(tt.consents)
			for r := range 2 * n {
				perm := make([]*ethos.Consent, n)
				for i := range n {
					j := (i + r) % n
					if r >= n {
						j = n - 1 - (i+r)%n
					}
					perm[i] = tt.consents[j]
				}
				if other, _ := consent.Decide(perm, tt.query); other != got {
					t.Errorf("order %d: decision %+v differs from %+v", r, other, got)
				}
			}
			if got.NeedsNewConsent() != (tt.reason == ethos.ReasonOutOfScope) {
				t.Errorf("NeedsNewConsent = %v for reason %s", got.NeedsNewConsent(), got.Reason)
			}
			if err := got.Err(); (err == nil) != (tt.decision == ethos.DecisionPermit) {
				t.Errorf("Err() = %v for decision %s", err, got.Decision)
			} else if err != nil && ethos.ErrorCode(err) != ethos.ECONSENT {
				t.Errorf("Err() code = %s, want %s", ethos.ErrorCode(err), ethos.ECONSENT)
			}
		})
	}
}

func TestDecideInvalidQuery(t *testing.T) {
	now := day("2026-01-01")
	tests := []struct {
		name string
		q    consent.Query
		want string
	}{
		{"ErrBadSubject", consent.Query{Subject: "nope", Purpose: ethos.PurposeResearch, Now: now}, "subject"},
		{"ErrUnknownPurpose", consent.Query{Subject: subjA, Purpose: "marketing", Now: now}, "purpose"},
		{"ErrUnknownAction", consent.Query{Subject: subjA, Purpose: ethos.PurposeResearch, Action: "sell", Now: now}, "action"},
		{"ErrNoNow", consent.Query{Subject: subjA, Purpose: ethos.PurposeResearch}, "current time"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := consent.Decide(nil, tt.q)
			if err == nil || ethos.ErrorCode(err) != ethos.EINVALID || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want EINVALID mentioning %q", err, tt.want)
			}
		})
	}
}

func TestDecideAcquiredAndNow(t *testing.T) {
	now := day("2026-06-01")
	base := consent.Query{Subject: subjA, Purpose: ethos.PurposeResearch, Modality: "CT", Now: now}
	tests := []struct {
		name     string
		consents []*ethos.Consent
		acquired string
		acq, cur ethos.DecisionReason
		want     ethos.DecisionReason
	}{
		{
			name:     "PermittedBoth",
			consents: []*ethos.Consent{mk("c1", "2020-01-01", optIn(ethos.PurposeResearch))},
			acquired: "2022-01-01",
			acq:      ethos.ReasonPermitted, cur: ethos.ReasonPermitted, want: ethos.ReasonPermitted,
		},
		{
			name:     "AcquiredBeforeConsent",
			consents: []*ethos.Consent{mk("c1", "2024-01-01", optIn(ethos.PurposeResearch))},
			acquired: "2022-01-01",
			acq:      ethos.ReasonNotYetValid, cur: ethos.ReasonPermitted, want: ethos.ReasonNotYetValid,
		},
		{
			name:     "ExpiredNow",
			consents: []*ethos.Consent{mk("c1", "2020-01-01", optIn(ethos.PurposeResearch), period("", "2025-12-31"))},
			acquired: "2022-01-01",
			acq:      ethos.ReasonPermitted, cur: ethos.ReasonExpired, want: ethos.ReasonExpired,
		},
		{
			name:     "DataPeriodUsesAcquisitionTimeBothTimes",
			consents: []*ethos.Consent{mk("c1", "2020-01-01", retro(), period("2015-01-01", ""))},
			acquired: "2018-03-03",
			acq:      ethos.ReasonPermitted, cur: ethos.ReasonPermitted, want: ethos.ReasonPermitted,
		},
		{
			name:     "WithdrawnReportsNow",
			consents: []*ethos.Consent{mk("c1", "2020-01-01", optIn(ethos.PurposeResearch), status(ethos.ConsentInactive))},
			acquired: "2022-01-01",
			acq:      ethos.ReasonWithdrawn, cur: ethos.ReasonWithdrawn, want: ethos.ReasonWithdrawn,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cov, err := consent.DecideAcquiredAndNow(tt.consents, base, day(tt.acquired))
			if err != nil {
				t.Fatal(err)
			}
			if cov.Acquired.Reason != tt.acq || cov.Now.Reason != tt.cur || cov.Decision().Reason != tt.want {
				t.Errorf("got acquired %s, now %s, combined %s; want %s, %s, %s",
					cov.Acquired.Reason, cov.Now.Reason, cov.Decision().Reason, tt.acq, tt.cur, tt.want)
			}
			if !cov.Acquired.At.Equal(day(tt.acquired)) || !cov.Now.At.Equal(now) {
				t.Errorf("decision times %v, %v", cov.Acquired.At, cov.Now.At)
			}
		})
	}
	if _, err := consent.DecideAcquiredAndNow(nil, base, time.Time{}); ethos.ErrorCode(err) != ethos.EINVALID {
		t.Errorf("zero acquisition time: err = %v, want EINVALID", err)
	}
}

func TestExplain(t *testing.T) {
	cs := []*ethos.Consent{
		mk("old", "2023-01-01", optIn(ethos.PurposeResearch)),
		mk("care", "2025-03-01", ethos.Provision{Type: ethos.ProvisionPermit, Purposes: []ethos.Purpose{ethos.PurposeClinicalCare}}),
		mk("gone", "2024-01-01", ethos.Provision{Type: ethos.ProvisionDeny}, status(ethos.ConsentInactive)),
		mk("bad", "2024-06-01", permitAll(), status(ethos.ConsentEnteredInError)),
		mk("other", "2024-06-01", permitAll(), subject(subjB)),
	}
	q := consent.Query{Subject: subjA, Purpose: ethos.PurposeResearch, Now: day("2026-01-01")}
	got, err := consent.Explain(cs, q)
	if err != nil {
		t.Fatal(err)
	}
	want := []consent.Evaluation{
		{ConsentID: "care", DateTime: day("2025-03-01"), Status: ethos.ConsentActive, InForce: true, Says: consent.SaysSilent},
		{ConsentID: "bad", DateTime: day("2024-06-01"), Status: ethos.ConsentEnteredInError, Says: consent.SaysPermit, Provision: "provision"},
		{ConsentID: "gone", DateTime: day("2024-01-01"), Status: ethos.ConsentInactive, Says: consent.SaysDeny, Provision: "provision"},
		{ConsentID: "old", DateTime: day("2023-01-01"), Status: ethos.ConsentActive, InForce: true, Says: consent.SaysPermit, Provision: "provision.provision[0]"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d evaluations, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.ConsentID != w.ConsentID || !g.DateTime.Equal(w.DateTime) || g.Status != w.Status || g.InForce != w.InForce || g.Says != w.Says || g.Provision != w.Provision {
			t.Errorf("evaluation %d = %+v, want %+v", i, g, w)
		}
	}
	// Decide agrees: the silent newer consent is skipped, the old one permits.
	d, _ := consent.Decide(cs, q)
	if d.ConsentID != "old" || !d.Permitted() {
		t.Errorf("Decide = %+v", d)
	}
}
