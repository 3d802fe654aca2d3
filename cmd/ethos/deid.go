package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/deid"
	"github.com/ethos-imaging/ethos/deid/batch"
)

const deidUsage = `deid --in DIR --out DIR [--key-file FILE] [--option NAME,…] [--profile FILE] [--quarantine DIR] [--workers N] [--report FILE] [--report-paths plain|keyed] [--sync end|each|none] [--no-hash]
       ethos deid profile show [--option NAME,…] [--profile FILE] [--json]

De-identifies every DICOM file below --in to PS3.15 Annex E (Basic
Application Level Confidentiality Profile and the options given) and writes
the results below --out as STUDY/SERIES/INSTANCE.dcm named by the new UIDs.
Instances that may hold burned-in text, or in which a residual identifier
is found, are quarantined: never written under --out, copied unchanged to
--quarantine when given. Options: ` + "retain-safe-private, retain-uids, retain-device-identity, retain-institution-identity, retain-patient-characteristics, retain-longitudinal-full-dates, retain-longitudinal-modified-dates, clean-descriptors, clean-structured-content, clean-graphics, clean-pixel-data."

func runDeid(ctx context.Context, env *Env, args []string) error {
	if len(args) > 0 && args[0] == "profile" {
		return runDeidProfile(ctx, env, args[1:])
	}
	fs := newFlagSet(env, "deid", deidUsage)
	in := fs.String("in", "", "input directory (read only)")
	out := fs.String("out", "", "output directory for de-identified instances")
	keyFile := fs.String("key-file", "", "file holding the project secret (at least 16 bytes); without it a one-off key is used and pseudonyms do not link to other runs")
	optList := fs.String("option", "", "comma-separated profile options")
	profilePath := fs.String("profile", "", "JSON profile file (overrides, safe private attributes, patterns, pixel regions)")
	quarantine := fs.String("quarantine", "", "directory that receives unchanged copies of quarantined files")
	workers := fs.Int("workers", 2*runtime.NumCPU(), "files processed in parallel (twice the CPUs by default: a worker waiting on the disk leaves its CPU to another)")
	reportPath := fs.String("report", "", "write the JSON processing record (QC-PRO-1) to this file")
	syncFlag := fs.String("sync", "end", "when outputs reach the disk: end (one syncfs before exit), each (fsync per file) or none (left to the OS; benchmarks)")
	reportPaths := fs.String("report-paths", "plain", "input paths in the report: plain (relative to --in) or keyed (an HMAC token: for records that leave the identifiable side, since folder names may hold patient names)")
	noHash := fs.Bool("no-hash", false, "leave SHA-256 digests out of the report (benchmarking only; the record is then incomplete). Without --report no digests are computed anyway")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("deid: unexpected argument %q", fs.Arg(0))
	}
	if *in == "" || *out == "" {
		return usagef("deid: --in and --out are required")
	}
	syncMode, err := batch.ParseSyncMode(*syncFlag)
	if err != nil {
		return usagef("deid: %v", err)
	}
	if *reportPaths != "plain" && *reportPaths != "keyed" {
		return usagef("deid: --report-paths must be plain or keyed")
	}
	if *workers < 1 {
		return usagef("deid: --workers must be at least 1")
	}
	cfg, err := deidConfig(*optList, *profilePath)
	if err != nil {
		return err
	}
	keys, oneOff, err := deidKeys(*keyFile)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if oneOff {
		logger.Warn("no --key-file: using a one-off key; pseudonyms and UIDs will not match other runs")
	} else if st, err := os.Stat(*keyFile); err == nil && st.Mode().Perm()&0o077 != 0 {
		logger.Warn("key file is readable by other users; anyone who reads it can recompute the pseudonyms", "mode", st.Mode().Perm().String())
	}
	engine := deid.NewEngine(cfg, keys)
	engine.Software = "ethos " + version()
	// A processing record (QC-PRO-1) is kept only with --report: without
	// one nobody reads the per-file action counts.
	record := *reportPath != ""
	engine.NoCounts = !record
	runKey := strings.Join([]string{version(), cfg.Hash(), keys.Fingerprint()}, "|")

	if os.Getenv("GOGC") == "" && os.Getenv("GOMEMLIMIT") == "" {
		// Each file's heap (elements, values) dies when the file is done:
		// collecting less often saves CPU, and a soft limit well under
		// the 64 MB budget (mapped inputs count in RSS too) keeps the resident set bounded.
		defer debug.SetGCPercent(debug.SetGCPercent(400))
		defer debug.SetMemoryLimit(debug.SetMemoryLimit(24 << 20))
	}
	prog := newProgress(env)
	started := time.Now().UTC()
	// The two SHA-256 digests per file belong to the processing record
	// (QC-PRO-1): they cost more CPU than the de-identification itself,
	// so they are computed only when a record is asked for.
	hashing := record && !*noHash
	res, err := batch.Run(ctx, batch.Options{
		In: *in, Out: *out, Quarantine: *quarantine, Workers: *workers,
		Processor: processor{e: engine, digest: hashing}, Logger: logger,
		Progress: prog.update, ProgressEvery: prog.every,
		RunKey: runKey, NoHash: !hashing, NoRecord: !record, Sync: syncMode,
	})
	prog.finish()
	if err != nil {
		if errors.Is(err, batch.ErrSameTree) {
			return usagef("deid: %v", err)
		}
		return ethos.Errorf(ethos.EINVALID, "deid: %v", err)
	}
	s := res.Summary
	fmt.Fprintf(env.Stdout, "deid: %d files: %d written, %d quarantined, %d failed, %d skipped (%d resumed) in %.2fs, %.1f MB/s\n",
		s.Files, s.Written, s.Quarantined, s.Failed, s.Skipped, s.Resumed, s.Seconds, float64(s.InputBytes)/1e6/max(s.Seconds, 1e-9))
	if record {
		rep := newDeidReport(cfg, keys, oneOff, res, started, *in, *out, *quarantine, *workers)
		if *reportPaths == "keyed" {
			rep.Paths = "keyed"
			for i := range rep.Files {
				rep.Files[i].Input = keys.PathToken(rep.Files[i].Input)
				reasons := slices.Clone(rep.Files[i].Reasons)
				for j, r := range reasons {
					if strings.HasPrefix(r, "duplicate instance:") {
						reasons[j] = "duplicate instance: another input has the same SOP Instance UID"
					}
				}
				rep.Files[i].Reasons = reasons
			}
			rep.Directories = map[string]string{"in": "(keyed)", "out": rep.Directories["out"], "quarantine": "(keyed)"}
		}
		if err := writeJSONAtomic(*reportPath, rep); err != nil {
			return fmt.Errorf("deid: write report: %w", err)
		}
	}
	if s.Failed > 0 {
		return ethos.Errorf(ethos.EINVALID, "deid: %d of %d files failed (see the report)", s.Failed, s.Files)
	}
	return nil
}

// processor adapts the engine to the batch runner. With digest set the
// engine computes both SHA-256 digests while it works (one pass over each
// byte); otherwise no digest is made.
type processor struct {
	e      *deid.Engine
	digest bool
}

func (p processor) Process(ctx context.Context, in, out *os.File) (batch.Result, error) {
	var r deid.FileResult
	var err error
	if p.digest {
		r, err = p.e.ProcessFileDigest(ctx, in, out)
	} else {
		r, err = p.e.ProcessFile(ctx, in, out)
	}
	return batchResult(r), err
}

// ProcessTo lets the runner create each output in its final directory,
// once the engine has named it (batch.ProcessorTo).
func (p processor) ProcessTo(ctx context.Context, in *os.File, create func(string) (*os.File, error)) (batch.Result, error) {
	r, err := p.e.ProcessFileTo(ctx, in, create, p.digest)
	return batchResult(r), err
}

func batchResult(r deid.FileResult) batch.Result {
	return batch.Result{Quarantine: r.Quarantine, Skip: r.Skip, Reasons: r.Reasons, Name: r.Name, Counts: r.Counts,
		Group: r.Group, InputSHA256: r.InputSHA256, OutputSHA256: r.OutputSHA256}
}

func deidConfig(optList, profilePath string) (*deid.Config, error) {
	opts, err := deid.ParseOptions(optList)
	if err != nil {
		return nil, usagef("%v", err)
	}
	var p *deid.Profile
	if profilePath != "" {
		if p, err = deid.ReadProfile(profilePath); err != nil {
			return nil, ethos.Errorf(ethos.EINVALID, "%v", err)
		}
	}
	cfg, err := deid.NewConfig(p, opts)
	if err != nil {
		return nil, ethos.Errorf(ethos.EINVALID, "%v", err)
	}
	return cfg, nil
}

func deidKeys(path string) (*deid.Keys, bool, error) {
	if path == "" {
		secret := make([]byte, 32)
		rand.Read(secret)
		k, err := deid.NewKeys(secret)
		return k, true, err
	}
	k, err := deid.ReadKeyFile(path)
	if err != nil {
		return nil, false, ethos.Errorf(ethos.EINVALID, "%v", err)
	}
	return k, false, nil
}

func runDeidProfile(_ context.Context, env *Env, args []string) error {
	if len(args) == 0 || args[0] != "show" {
		return usagef("deid profile: want 'show'")
	}
	fs := newFlagSet(env, "deid profile show", "deid profile show [--option NAME,…] [--profile FILE] [--json]")
	optList := fs.String("option", "", "comma-separated profile options")
	profilePath := fs.String("profile", "", "JSON profile file")
	asJSON := fs.Bool("json", false, "print the effective table as JSON")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("deid profile show: unexpected argument %q", fs.Arg(0))
	}
	cfg, err := deidConfig(*optList, *profilePath)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			Options     string              `json:"options"`
			ProfileHash string              `json:"profileHash"`
			Rows        []deid.EffectiveRow `json:"rows"`
			SafePrivate []deid.SafePrivate  `json:"safePrivate"`
		}{cfg.Options.String(), cfg.Hash(), cfg.Effective(), cfg.SafePrivateList()})
	}
	return cfg.WriteEffective(env.Stdout)
}

// deidReport is the processing record of one run (quality check QC-PRO-1).
type deidReport struct {
	Kind        string             `json:"kind"`
	Software    string             `json:"software"`
	Go          string             `json:"go"`
	Operator    string             `json:"operator"`
	Host        string             `json:"host"`
	Started     time.Time          `json:"started"`
	Finished    time.Time          `json:"finished"`
	Profile     deidReportProfile  `json:"profile"`
	Key         deidReportKey      `json:"key"`
	Directories map[string]string  `json:"directories"`
	Paths       string             `json:"paths"` // plain or keyed input paths
	Workers     int                `json:"workers"`
	Summary     batch.Summary      `json:"summary"`
	Actions     []deidReportAction `json:"actions"`
	Groups      []deidReportGroup  `json:"groups"`
	Files       []batch.FileRecord `json:"files"`
}

// deidReportGroup counts outcomes per demographic group, the evidence for
// comparing quarantine and failure rates between groups (QC-PRO-2).
type deidReportGroup struct {
	Sex         string `json:"sex"`
	AgeBand     string `json:"ageBand"`
	Files       int    `json:"files"`
	Written     int    `json:"written"`
	Quarantined int    `json:"quarantined"`
	Failed      int    `json:"failed"`
	Skipped     int    `json:"skipped"`
}

type deidReportProfile struct {
	Standard string        `json:"standard"`
	Name     string        `json:"name,omitempty"`
	Options  []string      `json:"options"`
	Codes    []string      `json:"codes"`
	Hash     string        `json:"hash"`
	Profile  *deid.Profile `json:"profile"`
}

type deidReportKey struct {
	Fingerprint string `json:"fingerprint"`
	OneOff      bool   `json:"oneOff,omitempty"`
}

type deidReportAction struct {
	Tag    string         `json:"tag"`
	Name   string         `json:"name,omitempty"`
	Counts map[string]int `json:"counts"`
}

func newDeidReport(cfg *deid.Config, keys *deid.Keys, oneOff bool, res *batch.Outcome, started time.Time, in, out, quar string, workers int) *deidReport {
	opUser := "unknown"
	if u, err := user.Current(); err == nil {
		opUser = u.Username
	}
	host, _ := os.Hostname()
	abs := func(p string) string {
		if p == "" {
			return ""
		}
		a, err := filepath.Abs(p)
		if err != nil {
			return p
		}
		return a
	}
	r := &deidReport{
		Kind: "ethos.deid.processing-record/v1", Software: "ethos " + version(), Go: runtime.Version(),
		Operator: opUser, Host: host, Started: started, Finished: time.Now().UTC(),
		Profile: deidReportProfile{Standard: "DICOM PS3.15 Annex E Basic Application Level Confidentiality Profile",
			Name: cfg.Profile.Name, Hash: cfg.Hash(), Profile: &cfg.Profile, Codes: []string{"DCM 113100"}},
		Key: deidReportKey{Fingerprint: keys.Fingerprint(), OneOff: oneOff}, Paths: "plain",
		Directories: map[string]string{"in": abs(in), "out": abs(out), "quarantine": abs(quar)},
		Workers:     workers, Summary: res.Summary, Files: res.Files,
	}
	for _, o := range cfg.Options.List() {
		v, _ := o.Code()
		r.Profile.Options = append(r.Profile.Options, o.String())
		r.Profile.Codes = append(r.Profile.Codes, "DCM "+v)
	}
	groups := map[[2]string]*deidReportGroup{}
	for _, f := range res.Files {
		sex, band := f.Group["sex"], f.Group["ageBand"]
		if sex == "" {
			sex = "unknown"
		}
		if band == "" {
			band = "unknown"
		}
		g := groups[[2]string{sex, band}]
		if g == nil {
			g = &deidReportGroup{Sex: sex, AgeBand: band}
			groups[[2]string{sex, band}] = g
		}
		g.Files++
		switch f.Status {
		case batch.Written:
			g.Written++
		case batch.Quarantined:
			g.Quarantined++
		case batch.Failed:
			g.Failed++
		case batch.Skipped:
			g.Skipped++
		}
	}
	for _, g := range groups {
		r.Groups = append(r.Groups, *g)
	}
	slices.SortFunc(r.Groups, func(a, b deidReportGroup) int {
		if c := strings.Compare(a.Sex, b.Sex); c != 0 {
			return c
		}
		return strings.Compare(a.AgeBand, b.AgeBand)
	})
	for _, tag := range batch.SortedTags(res.Counts) {
		a := deidReportAction{Tag: tag, Counts: res.Counts[tag]}
		if t, err := deid.ParseTag(tag); err == nil {
			if rule, ok := deid.LookupRule(t); ok && rule.Mask == 0xFFFFFFFF && !rule.Private {
				a.Name = rule.Name
			}
		}
		r.Actions = append(r.Actions, a)
	}
	return r
}

// writeJSONAtomic writes v as indented JSON through a temporary file in
// the same directory, synced before it is renamed into place.
func writeJSONAtomic(path string, v any) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".ethos-tmp-report-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	enc := json.NewEncoder(tmp)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// progress shows a bar on a terminal and a log line every few seconds
// otherwise.
type progress struct {
	w        io.Writer
	terminal bool
	every    time.Duration
	last     time.Time
	drawn    bool
}

func newProgress(env *Env) *progress {
	p := &progress{w: env.Stderr, every: 5 * time.Second}
	if f, ok := env.Stderr.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.terminal, p.every = true, 200*time.Millisecond
		}
	}
	return p
}

func (p *progress) update(s batch.Progress) {
	sec := s.Elapsed.Seconds()
	rate := float64(s.Bytes) / 1e6 / max(sec, 1e-9)
	eta := "?"
	if s.Bytes > 0 && s.TotalBytes >= s.Bytes {
		left := time.Duration(float64(s.TotalBytes-s.Bytes) / float64(s.Bytes) * float64(s.Elapsed))
		eta = left.Round(time.Second).String()
	}
	if !p.terminal {
		fmt.Fprintf(p.w, "deid: %d/%d files, %.1f MB/s, ETA %s (%d written, %d quarantined, %d failed)\n",
			s.Files, s.TotalFiles, rate, eta, s.Written, s.Quarantined, s.Failed)
		return
	}
	const width = 30
	frac := 1.0
	if s.TotalBytes > 0 {
		frac = float64(s.Bytes) / float64(s.TotalBytes)
	}
	n := int(frac * width)
	bar := strings.Repeat("=", n) + strings.Repeat(" ", width-n)
	fmt.Fprintf(p.w, "\r[%s] %d/%d files  %6.1f MB/s  ETA %-6s  q:%d f:%d ", bar, s.Files, s.TotalFiles, rate, eta, s.Quarantined, s.Failed)
	p.drawn = true
}

func (p *progress) finish() {
	if p.terminal && p.drawn {
		fmt.Fprintln(p.w)
	}
}
