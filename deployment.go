package ethos

import (
	"context"
	"time"
)

// This file holds the deployment vocabulary for risk, incidents and
// compliance: the risk matrix and register (QC-DEP-3: risks assessed before
// go-live and acknowledged by every stakeholder role), incidents and
// personal-data breaches with their notification deadlines, and the
// compliance checklist of QC-DEP-2. The rules that score, check and compute
// deadlines live in the deployment package; this file only names things.

// ---------------------------------------------------------------------------
// Risk matrix

// RiskRegion is where a cell of the risk matrix falls.
type RiskRegion string

// The three regions of a risk matrix, in increasing order of concern.
const (
	RiskAcceptable   RiskRegion = "acceptable"   // no further reduction needed
	RiskALARP        RiskRegion = "alarp"        // reduce as low as reasonably practicable, record why no further
	RiskUnacceptable RiskRegion = "unacceptable" // must be reduced, or accepted with a signed justification
)

// Rank orders regions: 0 acceptable, 1 ALARP, 2 unacceptable, -1 unknown.
func (r RiskRegion) Rank() int {
	switch r {
	case RiskAcceptable:
		return 0
	case RiskALARP:
		return 1
	case RiskUnacceptable:
		return 2
	}
	return -1
}

// RiskLevels is the side of the risk matrix: severity and probability are
// both scored 1 (lowest) to RiskLevels (highest).
const RiskLevels = 5

// RiskMatrix maps severity × probability to a region. Regions is indexed
// [severity-1][probability-1].
type RiskMatrix struct {
	Severity    [RiskLevels]string                 `json:"severity"`    // labels, lowest first
	Probability [RiskLevels]string                 `json:"probability"` // labels, lowest first
	Regions     [RiskLevels][RiskLevels]RiskRegion `json:"regions"`
}

// RiskScore is a severity and a probability, each 1..RiskLevels.
type RiskScore struct {
	Severity    int `json:"severity"`
	Probability int `json:"probability"`
}

// Valid reports whether both scores are in 1..RiskLevels.
func (s RiskScore) Valid() bool {
	return s.Severity >= 1 && s.Severity <= RiskLevels && s.Probability >= 1 && s.Probability <= RiskLevels
}

// ---------------------------------------------------------------------------
// Risk register

// Hazard is a potential source of harm from the AI system in use.
type Hazard struct {
	ID          string `json:"id"` // stable id, e.g. "HAZ-DRIFT"
	Title       string `json:"title"`
	Description string `json:"description"`
	Harm        string `json:"harm"` // the harm to a patient or others it can lead to
}

// RiskControlKind follows the order of preference of risk-control options:
// safety by design first, then protective measures, then information.
type RiskControlKind string

// The kinds of risk control.
const (
	ControlByDesign    RiskControlKind = "by-design"
	ControlProtective  RiskControlKind = "protective"
	ControlInformation RiskControlKind = "information"
)

// RiskControl is one measure that lowers the severity or the probability of
// a risk, and the evidence that it is in place and works.
type RiskControl struct {
	Description  string          `json:"description"`
	Kind         RiskControlKind `json:"kind"`
	Verification string          `json:"verification"` // how implementation and effect were verified; "" = not yet
}

// Signature attributes a decision to a named person acting in a role.
type Signature struct {
	UserID string    `json:"user_id"`
	Role   Role      `json:"role"`
	At     time.Time `json:"at"`
	Reason string    `json:"reason"`
}

// Risk is one line of the register: a hazard scored before and after its
// controls.
type Risk struct {
	ID       string        `json:"id"`
	Hazard   Hazard        `json:"hazard"`
	Initial  RiskScore     `json:"initial"`
	Controls []RiskControl `json:"controls"`
	Residual *RiskScore    `json:"residual,omitempty"` // nil until re-scored after controls
	// ALARPRationale says why the residual risk cannot reasonably be
	// reduced further; required when the residual risk is in the ALARP region.
	ALARPRationale string `json:"alarp_rationale,omitempty"`
	// Acceptance is the signed justification for keeping a residual risk
	// in the unacceptable region (benefit outweighs risk); required then.
	Acceptance *Signature `json:"acceptance,omitempty"`
}

// RiskAcknowledgement records that a stakeholder has read a given revision
// of the register.
type RiskAcknowledgement struct {
	UserID   string    `json:"user_id"`
	Role     Role      `json:"role"`
	Revision int       `json:"revision"`
	At       time.Time `json:"at"`
}

// RiskRegister is the risk file of one deployment of a project.
type RiskRegister struct {
	ProjectID    string `json:"project_id"`
	DeploymentID string `json:"deployment_id,omitempty"` // set when stored for a deployment
	// UpdatedBy is the user who stored this revision.
	UpdatedBy string     `json:"updated_by,omitempty"`
	Revision  int        `json:"revision"`   // bumped on every change; acknowledgements name it
	RevisedAt time.Time  `json:"revised_at"` // when this revision was made; earlier acknowledgements do not count
	Matrix    RiskMatrix `json:"matrix"`
	Risks     []Risk     `json:"risks"`
	// NotApplicable lists catalogue hazard ids judged not to apply, with
	// the reason; every catalogue hazard is either a risk or listed here.
	NotApplicable map[string]string `json:"not_applicable,omitempty"`
	// StakeholderRoles are the roles named in the deployment plan; each
	// must acknowledge the current revision before go-live.
	StakeholderRoles []Role `json:"stakeholder_roles"`
	// AcceptanceRoles may sign the acceptance of an unacceptable residual
	// risk; empty means ethics-reviewer only.
	AcceptanceRoles  []Role                `json:"acceptance_roles,omitempty"`
	Acknowledgements []RiskAcknowledgement `json:"acknowledgements"`
}

// ---------------------------------------------------------------------------
// Incidents and breaches

// IncidentClass classifies an incident; an incident may have several.
type IncidentClass string

// The incident classes.
const (
	IncidentMalfunction        IncidentClass = "malfunction"          // the system did not perform as intended
	IncidentSerious            IncidentClass = "serious-incident"     // EU AI Act art. 3(49), reportable under art. 73
	IncidentPersonalDataBreach IncidentClass = "personal-data-breach" // GDPR art. 4(12); HIPAA breach of unsecured PHI
)

// SeriousOutcome is one consequence that makes an incident serious under
// EU AI Act art. 3(49), plus the aggravating cases of art. 73(3) and (4).
type SeriousOutcome string

// The serious outcomes.
const (
	OutcomeDeath                  SeriousOutcome = "death"                   // art. 3(49)(a), 10-day clock of art. 73(4)
	OutcomeSeriousHarmHealth      SeriousOutcome = "serious-harm-health"     // art. 3(49)(a)
	OutcomeCriticalInfrastructure SeriousOutcome = "critical-infrastructure" // art. 3(49)(b), 2-day clock of art. 73(3)
	OutcomeFundamentalRights      SeriousOutcome = "fundamental-rights"      // art. 3(49)(c)
	OutcomePropertyEnvironment    SeriousOutcome = "property-environment"    // art. 3(49)(d)
	OutcomeWidespread             SeriousOutcome = "widespread-infringement" // art. 3(61), 2-day clock of art. 73(3)
)

// Jurisdiction selects which regulations apply to an incident.
type Jurisdiction string

// The jurisdictions Ethos computes deadlines for.
const (
	JurisdictionEU Jurisdiction = "EU" // GDPR, EU AI Act
	JurisdictionUS Jurisdiction = "US" // HIPAA breach notification rule
)

// Recipient is who must be notified.
type Recipient string

// The recipients of notifications.
const (
	RecipientSupervisoryAuthority Recipient = "supervisory-authority"         // GDPR art. 33
	RecipientDataSubjects         Recipient = "data-subjects"                 // GDPR art. 34
	RecipientMarketSurveillance   Recipient = "market-surveillance-authority" // EU AI Act art. 73
	RecipientIndividuals          Recipient = "individuals"                   // HIPAA 45 CFR 164.404
	RecipientHHS                  Recipient = "hhs"                           // HIPAA 45 CFR 164.408
	RecipientMedia                Recipient = "media"                         // HIPAA 45 CFR 164.406, per state
	RecipientProvider             Recipient = "provider"                      // EU AI Act art. 26(5): the deployer informs the provider
)

// IncidentStatus is where an incident is in its handling.
type IncidentStatus string

// The incident statuses.
const (
	IncidentOpen          IncidentStatus = "open"
	IncidentInvestigating IncidentStatus = "investigating"
	IncidentContained     IncidentStatus = "contained"
	IncidentClosed        IncidentStatus = "closed"
)

// Notification records one notification sent.
type Notification struct {
	Recipient Recipient `json:"recipient"`
	USState   string    `json:"us_state,omitempty"` // two-letter US state of a media notice
	SentAt    time.Time `json:"sent_at"`
	SentBy    string    `json:"sent_by"`             // user id
	Reference string    `json:"reference,omitempty"` // authority case number or similar
}

// Incident is an incident or a personal-data breach involving a deployed
// model. It holds counts, never identities, of the people affected.
type Incident struct {
	ID           string    `json:"id"`
	ProjectID    string    `json:"project_id"`
	DeploymentID string    `json:"deployment_id,omitempty"` // the deployment it happened in, when stored
	Title        string    `json:"title"`
	AwareAt      time.Time `json:"aware_at"` // when the organisation became aware (HIPAA: discovered)
	Zone         string    `json:"zone"`     // IANA zone where awareness happened; calendar days are counted there by default
	// ReportingZones overrides, per jurisdiction, the IANA zone in which
	// that jurisdiction's calendar days are counted (an EU hospital that
	// also reports to HHS counts HIPAA days in, say, America/New_York).
	ReportingZones map[Jurisdiction]string `json:"reporting_zones,omitempty"`
	Jurisdictions  []Jurisdiction          `json:"jurisdictions"`
	Classes        []IncidentClass         `json:"classes"`
	Outcomes       []SeriousOutcome        `json:"outcomes,omitempty"`
	// AffectedSubjects is the number of people whose data or care is affected.
	AffectedSubjects int `json:"affected_subjects"`
	// AffectedByState counts affected US residents per state (two-letter code).
	AffectedByState map[string]int `json:"affected_by_state,omitempty"`
	// GDPRRiskUnlikely records the controller's documented finding that the
	// breach is unlikely to result in a risk to people (art. 33(1) exemption).
	GDPRRiskUnlikely bool `json:"gdpr_risk_unlikely,omitempty"`
	// GDPRHighRisk records that the breach is likely to result in a high
	// risk, which triggers art. 34 notice to data subjects.
	GDPRHighRisk bool `json:"gdpr_high_risk,omitempty"`
	// AIActDeployer records that the organisation deploys, not provides,
	// the AI system: a serious incident must then also be reported to the
	// provider immediately (EU AI Act art. 26(5)).
	AIActDeployer bool           `json:"ai_act_deployer,omitempty"`
	Status        IncidentStatus `json:"status"`
	Notifications []Notification `json:"notifications"`
}

// Deadline is one notification duty of an incident.
type Deadline struct {
	Rule      string    `json:"rule"` // e.g. "GDPR art. 33(1)"
	Recipient Recipient `json:"recipient"`
	USState   string    `json:"us_state,omitempty"` // media notices: one deadline per US state
	// Due is the last instant at which the notification is on time; zero
	// when the rule sets no fixed limit ("without undue delay").
	Due   time.Time `json:"due"`
	Zone  string    `json:"zone"`  // IANA zone whose calendar days were counted
	Basis string    `json:"basis"` // how Due was computed, in words
}

// DeadlineState is how a deadline stands at a given moment.
type DeadlineState string

// The deadline states.
const (
	DeadlinePending DeadlineState = "pending" // not yet sent, not yet due
	DeadlineMet     DeadlineState = "met"     // sent on or before Due
	DeadlineLate    DeadlineState = "late"    // sent after Due
	DeadlineOverdue DeadlineState = "overdue" // not sent and Due has passed
)

// DeadlineStatus is a deadline with its state at a moment.
type DeadlineStatus struct {
	Deadline
	State DeadlineState `json:"state"`
	Sent  *Notification `json:"sent,omitempty"`
}

// ---------------------------------------------------------------------------
// Compliance checklist (QC-DEP-2)

// EvidenceKey names a fact the deployment stage can establish.
type EvidenceKey string

// The evidence keys Ethos knows how to establish.
const (
	EvidenceInferenceLogging     EvidenceKey = "inference-logging-enabled"
	EvidenceLogRetention         EvidenceKey = "log-retention-6-months"
	EvidenceRiskRegisterComplete EvidenceKey = "risk-register-complete"
	EvidenceMonitoringOnTime     EvidenceKey = "monitoring-ran-on-time"
	EvidenceNoOpenWithdrawal     EvidenceKey = "no-open-consent-withdrawal"
	EvidenceGDPRBreachesOnTime   EvidenceKey = "gdpr-breach-notifications-on-time"
	EvidenceAIActIncidentsOnTime EvidenceKey = "ai-act-incident-reports-on-time"
	EvidenceHIPAABreachesOnTime  EvidenceKey = "hipaa-breach-notifications-on-time"
	EvidenceEvaluationPassed     EvidenceKey = "evaluation-passed"
	EvidenceAuditLogVerified     EvidenceKey = "audit-log-verified"
	EvidenceHumanOversight       EvidenceKey = "human-oversight-assigned"
)

// Observation is what a source of evidence found for one key.
type Observation struct {
	OK     bool      `json:"ok"`
	Detail string    `json:"detail"` // what was checked and found, no patient identifiers
	Source string    `json:"source"` // e.g. "audit log checkpoint 1234", "monitoring run mon_…"
	At     time.Time `json:"at"`
}

// ComplianceEvidence is fed by the deployment stage. Observe reports ok ==
// false in its second result when it holds nothing for the key.
type ComplianceEvidence interface {
	Observe(ctx context.Context, key EvidenceKey) (Observation, bool, error)
}

// ComplianceItem is one duty of the checklist. It is checked from evidence
// when Evidence is set, otherwise it needs a named person's attestation.
type ComplianceItem struct {
	ID       string      `json:"id"`
	Regime   string      `json:"regime"`   // HIPAA, GDPR, EU AI Act
	Citation string      `json:"citation"` // article or section
	Duty     string      `json:"duty"`     // in our own words
	Evidence EvidenceKey `json:"evidence,omitempty"`
	// AttestRoles may attest the item when it is not evidenced.
	AttestRoles []Role `json:"attest_roles,omitempty"`
}

// Attestation is a named person's statement that a duty is met, or an
// accountable waiver saying why it does not apply.
type Attestation struct {
	ItemID string `json:"item_id"`
	Signature
	Waiver bool `json:"waiver,omitempty"`
}

// ComplianceOutcome is the result of one checklist item.
type ComplianceOutcome string

// The compliance outcomes.
const (
	CompliancePass              ComplianceOutcome = "pass"
	ComplianceFail              ComplianceOutcome = "fail"
	ComplianceAttestationNeeded ComplianceOutcome = "attestation-needed"
	ComplianceWaived            ComplianceOutcome = "waived"
)

// ComplianceResult is one evaluated item with what decided it.
type ComplianceResult struct {
	Item        ComplianceItem    `json:"item"`
	Outcome     ComplianceOutcome `json:"outcome"`
	Observation *Observation      `json:"observation,omitempty"`
	Attestation *Attestation      `json:"attestation,omitempty"`
	Reason      string            `json:"reason"`
}
