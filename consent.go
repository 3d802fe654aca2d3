package ethos

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"
)

// This file holds the consent vocabulary: the pseudonymous subject key, the
// consent record (shaped like an HL7 FHIR R4 Consent resource), the
// purposes of use, the decision a consent check returns and the service that
// stores consents. The rules that turn consents into a decision live in the
// consent package; this file only defines and validates the records.
//
// Framework: consent is a principle of the collection and processing stages;
// later stages (training, evaluation, deployment) rely on the consent taken
// at collection only while the use stays inside its scope (see
// stage-principles.json, consent@training). QC-COL-2 asks that every stored
// instance be covered by an active consent; QC-TRA-2 asks that consent for
// ai-training be re-checked at the moment of training.

// ---------------------------------------------------------------------------
// Subjects

// PatientIdentifier is a patient's real identifier: the issuer (assigning
// authority, e.g. DICOM Issuer of Patient ID (0010,0021) or a FHIR
// Identifier.system) and the identifier value (Patient ID (0010,0020) or
// Identifier.value).
//
// It exists only to derive a SubjectKey and to be stored encrypted for
// consent linkage and withdrawal requests. Its formatting methods redact the
// values, so an identifier passed to fmt, slog or encoding/json by mistake
// never reaches a log, an error or a response: fmt prints a placeholder,
// slog logs a placeholder and json.Marshal fails. Read the fields directly
// where the raw values are really needed (encryption).
type PatientIdentifier struct {
	Issuer string
	Value  string
}

const redactedIdentifier = "[patient identifier redacted]"

// ErrIdentifierNotSerializable is returned when a PatientIdentifier is
// passed to a generic encoder.
var ErrIdentifierNotSerializable = errors.New("ethos: a patient identifier is never serialised; encrypt its fields explicitly")

func (PatientIdentifier) String() string   { return redactedIdentifier }
func (PatientIdentifier) GoString() string { return redactedIdentifier }

// Format redacts the identifier for every verb.
func (PatientIdentifier) Format(f fmt.State, verb rune) { fmt.Fprint(f, redactedIdentifier) }

// LogValue redacts the identifier in structured logs.
func (PatientIdentifier) LogValue() slog.Value { return slog.StringValue(redactedIdentifier) }

// MarshalJSON refuses to encode the identifier.
func (PatientIdentifier) MarshalJSON() ([]byte, error) { return nil, ErrIdentifierNotSerializable }

// MarshalText refuses to encode the identifier.
func (PatientIdentifier) MarshalText() ([]byte, error) { return nil, ErrIdentifierNotSerializable }

// IsZero reports whether both fields are empty.
func (id PatientIdentifier) IsZero() bool { return id.Issuer == "" && id.Value == "" }

// SubjectKey is the pseudonymous identity of a patient inside Ethos: the
// lowercase hex form of HMAC-SHA-256 over the issuer and the patient ID,
// keyed with a secret that never leaves the deployment (see
// DeriveSubjectKey). Records, logs and audit entries name subjects only by
// this key.
type SubjectKey string

// MinSubjectKeySecret is the minimum length in bytes of the secret that keys
// DeriveSubjectKey.
const MinSubjectKeySecret = 32

// subjectKeyContext separates this use of the secret from any other.
const subjectKeyContext = "ethos subject key v1"

// DeriveSubjectKey returns the subject key of id under secret. Both fields
// are trimmed of the space padding DICOM adds to short strings and must then
// be non-empty; otherwise they are used byte for byte (no case folding), so
// callers must map each source's issuer to one canonical string (a DICOM
// Issuer of Patient ID and the FHIR Identifier.system of the same register
// must be mapped to the same value before the call).
//
// The MAC covers a context string and each field with its length prefixed,
// so ("AB","C") and ("A","BC") never collide. Errors never contain the
// identifier.
func DeriveSubjectKey(secret []byte, id PatientIdentifier) (SubjectKey, error) {
	if len(secret) < MinSubjectKeySecret {
		return "", Errorf(EINVALID, "subject key secret is %d bytes, want at least %d", len(secret), MinSubjectKeySecret)
	}
	issuer := strings.Trim(id.Issuer, " \x00")
	value := strings.Trim(id.Value, " \x00")
	switch {
	case issuer == "":
		return "", Errorf(EINVALID, "patient identifier has no issuer")
	case value == "":
		return "", Errorf(EINVALID, "patient identifier has no value")
	}
	mac := hmac.New(sha256.New, secret)
	var n [8]byte
	for _, s := range []string{subjectKeyContext, issuer, value} {
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		mac.Write(n[:])
		mac.Write([]byte(s))
	}
	return SubjectKey(hex.EncodeToString(mac.Sum(nil))), nil
}

// Valid reports whether k has the form DeriveSubjectKey produces: 64
// lowercase hexadecimal digits.
func (k SubjectKey) Valid() bool {
	if len(k) != 64 {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// Short returns the first 12 hex digits of k, for messages shown to people.
func (k SubjectKey) Short() string {
	if len(k) > 12 {
		return string(k[:12])
	}
	return string(k)
}

func (k SubjectKey) String() string { return string(k) }

// ---------------------------------------------------------------------------
// Purposes of use

// Purpose is what data is used for. A consent grants or refuses purposes;
// every use of data names one.
type Purpose string

// The purposes Ethos knows, from the clinic to commerce.
const (
	PurposeClinicalCare           Purpose = "clinical-care"
	PurposeResearch               Purpose = "research"
	PurposeAITraining             Purpose = "ai-training"
	PurposeAIEvaluation           Purpose = "ai-evaluation"
	PurposeAIDeploymentMonitoring Purpose = "ai-deployment-monitoring"
	PurposeThirdPartySharing      Purpose = "third-party-sharing"
	PurposeCommercialUse          Purpose = "commercial-use"
)

// Purposes lists every purpose.
var Purposes = []Purpose{
	PurposeClinicalCare, PurposeResearch, PurposeAITraining, PurposeAIEvaluation,
	PurposeAIDeploymentMonitoring, PurposeThirdPartySharing, PurposeCommercialUse,
}

// Code systems for purposes of use.
const (
	// PurposeSystemHL7 is the HL7 v3 ActReason code system, whose
	// PurposeOfUse branch FHIR uses for Consent.provision.purpose.
	PurposeSystemHL7 = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
	// PurposeSystemEthos is Ethos's own code system for the purposes that
	// have no HL7 purpose-of-use code. Its codes are the Purpose strings.
	PurposeSystemEthos = "https://ethos-imaging.org/fhir/CodeSystem/purpose-of-use"
)

// hl7Purpose maps a purpose to its HL7 v3 ActReason purpose-of-use code.
// Purposes absent here have no HL7 code with the same meaning (see
// docs/consent.md for the near misses and why they were not used).
var hl7Purpose = map[Purpose]string{
	PurposeClinicalCare: "TREAT",
	PurposeResearch:     "HRESCH",
	PurposeAITraining:   "MLTRAINING",
}

// purposeDisplay is the display text written with each purpose's coding:
// the HL7 display for HL7 codes, an Ethos one for the others.
var purposeDisplay = map[Purpose]string{
	PurposeClinicalCare:           "treatment",
	PurposeResearch:               "healthcare research",
	PurposeAITraining:             "machine learning training",
	PurposeAIEvaluation:           "AI model evaluation",
	PurposeAIDeploymentMonitoring: "AI deployment monitoring",
	PurposeThirdPartySharing:      "sharing with a third party",
	PurposeCommercialUse:          "commercial use",
}

// Valid reports whether p is one of Purposes.
func (p Purpose) Valid() bool {
	for _, q := range Purposes {
		if p == q {
			return true
		}
	}
	return false
}

// ParsePurpose returns the purpose named s.
func ParsePurpose(s string) (Purpose, error) {
	p := Purpose(s)
	if !p.Valid() {
		return "", Errorf(EINVALID, "unknown purpose %q (want one of %s)", s, joinPurposes())
	}
	return p, nil
}

func joinPurposes() string {
	s := make([]string, len(Purposes))
	for i, p := range Purposes {
		s[i] = string(p)
	}
	return strings.Join(s, ", ")
}

// HL7Code returns the HL7 v3 ActReason purpose-of-use code for p and
// whether one exists.
func (p Purpose) HL7Code() (string, bool) {
	c, ok := hl7Purpose[p]
	return c, ok
}

// Coding returns the coding Ethos writes for p: the HL7 code where one
// exists, otherwise the Ethos code.
func (p Purpose) Coding() Coding {
	if c, ok := hl7Purpose[p]; ok {
		return Coding{System: PurposeSystemHL7, Code: c, Display: purposeDisplay[p]}
	}
	return Coding{System: PurposeSystemEthos, Code: string(p), Display: purposeDisplay[p]}
}

// PurposeFromCoding returns the purpose a coding names. Both the HL7 code
// (where one exists) and the Ethos code are accepted.
func PurposeFromCoding(system, code string) (Purpose, bool) {
	switch system {
	case PurposeSystemHL7:
		for p, c := range hl7Purpose {
			if c == code {
				return p, true
			}
		}
	case PurposeSystemEthos:
		if p := Purpose(code); p.Valid() {
			return p, true
		}
	}
	return "", false
}

func (p Purpose) String() string { return string(p) }

// StagePurpose returns the purpose under which a later lifecycle stage uses
// data: training uses it for ai-training, evaluation for ai-evaluation,
// deployment for ai-deployment-monitoring. Collection and processing have
// no purpose of their own (they serve the project's declared purpose), so
// ok is false for them. The framework lets later stages rely on the
// consent taken at collection only while their use stays within its scope
// (stage-principles.json, consent@training): each later stage checks its
// own purpose, and no purpose implies another.
func StagePurpose(s Stage) (p Purpose, ok bool) {
	switch s {
	case StageTraining:
		return PurposeAITraining, true
	case StageEvaluation:
		return PurposeAIEvaluation, true
	case StageDeployment:
		return PurposeAIDeploymentMonitoring, true
	}
	return "", false
}

// ---------------------------------------------------------------------------
// The consent record

// Coding is a code from a code system (FHIR Coding).
type Coding struct {
	System  string `json:"system,omitempty"`
	Code    string `json:"code,omitempty"`
	Display string `json:"display,omitempty"`
}

// IsZero reports whether c is empty.
func (c Coding) IsZero() bool { return c == Coding{} }

// ConsentStatus is the state of a consent record (FHIR consent-state-codes).
type ConsentStatus string

// Consent states. Only active consents count in a decision.
const (
	ConsentDraft          ConsentStatus = "draft"            // being prepared, not in force
	ConsentProposed       ConsentStatus = "proposed"         // offered to the patient, not yet agreed
	ConsentActive         ConsentStatus = "active"           // in force
	ConsentRejected       ConsentStatus = "rejected"         // the patient declined the proposed consent
	ConsentInactive       ConsentStatus = "inactive"         // withdrawn or superseded; history only
	ConsentEnteredInError ConsentStatus = "entered-in-error" // never valid; ignored everywhere
)

// ConsentStatuses lists every status.
var ConsentStatuses = []ConsentStatus{ConsentDraft, ConsentProposed, ConsentActive, ConsentRejected, ConsentInactive, ConsentEnteredInError}

// Valid reports whether s is a known status.
func (s ConsentStatus) Valid() bool {
	for _, t := range ConsentStatuses {
		if s == t {
			return true
		}
	}
	return false
}

// ConsentScope is the kind of consent (FHIR consentscope codes).
type ConsentScope string

// Consent scopes.
const (
	ScopeResearch       ConsentScope = "research"
	ScopePatientPrivacy ConsentScope = "patient-privacy"
	ScopeTreatment      ConsentScope = "treatment"
	ScopeADR            ConsentScope = "adr" // advance directive
)

// Valid reports whether s is a known scope.
func (s ConsentScope) Valid() bool {
	switch s {
	case ScopeResearch, ScopePatientPrivacy, ScopeTreatment, ScopeADR:
		return true
	}
	return false
}

// ProvisionType says whether a provision permits or denies what it matches.
type ProvisionType string

// Provision types. An empty type inherits the type of the nearest typed
// ancestor provision.
const (
	ProvisionPermit ProvisionType = "permit"
	ProvisionDeny   ProvisionType = "deny"
)

// ConsentAction is what a provision lets an actor do with the data (FHIR
// consentaction codes).
type ConsentAction string

// Consent actions. Ethos uses data (use), hands it to another party
// (disclose) and receives it (collect).
const (
	ActionCollect  ConsentAction = "collect"
	ActionAccess   ConsentAction = "access"
	ActionUse      ConsentAction = "use"
	ActionDisclose ConsentAction = "disclose"
	ActionCorrect  ConsentAction = "correct"
)

// Valid reports whether a is a known action.
func (a ConsentAction) Valid() bool {
	switch a {
	case ActionCollect, ActionAccess, ActionUse, ActionDisclose, ActionCorrect:
		return true
	}
	return false
}

// Period is a time range. A zero Start or End leaves that side open. Both
// ends are inclusive, as in FHIR: a period ending 2025-12-31 (stored as the
// last instant of that day) covers the whole of that day.
type Period struct {
	Start time.Time `json:"start,omitzero"`
	End   time.Time `json:"end,omitzero"`
}

// IsZero reports whether both ends are open.
func (p Period) IsZero() bool { return p.Start.IsZero() && p.End.IsZero() }

// Covers reports whether t lies in p, both ends included.
func (p Period) Covers(t time.Time) bool {
	return (p.Start.IsZero() || !t.Before(p.Start)) && (p.End.IsZero() || !t.After(p.End))
}

// GrantorKind is who gave (or refused) consent.
type GrantorKind string

// Grantor kinds, after the FHIR resource types a Consent.performer may
// reference. The patient and a related person (parent, guardian, legal
// representative) are never stored by name or identifier; a practitioner
// or organisation is named by its Ethos party id.
const (
	GrantorPatient          GrantorKind = "Patient"
	GrantorRelatedPerson    GrantorKind = "RelatedPerson"
	GrantorPractitioner     GrantorKind = "Practitioner"
	GrantorPractitionerRole GrantorKind = "PractitionerRole"
	GrantorOrganization     GrantorKind = "Organization"
)

// Valid reports whether k is a known grantor kind.
func (k GrantorKind) Valid() bool {
	switch k {
	case GrantorPatient, GrantorRelatedPerson, GrantorPractitioner, GrantorPractitionerRole, GrantorOrganization:
		return true
	}
	return false
}

// Grantor is one performer of a consent: who agreed to it.
type Grantor struct {
	Kind  GrantorKind `json:"kind"`
	Party string      `json:"party,omitempty"` // Ethos party id; only for practitioners and organisations
}

// Policy is a policy a consent rests on (FHIR Consent.policy): the
// authority that issued it and the URI of the policy text.
type Policy struct {
	Authority string `json:"authority,omitempty"`
	URI       string `json:"uri,omitempty"`
}

// Actor is a party a provision is about (FHIR provision.actor).
type Actor struct {
	Role  Coding `json:"role"`  // e.g. v3-ParticipationType IRCP (information recipient)
	Party string `json:"party"` // Ethos party id
}

// Provision is one rule of a consent (FHIR Consent.provision). A provision
// matches a use when every criterion it sets matches (an empty list or a
// zero period sets no criterion). Provisions nest: a nested provision
// applies only where its parent matches, and refines it, so it takes
// precedence over its parent for the uses it matches. The consent package
// documents the full evaluation.
type Provision struct {
	Type       ProvisionType   `json:"type,omitempty"`
	Period     Period          `json:"period,omitzero"`     // when the rule is in force
	DataPeriod Period          `json:"dataPeriod,omitzero"` // which data it covers, by acquisition time
	Actors     []Actor         `json:"actors,omitempty"`
	Actions    []ConsentAction `json:"actions,omitempty"`
	Purposes   []Purpose       `json:"purposes,omitempty"`
	Modalities []string        `json:"modalities,omitempty"` // DICOM Modality (0008,0060) terms: CT, MR, …
	BodyParts  []string        `json:"bodyParts,omitempty"`  // DICOM Body Part Examined (0018,0015) terms: CHEST, HEAD, …
	Provisions []Provision     `json:"provisions,omitempty"`
}

// Limits on the size of a consent, so that a hostile record cannot make the
// engine or the parsers allocate without bound.
const (
	MaxProvisionDepth = 8   // nesting levels below the root provision
	MaxProvisions     = 256 // provisions in one consent, root included
)

// ConsentWithdrawal records that the patient (or their representative)
// withdrew a consent. Withdrawal takes effect at once: the consent becomes
// inactive and stops counting in any decision made from then on. It covers
// the whole consent; to narrow a consent instead, record a new one (the
// newest consent wins).
type ConsentWithdrawal struct {
	At               time.Time   `json:"at"`
	RecordedBy       string      `json:"recordedBy"`       // user id of the person who recorded it
	RequestedBy      GrantorKind `json:"requestedBy"`      // Patient or RelatedPerson, usually
	ErasureRequested bool        `json:"erasureRequested"` // the subject's data must be destroyed (crypto-shredding)
	Note             string      `json:"note,omitempty"`   // free text; must not contain identifiers
}

// Consent is a consent record, shaped like an HL7 FHIR R4 Consent: a patient
// (by subject key), the date it was given, who gave it, the policy it rests
// on and a tree of provisions. The root provision's period is the period the
// consent is in force; when it has no start the consent is in force from
// DateTime.
type Consent struct {
	ID         string             `json:"id"`
	Status     ConsentStatus      `json:"status"`
	Scope      ConsentScope       `json:"scope"`
	Categories []Coding           `json:"categories,omitempty"`
	Subject    SubjectKey         `json:"subject"`
	DateTime   time.Time          `json:"dateTime"`
	Grantors   []Grantor          `json:"grantors,omitempty"`
	Policies   []Policy           `json:"policies,omitempty"`
	PolicyRule Coding             `json:"policyRule,omitzero"` // regulatory basis, e.g. v3-ActCode OPTIN
	Provision  Provision          `json:"provision"`
	Withdrawal *ConsentWithdrawal `json:"withdrawal,omitempty"`

	CreatedAt time.Time `json:"createdAt,omitzero"`
	UpdatedAt time.Time `json:"updatedAt,omitzero"`
}

// Period returns the period the consent is in force: the root provision's
// period, starting at DateTime when the root gives no start.
func (c *Consent) Period() Period {
	p := c.Provision.Period
	if p.Start.IsZero() {
		p.Start = c.DateTime
	}
	return p
}

// Purposes returns every purpose named by a provision of c, each once, in
// the order they first appear (depth first). Stores index consents by it
// (ConsentFilter.Purpose).
func (c *Consent) Purposes() []Purpose {
	var out []Purpose
	var walk func(p *Provision)
	walk = func(p *Provision) {
		for _, pu := range p.Purposes {
			if !slices.Contains(out, pu) {
				out = append(out, pu)
			}
		}
		for i := range p.Provisions {
			walk(&p.Provisions[i])
		}
	}
	walk(&c.Provision)
	return out
}

// ValidConsentID reports whether id is a valid consent (or party) id: 1 to
// 64 letters, digits, '-' or '.' (the FHIR id rule, so that ids survive a
// FHIR round trip).
func ValidConsentID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// Validate reports the first rule c breaks, as an EINVALID error naming the
// consent and the field. An empty ID is allowed (the store assigns one).
func (c *Consent) Validate() error {
	name := c.ID
	if name == "" {
		name = "(new)"
	} else if !ValidConsentID(c.ID) {
		return Errorf(EINVALID, "consent id %q is not valid (1-64 letters, digits, '-' or '.')", c.ID)
	}
	fail := func(field, format string, args ...any) error {
		return Errorf(EINVALID, "consent %s: %s: %s", name, field, fmt.Sprintf(format, args...))
	}
	if !c.Status.Valid() {
		return fail("status", "unknown status %q", c.Status)
	}
	if !c.Scope.Valid() {
		return fail("scope", "unknown scope %q", c.Scope)
	}
	if !c.Subject.Valid() {
		return fail("subject", "not a subject key (64 lowercase hex digits)")
	}
	if c.DateTime.IsZero() {
		return fail("dateTime", "missing")
	}
	for i, g := range c.Grantors {
		if !g.Kind.Valid() {
			return fail(fmt.Sprintf("grantors[%d].kind", i), "unknown kind %q", g.Kind)
		}
		if (g.Kind == GrantorPatient || g.Kind == GrantorRelatedPerson) && g.Party != "" {
			return fail(fmt.Sprintf("grantors[%d].party", i), "a %s is not an Ethos party", g.Kind)
		}
		if g.Party != "" && !ValidConsentID(g.Party) {
			return fail(fmt.Sprintf("grantors[%d].party", i), "party id %q is not valid (1-64 letters, digits, '-' or '.')", g.Party)
		}
	}
	for i, cd := range c.Categories {
		if cd.Code == "" || cd.System == "" {
			return fail(fmt.Sprintf("categories[%d]", i), "a category needs a system and a code")
		}
	}
	if !c.PolicyRule.IsZero() && c.PolicyRule.Code == "" {
		return fail("policyRule", "a policy rule needs a code")
	}
	if len(c.Policies) == 0 && c.PolicyRule.IsZero() {
		return fail("policy", "a consent needs a policy basis (a policy or a policy rule)")
	}
	for i, p := range c.Policies {
		if p.URI == "" && p.Authority == "" {
			return fail(fmt.Sprintf("policies[%d]", i), "empty policy")
		}
	}
	count := 0
	if err := validateProvision(&c.Provision, "provision", 0, &count); err != nil {
		return fail(err.path, "%s", err.msg)
	}
	if c.Withdrawal != nil {
		if c.Status != ConsentInactive {
			return fail("withdrawal", "a withdrawn consent must be inactive, not %s", c.Status)
		}
		if c.Withdrawal.At.IsZero() {
			return fail("withdrawal.at", "missing")
		}
		if c.Withdrawal.RequestedBy != "" && !c.Withdrawal.RequestedBy.Valid() {
			return fail("withdrawal.requestedBy", "unknown kind %q", c.Withdrawal.RequestedBy)
		}
	}
	return nil
}

type fieldError struct{ path, msg string }

func validateProvision(p *Provision, path string, depth int, count *int) *fieldError {
	*count++
	if *count > MaxProvisions {
		return &fieldError{path, fmt.Sprintf("more than %d provisions", MaxProvisions)}
	}
	if depth > MaxProvisionDepth {
		return &fieldError{path, fmt.Sprintf("provisions nested deeper than %d levels", MaxProvisionDepth)}
	}
	switch p.Type {
	case "", ProvisionPermit, ProvisionDeny:
	default:
		return &fieldError{path + ".type", fmt.Sprintf("unknown provision type %q", p.Type)}
	}
	if !p.Period.Start.IsZero() && !p.Period.End.IsZero() && p.Period.End.Before(p.Period.Start) {
		return &fieldError{path + ".period", "ends before it starts"}
	}
	if !p.DataPeriod.Start.IsZero() && !p.DataPeriod.End.IsZero() && p.DataPeriod.End.Before(p.DataPeriod.Start) {
		return &fieldError{path + ".dataPeriod", "ends before it starts"}
	}
	for i, a := range p.Actors {
		if !ValidConsentID(a.Party) {
			return &fieldError{fmt.Sprintf("%s.actor[%d]", path, i), fmt.Sprintf("party id %q is not valid (1-64 letters, digits, '-' or '.')", a.Party)}
		}
		if !a.Role.IsZero() && a.Role.Code == "" {
			return &fieldError{fmt.Sprintf("%s.actor[%d].role", path, i), "a role needs a code"}
		}
	}
	for i, a := range p.Actions {
		if !a.Valid() {
			return &fieldError{fmt.Sprintf("%s.action[%d]", path, i), fmt.Sprintf("unknown action %q", a)}
		}
	}
	for i, pu := range p.Purposes {
		if !pu.Valid() {
			return &fieldError{fmt.Sprintf("%s.purpose[%d]", path, i), fmt.Sprintf("unknown purpose %q", pu)}
		}
	}
	for i, m := range p.Modalities {
		if !ValidModality(m) {
			return &fieldError{fmt.Sprintf("%s.modality[%d]", path, i), fmt.Sprintf("unknown DICOM modality %q", m)}
		}
	}
	for i, b := range p.BodyParts {
		if !ValidBodyPart(b) {
			return &fieldError{fmt.Sprintf("%s.bodyPart[%d]", path, i), fmt.Sprintf("%q is not a DICOM body part term (1-16 of A-Z, 0-9, space, _)", b)}
		}
	}
	for i := range p.Provisions {
		if err := validateProvision(&p.Provisions[i], fmt.Sprintf("%s.provision[%d]", path, i), depth+1, count); err != nil {
			return err
		}
	}
	return nil
}

// dicomModalities holds the defined terms of DICOM Modality (0008,0060)
// (PS3.3 C.7.3.1.1.1), current terms only.
var dicomModalities = func() map[string]bool {
	m := map[string]bool{}
	for _, s := range strings.Fields(`ANN AR ASMT AU BDUS BI BMD CFM CR CT CTPROTOCOL DG DMS DOC DX ECG EEG EMG
		EOG EPS ES FID GM HC HD IO IOL IVOCT IVUS KER KO LEN LS M3D MG MR NM OAM OCT OP OPM OPT OPTBSV
		OPTENF OPV OSS OT PA PLAN POS PR PT PX REG RESP RF RG RTDOSE RTIMAGE RTINTENT RTPLAN RTRAD
		RTRECORD RTSEGANN RTSTRUCT RWV SEG SM SMR SR SRF STAIN TEXTUREMAP TG US VA XA XAPROTOCOL XC`) {
		m[s] = true
	}
	return m
}()

// ValidModality reports whether s is a defined term of DICOM Modality
// (0008,0060).
func ValidModality(s string) bool { return dicomModalities[s] }

// ValidBodyPart reports whether s has the form of a DICOM Body Part Examined
// (0018,0015) term: a code string of 1 to 16 upper-case letters, digits,
// spaces or underscores, not starting or ending with a space. The list of
// terms (PS3.16 CID 4031) is open-ended and sites add their own, so the
// form is checked, not membership.
func ValidBodyPart(s string) bool {
	if len(s) == 0 || len(s) > 16 || s[0] == ' ' || s[len(s)-1] == ' ' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == ' ' || c == '_') {
			return false
		}
	}
	return true
}

// ---------------------------------------------------------------------------
// Decisions

// Decision is the answer of a consent check.
type Decision string

// Decisions. NO_CONSENT means no consent in force speaks for the use: nobody
// asked the patient, or what was asked no longer holds. DENY means a consent
// in force refuses the use.
const (
	DecisionPermit    Decision = "PERMIT"
	DecisionDeny      Decision = "DENY"
	DecisionNoConsent Decision = "NO_CONSENT"
)

// DecisionReason says why a decision came out as it did. Ingest uses it as
// the quarantine reason.
type DecisionReason string

// Decision reasons.
const (
	ReasonPermitted DecisionReason = "PERMITTED" // a permit provision of the governing consent matched
	ReasonDenied    DecisionReason = "DENIED"    // a deny provision of the governing consent matched
	// ReasonOutOfScope: consent is in force but the use (purpose, data,
	// party or action) lies outside what it grants. Framework rule
	// (stage-principles.json, consent@training): a new kind of use needs
	// new consent.
	ReasonOutOfScope  DecisionReason = "OUT_OF_SCOPE"
	ReasonWithdrawn   DecisionReason = "WITHDRAWN"     // the consent that would permit the use is inactive
	ReasonExpired     DecisionReason = "EXPIRED"       // the consent that would permit the use ended before the time asked about
	ReasonNotYetValid DecisionReason = "NOT_YET_VALID" // the consent that would permit the use starts after the time asked about
	ReasonNotActive   DecisionReason = "NOT_ACTIVE"    // the consent that would permit the use is draft, proposed or rejected
	ReasonNoConsent   DecisionReason = "NO_CONSENT_ON_FILE"
)

// ConsentDecision is the outcome of a consent check, with the consent and
// the provision that decided it. It never contains patient identifiers, so
// it may be logged and audited as is.
type ConsentDecision struct {
	Decision  Decision       `json:"decision"`
	Reason    DecisionReason `json:"reason"`
	Subject   SubjectKey     `json:"subject"`
	Purpose   Purpose        `json:"purpose"`
	ConsentID string         `json:"consentId,omitempty"` // the consent that decided, if any
	Provision string         `json:"provision,omitempty"` // its path, e.g. "provision.provision[1]"
	At        time.Time      `json:"at"`                  // the time the decision is about
	Detail    string         `json:"detail"`              // one sentence for people
}

// Permitted reports whether the use is permitted.
func (d ConsentDecision) Permitted() bool { return d.Decision == DecisionPermit }

// NeedsNewConsent reports whether the use lies outside the scope of the
// consent in force, so that new consent must be sought before it.
func (d ConsentDecision) NeedsNewConsent() bool { return d.Reason == ReasonOutOfScope }

// Err returns nil when the use is permitted and otherwise an ECONSENT error
// that names the subject by the short form of its key, the purpose, the
// reason and the deciding consent.
func (d ConsentDecision) Err() error {
	if d.Permitted() {
		return nil
	}
	msg := fmt.Sprintf("subject %s: %s not permitted (%s", d.Subject.Short(), d.Purpose, d.Reason)
	if d.ConsentID != "" {
		msg += ", consent " + d.ConsentID
		if d.Provision != "" {
			msg += " " + d.Provision
		}
	}
	msg += ")"
	if d.NeedsNewConsent() {
		msg += ": new consent is needed for this use"
	}
	return Errorf(ECONSENT, "%s", msg)
}

// ---------------------------------------------------------------------------
// Service

// ConsentFilter selects consents. Nil fields select everything.
type ConsentFilter struct {
	ID        *string
	SubjectID *SubjectKey
	Status    *ConsentStatus
	Purpose   *Purpose // consents with a provision that names this purpose

	Offset int
	Limit  int // 0 means the store's default page size
}

// ConsentUpdate changes a consent. Nil fields are left alone. The subject
// and the date given never change: a new agreement is a new consent.
type ConsentUpdate struct {
	Status     *ConsentStatus
	Provision  *Provision
	Policies   *[]Policy
	PolicyRule *Coding
}

// ConsentService stores consent records. Records are never deleted:
// withdrawal and correction change the status and keep the history.
type ConsentService interface {
	// FindConsentByID returns the consent with the given id (ENOTFOUND if none).
	FindConsentByID(ctx context.Context, id string) (*Consent, error)
	// FindConsents returns the consents matching filter and the total count
	// of matches ignoring Offset and Limit.
	FindConsents(ctx context.Context, filter ConsentFilter) ([]*Consent, int, error)
	// CreateConsent validates and stores c, assigning an id when c.ID is empty.
	CreateConsent(ctx context.Context, c *Consent) error
	// UpdateConsent applies upd to the consent with the given id and returns it.
	UpdateConsent(ctx context.Context, id string, upd ConsentUpdate) (*Consent, error)
	// WithdrawConsents makes every active consent of subject inactive with
	// the withdrawal w, at once, and returns the consents it changed.
	WithdrawConsents(ctx context.Context, subject SubjectKey, w ConsentWithdrawal) ([]*Consent, error)
}
