package main

import (
	"context"
	"fmt"
	"time"
)

func runToken(ctx context.Context, env *Env, args []string) error {
	return dispatch(ctx, env, "token", []subcommand{
		{"create", "create an API token (the secret is printed once)", tokenCreate},
		{"list", "list tokens with expiry, revocation and last use", tokenList},
		{"revoke", "revoke a token", tokenRevoke},
	}, args)
}

func tokenCreate(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "token create", "token create [--user ID] --name NAME [--ttl DURATION] [--json]")
	df := addDataFlags(fs)
	user := fs.String("user", "", "user the token is for (default: the acting user)")
	name := fs.String("name", "", "what the token is for")
	ttl := fs.Duration("ttl", 90*24*time.Hour, "lifetime")
	asJSON := fs.Bool("json", false, "print as JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := noArgs(fs, "token create"); err != nil {
		return err
	}
	if *ttl <= 0 {
		return usagef("--ttl must be positive")
	}
	return withData(ctx, env, df, func(ctx context.Context, in *instance) error {
		uid := *user
		if uid == "" {
			uid = userOf(ctx)
		}
		t, secret, err := in.app.CreateToken(ctx, uid, *name, *ttl)
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(env.Stdout, map[string]any{"token": t, "secret": secret})
		}
		fmt.Fprintf(env.Stdout, "Token %s for user %s, expires %s.\nSecret (shown once):\n\n    %s\n\n", t.ID, uid, fmtTime(&t.ExpiresAt), secret)
		return nil
	})
}

func tokenList(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "token list", "token list [--user ID | --all] [--json]")
	df := addDataFlags(fs)
	user := fs.String("user", "", "only this user's tokens (default: the acting user's)")
	all := fs.Bool("all", false, "every user's tokens (admin)")
	asJSON := fs.Bool("json", false, "print as JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := noArgs(fs, "token list"); err != nil {
		return err
	}
	return withData(ctx, env, df, func(ctx context.Context, in *instance) error {
		uid := *user
		if uid == "" && !*all {
			uid = userOf(ctx)
		}
		ts, _, err := in.app.FindTokens(ctx, uid)
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(env.Stdout, nonNil(ts))
		}
		now := time.Now()
		var rows [][]string
		for _, t := range ts {
			rows = append(rows, []string{t.ID, t.UserID, t.Status(now), fmtTime(&t.ExpiresAt), fmtTime(t.LastUsedAt), t.Name})
		}
		return table(env.Stdout, []string{"ID", "USER", "STATUS", "EXPIRES", "LAST USED", "NAME"}, rows)
	})
}

func tokenRevoke(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "token revoke", "token revoke TOKEN_ID")
	df := addDataFlags(fs)
	id, err := oneArgAnywhere(fs, args, "token revoke", "token id")
	if err != nil {
		return err
	}
	return withData(ctx, env, df, func(ctx context.Context, in *instance) error {
		_, err := in.app.RevokeToken(ctx, id)
		return err
	})
}
