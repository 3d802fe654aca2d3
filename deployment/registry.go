package deployment

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ethos-imaging/ethos"
)

// Registry is the deployment workflow over a store: registration behind
// the evaluation gate, the change log, go-live behind a complete and
// acknowledged risk register (QC-DEP-3), incidents with their deadlines,
// the compliance checklist from evidence (QC-DEP-2), and the ingestion of
// inference events and labels (QC-DEP-1). It implements
// ethos.DeploymentService and ethos.EventIngester. Set the fields, then
// use it; it holds no state of its own.
type Registry struct {
	Store ethos.DeploymentStore
	// Evaluations names the approved evaluation of a model version; nil
	// refuses every registration (nothing is deployed unevaluated).
	Evaluations ethos.ApprovedEvaluations
	// ValidatePlan checks a monitoring plan's content (the monitoring
	// engine provides it); nil accepts any JSON object.
	ValidatePlan func([]byte) error
	// Users, when set, is used to check that named people exist and are
	// not disabled.
	Users ethos.UserService
	// Evidence supplies the observations other parts of Ethos hold that
	// are not about one deployment (audit log verified), and those of the
	// keys below when their reader is not set; nil: those items need
	// attestation.
	Evidence ethos.ComplianceEvidence
	// Obligations, when set, is read for the open withdrawal obligations
	// on a deployed model version: evidence no-open-consent-withdrawal,
	// notices in the change log (NoticeObligations).
	Obligations ObligationFinder
	// Monitoring, when set, reports QC-DEP-1 of a deployment: evidence
	// monitoring-ran-on-time.
	Monitoring MonitorStatuser
	// LoggingWindow: inference logging counts as enabled while an event
	// was received within it (default 24 hours).
	LoggingWindow time.Duration
	Now           func() time.Time
}

var (
	_ ethos.DeploymentService = (*Registry)(nil)
	_ ethos.EventIngester     = (*Registry)(nil)
)

func (r *Registry) now() time.Time {
	if r.Now == nil {
		return time.Now().UTC()
	}
	return r.Now().UTC()
}

// checkLine checks a one-line text field: required, at most 500 bytes,
// valid UTF-8, no control characters.
func checkLine(field, s string) error {
	switch {
	case strings.TrimSpace(s) == "":
		return ethos.Errorf(ethos.EINVALID, "%s: required", field)
	case len(s) > 500:
		return ethos.Errorf(ethos.EINVALID, "%s: longer than 500 bytes", field)
	case !utf8.ValidString(s) || strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return ethos.Errorf(ethos.EINVALID, "%s: must be one line of valid UTF-8", field)
	}
	return nil
}

func checkThreshold(t float64) error {
	if math.IsNaN(t) || t < 0 || t > 1 {
		return ethos.Errorf(ethos.EINVALID, "threshold: want a number in [0, 1]")
	}
	return nil
}

// planRoles checks a monitoring plan and returns the stakeholder roles it
// names (its "stakeholder_roles" array of Ethos roles).
func (r *Registry) planRoles(plan json.RawMessage) ([]ethos.Role, error) {
	if len(plan) > ethos.MaxPlanBytes {
		return nil, ethos.Errorf(ethos.EINVALID, "plan: larger than %d bytes", ethos.MaxPlanBytes)
	}
	trimmed := bytes.TrimSpace(plan)
	if len(trimmed) == 0 || trimmed[0] != '{' || !json.Valid(trimmed) {
		return nil, ethos.Errorf(ethos.EINVALID, "plan: the monitoring plan must be a JSON object")
	}
	var head struct {
		StakeholderRoles json.RawMessage `json:"stakeholder_roles"`
		LogRetention     json.RawMessage `json:"log_retention"`
	}
	if err := json.Unmarshal(trimmed, &head); err != nil {
		return nil, ethos.Errorf(ethos.EINVALID, "plan: %v", err)
	}
	if len(head.LogRetention) > 0 {
		if _, err := logRetention(trimmed); err != nil {
			return nil, err
		}
	}
	roles := []ethos.Role{}
	if len(head.StakeholderRoles) > 0 {
		if err := json.Unmarshal(head.StakeholderRoles, &roles); err != nil {
			return nil, ethos.Errorf(ethos.EINVALID, "plan.stakeholder_roles: want an array of role names")
		}
	}
	for i, ro := range roles {
		if !ro.Valid() {
			return nil, ethos.Errorf(ethos.EINVALID, "plan.stakeholder_roles[%d]: not a role (want %s)", i, roleList(ethos.Roles))
		}
	}
	slices.Sort(roles)
	roles = slices.Compact(roles)
	if r.ValidatePlan != nil {
		if err := r.ValidatePlan(trimmed); err != nil {
			if ethos.ErrorCode(err) == ethos.EINTERNAL {
				return nil, ethos.Errorf(ethos.EINVALID, "plan: %v", err)
			}
			return nil, err
		}
	}
	return roles, nil
}

// gate asks for the approved evaluation of a model version.
func (r *Registry) gate(ctx context.Context, modelVersionID string) (string, error) {
	if r.Evaluations == nil {
		return "", ethos.Errorf(ethos.ECONFLICT, "model version %s cannot be deployed: no evaluation service is configured, and a deployment needs a passed, signed-off evaluation", modelVersionID)
	}
	id, err := r.Evaluations.ApprovedEvaluation(ctx, modelVersionID)
	if err != nil {
		if code := ethos.ErrorCode(err); code != ethos.EINTERNAL {
			return "", ethos.Errorf(ethos.ECONFLICT, "model version %s cannot be deployed: %s", modelVersionID, ethos.ErrorMessage(err))
		}
		return "", fmt.Errorf("approved evaluation of %s: %w", modelVersionID, err)
	}
	if id == "" {
		return "", ethos.Errorf(ethos.ECONFLICT, "model version %s cannot be deployed: it has no approved evaluation", modelVersionID)
	}
	return id, nil
}

func (r *Registry) checkUser(ctx context.Context, field, id string) error {
	if !ethos.ValidID(id) {
		return ethos.Errorf(ethos.EINVALID, "%s: a user id is required", field)
	}
	if r.Users == nil {
		return nil
	}
	u, err := r.Users.FindUserByID(ctx, id)
	if ethos.ErrorCode(err) == ethos.ENOTFOUND {
		return ethos.Errorf(ethos.EINVALID, "%s: user %s not found", field, id)
	}
	if err != nil {
		return err
	}
	if u.Disabled {
		return ethos.Errorf(ethos.EINVALID, "%s: user %s is disabled", field, id)
	}
	return nil
}

func checkNotified(roles []ethos.Role) error {
	if len(roles) == 0 {
		return ethos.Errorf(ethos.EINVALID, "notified: name the stakeholder roles told of the change")
	}
	for i, ro := range roles {
		if !ro.Valid() {
			return ethos.Errorf(ethos.EINVALID, "notified[%d]: not a role (want %s)", i, roleList(ethos.Roles))
		}
	}
	return nil
}

// RegisterDeployment validates d, asks the evaluation gate and stores d
// with change 1 of its log. d's ID, EvaluationID, StakeholderRoles,
// Status, Revision and times are set here.
func (r *Registry) RegisterDeployment(ctx context.Context, d *ethos.Deployment, by ethos.Changer) error {
	if !ethos.ValidID(d.ProjectID) {
		return ethos.Errorf(ethos.EINVALID, "project_id: required")
	}
	if !ethos.ValidID(d.ModelVersionID) {
		return ethos.Errorf(ethos.EINVALID, "model_version_id: required: 1 to 64 letters, digits, '_', '-', '.'")
	}
	if err := checkLine("site", d.Site); err != nil {
		return err
	}
	if err := checkLine("intended_use", d.IntendedUse); err != nil {
		return err
	}
	if err := checkThreshold(d.Threshold); err != nil {
		return err
	}
	if err := r.checkUser(ctx, "responsible_user_id", d.ResponsibleUserID); err != nil {
		return err
	}
	roles, err := r.planRoles(d.Plan)
	if err != nil {
		return err
	}
	evalID, err := r.gate(ctx, d.ModelVersionID)
	if err != nil {
		return err
	}
	now := r.now()
	d.ID = ethos.NewID("dep")
	d.Plan = json.RawMessage(bytes.TrimSpace(d.Plan))
	d.EvaluationID, d.StakeholderRoles, d.Status, d.Revision = evalID, roles, ethos.DeploymentRegistered, 1
	d.CreatedBy, d.CreatedAt, d.UpdatedAt, d.LiveAt = by.UserID, now, now, nil
	first := &ethos.DeploymentChange{DeploymentID: d.ID, Seq: 1, Kind: ethos.ChangeRegistered,
		To:     fmt.Sprintf("model version %s at %s, threshold %s, evaluation %s", d.ModelVersionID, d.Site, fmtFloat(d.Threshold), evalID),
		Reason: "registered", ExpectedEffect: "events accepted; not live until go-live", Notified: roles, By: by.UserID, At: now}
	return r.Store.CreateDeployment(ctx, d, first)
}

func fmtFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

func (r *Registry) FindDeploymentByID(ctx context.Context, id string) (*ethos.Deployment, error) {
	return r.Store.FindDeploymentByID(ctx, id)
}

func (r *Registry) FindDeployments(ctx context.Context, f ethos.DeploymentFilter) ([]*ethos.Deployment, int, error) {
	return r.Store.FindDeployments(ctx, f)
}

// ChangeDeployment applies one change. Rules:
//   - every change needs a reason, an expected effect and the stakeholder
//     roles notified; a retired deployment takes no change;
//   - a new model version passes the evaluation gate again, and a live
//     deployment whose model version changes returns to registered: it
//     must go live again after its risk register is reviewed;
//   - go-live needs a registered or suspended deployment, an approved
//     evaluation still in force and no GoLiveBlockers;
//   - suspend needs a registered or live deployment.
func (r *Registry) ChangeDeployment(ctx context.Context, id string, req ethos.ChangeRequest, by ethos.Changer) (*ethos.Deployment, *ethos.DeploymentChange, error) {
	if !req.Kind.Valid() || req.Kind == ethos.ChangeRegistered || req.Kind == ethos.ChangeObligationNotice {
		return nil, nil, ethos.Errorf(ethos.EINVALID, "kind: want one of model-version, threshold, plan, site, intended-use, responsible, go-live, suspend, retire")
	}
	if err := checkLine("reason", req.Reason); err != nil {
		return nil, nil, err
	}
	if err := checkLine("expected_effect", req.ExpectedEffect); err != nil {
		return nil, nil, err
	}
	if err := checkNotified(req.Notified); err != nil {
		return nil, nil, err
	}
	cur, err := r.Store.FindDeploymentByID(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	if cur.Status == ethos.DeploymentRetired {
		return nil, nil, ethos.Errorf(ethos.ECONFLICT, "deployment %s is retired: it takes no change", id)
	}
	d := *cur
	now := r.now()
	c := &ethos.DeploymentChange{DeploymentID: id, Seq: cur.Revision + 1, Kind: req.Kind, Reason: req.Reason, ExpectedEffect: req.ExpectedEffect,
		Notified: req.Notified, By: by.UserID, At: now, Acks: []ethos.ChangeAck{}}
	same := func(field string) error {
		return ethos.Errorf(ethos.EINVALID, "%s: unchanged", field)
	}
	switch req.Kind {
	case ethos.ChangeModelVersion:
		if !ethos.ValidID(req.ModelVersionID) {
			return nil, nil, ethos.Errorf(ethos.EINVALID, "model_version_id: required for a model-version change")
		}
		if req.ModelVersionID == cur.ModelVersionID {
			return nil, nil, same("model_version_id")
		}
		evalID, err := r.gate(ctx, req.ModelVersionID)
		if err != nil {
			return nil, nil, err
		}
		c.From, c.To = cur.ModelVersionID+" (evaluation "+cur.EvaluationID+")", req.ModelVersionID+" (evaluation "+evalID+")"
		d.ModelVersionID, d.EvaluationID = req.ModelVersionID, evalID
		if d.Status == ethos.DeploymentLive {
			d.Status = ethos.DeploymentRegistered
			c.To += "; back to registered until it goes live again"
		}
	case ethos.ChangeThreshold:
		if req.Threshold == nil {
			return nil, nil, ethos.Errorf(ethos.EINVALID, "threshold: required for a threshold change")
		}
		if err := checkThreshold(*req.Threshold); err != nil {
			return nil, nil, err
		}
		if *req.Threshold == cur.Threshold {
			return nil, nil, same("threshold")
		}
		c.From, c.To = fmtFloat(cur.Threshold), fmtFloat(*req.Threshold)
		d.Threshold = *req.Threshold
	case ethos.ChangePlan:
		roles, err := r.planRoles(req.Plan)
		if err != nil {
			return nil, nil, err
		}
		plan := json.RawMessage(bytes.TrimSpace(req.Plan))
		if bytes.Equal(plan, cur.Plan) {
			return nil, nil, same("plan")
		}
		c.From, c.To = "plan naming "+roleWords(cur.StakeholderRoles), "plan naming "+roleWords(roles)
		d.Plan, d.StakeholderRoles = plan, roles
	case ethos.ChangeSite:
		if err := checkLine("site", req.Site); err != nil {
			return nil, nil, err
		}
		if req.Site == cur.Site {
			return nil, nil, same("site")
		}
		c.From, c.To, d.Site = cur.Site, req.Site, req.Site
	case ethos.ChangeIntendedUse:
		if err := checkLine("intended_use", req.IntendedUse); err != nil {
			return nil, nil, err
		}
		if req.IntendedUse == cur.IntendedUse {
			return nil, nil, same("intended_use")
		}
		c.From, c.To, d.IntendedUse = cur.IntendedUse, req.IntendedUse, req.IntendedUse
	case ethos.ChangeResponsible:
		if err := r.checkUser(ctx, "responsible_user_id", req.ResponsibleUserID); err != nil {
			return nil, nil, err
		}
		if req.ResponsibleUserID == cur.ResponsibleUserID {
			return nil, nil, same("responsible_user_id")
		}
		c.From, c.To, d.ResponsibleUserID = cur.ResponsibleUserID, req.ResponsibleUserID, req.ResponsibleUserID
	case ethos.ChangeGoLive:
		if cur.Status != ethos.DeploymentRegistered && cur.Status != ethos.DeploymentSuspended {
			return nil, nil, ethos.Errorf(ethos.ECONFLICT, "deployment %s is %s: only a registered or suspended deployment goes live", id, cur.Status)
		}
		blockers, err := r.blockers(ctx, cur)
		if err != nil {
			return nil, nil, err
		}
		if len(blockers) > 0 {
			return nil, nil, ethos.Errorf(ethos.ECONFLICT, "deployment %s cannot go live (QC-DEP-3): %s", id, strings.Join(blockers, "; "))
		}
		c.From, c.To = string(cur.Status), string(ethos.DeploymentLive)
		d.Status, d.LiveAt = ethos.DeploymentLive, &now
	case ethos.ChangeSuspend:
		if cur.Status != ethos.DeploymentRegistered && cur.Status != ethos.DeploymentLive {
			return nil, nil, ethos.Errorf(ethos.ECONFLICT, "deployment %s is %s: only a registered or live deployment is suspended", id, cur.Status)
		}
		c.From, c.To, d.Status = string(cur.Status), string(ethos.DeploymentSuspended), ethos.DeploymentSuspended
	case ethos.ChangeRetire:
		c.From, c.To, d.Status = string(cur.Status), string(ethos.DeploymentRetired), ethos.DeploymentRetired
	}
	d.Revision, d.UpdatedAt = cur.Revision+1, now
	if err := r.Store.UpdateDeployment(ctx, &d, c); err != nil {
		return nil, nil, err
	}
	c.Pending = pending(c)
	return &d, c, nil
}

func roleWords(rs []ethos.Role) string {
	if len(rs) == 0 {
		return "no stakeholder roles"
	}
	return roleList(rs)
}

// pending lists the notified roles without an acknowledgement.
func pending(c *ethos.DeploymentChange) []ethos.Role {
	var out []ethos.Role
	for _, ro := range c.Notified {
		if !slices.ContainsFunc(c.Acks, func(a ethos.ChangeAck) bool { return a.Role == ro }) {
			out = append(out, ro)
		}
	}
	return out
}

// effectiveRegister returns the stored register with the stakeholder
// roles of the deployment's plan added to its own.
func effectiveRegister(reg *ethos.RiskRegister, d *ethos.Deployment) *ethos.RiskRegister {
	e := *reg
	roles := slices.Clone(reg.StakeholderRoles)
	for _, ro := range d.StakeholderRoles {
		if !slices.Contains(roles, ro) {
			roles = append(roles, ro)
		}
	}
	e.StakeholderRoles = roles
	return &e
}

func (r *Registry) blockers(ctx context.Context, d *ethos.Deployment) ([]string, error) {
	var out []string
	if len(d.StakeholderRoles) == 0 {
		out = append(out, "the monitoring plan names no stakeholder roles (plan.stakeholder_roles)")
	}
	if _, err := r.gate(ctx, d.ModelVersionID); err != nil {
		if ethos.ErrorCode(err) == ethos.EINTERNAL {
			return nil, err
		}
		out = append(out, ethos.ErrorMessage(err))
	}
	reg, err := r.Store.RiskRegister(ctx, d.ID)
	switch {
	case ethos.ErrorCode(err) == ethos.ENOTFOUND:
		out = append(out, "no risk register is stored")
	case err != nil:
		return nil, err
	default:
		for _, g := range Complete(effectiveRegister(reg, d), Catalogue()) {
			out = append(out, "risk register: "+g.String())
		}
	}
	return out, nil
}

func (r *Registry) GoLiveBlockers(ctx context.Context, id string) ([]string, error) {
	d, err := r.Store.FindDeploymentByID(ctx, id)
	if err != nil {
		return nil, err
	}
	b, err := r.blockers(ctx, d)
	if err != nil {
		return nil, err
	}
	if b == nil {
		b = []string{}
	}
	return b, nil
}

func (r *Registry) FindChanges(ctx context.Context, id string) ([]*ethos.DeploymentChange, error) {
	if _, err := r.Store.FindDeploymentByID(ctx, id); err != nil {
		return nil, err
	}
	cs, err := r.Store.FindChanges(ctx, id)
	if err != nil {
		return nil, err
	}
	for _, c := range cs {
		c.Pending = pending(c)
	}
	return cs, nil
}

func checkRole(by ethos.Changer, role ethos.Role) error {
	if !role.Valid() {
		return ethos.Errorf(ethos.EINVALID, "role: not a role (want %s)", roleList(ethos.Roles))
	}
	if !slices.Contains(by.Roles, role) {
		return ethos.Errorf(ethos.EFORBIDDEN, "user %s does not hold the role %s", by.UserID, role)
	}
	return nil
}

// AcknowledgeChange records that by, in role, acknowledged change seq; the
// role must be one the change notified.
func (r *Registry) AcknowledgeChange(ctx context.Context, id string, seq int, by ethos.Changer, role ethos.Role) (*ethos.DeploymentChange, error) {
	if err := checkRole(by, role); err != nil {
		return nil, err
	}
	cs, err := r.FindChanges(ctx, id)
	if err != nil {
		return nil, err
	}
	i := slices.IndexFunc(cs, func(c *ethos.DeploymentChange) bool { return c.Seq == seq })
	if i < 0 {
		return nil, ethos.Errorf(ethos.ENOTFOUND, "deployment %s has no change %d", id, seq)
	}
	c := cs[i]
	if !slices.Contains(c.Notified, role) {
		return nil, ethos.Errorf(ethos.EINVALID, "change %d of deployment %s did not notify the role %s (notified: %s)", seq, id, role, roleWords(c.Notified))
	}
	a := ethos.ChangeAck{UserID: by.UserID, Role: role, At: r.now()}
	if err := r.Store.AddChangeAck(ctx, id, seq, a); err != nil {
		return nil, err
	}
	if !slices.ContainsFunc(c.Acks, func(x ethos.ChangeAck) bool { return x.UserID == a.UserID && x.Role == a.Role }) {
		c.Acks = append(c.Acks, a)
	}
	c.Pending = pending(c)
	return c, nil
}

// Risk register

func (r *Registry) RiskRegister(ctx context.Context, id string) (*ethos.RiskRegister, error) {
	if _, err := r.Store.FindDeploymentByID(ctx, id); err != nil {
		return nil, err
	}
	return r.Store.RiskRegister(ctx, id)
}

// PutRiskRegister stores reg as the next revision. reg.Revision must be
// the stored revision (0 for none); a zero matrix means DefaultMatrix, no
// stakeholder roles means those of the plan. Acknowledgements of earlier
// revisions do not carry over: a changed register is read again.
func (r *Registry) PutRiskRegister(ctx context.Context, id string, reg *ethos.RiskRegister, by ethos.Changer) (*ethos.RiskRegister, error) {
	d, err := r.Store.FindDeploymentByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if d.Status == ethos.DeploymentRetired {
		return nil, ethos.Errorf(ethos.ECONFLICT, "deployment %s is retired", id)
	}
	out := *reg
	if out.Matrix == (ethos.RiskMatrix{}) {
		out.Matrix = DefaultMatrix()
	}
	if err := ValidateMatrix(out.Matrix); err != nil {
		return nil, err
	}
	for i, ro := range out.StakeholderRoles {
		if !ro.Valid() {
			return nil, ethos.Errorf(ethos.EINVALID, "stakeholder_roles[%d]: not a role (want %s)", i, roleList(ethos.Roles))
		}
	}
	if len(out.StakeholderRoles) == 0 {
		out.StakeholderRoles = slices.Clone(d.StakeholderRoles)
	}
	if out.Risks == nil {
		out.Risks = []ethos.Risk{}
	}
	out.ProjectID, out.DeploymentID, out.UpdatedBy = d.ProjectID, d.ID, by.UserID
	out.Revision, out.RevisedAt = reg.Revision+1, r.now()
	out.Acknowledgements = []ethos.RiskAcknowledgement{}
	if err := r.Store.PutRiskRegister(ctx, id, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// AcknowledgeRisk records that by, in role, has read revision of the
// register; the role must be a stakeholder role of the register or plan.
func (r *Registry) AcknowledgeRisk(ctx context.Context, id string, revision int, by ethos.Changer, role ethos.Role) (*ethos.RiskRegister, error) {
	if err := checkRole(by, role); err != nil {
		return nil, err
	}
	d, err := r.Store.FindDeploymentByID(ctx, id)
	if err != nil {
		return nil, err
	}
	reg, err := r.Store.RiskRegister(ctx, id)
	if err != nil {
		return nil, err
	}
	if reg.Revision != revision {
		return nil, ethos.Errorf(ethos.ECONFLICT, "the risk register of deployment %s is at revision %d, not %d: read the current one", id, reg.Revision, revision)
	}
	if !slices.Contains(effectiveRegister(reg, d).StakeholderRoles, role) {
		return nil, ethos.Errorf(ethos.EINVALID, "role %s is not a stakeholder of deployment %s", role, id)
	}
	if slices.ContainsFunc(reg.Acknowledgements, func(a ethos.RiskAcknowledgement) bool { return a.UserID == by.UserID && a.Role == role }) {
		return reg, nil
	}
	acks := append(slices.Clone(reg.Acknowledgements), ethos.RiskAcknowledgement{UserID: by.UserID, Role: role, Revision: revision, At: r.now()})
	if err := r.Store.UpdateRiskAcks(ctx, id, revision, acks); err != nil {
		return nil, err
	}
	reg.Acknowledgements = acks
	return reg, nil
}

// Incidents

// CreateIncident validates inc (zones, classes, jurisdictions) and stores
// it under the deployment with a new id.
func (r *Registry) CreateIncident(ctx context.Context, id string, inc *ethos.Incident, by ethos.Changer) error {
	d, err := r.Store.FindDeploymentByID(ctx, id)
	if err != nil {
		return err
	}
	if err := checkLine("title", inc.Title); err != nil {
		return err
	}
	inc.ID, inc.ProjectID, inc.DeploymentID = ethos.NewID("inc"), d.ProjectID, d.ID
	if inc.Status == "" {
		inc.Status = ethos.IncidentOpen
	}
	if inc.Notifications == nil {
		inc.Notifications = []ethos.Notification{}
	}
	if inc.AwareAt.After(r.now().Add(MaxFutureSkew)) {
		return ethos.Errorf(ethos.EINVALID, "aware_at: in the future")
	}
	if _, err := ValidateIncident(inc); err != nil {
		return err
	}
	if inc.Status == ethos.IncidentClosed {
		if err := CheckClose(inc, r.now()); err != nil {
			return err
		}
	}
	return r.Store.CreateIncident(ctx, inc)
}

func (r *Registry) FindIncidents(ctx context.Context, f ethos.IncidentFilter) ([]*ethos.Incident, int, error) {
	return r.Store.FindIncidents(ctx, f)
}

// UpdateIncident records a notification sent (by the caller, at its time
// or now) and/or moves the status; closing checks CheckClose.
func (r *Registry) UpdateIncident(ctx context.Context, id string, u ethos.IncidentUpdate, by ethos.Changer) (*ethos.Incident, error) {
	incs, _, err := r.Store.FindIncidents(ctx, ethos.IncidentFilter{ID: &id, Limit: 1})
	if err != nil {
		return nil, err
	}
	if len(incs) == 0 {
		return nil, ethos.Errorf(ethos.ENOTFOUND, "incident %s not found", id)
	}
	inc := incs[0]
	now := r.now()
	if u.Status == nil && u.Notification == nil {
		return nil, ethos.Errorf(ethos.EINVALID, "nothing to update: give a status or a notification")
	}
	if n := u.Notification; n != nil {
		if n.SentAt.IsZero() {
			n.SentAt = now
		}
		if n.SentAt.After(now.Add(MaxFutureSkew)) {
			return nil, ethos.Errorf(ethos.EINVALID, "notification.sent_at: in the future")
		}
		if n.SentAt.Before(inc.AwareAt) {
			return nil, ethos.Errorf(ethos.EINVALID, "notification.sent_at: before the incident's awareness time")
		}
		n.SentBy = by.UserID
		inc.Notifications = append(inc.Notifications, *n)
	}
	if u.Status != nil {
		inc.Status = *u.Status
	}
	if _, err := ValidateIncident(inc); err != nil {
		return nil, err
	}
	if inc.Status == ethos.IncidentClosed {
		if err := CheckClose(inc, now); err != nil {
			return nil, err
		}
	}
	if err := r.Store.PutIncident(ctx, inc); err != nil {
		return nil, err
	}
	return inc, nil
}

func (r *Registry) IncidentDeadlines(_ context.Context, inc *ethos.Incident, now time.Time) ([]ethos.DeadlineStatus, error) {
	return Status(inc, now)
}

// Compliance

// Attest records an attestation of a checklist item by a person holding
// one of the item's roles.
func (r *Registry) Attest(ctx context.Context, id string, a *ethos.Attestation, by ethos.Changer) error {
	if err := checkRole(by, a.Role); err != nil {
		return err
	}
	i := slices.IndexFunc(Checklist(), func(it ethos.ComplianceItem) bool { return it.ID == a.ItemID })
	if i < 0 {
		return ethos.Errorf(ethos.EINVALID, "item_id: not an item of the checklist (GET …/compliance lists them)")
	}
	it := Checklist()[i]
	if !slices.Contains(it.AttestRoles, a.Role) {
		if len(it.AttestRoles) == 0 {
			return ethos.Errorf(ethos.EINVALID, "item %s is decided by evidence only (%s), not by attestation", it.ID, it.Evidence)
		}
		return ethos.Errorf(ethos.EFORBIDDEN, "item %s is attested by %s, not %s", it.ID, roleList(it.AttestRoles), a.Role)
	}
	if err := checkLine("reason", a.Reason); err != nil {
		return err
	}
	a.UserID, a.At = by.UserID, r.now()
	return r.Store.AddAttestation(ctx, id, a)
}

// Compliance evaluates the checklist for a deployment at now from the
// evidence the registry holds (see DeploymentEvidence) and the stored
// attestations.
func (r *Registry) Compliance(ctx context.Context, id string, now time.Time) ([]ethos.ComplianceResult, error) {
	d, err := r.Store.FindDeploymentByID(ctx, id)
	if err != nil {
		return nil, err
	}
	atts, err := r.Store.FindAttestations(ctx, id)
	if err != nil {
		return nil, err
	}
	return Evaluate(ctx, Checklist(), &DeploymentEvidence{Registry: r, Deployment: d, Now: now}, atts, now)
}

// SuspendDeployment implements ethos.DeploymentSuspender for the monitor's
// stop-rules whose plan says a breach suspends: it logs a suspend change
// by the deciding user, notifying the plan's stakeholder roles (or the
// clinician role when the plan names none). An already suspended or
// retired deployment is left as it is.
func (r *Registry) SuspendDeployment(ctx context.Context, id, reason, by string) error {
	d, err := r.Store.FindDeploymentByID(ctx, id)
	if err != nil {
		return err
	}
	if d.Status == ethos.DeploymentSuspended || d.Status == ethos.DeploymentRetired {
		return nil
	}
	notified := d.StakeholderRoles
	if len(notified) == 0 {
		notified = []ethos.Role{ethos.RoleClinician}
	}
	if strings.TrimSpace(reason) == "" {
		reason = "stop-rule of the monitoring plan"
	}
	_, _, err = r.ChangeDeployment(ctx, id, ethos.ChangeRequest{Kind: ethos.ChangeSuspend, Reason: reason,
		ExpectedEffect: "events refused and the model's output withdrawn from use until the deployment goes live again", Notified: notified},
		ethos.Changer{UserID: by})
	return err
}

var _ ethos.DeploymentSuspender = (*Registry)(nil)
