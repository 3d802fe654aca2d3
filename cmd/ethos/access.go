package main

import (
	"context"
	"fmt"
	"net/url"
	"strconv"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/policy"
)

func runAccess(ctx context.Context, env *Env, args []string) error {
	return subcommand(ctx, env, "access", args, map[string]func(context.Context, *Env, []string) error{
		"check": accessCheck, "show": accessShow, "review": accessReview,
	}, []string{"check", "show", "review"})
}

func accessCheck(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "access check", "access check --stage STAGE --action read|write|approve|audit [--purpose P] [--view V] [--project ID] [--user ID] [--json]")
	stage := fs.String("stage", "", "lifecycle stage")
	action := fs.String("action", "read", "read, write, approve or audit")
	purpose := fs.String("purpose", "", "declared purpose (research, ai-training, …)")
	view := fs.String("view", "", "full, deidentified or aggregate (read)")
	project := fs.String("project", "", "project id (owner and data-use agreements are taken into account)")
	user := fs.String("user", "", "user to check (default: yourself; others need admin, auditor or ethics reviewer)")
	asJSON := fs.Bool("json", false, "print as JSON")
	connect := clientFlags(env, fs)
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	c, err := connect()
	if err != nil {
		return err
	}
	var out struct {
		Decision   ethos.AccessDecision `json:"decision"`
		UserID     string               `json:"user_id"`
		PartyType  ethos.PartyType      `json:"party_type"`
		Roles      []ethos.Role         `json:"roles"`
		Level      ethos.AccessLevel    `json:"level"`
		Meaning    string               `json:"level_meaning"`
		ActiveDUAs []string             `json:"active_duas"`
	}
	in := map[string]string{"user_id": *user, "project_id": *project, "stage": *stage, "action": *action, "purpose": *purpose, "view": *view}
	if err := c.do(ctx, "POST", "/api/v1/access/check", in, &out); err != nil {
		return err
	}
	if *asJSON {
		return printJSON(env, out)
	}
	verdict := "DENY"
	if out.Decision.Allow {
		verdict = "ALLOW"
	}
	fmt.Fprintf(env.Stdout, "%s  (rule %s)\n  %s\n\n  user %s, %s party, roles %v\n", verdict, out.Decision.Rule, out.Decision.Reason, out.UserID, out.PartyType, out.Roles)
	if out.Level != "" {
		fmt.Fprintf(env.Stdout, "  matrix cell %s/%s = %s: %s\n", *stage, out.PartyType, out.Level, out.Meaning)
	}
	if len(out.ActiveDUAs) > 0 {
		fmt.Fprintf(env.Stdout, "  active data-use agreements of the party for the project: %v\n", out.ActiveDUAs)
	}
	return nil
}

// accessShow prints the effective policy. It is local: it reads the same
// policy file the server is started with, so an operator can review a file
// before deploying it.
func accessShow(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "access show", "access show [--policy FILE [--allow-wider-than-framework]] [--json]")
	file := fs.String("policy", "", "policy override file (default: the framework's matrix)")
	wider := fs.Bool("allow-wider-than-framework", false, "accept cells more open than the framework's")
	asJSON := fs.Bool("json", false, "print as JSON")
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	p, err := loadPolicy(*file, *wider)
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(env, map[string]any{"source": policy.Source(), "cells": p.Cells(), "widened": p.Widened()})
	}
	fmt.Fprintf(env.Stdout, "Access matrix (framework: %s)\n\n", policy.Source())
	rows := [][]string{}
	cells := p.Cells()
	for i := 0; i < len(cells); i += 3 {
		row := []string{string(cells[i].Stage), cells[i].Openness}
		for _, c := range cells[i : i+3] {
			v := string(c.Level)
			switch {
			case c.Widened:
				v += " (WIDENED from " + string(c.Framework) + ")"
			case c.Narrowed:
				v += " (narrowed from " + string(c.Framework) + ")"
			}
			row = append(row, v)
		}
		rows = append(rows, row)
	}
	if err := table(env, "STAGE\tOPENNESS\tPUBLIC\tPRIVATE\tTHIRD_PARTY", rows); err != nil {
		return err
	}
	w := p.Widened()
	if len(w) == 0 {
		fmt.Fprintln(env.Stdout, "\nNo cell is more open than the framework.")
		return nil
	}
	fmt.Fprintf(env.Stdout, "\n%d cell(s) more open than the framework (accepted with --allow-wider-than-framework):\n", len(w))
	for _, c := range w {
		fmt.Fprintf(env.Stdout, "  %s/%s: %s instead of %s  %s\n", c.Stage, c.PartyType, c.Level, c.Framework, c.Note)
	}
	return nil
}

func accessReview(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "access review", "access review [--unused-days N] [--json]")
	days := fs.Int("unused-days", 90, "list grants and tokens not used for this many days")
	asJSON := fs.Bool("json", false, "print as JSON")
	connect := clientFlags(env, fs)
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	if *days < 0 {
		return usagef("--unused-days: want 0 or more")
	}
	c, err := connect()
	if err != nil {
		return err
	}
	var out struct {
		UnusedDays int           `json:"unused_days"`
		Since      string        `json:"since"`
		DUAs       []ethos.DUA   `json:"duas"`
		Tokens     []ethos.Token `json:"tokens"`
	}
	if err := c.do(ctx, "GET", "/api/v1/access/review?unused_days="+url.QueryEscape(strconv.Itoa(*days)), nil, &out); err != nil {
		return err
	}
	if *asJSON {
		return printJSON(env, out)
	}
	fmt.Fprintf(env.Stdout, "Active grants and tokens unused since %s (%d days)\n\nData-use agreements:\n", out.Since, out.UnusedDays)
	var rows [][]string
	for _, d := range out.DUAs {
		rows = append(rows, []string{d.ID, d.PartyID, d.ProjectID, fmtTime(&d.ExpiresAt), fmtTime(d.LastUsedAt)})
	}
	if err := table(env, "ID\tPARTY\tPROJECT\tEXPIRES\tLAST USED", rows); err != nil {
		return err
	}
	fmt.Fprintln(env.Stdout, "\nTokens:")
	rows = nil
	for _, t := range out.Tokens {
		rows = append(rows, []string{t.ID, t.UserID, t.Name, fmtTime(&t.ExpiresAt), fmtTime(t.LastUsedAt)})
	}
	return table(env, "ID\tUSER\tNAME\tEXPIRES\tLAST USED", rows)
}
