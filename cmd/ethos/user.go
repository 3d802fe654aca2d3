package main

import (
	"context"
	"net/url"
	"strconv"
	"strings"

	"github.com/ethos-imaging/ethos"
)

func itoa(n int) string { return strconv.Itoa(n) }

func runUser(ctx context.Context, env *Env, args []string) error {
	return subcommand(ctx, env, "user", args, map[string]func(context.Context, *Env, []string) error{
		"create": userCreate, "list": userList, "disable": userDisable,
	}, []string{"create", "list", "disable"})
}

func userRoles(u ethos.User) string {
	s := make([]string, len(u.Roles))
	for i, r := range u.Roles {
		s[i] = string(r)
	}
	return strings.Join(s, ",")
}

func userCreate(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "user create", "user create --party ID --name NAME --roles ROLE[,ROLE…] [--json]")
	party := fs.String("party", "", "party id")
	name := fs.String("name", "", "display name (pseudonymous is fine)")
	roles := fs.String("roles", "", "comma-separated roles: admin, data-steward, researcher, ml-engineer, clinician, ethics-reviewer, auditor, patient-advocate")
	asJSON := fs.Bool("json", false, "print as JSON")
	connect := clientFlags(env, fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *party == "" || *name == "" || *roles == "" || fs.NArg() > 0 {
		return usagef("user create needs --party, --name and --roles")
	}
	c, err := connect()
	if err != nil {
		return err
	}
	var u ethos.User
	if err := c.do(ctx, "POST", "/api/v1/users", map[string]any{"party_id": *party, "name": *name, "roles": splitList(*roles)}, &u); err != nil {
		return err
	}
	if *asJSON {
		return printJSON(env, u)
	}
	return table(env, "ID\tPARTY\tNAME\tROLES", [][]string{{u.ID, u.PartyID, u.Name, userRoles(u)}})
}

func userList(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "user list", "user list [--party ID] [--json]")
	party := fs.String("party", "", "only users of this party")
	asJSON := fs.Bool("json", false, "print as JSON")
	connect := clientFlags(env, fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	c, err := connect()
	if err != nil {
		return err
	}
	return printList(ctx, env, c, "/api/v1/users", setIf(url.Values{}, "party_id", *party), *asJSON, "ID\tPARTY\tNAME\tROLES\tSTATE", func(u ethos.User) []string {
		state := "active"
		if u.Disabled {
			state = "disabled"
		}
		return []string{u.ID, u.PartyID, u.Name, userRoles(u), state}
	})
}

func userDisable(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "user disable", "user disable ID")
	connect := clientFlags(env, fs)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("user disable takes one user id")
	}
	c, err := connect()
	if err != nil {
		return err
	}
	return c.do(ctx, "PATCH", "/api/v1/users/"+url.PathEscape(pos[0]), map[string]any{"disabled": true}, nil)
}
