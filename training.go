package ethos

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// This file holds the vocabulary of the training stage: the register of
// training runs (QC-TRA-1: who trained what, when, from which code and
// data, with which parameters, producing which artefact, reviewed by whom),
// the model versions the runs produce, the consent re-check made at
// registration (QC-TRA-2), and the lineage queries the stage answers.

// TrainingRunStatus is where a run stands in its review.
type TrainingRunStatus string

const (
	RunRegistered TrainingRunStatus = "registered" // recorded, waiting for its reviewer
	RunSignedOff  TrainingRunStatus = "signed-off" // a named reviewer approved it (QC-TRA-1)
	RunRejected   TrainingRunStatus = "rejected"   // a named reviewer refused it
)

// Valid reports whether s is a known status.
func (s TrainingRunStatus) Valid() bool {
	switch s {
	case RunRegistered, RunSignedOff, RunRejected:
		return true
	}
	return false
}

// TrainingRun is one registered training run. The register holds what a
// reviewer or auditor needs to reproduce and judge the run; it never holds
// patient identifiers (the dataset version names the data).
type TrainingRun struct {
	ID             string             `json:"id"`
	ProjectID      string             `json:"project_id"`
	DatasetVersion string             `json:"dataset_version"` // id of the dataset version trained on
	Split          string             `json:"split"`           // the split used for training, e.g. "train"
	CodeVersion    string             `json:"code_version"`    // git commit of the training code (hex, 7 to 64 digits)
	CodeRepository string             `json:"code_repository,omitempty"`
	Parameters     map[string]string  `json:"parameters,omitempty"`  // hyper-parameters, as given
	Environment    map[string]string  `json:"environment,omitempty"` // software and hardware, e.g. "torch": "2.4.1"
	ModelSHA256    string             `json:"model_sha256"`          // SHA-256 of the produced artefact (64 hex)
	ModelName      string             `json:"model_name"`            // the model's name; the version is derived from the run
	Metrics        map[string]float64 `json:"metrics,omitempty"`     // summary metrics reported by the run
	StartedAt      time.Time          `json:"started_at,omitzero"`
	FinishedAt     time.Time          `json:"finished_at,omitzero"`

	// Set by the register.
	ModelVersion string            `json:"model_version,omitempty"` // id of the model version the run produced
	Coverage     *ConsentCoverage  `json:"coverage,omitempty"`      // the consent re-check made at registration
	Sources      []DataSource      `json:"sources,omitempty"`       // the dataset's collection sources (disclosure, QC-TRA-2)
	Status       TrainingRunStatus `json:"status"`
	RegisteredBy string            `json:"registered_by"` // user id
	RegisteredAt time.Time         `json:"registered_at"`
	SignOff      *TrainingSignOff  `json:"sign_off,omitempty"`
}

// DataSource is one collection source of a dataset version and how many of
// its instances came from it (QC-TRA-2 disclosure).
type DataSource struct {
	Source    string `json:"source"`
	Instances int    `json:"instances"`
}

// ConsentCoverage is the outcome of re-checking consent for ai-training
// over every instance of a dataset version (QC-TRA-2). Counts only: the
// subjects are not named.
type ConsentCoverage struct {
	Purpose    Purpose   `json:"purpose"`
	CheckedAt  time.Time `json:"checked_at"`
	Instances  int       `json:"instances"`    // instances checked
	Subjects   int       `json:"subjects"`     // distinct subjects checked
	Covered    int       `json:"covered"`      // instances covered now and on their acquisition date
	Withdrawn  int       `json:"withdrawn"`    // subjects who withdrew consent (or whose instances were withdrawn or erased)
	OutOfScope int       `json:"out_of_scope"` // other subjects not covered: no consent, out of scope, denied, expired
	// Uncovered counts the instances not covered, by the consent engine's reason.
	Uncovered map[string]int `json:"uncovered,omitempty"`
}

// Complete reports whether every instance is covered.
func (c *ConsentCoverage) Complete() bool { return c.Instances > 0 && c.Covered == c.Instances }

// SignOffDecision is a reviewer's verdict on a run.
type SignOffDecision string

const (
	SignOffApproved SignOffDecision = "approved"
	SignOffRejected SignOffDecision = "rejected"
)

// TrainingSignOff is a named reviewer's verdict on a run (QC-TRA-1).
type TrainingSignOff struct {
	Reviewer string          `json:"reviewer"` // user id of the reviewer
	Decision SignOffDecision `json:"decision"`
	Note     string          `json:"note,omitempty"` // no identifiers
	At       time.Time       `json:"at"`
}

// ModelStatus is whether a model version may still be used.
type ModelStatus string

const (
	ModelActive  ModelStatus = "active"
	ModelRetired ModelStatus = "retired" // retired, e.g. to resolve a withdrawal obligation
)

// ModelVersion is a model artefact produced by one training run. Its id is
// derived from the run; the artefact is named by its SHA-256.
type ModelVersion struct {
	ID             string      `json:"id"`
	ProjectID      string      `json:"project_id"`
	Name           string      `json:"name"`
	Run            string      `json:"run"` // the training run that produced it
	DatasetVersion string      `json:"dataset_version"`
	SHA256         string      `json:"sha256"`
	Status         ModelStatus `json:"status"`
	CreatedAt      time.Time   `json:"created_at"`
}

var (
	hexRE       = regexp.MustCompile(`^[0-9a-f]+$`)
	modelNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9 ._-]{0,99}$`)
	paramKeyRE  = regexp.MustCompile(`^[A-Za-z0-9_.:/-]{1,100}$`)
)

// maxRunFields bounds the parameters, environment entries and metrics of
// one run together.
const maxRunFields = 200

// ModelVersionID returns the id of the model version a run produces.
func ModelVersionID(runID string) string {
	return "mdl_" + strings.TrimPrefix(runID, "trn_")
}

// Validate checks what the caller of a registration supplies.
func (r *TrainingRun) Validate() error {
	switch {
	case !ValidID(r.ProjectID):
		return Errorf(EINVALID, "training run: project_id: required")
	case !ValidNodeID(r.DatasetVersion):
		return Errorf(EINVALID, "training run: dataset_version: required (an id of 1-128 letters, digits, '_', '-', '.' or ':')")
	case !ValidID(r.Split):
		return Errorf(EINVALID, "training run: split: required (e.g. train)")
	case len(r.CodeVersion) < 7 || len(r.CodeVersion) > 64 || !hexRE.MatchString(r.CodeVersion):
		return Errorf(EINVALID, "training run: code_version: a git commit of 7 to 64 lowercase hex digits is required")
	case len(r.ModelSHA256) != 64 || !hexRE.MatchString(r.ModelSHA256):
		return Errorf(EINVALID, "training run: model_sha256: the SHA-256 of the model artefact (64 lowercase hex digits) is required")
	case !modelNameRE.MatchString(r.ModelName):
		return Errorf(EINVALID, "training run: model_name: 1 to 100 letters, digits, space, '.', '_' or '-' required")
	case len(r.CodeRepository) > 500:
		return Errorf(EINVALID, "training run: code_repository: at most 500 characters")
	case len(r.Parameters)+len(r.Environment)+len(r.Metrics) > maxRunFields:
		return Errorf(EINVALID, "training run: at most %d parameters, environment entries and metrics in all", maxRunFields)
	case !r.StartedAt.IsZero() && !r.FinishedAt.IsZero() && r.FinishedAt.Before(r.StartedAt):
		return Errorf(EINVALID, "training run: finished_at is before started_at")
	}
	for name, m := range map[string]map[string]string{"parameters": r.Parameters, "environment": r.Environment} {
		for k, v := range m {
			if !paramKeyRE.MatchString(k) {
				return Errorf(EINVALID, "training run: %s: key %q: 1 to 100 letters, digits or _ . : / -", name, k)
			}
			if len(v) > 1000 {
				return Errorf(EINVALID, "training run: %s: %s: value longer than 1000 characters", name, k)
			}
		}
	}
	for k, v := range r.Metrics {
		if !paramKeyRE.MatchString(k) {
			return Errorf(EINVALID, "training run: metrics: key %q: 1 to 100 letters, digits or _ . : / -", k)
		}
		if v != v || v > 1e300 || v < -1e300 {
			return Errorf(EINVALID, "training run: metrics: %s is not a finite number", k)
		}
	}
	return nil
}

// Validate checks a sign-off.
func (s *TrainingSignOff) Validate() error {
	switch {
	case !ValidID(s.Reviewer):
		return Errorf(EINVALID, "sign-off: reviewer: a user id is required")
	case s.Decision != SignOffApproved && s.Decision != SignOffRejected:
		return Errorf(EINVALID, "sign-off: decision must be %s or %s", SignOffApproved, SignOffRejected)
	case len(s.Note) > 2000:
		return Errorf(EINVALID, "sign-off: note: at most 2000 characters")
	}
	return nil
}

// TrainingRunFilter selects runs. Nil fields select everything.
type TrainingRunFilter struct {
	ID             *string
	ProjectID      *string
	DatasetVersion *string
	Status         *TrainingRunStatus

	Offset int
	Limit  int
}

// TrainingStore keeps the register: runs, the model versions they produced
// and sign-offs. Runs are never deleted.
type TrainingStore interface {
	// CreateTrainingRun stores a validated run (ID, ModelVersion, status
	// and registration fields set by the caller) and its model version,
	// at once. ECONFLICT if the run id exists.
	CreateTrainingRun(ctx context.Context, r *TrainingRun) error
	FindTrainingRunByID(ctx context.Context, id string) (*TrainingRun, error)
	FindTrainingRuns(ctx context.Context, f TrainingRunFilter) ([]*TrainingRun, int, error)
	// SignOffTrainingRun records the verdict of a run still waiting for
	// one (ECONFLICT otherwise) and returns the run.
	SignOffTrainingRun(ctx context.Context, id string, s TrainingSignOff) (*TrainingRun, error)
	FindModelVersionByID(ctx context.Context, id string) (*ModelVersion, error)
	// SetModelStatus changes a model version's status.
	SetModelStatus(ctx context.Context, id string, status ModelStatus) (*ModelVersion, error)
}

// TrainingService is the training stage's workflow offered as a service,
// for callers that may not import the stage (the HTTP adapter). Package
// training implements it. actor is the caller, already authorised by the
// access policy for the project's training stage.
type TrainingService interface {
	// RegisterTrainingRun re-checks consent over the dataset version,
	// refuses while an obligation is open on it, records the run, its
	// model version and lineage, and audits the outcome.
	RegisterTrainingRun(ctx context.Context, actor AccessRequest, r *TrainingRun, requestID string) (*TrainingRun, error)
	// SignOffTrainingRun records a named reviewer's verdict (QC-TRA-1).
	SignOffTrainingRun(ctx context.Context, actor AccessRequest, id string, s TrainingSignOff, requestID string) (*TrainingRun, error)
	// ResolveObligation closes an open obligation (audited).
	ResolveObligation(ctx context.Context, actor AccessRequest, id string, res ObligationResolution, requestID string) (*Obligation, error)
	// Provenance returns the PROV-JSON document of the neighbourhood of
	// roots: each root, the nodes one relation away, what those entities
	// were derived from and what was derived from them, and every edge
	// touching those nodes.
	Provenance(ctx context.Context, roots []LineageNode) (*ProvDocument, error)
}

// LineageWalk says which edges a lineage query follows.
type LineageWalk int

const (
	// WalkDerivations follows wasDerivedFrom only: entity to entity, so a
	// walk from one subject never fans out through an activity that used
	// many subjects' data (a processing run). The subject queries use it.
	WalkDerivations LineageWalk = iota
	// WalkAll follows every relation: the full influence of a node, e.g.
	// everything a processing run generated and what was built from it.
	WalkAll
)

// LineageService records and queries the provenance graph.
type LineageService interface {
	LineageRecorder
	// Upstream returns the nodes n depends on (n excluded), of the given
	// kinds (all kinds when none given), sorted by kind then id.
	Upstream(ctx context.Context, n LineageNode, walk LineageWalk, kinds ...LineageKind) ([]LineageNode, error)
	// Downstream returns the nodes that depend on n (n excluded).
	Downstream(ctx context.Context, n LineageNode, walk LineageWalk, kinds ...LineageKind) ([]LineageNode, error)
	// LineageEdges returns every edge with at least one end among nodes.
	LineageEdges(ctx context.Context, nodes []LineageNode) ([]LineageEdge, error)
}

// ParseLineageNode parses "kind:id".
func ParseLineageNode(s string) (LineageNode, error) {
	k, id, ok := strings.Cut(s, ":")
	n := LineageNode{Kind: LineageKind(k), ID: id}
	if !ok || !n.Kind.Valid() {
		return LineageNode{}, Errorf(EINVALID, "lineage node: want kind:id with kind one of subject, instance, processing-run, deid-instance, dataset-version, training-run, model-version, evaluation, deployment, agent")
	}
	if err := n.Validate(); err != nil {
		return LineageNode{}, err
	}
	return n, nil
}

// Validate checks the node's kind and id.
func (n LineageNode) Validate() error {
	if !n.Kind.Valid() {
		return Errorf(EINVALID, "lineage node: unknown kind (want subject, instance, processing-run, deid-instance, dataset-version, training-run, model-version, evaluation, deployment or agent)")
	}
	if n.Kind == LineageSubject {
		if !SubjectKey(n.ID).Valid() {
			return Errorf(EINVALID, "lineage node: a subject is named by its subject key (64 lowercase hex digits)")
		}
		return nil
	}
	if !ValidNodeID(n.ID) {
		return Errorf(EINVALID, "lineage node %s: id is not valid (1-128 letters, digits, '_', '-', '.' or ':')", n.Kind)
	}
	return nil
}

// ValidNodeID reports whether id may name a lineage node other than a
// subject: 1 to 128 letters, digits, '_', '-', '.' or ':' (longer than
// ValidID allows so that content-addressed ids such as
// "sha256:<64 hex>" fit).
func ValidNodeID(id string) bool {
	if len(id) == 0 || len(id) > 128 {
		return false
	}
	for _, c := range []byte(id) {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-', c == '.', c == ':':
		default:
			return false
		}
	}
	return true
}

// String returns "kind:id".
func (n LineageNode) String() string { return fmt.Sprintf("%s:%s", n.Kind, n.ID) }

// ProvNamespace is the namespace of Ethos's node names in PROV documents.
const ProvNamespace = "https://ethos-imaging.org/ns/lineage#"

// ProvDocument is a provenance graph in W3C PROV-JSON form: a prefix
// table, one section per node class (entity, activity, agent) keyed by
// qualified name, and one section per relation keyed by a blank-node id.
// Marshal it with encoding/json; keys come out sorted, so the same graph
// always gives the same bytes.
type ProvDocument struct {
	Prefix            map[string]string         `json:"prefix"`
	Entity            map[string]map[string]any `json:"entity,omitempty"`
	Activity          map[string]map[string]any `json:"activity,omitempty"`
	Agent             map[string]map[string]any `json:"agent,omitempty"`
	Used              map[string]map[string]any `json:"used,omitempty"`
	WasGeneratedBy    map[string]map[string]any `json:"wasGeneratedBy,omitempty"`
	WasDerivedFrom    map[string]map[string]any `json:"wasDerivedFrom,omitempty"`
	WasAttributedTo   map[string]map[string]any `json:"wasAttributedTo,omitempty"`
	WasAssociatedWith map[string]map[string]any `json:"wasAssociatedWith,omitempty"`
}

// ProvName returns the qualified name of n in a PROV document:
// "ethos:<kind>/<id>".
func ProvName(n LineageNode) string { return "ethos:" + string(n.Kind) + "/" + n.ID }

// NewProvDocument builds the PROV-JSON document of nodes and edges. The
// ends of every edge are declared too, so the document is closed: each
// relation names only declared nodes.
func NewProvDocument(nodes []LineageNode, edges []LineageEdge) *ProvDocument {
	d := &ProvDocument{Prefix: map[string]string{"ethos": ProvNamespace}}
	declare := func(n LineageNode) {
		sec := map[string]*map[string]map[string]any{"entity": &d.Entity, "activity": &d.Activity, "agent": &d.Agent}[n.Kind.ProvClass()]
		if sec == nil {
			return
		}
		if *sec == nil {
			*sec = map[string]map[string]any{}
		}
		(*sec)[ProvName(n)] = map[string]any{
			"prov:type":  map[string]string{"$": "ethos:" + string(n.Kind), "type": "prov:QUALIFIED_NAME"},
			"prov:label": n.ID,
		}
	}
	for _, n := range nodes {
		declare(n)
	}
	type rel struct {
		sec       *map[string]map[string]any
		prefix    string
		from, to  string
		timestamp bool
	}
	rels := map[LineageRelation]rel{
		RelUsed:              {&d.Used, "u", "prov:activity", "prov:entity", true},
		RelWasGeneratedBy:    {&d.WasGeneratedBy, "g", "prov:entity", "prov:activity", true},
		RelWasDerivedFrom:    {&d.WasDerivedFrom, "d", "prov:generatedEntity", "prov:usedEntity", false},
		RelWasAttributedTo:   {&d.WasAttributedTo, "at", "prov:entity", "prov:agent", false},
		RelWasAssociatedWith: {&d.WasAssociatedWith, "as", "prov:activity", "prov:agent", false},
	}
	count := map[LineageRelation]int{}
	for _, e := range edges {
		r, ok := rels[e.Relation]
		if !ok {
			continue
		}
		declare(e.From)
		declare(e.To)
		if *r.sec == nil {
			*r.sec = map[string]map[string]any{}
		}
		count[e.Relation]++
		attrs := map[string]any{r.from: ProvName(e.From), r.to: ProvName(e.To)}
		if r.timestamp && !e.At.IsZero() {
			attrs["prov:time"] = e.At.UTC().Format(time.RFC3339Nano)
		}
		(*r.sec)[fmt.Sprintf("_:%s%d", r.prefix, count[e.Relation])] = attrs
	}
	return d
}

// LineagePage is one page of a walk of the provenance graph.
type LineagePage struct {
	Nodes []LineageNode `json:"nodes"`
	// Next is the cursor of the following page ("" after the last).
	Next string `json:"next,omitempty"`
}

// LineagePager walks the provenance graph a page at a time, for walks
// too large to answer at once (a dataset version's full upstream holds
// every instance and subject behind it). Pages come in walk order,
// breadth-first: the nodes nearest the start first. A page costs the walk
// up to its end, not the whole walk, so the first pages are fast. A
// cursor from a graph that has changed since (new lineage recorded) is
// refused with ECONFLICT: start again from the first page.
type LineagePager interface {
	UpstreamPage(ctx context.Context, n LineageNode, walk LineageWalk, cursor string, limit int, kinds ...LineageKind) (*LineagePage, error)
	DownstreamPage(ctx context.Context, n LineageNode, walk LineageWalk, cursor string, limit int, kinds ...LineageKind) (*LineagePage, error)
}
