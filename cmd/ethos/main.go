// Command ethos is the single Ethos binary: the server, the stage workflows
// and the tools (de-identification, evaluation, audit verification).
//
// main builds the signal context and calls Run; each subcommand lives in its
// own file with its own flag.FlagSet. Only main picks exit codes: 0 ok,
// 1 failure, 2 usage error, 3 a quality check fails (ethos project checks).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"

	"github.com/ethos-imaging/ethos"
)

// command is one subcommand. run parses its own flags from args.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, env *Env, args []string) error
}

// commands is the table of subcommands, sorted by name when printed.
var commands = []command{
	{"access", "explain decisions, show the effective policy, review unused access", runAccess},
	{"audit", "checkpoints, proofs, verification and export of the audit log", runAudit},
	{"collection", "collection-stage reports: representation (QC-COL-1)", runCollection},
	{"consent", "check FHIR consents and answer consent questions", runConsent},
	{"deployment", "register deployments, change them, go live, acknowledge, suspend, retire (QC-DEP-3)", runDeployment},
	{"events", "post inference events or ground-truth labels to a deployment", runEvents},
	{"deid", "de-identify a DICOM tree to PS3.15 Annex E", runDeid},
	{"drift", "compare a column of two CSV files: KS, Wasserstein, PSI, chi-square, JS", runDrift},
	{"dua", "register, list and revoke data-use agreements", runDUA},
	{"dump", "print the data elements of DICOM files", runDump},
	{"eval", "evaluate predictions overall and by group, judge criteria", runEval},
	{"evaluation", "evaluation stage: pre-registered plans, uploads, reports, model cards, sign-off (QC-EVA-1, QC-EVA-2)", runEvaluation},
	{"ingest", "consent-gated ingest of DICOM files into a project; 'ingest rules' sets its minimisation rules", runIngest},
	{"init", "create the data directory, database, audit key and first admin token", runInit},
	{"monitor", "deployment monitoring (QC-DEP-1): plans, runs, status, alerts, triage, stop-rule cases, report", runMonitor},
	{"party", "create and list parties (organisations)", runParty},
	{"process", "processing runs: de-identify a project's stored instances (QC-PRO-1, QC-PRO-2); 'dataset' builds versions from them", runProcess},
	{"dataset", "dataset versions: create, labels, diff, split, datasheet, export for training", runDataset},
	{"project", "create, list, show projects and move them between stages", runProject},
	{"risk", "risk matrix and register check (QC-DEP-3), incident deadlines, compliance checklist (QC-DEP-2)", runRisk},
	{"serve", "run the HTTP API server", runServe},
	{"token", "create, list and revoke API tokens", runToken},
	{"user", "create, list and disable users", runUser},
	{"version", "print the version of this binary", runVersion},
	{"blob", "the encrypted image store: put, get, shred, verify, rewrap", runBlob},
	{"dispose", "crypto-shred a subject's data, or dispose of instances past their retention period", runDispose},
	{"training", "register, list, show and sign off training runs (QC-TRA-1, QC-TRA-2)", runTraining},
	{"lineage", "subjects behind a model, uses of a subject, downstream/upstream of a node, PROV-JSON", runLineage},
	{"obligation", "list and resolve the obligations a consent withdrawal opens on datasets and models", runObligation},
}

// Env carries the process's streams and environment so commands stay
// testable without touching globals.
type Env struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string
}

// usageError marks an error caused by a wrong invocation (exit code 2).
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	env := &Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv}
	stopProfile := profileFromEnv(env)
	err := Run(ctx, env, os.Args[1:])
	stopProfile()
	stop()
	os.Exit(exitCode(env, err))
}

// exitCode prints err as one line and maps it to the process exit code.
func exitCode(env *Env, err error) int {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	}
	if e, ok := errors.AsType[*exitError](err); ok {
		fmt.Fprintf(env.Stderr, "ethos: %s\n", e.msg)
		return e.code
	}
	if _, ok := errors.AsType[*usageError](err); ok {
		fmt.Fprintf(env.Stderr, "ethos: %v\n", err)
		return 2
	}
	if e, ok := errors.AsType[*ethos.Error](err); ok {
		fmt.Fprintf(env.Stderr, "ethos: %s\n", e.Message)
		return 1
	}
	fmt.Fprintf(env.Stderr, "ethos: %v\n", err)
	return 1
}

// Run dispatches args to a subcommand.
func Run(ctx context.Context, env *Env, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		printUsage(env.Stdout)
		if len(args) == 0 {
			return usagef("missing command")
		}
		return nil
	}
	for _, c := range commands {
		if c.name == args[0] {
			return c.run(ctx, env, args[1:])
		}
	}
	printUsage(env.Stderr)
	return usagef("unknown command %q", args[0])
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "Usage: ethos <command> [flags]")
	fmt.Fprintln(w, "\nCommands:")
	cs := append([]command(nil), commands...)
	sort.Slice(cs, func(i, j int) bool { return cs[i].name < cs[j].name })
	for _, c := range cs {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'ethos <command> --help' for a command's flags.")
}

// newFlagSet returns a FlagSet that reports errors instead of exiting and
// prints its usage to env.Stderr.
func newFlagSet(env *Env, name, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.Usage = func() {
		fmt.Fprintf(env.Stderr, "Usage: ethos %s\n", usage)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args with fs, turning flag errors into usage errors.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &usageError{msg: err.Error()}
	}
	return nil
}
