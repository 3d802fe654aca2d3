package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/processing"
)

// The dataset commands open the data directory like 'ethos process' (see
// process.go); create, labels, split and export are clients of a running
// server when a token is given (dataset_remote.go).

func runDataset(ctx context.Context, env *Env, args []string) error {
	return subcommand(ctx, env, "dataset", args, map[string]func(context.Context, *Env, []string) error{
		"create": datasetCreate, "list": datasetList, "show": datasetShow, "labels": datasetLabels, "diff": datasetDiff,
		"split": datasetSplit, "datasheet": datasetDatasheet, "export": datasetExport,
	}, []string{"create", "list", "show", "labels", "diff", "split", "datasheet", "export"})
}

func datasetCreate(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "dataset create", "dataset create --user ID --project ID --run RUN [--description TEXT] [--json]   (--server/--token: on a running server)")
	data, user, project := commonFlags(fs)
	run := fs.String("run", "", "processing run whose written outputs make the version")
	desc := fs.String("description", "", "what this version is for")
	asJSON := fs.Bool("json", false, "print the version as JSON")
	remote := projectRemote(env, fs, project)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *run == "" || fs.NArg() > 0 {
		return usagef("dataset create needs --run")
	}
	if cl, err := remote(); err != nil || cl != nil {
		if err != nil {
			return err
		}
		return datasetCreateRemote(ctx, env, cl, *project, *run, *desc, *asJSON)
	}
	pa, err := openProcessing(ctx, env, *data, *user, *project)
	if err != nil {
		return err
	}
	defer pa.Close()
	v, skipped, err := pa.datasetService().Create(ctx, pa.caller, *run, *desc)
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(env, v)
	}
	fmt.Fprintf(env.Stdout, "%s  %d entries from run %s (%d outputs left out: no longer usable)\n", v.ID, len(v.Entries), v.RunID, skipped)
	return nil
}

func datasetList(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "dataset list", "dataset list --user ID --project ID [--json]")
	data, user, project := commonFlags(fs)
	asJSON := fs.Bool("json", false, "print as JSON")
	remote := projectRemote(env, fs, project)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	vs, n, err := listProjectItems(ctx, env, remote, *data, *user, *project, "/dataset-versions", func(pa *processingApp) ([]*ethos.DatasetVersion, int, error) {
		return pa.datasets.FindDatasetVersions(ctx, ethos.DatasetVersionFilter{ProjectID: &pa.project.ID, Limit: 1000})
	})
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(env, map[string]any{"items": vs, "total": n})
	}
	var rows [][]string
	for _, v := range vs {
		parent := "-"
		if v.Parent != "" {
			parent = v.Parent[:12]
		}
		rows = append(rows, []string{v.ID, v.CreatedAt.Format("2006-01-02 15:04"), v.CreatedBy, v.RunID, parent, v.Description})
	}
	return table(env, "ID\tCREATED\tBY\tRUN\tPARENT\tDESCRIPTION", rows)
}

func datasetShow(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "dataset show", "dataset show --user ID --project ID VERSION")
	data, user, project := commonFlags(fs)
	remote := projectRemote(env, fs, project)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("dataset show needs one version id")
	}
	v, err := versionFrom(ctx, env, remote, *data, *user, *project, pos[0])
	if err != nil {
		return err
	}
	v.Members = nil // internal: collection ids and subject keys stay in Ethos
	return printJSON(env, v)
}

// versionFrom reads a dataset version from the server (a token given) or
// the data directory.
func versionFrom(ctx context.Context, env *Env, remote func() (*client, error), data, user, project, id string) (*ethos.DatasetVersion, error) {
	return serverOrData(ctx, env, remote, data, user, project, func(cl *client) (*ethos.DatasetVersion, error) {
		var v ethos.DatasetVersion
		if err := remoteRead(ctx, cl, project, "/dataset-versions/"+url.PathEscape(id), nil, &v); err != nil {
			return nil, err
		}
		return &v, nil
	}, func(pa *processingApp) (*ethos.DatasetVersion, error) {
		return pa.datasetService().Version(ctx, pa.caller, id)
	})
}

func datasetLabels(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "dataset labels", "dataset labels --user ID --project ID --version V --file labels.csv [--allowed a,b] [--json]   (--server/--token: on a running server)")
	data, user, project := commonFlags(fs)
	version := fs.String("version", "", "dataset version to label")
	file := fs.String("file", "", "CSV with the columns id and label")
	allowed := fs.String("allowed", "", "comma-separated closed set of label values")
	asJSON := fs.Bool("json", false, "print the diff as JSON")
	remote := projectRemote(env, fs, project)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *version == "" || *file == "" || fs.NArg() > 0 {
		return usagef("dataset labels needs --version and --file")
	}
	if cl, err := remote(); err != nil || cl != nil {
		if err != nil {
			return err
		}
		return datasetLabelsRemote(ctx, env, cl, *project, *version, *file, *allowed, *asJSON)
	}
	f, err := os.Open(*file)
	if err != nil {
		return ethos.Errorf(ethos.EINVALID, "dataset labels: %v", err)
	}
	defer f.Close()
	pa, err := openProcessing(ctx, env, *data, *user, *project)
	if err != nil {
		return err
	}
	defer pa.Close()
	v, diff, err := pa.datasetService().ImportLabels(ctx, pa.caller, *version, f, splitList(*allowed))
	if le, ok := errors.AsType[*processing.LabelErrors](err); ok {
		for _, e := range le.Errs {
			fmt.Fprintf(env.Stderr, "%s: %s\n", *file, e)
		}
		if le.Truncated {
			fmt.Fprintf(env.Stderr, "%s: more errors not shown\n", *file)
		}
		return ethos.Errorf(ethos.EINVALID, "dataset labels: %d error(s) in %s; nothing applied", len(le.Errs), *file)
	}
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(env, map[string]any{"version": v.ID, "diff": diff})
	}
	fmt.Fprintf(env.Stdout, "%s  from %s: %d relabelled, %d unchanged\n", v.ID, v.Parent, len(diff.Relabelled), diff.Unchanged)
	return nil
}

func datasetDiff(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "dataset diff", "dataset diff --user ID --project ID [--json] FROM TO")
	data, user, project := commonFlags(fs)
	asJSON := fs.Bool("json", false, "print as JSON")
	remote := projectRemote(env, fs, project)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return usagef("dataset diff needs two version ids")
	}
	a, err := versionFrom(ctx, env, remote, *data, *user, *project, pos[0])
	if err != nil {
		return err
	}
	b, err := versionFrom(ctx, env, remote, *data, *user, *project, pos[1])
	if err != nil {
		return err
	}
	d := processing.DiffVersions(a, b)
	if *asJSON {
		return printJSON(env, d)
	}
	fmt.Fprintf(env.Stdout, "%.12s -> %.12s: %d added, %d removed, %d relabelled, %d changed, %d unchanged\n",
		a.ID, b.ID, len(d.Added), len(d.Removed), len(d.Relabelled), len(d.Changed), d.Unchanged)
	for _, id := range d.Added {
		fmt.Fprintf(env.Stdout, "+ %s\n", id)
	}
	for _, id := range d.Removed {
		fmt.Fprintf(env.Stdout, "- %s\n", id)
	}
	for _, r := range d.Relabelled {
		fmt.Fprintf(env.Stdout, "~ %s  %q -> %q\n", r.ID, r.From, r.To)
	}
	for _, id := range d.Changed {
		fmt.Fprintf(env.Stdout, "! %s\n", id)
	}
	return nil
}

func datasetSplit(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "dataset split", "dataset split --user ID --project ID --version V [--parts train=0.7,val=0.15,test=0.15] [--stratify label,sex] [--seed N] [--json]   (--server/--token: on a running server)")
	data, user, project := commonFlags(fs)
	version := fs.String("version", "", "dataset version to split")
	parts := fs.String("parts", "train=0.7,val=0.15,test=0.15", "part names and fractions (sum 1)")
	stratify := fs.String("stratify", "label", "comma-separated: label, modality, body_part or a kept attribute (sex, age, …)")
	seed := fs.Int64("seed", 1, "seed: the same seed gives the same split")
	asJSON := fs.Bool("json", false, "print the split as JSON")
	remote := projectRemote(env, fs, project)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *version == "" || fs.NArg() > 0 {
		return usagef("dataset split needs --version")
	}
	ps, err := processing.ParseParts(*parts)
	if err != nil {
		return err
	}
	sp, err := serverOrData(ctx, env, remote, *data, *user, *project, func(cl *client) (*ethos.DatasetSplit, error) {
		return datasetSplitRemote(ctx, cl, *project, *version, ps, splitList(*stratify), *seed)
	}, func(pa *processingApp) (*ethos.DatasetSplit, error) {
		return pa.datasetService().Split(ctx, pa.caller, *version, processing.SplitSpec{Parts: ps, StratifyBy: splitList(*stratify), Seed: *seed})
	})
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(env, sp)
	}
	fmt.Fprintf(env.Stdout, "%s  of %.12s, seed %d, %d patients, leakage verified: %v\n", sp.ID, sp.VersionID, sp.Seed, sp.Leakage.Patients, sp.Leakage.Verified)
	var names []string
	for _, p := range sp.Parts {
		names = append(names, p.Name)
	}
	var rows [][]string
	for _, r := range sp.Balance {
		row := []string{r.Attribute, r.Value}
		for _, n := range names {
			row = append(row, fmt.Sprintf("%d (%.0f%%)", r.Counts[n], 100*r.Fractions[n]))
		}
		rows = append(rows, row)
	}
	return table(env, "ATTRIBUTE\tVALUE\t"+strings.ToUpper(strings.Join(names, "\t")), rows)
}

func datasetDatasheet(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "dataset datasheet", "dataset datasheet --user ID --project ID --version V [--format json|md|html] [--out FILE]")
	data, user, project := commonFlags(fs)
	version := fs.String("version", "", "dataset version")
	format := fs.String("format", "md", "json, md or html")
	out := fs.String("out", "", "write to this file (atomically) instead of standard output")
	remote := projectRemote(env, fs, project)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *version == "" || fs.NArg() > 0 {
		return usagef("dataset datasheet needs --version")
	}
	if *format != "json" && *format != "md" && *format != "html" {
		return usagef("dataset datasheet: --format must be json, md or html")
	}
	if cl, err := remote(); err != nil {
		return err
	} else if cl != nil {
		var b bytes.Buffer
		if err := cl.do(ctx, "GET", projectPath(*project, "/dataset-versions/"+url.PathEscape(*version)+"/datasheet?format="+url.QueryEscape(*format)), nil, &b); err != nil {
			return err
		}
		if *out != "" {
			return writeAtomic(*out, b.Bytes(), 0o644)
		}
		_, err = env.Stdout.Write(b.Bytes())
		return err
	}
	pa, err := openProcessing(ctx, env, *data, *user, *project)
	if err != nil {
		return err
	}
	defer pa.Close()
	ds, err := pa.datasetService().Datasheet(ctx, pa.caller, *version)
	if err != nil {
		return err
	}
	var b strings.Builder
	switch *format {
	case "json":
		e := &Env{Stdout: &b}
		err = printJSON(e, ds)
	case "md":
		err = ds.WriteMarkdown(&b)
	case "html":
		err = ds.WriteHTML(&b)
	}
	if err != nil {
		return err
	}
	if *out != "" {
		return writeAtomic(*out, []byte(b.String()), 0o644)
	}
	_, err = fmt.Fprint(env.Stdout, b.String())
	return err
}

func datasetExport(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "dataset export", "dataset export --user ID --project ID --version V --out DIR [--split S] [--reweigh sex,…] [--json]\n       ethos dataset export --project ID --version V --out DIR [--server URL] [--token T | $ETHOS_TOKEN] …   (streamed from a running server)")
	data, user, project := commonFlags(fs)
	version := fs.String("version", "", "dataset version")
	out := fs.String("out", "", "directory to create (must not exist)")
	split := fs.String("split", "", "split whose parts go into the manifest")
	reweigh := fs.String("reweigh", "", "attributes for Kamiran-Calders reweighing weights in the manifest")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	remote := projectRemote(env, fs, project)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *version == "" || *out == "" || fs.NArg() > 0 {
		return usagef("dataset export needs --version and --out")
	}
	if cl, err := remote(); err != nil || cl != nil {
		if err != nil {
			return err
		}
		return datasetExportRemote(ctx, env, cl, *project, *version, *out, *split, *reweigh, *asJSON)
	}
	pa, err := openProcessing(ctx, env, *data, *user, *project)
	if err != nil {
		return err
	}
	defer pa.Close()
	res, err := pa.datasetService().Export(ctx, pa.caller, *version, *out, processing.ExportOptions{Gate: exportGate(pa.app), SplitID: *split, ReweighBy: splitList(*reweigh)})
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(env, res)
	}
	fmt.Fprintf(env.Stdout, "exported %.12s: %d files, %d bytes to %s (manifest.csv, manifest.json)\n", res.VersionID, res.Files, res.Bytes, res.Dir)
	return nil
}
