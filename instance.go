package ethos

import (
	"context"
	"time"
)

// This file holds the vocabulary of consent-gated ingest: the instance
// record every received DICOM instance leaves behind (stored or
// quarantined, with its provenance), the collection rules a project
// declares for data minimisation, and the service that keeps both.
//
// Framework: QC-COL-2 (every stored instance is covered by an active
// consent or sits in quarantine; storage is encrypted; every access is
// audited) and the privacy-security principle of the collection stage,
// which Ethos reads as: collect only what the declared purpose needs
// (modalities, body parts, acquisition window) and record where each
// instance came from, when and from whom.

// InstanceStatus is what ingest did with an instance.
type InstanceStatus string

// Instance states.
const (
	// InstanceStored: consent and minimisation checks passed; the bytes are
	// in the blob store, encrypted under the subject's data key.
	InstanceStored InstanceStatus = "stored"
	// InstanceQuarantined: a check failed; only the decision is kept, the
	// bytes are not (what may not be collected is not collected).
	InstanceQuarantined InstanceStatus = "quarantined"
	// InstanceWithdrawn: stored once, but the subject withdrew consent; the
	// instance may not be used for new work.
	InstanceWithdrawn InstanceStatus = "withdrawn"
	// InstanceErased: withdrawn with erasure; the subject's data key was
	// destroyed, the bytes can no longer be decrypted.
	InstanceErased InstanceStatus = "erased"
)

// Usable reports whether instances in state s may be used for new work.
func (s InstanceStatus) Usable() bool { return s == InstanceStored }

// QuarantineReason says why an instance was not stored.
type QuarantineReason string

// Quarantine reasons.
const (
	QuarantineUnparsable   QuarantineReason = "UNPARSABLE"           // not a DICOM file the codec accepts
	QuarantineNoIdentity   QuarantineReason = "NO_PATIENT_IDENTITY"  // no Patient ID, or no issuer and no default
	QuarantineMissingUID   QuarantineReason = "NO_SOP_INSTANCE_UID"  // no SOP Instance UID to deduplicate on
	QuarantineNoDate       QuarantineReason = "NO_ACQUISITION_DATE"  // no acquisition, content, series or study date
	QuarantinePolicy       QuarantineReason = "POLICY_DENIED"        // the access policy refused the collection write
	QuarantineMinimisation QuarantineReason = "OUTSIDE_MINIMISATION" // modality, body part or date outside the project's rules
	QuarantineNoConsent    QuarantineReason = "NO_CONSENT"           // no consent on file for the subject
	QuarantineWithdrawn    QuarantineReason = "WITHDRAWN"            // the consent was withdrawn
	QuarantineExpired      QuarantineReason = "EXPIRED"              // the consent ended (or had not started)
	QuarantineOutOfScope   QuarantineReason = "OUT_OF_SCOPE"         // consent in force does not cover this use or data
	QuarantineDenied       QuarantineReason = "DENIED"               // a consent provision refuses the use
	QuarantineNotActive    QuarantineReason = "CONSENT_NOT_ACTIVE"   // draft, proposed or rejected consent
)

// QuarantineReasonFor maps a consent decision reason to the quarantine
// reason ingest records.
func QuarantineReasonFor(r DecisionReason) QuarantineReason {
	switch r {
	case ReasonWithdrawn:
		return QuarantineWithdrawn
	case ReasonExpired, ReasonNotYetValid:
		return QuarantineExpired
	case ReasonOutOfScope:
		return QuarantineOutOfScope
	case ReasonDenied:
		return QuarantineDenied
	case ReasonNotActive:
		return QuarantineNotActive
	}
	return QuarantineNoConsent
}

// Instance is one DICOM instance as received by ingest. It names the
// patient only by subject key. SOPInstanceUID is kept for deduplication:
// UIDs are not patient identifiers, but they are never written to the audit
// log either (the log names instances by their Ethos id).
type Instance struct {
	ID             string           `json:"id"`
	ProjectID      string           `json:"project_id"`
	SOPInstanceUID string           `json:"sop_instance_uid,omitempty"`
	Subject        SubjectKey       `json:"subject,omitempty"`
	Modality       string           `json:"modality,omitempty"`
	BodyPart       string           `json:"body_part,omitempty"`
	Acquired       time.Time        `json:"acquired,omitzero"`
	Status         InstanceStatus   `json:"status"`
	Reason         QuarantineReason `json:"reason,omitempty"`
	Detail         string           `json:"detail,omitempty"`     // one sentence, no identifiers
	ConsentID      string           `json:"consent_id,omitempty"` // the consent that decided, if any
	Blob           *BlobRef         `json:"blob,omitempty"`       // stored instances only
	// SHA256 is the SHA-256 of the stored file (the blob's plaintext),
	// computed at ingest; "" for instances stored before it was recorded.
	SHA256 string `json:"sha256,omitempty"`
	// Pixels is where the stored file's pixel data value lies, as ingest
	// found it; nil for instances stored before it was recorded, and for
	// files with no pixel data element, more than one, or a deflated data
	// set (a processing run then reads the file's header to find it).
	Pixels     *PixelValue `json:"pixels,omitempty"`
	Source     string      `json:"source"` // where it came from: "file:<name>", "stow-rs"
	ReceivedAt time.Time   `json:"received_at"`
	ReceivedBy string      `json:"received_by"` // user id
}

// PixelValue locates the one top-level pixel data element of a stored
// DICOM file: the tag (Pixel Data, Float Pixel Data or Double Float Pixel
// Data), the offset of the value's first byte in the file, the value's
// length (for encapsulated pixel data, its items and the sequence
// delimiter), whether it is encapsulated, and the file's transfer syntax,
// which fixes the form of the element header just before the value. A
// processing run compares an output's pixel data with the input's there
// without reading the input's header again, after checking that the
// bytes before the offset are that element's header (docs/processing.md).
type PixelValue struct {
	Tag          uint32 `json:"tag"`
	Offset       int64  `json:"offset"`
	Length       int64  `json:"length"`
	Encapsulated bool   `json:"encapsulated,omitempty"`
	Syntax       string `json:"syntax"`
}

// CollectionRules are a project's data-minimisation rules and the purpose
// under which it collects (privacy-security at collection). Empty lists and a zero window allow
// everything on that axis.
type CollectionRules struct {
	ProjectID  string   `json:"project_id"`
	Purpose    Purpose  `json:"purpose"` // research or ai-training
	Modalities []string `json:"modalities,omitempty"`
	BodyParts  []string `json:"body_parts,omitempty"`
	Acquired   Period   `json:"acquired,omitzero"`
	Issuer     string   `json:"issuer,omitempty"` // default issuer of patient IDs when the file names none
	// RetentionDays is how long the project keeps an instance after it
	// was received; older instances are disposed of (their blobs deleted,
	// the subject's data key destroyed once nothing of the subject is
	// left). 0 keeps instances until withdrawal or disposal.
	RetentionDays int       `json:"retention_days,omitempty"`
	UpdatedAt     time.Time `json:"updated_at,omitzero"`
	UpdatedBy     string    `json:"updated_by,omitempty"`
}

// Validate checks the rules.
func (r *CollectionRules) Validate() error {
	if !ValidID(r.ProjectID) {
		return Errorf(EINVALID, "collection rules: project_id: required")
	}
	if r.Purpose != PurposeResearch && r.Purpose != PurposeAITraining {
		return Errorf(EINVALID, "collection rules: purpose must be %s or %s", PurposeResearch, PurposeAITraining)
	}
	// The messages name the field, not the value: it is typed text.
	for i, m := range r.Modalities {
		if !ValidModality(m) {
			return Errorf(EINVALID, "collection rules: modalities[%d]: not a DICOM Modality defined term (e.g. CT, MR, DX, MG, US)", i)
		}
	}
	for i, b := range r.BodyParts {
		if b == "" || len(b) > 16 {
			return Errorf(EINVALID, "collection rules: body_parts[%d]: not a DICOM CS value (1-16 characters)", i)
		}
	}
	if !r.Acquired.Start.IsZero() && !r.Acquired.End.IsZero() && r.Acquired.End.Before(r.Acquired.Start) {
		return Errorf(EINVALID, "collection rules: acquisition window ends before it starts")
	}
	if r.RetentionDays < 0 || r.RetentionDays > MaxRetentionDays {
		return Errorf(EINVALID, "collection rules: retention_days must be between 0 (keep) and %d, not %d", MaxRetentionDays, r.RetentionDays)
	}
	return nil
}

// MaxRetentionDays bounds a retention period (100 years).
const MaxRetentionDays = 36525

// InstanceFilter selects instances. Nil fields select everything.
type InstanceFilter struct {
	ID        *string
	ProjectID *string
	Subject   *SubjectKey
	Status    *InstanceStatus
	// Kept selects instances that still hold a blob: stored or withdrawn.
	Kept bool
	// BlobDigest selects instances whose blob has this digest.
	BlobDigest *string
	// ReceivedBefore selects instances received strictly before it.
	ReceivedBefore *time.Time

	Offset int
	Limit  int
}

// InstanceService keeps instance records and collection rules.
type InstanceService interface {
	// CreateInstance stores in. For a stored instance whose project already
	// has the same SOP Instance UID stored, it stores nothing and returns
	// the existing record with an ECONFLICT error.
	CreateInstance(ctx context.Context, in *Instance) (*Instance, error)
	// FindInstances returns the matching instances and their total count.
	FindInstances(ctx context.Context, f InstanceFilter) ([]*Instance, int, error)
	// SetSubjectStatus moves every stored (or withdrawn) instance of
	// subject to status and returns how many changed.
	SetSubjectStatus(ctx context.Context, subject SubjectKey, status InstanceStatus) (int, error)
	// SetInstanceStatus moves one stored or withdrawn instance to
	// withdrawn or erased (ENOTFOUND if it holds no blob any more).
	SetInstanceStatus(ctx context.Context, id string, status InstanceStatus) error
	// FindCollectionRules returns the rules of every project that has some.
	FindCollectionRules(ctx context.Context) ([]*CollectionRules, error)
	// CollectionRules returns the rules of a project (ENOTFOUND if none).
	CollectionRules(ctx context.Context, projectID string) (*CollectionRules, error)
	// SetCollectionRules validates and stores r, replacing earlier rules.
	SetCollectionRules(ctx context.Context, r *CollectionRules) error
}

// InstanceIngester is consent-gated ingest offered as a service, for
// callers that may not import the collection stage (the HTTP adapter's
// DICOMweb STOW-RS endpoint). The collection package implements it. The
// error is non-nil only when Ethos failed; a refused instance comes back
// quarantined.
type InstanceIngester interface {
	// IngestInstances ingests items into project projectID, in order (a
	// few at a time), and returns one outcome per item. The project, its
	// rules and the caller's agreements are looked up once.
	IngestInstances(ctx context.Context, projectID string, who AccessRequest, requestID string, items []IngestItem) ([]IngestOutcome, error)
}

// IngestItem is one instance handed to an InstanceIngester: where it came
// from (no identifiers) and its bytes, which are not kept after the call.
type IngestItem struct {
	Source string
	Data   []byte
}

// IngestOutcome is what became of one IngestItem. Duplicate is set when
// the project already held its SOP Instance UID; Instance is then the
// record kept before.
type IngestOutcome struct {
	Instance  *Instance
	Duplicate bool
}

// SubjectRef names the subject of a withdrawal or disposal: by subject key,
// or by the hospital's identifier, which the server turns into the key
// (DeriveSubjectKey) and checks against the sealed subject link. The
// identifier is never logged, audited or returned.
type SubjectRef struct {
	Subject    SubjectKey         `json:"subject,omitempty"`
	Identifier *PatientIdentifier `json:"-"` // never serialised
}

// WithdrawalResult is the outcome of a consent withdrawal.
type WithdrawalResult struct {
	Subject   SubjectKey   `json:"subject"`
	Consents  []string     `json:"consents"`  // ids made inactive
	Instances int          `json:"instances"` // instances made unusable
	Shred     *ShredRecord `json:"shred,omitempty"`
	// Obligations are what the withdrawal opened on datasets and models
	// built from the subject's data (WithdrawalFollower).
	Obligations []*Obligation `json:"obligations"`
}

// WithdrawalFollower is told of every consent withdrawal once it has taken
// effect; the training stage opens an obligation on every dataset and
// model version built from the subject's data.
type WithdrawalFollower interface {
	OnWithdrawal(ctx context.Context, subject SubjectKey, actor AccessRequest, requestID string) ([]*Obligation, error)
}

// Disposal is the outcome of disposing of instances: of one subject
// (crypto-shredding) or of the instances past their project's retention
// period.
type Disposal struct {
	Instances    int           `json:"instances"`     // instance records moved to erased
	BlobsDeleted int           `json:"blobs_deleted"` // blobs deleted one by one (retention)
	Shredded     []ShredRecord `json:"shredded"`      // subjects whose data key was destroyed
	Projects     []string      `json:"projects,omitempty"`
}

// ConsentStore is what the consent registry keeps its records in: the
// consents, the sealed subject links, and an import of both that stores
// all or nothing.
type ConsentStore interface {
	ConsentService
	SubjectLinkService
	ImportConsents(ctx context.Context, cs []*Consent, links []*SubjectLink) error
}

// CollectionAdmin is the consent registry and disposal offered as a
// service, for callers that may not import the collection stage (the HTTP
// adapter). The caller has checked access; the implementation writes
// what it changes to the audit log, naming subjects by key only.
type CollectionAdmin interface {
	// ImportConsents reads FHIR R4 Consent JSON (a Consent or a Bundle),
	// keys and seals the patients it names and stores every consent, or
	// none.
	ImportConsents(ctx context.Context, actor AccessRequest, fhir []byte, requestID string) ([]*Consent, error)
	// ResolveSubject returns the subject key of ref (ENOTFOUND when
	// Ethos knows nothing of that subject).
	ResolveSubject(ctx context.Context, ref SubjectRef) (SubjectKey, error)
	// Withdraw withdraws every active consent of subject, at once.
	Withdraw(ctx context.Context, actor AccessRequest, subject SubjectKey, w ConsentWithdrawal, requestID string) (*WithdrawalResult, error)
	// DisposeSubject crypto-shreds the subject's data in every project.
	DisposeSubject(ctx context.Context, actor AccessRequest, subject SubjectKey, reason, requestID string) (*Disposal, error)
	// DisposeExpired disposes of the instances of project (every project
	// when "") past its retention period at now.
	DisposeExpired(ctx context.Context, actor AccessRequest, project string, now time.Time, requestID string) (*Disposal, error)
}
