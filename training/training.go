// Package training is the training stage's workflow: the register of
// training runs (QC-TRA-1), the consent re-check made when a run is
// registered (QC-TRA-2), the lineage each run adds to the provenance
// graph, and the obligations a consent withdrawal opens on every dataset
// version and model version built from the subject's data.
//
// The stage sees the other stages only through interfaces: dataset
// membership through DatasetMembers (the processing stage implements it),
// consents and instances through the root services.
package training

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/consent"
)

// DatasetMembers tells which collection instances a dataset version holds
// and whose they are. The processing stage's dataset service implements
// it.
type DatasetMembers interface {
	// DatasetSubjects maps each collection instance id of the version to
	// its subject key; ENOTFOUND for an unknown version.
	DatasetSubjects(ctx context.Context, versionID string) (map[string]ethos.SubjectKey, error)
}

// Service runs the training stage. Set the fields, then use it; it holds
// no state of its own.
type Service struct {
	Runs        ethos.TrainingStore
	Obligations ethos.ObligationService
	Lineage     ethos.LineageService
	Members     DatasetMembers // nil: registration is not offered
	Instances   ethos.InstanceService
	Consents    ethos.ConsentService
	Auditor     ethos.Auditor
	Now         func() time.Time // default time.Now
}

var _ ethos.TrainingService = (*Service)(nil)

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

// maxPage is the page size used when reading whole result sets.
const maxPage = 1000

// RegisterTrainingRun registers r for actor: the run is refused while an
// obligation is open on its dataset version, and refused with counts when
// any instance of the dataset version is no longer covered by consent for
// ai-training (QC-TRA-2). Refusals and registrations are audited.
func (s *Service) RegisterTrainingRun(ctx context.Context, actor ethos.AccessRequest, r *ethos.TrainingRun, requestID string) (*ethos.TrainingRun, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	if s.Members == nil {
		return nil, ethos.Errorf(ethos.ENOTIMPLEMENTED, "training run registration needs the dataset service, which this server does not have")
	}
	now := s.now()
	resource := "project/" + r.ProjectID + "/dataset-version/" + r.DatasetVersion
	refuse := func(err error) (*ethos.TrainingRun, error) {
		if aerr := s.audit(ctx, actor, "training.register", resource, "deny", ethos.ErrorMessage(err), requestID); aerr != nil {
			return nil, aerr
		}
		return nil, err
	}
	if err := s.ExportGate(ctx, r.DatasetVersion); err != nil {
		return refuse(err)
	}
	members, err := s.Members.DatasetSubjects(ctx, r.DatasetVersion)
	if err != nil {
		return nil, err
	}
	if len(members) == 0 {
		return refuse(ethos.Errorf(ethos.EINVALID, "dataset version %s holds no instances", r.DatasetVersion))
	}
	cov, sources, err := s.Coverage(ctx, actor.PartyID, r.ProjectID, members, now)
	if err != nil {
		return nil, err
	}
	if !cov.Complete() {
		return refuse(&CoverageError{DatasetVersion: r.DatasetVersion, Coverage: cov})
	}
	run := *r
	run.ID = ethos.NewID("trn")
	run.ModelVersion = ethos.ModelVersionID(run.ID)
	run.Coverage, run.Sources = cov, sources
	run.Status, run.RegisteredBy, run.RegisteredAt, run.SignOff = ethos.RunRegistered, actor.UserID, now, nil
	// Lineage first: the register never claims a run the graph lacks.
	if err := s.Lineage.RecordLineage(ctx, runEdges(&run, members, now)...); err != nil {
		return nil, fmt.Errorf("record lineage of run %s: %w", run.ID, err)
	}
	if err := s.Runs.CreateTrainingRun(ctx, &run); err != nil {
		return nil, err
	}
	reason := fmt.Sprintf("run %s of dataset version %s (split %s): %d instances of %d subjects covered for %s; model version %s sha256 %s",
		run.ID, run.DatasetVersion, run.Split, cov.Instances, cov.Subjects, cov.Purpose, run.ModelVersion, run.ModelSHA256)
	if err := s.audit(ctx, actor, "training.register", "project/"+run.ProjectID+"/training-run/"+run.ID, "allow", reason, requestID); err != nil {
		return nil, err
	}
	return &run, nil
}

// runEdges are the lineage a registration adds: the members' derivation
// from their subjects and the dataset version's from its members (so the
// subject queries answer even before processing records its own steps),
// the run's use of the dataset version, the model it generated, and the
// registrant.
func runEdges(r *ethos.TrainingRun, members map[string]ethos.SubjectKey, at time.Time) []ethos.LineageEdge {
	ds := ethos.LineageNode{Kind: ethos.LineageDatasetVersion, ID: r.DatasetVersion}
	run := ethos.LineageNode{Kind: ethos.LineageTrainingRun, ID: r.ID}
	model := ethos.LineageNode{Kind: ethos.LineageModelVersion, ID: r.ModelVersion}
	agent := ethos.LineageNode{Kind: ethos.LineageAgent, ID: r.RegisteredBy}
	edges := []ethos.LineageEdge{
		{From: run, Relation: ethos.RelUsed, To: ds, At: at},
		{From: model, Relation: ethos.RelWasGeneratedBy, To: run, At: at},
		{From: model, Relation: ethos.RelWasDerivedFrom, To: ds, At: at},
		{From: run, Relation: ethos.RelWasAssociatedWith, To: agent, At: at},
	}
	for _, id := range slices.Sorted(maps.Keys(members)) {
		in := ethos.LineageNode{Kind: ethos.LineageInstance, ID: id}
		edges = append(edges,
			ethos.LineageEdge{From: in, Relation: ethos.RelWasDerivedFrom, To: ethos.LineageNode{Kind: ethos.LineageSubject, ID: string(members[id])}, At: at},
			ethos.LineageEdge{From: ds, Relation: ethos.RelWasDerivedFrom, To: in, At: at})
	}
	return edges
}

// CoverageError is a registration refused because consent no longer
// covers every instance (QC-TRA-2). It carries counts only.
type CoverageError struct {
	DatasetVersion string
	Coverage       *ethos.ConsentCoverage
}

func (e *CoverageError) Error() string { return e.Unwrap().Error() }

// Unwrap returns the ECONSENT error a user sees.
func (e *CoverageError) Unwrap() error {
	c := e.Coverage
	reasons := make([]string, 0, len(c.Uncovered))
	for _, k := range slices.Sorted(maps.Keys(c.Uncovered)) {
		reasons = append(reasons, fmt.Sprintf("%s %d", k, c.Uncovered[k]))
	}
	return ethos.Errorf(ethos.ECONSENT, "dataset version %s: %d of %d instances not covered for %s now (%s): %d subjects withdrew, %d subjects out of scope or without consent; registration refused (QC-TRA-2)",
		e.DatasetVersion, c.Instances-c.Covered, c.Instances, c.Purpose, strings.Join(reasons, ", "), c.Withdrawn, c.OutOfScope)
}

// Reasons an instance is not covered besides the consent engine's.
const (
	reasonUnknownInstance = "UNKNOWN_INSTANCE" // the collection holds no such instance
	reasonOtherProject    = "OTHER_PROJECT"    // collected for another project
	reasonNotStored       = "NOT_STORED"       // quarantined at collection
)

// Coverage re-checks consent for ai-training over members, as the party
// that trains, now: each instance must still be stored for project and
// its subject's consents must permit ai-training on the acquisition date
// and now (consent.DecideAcquiredAndNow; the current time alone when the
// acquisition date is unknown). It also returns the collection sources of
// the members (disclosure: files grouped by directory, other channels by
// name), most instances first.
func (s *Service) Coverage(ctx context.Context, party, project string, members map[string]ethos.SubjectKey, now time.Time) (*ethos.ConsentCoverage, []ethos.DataSource, error) {
	bySubject := map[ethos.SubjectKey][]string{}
	for id, k := range members {
		bySubject[k] = append(bySubject[k], id)
	}
	cov := &ethos.ConsentCoverage{Purpose: ethos.PurposeAITraining, CheckedAt: now, Instances: len(members), Subjects: len(bySubject), Uncovered: map[string]int{}}
	sources := map[string]int{}
	for _, k := range slices.Sorted(maps.Keys(bySubject)) {
		if !k.Valid() {
			return nil, nil, ethos.Errorf(ethos.EINVALID, "dataset member of an invalid subject key")
		}
		held, err := s.subjectInstances(ctx, k)
		if err != nil {
			return nil, nil, err
		}
		cs, _, err := s.Consents.FindConsents(ctx, ethos.ConsentFilter{SubjectID: &k, Limit: maxPage})
		if err != nil {
			return nil, nil, err
		}
		withdrawn, uncovered := false, false
		for _, id := range bySubject[k] {
			in, ok := held[id]
			if ok {
				sources[sourceGroup(in.Source)]++
			}
			why := ""
			switch {
			case !ok:
				why = reasonUnknownInstance
			case in.ProjectID != project:
				why = reasonOtherProject
			case in.Status == ethos.InstanceWithdrawn || in.Status == ethos.InstanceErased:
				why = string(ethos.ReasonWithdrawn)
			case in.Status != ethos.InstanceStored:
				why = reasonNotStored
			default:
				q := consent.Query{Subject: k, Purpose: ethos.PurposeAITraining, Party: party, Modality: in.Modality, BodyPart: in.BodyPart, Action: ethos.ActionUse, Now: now}
				var d ethos.ConsentDecision
				if in.Acquired.IsZero() {
					if d, err = consent.Decide(cs, q); err != nil {
						return nil, nil, err
					}
				} else {
					c, err := consent.DecideAcquiredAndNow(cs, q, in.Acquired)
					if err != nil {
						return nil, nil, err
					}
					d = c.Decision()
				}
				if !d.Permitted() {
					why = string(d.Reason)
				}
			}
			if why == "" {
				cov.Covered++
				continue
			}
			cov.Uncovered[why]++
			uncovered = true
			if why == string(ethos.ReasonWithdrawn) {
				withdrawn = true
			}
		}
		switch {
		case withdrawn:
			cov.Withdrawn++
		case uncovered:
			cov.OutOfScope++
		}
	}
	if len(cov.Uncovered) == 0 {
		cov.Uncovered = nil
	}
	out := make([]ethos.DataSource, 0, len(sources))
	for src, n := range sources {
		out = append(out, ethos.DataSource{Source: src, Instances: n})
	}
	slices.SortFunc(out, func(a, b ethos.DataSource) int {
		return cmp.Or(cmp.Compare(b.Instances, a.Instances), strings.Compare(a.Source, b.Source))
	})
	return cov, out, nil
}

// sourceGroup names the collection source of an instance for disclosure:
// a file's directory ("file:site-a/2024/"), or the channel of other
// sources ("stow-rs" for "stow-rs:<request>#<part>").
func sourceGroup(src string) string {
	if name, ok := strings.CutPrefix(src, "file:"); ok {
		if i := strings.LastIndexByte(name, '/'); i >= 0 {
			return "file:" + name[:i+1]
		}
		return src
	}
	if ch, _, ok := strings.Cut(src, ":"); ok {
		return ch
	}
	return src
}

// subjectInstances returns every instance record of subject by id.
func (s *Service) subjectInstances(ctx context.Context, k ethos.SubjectKey) (map[string]*ethos.Instance, error) {
	out := map[string]*ethos.Instance{}
	for off := 0; ; off += maxPage {
		ins, total, err := s.Instances.FindInstances(ctx, ethos.InstanceFilter{Subject: &k, Offset: off, Limit: maxPage})
		if err != nil {
			return nil, err
		}
		for _, in := range ins {
			out[in.ID] = in
		}
		if len(ins) == 0 || off+len(ins) >= total {
			return out, nil
		}
	}
}

// ExportGate refuses, with ECONFLICT naming them, while an obligation is
// open on the dataset version: neither an export nor a registration may
// use a version that still holds withdrawn data unresolved. The processing
// stage calls it before an export.
func (s *Service) ExportGate(ctx context.Context, datasetVersionID string) error {
	open := ethos.ObligationOpen
	target := ethos.LineageNode{Kind: ethos.LineageDatasetVersion, ID: datasetVersionID}
	obs, n, err := s.Obligations.FindObligations(ctx, ethos.ObligationFilter{Target: &target, Status: &open, Limit: 20})
	if err != nil {
		return err
	}
	if n == 0 {
		return nil
	}
	ids := make([]string, len(obs))
	for i, o := range obs {
		ids[i] = o.ID
	}
	more := ""
	if n > len(obs) {
		more = fmt.Sprintf(" and %d more", n-len(obs))
	}
	return ethos.Errorf(ethos.ECONFLICT, "dataset version %s has %d open withdrawal obligations (%s%s): resolve them first (retrain, exemption or retire)",
		datasetVersionID, n, strings.Join(ids, ", "), more)
}

// SignOffTrainingRun records actor's verdict on a run (QC-TRA-1). The
// reviewer is the actor, named; a registrant may not review their own
// run, and a run is not approved while an obligation is open on its
// dataset version or model version.
func (s *Service) SignOffTrainingRun(ctx context.Context, actor ethos.AccessRequest, id string, so ethos.TrainingSignOff, requestID string) (*ethos.TrainingRun, error) {
	if so.Reviewer == "" {
		so.Reviewer = actor.UserID
	}
	if so.Reviewer != actor.UserID {
		return nil, ethos.Errorf(ethos.EFORBIDDEN, "sign-off: a reviewer signs as themselves (reviewer %s, caller %s)", so.Reviewer, actor.UserID)
	}
	so.At = s.now()
	if err := so.Validate(); err != nil {
		return nil, err
	}
	run, err := s.Runs.FindTrainingRunByID(ctx, id)
	if err != nil {
		return nil, err
	}
	resource := "project/" + run.ProjectID + "/training-run/" + run.ID
	refuse := func(err error) (*ethos.TrainingRun, error) {
		if aerr := s.audit(ctx, actor, "training.signoff", resource, "deny", ethos.ErrorMessage(err), requestID); aerr != nil {
			return nil, aerr
		}
		return nil, err
	}
	if run.RegisteredBy == actor.UserID {
		return refuse(ethos.Errorf(ethos.EFORBIDDEN, "sign-off: user %s registered run %s and may not review it", actor.UserID, run.ID))
	}
	if so.Decision == ethos.SignOffApproved {
		if err := s.ExportGate(ctx, run.DatasetVersion); err != nil {
			return refuse(err)
		}
		open := ethos.ObligationOpen
		model := ethos.LineageNode{Kind: ethos.LineageModelVersion, ID: run.ModelVersion}
		if _, n, err := s.Obligations.FindObligations(ctx, ethos.ObligationFilter{Target: &model, Status: &open, Limit: 1}); err != nil {
			return nil, err
		} else if n > 0 {
			return refuse(ethos.Errorf(ethos.ECONFLICT, "model version %s has %d open withdrawal obligations: resolve them before approving run %s", run.ModelVersion, n, run.ID))
		}
	}
	out, err := s.Runs.SignOffTrainingRun(ctx, id, so)
	if err != nil {
		return nil, err
	}
	if err := s.Lineage.RecordLineage(ctx, ethos.LineageEdge{From: ethos.LineageNode{Kind: ethos.LineageTrainingRun, ID: run.ID},
		Relation: ethos.RelWasAssociatedWith, To: ethos.LineageNode{Kind: ethos.LineageAgent, ID: so.Reviewer}, At: so.At}); err != nil {
		return nil, err
	}
	reason := fmt.Sprintf("reviewer %s %s run %s (model version %s)", so.Reviewer, so.Decision, run.ID, run.ModelVersion)
	if err := s.audit(ctx, actor, "training.signoff", resource, "", reason, requestID); err != nil {
		return nil, err
	}
	return out, nil
}

// OnWithdrawal opens an obligation on every dataset version and model
// version built from subject's data, found through lineage by derivation
// from the subject and from each of its collected instances, and audits
// each. It returns the obligations it opened (none for versions that
// already have one for the subject). The withdrawal path calls it after
// the consents were made inactive.
func (s *Service) OnWithdrawal(ctx context.Context, subject ethos.SubjectKey, actor ethos.AccessRequest, requestID string) ([]*ethos.Obligation, error) {
	if !subject.Valid() {
		return nil, ethos.Errorf(ethos.EINVALID, "withdrawal: not a subject key")
	}
	type start struct {
		node    ethos.LineageNode
		project string
	}
	starts := []start{{node: ethos.LineageNode{Kind: ethos.LineageSubject, ID: string(subject)}}}
	if s.Instances != nil {
		held, err := s.subjectInstances(ctx, subject)
		if err != nil {
			return nil, err
		}
		for _, id := range slices.Sorted(maps.Keys(held)) {
			starts = append(starts, start{ethos.LineageNode{Kind: ethos.LineageInstance, ID: id}, held[id].ProjectID})
		}
	}
	targets := map[ethos.LineageNode]string{} // -> project
	for _, st := range starts {
		ns, err := s.Lineage.Downstream(ctx, st.node, ethos.WalkDerivations, ethos.LineageDatasetVersion, ethos.LineageModelVersion)
		if ethos.ErrorCode(err) == ethos.ENOTFOUND {
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, n := range ns {
			if targets[n] == "" {
				targets[n] = st.project
			}
		}
	}
	var obs []*ethos.Obligation
	for _, n := range slices.SortedFunc(maps.Keys(targets), func(a, b ethos.LineageNode) int { return strings.Compare(a.String(), b.String()) }) {
		project := targets[n]
		if project == "" {
			var err error
			if project, err = s.projectOf(ctx, n); err != nil {
				return nil, err
			}
		}
		obs = append(obs, &ethos.Obligation{ProjectID: project, Target: n, Subject: subject, Cause: ethos.CauseWithdrawal, OpenedBy: actor.UserID})
	}
	if len(obs) == 0 {
		return []*ethos.Obligation{}, nil
	}
	opened, err := s.Obligations.OpenObligations(ctx, obs)
	if err != nil {
		return nil, err
	}
	for _, o := range opened {
		if err := s.audit(ctx, actor, "obligation.open", "obligation/"+o.ID, "",
			fmt.Sprintf("consent withdrawal reaches %s: retrain without the subject, document an exemption or retire", o.Target), requestID); err != nil {
			return nil, err
		}
	}
	return opened, nil
}

// projectOf finds the project of a version the walk reached from the
// subject node itself: a model version's own, or that of a run using the
// dataset version; "" when the register does not know it.
func (s *Service) projectOf(ctx context.Context, n ethos.LineageNode) (string, error) {
	switch n.Kind {
	case ethos.LineageModelVersion:
		m, err := s.Runs.FindModelVersionByID(ctx, n.ID)
		if ethos.ErrorCode(err) == ethos.ENOTFOUND {
			return "", nil
		}
		if err != nil {
			return "", err
		}
		return m.ProjectID, nil
	case ethos.LineageDatasetVersion:
		rs, _, err := s.Runs.FindTrainingRuns(ctx, ethos.TrainingRunFilter{DatasetVersion: &n.ID, Limit: 1})
		if err != nil || len(rs) == 0 {
			return "", err
		}
		return rs[0].ProjectID, nil
	}
	return "", nil
}

// ResolveObligation closes an open obligation for actor, the accountable
// person. A retraining must name a version that exists in lineage and is
// not derived from the subject; retiring a model version marks it retired.
func (s *Service) ResolveObligation(ctx context.Context, actor ethos.AccessRequest, id string, res ethos.ObligationResolution, requestID string) (*ethos.Obligation, error) {
	res.By, res.At = actor.UserID, s.now()
	if err := res.Validate(); err != nil {
		return nil, err
	}
	o, err := s.Obligations.FindObligationByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if o.Status != ethos.ObligationOpen {
		return nil, ethos.Errorf(ethos.ECONFLICT, "obligation %s is %s already", o.ID, o.Status)
	}
	switch res.Action {
	case ethos.ResolveRetrain:
		repl := ethos.LineageNode{Kind: o.Target.Kind, ID: res.Reference}
		if err := repl.Validate(); err != nil {
			return nil, ethos.Errorf(ethos.EINVALID, "resolution: reference must name the new %s: %s", o.Target.Kind, ethos.ErrorMessage(err))
		}
		if repl == o.Target {
			return nil, ethos.Errorf(ethos.EINVALID, "resolution: the new version must differ from %s", o.Target)
		}
		subs, err := s.Lineage.Upstream(ctx, repl, ethos.WalkDerivations, ethos.LineageSubject)
		if ethos.ErrorCode(err) == ethos.ENOTFOUND {
			return nil, ethos.Errorf(ethos.EINVALID, "resolution: lineage knows nothing of %s; record it before resolving", repl)
		}
		if err != nil {
			return nil, err
		}
		if slices.Contains(subs, ethos.LineageNode{Kind: ethos.LineageSubject, ID: string(o.Subject)}) {
			return nil, ethos.Errorf(ethos.ECONFLICT, "resolution: %s is still derived from the withdrawn subject's data", repl)
		}
	case ethos.ResolveRetire:
		if o.Target.Kind == ethos.LineageModelVersion {
			if _, err := s.Runs.SetModelStatus(ctx, o.Target.ID, ethos.ModelRetired); err != nil && ethos.ErrorCode(err) != ethos.ENOTFOUND {
				return nil, err
			}
		}
	}
	out, err := s.Obligations.ResolveObligation(ctx, id, res)
	if err != nil {
		return nil, err
	}
	// A retraining's reference is a checked version id; an exemption's
	// is a document reference the user typed, and like the note it stays
	// on the obligation.
	reason := fmt.Sprintf("%s on %s resolved by %s; note on the obligation: %s", res.Action, o.Target, res.By, ethos.AuditText(res.Note))
	switch {
	case res.Action == ethos.ResolveRetrain:
		reason += "; replaced by " + res.Reference
	case res.Reference != "":
		reason += "; reference on the obligation: " + ethos.AuditText(res.Reference)
	}
	if err := s.audit(ctx, actor, "obligation.resolve", "obligation/"+o.ID, "", reason, requestID); err != nil {
		return nil, err
	}
	return out, nil
}

// Provenance gathers the neighbourhood of roots and renders it as PROV-JSON.
func (s *Service) Provenance(ctx context.Context, roots []ethos.LineageNode) (*ethos.ProvDocument, error) {
	if len(roots) == 0 {
		return ethos.NewProvDocument(nil, nil), nil
	}
	for _, r := range roots {
		if err := r.Validate(); err != nil {
			return nil, err
		}
	}
	near, err := s.Lineage.LineageEdges(ctx, roots)
	if err != nil {
		return nil, err
	}
	set := map[ethos.LineageNode]bool{}
	seeds := slices.Clone(roots)
	for _, r := range roots {
		set[r] = true
	}
	// Nodes exist only as the ends of edges: a root no edge touches was
	// never recorded.
	touched := map[ethos.LineageNode]bool{}
	for _, e := range near {
		touched[e.From], touched[e.To] = true, true
	}
	for _, r := range roots {
		if !touched[r] {
			return nil, ethos.Errorf(ethos.ENOTFOUND, "lineage: nothing recorded about %s", r)
		}
	}
	for _, e := range near {
		for _, n := range []ethos.LineageNode{e.From, e.To} {
			if !set[n] {
				set[n] = true
				seeds = append(seeds, n)
			}
		}
	}
	for _, n := range seeds {
		if n.Kind.ProvClass() != "entity" {
			continue
		}
		for _, walk := range []func(context.Context, ethos.LineageNode, ethos.LineageWalk, ...ethos.LineageKind) ([]ethos.LineageNode, error){s.Lineage.Upstream, s.Lineage.Downstream} {
			ns, err := walk(ctx, n, ethos.WalkDerivations)
			if ethos.ErrorCode(err) == ethos.ENOTFOUND {
				continue
			}
			if err != nil {
				return nil, err
			}
			for _, m := range ns {
				set[m] = true
			}
		}
	}
	nodes := slices.SortedFunc(maps.Keys(set), func(a, b ethos.LineageNode) int { return strings.Compare(a.String(), b.String()) })
	edges, err := s.Lineage.LineageEdges(ctx, nodes)
	if err != nil {
		return nil, err
	}
	return ethos.NewProvDocument(nodes, edges), nil
}

func (s *Service) audit(ctx context.Context, actor ethos.AccessRequest, action, resource, decision, reason, requestID string) error {
	purpose := ethos.Purpose("")
	if strings.HasPrefix(action, "training.") {
		purpose = ethos.PurposeAITraining
	}
	return s.Auditor.Record(ctx, ethos.AuditEvent{Time: s.now(), Actor: actor.UserID, Party: actor.PartyID, Action: action, Resource: resource,
		Stage: ethos.StageTraining, Purpose: purpose, Decision: decision, Reason: reason, RequestID: requestID})
}
