package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/evaluation"
	ehttp "github.com/ethos-imaging/ethos/http"
	"github.com/ethos-imaging/ethos/processing"
	"github.com/ethos-imaging/ethos/sqlstore"
)

func runServe(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "serve", "serve [--addr HOST:PORT] [--data DIR] [--postgres DSN] [--policy FILE [--allow-wider-than-framework]] [--log-level LEVEL] [--monitor-every DURATION] [--retention-interval D]")
	addr := fs.String("addr", "127.0.0.1:8080", "address to listen on")
	data := fs.String("data", defaultDataDir, "data directory (created on first start)")
	policyFile := fs.String("policy", "", "access policy override file (JSON); default: the framework's matrix")
	wider := fs.Bool("allow-wider-than-framework", false, "accept policy cells more open than the framework's")
	level := fs.String("log-level", "info", "log level: debug, info, warn, error")
	retention := fs.Duration("retention-interval", time.Hour, "how often to dispose of instances past their project's retention period (0: never; see 'ethos dispose --expired')")
	monitorEvery := fs.Duration("monitor-every", time.Minute, "how often the monitoring scheduler looks for windows due for checking")
	pg := fs.String("postgres", "", "store records in this PostgreSQL database instead of SQLite in --data ($ETHOS_POSTGRES); the audit keys stay in --data")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("serve takes no arguments")
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*level)); err != nil {
		return usagef("--log-level: %v", err)
	}
	logger := slog.New(slog.NewJSONHandler(env.Stderr, &slog.HandlerOptions{Level: lvl}))
	pol, err := loadPolicy(*policyFile, *wider)
	if err != nil {
		return err
	}
	for _, c := range pol.Widened() {
		logger.Warn("policy cell wider than the framework", "stage", string(c.Stage), "party_type", string(c.PartyType), "level", string(c.Level), "framework", string(c.Framework))
	}
	a, err := openApp(ctx, *data, pgDSN(env, *pg))
	if err != nil {
		return err
	}
	defer a.Close()
	a.log.Logger = logger
	ok, err := a.initialised(ctx)
	if err != nil {
		return err
	}
	if !ok {
		res, err := a.bootstrap(ctx, "Ethos operator", "public", "admin", 30)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stderr, "First start: created %s with party %s and admin %s.\nAdmin token (shown once, only its hash is stored):\n\n  %s\n\n", a.dir, res.Party.ID, res.User.ID, res.Secret)
	}
	s := ehttp.NewServer()
	s.Addr, s.Logger, s.Version = *addr, logger, version()
	s.Policy, s.Auditor, s.AuditLog, s.AuditDB, s.VerifierKey = pol, a.auditor, a.log, a.auditDB, a.verifierKey
	s.Parties, s.Users, s.Tokens, s.Projects, s.DUAs, s.Records = a.parties, a.users, a.tokens, a.projects, a.duas, a.records
	if s.UISessionKey, err = uiSessionKey(a.dir); err != nil { // web UI sessions under /ui/ (docs/ui.md)
		return err
	}
	col, closeCol, err := serveCollection(ctx, a, pol) // STOW-RS, consents, disposal (docs/ingest.md, docs/consent.md)
	if err != nil {
		return err
	}
	defer closeCol()
	s.Ingest, s.Instances, s.Consents, s.Collection = col.ingest, col.instances, col.consents, col.registry
	defer startRetention(ctx, col.registry, *retention, logger)()
	// Processing stage (docs/processing.md): records, dataset versions and
	// the dataset work; its dataset service gives training the members of
	// a version, training gives it lineage.
	datasets := sqlstore.NewDatasetService(a.store)
	s.ProcessingRuns, s.Datasets = sqlstore.NewProcessingService(a.store), datasets
	// Training register, lineage, obligations (docs/training.md).
	ts := trainingService(a, datasets)
	s.Training, s.TrainingRuns, s.Lineage, s.Obligations = ts, ts.Runs, ts.Lineage, ts.Obligations
	pinst := sqlstore.NewInstanceService(a.store)
	s.DatasetWork = &processing.Service{Projects: a.projects, Instances: pinst, Datasets: &processing.Datasets{Runs: s.ProcessingRuns, Instances: pinst,
		Versions: datasets, Lineage: ts.Lineage, Auditor: a.auditor, Decider: pol}}
	// Evaluation stage (docs/evaluation.md): plans and attempts in the
	// store, pre-registration evidence in the audit log.
	ev := evaluation.New(sqlstore.NewEvaluationStore(a.store), ehttp.LogAuditor{Log: a.log})
	ev.Projects, ev.Now, ev.Lineage, ev.Models = a.projects, s.Now, ts.Lineage, ts.Runs
	ev.CheckModelVersion = modelVersionCheck(ts.Runs)
	s.Evaluations = ev
	defer serveProcessing(a, s, col, ts, pol, logger)()         // API processing runs and exports (docs/processing.md)
	dep, closeDep := serveDeployment(a, deploymentGate{ev, ts}) // deployment stage (docs/deployment.md), gated by the evaluation stage and withdrawal obligations (lifecycle.go)
	defer closeDep()
	s.Deployments, s.Events = dep, dep
	// The audit log is stored in the same database: its durable append
	// after each batch of events flushes the batch too.
	s.DeferEventSync = sqlstore.DeferSync
	monitorSvc, monitorStore, stopMonitor := serveMonitor(ctx, a, *monitorEvery, dep, logger) // deployment monitoring (docs/monitoring.md)
	defer stopMonitor()
	s.Monitor, s.MonitorStore = monitorSvc, monitorStore
	defer wireDeploymentEvidence(ctx, a, dep, monitorSvc, ts.Obligations, *monitorEvery, logger)() // compliance evidence per deployment, withdrawal notices
	// A withdrawal's obligations reach live deployments at once.
	if col.registry.Followers != nil {
		col.registry.Followers = withdrawalNotices{next: col.registry.Followers, dep: dep, logger: logger}
	}
	s.Checks = checksService(a, s, col) // the eleven quality checks over every stage's records (docs/checks.md)
	return s.Serve(ctx, func(bound string) {
		logger.Info("listening", "addr", bound, "data", a.dir, "audit_size", a.log.Size())
	})
}

// pgDSN returns the PostgreSQL connection string from the flag or
// $ETHOS_POSTGRES ("" for SQLite).
func pgDSN(env *Env, flagValue string) string {
	if flagValue != "" {
		return flagValue
	}
	return env.Getenv("ETHOS_POSTGRES")
}

// modelVersionCheck refuses an evaluation plan for a model version the
// training register does not know, that belongs to another project, or
// that was retired.
func modelVersionCheck(runs ethos.TrainingStore) func(ctx context.Context, projectID, modelVersionID string) error {
	return func(ctx context.Context, projectID, modelVersionID string) error {
		m, err := runs.FindModelVersionByID(ctx, modelVersionID)
		if err != nil {
			return err
		}
		if m.ProjectID != projectID {
			return ethos.Errorf(ethos.EINVALID, "model version %s belongs to another project", modelVersionID)
		}
		if m.Status != ethos.ModelActive {
			return ethos.Errorf(ethos.ECONFLICT, "model version %s is %s; it cannot be evaluated for use", modelVersionID, m.Status)
		}
		return nil
	}
}
