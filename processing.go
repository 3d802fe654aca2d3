package ethos

import (
	"cmp"
	"context"
	"time"
)

// This file holds the vocabulary of the processing stage: a processing run
// de-identifies a project's stored collection instances under one
// de-identification profile and key, and leaves a processing record behind.
//
// Framework: QC-PRO-1 (every run recorded: profile and options with a hash,
// software version, who ran it, input and output content hashes, counts of
// what was removed, replaced, kept or quarantined) and QC-PRO-2 (exclusion
// and quarantine rates per demographic group before versus after, flagged
// where one group loses disproportionately).

// ProcessingItemStatus is what a run did with one input instance.
type ProcessingItemStatus string

// Item states.
const (
	ItemWritten     ProcessingItemStatus = "written"     // de-identified output stored
	ItemQuarantined ProcessingItemStatus = "quarantined" // the engine refused to write it
)

// Outcomes of the pixel integrity check (ProcessingItem.PixelCheck).
const (
	PixelCheckIdentical = "identical"
	PixelCheckCleaned   = "cleaned"
	PixelCheckNone      = "none"
)

// ProcessingProfile names the de-identification configuration of a run.
type ProcessingProfile struct {
	Standard string   `json:"standard"`       // "DICOM PS3.15 Annex E"
	Name     string   `json:"name,omitempty"` // profile name, if a profile file was used
	Options  []string `json:"options"`        // option names, in the standard's order
	Hash     string   `json:"hash"`           // hash of the effective configuration
}

// ProcessingItem is the record of one input instance in a run.
type ProcessingItem struct {
	InstanceID   string               `json:"instance_id"` // the collection instance
	Subject      SubjectKey           `json:"subject"`
	Status       ProcessingItemStatus `json:"status"`
	Reasons      []string             `json:"reasons,omitempty"` // quarantine reasons; never identifiers
	InputSHA256  string               `json:"input_sha256"`
	OutputSHA256 string               `json:"output_sha256,omitempty"`
	// PixelCheck is the outcome of the pixel integrity check of a
	// written output: PixelCheckIdentical (its pixel data values were compared
	// with the input's and found byte-identical; OutputSHA256 covers them),
	// PixelCheckCleaned (Clean Pixel Data changed them, so they were not
	// compared) or PixelCheckNone (neither file has pixel data).
	PixelCheck string `json:"pixel_check,omitempty"`
	// PixelSHA256 is found only in records made before 2026-11-27: the
	// hash of the input's pixel data values, which the engine reported.
	PixelSHA256  string            `json:"pixel_sha256,omitempty"`
	PixelCleaned bool              `json:"pixel_cleaned,omitempty"`
	Output       *BlobRef          `json:"output,omitempty"`      // under the subject's data key
	OutputUID    string            `json:"output_uid,omitempty"`  // pseudonymous SOP Instance UID
	PseudoID     string            `json:"pseudo_id,omitempty"`   // pseudonymous Patient ID of the output
	Group        map[string]string `json:"group,omitempty"`       // coarse demographics (sex, ageBand, …)
	Attributes   map[string]string `json:"attributes,omitempty"`  // kept by Retain Patient Characteristics
	Modality     string            `json:"modality,omitempty"`    // from the collection record
	BodyPart     string            `json:"body_part,omitempty"`   // from the collection record
	OutputName   string            `json:"output_name,omitempty"` // STUDY/SERIES/INSTANCE.dcm (new UIDs)
}

// ProcessingGroupRate is one group's loss through a run (QC-PRO-2).
type ProcessingGroupRate struct {
	Attribute string  `json:"attribute"` // "sex", "ageBand", "modality", …
	Value     string  `json:"value"`
	Before    int     `json:"before"`   // instances that entered the run in this group
	Excluded  int     `json:"excluded"` // quarantined by the run
	After     int     `json:"after"`    // instances that reached the processing output
	Rate      float64 `json:"rate"`     // excluded / before
	Lower     float64 `json:"lower"`
	Upper     float64 `json:"upper"` // Wilson interval at Confidence
	// RestRate is the exclusion rate of every other group of the same
	// attribute. Flagged: the group's lower bound exceeds RestRate by more
	// than the declared threshold.
	RestRate float64 `json:"rest_rate"`
	Flagged  bool    `json:"flagged"`
	Why      string  `json:"why,omitempty"`
}

// ProcessingBias is the QC-PRO-2 section of a processing record.
type ProcessingBias struct {
	Threshold  float64               `json:"threshold"`  // declared: allowed excess of a group's exclusion rate
	Confidence float64               `json:"confidence"` // e.g. 0.95
	Overall    float64               `json:"overall"`    // overall exclusion rate
	Groups     []ProcessingGroupRate `json:"groups"`
	Flagged    int                   `json:"flagged"`
}

// ProcessingRun is the processing record of one run (QC-PRO-1).
type ProcessingRun struct {
	ID             string                    `json:"id"`
	ProjectID      string                    `json:"project_id"`
	StartedBy      string                    `json:"started_by"` // user id
	StartedAt      time.Time                 `json:"started_at"`
	FinishedAt     time.Time                 `json:"finished_at"`
	Software       string                    `json:"software"` // "ethos <version>"
	Profile        ProcessingProfile         `json:"profile"`
	KeyFingerprint string                    `json:"key_fingerprint"` // never the key
	Inputs         int                       `json:"inputs"`
	Written        int                       `json:"written"`
	Quarantined    int                       `json:"quarantined"`
	Actions        map[string]int            `json:"actions"`     // action name -> count over all outputs
	TagActions     map[string]map[string]int `json:"tag_actions"` // "(gggg,eeee)" -> action -> count
	Bias           *ProcessingBias           `json:"bias,omitempty"`
	Items          []ProcessingItem          `json:"items,omitempty"`
}

// Validate checks the record before it is stored.
func (r *ProcessingRun) Validate() error {
	if !ValidID(r.ProjectID) {
		return Errorf(EINVALID, "processing run: project_id: required")
	}
	if r.StartedBy == "" || r.Software == "" || r.KeyFingerprint == "" || r.Profile.Hash == "" {
		return Errorf(EINVALID, "processing run: who, software, key fingerprint and profile hash are required")
	}
	if r.Written+r.Quarantined != r.Inputs || len(r.Items) != r.Inputs {
		return Errorf(EINVALID, "processing run: %d inputs but %d written, %d quarantined and %d items", r.Inputs, r.Written, r.Quarantined, len(r.Items))
	}
	for i := range r.Items {
		it := &r.Items[i]
		if it.InstanceID == "" || !it.Subject.Valid() || len(it.InputSHA256) != 64 {
			return Errorf(EINVALID, "processing run: item %d: instance id, subject key and input sha256 required", i)
		}
		switch it.Status {
		case ItemWritten:
			if it.Output == nil || len(it.OutputSHA256) != 64 || it.OutputUID == "" {
				return Errorf(EINVALID, "processing run: item %d: written without output, output sha256 or uid", i)
			}
			if err := it.Output.Validate(); err != nil {
				return err
			}
			if it.Output.Subject != it.Subject {
				return Errorf(EINVALID, "processing run: item %d: output stored under another subject's key", i)
			}
			switch it.PixelCheck {
			case "": // a record made before the check was recorded
			case PixelCheckCleaned, PixelCheckIdentical, PixelCheckNone:
				if it.PixelCleaned != (it.PixelCheck == PixelCheckCleaned) {
					return Errorf(EINVALID, "processing run: item %d: pixel check %q but pixel_cleaned %v", i, it.PixelCheck, it.PixelCleaned)
				}
			default:
				return Errorf(EINVALID, "processing run: item %d: unknown pixel check %q", i, it.PixelCheck)
			}
		case ItemQuarantined:
			if len(it.Reasons) == 0 {
				return Errorf(EINVALID, "processing run: item %d: quarantined without a reason", i)
			}
		default:
			return Errorf(EINVALID, "processing run: item %d: unknown status %q", i, it.Status)
		}
	}
	return nil
}

// ProcessingRunFilter selects runs. Nil fields select everything.
type ProcessingRunFilter struct {
	ID        *string
	ProjectID *string
	Offset    int
	Limit     int
}

// ProcessingService keeps processing records.
type ProcessingService interface {
	// CreateProcessingRun stores the run and all its items in one
	// transaction (assigning an id if empty): all or nothing.
	CreateProcessingRun(ctx context.Context, r *ProcessingRun) error
	// FindProcessingRuns returns runs without their items, and the count.
	FindProcessingRuns(ctx context.Context, f ProcessingRunFilter) ([]*ProcessingRun, int, error)
	// ProcessingRun returns one run with its items (ENOTFOUND if none).
	ProcessingRun(ctx context.Context, id string) (*ProcessingRun, error)
}

// ProcessingSpec is what a caller of the processing workflow asks for: the
// de-identification configuration and the project's pseudonymisation
// secret. The secret is used for the run and forgotten; only its
// fingerprint is recorded.
type ProcessingSpec struct {
	ProfileName string   `json:"profile_name,omitempty"` // for the record ("basic" when empty)
	Profile     []byte   `json:"profile,omitempty"`      // a JSON profile document; empty: the Basic Profile
	Options     []string `json:"options,omitempty"`      // option names (see 'ethos deid profile show')
	Secret      []byte   `json:"secret"`                 // the project's pseudonymisation secret
	Threshold   float64  `json:"threshold"`              // QC-PRO-2 declared threshold
	Confidence  float64  `json:"confidence"`             // QC-PRO-2 interval level
}

// The declared QC-PRO-2 threshold and interval level of a processing run
// that names none (ProcessingSpec, processing.BiasOptions).
const (
	DefaultBiasThreshold  = 0.10
	DefaultBiasConfidence = 0.95
)

// ProcessingJobState is where a processing run started by the workflow is.
type ProcessingJobState string

// Job states.
const (
	JobRunning ProcessingJobState = "running"
	JobDone    ProcessingJobState = "done"
	JobFailed  ProcessingJobState = "failed"
)

// ProcessingJob is the progress of a processing run started in the
// background. Its id is the id the run's record will have.
type ProcessingJob struct {
	ID         string             `json:"id"`
	ProjectID  string             `json:"project_id"`
	StartedBy  string             `json:"started_by"`
	Purpose    Purpose            `json:"purpose"` // the project's declared purpose (reads of the record ask for it)
	State      ProcessingJobState `json:"state"`
	Done       int                `json:"done"`  // instances de-identified and verified so far
	Total      int                `json:"total"` // instances the run reads (0 until known)
	StartedAt  time.Time          `json:"started_at"`
	FinishedAt time.Time          `json:"finished_at,omitzero"`
	ErrorCode  string             `json:"error_code,omitempty"` // when failed
	Error      string             `json:"error,omitempty"`      // when failed; never identifiers
	Run        *ProcessingRun     `json:"-"`                    // the record, when done
	// Kept with the job's row (docs/processing.md, "Jobs"): the request
	// that started it, the hash of its specification (never the secret),
	// when the progress was last written, and the record's id once
	// stored.
	RequestID string    `json:"request_id,omitempty"`
	SpecHash  string    `json:"spec_hash,omitempty"`
	UpdatedAt time.Time `json:"updated_at,omitzero"`
	RunID     string    `json:"run_id,omitempty"`
}

// Err is the job's failure as a coded error (nil unless failed).
func (j *ProcessingJob) Err() error {
	if j.State != JobFailed {
		return nil
	}
	return Errorf(cmp.Or(j.ErrorCode, EINTERNAL), "processing run %s failed: %s", j.ID, j.Error)
}

// ProcessingWorkflow runs processing runs for callers that may not import
// the stage (the HTTP adapter). who is the authenticated caller, checked
// against the access policy's processing row.
type ProcessingWorkflow interface {
	// StartProcessingRun checks the request and the policy, then runs
	// the de-identification in the background. It waits a short while:
	// a run finished by then is returned done (or its error), otherwise
	// running, to be polled with ProcessingJob.
	StartProcessingRun(ctx context.Context, who AccessRequest, projectID string, spec ProcessingSpec, requestID string) (*ProcessingJob, error)
	// ProcessingJob returns a job (ENOTFOUND for an unknown id or
	// another project's job), from its stored row when jobs are kept in
	// the database.
	ProcessingJob(ctx context.Context, projectID, id string) (*ProcessingJob, error)
}
