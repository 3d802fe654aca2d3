package main

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/ethos-imaging/ethos"
)

func runDUA(ctx context.Context, env *Env, args []string) error {
	return subcommand(ctx, env, "dua", args, map[string]func(context.Context, *Env, []string) error{
		"create": duaCreate, "list": duaList, "revoke": duaRevoke,
	}, []string{"create", "list", "revoke"})
}

func duaCreate(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "dua create", "dua create --party ID --project ID --stages S[,S] --purposes P[,P] --views deidentified,aggregate --expires 2027-01-31T00:00:00Z [--reference REF] [--json]")
	party := fs.String("party", "", "party the agreement is with")
	project := fs.String("project", "", "project whose data it covers")
	stages := fs.String("stages", "", "comma-separated stages")
	purposes := fs.String("purposes", "", "comma-separated purposes")
	views := fs.String("views", "deidentified,aggregate", "comma-separated views: deidentified, aggregate")
	expires := fs.String("expires", "", "expiry, RFC 3339")
	ref := fs.String("reference", "", "reference of the signed agreement")
	asJSON := fs.Bool("json", false, "print as JSON")
	connect := clientFlags(env, fs)
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	if *party == "" || *project == "" || *stages == "" || *purposes == "" || *expires == "" {
		return usagef("dua create needs --party, --project, --stages, --purposes and --expires")
	}
	c, err := connect()
	if err != nil {
		return err
	}
	var d ethos.DUA
	in := map[string]any{"party_id": *party, "project_id": *project, "stages": splitList(*stages), "purposes": splitList(*purposes),
		"views": splitList(*views), "expires_at": *expires, "reference": *ref}
	if err := c.do(ctx, "POST", "/api/v1/duas", in, &d); err != nil {
		return err
	}
	if *asJSON {
		return printJSON(env, d)
	}
	fmt.Fprintf(env.Stdout, "Data-use agreement %s: party %s, project %s, stages %s, purposes %s, views %s, until %s (approved by %s)\n",
		d.ID, d.PartyID, d.ProjectID, joinAny(d.Stages), joinAny(d.Purposes), joinAny(d.Views), fmtTime(&d.ExpiresAt), d.ApprovedBy)
	return nil
}

func joinAny[T ~string](xs []T) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = string(x)
	}
	return strings.Join(s, ",")
}

func duaList(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "dua list", "dua list [--party ID] [--project ID] [--json]")
	party := fs.String("party", "", "only this party's")
	project := fs.String("project", "", "only this project's")
	asJSON := fs.Bool("json", false, "print as JSON")
	connect := clientFlags(env, fs)
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	c, err := connect()
	if err != nil {
		return err
	}
	return printList(ctx, env, c, "/api/v1/duas", setIf(setIf(url.Values{}, "party_id", *party), "project_id", *project), *asJSON, "ID\tPARTY\tPROJECT\tSTAGES\tPURPOSES\tVIEWS\tEXPIRES\tREVOKED", func(d ethos.DUA) []string {
		return []string{d.ID, d.PartyID, d.ProjectID, joinAny(d.Stages), joinAny(d.Purposes), joinAny(d.Views), fmtTime(&d.ExpiresAt), fmtTime(d.RevokedAt)}
	})
}

func duaRevoke(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "dua revoke", "dua revoke ID")
	connect := clientFlags(env, fs)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("dua revoke takes one agreement id")
	}
	c, err := connect()
	if err != nil {
		return err
	}
	return c.do(ctx, "DELETE", "/api/v1/duas/"+url.PathEscape(pos[0]), nil, nil)
}
