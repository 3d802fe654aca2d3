package ethos

import (
	"context"
	"encoding/json"
	"time"
)

// Project is one AI-in-imaging effort followed through the lifecycle: what
// the model is meant to do, on which images, where, and which stage it is
// in now. Its stage history records every move.
type Project struct {
	ID              string    `json:"id"`
	Name            string    `json:"name"`
	IntendedUse     string    `json:"intended_use"`
	Modality        string    `json:"modality"`         // DICOM modality code(s), e.g. "CT" or "MR,CT"
	ClinicalSetting string    `json:"clinical_setting"` // e.g. "emergency department triage"
	Stage           Stage     `json:"stage"`
	CreatedAt       time.Time `json:"created_at"`
	UpdatedAt       time.Time `json:"updated_at"`
}

// MaxTextLen bounds free-text fields such as intended use.
const MaxTextLen = 4000

// Validate checks the fields a caller sets. A new project starts in
// collection when Stage is empty.
func (p *Project) Validate() error {
	if err := validName("project name", p.Name); err != nil {
		return err
	}
	if p.IntendedUse == "" {
		return Errorf(EINVALID, "project intended_use is required")
	}
	if err := validText("project intended_use", p.IntendedUse, MaxTextLen); err != nil {
		return err
	}
	if err := validText("project modality", p.Modality, MaxNameLen); err != nil {
		return err
	}
	if err := validText("project clinical_setting", p.ClinicalSetting, MaxTextLen); err != nil {
		return err
	}
	if p.Stage != "" && !p.Stage.Valid() {
		return Errorf(EINVALID, "project stage %q is not a lifecycle stage", p.Stage)
	}
	return nil
}

// StageChange is one entry of a project's stage history.
type StageChange struct {
	ProjectID string    `json:"project_id"`
	From      Stage     `json:"from"` // "" for the creation of the project
	To        Stage     `json:"to"`
	By        string    `json:"by"` // user id or "system"
	Reason    string    `json:"reason"`
	At        time.Time `json:"at"`
}

// CheckStageMove tells whether a project may move from one stage to
// another: forward one stage at a time, or back to any earlier stage (a
// model withdrawn from deployment returns to training, for instance).
// Staying put or skipping a stage is refused.
func CheckStageMove(from, to Stage) error {
	if !to.Valid() {
		return Errorf(EINVALID, "unknown stage %q", to)
	}
	fi, ti := from.Index(), to.Index()
	switch {
	case fi == ti:
		return Errorf(ECONFLICT, "project is already in %s", to)
	case ti > fi+1:
		return Errorf(EINVALID, "cannot move from %s to %s: stages are entered one at a time", from, to)
	}
	return nil
}

// ProjectFilter selects projects; nil fields select everything.
type ProjectFilter struct {
	ID     *string `json:"id,omitempty"`
	Name   *string `json:"name,omitempty"`
	Stage  *Stage  `json:"stage,omitempty"`
	Offset int     `json:"offset,omitempty"`
	Limit  int     `json:"limit,omitempty"`
}

// ProjectUpdate holds the fields UpdateProject may change; nil leaves a
// field. The stage changes only through SetProjectStage.
type ProjectUpdate struct {
	Name            *string `json:"name,omitempty"`
	IntendedUse     *string `json:"intended_use,omitempty"`
	Modality        *string `json:"modality,omitempty"`
	ClinicalSetting *string `json:"clinical_setting,omitempty"`
}

// ProjectService stores projects and their stage history.
type ProjectService interface {
	FindProjectByID(ctx context.Context, id string) (*Project, error)
	FindProjects(ctx context.Context, filter ProjectFilter) ([]*Project, int, error)
	// CreateProject assigns ID and times and records the first history
	// entry (from "" to the starting stage) by the user in ctx.
	CreateProject(ctx context.Context, p *Project) error
	UpdateProject(ctx context.Context, id string, upd ProjectUpdate) (*Project, error)
	// SetProjectStage moves the project (CheckStageMove) and records the
	// change with reason, by the user in ctx, in the same transaction.
	SetProjectStage(ctx context.Context, id string, to Stage, reason string) (*Project, error)
	StageHistory(ctx context.Context, id string) ([]*StageChange, error)
}

// StageRecord is a document a stage keeps for a project: a datasheet, a
// de-identification report, a training run, an evaluation summary. Its View
// says how sensitive its content is, which decides who may read it.
type StageRecord struct {
	ID        string          `json:"id"`
	ProjectID string          `json:"project_id"`
	Stage     Stage           `json:"stage"`
	Kind      string          `json:"kind"`
	Title     string          `json:"title"`
	View      View            `json:"view"`
	Body      json.RawMessage `json:"body,omitempty"`
	CreatedBy string          `json:"created_by"`
	CreatedAt time.Time       `json:"created_at"`
}

// MaxRecordBody bounds the JSON body of a stage record.
const MaxRecordBody = 256 << 10

// Validate checks the fields a caller sets.
func (r *StageRecord) Validate() error {
	if r.ProjectID == "" {
		return Errorf(EINVALID, "record project_id is required")
	}
	if !r.Stage.Valid() {
		return Errorf(EINVALID, "record stage %q is not a lifecycle stage", r.Stage)
	}
	if err := validName("record kind", r.Kind); err != nil {
		return err
	}
	if err := validName("record title", r.Title); err != nil {
		return err
	}
	if !r.View.Valid() {
		return Errorf(EINVALID, "record view %q: want identified, deidentified or aggregate", r.View)
	}
	if len(r.Body) > MaxRecordBody {
		return Errorf(EINVALID, "record body is larger than %d bytes", MaxRecordBody)
	}
	if len(r.Body) > 0 && !json.Valid(r.Body) {
		return Errorf(EINVALID, "record body is not valid JSON")
	}
	return nil
}

// StageRecordFilter selects stage records.
type StageRecordFilter struct {
	ProjectID *string `json:"project_id,omitempty"`
	Stage     *Stage  `json:"stage,omitempty"`
	Views     []View  `json:"views,omitempty"` // nil: any view
	Offset    int     `json:"offset,omitempty"`
	Limit     int     `json:"limit,omitempty"`
}

// StageRecordService stores stage records.
type StageRecordService interface {
	FindStageRecords(ctx context.Context, filter StageRecordFilter) ([]*StageRecord, int, error)
	// CreateStageRecord assigns ID and CreatedAt; CreatedBy is the user
	// in ctx.
	CreateStageRecord(ctx context.Context, r *StageRecord) error
}
