package ethos

import (
	"context"
	"time"
)

// This file holds the vocabulary of deployment monitoring shared by the
// event store (which receives inference events from a clinic) and the
// monitor (which reads them window by window): the event, the ground
// truth attached to it later, and the reader the monitor uses.
//
// Events carry no patient identifiers: a case is named by a pseudonymous
// case id chosen by the sender, and patient attributes are only those kept
// by de-identification (sex, age band). Framework: QC-DEP-1.

// ReaderAction is what the clinician did with the model's output.
type ReaderAction string

// Reader actions; empty means none recorded.
const (
	ReaderAccepted   ReaderAction = "accepted"
	ReaderOverridden ReaderAction = "overridden"
)

// Acquisition is the DICOM acquisition metadata an event carries, the
// inputs whose drift the monitor watches. Numeric fields are nil when the
// sender did not know them.
type Acquisition struct {
	Manufacturer      string   `json:"manufacturer,omitempty"`       // (0008,0070)
	ModelName         string   `json:"model_name,omitempty"`         // (0008,1090) Manufacturer's Model Name
	SoftwareVersion   string   `json:"software_version,omitempty"`   // (0018,1020)
	BodyPart          string   `json:"body_part,omitempty"`          // (0018,0015)
	Protocol          string   `json:"protocol,omitempty"`           // (0018,1030) or Series Description
	KVP               *float64 `json:"kvp,omitempty"`                // (0018,0060)
	SliceThickness    *float64 `json:"slice_thickness,omitempty"`    // (0018,0050) mm
	PixelSpacing      *float64 `json:"pixel_spacing,omitempty"`      // (0028,0030) row spacing, mm
	Modality          string   `json:"modality,omitempty"`           // (0008,0060)
	InstitutionPseudo string   `json:"institution_pseudo,omitempty"` // pseudonymous institution, if kept
}

// InferenceEvent is one model output in a deployment.
type InferenceEvent struct {
	DeploymentID string       `json:"deployment_id"`
	EventID      string       `json:"event_id"` // idempotency key, unique per deployment
	Time         time.Time    `json:"time"`     // when the model answered
	CaseID       string       `json:"case_id"`  // pseudonymous; links later ground truth
	Site         string       `json:"site,omitempty"`
	Score        float64      `json:"score"`    // model output in [0, 1]
	Decision     bool         `json:"decision"` // positive at the operating threshold
	LatencyMS    *float64     `json:"latency_ms,omitempty"`
	Reader       ReaderAction `json:"reader_action,omitempty"`
	Sex          string       `json:"sex,omitempty"`      // M, F, O (as kept by de-identification)
	AgeBand      string       `json:"age_band,omitempty"` // e.g. "65-74"
	Acquisition  Acquisition  `json:"acquisition"`
	Label        *EventLabel  `json:"label,omitempty"` // ground truth, when attached
	ReceivedAt   time.Time    `json:"received_at,omitzero"`
}

// LabelSource says where a ground truth came from.
type LabelSource string

// Label sources.
const (
	LabelReport    LabelSource = "report-concordance"
	LabelPathology LabelSource = "pathology"
	LabelFollowUp  LabelSource = "follow-up"
)

// EventLabel is ground truth attached to a case after the fact.
type EventLabel struct {
	CaseID     string      `json:"case_id"`
	Positive   bool        `json:"positive"`
	Source     LabelSource `json:"source"`
	At         time.Time   `json:"at"`
	RecordedBy string      `json:"recorded_by,omitempty"`
}

// EventFilter selects events of one deployment in [From, To).
type EventFilter struct {
	DeploymentID string
	From, To     time.Time // zero: unbounded
	Site         string    // "": all sites
}

// InferenceEventReader streams stored events to the monitor in time
// order, with their labels attached when known. fn's error stops the scan
// and is returned.
type InferenceEventReader interface {
	ScanEvents(ctx context.Context, f EventFilter, fn func(*InferenceEvent) error) error
}
