package main

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/ethos-imaging/ethos"
)

func runProject(ctx context.Context, env *Env, args []string) error {
	return subcommand(ctx, env, "project", args, map[string]func(context.Context, *Env, []string) error{
		"create": projectCreate, "list": projectList, "show": projectShow, "stage": projectStage, "checks": projectChecks,
	}, []string{"create", "list", "show", "stage", "checks"})
}

func projectCreate(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "project create", "project create --name NAME --intended-use TEXT --modality CT|MR|DX|… --setting TEXT [--party ID] [--json]")
	name := fs.String("name", "", "project name")
	use := fs.String("intended-use", "", "intended use of the AI system")
	modality := fs.String("modality", "", "DICOM modality defined term (CT, MR, DX, MG, US, …)")
	setting := fs.String("setting", "", "clinical setting, e.g. emergency department")
	party := fs.String("party", "", "owning party (default: yours)")
	asJSON := fs.Bool("json", false, "print as JSON")
	connect := clientFlags(env, fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *name == "" || *use == "" || *modality == "" || *setting == "" || fs.NArg() > 0 {
		return usagef("project create needs --name, --intended-use, --modality and --setting")
	}
	c, err := connect()
	if err != nil {
		return err
	}
	var p ethos.Project
	if err := c.do(ctx, "POST", "/api/v1/projects", map[string]string{"name": *name, "intended_use": *use, "modality": *modality, "clinical_setting": *setting, "party_id": *party}, &p); err != nil {
		return err
	}
	return printProject(env, &p, *asJSON)
}

func printProject(env *Env, p *ethos.Project, asJSON bool) error {
	if asJSON {
		return printJSON(env, p)
	}
	fmt.Fprintf(env.Stdout, "%s  %s\n  intended use      %s\n  modality          %s\n  clinical setting  %s\n  owner             %s\n  stage             %s\n  history:\n",
		p.ID, p.Name, p.IntendedUse, p.Modality, p.ClinicalSetting, p.PartyID, p.Stage)
	for _, c := range p.StageHistory {
		from := string(c.From)
		if from == "" {
			from = "-"
		}
		fmt.Fprintf(env.Stdout, "    %s  %s -> %s  by %s  %s\n", c.At.UTC().Format("2006-01-02 15:04"), from, c.To, c.By, c.Reason)
	}
	return nil
}

func projectList(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "project list", "project list [--stage STAGE] [--json]")
	stage := fs.String("stage", "", "only projects at this stage")
	asJSON := fs.Bool("json", false, "print as JSON")
	connect := clientFlags(env, fs)
	c, err := connectFlags(fs, args, connect)
	if err != nil {
		return err
	}
	return printList(ctx, env, c, "/api/v1/projects", setIf(url.Values{}, "stage", *stage), *asJSON, "ID\tNAME\tMODALITY\tSTAGE\tOWNER", func(p ethos.Project) []string {
		return []string{p.ID, p.Name, p.Modality, string(p.Stage), p.PartyID}
	})
}

func projectShow(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "project show", "project show ID [--json]")
	asJSON := fs.Bool("json", false, "print as JSON")
	connect := clientFlags(env, fs)
	c, id, err := connectOne(fs, args, connect, "project show takes one project id")
	if err != nil {
		return err
	}
	var p ethos.Project
	if err := c.do(ctx, "GET", "/api/v1/projects/"+url.PathEscape(id), nil, &p); err != nil {
		return err
	}
	return printProject(env, &p, *asJSON)
}

func projectStage(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "project stage", "project stage ID --to STAGE [--reason TEXT] [--json]")
	to := fs.String("to", "", "stage to move to: the next stage, or any earlier one")
	reason := fs.String("reason", "", "why (kept in the stage history)")
	asJSON := fs.Bool("json", false, "print as JSON")
	connect := clientFlags(env, fs)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || *to == "" {
		return usagef("project stage takes one project id and --to")
	}
	c, err := connect()
	if err != nil {
		return err
	}
	var p ethos.Project
	if err := c.do(ctx, "POST", "/api/v1/projects/"+url.PathEscape(pos[0])+"/stage", map[string]string{"stage": *to, "reason": *reason}, &p); err != nil {
		return err
	}
	return printProject(env, &p, *asJSON)
}

// projectChecks prints the eleven quality checks of a project (docs/checks.md)
// and exits with status 3 when one fails.
func projectChecks(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "project checks", "project checks ID [--json]")
	asJSON := fs.Bool("json", false, "print the checks and their evidence as JSON")
	connect := clientFlags(env, fs)
	c, id, err := connectOne(fs, args, connect, "project checks takes one project id")
	if err != nil {
		return err
	}
	var pc ethos.ProjectChecks
	if err := c.do(ctx, "GET", "/api/v1/projects/"+url.PathEscape(id)+"/checks", nil, &pc); err != nil {
		return err
	}
	if *asJSON {
		if err := printJSON(env, &pc); err != nil {
			return err
		}
	} else if err := printChecks(env, &pc); err != nil {
		return err
	}
	var failing []string
	for _, q := range pc.Checks {
		if q.Status == ethos.CheckFail {
			failing = append(failing, checkName(q))
		}
	}
	if len(failing) > 0 {
		return &exitError{code: 3, msg: fmt.Sprintf("project %s fails %d quality checks: %s", pc.ProjectID, len(failing), strings.Join(failing, ", "))}
	}
	return nil
}

func checkName(q *ethos.QualityCheck) string {
	if q.Scope != "" {
		return q.ID + " (" + q.Scope + ")"
	}
	return q.ID
}

// printChecks prints one row per check, then what stands in the way of
// each check that does not pass.
func printChecks(env *Env, pc *ethos.ProjectChecks) error {
	fmt.Fprintf(env.Stdout, "Project %s, stage %s, checked %s\n\n", pc.ProjectID, pc.Stage, pc.CheckedAt.UTC().Format("2006-01-02 15:04:05Z"))
	rows := make([][]string, 0, len(pc.Checks))
	for _, q := range pc.Checks {
		scope := q.Scope
		if scope == "" {
			scope = "project"
		}
		rows = append(rows, []string{q.ID, scope, strings.ToUpper(string(q.Status)), q.Summary})
	}
	if err := table(env, "CHECK\tSCOPE\tSTATUS\tSUMMARY", rows); err != nil {
		return err
	}
	for _, q := range pc.Checks {
		if q.Status == ethos.CheckPass || len(q.Problems) == 0 {
			continue
		}
		fmt.Fprintf(env.Stdout, "\n%s %s:\n", checkName(q), q.Status)
		for _, p := range q.Problems {
			fmt.Fprintf(env.Stdout, "  - %s\n", p)
		}
	}
	return nil
}
