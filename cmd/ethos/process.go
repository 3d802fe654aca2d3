package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"

	"github.com/ethos-imaging/ethos"
	ehttp "github.com/ethos-imaging/ethos/http"
	"github.com/ethos-imaging/ethos/processing"
	"github.com/ethos-imaging/ethos/sqlstore"
	"github.com/ethos-imaging/ethos/training"
)

// The processing commands open the data directory, as 'ethos ingest' does
// (the stored instances and the blob store live there), and act as one
// registered user. With --token (or $ETHOS_TOKEN) the state-changing ones
// (process run; dataset create, labels, split, export) are clients of a
// running server instead (dataset_remote.go), which holds the directory.

// processingApp is a data directory opened for processing and dataset work
// on one project.
type processingApp struct {
	*collectionApp
	project  *ethos.Project
	purpose  ethos.Purpose
	runs     *sqlstore.ProcessingService
	datasets *sqlstore.DatasetService
	caller   *processing.Caller
}

// lineageRecorder is where lineage edges go: the lineage store of the
// training stage (sqlstore.LineageService).
func lineageRecorder(a *app) ethos.LineageRecorder { return sqlstore.NewLineageService(a.store) }

// exportGate refuses an export while a consent-withdrawal obligation on
// the dataset version is open (the training stage's gate).
func exportGate(a *app) ethos.ExportGate {
	return trainingService(a, sqlstore.NewDatasetService(a.store)).ExportGate
}

func openProcessing(ctx context.Context, env *Env, data, user, project string) (*processingApp, error) {
	if project == "" {
		return nil, usagef("--project is required")
	}
	c, err := openCollection(ctx, data, pgDSN(env, ""), user)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*processingApp, error) { c.Close(); return nil, err }
	p, err := c.projects.FindProjectByID(ctx, project)
	if err != nil {
		return fail(err)
	}
	rules, err := c.instances.CollectionRules(ctx, p.ID)
	if ethos.ErrorCode(err) == ethos.ENOTFOUND {
		return fail(usagef("project %s has no collection rules (its declared purpose): set them with 'ethos ingest rules'", p.ID))
	} else if err != nil {
		return fail(err)
	}
	duas, _, err := c.duas.FindDUAs(ctx, ethos.DUAFilter{PartyID: &c.actor.PartyID, ProjectID: &p.ID, Limit: 1000})
	if err != nil {
		return fail(err)
	}
	access := c.actor
	access.DUAs = duas
	pa := &processingApp{collectionApp: c, project: p, purpose: rules.Purpose,
		runs: sqlstore.NewProcessingService(c.store), datasets: sqlstore.NewDatasetService(c.store)}
	pa.caller = &processing.Caller{Project: p, Purpose: rules.Purpose, Access: access, RequestID: "cli-" + ethos.NewID("req")}
	return pa, nil
}

func (pa *processingApp) processor() *processing.Processor {
	return &processing.Processor{Instances: pa.instances, Runs: pa.runs, Blobs: pa.blobs, Lineage: lineageRecorder(pa.app),
		Auditor: pa.auditor, Decider: pa.decider, Software: "ethos " + version()}
}

func (pa *processingApp) datasetService() *processing.Datasets {
	return &processing.Datasets{Runs: pa.runs, Instances: pa.instances, Versions: pa.datasets, Blobs: pa.blobs,
		Lineage: lineageRecorder(pa.app), Auditor: pa.auditor, Decider: pa.decider}
}

// commonFlags adds --data, --user and --project.
func commonFlags(fs *flag.FlagSet) (data, user, project *string) {
	return fs.String("data", defaultDataDir, "data directory"), fs.String("user", "", "id of the Ethos user doing this"), fs.String("project", "", "project")
}

func runProcess(ctx context.Context, env *Env, args []string) error {
	return subcommand(ctx, env, "process", args, map[string]func(context.Context, *Env, []string) error{
		"run": processRun, "list": processList, "show": processShow, "jobs": processJobs,
	}, []string{"run", "list", "show", "jobs"})
}

func processRun(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "process run", "process run --user ID --project ID --key-file FILE [--profile basic|FILE] [--option NAME,…] [--threshold 0.1] [--confidence 0.95] [--json]\n       ethos process run --project ID --key-file FILE [--server URL] [--token T | $ETHOS_TOKEN] …   (on a running server; polls until done)")
	data, user, project := commonFlags(fs)
	profile := fs.String("profile", "basic", "de-identification profile: basic (PS3.15 Basic Profile with the options given) or a JSON profile file")
	optList := fs.String("option", "", "comma-separated profile options (see 'ethos deid profile show')")
	keyFile := fs.String("key-file", "", "file holding the project's pseudonymisation secret (required: outputs must link across runs)")
	threshold := fs.Float64("threshold", ethos.DefaultBiasThreshold, "QC-PRO-2: flag a group whose exclusion rate (lower Wilson bound) exceeds the others' by more than this")
	confidence := fs.Float64("confidence", ethos.DefaultBiasConfidence, "QC-PRO-2: level of the Wilson intervals")
	asJSON := fs.Bool("json", false, "print the processing record as JSON")
	remote := projectRemote(env, fs, project)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("process run: unexpected argument %q", fs.Arg(0))
	}
	cl, err := remote()
	if err != nil {
		return err
	}
	if *keyFile == "" {
		return usagef("process run: --key-file is required")
	}
	profilePath, name := *profile, *profile
	if profilePath == "basic" {
		profilePath = ""
	} else if _, err := os.Stat(profilePath); err != nil {
		return usagef("process run: --profile is neither basic nor a readable profile file")
	}
	cfg, err := deidConfig(*optList, profilePath)
	if err != nil {
		return err
	}
	if cl != nil {
		return processRunRemote(ctx, env, cl, *project, name, profilePath, *optList, *keyFile, *threshold, *confidence, *asJSON)
	}
	keys, _, err := deidKeys(*keyFile)
	if err != nil {
		return err
	}
	pa, err := openProcessing(ctx, env, *data, *user, *project)
	if err != nil {
		return err
	}
	defer pa.Close()
	run, err := pa.processor().Run(ctx, &processing.Request{Project: pa.project, Purpose: pa.purpose, Access: pa.caller.Access, Config: cfg, Keys: keys,
		Profile: name, Bias: processing.BiasOptions{Threshold: *threshold, Confidence: *confidence}, RequestID: pa.caller.RequestID})
	if pe, ok := errors.AsType[*processing.PixelError](err); ok {
		return ethos.Errorf(ethos.EINVALID, "process run failed, nothing recorded: %v", pe)
	}
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(env, run)
	}
	printProcessingRun(env, run, false)
	return nil
}

func printProcessingRun(env *Env, r *ethos.ProcessingRun, items bool) {
	w := env.Stdout
	fmt.Fprintf(w, "%s  project %s\n  by %s  %s to %s\n  software  %s\n  profile   %s [%s] hash %s\n  key       %s\n  outcome   %d inputs, %d written, %d quarantined\n",
		r.ID, r.ProjectID, r.StartedBy, r.StartedAt.Format("2006-01-02 15:04:05"), r.FinishedAt.Format("15:04:05"), r.Software,
		r.Profile.Name, strings.Join(r.Profile.Options, ","), r.Profile.Hash, r.KeyFingerprint, r.Inputs, r.Written, r.Quarantined)
	var acts []string
	for _, a := range sortedKeys(r.Actions) {
		acts = append(acts, fmt.Sprintf("%s %d", a, r.Actions[a]))
	}
	fmt.Fprintf(w, "  actions   %s\n", strings.Join(acts, ", "))
	if b := r.Bias; b != nil {
		fmt.Fprintf(w, "  QC-PRO-2  overall exclusion %.1f%%, %d group(s) flagged (threshold %.2f, %.0f%% CI)\n", 100*b.Overall, b.Flagged, b.Threshold, 100*b.Confidence)
		for _, g := range b.Groups {
			mark := " "
			if g.Flagged {
				mark = "!"
			}
			fmt.Fprintf(w, "   %s %-10s %-10s %4d in, %4d excluded  %5.1f%% [%5.1f, %5.1f]  others %5.1f%%\n", mark, g.Attribute, g.Value, g.Before, g.Excluded, 100*g.Rate, 100*g.Lower, 100*g.Upper, 100*g.RestRate)
		}
	}
	if items {
		for _, it := range r.Items {
			line := fmt.Sprintf("  %-11s %s in %.12s", it.Status, it.InstanceID, it.InputSHA256)
			if it.Status == ethos.ItemWritten {
				line += fmt.Sprintf(" out %.12s pixels %s", it.OutputSHA256, cmp.Or(it.PixelCheck, "sha256 "+it.PixelSHA256))
			} else {
				line += ": " + strings.Join(it.Reasons, "; ")
			}
			fmt.Fprintln(w, line)
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return sortedStrings(ks)
}

func processList(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "process list", "process list --user ID --project ID [--json]")
	data, user, project := commonFlags(fs)
	asJSON := fs.Bool("json", false, "print as JSON")
	remote := remoteFlags(env, fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	runs, n, err := listProjectItems(ctx, env, remote, *data, *user, *project, "/processing-runs", func(pa *processingApp) ([]*ethos.ProcessingRun, int, error) {
		return pa.runs.FindProcessingRuns(ctx, ethos.ProcessingRunFilter{ProjectID: &pa.project.ID, Limit: 1000})
	})
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(env, map[string]any{"items": runs, "total": n})
	}
	var rows [][]string
	for _, r := range runs {
		rows = append(rows, []string{r.ID, r.StartedAt.Format("2006-01-02 15:04"), r.StartedBy, r.Profile.Name, fmt.Sprint(r.Inputs), fmt.Sprint(r.Written), fmt.Sprint(r.Quarantined)})
	}
	return table(env, "ID\tSTARTED\tBY\tPROFILE\tINPUTS\tWRITTEN\tQUARANTINED", rows)
}

func processShow(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "process show", "process show --user ID --project ID [--json] [--items] RUN")
	data, user, project := commonFlags(fs)
	asJSON := fs.Bool("json", false, "print as JSON")
	items := fs.Bool("items", false, "list every instance of the run")
	remote := remoteFlags(env, fs)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("process show needs one run id")
	}
	var r *ethos.ProcessingRun
	if cl, err := remote(); err != nil {
		return err
	} else if cl != nil {
		var out struct {
			Job *ethos.ProcessingJob `json:"job"`
			ethos.ProcessingRun
		}
		if err := remoteRead(ctx, cl, *project, "/processing-runs/"+url.PathEscape(pos[0]), nil, &out); err != nil {
			return err
		}
		if out.Job != nil {
			fmt.Fprintf(env.Stdout, "%s  %s: %d of %d instances done (not recorded yet)\n", out.Job.ID, out.Job.State, out.Job.Done, out.Job.Total)
			return nil
		}
		r = &out.ProcessingRun
	} else {
		pa, err := openProcessing(ctx, env, *data, *user, *project)
		if err != nil {
			return err
		}
		defer pa.Close()
		if err := pa.datasetService().CheckRead(ctx, pa.caller, "processing-run/"+pos[0]); err != nil {
			return err
		}
		if r, err = pa.runs.ProcessingRun(ctx, pos[0]); err != nil {
			return err
		}
		if r.ProjectID != pa.project.ID {
			return ethos.Errorf(ethos.ENOTFOUND, "processing run %s not found in project %s", pos[0], pa.project.ID)
		}
	}
	if *asJSON {
		return printJSON(env, r)
	}
	printProcessingRun(env, r, *items)
	return nil
}

// serveProcessing completes the processing stage of a server: the dataset
// work set up in runServe gains the blob store and the training stage's
// withdrawal gate for streamed exports, and processing runs started
// through the API run in a processing.Runner over the same stores as
// 'ethos process run'. The returned function stops the runner (running
// jobs are cancelled, nothing of them recorded) before the stores close.
func serveProcessing(a *app, s *ehttp.Server, col *collectionServer, ts *training.Service, pol ethos.Decider, logger *slog.Logger) func() {
	work := s.DatasetWork.(*processing.Service)
	work.Gate, work.Datasets.Blobs = ts.ExportGate, col.registry.Blobs
	s.DatasetExport = work
	runner := &processing.Runner{Projects: a.projects, Instances: work.Instances, Logger: logger, Processor: &processing.Processor{Instances: work.Instances,
		Runs: s.ProcessingRuns, Blobs: col.registry.Blobs, Lineage: ts.Lineage, Auditor: a.auditor, Decider: pol, Software: "ethos " + version()}}
	// Jobs are rows (docs/processing.md, "Jobs"); those a stopped server
	// left running are settled now and by the runner's sweep.
	jobs := sqlstore.NewProcessingJobService(a.store)
	runner.Jobs, s.ProcessingJobs = jobs, jobs
	if settled, err := runner.SettleAtStart(context.Background(), jobs.OneServer()); err != nil {
		logger.Error("settle processing jobs of a stopped server", "err", err.Error())
	} else if len(settled) > 0 {
		logger.Warn("processing jobs of a stopped server settled", "jobs", len(settled))
	}
	runner.Open()
	s.ProcessingWork = runner
	return func() { runner.Close() }
}
