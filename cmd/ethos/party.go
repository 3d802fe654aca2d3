package main

import (
	"context"
	"fmt"

	"github.com/ethos-imaging/ethos"
)

func runParty(ctx context.Context, env *Env, args []string) error {
	return dispatch(ctx, env, "party", []subcommand{
		{"create", "register an organisation (public, private or third_party)", partyCreate},
		{"list", "list organisations", partyList},
	}, args)
}

func partyCreate(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "party create", "party create --name NAME --type public|private|third_party [--json]")
	df := addDataFlags(fs)
	name := fs.String("name", "", "organisation name")
	typ := fs.String("type", "", "public, private or third_party")
	asJSON := fs.Bool("json", false, "print as JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := noArgs(fs, "party create"); err != nil {
		return err
	}
	pt, err := ethos.ParsePartyType(*typ)
	if err != nil {
		return usagef("--type: %s", ethos.ErrorMessage(err))
	}
	return withData(ctx, env, df, func(ctx context.Context, in *instance) error {
		p := &ethos.Party{Name: *name, Type: pt}
		if err := in.app.CreateParty(ctx, p); err != nil {
			return err
		}
		if *asJSON {
			return printJSON(env.Stdout, p)
		}
		_, err := fmt.Fprintln(env.Stdout, p.ID)
		return err
	})
}

func partyList(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "party list", "party list [--json]")
	df := addDataFlags(fs)
	asJSON := fs.Bool("json", false, "print as JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := noArgs(fs, "party list"); err != nil {
		return err
	}
	return withData(ctx, env, df, func(ctx context.Context, in *instance) error {
		ps, _, err := in.app.FindParties(ctx, ethos.PartyFilter{})
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(env.Stdout, nonNil(ps))
		}
		var rows [][]string
		for _, p := range ps {
			rows = append(rows, []string{p.ID, string(p.Type), p.Name})
		}
		return table(env.Stdout, []string{"ID", "TYPE", "NAME"}, rows)
	})
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
