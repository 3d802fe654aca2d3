package main

import (
	"context"
	"fmt"
	"net/url"

	"github.com/ethos-imaging/ethos"
)

func runToken(ctx context.Context, env *Env, args []string) error {
	return subcommand(ctx, env, "token", args, map[string]func(context.Context, *Env, []string) error{
		"create": tokenCreate, "list": tokenList, "revoke": tokenRevoke,
	}, []string{"create", "list", "revoke"})
}

func tokenCreate(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "token create", "token create [--user ID] [--name NAME] [--days N] [--json]")
	user := fs.String("user", "", "user the token is for (default: yourself; others need admin)")
	name := fs.String("name", "", "a label, e.g. the machine it is for")
	days := fs.Int("days", 90, "lifetime in days (at most 366)")
	asJSON := fs.Bool("json", false, "print as JSON")
	connect := clientFlags(env, fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("token create takes no arguments")
	}
	if *days < 1 || *days > 366 {
		return usagef("--days: want 1 to 366")
	}
	c, err := connect()
	if err != nil {
		return err
	}
	var out struct {
		Token  ethos.Token `json:"token"`
		Secret string      `json:"secret"`
	}
	if err := c.do(ctx, "POST", "/api/v1/tokens", map[string]any{"user_id": *user, "name": *name, "expires_in_days": *days}, &out); err != nil {
		return err
	}
	if *asJSON {
		return printJSON(env, out)
	}
	fmt.Fprintf(env.Stdout, "Token %s for user %s, expires %s.\nSecret (shown once, only its hash is stored):\n\n  %s\n", out.Token.ID, out.Token.UserID, out.Token.ExpiresAt.Format("2006-01-02"), out.Secret)
	return nil
}

func tokenList(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "token list", "token list [--user ID] [--json]")
	user := fs.String("user", "", "whose tokens (default: yours; others need admin)")
	asJSON := fs.Bool("json", false, "print as JSON")
	connect := clientFlags(env, fs)
	c, err := connectFlags(fs, args, connect)
	if err != nil {
		return err
	}
	return printList(ctx, env, c, "/api/v1/tokens", setIf(url.Values{}, "user_id", *user), *asJSON, "ID\tUSER\tNAME\tEXPIRES\tLAST USED\tREVOKED", func(t ethos.Token) []string {
		return []string{t.ID, t.UserID, t.Name, fmtTime(&t.ExpiresAt), fmtTime(t.LastUsedAt), fmtTime(t.RevokedAt)}
	})
}

func tokenRevoke(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "token revoke", "token revoke ID [--json]")
	asJSON := fs.Bool("json", false, "print as JSON")
	connect := clientFlags(env, fs)
	c, id, err := connectOne(fs, args, connect, "token revoke takes one token id")
	if err != nil {
		return err
	}
	var t ethos.Token
	if err := c.do(ctx, "DELETE", "/api/v1/tokens/"+url.PathEscape(id), nil, &t); err != nil {
		return err
	}
	if *asJSON {
		return printJSON(env, t)
	}
	fmt.Fprintf(env.Stdout, "Token %s revoked at %s.\n", t.ID, fmtTime(t.RevokedAt))
	return nil
}
