package main

import (
	"context"
	"fmt"

	"github.com/ethos-imaging/ethos"
)

func runProject(ctx context.Context, env *Env, args []string) error {
	return dispatch(ctx, env, "project", []subcommand{
		{"create", "register a project (it starts in collection)", projectCreate},
		{"list", "list projects", projectList},
		{"show", "show a project and its stage history", projectShow},
		{"stage", "move a project to another stage, with a reason", projectStage},
	}, args)
}

func projectCreate(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "project create", "project create --name NAME --intended-use TEXT [--modality CT] [--setting TEXT] [--json]")
	df := addDataFlags(fs)
	name := fs.String("name", "", "project name")
	use := fs.String("intended-use", "", "what the model is meant to do, for whom")
	mod := fs.String("modality", "", "DICOM modality codes, e.g. CT or MR,CT")
	setting := fs.String("setting", "", "clinical setting, e.g. emergency department")
	asJSON := fs.Bool("json", false, "print as JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := noArgs(fs, "project create"); err != nil {
		return err
	}
	return withData(ctx, env, df, func(ctx context.Context, in *instance) error {
		p := &ethos.Project{Name: *name, IntendedUse: *use, Modality: *mod, ClinicalSetting: *setting}
		if err := in.app.CreateProject(ctx, p); err != nil {
			return err
		}
		if *asJSON {
			return printJSON(env.Stdout, p)
		}
		_, err := fmt.Fprintln(env.Stdout, p.ID)
		return err
	})
}

func projectList(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "project list", "project list [--stage STAGE] [--json]")
	df := addDataFlags(fs)
	stage := fs.String("stage", "", "only projects in this stage")
	asJSON := fs.Bool("json", false, "print as JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := noArgs(fs, "project list"); err != nil {
		return err
	}
	f := ethos.ProjectFilter{}
	if *stage != "" {
		st, err := ethos.ParseStage(*stage)
		if err != nil {
			return usagef("--stage: %s", ethos.ErrorMessage(err))
		}
		f.Stage = &st
	}
	return withData(ctx, env, df, func(ctx context.Context, in *instance) error {
		ps, _, err := in.app.FindProjects(ctx, f)
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(env.Stdout, nonNil(ps))
		}
		var rows [][]string
		for _, p := range ps {
			rows = append(rows, []string{p.ID, string(p.Stage), p.Modality, p.Name})
		}
		return table(env.Stdout, []string{"ID", "STAGE", "MODALITY", "NAME"}, rows)
	})
}

func projectShow(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "project show", "project show [--json] PROJECT_ID")
	df := addDataFlags(fs)
	asJSON := fs.Bool("json", false, "print as JSON")
	id, err := oneArgAnywhere(fs, args, "project show", "project id")
	if err != nil {
		return err
	}
	return withData(ctx, env, df, func(ctx context.Context, in *instance) error {
		p, h, err := in.app.FindProject(ctx, id)
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(env.Stdout, map[string]any{"project": p, "history": h})
		}
		fmt.Fprintf(env.Stdout, "%s  %s\nstage:            %s\nintended use:     %s\nmodality:         %s\nclinical setting: %s\n\nStage history:\n",
			p.ID, p.Name, p.Stage, p.IntendedUse, p.Modality, p.ClinicalSetting)
		var rows [][]string
		for _, c := range h {
			from := string(c.From)
			if from == "" {
				from = "-"
			}
			rows = append(rows, []string{fmtTime(&c.At), from, string(c.To), c.By, c.Reason})
		}
		return table(env.Stdout, []string{"AT", "FROM", "TO", "BY", "REASON"}, rows)
	})
}

func projectStage(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "project stage", "project stage --to STAGE --reason TEXT PROJECT_ID")
	df := addDataFlags(fs)
	to := fs.String("to", "", "stage to move to")
	reason := fs.String("reason", "", "why (kept in the stage history and the audit log)")
	id, err := oneArgAnywhere(fs, args, "project stage", "project id")
	if err != nil {
		return err
	}
	st, err := ethos.ParseStage(*to)
	if err != nil {
		return usagef("--to: %s", ethos.ErrorMessage(err))
	}
	return withData(ctx, env, df, func(ctx context.Context, in *instance) error {
		p, err := in.app.SetProjectStage(ctx, id, st, *reason)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(env.Stdout, "%s is now in %s\n", p.ID, p.Stage)
		return err
	})
}
