package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/checks"
	"github.com/ethos-imaging/ethos/deployment"
	"github.com/ethos-imaging/ethos/deployment/monitor"
	"github.com/ethos-imaging/ethos/sqlstore"
)

// serveDeployment builds the deployment stage for the server: the workflow
// over the SQL store, gated by the evaluation stage (a model version may be
// deployed only with a passed, signed-off evaluation:
// evaluation.Service.ApprovedEvaluation), with the monitoring engine's plan
// validator.
func serveDeployment(a *app, gate ethos.ApprovedEvaluations) (*deployment.Registry, func()) {
	st := sqlstore.NewDeploymentStore(a.store)
	reg := &deployment.Registry{Store: st, Users: a.users, Evaluations: gate, ValidatePlan: deploymentPlanValidator}
	return reg, func() { st.Close() }
}

// deploymentPlanValidator checks a deployment's plan: "stakeholder_roles"
// is the registry's; every other member must form a valid monitoring plan
// (monitor.ValidatePlan, strict). A plan holding only stakeholder roles is
// accepted: its monitoring part is then set through the monitoring API.
func deploymentPlanValidator(b []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return ethos.Errorf(ethos.EINVALID, "plan: the monitoring plan must be a JSON object")
	}
	delete(m, "stakeholder_roles")
	delete(m, "log_retention") // the registry's too (compliance item AIA-26-6)
	if len(m) == 0 {
		return nil
	}
	rest, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return monitor.ValidatePlan(rest)
}

func runDeployment(ctx context.Context, env *Env, args []string) error {
	verbs := map[string]func(context.Context, *Env, []string) error{
		"register": deploymentRegister, "list": deploymentList, "show": deploymentShow, "change": deploymentChange, "ack": deploymentAck,
		"golive": deploymentStatusVerb(ethos.ChangeGoLive), "suspend": deploymentStatusVerb(ethos.ChangeSuspend), "retire": deploymentStatusVerb(ethos.ChangeRetire),
	}
	return subcommand(ctx, env, "deployment", args, verbs, []string{"register", "list", "show", "golive", "change", "ack", "suspend", "retire"})
}

func deploymentRegister(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "deployment register", "deployment register --project ID --model-version ID --site TEXT --intended-use TEXT --threshold X --responsible USER --plan FILE [--json]")
	project := fs.String("project", "", "project id")
	mv := fs.String("model-version", "", "model version id (needs an approved evaluation)")
	site := fs.String("site", "", "site where the model runs")
	use := fs.String("intended-use", "", "intended use at this site")
	threshold := fs.Float64("threshold", -1, "operating threshold on the score, in [0, 1]")
	responsible := fs.String("responsible", "", "user id of the person accountable for the deployment")
	planFile := fs.String("plan", "", "monitoring plan (JSON object; \"stakeholder_roles\" names the roles that must acknowledge)")
	asJSON := fs.Bool("json", false, "print as JSON")
	connect := clientFlags(env, fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *project == "" || *mv == "" || *site == "" || *use == "" || *threshold < 0 || *responsible == "" || *planFile == "" || fs.NArg() > 0 {
		return usagef("deployment register needs --project, --model-version, --site, --intended-use, --threshold, --responsible and --plan")
	}
	plan, err := riskReadFile(*planFile)
	if err != nil {
		return err
	}
	if !json.Valid(plan) {
		return ethos.Errorf(ethos.EINVALID, "%s: not valid JSON", *planFile)
	}
	c, err := connect()
	if err != nil {
		return err
	}
	var d ethos.Deployment
	if err := c.do(ctx, "POST", "/api/v1/deployments", map[string]any{"project_id": *project, "model_version_id": *mv, "site": *site,
		"intended_use": *use, "threshold": *threshold, "responsible_user_id": *responsible, "plan": json.RawMessage(plan)}, &d); err != nil {
		return err
	}
	if *asJSON {
		return printJSON(env, &d)
	}
	fmt.Fprintf(env.Stdout, "%s registered: model version %s (evaluation %s) at %s, status %s\n", d.ID, d.ModelVersionID, d.EvaluationID, d.Site, d.Status)
	return nil
}

func deploymentList(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "deployment list", "deployment list --project ID [--status S] [--json]")
	project := fs.String("project", "", "project id")
	status := fs.String("status", "", "only this status: registered, live, suspended, retired")
	asJSON := fs.Bool("json", false, "print as JSON")
	connect := clientFlags(env, fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *project == "" || fs.NArg() > 0 {
		return usagef("deployment list needs --project")
	}
	c, err := connect()
	if err != nil {
		return err
	}
	q := url.Values{"project_id": {*project}, "limit": {"1000"}}
	if *status != "" {
		q.Set("status", *status)
	}
	return printList(ctx, env, c, "/api/v1/deployments", q, *asJSON, "ID\tSTATUS\tMODEL VERSION\tSITE\tTHRESHOLD\tREVISION", func(d ethos.Deployment) []string {
		return []string{d.ID, string(d.Status), d.ModelVersionID, d.Site, strconv.FormatFloat(d.Threshold, 'g', -1, 64), strconv.Itoa(d.Revision)}
	})
}

func deploymentShow(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "deployment show", "deployment show ID [--json]")
	asJSON := fs.Bool("json", false, "print as JSON")
	connect := clientFlags(env, fs)
	c, id, err := connectOne(fs, args, connect, "deployment show needs one deployment id")
	if err != nil {
		return err
	}
	var d struct {
		ethos.Deployment
		GoLiveBlockers []string `json:"go_live_blockers"`
	}
	if err := c.do(ctx, "GET", "/api/v1/deployments/"+url.PathEscape(id), nil, &d); err != nil {
		return err
	}
	var changes struct {
		Items []ethos.DeploymentChange `json:"items"`
	}
	if err := c.do(ctx, "GET", "/api/v1/deployments/"+url.PathEscape(id)+"/changes", nil, &changes); err != nil {
		return err
	}
	if *asJSON {
		return printJSON(env, map[string]any{"deployment": d, "changes": changes.Items})
	}
	fmt.Fprintf(env.Stdout, "%s  %s\n  project          %s\n  model version    %s (evaluation %s)\n  site             %s\n  intended use     %s\n  threshold        %s\n  responsible      %s\n  stakeholders     %s\n",
		d.ID, strings.ToUpper(string(d.Status)), d.ProjectID, d.ModelVersionID, d.EvaluationID, d.Site, d.IntendedUse,
		strconv.FormatFloat(d.Threshold, 'g', -1, 64), d.ResponsibleUserID, joinRoles(d.StakeholderRoles))
	if len(d.GoLiveBlockers) > 0 {
		fmt.Fprintln(env.Stdout, "  go-live blocked by:")
		for _, b := range d.GoLiveBlockers {
			fmt.Fprintf(env.Stdout, "    - %s\n", b)
		}
	}
	fmt.Fprintln(env.Stdout, "  change log:")
	for _, ch := range changes.Items {
		fmt.Fprintf(env.Stdout, "    %d  %s  %-13s by %s: %s", ch.Seq, ch.At.UTC().Format("2006-01-02 15:04"), ch.Kind, ch.By, ch.Reason)
		if ch.To != "" {
			fmt.Fprintf(env.Stdout, " [%s -> %s]", orDash(ch.From), ch.To)
		}
		if len(ch.Pending) > 0 {
			fmt.Fprintf(env.Stdout, " (awaiting acknowledgement: %s)", joinRoles(ch.Pending))
		}
		fmt.Fprintln(env.Stdout)
	}
	return nil
}

func joinRoles(rs []ethos.Role) string {
	if len(rs) == 0 {
		return "-"
	}
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = string(r)
	}
	return strings.Join(s, ", ")
}

// changeFlags are the flags every change takes.
func changeFlags(fs interface {
	String(string, string, string) *string
}) (reason, effect, notified *string) {
	reason = fs.String("reason", "", "why the change is made (required)")
	effect = fs.String("expected-effect", "", "what the change is expected to do (required)")
	notified = fs.String("notified", "", "comma-separated stakeholder roles told of the change (required)")
	return
}

func sendChange(ctx context.Context, env *Env, c *client, id string, req ethos.ChangeRequest, asJSON bool) error {
	var out struct {
		Deployment ethos.Deployment       `json:"deployment"`
		Change     ethos.DeploymentChange `json:"change"`
	}
	if err := c.do(ctx, "POST", "/api/v1/deployments/"+url.PathEscape(id)+"/changes", req, &out); err != nil {
		return err
	}
	if asJSON {
		return printJSON(env, out)
	}
	fmt.Fprintf(env.Stdout, "%s change %d (%s) recorded; status %s", id, out.Change.Seq, out.Change.Kind, out.Deployment.Status)
	if len(out.Change.Pending) > 0 {
		fmt.Fprintf(env.Stdout, "; awaiting acknowledgement by %s", joinRoles(out.Change.Pending))
	}
	fmt.Fprintln(env.Stdout)
	return nil
}

func toRoles(s string) []ethos.Role {
	var out []ethos.Role
	for _, r := range splitList(s) {
		out = append(out, ethos.Role(r))
	}
	return out
}

// deploymentStatusVerb is golive, suspend and retire.
func deploymentStatusVerb(kind ethos.ChangeKind) func(context.Context, *Env, []string) error {
	name := map[ethos.ChangeKind]string{ethos.ChangeGoLive: "golive", ethos.ChangeSuspend: "suspend", ethos.ChangeRetire: "retire"}[kind]
	return func(ctx context.Context, env *Env, args []string) error {
		fs := newFlagSet(env, "deployment "+name, "deployment "+name+" ID --reason TEXT --expected-effect TEXT --notified ROLES [--json]")
		reason, effect, notified := changeFlags(fs)
		asJSON := fs.Bool("json", false, "print as JSON")
		connect := clientFlags(env, fs)
		pos, err := parseArgs(fs, args)
		if err != nil {
			return err
		}
		if len(pos) != 1 || *reason == "" || *effect == "" || *notified == "" {
			return usagef("deployment %s needs a deployment id, --reason, --expected-effect and --notified", name)
		}
		c, err := connect()
		if err != nil {
			return err
		}
		return sendChange(ctx, env, c, pos[0], ethos.ChangeRequest{Kind: kind, Reason: *reason, ExpectedEffect: *effect, Notified: toRoles(*notified)}, *asJSON)
	}
}

func deploymentChange(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "deployment change", "deployment change ID (--model-version ID | --threshold X | --plan FILE | --site TEXT | --intended-use TEXT | --responsible USER) --reason TEXT --expected-effect TEXT --notified ROLES [--json]")
	mv := fs.String("model-version", "", "new model version (needs an approved evaluation)")
	threshold := fs.String("threshold", "", "new operating threshold")
	planFile := fs.String("plan", "", "new monitoring plan (JSON file)")
	site := fs.String("site", "", "new site")
	use := fs.String("intended-use", "", "new intended use")
	responsible := fs.String("responsible", "", "new responsible person (user id)")
	reason, effect, notified := changeFlags(fs)
	asJSON := fs.Bool("json", false, "print as JSON")
	connect := clientFlags(env, fs)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	req := ethos.ChangeRequest{Reason: *reason, ExpectedEffect: *effect, Notified: toRoles(*notified)}
	n := 0
	if *mv != "" {
		req.Kind, req.ModelVersionID = ethos.ChangeModelVersion, *mv
		n++
	}
	if *threshold != "" {
		t, err := strconv.ParseFloat(*threshold, 64)
		if err != nil {
			return usagef("--threshold: want a number")
		}
		req.Kind, req.Threshold = ethos.ChangeThreshold, &t
		n++
	}
	if *planFile != "" {
		plan, err := riskReadFile(*planFile)
		if err != nil {
			return err
		}
		req.Kind, req.Plan = ethos.ChangePlan, plan
		n++
	}
	if *site != "" {
		req.Kind, req.Site = ethos.ChangeSite, *site
		n++
	}
	if *use != "" {
		req.Kind, req.IntendedUse = ethos.ChangeIntendedUse, *use
		n++
	}
	if *responsible != "" {
		req.Kind, req.ResponsibleUserID = ethos.ChangeResponsible, *responsible
		n++
	}
	if len(pos) != 1 || n != 1 || *reason == "" || *effect == "" || *notified == "" {
		return usagef("deployment change needs a deployment id, exactly one thing to change, --reason, --expected-effect and --notified")
	}
	c, err := connect()
	if err != nil {
		return err
	}
	return sendChange(ctx, env, c, pos[0], req, *asJSON)
}

func deploymentAck(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "deployment ack", "deployment ack ID --role ROLE (--change N | --risk-revision N)")
	role := fs.String("role", "", "the role you acknowledge in (one of yours)")
	change := fs.Int("change", 0, "change number of the change log")
	revision := fs.Int("risk-revision", 0, "revision of the risk register")
	connect := clientFlags(env, fs)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || *role == "" || (*change > 0) == (*revision > 0) {
		return usagef("deployment ack needs a deployment id, --role and one of --change or --risk-revision")
	}
	c, err := connect()
	if err != nil {
		return err
	}
	base := "/api/v1/deployments/" + url.PathEscape(pos[0])
	if *change > 0 {
		var ch ethos.DeploymentChange
		if err := c.do(ctx, "POST", base+"/changes/"+strconv.Itoa(*change)+"/ack", map[string]any{"role": *role}, &ch); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "change %d acknowledged as %s; still awaiting: %s\n", ch.Seq, *role, joinRoles(ch.Pending))
		return nil
	}
	var reg ethos.RiskRegister
	if err := c.do(ctx, "POST", base+"/risk-register/ack", map[string]any{"role": *role, "revision": *revision}, &reg); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "risk register revision %d acknowledged as %s (%d acknowledgements)\n", reg.Revision, *role, len(reg.Acknowledgements))
	return nil
}

// runEvents is "ethos events post --deployment D FILE": it sends a file of
// events (JSON array or JSON lines; "-" reads stdin) in batches.
func runEvents(ctx context.Context, env *Env, args []string) error {
	if len(args) == 0 || args[0] != "post" {
		if len(args) == 0 {
			return usagef("events: missing verb (post)")
		}
		return usagef("events: unknown verb %q (want post)", args[0])
	}
	fs := newFlagSet(env, "events post", "events post --deployment ID [--labels] [--atomic] [--batch N] FILE|-")
	dep := fs.String("deployment", "", "deployment id")
	labels := fs.Bool("labels", false, "the file holds ground-truth labels, not events")
	atomic := fs.Bool("atomic", false, "per batch: store nothing if any record is rejected")
	batch := fs.Int("batch", 1000, "records per request (JSON lines input only)")
	asJSON := fs.Bool("json", false, "print the server's answers as JSON")
	connect := clientFlags(env, fs)
	pos, err := parseArgs(fs, args[1:])
	if err != nil {
		return err
	}
	if *dep == "" || len(pos) != 1 || *batch < 1 || *batch > deployment.MaxBatch {
		return usagef("events post needs --deployment and one FILE (or -), and --batch in 1..%d", deployment.MaxBatch)
	}
	var data []byte
	if pos[0] == "-" {
		data, err = io.ReadAll(io.LimitReader(env.Stdin, 1<<30))
	} else {
		data, err = os.ReadFile(pos[0])
	}
	if err != nil {
		return err
	}
	c, err := connect()
	if err != nil {
		return err
	}
	kind := "events"
	if *labels {
		kind = "labels"
	}
	path := "/api/v1/deployments/" + url.PathEscape(*dep) + "/" + kind
	if *atomic {
		path += "?atomic=true"
	}
	// A JSON array goes as one request; JSON lines are cut into batches.
	var bodies [][]byte
	var ctypes []string
	if t := bytes.TrimSpace(data); len(t) > 0 && t[0] == '[' {
		bodies, ctypes = [][]byte{t}, []string{"application/json"}
	} else {
		var lines [][]byte
		for l := range bytes.SplitSeq(data, []byte("\n")) {
			if len(bytes.TrimSpace(l)) > 0 {
				lines = append(lines, l)
			}
		}
		for i := 0; i < len(lines); i += *batch {
			bodies = append(bodies, bytes.Join(lines[i:min(i+*batch, len(lines))], []byte("\n")))
			ctypes = append(ctypes, "application/x-ndjson")
		}
	}
	var total ethos.IngestResult
	offset := 0
	for i, b := range bodies {
		res, err := c.postRaw(ctx, path, ctypes[i], b)
		if err != nil {
			return fmt.Errorf("batch %d: %w", i+1, err)
		}
		if *asJSON {
			if err := printJSON(env, res); err != nil {
				return err
			}
		}
		for _, r := range res.Rejected {
			fmt.Fprintf(env.Stderr, "record %d: %s\n", offset+r.Index, r.Reason)
			total.Rejected = append(total.Rejected, ethos.EventRejection{Index: offset + r.Index, Reason: r.Reason})
		}
		total.Received += res.Received
		total.Stored += res.Stored
		total.Duplicates += res.Duplicates
		offset += res.Received
	}
	fmt.Fprintf(env.Stdout, "%s: %d received, %d stored, %d duplicates, %d rejected\n", kind, total.Received, total.Stored, total.Duplicates, len(total.Rejected))
	if len(total.Rejected) > 0 {
		return ethos.Errorf(ethos.EINVALID, "%d records rejected", len(total.Rejected))
	}
	return nil
}

// postRaw sends a raw body and decodes an ingest answer, which comes with
// 200, 207 or (nothing stored) 400.
func (c *client) postRaw(ctx context.Context, path, ctype string, body []byte) (*ethos.IngestResult, error) {
	resp, err := c.request(ctx, "POST", path, ctype, bytes.NewReader(body), false)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	if err := errorReply(b); err != nil {
		return nil, err
	}
	var res ethos.IngestResult
	if err := json.Unmarshal(b, &res); err != nil {
		return nil, ethos.Errorf(ethos.EINTERNAL, "server answered %s", resp.Status)
	}
	return &res, nil
}

// wireDeploymentEvidence gives the server's registry the readers its
// compliance evidence needs per deployment (QC-DEP-2): the withdrawal
// obligations on the deployed model version, the monitor's QC-DEP-1
// status, and a verification of the audit log; and starts the sweep that
// writes an obligation-notice into the change log of every live or
// suspended deployment whose model version a withdrawal reached. stop
// waits for the sweep.
func wireDeploymentEvidence(ctx context.Context, a *app, dep *deployment.Registry, mon ethos.MonitorService, obligations deployment.ObligationFinder,
	every time.Duration, logger *slog.Logger) (stop func()) {
	dep.Obligations, dep.Monitoring = obligations, mon
	dep.Evidence = auditEvidence{verifier: a.logVerifier}
	if every <= 0 {
		every = time.Minute
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			n, err := dep.SweepObligationNotices(ctx)
			if err != nil && ctx.Err() == nil {
				logger.Error("obligation notices", "err", err)
			}
			if n > 0 {
				logger.Info("obligation notices written to deployment change logs", "entries", n)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

// auditEvidence observes audit-log-verified with the process's audit log
// verifier (the one the quality checks use: incremental between full
// verifications, see checks.AuditLogVerifier).
type auditEvidence struct{ verifier *checks.AuditLogVerifier }

func (e auditEvidence) Observe(ctx context.Context, key ethos.EvidenceKey) (ethos.Observation, bool, error) {
	if key != ethos.EvidenceAuditLogVerified {
		return ethos.Observation{}, false, nil
	}
	av, err := e.verifier.VerifyAuditLog(ctx)
	if err != nil {
		return ethos.Observation{}, false, fmt.Errorf("verify audit log: %w", err)
	}
	now := e.verifier.Now().UTC()
	o := ethos.Observation{Source: "audit log verification (hash tree and signed checkpoint)", At: now, OK: av.OK}
	if !av.OK {
		o.Detail = "audit log does NOT verify: " + av.Problem
	} else {
		o.Detail = fmt.Sprintf("%d events verified (%s) at %s; the signed checkpoint covers %d (%d newer, not yet signed)",
			av.Size, av.Mode, now.Format(time.RFC3339), av.CheckpointSize, av.Unsigned)
	}
	return o, true, nil
}

var _ ethos.ComplianceEvidence = auditEvidence{}

// withdrawalNotices follows a consent withdrawal after the training
// stage's follower: the obligations it opened on model versions are
// written at once as obligation-notice entries in the change log of the
// live and suspended deployments of those versions. A failure here does
// not undo the withdrawal (it has taken effect); it is logged, and the
// periodic sweep writes the notice later.
type withdrawalNotices struct {
	next   ethos.WithdrawalFollower
	dep    *deployment.Registry
	logger *slog.Logger
}

func (w withdrawalNotices) OnWithdrawal(ctx context.Context, subject ethos.SubjectKey, actor ethos.AccessRequest, requestID string) ([]*ethos.Obligation, error) {
	obs, err := w.next.OnWithdrawal(ctx, subject, actor, requestID)
	if err != nil {
		return obs, err
	}
	seen := map[string]bool{}
	for _, o := range obs {
		if o.Target.Kind != ethos.LineageModelVersion || seen[o.Target.ID] {
			continue
		}
		seen[o.Target.ID] = true
		mv := o.Target.ID
		ds, _, err := w.dep.FindDeployments(ctx, ethos.DeploymentFilter{ModelVersionID: &mv, Limit: 1000})
		if err != nil {
			w.logger.Error("obligation notices after a withdrawal", "model_version", mv, "err", err)
			continue
		}
		for _, d := range ds {
			if _, err := w.dep.NoticeObligations(ctx, d.ID); err != nil {
				w.logger.Error("obligation notices after a withdrawal", "deployment", d.ID, "err", err)
			}
		}
	}
	return obs, nil
}

var _ ethos.WithdrawalFollower = withdrawalNotices{}
