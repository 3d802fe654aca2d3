package main

import (
	"bufio"
	"context"
	"fmt"
	"net/url"
	"strconv"

	"github.com/ethos-imaging/ethos"
)

// ethos lineage: questions to the provenance graph of a running server
// (docs/lineage.md): the subjects behind a model, the datasets and models
// that used a subject, what lies downstream or upstream of a node, and a
// PROV-JSON export.

func runLineage(ctx context.Context, env *Env, args []string) error {
	return subcommand(ctx, env, "lineage", args, map[string]func(context.Context, *Env, []string) error{
		"subjects": lineageSubjects, "uses": lineageUses, "downstream": lineageWalk("downstream"), "upstream": lineageWalk("upstream"), "prov": lineageProv,
	}, []string{"subjects", "uses", "downstream", "upstream", "prov"})
}

func lineageSubjects(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "lineage subjects", "lineage subjects --model MODEL_VERSION [--json]")
	model := fs.String("model", "", "model version id")
	asJSON := fs.Bool("json", false, "print as JSON")
	connect := clientFlags(env, fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *model == "" || fs.NArg() > 0 {
		return usagef("lineage subjects needs --model")
	}
	c, err := connect()
	if err != nil {
		return err
	}
	var out struct {
		Model    string   `json:"model_version"`
		Subjects []string `json:"subjects"`
		Count    int      `json:"count"`
	}
	if err := c.do(ctx, "GET", "/api/v1/lineage/subjects?"+url.Values{"model": {*model}}.Encode(), nil, &out); err != nil {
		return err
	}
	if *asJSON {
		return printJSON(env, out)
	}
	fmt.Fprintf(env.Stdout, "model version %s: %d subjects\n", out.Model, out.Count)
	for _, s := range out.Subjects {
		fmt.Fprintln(env.Stdout, s)
	}
	return nil
}

func lineageUses(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "lineage uses", "lineage uses --subject KEY [--json]")
	subject := fs.String("subject", "", "subject key (64 hex digits)")
	asJSON := fs.Bool("json", false, "print as JSON")
	connect := clientFlags(env, fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if !ethos.SubjectKey(*subject).Valid() || fs.NArg() > 0 {
		return usagef("lineage uses needs --subject with a subject key of 64 lowercase hex digits")
	}
	c, err := connect()
	if err != nil {
		return err
	}
	var out struct {
		Subject         string   `json:"subject"`
		DatasetVersions []string `json:"dataset_versions"`
		TrainingRuns    []string `json:"training_runs"`
		ModelVersions   []string `json:"model_versions"`
	}
	if err := c.do(ctx, "GET", "/api/v1/lineage/uses?"+url.Values{"subject": {*subject}}.Encode(), nil, &out); err != nil {
		return err
	}
	if *asJSON {
		return printJSON(env, out)
	}
	var rows [][]string
	for _, d := range out.DatasetVersions {
		rows = append(rows, []string{"dataset-version", d})
	}
	for _, r := range out.TrainingRuns {
		rows = append(rows, []string{"training-run", r})
	}
	for _, m := range out.ModelVersions {
		rows = append(rows, []string{"model-version", m})
	}
	return table(env, "KIND\tID", rows)
}

func lineageWalk(direction string) func(ctx context.Context, env *Env, args []string) error {
	return func(ctx context.Context, env *Env, args []string) error {
		fs := newFlagSet(env, "lineage "+direction, "lineage "+direction+" --node KIND:ID [--walk all|derivations] [--kind K1,K2] [--limit N [--cursor C] | --all [--limit N]] [--json]")
		node := fs.String("node", "", "the node, e.g. processing-run:prc_… or dataset-version:…")
		walk := fs.String("walk", "all", "all: every relation; derivations: wasDerivedFrom only (entity to entity)")
		kinds := fs.String("kind", "", "only nodes of these kinds (comma-separated)")
		limit := fs.Int("limit", 0, "a page of at most N nodes in walk order, nearest first (up to 10000); the next page's cursor goes to standard error")
		cursor := fs.String("cursor", "", "continue after the page that printed this cursor")
		all := fs.Bool("all", false, "every page in walk order, printed as each arrives (pages of --limit, default 5000)")
		asJSON := fs.Bool("json", false, "print as JSON")
		connect := clientFlags(env, fs)
		if err := parseFlags(fs, args); err != nil {
			return err
		}
		if *node == "" || fs.NArg() > 0 {
			return usagef("lineage %s needs --node KIND:ID", direction)
		}
		if _, err := ethos.ParseLineageNode(*node); err != nil {
			return usagef("--node: %s", ethos.ErrorMessage(err))
		}
		if *limit < 0 || *all && *cursor != "" {
			return usagef("lineage %s: --limit must be positive; --all starts from the first page (no --cursor)", direction)
		}
		c, err := connect()
		if err != nil {
			return err
		}
		q := url.Values{"node": {*node}, "walk": {*walk}}
		if *kinds != "" {
			q.Set("kind", *kinds)
		}
		type reply struct {
			Nodes []ethos.LineageNode `json:"nodes"`
			Count int                 `json:"count"`
			Next  string              `json:"next,omitempty"`
		}
		if !*all && *limit == 0 && *cursor == "" {
			// The whole walk at once, sorted by kind and id.
			var out reply
			if err := c.do(ctx, "GET", "/api/v1/lineage/"+direction+"?"+q.Encode(), nil, &out); err != nil {
				return err
			}
			if *asJSON {
				return printJSON(env, out)
			}
			return printNodes(env, out.Nodes, true)
		}
		size := *limit
		if size == 0 {
			size = 5000
		}
		q.Set("limit", strconv.Itoa(size))
		setIf(q, "cursor", *cursor)
		var every []ethos.LineageNode
		for first := true; ; first = false {
			var out reply
			if err := c.do(ctx, "GET", "/api/v1/lineage/"+direction+"?"+q.Encode(), nil, &out); err != nil {
				return err
			}
			switch {
			case !*all && *asJSON:
				return printJSON(env, out)
			case !*all:
				if out.Next != "" {
					fmt.Fprintf(env.Stderr, "more: --cursor %s\n", out.Next)
				}
				return printNodes(env, out.Nodes, true)
			case *asJSON:
				every = append(every, out.Nodes...)
			default:
				if err := printNodes(env, out.Nodes, first); err != nil {
					return err
				}
			}
			if out.Next == "" {
				break
			}
			q.Set("cursor", out.Next)
		}
		if *asJSON {
			return printJSON(env, reply{Nodes: every, Count: len(every)})
		}
		return nil
	}
}

// printNodes prints nodes as KIND and ID columns (with the header when
// header is set). Kinds are short, so the columns line up page by page.
func printNodes(env *Env, nodes []ethos.LineageNode, header bool) error {
	w := bufio.NewWriter(env.Stdout)
	if header {
		fmt.Fprintf(w, "%-16s  %s\n", "KIND", "ID")
	}
	for _, n := range nodes {
		fmt.Fprintf(w, "%-16s  %s\n", n.Kind, n.ID)
	}
	return w.Flush()
}

func lineageProv(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "lineage prov", "lineage prov (--project ID | --node KIND:ID) [--out FILE]")
	project := fs.String("project", "", "export the project's graph: every processing run, dataset version and training run")
	node := fs.String("node", "", "export the neighbourhood of this node")
	out := fs.String("out", "", "write the PROV-JSON document to FILE (atomically) instead of standard output")
	connect := clientFlags(env, fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if (*project == "") == (*node == "") || fs.NArg() > 0 {
		return usagef("lineage prov needs one of --project and --node")
	}
	c, err := connect()
	if err != nil {
		return err
	}
	q := url.Values{}
	if *project != "" {
		q.Set("project", *project)
	} else {
		q.Set("node", *node)
	}
	var doc ethos.ProvDocument
	if err := c.do(ctx, "GET", "/api/v1/lineage/prov?"+q.Encode(), nil, &doc); err != nil {
		return err
	}
	if *out != "" {
		return writeJSONAtomic(*out, &doc)
	}
	return printJSON(env, &doc)
}
