package ethos

import (
	"context"
	"io"
	"time"
)

// This file holds the vocabulary of dataset versions: what a processing
// run's de-identified outputs become when they are labelled, split and
// handed to training. A dataset version is immutable and content-addressed:
// its id is the SHA-256 of its canonical manifest, so the same content has
// the same id on every machine and any change makes a new version.

// ManifestEntry is one instance of a dataset version, named only by
// pseudonyms: the de-identified SOP Instance UID and Patient ID the run
// wrote into the file.
type ManifestEntry struct {
	ID         string            `json:"id"`      // de-identified SOP Instance UID
	Patient    string            `json:"patient"` // de-identified Patient ID (the unit of splits)
	SHA256     string            `json:"sha256"`  // of the de-identified file
	Size       int64             `json:"size"`
	Path       string            `json:"path"` // relative path in an export: STUDY/SERIES/INSTANCE.dcm
	Modality   string            `json:"modality,omitempty"`
	BodyPart   string            `json:"body_part,omitempty"`
	Label      string            `json:"label,omitempty"`
	Attributes map[string]string `json:"attributes,omitempty"` // kept by Retain Patient Characteristics
}

// DatasetMember ties a manifest entry to what it was made from. Members
// stay inside Ethos (they are never exported): the collection instance id
// and subject key reach the identifiable side.
type DatasetMember struct {
	EntryID    string     `json:"entry_id"`
	InstanceID string     `json:"instance_id"` // collection instance
	Subject    SubjectKey `json:"subject"`
	Blob       BlobRef    `json:"blob"` // the de-identified output, under the subject's key
}

// DatasetVersion is one immutable version of a project's dataset.
type DatasetVersion struct {
	ID          string          `json:"id"` // SHA-256 of the canonical manifest (hex)
	ProjectID   string          `json:"project_id"`
	RunID       string          `json:"run_id"`           // the processing run it was built from
	Parent      string          `json:"parent,omitempty"` // the version it was derived from (labels)
	Description string          `json:"description,omitempty"`
	CreatedAt   time.Time       `json:"created_at"`
	CreatedBy   string          `json:"created_by"`
	Entries     []ManifestEntry `json:"entries"`           // sorted by id
	Members     []DatasetMember `json:"members,omitempty"` // sorted by entry id; never exported
}

// DatasetVersionFilter selects versions. Nil fields select everything.
type DatasetVersionFilter struct {
	ID        *string
	ProjectID *string
	Subject   *SubjectKey // versions with at least one instance of the subject
	Offset    int
	Limit     int
}

// DatasetSplitPart is one named part of a split and its target fraction.
type DatasetSplitPart struct {
	Name     string  `json:"name"`
	Fraction float64 `json:"fraction"`
}

// DatasetBalanceRow counts the instances of one attribute value per split
// part.
type DatasetBalanceRow struct {
	Attribute string             `json:"attribute"`
	Value     string             `json:"value"`
	Counts    map[string]int     `json:"counts"`    // part name -> instances
	Fractions map[string]float64 `json:"fractions"` // part name -> share of the value's instances
}

// DatasetLeakage is the patient-level leakage check of a split.
type DatasetLeakage struct {
	Patients int      `json:"patients"`
	Leaked   []string `json:"leaked,omitempty"` // pseudonymous patients found in more than one part
	Verified bool     `json:"verified"`         // no patient in two parts
}

// DatasetSplit is a patient-level split of a dataset version, stratified by
// label and chosen attributes, deterministic by seed.
type DatasetSplit struct {
	ID         string              `json:"id"`
	VersionID  string              `json:"version_id"`
	Seed       int64               `json:"seed"`
	Parts      []DatasetSplitPart  `json:"parts"`
	StratifyBy []string            `json:"stratify_by"` // "label" and attribute names
	Assignment map[string]string   `json:"assignment"`  // entry id -> part name
	Balance    []DatasetBalanceRow `json:"balance"`
	Leakage    DatasetLeakage      `json:"leakage"`
	CreatedAt  time.Time           `json:"created_at"`
	CreatedBy  string              `json:"created_by"`
}

// DatasetService keeps dataset versions and splits.
type DatasetService interface {
	// CreateDatasetVersion stores v with its members (ECONFLICT, and
	// nothing stored, if the id exists).
	CreateDatasetVersion(ctx context.Context, v *DatasetVersion) error
	// DatasetVersion returns one version with entries and members
	// (ENOTFOUND if none).
	DatasetVersion(ctx context.Context, id string) (*DatasetVersion, error)
	// FindDatasetVersions returns versions without entries and members.
	FindDatasetVersions(ctx context.Context, f DatasetVersionFilter) ([]*DatasetVersion, int, error)
	// DatasetSubjects maps every member's collection instance id to its
	// subject key (ENOTFOUND for an unknown version).
	DatasetSubjects(ctx context.Context, versionID string) (map[string]SubjectKey, error)
	// CreateDatasetSplit stores a split of an existing version.
	CreateDatasetSplit(ctx context.Context, s *DatasetSplit) error
	// DatasetSplit returns one split (ENOTFOUND if none).
	DatasetSplit(ctx context.Context, id string) (*DatasetSplit, error)
	// FindDatasetSplits lists the splits of a version.
	FindDatasetSplits(ctx context.Context, versionID string) ([]*DatasetSplit, error)
}

// ExportGate is consulted before a dataset version is exported: a non-nil
// error refuses the export (the training stage refuses while a
// consent-withdrawal obligation on the version is open). A nil gate allows.
type ExportGate func(ctx context.Context, datasetVersionID string) error

// DatasetWorkflow is the dataset work of the processing stage offered as a
// service, for callers that may not import the stage (the HTTP adapter).
// The processing package implements it; who is the authenticated caller
// (user, party, roles, DUAs), checked against the access policy there.
type DatasetWorkflow interface {
	// BuildDatasetVersion builds a version from a processing run's
	// outputs; it also returns how many outputs were left out because
	// their instance is no longer usable.
	BuildDatasetVersion(ctx context.Context, who AccessRequest, projectID, runID, description, requestID string) (*DatasetVersion, int, error)
	// LabelDatasetVersion imports a CSV label file (columns id, label)
	// into a new version derived from versionID: all rows or none.
	LabelDatasetVersion(ctx context.Context, who AccessRequest, projectID, versionID string, csv io.Reader, allowed []string, requestID string) (*DatasetVersion, error)
	// SplitDatasetVersion makes and stores a patient-level split.
	SplitDatasetVersion(ctx context.Context, who AccessRequest, projectID, versionID string, parts []DatasetSplitPart, stratifyBy []string, seed int64, requestID string) (*DatasetSplit, error)
	// WriteDatasheet writes the datasheet of a version as json, md or html.
	WriteDatasheet(ctx context.Context, who AccessRequest, projectID, versionID, format string, w io.Writer, requestID string) error
}

// DatasetExportOptions choose what goes with an export for training.
type DatasetExportOptions struct {
	SplitID   string   `json:"split,omitempty"`      // add each entry's split part
	ReweighBy []string `json:"reweigh_by,omitempty"` // add Kamiran–Calders weights by these attributes
}

// DatasetExporter streams a dataset version for training as a tar archive
// (manifest.json, manifest.csv, then the de-identified files under
// files/), through the access policy's training row and the export gate,
// audited. It is part of the processing stage offered to the HTTP adapter.
type DatasetExporter interface {
	// ExportDataset decides and checks everything before the first byte
	// is written to w; an error after that means w holds a truncated
	// archive.
	ExportDataset(ctx context.Context, who AccessRequest, projectID, versionID string, o DatasetExportOptions, w io.Writer, requestID string) error
}
