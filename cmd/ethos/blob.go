package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/fileblob"
)

const blobUsage = `Usage: ethos blob <subcommand> [flags]

The encrypted image store on its own (docs/fileblob.md): a blob directory,
a key file of wrapped data keys and a master key from --master-key-file or
$ETHOS_MASTER_KEY.

Subcommands:
  keygen FILE                      write a new master key to FILE (0600, never overwritten)
  put --subject KEY FILE...        store files under a subject; prints their references (JSON lines)
  get --subject KEY --digest D     write a blob's plaintext to stdout (or --out FILE)
  shred --subject KEY              destroy the subject's data key and delete its blobs
  verify                           read back and authenticate every blob
  rewrap --new-master-key-file F   wrap every data key under a new master key
`

// runBlob dispatches the blob-store subcommands.
func runBlob(ctx context.Context, env *Env, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(env.Stderr, blobUsage)
		return usagef("blob needs a subcommand")
	}
	sub, args := args[0], args[1:]
	switch sub {
	case "-h", "--help", "help":
		fmt.Fprint(env.Stdout, blobUsage)
		return nil
	case "keygen":
		fs := newFlagSet(env, "blob keygen", "blob keygen FILE")
		if err := parseFlags(fs, args); err != nil {
			return err
		}
		if fs.NArg() != 1 {
			return usagef("blob keygen needs one FILE")
		}
		m := fileblob.GenerateMasterKey()
		if err := fileblob.WriteMasterKeyFile(fs.Arg(0), m); err != nil {
			return err
		}
		_, err := fmt.Fprintf(env.Stdout, "master key %s written to %s\n", m.ID(), fs.Arg(0))
		return err
	case "put", "get", "shred", "verify", "rewrap":
	default:
		fmt.Fprint(env.Stderr, blobUsage)
		return usagef("unknown blob subcommand %q", sub)
	}

	fs := newFlagSet(env, "blob "+sub, "blob "+sub+" [flags]")
	dir := fs.String("store", "", "blob directory (`DIR`, created 0700)")
	keys := fs.String("keys", "", "key file of wrapped data keys (`FILE`; default DIR/../keys.json)")
	masterFile := fs.String("master-key-file", "", "master key `FILE` (default: $ETHOS_MASTER_KEY)")
	subject := fs.String("subject", "", "subject key (64 hex digits)")
	digest := fs.String("digest", "", "blob digest (get)")
	out := fs.String("out", "", "write the plaintext to `FILE` atomically (get)")
	newMaster := fs.String("new-master-key-file", "", "the new master key `FILE` (rewrap)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *dir == "" {
		return usagef("--store is required")
	}
	if *keys == "" {
		*keys = filepath.Join(filepath.Dir(filepath.Clean(*dir)), "keys.json")
	}
	var master *fileblob.MasterKey
	var err error
	if *masterFile != "" {
		master, err = fileblob.LoadMasterKey(*masterFile)
	} else {
		master, err = fileblob.MasterKeyFromEnv(env.Getenv, "ETHOS_MASTER_KEY")
	}
	if err != nil {
		return err
	}
	ks := fileblob.NewFileKeyStore(*keys)
	if err := ks.Open(); err != nil {
		return err
	}
	defer ks.Close()
	st := fileblob.NewStore(*dir, ks, master)
	if err := st.Init(); err != nil {
		return err
	}
	sk := ethos.SubjectKey(*subject)
	needSubject := func() error {
		if !sk.Valid() {
			return usagef("--subject must be a subject key (64 lowercase hex digits)")
		}
		return nil
	}
	enc := json.NewEncoder(env.Stdout)
	switch sub {
	case "put":
		if err := needSubject(); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			return usagef("blob put needs at least one FILE")
		}
		for _, p := range fs.Args() {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			ref, err := st.Put(ctx, sk, f)
			f.Close()
			if err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
			if err := enc.Encode(struct {
				File string `json:"file"`
				ethos.BlobRef
			}{p, ref}); err != nil {
				return err
			}
		}
		return nil
	case "get":
		if err := needSubject(); err != nil {
			return err
		}
		rc, err := st.Open(ctx, ethos.BlobRef{Subject: sk, Digest: *digest})
		if err != nil {
			return err
		}
		defer rc.Close()
		if *out == "" {
			_, err = io.Copy(env.Stdout, rc)
			return err
		}
		// The plaintext is authenticated segment by segment; writing to a
		// temporary file means a blob that fails half way leaves no file.
		return writeFileAtomic(*out, func(w io.Writer) error { _, err := io.Copy(w, rc); return err })
	case "shred":
		if err := needSubject(); err != nil {
			return err
		}
		rec, err := st.ShredSubject(ctx, sk)
		if rec.KeyID != "" {
			if eerr := enc.Encode(rec); err == nil {
				err = eerr
			}
		}
		return err
	case "verify":
		rep, err := st.Verify(ctx)
		if err != nil {
			return err
		}
		if err := enc.Encode(rep); err != nil {
			return err
		}
		if !rep.OK() {
			return ethos.Errorf(ethos.EINVALID, "blob store %s: %d corrupt blobs, %d orphaned key directories", *dir, len(rep.Corrupt), len(rep.Orphans))
		}
		return nil
	case "rewrap":
		if *newMaster == "" {
			return usagef("--new-master-key-file is required")
		}
		next, err := fileblob.LoadMasterKey(*newMaster)
		if err != nil {
			return err
		}
		n, err := st.Rewrap(ctx, next)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(env.Stdout, "%d data keys rewrapped from master key %s to %s\n", n, master.ID(), next.ID())
		return err
	}
	return nil
}
