package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/collection"
	"github.com/ethos-imaging/ethos/dicom"
)

// runCollection dispatches the collection-stage subcommands.
func runCollection(ctx context.Context, env *Env, args []string) error {
	const usage = "Usage: ethos collection <subcommand> [flags]\n\nSubcommands:\n  representation  representation report (QC-COL-1) against a reference population\n"
	if len(args) == 0 {
		fmt.Fprint(env.Stderr, usage)
		return usagef("collection needs a subcommand")
	}
	switch args[0] {
	case "representation":
		return runRepresentation(ctx, env, args[1:])
	case "-h", "--help", "help":
		fmt.Fprint(env.Stdout, usage)
		return nil
	}
	fmt.Fprint(env.Stderr, usage)
	return usagef("unknown collection subcommand %q", args[0])
}

// runRepresentation computes the representation report from a CSV of
// instance attributes or from the headers of a DICOM tree.
func runRepresentation(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "collection representation",
		"collection representation (--in ATTRS.csv | --dicom DIR) --reference REF.json|REF.csv [--format json|csv|html] [--out FILE]\n"+
			"       [--record --project ID [--purpose P] [--server URL] [--token T | $ETHOS_TOKEN]]   (record the JSON report as a collection-stage record, QC-COL-1; prints the record id)")
	in := fs.String("in", "", "CSV of instance attributes (`FILE`; header row: instance, subject, label, age or age_band, sex, …)")
	dir := fs.String("dicom", "", "derive attributes from the headers of the DICOM files under `DIR`")
	refPath := fs.String("reference", "", "reference population: JSON, or CSV with attribute,value,expected_share (`FILE`)")
	refName := fs.String("reference-name", "", "name of a CSV reference (default: the file name)")
	floor := fs.Float64("floor", 0.8, "lowest acceptable observed/expected ratio, for a CSV reference")
	small := fs.Int("small-group", 20, "small-group threshold, for a CSV reference")
	format := fs.String("format", "json", "output format: json, csv or html")
	out := fs.String("out", "", "write to `FILE` (atomically) instead of standard output")
	keyFile := fs.String("key-file", "", "with --dicom: `FILE` holding the secret (≥ 32 bytes) that keys institution pseudonyms and subject keys; default: a random key for this run")
	record := fs.Bool("record", false, "record the JSON report through a running server as a collection-stage record of kind representation-report (QC-COL-1) and print its id")
	project := fs.String("project", "", "with --record: the project `ID`")
	purpose := fs.String("purpose", string(ethos.PurposeResearch), "with --record: the declared purpose of the write (access policy)")
	connect := clientFlags(env, fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("collection representation takes no arguments (got %q)", fs.Arg(0))
	}
	if (*in == "") == (*dir == "") {
		return usagef("give exactly one of --in and --dicom")
	}
	if *refPath == "" {
		return usagef("--reference is required")
	}
	if !slices.Contains([]string{"json", "csv", "html"}, *format) {
		return usagef("--format must be json, csv or html")
	}
	if *keyFile != "" && *dir == "" {
		return usagef("--key-file goes with --dicom")
	}
	var c *client
	if *record {
		if *project == "" {
			return usagef("--record needs --project")
		}
		if *format != "json" {
			return usagef("--record records the JSON report: drop --format %s (render other formats in a separate run)", *format)
		}
		var err error
		if c, err = connect(); err != nil {
			return err
		}
	} else if *project != "" {
		return usagef("--project goes with --record")
	}

	ref, err := readReferenceFile(*refPath, *refName, *floor, *small)
	if err != nil {
		return err
	}
	var records []ethos.InstanceAttributes
	if *in != "" {
		f, err := os.Open(*in)
		if err != nil {
			return err
		}
		records, err = collection.ReadInstancesCSV(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", *in, err)
		}
	} else {
		key, err := pseudonymKey(*keyFile)
		if err != nil {
			return err
		}
		var skipped int
		records, skipped, err = dicomRecords(ctx, *dir, collection.DICOMAttributes{Key: key})
		if err != nil {
			return err
		}
		if skipped > 0 {
			fmt.Fprintf(env.Stderr, "ethos collection representation: %d files under %s are not readable DICOM and were left out\n", skipped, *dir)
		}
	}
	rep, err := collection.Represent(records, ref)
	if err != nil {
		return err
	}
	render := rep.WriteJSON
	switch *format {
	case "csv":
		render = rep.WriteCSV
	case "html":
		render = rep.WriteHTML
	}
	if c != nil {
		return recordRepresentation(ctx, env, c, rep, *project, *purpose, *out)
	}
	if *out == "" {
		// Render fully before the first byte goes out.
		var buf bytes.Buffer
		if err := render(&buf); err != nil {
			return err
		}
		_, err := env.Stdout.Write(buf.Bytes())
		return err
	}
	return writeFileAtomic(*out, render)
}

// recordRepresentation posts the JSON report as a collection-stage record
// of kind representation-report through the records API, so the server's
// access policy and audit log apply exactly as to any other write; the
// report also goes to out when given. It prints the new record's id.
func recordRepresentation(ctx context.Context, env *Env, c *client, rep *collection.Report, project, purpose, out string) error {
	var buf bytes.Buffer
	if err := rep.WriteJSON(&buf); err != nil {
		return err
	}
	if out != "" {
		if err := writeFileAtomic(out, func(w io.Writer) error { _, err := w.Write(buf.Bytes()); return err }); err != nil {
			return err
		}
	}
	in := map[string]any{"purpose": purpose, "kind": "representation-report", "body": json.RawMessage(buf.Bytes())}
	var rec ethos.StageRecord
	if err := c.do(ctx, "POST", "/api/v1/projects/"+url.PathEscape(project)+"/stages/collection/records", in, &rec); err != nil {
		return err
	}
	_, err := fmt.Fprintln(env.Stdout, rec.ID)
	return err
}

func readReferenceFile(path, name string, floor float64, small int) (*ethos.ReferencePopulation, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var ref *ethos.ReferencePopulation
	if strings.EqualFold(filepath.Ext(path), ".csv") {
		if name == "" {
			name = strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
		}
		ref, err = collection.ReadReferenceCSV(f, name, floor, small)
	} else {
		ref, err = collection.ReadReference(f)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return ref, nil
}

func pseudonymKey(path string) ([]byte, error) {
	if path == "" {
		k := make([]byte, 32)
		rand.Read(k)
		return k, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	b = bytes.TrimSpace(b)
	if len(b) < ethos.MinSubjectKeySecret {
		return nil, ethos.Errorf(ethos.EINVALID, "key file %s: %d bytes, want at least %d", path, len(b), ethos.MinSubjectKeySecret)
	}
	return b, nil
}

// dicomRecords reads the header of every regular file under dir (pixel
// data skipped) in path order; files that do not parse are counted, not
// fatal.
func dicomRecords(ctx context.Context, dir string, o collection.DICOMAttributes) ([]ethos.InstanceAttributes, int, error) {
	var paths []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			paths = append(paths, p)
		}
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	slices.Sort(paths)
	var out []ethos.InstanceAttributes
	skipped := 0
	for _, p := range paths {
		if err := ctx.Err(); err != nil {
			return nil, 0, err
		}
		f, err := dicom.ParseFile(p, dicom.SkipPixelData())
		if err != nil {
			skipped++
			continue
		}
		out = append(out, o.AttributesFromDICOM(&f.Dataset))
	}
	if len(out) == 0 {
		return nil, skipped, ethos.Errorf(ethos.EINVALID, "no readable DICOM file under %s", dir)
	}
	return out, skipped, nil
}
