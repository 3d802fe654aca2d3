package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/audit"
	"github.com/ethos-imaging/ethos/sqlite"
)

func runAudit(ctx context.Context, env *Env, args []string) error {
	return subcommand(ctx, env, "audit", args, map[string]func(context.Context, *Env, []string) error{
		"checkpoint": auditCheckpoint, "proof": auditProof, "verify": auditVerify, "export": auditExport,
	}, []string{"checkpoint", "proof", "verify", "export"})
}

// verifierKeyFrom returns the key given by --key, or read from the data
// directory. An auditor should pass the key they were given out of band:
// the copy in the data directory is only as trustworthy as the directory.
func verifierKeyFrom(flagKey, dir string) (string, error) {
	if flagKey != "" {
		if b, err := os.ReadFile(flagKey); err == nil {
			return strings.TrimSpace(string(b)), nil
		}
		return flagKey, nil
	}
	b, err := os.ReadFile(filepath.Join(dir, verifierKeyFile))
	if err != nil {
		return "", ethos.Errorf(ethos.EINVALID, "no verifier key: pass --key (key or file) or use a data directory with %s", verifierKeyFile)
	}
	return strings.TrimSpace(string(b)), nil
}

func auditCheckpoint(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "audit checkpoint", "audit checkpoint [--sign] [-o FILE]")
	sign := fs.Bool("sign", false, "sign a fresh checkpoint of the current tree first")
	out := fs.String("o", "", "also save the checkpoint to FILE (an auditor keeps it for 'audit verify --checkpoint')")
	connect := clientFlags(env, fs)
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	c, err := connect()
	if err != nil {
		return err
	}
	method := "GET"
	if *sign {
		method = "POST"
	}
	var buf bytes.Buffer
	if err := c.do(ctx, method, "/api/v1/audit/checkpoint", nil, &buf); err != nil {
		return err
	}
	if *out != "" {
		if err := writeAtomic(*out, buf.Bytes(), 0o644); err != nil {
			return err
		}
	}
	_, err = env.Stdout.Write(buf.Bytes())
	return err
}

func auditProof(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "audit proof", "audit proof (--index N [--tree-size M] | --old N [--new M]) [--key KEY] [--json]")
	index := fs.Int64("index", -1, "inclusion proof of the event at this index")
	treeSize := fs.Int64("tree-size", -1, "tree size for the inclusion proof (default: latest checkpoint)")
	oldSize := fs.Int64("old", -1, "consistency proof from this tree size")
	newSize := fs.Int64("new", -1, "… to this tree size (default: latest checkpoint)")
	key := fs.String("key", "", "verifier key (or file) to check the proof against the latest checkpoint ($ETHOS_AUDIT_KEY)")
	asJSON := fs.Bool("json", false, "print the proof as JSON")
	connect := clientFlags(env, fs)
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	if (*index < 0) == (*oldSize < 0) {
		return usagef("audit proof needs exactly one of --index and --old")
	}
	c, err := connect()
	if err != nil {
		return err
	}
	if *key == "" {
		*key = env.Getenv("ETHOS_AUDIT_KEY")
	}
	var cp bytes.Buffer
	if err := c.do(ctx, "GET", "/api/v1/audit/checkpoint", nil, &cp); err != nil {
		return err
	}
	var proof any
	var check func(vk string) error
	if *index >= 0 {
		q := "index=" + strconv.FormatInt(*index, 10)
		if *treeSize >= 0 {
			q += "&tree_size=" + strconv.FormatInt(*treeSize, 10)
		}
		var p audit.InclusionProof
		if err := c.do(ctx, "GET", "/api/v1/audit/proofs/inclusion?"+q, nil, &p); err != nil {
			return err
		}
		var ev struct {
			Leaf []byte `json:"leaf"`
		}
		if err := c.do(ctx, "GET", "/api/v1/audit/events/"+strconv.FormatInt(*index, 10), nil, &ev); err != nil {
			return err
		}
		proof = p
		check = func(vk string) error {
			if *treeSize >= 0 {
				return errors.New("the proof is for a tree size other than the latest checkpoint's; check it against the checkpoint of that size")
			}
			return audit.VerifyInclusion(&p, ev.Leaf, cp.Bytes(), vk)
		}
	} else {
		q := "old_size=" + strconv.FormatInt(*oldSize, 10)
		if *newSize >= 0 {
			q += "&new_size=" + strconv.FormatInt(*newSize, 10)
		}
		var p audit.ConsistencyProof
		if err := c.do(ctx, "GET", "/api/v1/audit/proofs/consistency?"+q, nil, &p); err != nil {
			return err
		}
		proof = p
		check = nil
	}
	if *asJSON || *key == "" || check == nil {
		if err := printJSON(env, proof); err != nil {
			return err
		}
	}
	if *key != "" && check != nil {
		vk, err := verifierKeyFrom(*key, "")
		if err != nil {
			return err
		}
		if err := check(vk); err != nil {
			return ethos.Errorf(ethos.EINVALID, "proof does NOT verify: %v", err)
		}
		if !*asJSON {
			fmt.Fprintf(env.Stdout, "event %d is included in the signed checkpoint (verified with the given key)\n", *index)
		}
	}
	return nil
}

// openAuditStorage opens the audit storage of an existing data directory
// (or of the PostgreSQL database pgDSN) for reading.
func openAuditStorage(ctx context.Context, dir, pgDSN string) (audit.Storage, func() error, error) {
	if pgDSN == "" && !sqlite.Exists(dir) {
		return nil, nil, ethos.Errorf(ethos.ENOTFOUND, "no Ethos database in %s", dir)
	}
	a, err := openStore(ctx, dir, pgDSN)
	if err != nil {
		return nil, nil, err
	}
	return a.auditDB, a.closeDB, nil
}

func auditVerify(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "audit verify", "audit verify [--data DIR | --export FILE] [--key KEY] [--checkpoint FILE] [--deep] [--json]")
	data := fs.String("data", defaultDataDir, "data directory whose log to verify")
	export := fs.String("export", "", "verify an export file (JSON lines) instead of a data directory")
	key := fs.String("key", "", "verifier key or key file (default: the data directory's; an auditor passes their own copy)")
	cpFile := fs.String("checkpoint", "", "a checkpoint saved earlier: prove the log only grew since")
	pg := fs.String("postgres", "", "read the log from this PostgreSQL database ($ETHOS_POSTGRES)")
	deep := fs.Bool("deep", false, "also compare every stored tree hash with the recomputed one (reads ~3 rows per event)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	vk, err := verifierKeyFrom(*key, *data)
	if err != nil {
		return err
	}
	opts := audit.VerifyOptions{Deep: *deep}
	if *cpFile != "" {
		b, err := os.ReadFile(*cpFile)
		if err != nil {
			return ethos.Errorf(ethos.EINVALID, "--checkpoint: %v", err)
		}
		opts.Checkpoint = b
	}
	var rep *audit.Report
	if *export != "" {
		f, err := os.Open(*export)
		if err != nil {
			return ethos.Errorf(ethos.EINVALID, "--export: %v", err)
		}
		defer f.Close()
		rep, err = audit.VerifyExport(f, vk, opts)
		if err != nil {
			return verifyFailure(err)
		}
	} else {
		st, closeDB, err := openAuditStorage(ctx, *data, pgDSN(env, *pg))
		if err != nil {
			return err
		}
		defer closeDB()
		rep, err = audit.Verify(ctx, st, vk, opts)
		if err != nil {
			return verifyFailure(err)
		}
	}
	if *asJSON {
		return printJSON(env, rep)
	}
	fmt.Fprintf(env.Stdout, "OK: %d events verified; root %s\n  signed checkpoint covers %d events (%d newer, not yet signed)\n", rep.Size, rep.Root, rep.CheckpointSize, rep.Unsigned)
	if rep.SavedSize >= 0 {
		fmt.Fprintf(env.Stdout, "  the log extends the saved checkpoint of %d events (it only grew)\n", rep.SavedSize)
	}
	return nil
}

// verifyFailure turns a verification error into the one-line error the
// command prints, naming the first bad index.
func verifyFailure(err error) error {
	if ve, ok := errors.AsType[*audit.VerifyError](err); ok {
		if ve.Index >= 0 {
			return ethos.Errorf(ethos.EINVALID, "audit log does NOT verify: first bad event at index %d: %s", ve.Index, ve.Reason)
		}
		return ethos.Errorf(ethos.EINVALID, "audit log does NOT verify: %s", ve.Reason)
	}
	return err
}

func auditExport(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "audit export", "audit export [--data DIR] [-o FILE]")
	data := fs.String("data", defaultDataDir, "data directory whose log to export")
	out := fs.String("o", "", "write to FILE (atomically) instead of standard output")
	pg := fs.String("postgres", "", "read the log from this PostgreSQL database ($ETHOS_POSTGRES)")
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	st, closeDB, err := openAuditStorage(ctx, *data, pgDSN(env, *pg))
	if err != nil {
		return err
	}
	defer closeDB()
	var w io.Writer = env.Stdout
	var buf bytes.Buffer
	if *out != "" {
		w = &buf
	}
	if err := audit.Export(ctx, st, w); err != nil {
		return err
	}
	if *out != "" {
		return writeAtomic(*out, buf.Bytes(), 0o644)
	}
	return nil
}

var _ = json.Marshal
