package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/evalstat"
)

// The evaluation stage's commands (docs/evaluation.md) are clients of a
// running server, like the other data commands: the plan is pre-registered
// in the server's audit log, predictions are evaluated and stored there,
// and sign-offs go through the same policy.

func runEvaluation(ctx context.Context, env *Env, args []string) error {
	return subcommand(ctx, env, "evaluation", args, map[string]func(context.Context, *Env, []string) error{
		"plan": evaluationPlan, "plans": evaluationPlans, "upload": evaluationUpload, "runs": evaluationRuns,
		"report": evaluationReport, "card": evaluationCard, "signoff": evaluationSignoff, "status": evaluationStatus, "approved": evaluationApproved,
	}, []string{"plan", "plans", "upload", "runs", "report", "card", "signoff", "status", "approved"})
}

// keyValues is a repeatable KEY=VALUE flag.
type keyValues map[string]string

func (kv keyValues) String() string { return fmt.Sprint(map[string]string(kv)) }
func (kv keyValues) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	// A group name holds "=" itself (sex=F=women): the label is after the
	// last one.
	if i := strings.LastIndex(v, "="); ok && i > len(k) {
		k, val = v[:i], v[i+1:]
	}
	if !ok || k == "" || val == "" {
		return fmt.Errorf("want GROUP=TEXT, e.g. sex=F=women")
	}
	kv[k] = val
	return nil
}

func evaluationPlan(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "evaluation plan", `evaluation plan --project ID --model-version ID --dataset-version ID --title TEXT
       --label COL --score COL --group COL [--group COL …] [--intersect] [--patient COL]
       --threshold T [--prevalence P] --criteria FILE [--bootstrap N] [--seed N]
       [--intended-use TEXT] [--group-label GROUP=TEXT …] [--min-group-size 30] [--min-class-count 5] [--json]

Pre-registers an evaluation plan (QC-EVA-2): the server appends it to the
audit log, whose entry index is printed, and stores it unchangeable. The
criteria file is a JSON list in the format of "ethos eval --criteria".`)
	in := map[string]any{}
	project := fs.String("project", "", "project `id`")
	model := fs.String("model-version", "", "model version `id` under evaluation")
	dataset := fs.String("dataset-version", "", "test data set version `id`")
	title := fs.String("title", "", "title of the evaluation")
	use := fs.String("intended-use", "", "intended use of the model, in the plan's words")
	label := fs.String("label", "", "`column` with the 0/1 outcome")
	score := fs.String("score", "", "`column` with the predicted probability")
	patient := fs.String("patient", "", "patient id `column`: the bootstrap resamples patients")
	var groups stringList
	fs.Var(&groups, "group", "subgroup attribute `column` (repeatable)")
	intersect := fs.Bool("intersect", false, "also judge every combination of the group columns")
	threshold := fs.Float64("threshold", math.NaN(), "operating threshold: flagged when score ≥ threshold")
	prevalence := fs.Float64("prevalence", 0, "target prevalence where the model is used (0: none)")
	criteria := fs.String("criteria", "", "acceptance criteria `file` (JSON list)")
	bootstrap := fs.Int("bootstrap", 1000, "bootstrap resamples")
	seed := fs.Uint64("seed", 1, "bootstrap seed")
	minGroup := fs.Int("min-group-size", 30, "groups with fewer rows are too small to judge")
	minClass := fs.Int("min-class-count", 5, "groups with fewer positives or negatives are too small to judge")
	labels := keyValues{}
	fs.Var(labels, "group-label", "plain words for a group in the plain-language report, `GROUP=TEXT` (repeatable)")
	asJSON := fs.Bool("json", false, "print as JSON")
	connect := clientFlags(env, fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return usagef("evaluation plan takes no arguments")
	case *project == "" || *model == "" || *dataset == "" || *title == "":
		return usagef("evaluation plan needs --project, --model-version, --dataset-version and --title")
	case *label == "" || *score == "" || len(groups) == 0:
		return usagef("evaluation plan needs --label, --score and at least one --group")
	case math.IsNaN(*threshold):
		return usagef("evaluation plan needs --threshold (the operating point is part of the pre-registration)")
	case *criteria == "":
		return usagef("evaluation plan needs --criteria FILE")
	}
	f, err := os.Open(*criteria)
	if err != nil {
		return ethos.Errorf(ethos.EINVALID, "criteria: %v", openError(err))
	}
	cs, err := evalstat.ReadCriteria(f)
	f.Close()
	if err != nil {
		return ethos.Errorf(ethos.EINVALID, "%s: %v", filepath.Base(*criteria), err)
	}
	in["project_id"], in["model_version_id"], in["dataset_version_id"], in["title"], in["intended_use"] = *project, *model, *dataset, *title, *use
	in["label_column"], in["score_column"], in["patient_column"], in["attributes"], in["intersect"] = *label, *score, *patient, []string(groups), *intersect
	in["threshold"], in["prevalence"], in["bootstrap"], in["seed"], in["criteria"] = *threshold, *prevalence, *bootstrap, *seed, cs
	in["min_group_size"], in["min_class_count"], in["group_labels"] = *minGroup, *minClass, map[string]string(labels)
	c, err := connect()
	if err != nil {
		return err
	}
	var p ethos.EvaluationPlan
	if err := c.do(ctx, "POST", "/api/v1/evaluation/plans", in, &p); err != nil {
		return err
	}
	if *asJSON {
		return printJSON(env, &p)
	}
	fmt.Fprintf(env.Stdout, "%s  pre-registered %s, audit log entry %d\n  model version    %s\n  test data set    %s\n  digest           %s\n",
		p.ID, p.RegisteredAt.UTC().Format("2006-01-02 15:04:05 UTC"), p.AuditIndex, p.ModelVersionID, p.DatasetVersionID, p.Digest)
	return nil
}

func evaluationPlans(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "evaluation plans", "evaluation plans --project ID [--model-version ID] [--json]")
	project := fs.String("project", "", "project `id`")
	model := fs.String("model-version", "", "only plans for this model version")
	asJSON := fs.Bool("json", false, "print as JSON")
	connect := clientFlags(env, fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *project == "" || fs.NArg() > 0 {
		return usagef("evaluation plans needs --project")
	}
	c, err := connect()
	if err != nil {
		return err
	}
	q := setIf(url.Values{"project_id": {*project}}, "model_version_id", *model)
	return printList(ctx, env, c, "/api/v1/evaluation/plans", q, *asJSON, "ID\tMODEL VERSION\tDATA SET\tREGISTERED\tAUDIT\tTITLE", func(p ethos.EvaluationPlan) []string {
		return []string{p.ID, p.ModelVersionID, p.DatasetVersionID, p.RegisteredAt.UTC().Format("2006-01-02 15:04"), fmt.Sprint(p.AuditIndex), p.Title}
	})
}

func evaluationUpload(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "evaluation upload", `evaluation upload --plan ID --in predictions.csv[.gz] [--json]

Uploads predictions for a registered plan. The server evaluates them with
the plan's settings, judges its criteria and records a new attempt (an
earlier one is kept, never overwritten). Exit status 1 when a criterion
failed.`)
	plan := fs.String("plan", "", "plan `id`")
	in := fs.String("in", "", "predictions `file` (CSV with the plan's columns, optionally gzip); - for standard input")
	asJSON := fs.Bool("json", false, "print as JSON")
	connect := clientFlags(env, fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *plan == "" || *in == "" || fs.NArg() > 0 {
		return usagef("evaluation upload needs --plan and --in")
	}
	c, err := connect()
	if err != nil {
		return err
	}
	var r io.Reader = env.Stdin
	if *in != "-" {
		f, err := os.Open(*in)
		if err != nil {
			return ethos.Errorf(ethos.EINVALID, "open predictions: %v", openError(err))
		}
		defer f.Close()
		r = f
	}
	var run ethos.EvaluationRun
	// Untimed: a large upload is evaluated before the reply; ctx bounds it.
	resp, err := c.request(ctx, "POST", "/api/v1/evaluation/plans/"+url.PathEscape(*plan)+"/predictions", "text/csv", r, true)
	if err != nil {
		return err
	}
	if err := readReply(resp, &run); err != nil {
		return err
	}
	if *asJSON {
		if err := printJSON(env, &run); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(env.Stdout, "%s  attempt %d of plan %s, audit log entry %d\n  rows      %d\n  input     %s\n  criteria  %s (%d pass, %d fail, %d undetermined)\n",
			run.ID, run.Attempt, run.PlanID, run.AuditIndex, run.Rows, run.InputDigest, run.Outcome, run.Passed, run.Failed, run.Undetermined)
	}
	if run.Failed > 0 {
		return ethos.Errorf(ethos.EINVALID, "%d acceptance criteria failed (see: ethos evaluation report --run %s)", run.Failed, run.ID)
	}
	return nil
}

func evaluationRuns(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "evaluation runs", "evaluation runs --plan ID [--json]")
	plan := fs.String("plan", "", "plan `id`")
	asJSON := fs.Bool("json", false, "print as JSON")
	connect := clientFlags(env, fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *plan == "" || fs.NArg() > 0 {
		return usagef("evaluation runs needs --plan")
	}
	c, err := connect()
	if err != nil {
		return err
	}
	return printList(ctx, env, c, "/api/v1/evaluation/plans/"+url.PathEscape(*plan)+"/runs", nil, *asJSON, "ID\tATTEMPT\tUPLOADED\tROWS\tCRITERIA\tAUDIT", func(r ethos.EvaluationRun) []string {
		return []string{r.ID, fmt.Sprint(r.Attempt), r.UploadedAt.UTC().Format("2006-01-02 15:04"), fmt.Sprint(r.Rows),
			fmt.Sprintf("%s (%d/%d/%d)", r.Outcome, r.Passed, r.Failed, r.Undetermined), fmt.Sprint(r.AuditIndex)}
	})
}

// fetchDocument writes a document of the server to --out (atomically) or
// standard output.
func fetchDocument(ctx context.Context, env *Env, c *client, path, out string) error {
	if out == "" {
		return c.do(ctx, "GET", path, nil, env.Stdout)
	}
	return writeFileAtomic(out, func(w io.Writer) error { return c.do(ctx, "GET", path, nil, w) })
}

func evaluationReport(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "evaluation report", "evaluation report --run ID [--format html|plain|json] [--out FILE]")
	run := fs.String("run", "", "attempt `id`")
	format := fs.String("format", "html", "html (full report), plain (plain-language page) or json")
	out := fs.String("out", "", "output `file` (written atomically; default standard output)")
	connect := clientFlags(env, fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *run == "" || fs.NArg() > 0 {
		return usagef("evaluation report needs --run")
	}
	switch *format {
	case "html", "plain", "json":
	default:
		return usagef("--format must be html, plain or json")
	}
	c, err := connect()
	if err != nil {
		return err
	}
	return fetchDocument(ctx, env, c, "/api/v1/evaluation/runs/"+url.PathEscape(*run)+"/report?format="+*format, *out)
}

func evaluationCard(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "evaluation card", "evaluation card --run ID [--format json|md|html] [--out FILE]")
	run := fs.String("run", "", "attempt `id`")
	format := fs.String("format", "json", "json (Model Card Toolkit fields), md or html")
	out := fs.String("out", "", "output `file` (written atomically; default standard output)")
	connect := clientFlags(env, fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *run == "" || fs.NArg() > 0 {
		return usagef("evaluation card needs --run")
	}
	switch *format {
	case "json", "md", "html":
	default:
		return usagef("--format must be json, md or html")
	}
	c, err := connect()
	if err != nil {
		return err
	}
	return fetchDocument(ctx, env, c, "/api/v1/evaluation/runs/"+url.PathEscape(*run)+"/model-card?format="+*format, *out)
}

func printStatus(env *Env, st *ethos.EvaluationStatus, asJSON bool) error {
	if asJSON {
		return printJSON(env, st)
	}
	verdict := "NOT PASSED"
	if st.Passed {
		verdict = "PASSED"
	}
	fmt.Fprintf(env.Stdout, "%s  attempt %d of plan %s (model version %s): %s\n  criteria      %s\n  ethics        %s\n  acknowledged  %t\n",
		st.RunID, st.Attempt, st.PlanID, st.ModelVersionID, verdict, st.Outcome, st.Ethics, st.Acknowledged)
	if len(st.Waived) > 0 {
		fmt.Fprintf(env.Stdout, "  waived        %s\n", strings.Join(st.Waived, ", "))
	}
	for _, b := range st.Blocking {
		fmt.Fprintf(env.Stdout, "  blocking: %s\n", b)
	}
	return nil
}

func evaluationSignoff(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "evaluation signoff", `evaluation signoff --run ID --kind ethics-review|acknowledgement|waiver
       [--decision approved|rejected] [--reason TEXT] [--waive CRITERION|acknowledgement …] [--reference TEXT] [--json]

Records a sign-off of the latest attempt: an ethics reviewer's approval or
rejection (with a reason), a non-technical reviewer's acknowledgement of
the plain-language report (QC-EVA-1), or an ethics reviewer's waiver of
criteria that did not pass. Prints the attempt's new status.`)
	run := fs.String("run", "", "attempt `id`")
	kind := fs.String("kind", "", "ethics-review, acknowledgement or waiver")
	decision := fs.String("decision", "", "for ethics-review: approved or rejected")
	reason := fs.String("reason", "", "the reason (required for an ethics review and a waiver)")
	reference := fs.String("reference", "", "reference, e.g. the committee's minute")
	var waives stringList
	fs.Var(&waives, "waive", "criterion `id` (or acknowledgement) a waiver accepts (repeatable)")
	asJSON := fs.Bool("json", false, "print as JSON")
	connect := clientFlags(env, fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *run == "" || *kind == "" || fs.NArg() > 0 {
		return usagef("evaluation signoff needs --run and --kind")
	}
	c, err := connect()
	if err != nil {
		return err
	}
	var st ethos.EvaluationStatus
	body := map[string]any{"kind": *kind, "decision": *decision, "reason": *reason, "reference": *reference, "waives": []string(waives)}
	if err := c.do(ctx, "POST", "/api/v1/evaluation/runs/"+url.PathEscape(*run)+"/signoffs", body, &st); err != nil {
		return err
	}
	return printStatus(env, &st, *asJSON)
}

func evaluationStatus(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "evaluation status", "evaluation status --run ID [--json]")
	run := fs.String("run", "", "attempt `id`")
	asJSON := fs.Bool("json", false, "print as JSON")
	connect := clientFlags(env, fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *run == "" || fs.NArg() > 0 {
		return usagef("evaluation status needs --run")
	}
	c, err := connect()
	if err != nil {
		return err
	}
	var st ethos.EvaluationStatus
	if err := c.do(ctx, "GET", "/api/v1/evaluation/runs/"+url.PathEscape(*run)+"/status", nil, &st); err != nil {
		return err
	}
	return printStatus(env, &st, *asJSON)
}

func evaluationApproved(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "evaluation approved", `evaluation approved --model-version ID

Prints the attempt that passed the evaluation stage for a model version
(criteria met or waived, ethics approval, acknowledgement); exit status 1
with the reason when there is none.`)
	model := fs.String("model-version", "", "model version `id`")
	connect := clientFlags(env, fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *model == "" || fs.NArg() > 0 {
		return usagef("evaluation approved needs --model-version")
	}
	c, err := connect()
	if err != nil {
		return err
	}
	var out struct {
		EvaluationID string `json:"evaluation_id"`
	}
	if err := c.do(ctx, "GET", "/api/v1/evaluation/approved?model_version_id="+url.QueryEscape(*model), nil, &out); err != nil {
		return err
	}
	fmt.Fprintln(env.Stdout, out.EvaluationID)
	return nil
}
