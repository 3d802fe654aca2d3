package main

import (
	"context"
	"net/url"

	"github.com/ethos-imaging/ethos"
)

func runParty(ctx context.Context, env *Env, args []string) error {
	return subcommand(ctx, env, "party", args, map[string]func(context.Context, *Env, []string) error{
		"create": partyCreate, "list": partyList,
	}, []string{"create", "list"})
}

func partyCreate(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "party create", "party create --name NAME --type public|private|third_party [--json]")
	name := fs.String("name", "", "organisation name")
	typ := fs.String("type", "", "party type: public, private or third_party")
	asJSON := fs.Bool("json", false, "print as JSON")
	connect := clientFlags(env, fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *name == "" || *typ == "" || fs.NArg() > 0 {
		return usagef("party create needs --name and --type")
	}
	c, err := connect()
	if err != nil {
		return err
	}
	var p ethos.Party
	if err := c.do(ctx, "POST", "/api/v1/parties", map[string]string{"name": *name, "type": *typ}, &p); err != nil {
		return err
	}
	if *asJSON {
		return printJSON(env, p)
	}
	return table(env, "ID\tNAME\tTYPE", [][]string{{p.ID, p.Name, string(p.Type)}})
}

func partyList(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "party list", "party list [--json]")
	asJSON := fs.Bool("json", false, "print as JSON")
	limit := fs.Int("limit", 100, "at most this many")
	connect := clientFlags(env, fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	c, err := connect()
	if err != nil {
		return err
	}
	return printList(ctx, env, c, "/api/v1/parties", url.Values{"limit": {itoa(*limit)}}, *asJSON, "ID\tNAME\tTYPE", func(p ethos.Party) []string {
		return []string{p.ID, p.Name, string(p.Type)}
	})
}
