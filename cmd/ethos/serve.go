package main

import (
	"context"
	"fmt"
	"log/slog"

	ehttp "github.com/ethos-imaging/ethos/http"
)

func runServe(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "serve", "serve [--addr HOST:PORT] [--data DIR] [--postgres DSN] [--policy FILE [--allow-wider-than-framework]] [--log-level LEVEL]")
	addr := fs.String("addr", "127.0.0.1:8080", "address to listen on")
	data := fs.String("data", defaultDataDir, "data directory (created on first start)")
	policyFile := fs.String("policy", "", "access policy override file (JSON); default: the framework's matrix")
	wider := fs.Bool("allow-wider-than-framework", false, "accept policy cells more open than the framework's")
	level := fs.String("log-level", "info", "log level: debug, info, warn, error")
	pg := fs.String("postgres", "", "store records in this PostgreSQL database instead of SQLite in --data ($ETHOS_POSTGRES); the audit keys stay in --data")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("serve takes no arguments")
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*level)); err != nil {
		return usagef("--log-level: %v", err)
	}
	logger := slog.New(slog.NewJSONHandler(env.Stderr, &slog.HandlerOptions{Level: lvl}))
	pol, err := loadPolicy(*policyFile, *wider)
	if err != nil {
		return err
	}
	for _, c := range pol.Widened() {
		logger.Warn("policy cell wider than the framework", "stage", string(c.Stage), "party_type", string(c.PartyType), "level", string(c.Level), "framework", string(c.Framework))
	}
	a, err := openApp(ctx, *data, pgDSN(env, *pg))
	if err != nil {
		return err
	}
	defer a.Close()
	a.log.Logger = logger
	ok, err := a.initialised(ctx)
	if err != nil {
		return err
	}
	if !ok {
		res, err := a.bootstrap(ctx, "Ethos operator", "public", "admin", 30)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stderr, "First start: created %s with party %s and admin %s.\nAdmin token (shown once, only its hash is stored):\n\n  %s\n\n", a.dir, res.Party.ID, res.User.ID, res.Secret)
	}
	s := ehttp.NewServer()
	s.Addr, s.Logger, s.Version = *addr, logger, version()
	s.Policy, s.Auditor, s.AuditLog, s.AuditDB, s.VerifierKey = pol, a.auditor, a.log, a.auditDB, a.verifierKey
	s.Parties, s.Users, s.Tokens, s.Projects, s.DUAs, s.Records = a.parties, a.users, a.tokens, a.projects, a.duas, a.records
	ingest, closeIngest, err := serveIngest(ctx, a, pgDSN(env, *pg), pol) // STOW-RS (docs/ingest.md)
	if err != nil {
		return err
	}
	defer closeIngest()
	s.Ingest = ingest
	dep, closeDep := serveDeployment(a) // deployment stage (docs/deployment.md)
	defer closeDep()
	s.Deployments, s.Events = dep, dep
	return s.Serve(ctx, func(bound string) {
		logger.Info("listening", "addr", bound, "data", a.dir, "audit_size", a.log.Size())
	})
}

// pgDSN returns the PostgreSQL connection string from the flag or
// $ETHOS_POSTGRES ("" for SQLite).
func pgDSN(env *Env, flagValue string) string {
	if flagValue != "" {
		return flagValue
	}
	return env.Getenv("ETHOS_POSTGRES")
}
