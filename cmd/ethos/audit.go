package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/audit"
	"github.com/ethos-imaging/ethos/sqlite"
)

func runAudit(ctx context.Context, env *Env, args []string) error {
	return dispatch(ctx, env, "audit", []subcommand{
		{"checkpoint", "sign and print the current tree head (save it to verify later)", auditCheckpoint},
		{"proof", "print an inclusion proof (--index) or a consistency proof (--old/--new)", auditProof},
		{"verify", "recompute the whole log and check it against the signed checkpoints", auditVerify},
		{"export", "write the log as JSON lines", auditExport},
	}, args)
}

func auditCheckpoint(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "audit checkpoint", "audit checkpoint [--out FILE]")
	df := addDataFlags(fs)
	out := fs.String("out", "", "also write the checkpoint to FILE")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := noArgs(fs, "audit checkpoint"); err != nil {
		return err
	}
	return withData(ctx, env, df, func(ctx context.Context, in *instance) error {
		cp, err := in.app.Checkpoint(ctx)
		if err != nil {
			return err
		}
		if *out != "" {
			if err := writeDataFile(*out, cp, 0o644); err != nil {
				return err
			}
		}
		_, err = env.Stdout.Write(cp)
		return err
	})
}

func auditProof(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "audit proof", "audit proof --index N [--size M] | --old N [--new M]")
	df := addDataFlags(fs)
	index := fs.Int64("index", -1, "event index for an inclusion proof")
	size := fs.Int64("size", 0, "tree size of the inclusion proof (default: current)")
	old := fs.Int64("old", 0, "older tree size for a consistency proof")
	nw := fs.Int64("new", 0, "newer tree size (default: current)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := noArgs(fs, "audit proof"); err != nil {
		return err
	}
	if (*index >= 0) == (*old > 0) {
		return usagef("give either --index (inclusion) or --old (consistency)")
	}
	return withData(ctx, env, df, func(ctx context.Context, in *instance) error {
		if *index >= 0 {
			p, leaf, err := in.app.InclusionProof(ctx, *index, *size)
			if err != nil {
				return err
			}
			return printJSON(env.Stdout, map[string]any{"proof": p, "leaf": string(leaf)})
		}
		p, err := in.app.ConsistencyProof(ctx, *old, *nw)
		if err != nil {
			return err
		}
		return printJSON(env.Stdout, p)
	})
}

func auditExport(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "audit export", "audit export [--out FILE]")
	df := addDataFlags(fs)
	out := fs.String("out", "", "write to FILE (atomically) instead of standard output")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := noArgs(fs, "audit export"); err != nil {
		return err
	}
	return withData(ctx, env, df, func(ctx context.Context, in *instance) error {
		if *out == "" {
			return in.app.Export(ctx, env.Stdout)
		}
		return writeFileAtomic(*out, func(w io.Writer) error { return in.app.Export(ctx, w) })
	})
}

// auditVerify reads the database without taking the lock and without
// writing to the log, so it runs next to a live server and judges what is
// stored, not what a running process believes.
func auditVerify(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "audit verify", "audit verify [--data DIR] [--checkpoint FILE] [--export FILE --key FILE|KEY] [--json]")
	dir := fs.String("data", defaultDir, "data directory")
	saved := fs.String("checkpoint", "", "a checkpoint saved earlier: prove the log only grew since")
	export := fs.String("export", "", "verify this export file (from 'ethos audit export') instead of the database")
	key := fs.String("key", "", "verifier key, or a file holding it (default: DIR/audit.pub)")
	asJSON := fs.Bool("json", false, "print as JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := noArgs(fs, "audit verify"); err != nil {
		return err
	}
	vk, err := verifierKey(*key, *dir)
	if err != nil {
		return err
	}
	var opts audit.VerifyOptions
	if *saved != "" {
		if opts.Checkpoint, err = os.ReadFile(*saved); err != nil {
			return err
		}
	}
	start := time.Now()
	var rep *audit.Report
	if *export != "" {
		f, err := os.Open(*export)
		if err != nil {
			return err
		}
		defer f.Close()
		rep, err = audit.VerifyExport(f, vk, opts)
		if err != nil {
			return verifyFailure(err)
		}
	} else {
		if !initialized(*dir) {
			return ethos.Errorf(ethos.EINVALID, "%s is not an Ethos data directory", *dir)
		}
		db := sqlite.NewDB(filepath.Join(*dir, dbFile))
		if err := db.Open(ctx); err != nil {
			return err
		}
		defer db.Close()
		rep, err = audit.Verify(ctx, sqlite.NewAuditStorage(db), vk, opts)
		if err != nil {
			return verifyFailure(err)
		}
	}
	if *asJSON {
		return printJSON(env.Stdout, map[string]any{"ok": true, "report": rep, "seconds": time.Since(start).Seconds()})
	}
	fmt.Fprintf(env.Stdout, "audit log OK: %d events, root %s\nlatest signed checkpoint covers %d events (%d recorded after it)\n",
		rep.Size, rep.Root, rep.CheckpointSize, rep.Unsigned)
	if rep.SavedSize >= 0 {
		fmt.Fprintf(env.Stdout, "the log extends the saved checkpoint of %d events (nothing rewritten)\n", rep.SavedSize)
	}
	return nil
}

// verifyFailure turns a verification error into the one-line message
// naming the first bad index.
func verifyFailure(err error) error {
	if ve, ok := errors.AsType[*audit.VerifyError](err); ok {
		if ve.Index >= 0 {
			return ethos.Errorf(ethos.EINVALID, "audit log does NOT verify: first bad event at index %d: %s", ve.Index, ve.Reason)
		}
		return ethos.Errorf(ethos.EINVALID, "audit log does NOT verify: %s", ve.Reason)
	}
	return err
}

func verifierKey(flagValue, dir string) (string, error) {
	if flagValue == "" {
		flagValue = filepath.Join(dir, pubFile)
	}
	if b, err := os.ReadFile(flagValue); err == nil {
		return strings.TrimSpace(string(b)), nil
	} else if strings.Contains(flagValue, "+") && !strings.ContainsAny(flagValue, "/\\") {
		return flagValue, nil
	} else {
		return "", fmt.Errorf("verifier key: %w", err)
	}
}
