package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
)

func runInit(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "init", "init [--data DIR] [--log-name NAME] [--json]")
	dir := fs.String("data", defaultDir, "data directory to create")
	logName := fs.String("log-name", "", "name of the audit log's signing key (default ethos-audit.<hostname>)")
	asJSON := fs.Bool("json", false, "print as JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("init takes no arguments")
	}
	if strings.ContainsAny(*logName, " +") {
		return usagef("--log-name must not contain spaces or '+'")
	}
	cfg, secret, err := initDir(ctx, *dir, *logName, quietLogger(env))
	if err != nil {
		return err
	}
	return printInit(env, *dir, cfg, secret, *asJSON)
}

func printInit(env *Env, dir string, cfg config, secret string, asJSON bool) error {
	if asJSON {
		return printJSON(env.Stdout, map[string]string{"data": dir, "admin_user_id": cfg.AdminUserID,
			"admin_party_id": cfg.AdminPartyID, "admin_token": secret, "audit_verifier_key": filepath.Join(dir, pubFile)})
	}
	fmt.Fprintf(env.Stdout, "Initialized %s (admin user %s).\n", dir, cfg.AdminUserID)
	fmt.Fprintf(env.Stdout, "Admin token (shown once, only its hash is stored):\n\n    %s\n\n", secret)
	fmt.Fprintf(env.Stdout, "Audit verifier key for auditors: %s\n", filepath.Join(dir, pubFile))
	return nil
}
