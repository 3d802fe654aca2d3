package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/policy"
)

func runAccess(ctx context.Context, env *Env, args []string) error {
	return dispatch(ctx, env, "access", []subcommand{
		{"check", "explain what the policy decides for a user, stage, action and purpose", accessCheck},
		{"show", "show the effective access matrix and role rules, widened cells marked", accessShow},
		{"review", "list active tokens and agreements unused for N days", accessReview},
		{"grant", "register a data-use agreement (the limited level)", accessGrant},
		{"grants", "list data-use agreements", accessGrants},
		{"revoke", "revoke a data-use agreement", accessRevoke},
	}, args)
}

func accessCheck(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "access check", "access check --user ID --action A [--project ID --stage S --purpose P --view V] [--json]")
	df := addDataFlags(fs)
	user := fs.String("user", "", "user to decide for (default: the acting user)")
	project := fs.String("project", "", "project id")
	stage := fs.String("stage", "", "lifecycle stage")
	action := fs.String("action", "read", "read, write, export, review, or a system action (manage, audit.read, token.own, project.new, directory)")
	purpose := fs.String("purpose", "", "declared purpose")
	view := fs.String("view", "", "identified, deidentified or aggregate")
	asJSON := fs.Bool("json", false, "print as JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := noArgs(fs, "access check"); err != nil {
		return err
	}
	act := ethos.Action(*action)
	if !act.Valid() {
		return usagef("--action: unknown action %q", *action)
	}
	if *stage != "" {
		if _, err := ethos.ParseStage(*stage); err != nil {
			return usagef("--stage: %s", ethos.ErrorMessage(err))
		}
	}
	if *view != "" {
		if _, err := ethos.ParseView(*view); err != nil {
			return usagef("--view: %s", ethos.ErrorMessage(err))
		}
	}
	return withData(ctx, env, df, func(ctx context.Context, in *instance) error {
		uid := *user
		if uid == "" {
			uid = userOf(ctx)
		}
		d, err := in.app.Check(ctx, uid, ethos.AccessRequest{ProjectID: *project, Stage: ethos.Stage(*stage),
			Action: act, Purpose: *purpose, View: ethos.View(*view)})
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(env.Stdout, d)
		}
		verdict := "DENY"
		if d.Allow {
			verdict = "ALLOW"
		}
		fmt.Fprintf(env.Stdout, "%s  rule %s\n%s\n", verdict, d.Rule, d.Reason)
		if d.Level != "" {
			fmt.Fprintf(env.Stdout, "matrix level: %s (%s)\n", d.Level, policy.LevelMeaning(d.Level))
		}
		if d.Widened {
			fmt.Fprintln(env.Stdout, "note: this cell is wider than the framework (policy override)")
		}
		return nil
	})
}

func accessShow(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "access show", "access show [--policy FILE [--allow-wider-than-framework]] [--json]")
	policyFile := fs.String("policy", "", "policy override file to apply")
	allowWider := fs.Bool("allow-wider-than-framework", false, "accept cells more open than the framework")
	asJSON := fs.Bool("json", false, "print as JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := noArgs(fs, "access show"); err != nil {
		return err
	}
	p, err := loadPolicy(*policyFile, *allowWider)
	if err != nil {
		return err
	}
	roles := map[string]map[string][]ethos.Role{}
	for _, a := range ethos.StageActions {
		roles[string(a)] = map[string][]ethos.Role{}
		for _, s := range ethos.Stages {
			roles[string(a)][string(s)] = policy.StageRoles(a, s)
		}
	}
	system := map[string][]ethos.Role{}
	for _, a := range ethos.SystemActions {
		system[string(a)] = policy.SystemRoles(a)
	}
	if *asJSON {
		return printJSON(env.Stdout, map[string]any{"source": policy.FrameworkSource(), "cells": p.Cells(),
			"widened": nonNil(p.Widened()), "stage_roles": roles, "system_roles": system})
	}
	fmt.Fprintf(env.Stdout, "Access matrix (default: %s)\n\n", policy.FrameworkSource())
	var rows [][]string
	for _, s := range ethos.Stages {
		row := []string{string(s), policy.StageOpenness(s)}
		for _, pt := range ethos.PartyTypes {
			for _, c := range p.Cells() {
				if c.Stage == s && c.PartyType == pt {
					v := string(c.Level)
					if c.Source == "override" {
						v += " (override; framework " + string(c.Framework) + ")"
					}
					if c.Widened {
						v += " WIDENED"
					}
					row = append(row, v)
				}
			}
		}
		rows = append(rows, row)
	}
	if err := table(env.Stdout, []string{"STAGE", "OPENNESS", "PUBLIC", "PRIVATE", "THIRD_PARTY"}, rows); err != nil {
		return err
	}
	if w := p.Widened(); len(w) > 0 {
		fmt.Fprintf(env.Stdout, "\nWARNING: %d cell(s) are more open than the framework:\n", len(w))
		for _, c := range w {
			fmt.Fprintf(env.Stdout, "  %s/%s: %s instead of %s. %s\n", c.Stage, c.PartyType, c.Level, c.Framework, c.Note)
		}
	}
	fmt.Fprintf(env.Stdout, "\nRoles within a stage (once the matrix lets the party in):\n\n")
	rows = nil
	for _, a := range ethos.StageActions {
		for _, s := range ethos.Stages {
			rows = append(rows, []string{string(a), string(s), joinRoleList(policy.StageRoles(a, s))})
		}
	}
	if err := table(env.Stdout, []string{"ACTION", "STAGE", "ROLES"}, rows); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "\nSystem actions:\n\n")
	rows = nil
	for _, a := range sortedKeys(system) {
		rows = append(rows, []string{a, joinRoleList(system[a])})
	}
	return table(env.Stdout, []string{"ACTION", "ROLES"}, rows)
}

func joinRoleList(rs []ethos.Role) string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = string(r)
	}
	return strings.Join(s, ", ")
}

func accessReview(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "access review", "access review --unused-days N [--json]")
	df := addDataFlags(fs)
	days := fs.Int("unused-days", 90, "list grants and tokens not used for this many days")
	asJSON := fs.Bool("json", false, "print as JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := noArgs(fs, "access review"); err != nil {
		return err
	}
	if *days < 1 {
		return usagef("--unused-days must be at least 1")
	}
	return withData(ctx, env, df, func(ctx context.Context, in *instance) error {
		r, err := in.app.AccessReview(ctx, *days)
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(env.Stdout, r)
		}
		fmt.Fprintf(env.Stdout, "Active tokens unused since %s: %d\n", fmtTime(&r.Since), len(r.Tokens))
		var rows [][]string
		for _, t := range r.Tokens {
			rows = append(rows, []string{t.ID, t.UserID, fmtTime(&t.CreatedAt), fmtTime(t.LastUsedAt), fmtTime(&t.ExpiresAt), t.Name})
		}
		if len(rows) > 0 {
			table(env.Stdout, []string{"TOKEN", "USER", "CREATED", "LAST USED", "EXPIRES", "NAME"}, rows)
		}
		fmt.Fprintf(env.Stdout, "\nActive data-use agreements unused since %s: %d\n", fmtTime(&r.Since), len(r.DUAs))
		rows = nil
		for _, d := range r.DUAs {
			rows = append(rows, []string{d.ID, d.PartyID, d.ProjectID, fmtTime(&d.CreatedAt), fmtTime(d.LastUsedAt), fmtTime(&d.ExpiresAt)})
		}
		if len(rows) > 0 {
			table(env.Stdout, []string{"AGREEMENT", "PARTY", "PROJECT", "CREATED", "LAST USED", "EXPIRES"}, rows)
		}
		return nil
	})
}

func accessGrant(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "access grant", "access grant --party ID --project ID --stages S1,S2 --purposes P1 --views deidentified,aggregate --expires 2027-06-30 --approved-by TEXT [--reference REF] [--json]")
	df := addDataFlags(fs)
	party := fs.String("party", "", "party the agreement is with")
	project := fs.String("project", "", "project it covers")
	stages := fs.String("stages", "", "comma-separated stages")
	purposes := fs.String("purposes", "", "comma-separated purposes")
	views := fs.String("views", "", "deidentified and/or aggregate")
	expires := fs.String("expires", "", "expiry date (YYYY-MM-DD, end of that day UTC) or RFC 3339 time")
	approved := fs.String("approved-by", "", "who approved it (e.g. the ethics committee and decision number)")
	ref := fs.String("reference", "", "agreement reference")
	asJSON := fs.Bool("json", false, "print as JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := noArgs(fs, "access grant"); err != nil {
		return err
	}
	d := &ethos.DUA{PartyID: *party, ProjectID: *project, Purposes: splitList(*purposes), ApprovedBy: *approved, Reference: *ref}
	for _, s := range splitList(*stages) {
		st, err := ethos.ParseStage(s)
		if err != nil {
			return usagef("--stages: %s", ethos.ErrorMessage(err))
		}
		d.Stages = append(d.Stages, st)
	}
	for _, s := range splitList(*views) {
		v, err := ethos.ParseView(s)
		if err != nil {
			return usagef("--views: %s", ethos.ErrorMessage(err))
		}
		d.Views = append(d.Views, v)
	}
	if t, err := time.Parse(time.DateOnly, *expires); err == nil {
		d.ExpiresAt = t.Add(24 * time.Hour)
	} else if t, err := time.Parse(time.RFC3339, *expires); err == nil {
		d.ExpiresAt = t
	} else {
		return usagef("--expires: want YYYY-MM-DD or an RFC 3339 time")
	}
	if err := d.Validate(); err != nil {
		return err
	}
	return withData(ctx, env, df, func(ctx context.Context, in *instance) error {
		if err := in.app.CreateDUA(ctx, d); err != nil {
			return err
		}
		if *asJSON {
			return printJSON(env.Stdout, d)
		}
		_, err := fmt.Fprintln(env.Stdout, d.ID)
		return err
	})
}

func accessGrants(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "access grants", "access grants [--party ID] [--project ID] [--json]")
	df := addDataFlags(fs)
	party := fs.String("party", "", "only this party's agreements")
	project := fs.String("project", "", "only this project's agreements")
	asJSON := fs.Bool("json", false, "print as JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := noArgs(fs, "access grants"); err != nil {
		return err
	}
	f := ethos.DUAFilter{}
	if *party != "" {
		f.PartyID = party
	}
	if *project != "" {
		f.ProjectID = project
	}
	return withData(ctx, env, df, func(ctx context.Context, in *instance) error {
		ds, _, err := in.app.FindDUAs(ctx, f)
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(env.Stdout, nonNil(ds))
		}
		now := time.Now()
		var rows [][]string
		for _, d := range ds {
			state := "active"
			if !d.Active(now) {
				state = "inactive"
			}
			st := make([]string, len(d.Stages))
			for i, s := range d.Stages {
				st[i] = string(s)
			}
			vs := make([]string, len(d.Views))
			for i, v := range d.Views {
				vs[i] = string(v)
			}
			rows = append(rows, []string{d.ID, d.PartyID, d.ProjectID, strings.Join(st, ","), strings.Join(d.Purposes, ","),
				strings.Join(vs, ","), fmtTime(&d.ExpiresAt), state})
		}
		return table(env.Stdout, []string{"ID", "PARTY", "PROJECT", "STAGES", "PURPOSES", "VIEWS", "EXPIRES", "STATE"}, rows)
	})
}

func accessRevoke(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "access revoke", "access revoke AGREEMENT_ID")
	df := addDataFlags(fs)
	id, err := oneArgAnywhere(fs, args, "access revoke", "agreement id")
	if err != nil {
		return err
	}
	return withData(ctx, env, df, func(ctx context.Context, in *instance) error {
		_, err := in.app.RevokeDUA(ctx, id)
		return err
	})
}
