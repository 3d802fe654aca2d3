package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/sqlstore"
	"github.com/ethos-imaging/ethos/training"
)

// ethos training and ethos obligation: clients of a running server for
// the training-run register (QC-TRA-1, QC-TRA-2) and the obligations a
// consent withdrawal opens (docs/training.md).

// trainingService builds the training stage over the app's store. members
// is the processing stage's dataset service; nil until it is wired, and
// registration then answers not_implemented.
func trainingService(a *app, members training.DatasetMembers) *training.Service {
	return &training.Service{Runs: sqlstore.NewTrainingStore(a.store), Obligations: sqlstore.NewObligationService(a.store),
		Lineage: sqlstore.NewLineageService(a.store), Members: members, Instances: sqlstore.NewInstanceService(a.store),
		Consents: sqlstore.NewConsentService(a.store), Auditor: a.auditor}
}

func runTraining(ctx context.Context, env *Env, args []string) error {
	return subcommand(ctx, env, "training", args, map[string]func(context.Context, *Env, []string) error{
		"register": trainingRegister, "list": trainingList, "show": trainingShow, "signoff": trainingSignOff,
	}, []string{"register", "list", "show", "signoff"})
}

// runKeyValues is a repeatable KEY=VALUE flag.
type runKeyValues map[string]string

func (kv runKeyValues) String() string { return "" }

func (kv runKeyValues) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("want KEY=VALUE, not %q", s)
	}
	if _, dup := kv[k]; dup {
		return fmt.Errorf("%s given twice", k)
	}
	kv[k] = v
	return nil
}

// artefactSHA256 hashes the artefact at path.
func artefactSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func trainingRegister(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "training register", "training register --project ID --dataset VERSION --split NAME --commit SHA --model-name NAME (--model-file PATH | --model-sha256 HEX) [--repo URL] [--param K=V]… [--env K=V]… [--metric K=NUMBER]… [--started RFC3339] [--finished RFC3339] [--json]")
	project := fs.String("project", "", "project id")
	dataset := fs.String("dataset", "", "dataset version id")
	split := fs.String("split", "train", "split of the dataset version used for training")
	commit := fs.String("commit", "", "git commit of the training code")
	repo := fs.String("repo", "", "repository of the training code")
	name := fs.String("model-name", "", "model name")
	modelFile := fs.String("model-file", "", "model artefact to hash (SHA-256)")
	modelSHA := fs.String("model-sha256", "", "SHA-256 of the model artefact, when the file is elsewhere")
	started := fs.String("started", "", "when training started (RFC 3339)")
	finished := fs.String("finished", "", "when training finished (RFC 3339)")
	params, environ, metricStr := runKeyValues{}, runKeyValues{}, runKeyValues{}
	fs.Var(params, "param", "hyper-parameter KEY=VALUE (repeatable)")
	fs.Var(environ, "env", "environment entry KEY=VALUE, e.g. torch=2.4.1 (repeatable)")
	fs.Var(metricStr, "metric", "summary metric KEY=NUMBER (repeatable)")
	asJSON := fs.Bool("json", false, "print as JSON")
	connect := clientFlags(env, fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *project == "" || *dataset == "" || *commit == "" || *name == "" || fs.NArg() > 0 {
		return usagef("training register needs --project, --dataset, --commit and --model-name")
	}
	if (*modelFile == "") == (*modelSHA == "") {
		return usagef("training register needs one of --model-file and --model-sha256")
	}
	sum := strings.ToLower(*modelSHA)
	if *modelFile != "" {
		var err error
		if sum, err = artefactSHA256(*modelFile); err != nil {
			return err
		}
	}
	metrics := map[string]float64{}
	for k, v := range metricStr {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return usagef("--metric %s: %q is not a number", k, v)
		}
		metrics[k] = f
	}
	in := map[string]any{"dataset_version": *dataset, "split": *split, "code_version": strings.ToLower(*commit), "code_repository": *repo,
		"model_name": *name, "model_sha256": sum, "parameters": params, "environment": environ, "metrics": metrics}
	for flagName, v := range map[string]string{"started_at": *started, "finished_at": *finished} {
		if v == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return usagef("--%s: want an RFC 3339 time, e.g. 2026-11-26T10:00:00Z", strings.TrimSuffix(flagName, "_at"))
		}
		in[flagName] = t
	}
	c, err := connect()
	if err != nil {
		return err
	}
	var run ethos.TrainingRun
	if err := c.do(ctx, "POST", "/api/v1/projects/"+url.PathEscape(*project)+"/training/runs", in, &run); err != nil {
		return err
	}
	return printRun(env, &run, *asJSON)
}

func printRun(env *Env, r *ethos.TrainingRun, asJSON bool) error {
	if asJSON {
		return printJSON(env, r)
	}
	w := env.Stdout
	fmt.Fprintf(w, "%s  %s\n", r.ID, r.Status)
	fmt.Fprintf(w, "  project          %s\n  dataset version  %s (split %s)\n  code             %s %s\n", r.ProjectID, r.DatasetVersion, r.Split, r.CodeVersion, r.CodeRepository)
	fmt.Fprintf(w, "  model version    %s  %s  sha256 %s\n", r.ModelVersion, r.ModelName, r.ModelSHA256)
	fmt.Fprintf(w, "  registered       %s by %s\n", r.RegisteredAt.UTC().Format(time.RFC3339), r.RegisteredBy)
	for _, sec := range []struct {
		name string
		m    map[string]string
	}{{"parameters", r.Parameters}, {"environment", r.Environment}} {
		for _, k := range slices.Sorted(maps.Keys(sec.m)) {
			fmt.Fprintf(w, "  %-16s %s = %s\n", sec.name, k, sec.m[k])
		}
	}
	for _, k := range slices.Sorted(maps.Keys(r.Metrics)) {
		fmt.Fprintf(w, "  %-16s %s = %g\n", "metric", k, r.Metrics[k])
	}
	if c := r.Coverage; c != nil {
		fmt.Fprintf(w, "  consent          %d/%d instances of %d subjects covered for %s at %s (QC-TRA-2)\n", c.Covered, c.Instances, c.Subjects, c.Purpose, c.CheckedAt.Format(time.RFC3339))
	}
	for _, s := range r.Sources {
		fmt.Fprintf(w, "  source           %s (%d instances)\n", s.Source, s.Instances)
	}
	if so := r.SignOff; so != nil {
		fmt.Fprintf(w, "  sign-off         %s by %s at %s %s\n", so.Decision, so.Reviewer, so.At.UTC().Format(time.RFC3339), so.Note)
	} else {
		fmt.Fprintf(w, "  sign-off         waiting for a named reviewer (QC-TRA-1)\n")
	}
	return nil
}

func trainingList(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "training list", "training list --project ID [--dataset VERSION] [--status registered|signed-off|rejected] [--json]")
	project := fs.String("project", "", "project id")
	dataset := fs.String("dataset", "", "only runs on this dataset version")
	status := fs.String("status", "", "only runs with this status")
	asJSON := fs.Bool("json", false, "print as JSON")
	connect := clientFlags(env, fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *project == "" || fs.NArg() > 0 {
		return usagef("training list needs --project")
	}
	c, err := connect()
	if err != nil {
		return err
	}
	q := setIf(setIf(url.Values{}, "dataset_version", *dataset), "status", *status)
	return printList(ctx, env, c, "/api/v1/projects/"+url.PathEscape(*project)+"/training/runs", q, *asJSON,
		"ID\tDATASET\tMODEL\tSTATUS\tREVIEWER\tREGISTERED", func(r ethos.TrainingRun) []string {
			reviewer := "-"
			if r.SignOff != nil {
				reviewer = r.SignOff.Reviewer
			}
			return []string{r.ID, r.DatasetVersion, r.ModelVersion, string(r.Status), reviewer, r.RegisteredAt.UTC().Format("2006-01-02 15:04")}
		})
}

func trainingShow(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "training show", "training show --project ID RUN [--json]")
	project := fs.String("project", "", "project id")
	asJSON := fs.Bool("json", false, "print as JSON")
	connect := clientFlags(env, fs)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || *project == "" {
		return usagef("training show takes --project and one run id")
	}
	c, err := connect()
	if err != nil {
		return err
	}
	var run ethos.TrainingRun
	if err := c.do(ctx, "GET", "/api/v1/projects/"+url.PathEscape(*project)+"/training/runs/"+url.PathEscape(pos[0]), nil, &run); err != nil {
		return err
	}
	return printRun(env, &run, *asJSON)
}

func trainingSignOff(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "training signoff", "training signoff --project ID RUN --decision approved|rejected [--note TEXT] [--json]")
	project := fs.String("project", "", "project id")
	decision := fs.String("decision", "", "approved or rejected")
	note := fs.String("note", "", "the reviewer's note (no patient identifiers)")
	asJSON := fs.Bool("json", false, "print as JSON")
	connect := clientFlags(env, fs)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || *project == "" || *decision == "" {
		return usagef("training signoff takes --project, --decision and one run id")
	}
	c, err := connect()
	if err != nil {
		return err
	}
	var run ethos.TrainingRun
	if err := c.do(ctx, "POST", "/api/v1/projects/"+url.PathEscape(*project)+"/training/runs/"+url.PathEscape(pos[0])+"/signoff",
		map[string]string{"decision": *decision, "note": *note}, &run); err != nil {
		return err
	}
	return printRun(env, &run, *asJSON)
}

func runObligation(ctx context.Context, env *Env, args []string) error {
	return subcommand(ctx, env, "obligation", args, map[string]func(context.Context, *Env, []string) error{
		"list": obligationList, "show": obligationShow, "resolve": obligationResolve,
	}, []string{"list", "show", "resolve"})
}

func obligationList(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "obligation list", "obligation list [--project ID] [--status open|resolved] [--target KIND:ID] [--json]")
	project := fs.String("project", "", "only this project's (without it: audit roles only)")
	status := fs.String("status", "", "open or resolved")
	target := fs.String("target", "", "only obligations on this dataset-version:ID or model-version:ID")
	asJSON := fs.Bool("json", false, "print as JSON")
	connect := clientFlags(env, fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("obligation list takes no arguments")
	}
	c, err := connect()
	if err != nil {
		return err
	}
	q := setIf(setIf(setIf(url.Values{}, "project", *project), "status", *status), "target", *target)
	return printList(ctx, env, c, "/api/v1/obligations", q, *asJSON,
		"ID\tSTATUS\tTARGET\tSUBJECT\tPROJECT\tOPENED\tRESOLUTION", func(o ethos.Obligation) []string {
			res := "-"
			if o.Resolution != nil {
				res = string(o.Resolution.Action) + " by " + o.Resolution.By
			}
			return []string{o.ID, string(o.Status), o.Target.String(), o.Subject.Short(), orDash(o.ProjectID), o.OpenedAt.UTC().Format("2006-01-02 15:04"), res}
		})
}

func printObligation(env *Env, o *ethos.Obligation, asJSON bool) error {
	if asJSON {
		return printJSON(env, o)
	}
	fmt.Fprintf(env.Stdout, "%s  %s\n  target   %s\n  subject  %s\n  project  %s\n  cause    %s\n  opened   %s by %s\n",
		o.ID, o.Status, o.Target, o.Subject.Short(), orDash(o.ProjectID), o.Cause, o.OpenedAt.UTC().Format(time.RFC3339), o.OpenedBy)
	if r := o.Resolution; r != nil {
		fmt.Fprintf(env.Stdout, "  resolved %s by %s at %s\n  reference %s\n  note     %s\n", r.Action, r.By, r.At.UTC().Format(time.RFC3339), orDash(r.Reference), r.Note)
	}
	return nil
}

func obligationShow(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "obligation show", "obligation show ID [--json]")
	asJSON := fs.Bool("json", false, "print as JSON")
	connect := clientFlags(env, fs)
	c, id, err := connectOne(fs, args, connect, "obligation show takes one obligation id")
	if err != nil {
		return err
	}
	var o ethos.Obligation
	if err := c.do(ctx, "GET", "/api/v1/obligations/"+url.PathEscape(id), nil, &o); err != nil {
		return err
	}
	return printObligation(env, &o, *asJSON)
}

func obligationResolve(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "obligation resolve", "obligation resolve ID --action retrain|exemption|retire [--reference REF] --note TEXT [--json]")
	action := fs.String("action", "", "retrain (reference: the new version, built without the subject), exemption (reference: the justifying document) or retire")
	ref := fs.String("reference", "", "new version id, or exemption document")
	note := fs.String("note", "", "justification (no patient identifiers)")
	asJSON := fs.Bool("json", false, "print as JSON")
	connect := clientFlags(env, fs)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || *action == "" || *note == "" {
		return usagef("obligation resolve takes one obligation id, --action and --note")
	}
	c, err := connect()
	if err != nil {
		return err
	}
	var o ethos.Obligation
	if err := c.do(ctx, "POST", "/api/v1/obligations/"+url.PathEscape(pos[0])+"/resolve", map[string]string{"action": *action, "reference": *ref, "note": *note}, &o); err != nil {
		return err
	}
	return printObligation(env, &o, *asJSON)
}
