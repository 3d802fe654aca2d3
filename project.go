package ethos

import (
	"context"
	"time"
)

// Project is one AI-in-imaging effort followed through the lifecycle: what
// it is for, on which modality, in which clinical setting, and which stage
// it is at. The stage history is kept for ever: who moved the project to
// which stage, when and why (QC-TRA-1: training decisions tracked; QC-DEP-3:
// a deployment traces back to the evaluation that preceded it).
type Project struct {
	ID              string        `json:"id"`
	Name            string        `json:"name"`
	IntendedUse     string        `json:"intended_use"`
	Modality        string        `json:"modality"` // DICOM Modality (0008,0060) defined term, e.g. CT, MR, DX
	ClinicalSetting string        `json:"clinical_setting"`
	PartyID         string        `json:"party_id"` // the party that owns the project
	Stage           Stage         `json:"stage"`
	StageHistory    []StageChange `json:"stage_history"`
	CreatedAt       time.Time     `json:"created_at"`
	UpdatedAt       time.Time     `json:"updated_at"`
}

// StageChange records one move of a project between stages.
type StageChange struct {
	From   Stage     `json:"from,omitempty"` // "" for the first stage
	To     Stage     `json:"to"`
	At     time.Time `json:"at"`
	By     string    `json:"by"` // user id
	Reason string    `json:"reason,omitempty"`
}

// Validate checks the fields a caller sets.
func (p *Project) Validate() error {
	if err := validName("name", p.Name); err != nil {
		return err
	}
	if err := validName("intended_use", p.IntendedUse); err != nil {
		return err
	}
	if err := validText("intended_use", p.IntendedUse, 2000); err != nil {
		return err
	}
	if !ValidModality(p.Modality) {
		return Errorf(EINVALID, "modality: not a DICOM Modality defined term (e.g. CT, MR, DX, MG, US)")
	}
	if err := validName("clinical_setting", p.ClinicalSetting); err != nil {
		return err
	}
	if !ValidID(p.PartyID) {
		return Errorf(EINVALID, "party_id: required")
	}
	if p.Stage != "" && !p.Stage.Valid() {
		return Errorf(EINVALID, "stage: unknown stage (want collection, processing, training, evaluation or deployment)")
	}
	return nil
}

// ValidateStageMove checks a move from one stage to another: forward by
// one stage, or back to any earlier stage (a model sent back to training
// after a failed evaluation). Staying put is refused.
func ValidateStageMove(from, to Stage) error {
	if !to.Valid() {
		return Errorf(EINVALID, "stage: unknown stage (want collection, processing, training, evaluation or deployment)")
	}
	switch fi, ti := from.Index(), to.Index(); {
	case ti == fi:
		return Errorf(ECONFLICT, "project is already at stage %s", to)
	case ti > fi+1:
		return Errorf(EINVALID, "stage: cannot skip from %s to %s; stages advance one at a time", from, to)
	}
	return nil
}

// ProjectFilter selects projects. Nil fields select everything.
type ProjectFilter struct {
	ID      *string
	PartyID *string
	Stage   *Stage

	Offset int
	Limit  int
}

// ProjectUpdate changes a project's description. Nil fields are left
// alone. The stage changes only through ProjectService.MoveStage.
type ProjectUpdate struct {
	Name            *string
	IntendedUse     *string
	Modality        *string
	ClinicalSetting *string
}

// ProjectService stores projects and their stage history.
type ProjectService interface {
	// FindProjectByID returns the project with its stage history.
	FindProjectByID(ctx context.Context, id string) (*Project, error)
	// FindProjects returns the projects matching filter (without history)
	// and the total count.
	FindProjects(ctx context.Context, filter ProjectFilter) ([]*Project, int, error)
	// CreateProject validates and stores p at stage collection (or p.Stage)
	// and records the first stage change, made by p.StageHistory's author
	// or by.
	CreateProject(ctx context.Context, p *Project, by string) error
	// UpdateProject applies upd and returns the project.
	UpdateProject(ctx context.Context, id string, upd ProjectUpdate) (*Project, error)
	// MoveStage moves the project to stage to (ValidateStageMove) and
	// records the change in the same transaction.
	MoveStage(ctx context.Context, id string, change StageChange) (*Project, error)
}
