package evaluation

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/evalstat"
)

// Service implements ethos.EvaluationService over a store and the audit
// log. Set the fields, then use it; it holds no state of its own.
type Service struct {
	Store ethos.EvaluationStore
	Audit ethos.IndexedAuditor
	// Lineage, when set, records each attempt in the provenance graph:
	// the evaluation used the model version and the test data set version,
	// and was associated with the uploader.
	Lineage ethos.LineageRecorder
	// Models, when set, fills the model card's details from the training
	// register: the model's name, artefact digest, training run and
	// training data set version.
	Models interface {
		FindModelVersionByID(ctx context.Context, id string) (*ethos.ModelVersion, error)
	}
	// Projects, when set, fills the model card's intended use, modality
	// and clinical setting from the plan's project.
	Projects ethos.ProjectService
	// CheckModelVersion, when set, is asked whether a model version
	// exists (and may be evaluated in the project) before a plan for it is
	// registered: the training stage's register answers it. nil accepts
	// any well-formed id.
	CheckModelVersion func(ctx context.Context, projectID, modelVersionID string) error
	Now               func() time.Time
	// MaxUploadBytes bounds an upload as sent and MaxCSVBytes the CSV
	// after gzip decompression (defaults 1 GiB and 4 GiB).
	MaxUploadBytes int64
	MaxCSVBytes    int64
	// Workers bounds the bootstrap's goroutines (0: all cores).
	Workers int

	// mu serialises the audit-then-store steps of uploads and sign-offs,
	// so that within one server two concurrent uploads cannot both claim
	// the same attempt number after their audit events are written.
	mu sync.Mutex
}

// New returns a service over store and auditor.
func New(store ethos.EvaluationStore, auditor ethos.IndexedAuditor) *Service {
	return &Service{Store: store, Audit: auditor, Now: time.Now}
}

var _ ethos.EvaluationService = (*Service)(nil)

// Defaults of a plan that leaves them zero.
const (
	DefaultMinGroupSize  = 30
	DefaultMinClassCount = 5
)

// ClinicalMetrics are the metrics QC-EVA-2 calls clinically meaningful:
// sensitivity and specificity at the operating point, predictive values at
// the expected prevalence, likelihood ratios and net benefit. A plan needs
// at least one criterion on one of them.
var ClinicalMetrics = []string{"sensitivity", "specificity", "fpr", "fnr", "ppv", "npv",
	"ppv_at_prevalence", "npv_at_prevalence", "lr_positive", "lr_negative", "net_benefit",
	"equal_opportunity_difference", "equalized_odds_difference", "equalized_odds_difference_mean"}

// NonTechnicalRoles may acknowledge the plain-language report (QC-EVA-1).
var NonTechnicalRoles = []ethos.Role{ethos.RolePatientAdvocate, ethos.RoleClinician}

func (s *Service) now() time.Time {
	if s.Now == nil {
		return time.Now().UTC()
	}
	return s.Now().UTC()
}

// PlanCriteria parses and checks a plan's criteria against the plan: known
// metrics, attributes the plan declares, unique ids (C1, C2, … assigned to
// those without), at least one clinically meaningful criterion and at least
// one per subgroup (QC-EVA-2).
func PlanCriteria(p *ethos.EvaluationPlan) ([]evalstat.Criterion, error) {
	cs, err := evalstat.ReadCriteria(bytes.NewReader(p.Criteria))
	if err != nil {
		return nil, ethos.Errorf(ethos.EINVALID, "%v", err)
	}
	if len(cs) == 0 {
		return nil, ethos.Errorf(ethos.EINVALID, "criteria: at least one acceptance criterion is required (QC-EVA-2)")
	}
	groupings := slices.Clone(p.Attributes)
	if p.Intersect && len(p.Attributes) >= 2 {
		groupings = append(groupings, strings.Join(p.Attributes, "|"))
	}
	ids := map[string]bool{}
	clinical, subgroup := false, false
	for i := range cs {
		c := &cs[i]
		if c.ID == "" {
			c.ID = fmt.Sprintf("C%d", i+1)
		}
		if !ethos.ValidID(c.ID) {
			return nil, ethos.Errorf(ethos.EINVALID, "criteria[%d]: id: letters, digits, '_', '-', '.' only", i)
		}
		if ids[c.ID] {
			return nil, ethos.Errorf(ethos.EINVALID, "criteria[%d]: id %q used twice", i, c.ID)
		}
		ids[c.ID] = true
		if c.Attribute != "" && !slices.Contains(groupings, c.Attribute) {
			return nil, ethos.Errorf(ethos.EINVALID, "criteria[%d] (%s): attribute: not one of the plan's groupings (%s)", i, c.ID, strings.Join(groupings, ", "))
		}
		if c.Group != "" {
			ok := false
			for _, g := range groupings {
				if strings.HasPrefix(c.Group, strings.SplitN(g, "|", 2)[0]+"=") {
					ok = true
				}
			}
			if !ok {
				return nil, ethos.Errorf(ethos.EINVALID, "criteria[%d] (%s): group: not a group of the plan's attributes (want e.g. %s=value)", i, c.ID, p.Attributes[0])
			}
		}
		if strings.HasSuffix(c.Metric, "_at_prevalence") && p.Prevalence == 0 {
			return nil, ethos.Errorf(ethos.EINVALID, "criteria[%d] (%s): %s needs the plan's target prevalence", i, c.ID, c.Metric)
		}
		if slices.Contains(ClinicalMetrics, c.Metric) {
			clinical = true
		}
		if c.Scope == "group" || c.Scope == "gap" {
			subgroup = true
		}
	}
	if !clinical {
		return nil, ethos.Errorf(ethos.EINVALID, "criteria: none is on a clinically meaningful metric (QC-EVA-2: one of %s)", strings.Join(ClinicalMetrics[:11], ", "))
	}
	if !subgroup {
		return nil, ethos.Errorf(ethos.EINVALID, "criteria: none judges subgroups (QC-EVA-2: add a criterion of scope group or gap)")
	}
	return cs, nil
}

// planDigest is the sha256 of the plan's content, registration fields
// left out.
func planDigest(p *ethos.EvaluationPlan) (string, error) {
	c := *p
	c.ID, c.Digest, c.RegisteredBy, c.RegisteredAt, c.AuditIndex = "", "", "", time.Time{}, 0
	b, err := json.Marshal(&c)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:]), nil
}

// RegisterPlan checks p, appends its pre-registration to the audit log and
// stores it. The audit event's index and time are the evidence that the
// criteria were fixed before any result existed (QC-EVA-2).
func (s *Service) RegisterPlan(ctx context.Context, who ethos.EvaluationActor, p *ethos.EvaluationPlan) error {
	if p.MinGroupSize == 0 {
		p.MinGroupSize = DefaultMinGroupSize
	}
	if p.MinClassCount == 0 {
		p.MinClassCount = DefaultMinClassCount
	}
	if err := p.Validate(); err != nil {
		return err
	}
	cs, err := PlanCriteria(p)
	if err != nil {
		return err
	}
	if p.Criteria, err = json.Marshal(cs); err != nil {
		return err
	}
	if s.Projects != nil {
		if _, err := s.Projects.FindProjectByID(ctx, p.ProjectID); err != nil {
			return err
		}
	}
	if s.CheckModelVersion != nil {
		if err := s.CheckModelVersion(ctx, p.ProjectID, p.ModelVersionID); err != nil {
			return err
		}
	}
	p.ID = ethos.NewID("evp")
	p.RegisteredBy, p.RegisteredAt = who.UserID, s.now()
	if p.Digest, err = planDigest(p); err != nil {
		return err
	}
	idx, err := s.Audit.RecordIndexed(ctx, ethos.AuditEvent{Time: p.RegisteredAt, Actor: who.UserID, Party: who.PartyID,
		Action: "evaluation.plan.register", Resource: "evaluation-plan/" + p.ID, Stage: ethos.StageEvaluation, Purpose: ethos.PurposeAIEvaluation,
		Reason: fmt.Sprintf("pre-registered plan %s for model version %s on dataset version %s in project/%s: %d criteria, threshold %g",
			p.Digest, p.ModelVersionID, p.DatasetVersionID, p.ProjectID, len(cs), p.Threshold),
		RequestID: who.RequestID})
	if err != nil {
		return fmt.Errorf("audit plan registration: %w", err)
	}
	p.AuditIndex = idx
	return s.Store.CreateEvaluationPlan(ctx, p)
}

func (s *Service) FindEvaluationPlanByID(ctx context.Context, id string) (*ethos.EvaluationPlan, error) {
	return s.Store.FindEvaluationPlanByID(ctx, id)
}

func (s *Service) FindEvaluationPlans(ctx context.Context, f ethos.EvaluationPlanFilter) ([]*ethos.EvaluationPlan, int, error) {
	return s.Store.FindEvaluationPlans(ctx, f)
}

func (s *Service) FindEvaluationRunByID(ctx context.Context, id string) (*ethos.EvaluationRun, error) {
	return s.Store.FindEvaluationRunByID(ctx, id)
}

func (s *Service) FindEvaluationRuns(ctx context.Context, f ethos.EvaluationRunFilter) ([]*ethos.EvaluationRun, int, error) {
	return s.Store.FindEvaluationRuns(ctx, f)
}

// errTooLarge is returned by limitReader past its limit.
type errTooLarge struct {
	what  string
	limit int64
}

func (e *errTooLarge) Error() string { return fmt.Sprintf("%s larger than %d bytes", e.what, e.limit) }

// limitReader fails, rather than truncating, past n bytes.
type limitReader struct {
	r    io.Reader
	n    int64
	read int64
	what string
}

func (l *limitReader) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	l.read += int64(n)
	if l.read > l.n {
		return n, &errTooLarge{l.what, l.n}
	}
	return n, err
}

// Config returns the evalstat configuration a plan fixes.
func Config(p *ethos.EvaluationPlan, workers int) evalstat.Config {
	cfg := evalstat.DefaultConfig()
	cfg.Threshold, cfg.Prevalence, cfg.Intersect = p.Threshold, p.Prevalence, p.Intersect
	cfg.MinGroupSize, cfg.MinClassCount = p.MinGroupSize, p.MinClassCount
	cfg.Bootstrap, cfg.Seed, cfg.Workers = p.Bootstrap, p.Seed, workers
	return cfg
}

// UploadPredictions reads a predictions CSV (plain or gzip) with the
// plan's columns, evaluates it with the plan's settings, judges the plan's
// criteria and records a new attempt: audited first, then stored. Nothing
// is stored when the input is bad.
func (s *Service) UploadPredictions(ctx context.Context, who ethos.EvaluationActor, planID string, in io.Reader) (*ethos.EvaluationRun, error) {
	plan, err := s.Store.FindEvaluationPlanByID(ctx, planID)
	if err != nil {
		if ethos.ErrorCode(err) == ethos.ENOTFOUND {
			return nil, ethos.Errorf(ethos.ENOTFOUND, "evaluation plan %s not found: predictions are accepted only for a registered plan (QC-EVA-2)", planID)
		}
		return nil, err
	}
	cs, err := PlanCriteria(plan)
	if err != nil {
		return nil, fmt.Errorf("stored plan %s: %w", plan.ID, err)
	}
	maxUp, maxCSV := s.MaxUploadBytes, s.MaxCSVBytes
	if maxUp <= 0 {
		maxUp = 1 << 30
	}
	if maxCSV <= 0 {
		maxCSV = 4 << 30
	}
	h := sha256.New()
	counted := &limitReader{r: io.TeeReader(in, h), n: maxUp, what: "upload"}
	br := bufio.NewReaderSize(counted, 64<<10)
	var src io.Reader = br
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, ethos.Errorf(ethos.EINVALID, "predictions: gzip: %v", err)
		}
		defer zr.Close()
		src = zr
	}
	src = &limitReader{r: src, n: maxCSV, what: "predictions CSV"}
	t, err := evalstat.ReadCSV(src, evalstat.CSVSpec{Label: plan.LabelColumn, Score: plan.ScoreColumn, Groups: plan.Attributes, Cluster: plan.PatientColumn})
	if err != nil {
		return nil, uploadError(err)
	}
	// Drain what the CSV reader left (a trailing newline, gzip trailer)
	// so the digest covers every byte sent.
	if _, err := io.Copy(io.Discard, br); err != nil {
		return nil, uploadError(err)
	}
	rep, err := evalstat.Evaluate(t, Config(plan, s.Workers))
	if err != nil {
		return nil, ethos.Errorf(ethos.EINVALID, "predictions: %v", err)
	}
	rep.Judge(cs)
	run := &ethos.EvaluationRun{ID: ethos.NewID("evr"), PlanID: plan.ID, ProjectID: plan.ProjectID, ModelVersionID: plan.ModelVersionID,
		InputDigest: digest(h), InputBytes: counted.read, Rows: rep.Overall.N, UploadedBy: who.UserID, UploadedAt: s.now()}
	run.Outcome, run.Passed, run.Failed, run.Undetermined = outcome(rep.Criteria)
	if run.Result, err = json.Marshal(rep); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Lineage != nil {
		ev := ethos.LineageNode{Kind: ethos.LineageEvaluation, ID: run.ID}
		if err := s.Lineage.RecordLineage(ctx,
			ethos.LineageEdge{From: ev, Relation: ethos.RelUsed, To: ethos.LineageNode{Kind: ethos.LineageModelVersion, ID: plan.ModelVersionID}, At: run.UploadedAt},
			ethos.LineageEdge{From: ev, Relation: ethos.RelUsed, To: ethos.LineageNode{Kind: ethos.LineageDatasetVersion, ID: plan.DatasetVersionID}, At: run.UploadedAt},
			ethos.LineageEdge{From: ev, Relation: ethos.RelWasAssociatedWith, To: ethos.LineageNode{Kind: ethos.LineageAgent, ID: who.UserID}, At: run.UploadedAt},
		); err != nil {
			return nil, fmt.Errorf("record lineage: %w", err)
		}
	}
	idx, err := s.Audit.RecordIndexed(ctx, ethos.AuditEvent{Time: run.UploadedAt, Actor: who.UserID, Party: who.PartyID,
		Action: "evaluation.predictions.upload", Resource: "evaluation-run/" + run.ID, Stage: ethos.StageEvaluation, Purpose: ethos.PurposeAIEvaluation,
		Reason: fmt.Sprintf("predictions %s (%d rows) for evaluation-plan/%s (pre-registered at audit index %d): %d criteria pass, %d fail, %d undetermined: %s",
			run.InputDigest, run.Rows, plan.ID, plan.AuditIndex, run.Passed, run.Failed, run.Undetermined, run.Outcome),
		RequestID: who.RequestID})
	if err != nil {
		return nil, fmt.Errorf("audit upload: %w", err)
	}
	run.AuditIndex = idx
	if err := s.Store.CreateEvaluationRun(ctx, run); err != nil {
		return nil, err
	}
	return run, nil
}

func digest(h hash.Hash) string { return "sha256:" + hex.EncodeToString(h.Sum(nil)) }

// uploadError turns a reading error into a user-facing one naming the row
// and column (never a cell's value beyond what evalstat reports).
func uploadError(err error) error {
	if tl, ok := errors.AsType[*errTooLarge](err); ok {
		return ethos.Errorf(ethos.EINVALID, "predictions: %v", tl)
	}
	if ce, ok := errors.AsType[*evalstat.CSVError](err); ok {
		return ethos.Errorf(ethos.EINVALID, "predictions: %v", ce)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return ethos.Errorf(ethos.EINVALID, "predictions: %v", err)
}

// outcome summarises judgements: fail if any failed, else undetermined if
// any is, else pass.
func outcome(js []evalstat.Judgement) (out string, pass, fail, und int) {
	for _, j := range js {
		switch j.Outcome {
		case evalstat.Pass:
			pass++
		case evalstat.Fail:
			fail++
		default:
			und++
		}
	}
	switch {
	case fail > 0:
		out = ethos.EvaluationFail
	case und > 0:
		out = ethos.EvaluationUndetermined
	default:
		out = ethos.EvaluationPass
	}
	return out, pass, fail, und
}

// runAndPlan reads attempt runID and the plan it was evaluated under.
func (s *Service) runAndPlan(ctx context.Context, runID string) (*ethos.EvaluationRun, *ethos.EvaluationPlan, error) {
	run, err := s.Store.FindEvaluationRunByID(ctx, runID)
	if err != nil {
		return nil, nil, err
	}
	plan, err := s.Store.FindEvaluationPlanByID(ctx, run.PlanID)
	if err != nil {
		return nil, nil, err
	}
	return run, plan, nil
}

// reportData loads what an attempt's reports are made from.
func (s *Service) reportData(ctx context.Context, runID string) (*ReportData, error) {
	run, plan, err := s.runAndPlan(ctx, runID)
	if err != nil {
		return nil, err
	}
	var rep evalstat.Report
	if err := json.Unmarshal(run.Result, &rep); err != nil {
		return nil, fmt.Errorf("attempt %s: result: %w", run.ID, err)
	}
	st, err := s.Status(ctx, run.ID)
	if err != nil {
		return nil, err
	}
	attempts, _, err := s.Store.FindEvaluationRuns(ctx, ethos.EvaluationRunFilter{PlanID: &plan.ID, Limit: 1000})
	if err != nil {
		return nil, err
	}
	d := &ReportData{Report: &rep, Plan: plan, Run: run, Attempts: attempts, Status: st, Generated: s.now()}
	if s.Models != nil {
		if mv, err := s.Models.FindModelVersionByID(ctx, plan.ModelVersionID); err == nil {
			d.Model = mv
		} else if ethos.ErrorCode(err) != ethos.ENOTFOUND {
			return nil, err
		}
	}
	if s.Projects != nil {
		if prj, err := s.Projects.FindProjectByID(ctx, plan.ProjectID); err == nil {
			d.Project = prj
		} else if ethos.ErrorCode(err) != ethos.ENOTFOUND {
			return nil, err
		}
	}
	return d, nil
}

// Report renders an attempt's report: html (full), plain (the
// plain-language page) or json (the stored evalstat report).
func (s *Service) Report(ctx context.Context, runID, format string) ([]byte, string, error) {
	switch format {
	case ethos.EvaluationReportHTML, ethos.EvaluationReportPlain, ethos.EvaluationReportJSON:
	default:
		return nil, "", ethos.Errorf(ethos.EINVALID, "format: want html, plain or json")
	}
	d, err := s.reportData(ctx, runID)
	if err != nil {
		return nil, "", err
	}
	var b bytes.Buffer
	switch format {
	case ethos.EvaluationReportHTML:
		err = WriteHTML(&b, d)
	case ethos.EvaluationReportPlain:
		err = WritePlainHTML(&b, d)
	default:
		return d.Run.Result, "application/json", nil
	}
	if err != nil {
		return nil, "", err
	}
	return b.Bytes(), "text/html; charset=utf-8", nil
}

// ModelCard renders an attempt's model card: json, md or html.
func (s *Service) ModelCard(ctx context.Context, runID, format string) ([]byte, string, error) {
	var write func(io.Writer, *ReportData) error
	var ct string
	switch format {
	case ethos.ModelCardJSON:
		write, ct = WriteModelCardJSON, "application/json"
	case ethos.ModelCardMarkdown:
		write, ct = WriteModelCardMarkdown, "text/markdown; charset=utf-8"
	case ethos.ModelCardHTML:
		write, ct = WriteModelCardHTML, "text/html; charset=utf-8"
	default:
		return nil, "", ethos.Errorf(ethos.EINVALID, "format: want json, md or html")
	}
	d, err := s.reportData(ctx, runID)
	if err != nil {
		return nil, "", err
	}
	var b bytes.Buffer
	if err := write(&b, d); err != nil {
		return nil, "", err
	}
	return b.Bytes(), ct, nil
}
