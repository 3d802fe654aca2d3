package main

import (
	"context"
	"log/slog"
	"net"

	ethoshttp "github.com/ethos-imaging/ethos/http"
)

func runServe(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "serve", "serve [--addr HOST:PORT] [--data DIR] [--policy FILE [--allow-wider-than-framework]]")
	addr := fs.String("addr", "127.0.0.1:8080", "listen address")
	df := addDataFlags(fs)
	maxBody := fs.Int64("max-body", ethoshttp.DefaultMaxBody, "largest request body in bytes")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("serve takes no arguments")
	}
	logger := slog.New(slog.NewJSONHandler(env.Stderr, nil))
	if _, err := loadPolicy(*df.policyFile, *df.allowWider); err != nil {
		return err
	}
	if !initialized(*df.dir) {
		cfg, secret, err := initDir(ctx, *df.dir, "", logger)
		if err != nil {
			return err
		}
		if err := printInit(env, *df.dir, cfg, secret, false); err != nil {
			return err
		}
	}
	in, err := openInstance(ctx, df, logger)
	if err != nil {
		return err
	}
	defer in.Close()
	for _, c := range in.policy.Widened() {
		logger.Warn("policy cell wider than the framework", "stage", c.Stage, "party_type", c.PartyType,
			"level", c.Level, "framework", c.Framework)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := ethoshttp.NewServer(in.app, in.policy, logger)
	srv.MaxBody = *maxBody
	logger.Info("listening", "addr", ln.Addr().String(), "data", *df.dir, "audit_events", in.log.Size())
	return srv.Serve(ctx, ln)
}
