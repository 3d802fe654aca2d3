package checks

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/ethos-imaging/ethos"
)

// The readers below are the parts of the stores and stage services the
// checks read. Each is a subset of a root interface (named in its
// comment), so the sqlstore services and the stage services satisfy them.

// ProjectReader finds projects (ethos.ProjectService).
type ProjectReader interface {
	FindProjectByID(ctx context.Context, id string) (*ethos.Project, error)
}

// RecordReader reads stage records (ethos.RecordService); QC-COL-1 reads
// the representation reports recorded at the collection stage.
type RecordReader interface {
	FindRecords(ctx context.Context, filter ethos.RecordFilter) ([]*ethos.StageRecord, int, error)
}

// InstanceReader reads instance records (ethos.InstanceService).
type InstanceReader interface {
	FindInstances(ctx context.Context, f ethos.InstanceFilter) ([]*ethos.Instance, int, error)
}

// InstanceSummarizer counts a project's instance records in the store
// (sqlstore.CheckEvidence); without one, QC-COL-2 reads every record
// through the InstanceReader.
type InstanceSummarizer interface {
	SummarizeInstances(ctx context.Context, projectID string) (*ethos.InstanceSummary, error)
}

// ConsentReader reads consents (ethos.ConsentService).
type ConsentReader interface {
	FindConsentByID(ctx context.Context, id string) (*ethos.Consent, error)
}

// ConsentBatchReader reads many consents at once (sqlstore.CheckEvidence);
// an id with no consent is absent from the map.
type ConsentBatchReader interface {
	ConsentsByID(ctx context.Context, ids []string) (map[string]*ethos.Consent, error)
}

// KeyReader reads subjects' wrapped data keys (ethos.KeyStore).
type KeyReader interface {
	DataKey(ctx context.Context, subject ethos.SubjectKey) (*ethos.DataKey, error)
}

// AuditVerification is the outcome of verifying the audit log end to end.
type AuditVerification struct {
	// OK: every event matches the signed tree.
	OK bool
	// Size is the number of events verified; CheckpointSize the size of
	// the latest signed checkpoint; Unsigned the events after it.
	Size, CheckpointSize, Unsigned int64
	Root                           string // root hash over Size events
	// Mode says how much was verified: "full" (every event re-read and
	// re-hashed), "incremental" (only the events from VerifiedFrom on,
	// plus a consistency proof from the tree verified before), or empty
	// when the verifier does not say.
	Mode         string
	VerifiedFrom int64
	// Problem says where the log does not verify (when !OK), naming an
	// event index, never an event's content.
	Problem string
}

// AuditVerifier verifies the audit log. A log that does not verify is an
// AuditVerification with OK false, not an error; errors are read failures.
type AuditVerifier interface {
	VerifyAuditLog(ctx context.Context) (*AuditVerification, error)
}

// AuditEventReader returns the audit event at an index (ENOTFOUND past the
// end of the log).
type AuditEventReader interface {
	AuditEvent(ctx context.Context, index int64) (*ethos.AuditEvent, error)
}

// ProcessingReader reads processing records (ethos.ProcessingService).
type ProcessingReader interface {
	FindProcessingRuns(ctx context.Context, f ethos.ProcessingRunFilter) ([]*ethos.ProcessingRun, int, error)
	ProcessingRun(ctx context.Context, id string) (*ethos.ProcessingRun, error)
}

// DatasetReader reads dataset versions (ethos.DatasetService).
type DatasetReader interface {
	FindDatasetVersions(ctx context.Context, f ethos.DatasetVersionFilter) ([]*ethos.DatasetVersion, int, error)
}

// TrainingReader reads the training register (ethos.TrainingStore).
type TrainingReader interface {
	FindTrainingRuns(ctx context.Context, f ethos.TrainingRunFilter) ([]*ethos.TrainingRun, int, error)
}

// ObligationReader reads withdrawal obligations (ethos.ObligationService).
type ObligationReader interface {
	FindObligations(ctx context.Context, f ethos.ObligationFilter) ([]*ethos.Obligation, int, error)
}

// EvaluationReader reads plans, attempts and the stage's status of an
// attempt (ethos.EvaluationService).
type EvaluationReader interface {
	FindEvaluationPlans(ctx context.Context, f ethos.EvaluationPlanFilter) ([]*ethos.EvaluationPlan, int, error)
	FindEvaluationRuns(ctx context.Context, f ethos.EvaluationRunFilter) ([]*ethos.EvaluationRun, int, error)
	Status(ctx context.Context, runID string) (*ethos.EvaluationStatus, error)
}

// DeploymentReader reads the deployment registry, its risk file and its
// compliance checklist (ethos.DeploymentService).
type DeploymentReader interface {
	FindDeployments(ctx context.Context, f ethos.DeploymentFilter) ([]*ethos.Deployment, int, error)
	FindChanges(ctx context.Context, deploymentID string) ([]*ethos.DeploymentChange, error)
	RiskRegister(ctx context.Context, deploymentID string) (*ethos.RiskRegister, error)
	Compliance(ctx context.Context, deploymentID string, now time.Time) ([]ethos.ComplianceResult, error)
}

// MonitorReader evaluates QC-DEP-1 for a deployment (ethos.MonitorService).
// It returns ENOTFOUND when the deployment has no monitoring plan.
type MonitorReader interface {
	Status(ctx context.Context, deploymentID string) (*ethos.MonitorStatus, error)
}

// RepresentationKind is the kind of the collection-stage record that holds
// a representation report (the JSON of "ethos collection representation",
// QC-COL-1).
const RepresentationKind = "representation-report"

// Service answers the quality checks of a project. Projects is required;
// a nil reader leaves the part of a check it would answer to a named
// person's attestation (needs-attestation), and says so.
type Service struct {
	Projects ProjectReader

	Records   RecordReader       // QC-COL-1: representation reports
	Instances InstanceReader     // QC-COL-1 (staleness), QC-COL-2
	Summaries InstanceSummarizer // QC-COL-2: counted in the store (optional)
	Consents  ConsentReader      // QC-COL-2
	// ConsentBatch, when set, reads the consents behind stored instances
	// in batches instead of one by one through Consents.
	ConsentBatch ConsentBatchReader
	Keys         KeyReader        // QC-COL-2: encryption under subjects' data keys
	Audit        AuditVerifier    // QC-COL-2: the audit log verifies
	Events       AuditEventReader // QC-EVA-2: the pre-registration event

	Processing ProcessingReader // QC-PRO-1, QC-PRO-2
	Datasets   DatasetReader    // QC-PRO-2: which runs feed dataset versions

	Training    TrainingReader   // QC-TRA-1, QC-TRA-2
	Obligations ObligationReader // QC-TRA-2: consent withdrawn since training

	Evaluations EvaluationReader // QC-EVA-1, QC-EVA-2
	// CheckPlan is the evaluation stage's own check of a plan's criteria
	// (clinically meaningful metrics, subgroup criteria); QC-EVA-2 calls
	// it on every stored plan. Nil: that part needs attestation.
	CheckPlan func(*ethos.EvaluationPlan) error

	Deployments DeploymentReader // QC-DEP-1, QC-DEP-2, QC-DEP-3
	Monitor     MonitorReader    // QC-DEP-1

	Now func() time.Time

	mu   sync.Mutex
	runs map[string]*runRecord // QC-PRO-1 verdicts by processing run id
}

var _ ethos.QualityChecker = (*Service)(nil)

func (s *Service) now() time.Time {
	if s.Now == nil {
		return time.Now().UTC()
	}
	return s.Now().UTC()
}

// Check describes one of the framework's quality checks.
type Check struct {
	ID       string
	Stage    ethos.Stage
	Aspect   string
	Question string // paraphrased
}

// Checks lists the framework's eleven quality checks in order.
var Checks = []Check{
	{"QC-COL-1", ethos.StageCollection, "fairness", "Is every relevant demographic group represented in the collected data?"},
	{"QC-COL-2", ethos.StageCollection, "privacy-security", "Is patient confidentiality protected while data is collected?"},
	{"QC-PRO-1", ethos.StageProcessing, "transparency", "Are the processing steps recorded so others can see what was done?"},
	{"QC-PRO-2", ethos.StageProcessing, "fairness", "Is bias introduced by processing detected?"},
	{"QC-TRA-1", ethos.StageTraining, "accountability", "Are training decisions tracked and reviewed?"},
	{"QC-TRA-2", ethos.StageTraining, "consent", "Are the training data sources disclosed and is consent in place?"},
	{"QC-EVA-1", ethos.StageEvaluation, "transparency", "Is performance reported in a form non-technical stakeholders can follow?"},
	{"QC-EVA-2", ethos.StageEvaluation, "clinical-relevance", "Do the evaluation metrics reflect clinical outcomes and patient safety?"},
	{"QC-DEP-1", ethos.StageDeployment, "monitoring", "Is the system continuously monitored in clinical use?"},
	{"QC-DEP-2", ethos.StageDeployment, "regulatory", "Does the deployment follow the applicable regulations?"},
	{"QC-DEP-3", ethos.StageDeployment, "risk", "Were risks assessed before deployment and communicated to every stakeholder?"},
}

func checkByID(id string) Check {
	for _, c := range Checks {
		if c.ID == id {
			return c
		}
	}
	panic("checks: unknown check " + id) // programming error: ids are constants
}

// ProjectChecks answers every check of the project. An error means a
// store could not be read (or the project does not exist); what the
// records show, good or bad, is in the checks.
func (s *Service) ProjectChecks(ctx context.Context, projectID string) (*ethos.ProjectChecks, error) {
	if s.Projects == nil {
		return nil, ethos.Errorf(ethos.ENOTIMPLEMENTED, "quality checks: no project store configured")
	}
	prj, err := s.Projects.FindProjectByID(ctx, projectID)
	if err != nil {
		return nil, err
	}
	now := s.now()
	r := &run{s: s, prj: prj, now: now}
	out := &ethos.ProjectChecks{ProjectID: prj.ID, Stage: prj.Stage, CheckedAt: now}
	steps := []func(context.Context) ([]*ethos.QualityCheck, error){
		one(r.representation), one(r.confidentiality),
		one(r.processingRecorded), one(r.processingBias),
		one(r.trainingReviewed), one(r.trainingConsent),
		one(r.plainReport), one(r.clinicalMetrics),
		r.deploymentChecks,
	}
	for _, step := range steps {
		qs, err := step(ctx)
		if err != nil {
			return nil, err
		}
		out.Checks = append(out.Checks, qs...)
	}
	return out, nil
}

func one(f func(context.Context) (*ethos.QualityCheck, error)) func(context.Context) ([]*ethos.QualityCheck, error) {
	return func(ctx context.Context) ([]*ethos.QualityCheck, error) {
		q, err := f(ctx)
		if err != nil {
			return nil, err
		}
		return []*ethos.QualityCheck{q}, nil
	}
}

// run is one evaluation of a project's checks; it caches what several
// checks read.
type run struct {
	s   *Service
	prj *ethos.Project
	now time.Time

	// The listings several checks read, each read once per run.
	deployments listed[*ethos.Deployment]
	procRuns    listed[*ethos.ProcessingRun]
	trainRuns   listed[*ethos.TrainingRun]
	plans       listed[*ethos.EvaluationPlan]
	versions    listed[*ethos.DatasetVersion]
}

// listed is a listing read once per run and shared by the checks that
// read it (which do not change it).
type listed[T any] struct {
	items []T
	read  bool
}

// get returns the listing, calling load the first time (and again after
// an error).
func (l *listed[T]) get(load func() ([]T, error)) ([]T, error) {
	if l.read {
		return l.items, nil
	}
	items, err := load()
	if err != nil {
		return items, err
	}
	l.items, l.read = items, true
	return items, nil
}

// maxListed bounds the problems and evidence one check lists; the rest
// are counted in a last line.
const maxListed = 25

// verdict accumulates a check's answer: the worst status seen wins
// (fail, then pending, then needs-attestation, then pass).
type verdict struct {
	q           *ethos.QualityCheck
	status      ethos.CheckStatus
	moreProbs   int
	moreEvid    int
	summaryPass string
}

func (r *run) newVerdict(id, scope string) *verdict {
	c := checkByID(id)
	return &verdict{q: &ethos.QualityCheck{ID: c.ID, Stage: c.Stage, Aspect: c.Aspect, Scope: scope, Evidence: []ethos.EvidenceRef{}, CheckedAt: r.now},
		status: ethos.CheckPass}
}

func rank(s ethos.CheckStatus) int {
	switch s {
	case ethos.CheckFail:
		return 3
	case ethos.CheckPending:
		return 2
	case ethos.CheckAttestation:
		return 1
	}
	return 0
}

func (v *verdict) raise(s ethos.CheckStatus, format string, args ...any) {
	if rank(s) > rank(v.status) {
		v.status = s
	}
	if len(v.q.Problems) >= maxListed {
		v.moreProbs++
		return
	}
	v.q.Problems = append(v.q.Problems, fmt.Sprintf(format, args...))
}

func (v *verdict) fail(format string, args ...any) { v.raise(ethos.CheckFail, format, args...) }
func (v *verdict) pend(format string, args ...any) { v.raise(ethos.CheckPending, format, args...) }
func (v *verdict) attest(format string, args ...any) {
	v.raise(ethos.CheckAttestation, format, args...)
}

func (v *verdict) evidence(e ethos.EvidenceRef) {
	if len(v.q.Evidence) >= maxListed {
		v.moreEvid++
		return
	}
	v.q.Evidence = append(v.q.Evidence, e)
}

// done sets the status and a summary: summaries[status] when given, else
// a generic sentence.
func (v *verdict) done(summaries map[ethos.CheckStatus]string) *ethos.QualityCheck {
	if v.moreProbs > 0 {
		v.q.Problems = append(v.q.Problems, fmt.Sprintf("… and %d more", v.moreProbs))
	}
	if v.moreEvid > 0 {
		v.q.Evidence = append(v.q.Evidence, ethos.EvidenceRef{Kind: "more", ID: fmt.Sprint(v.moreEvid), Note: fmt.Sprintf("%d more records not listed", v.moreEvid)})
	}
	v.q.Status = v.status
	if s, ok := summaries[v.status]; ok && s != "" {
		v.q.Summary = s
	} else {
		switch v.status {
		case ethos.CheckPass:
			v.q.Summary = "The recorded evidence answers the check."
		case ethos.CheckFail:
			v.q.Summary = "The recorded evidence shows the check is not met."
		case ethos.CheckPending:
			v.q.Summary = "The evidence has not been recorded yet."
		case ethos.CheckAttestation:
			v.q.Summary = "Part of the answer is outside what Ethos records and needs a named person's attestation."
		}
		// A pending or attestation answer says what it waits for.
		if v.status != ethos.CheckPass && v.status != ethos.CheckFail && len(v.q.Problems) > 0 {
			v.q.Summary = capitalize(v.q.Problems[0])
			if n := len(v.q.Problems); n > 1 {
				v.q.Summary += fmt.Sprintf(" (and %d more)", n-1)
			}
			v.q.Summary += "."
		}
	}
	return v.q
}

func idx(i int64) *int64 { return &i }

// pages reads every page of a listing, pageSize items at a time, and
// calls fn on each item; it stops at the first error.
func pages[T any](ctx context.Context, list func(offset, limit int) ([]T, int, error), fn func(T) error) error {
	const pageSize = 500
	for off := 0; ; {
		if err := ctx.Err(); err != nil {
			return err
		}
		items, total, err := list(off, pageSize)
		if err != nil {
			return err
		}
		for _, it := range items {
			if err := fn(it); err != nil {
				return err
			}
		}
		off += len(items)
		if len(items) == 0 || off >= total {
			return nil
		}
	}
}

// collect reads every page of a listing into a slice.
func collect[T any](ctx context.Context, list func(offset, limit int) ([]T, int, error)) ([]T, error) {
	var out []T
	err := pages(ctx, list, func(t T) error { out = append(out, t); return nil })
	return out, err
}

// oldestFirst sorts records by when they happened, then by id (records
// made in the same instant keep a stable order).
func oldestFirst[T any](s []T, key func(T) (time.Time, string)) {
	slices.SortFunc(s, func(a, b T) int {
		ta, ia := key(a)
		tb, ib := key(b)
		if c := ta.Compare(tb); c != 0 {
			return c
		}
		return strings.Compare(ia, ib)
	})
}

func plural(n int, one string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %ss", n, one)
}

// verb counts n with the singular or plural phrase: "1 group is", "2
// groups are".
func verb(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// stamp writes an instant as the evidence notes do: UTC, to the second.
func stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

// capitalize returns p with its first letter in upper case (a whole rune:
// a problem may begin with text another stage wrote).
func capitalize(p string) string {
	r, n := utf8.DecodeRuneInString(p)
	if r == utf8.RuneError {
		return p
	}
	return string(unicode.ToUpper(r)) + p[n:]
}
