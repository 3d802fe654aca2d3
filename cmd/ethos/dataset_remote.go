package main

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/processing"
)

// The state-changing processing and dataset commands as clients of a
// running server ('ethos serve' holds the data directory): with --token
// or $ETHOS_TOKEN they call the API of http/processing.go instead of
// opening --data, and the server applies the access policy and audits as
// for any other caller.

// projectRemote is remoteFlags for a command on a project: run against
// a server it needs --project (*project, read once the flags are parsed)
// before any call, as the command does offline.
func projectRemote(env *Env, fs *flag.FlagSet, project *string) func() (*client, error) {
	remote := remoteFlags(env, fs)
	return func() (*client, error) {
		cl, err := remote()
		if err != nil || cl == nil {
			return nil, err
		}
		if *project == "" {
			return nil, usagef("--project is required")
		}
		return cl, nil
	}
}

// serverOrData answers with onServer when a token is given (the command
// runs against a server), otherwise with local on the data directory,
// opened for the caller and closed before it returns.
func serverOrData[T any](ctx context.Context, env *Env, remote func() (*client, error), data, user, project string,
	onServer func(*client) (T, error), local func(*processingApp) (T, error)) (T, error) {
	var zero T
	cl, err := remote()
	if err != nil {
		return zero, err
	}
	if cl != nil {
		return onServer(cl)
	}
	pa, err := openProcessing(ctx, env, data, user, project)
	if err != nil {
		return zero, err
	}
	defer pa.Close()
	return local(pa)
}

// remotePurpose is the project's declared purpose: reads of the
// processing stage ask for it.
func remotePurpose(ctx context.Context, cl *client, project string) (ethos.Purpose, error) {
	var rules ethos.CollectionRules
	if err := cl.do(ctx, "GET", projectPath(project, "/collection/rules"), nil, &rules); err != nil {
		return "", err
	}
	return rules.Purpose, nil
}

// remoteRead GETs a processing-stage resource of the project (path
// below /api/v1/projects/{id}) for the project's declared purpose, as
// the processing row of the policy asks.
func remoteRead(ctx context.Context, cl *client, project, path string, q url.Values, out any) error {
	purpose, err := remotePurpose(ctx, cl, project)
	if err != nil {
		return err
	}
	if q == nil {
		q = url.Values{}
	}
	q.Set("purpose", string(purpose))
	return cl.do(ctx, "GET", projectPath(project, path+"?"+q.Encode()), nil, out)
}

// processRunRemote starts a run on the server and polls it until the
// record is stored, printing progress on standard error.
func processRunRemote(ctx context.Context, env *Env, cl *client, project, profileName, profilePath, options, keyFile string, threshold, confidence float64, asJSON bool) error {
	secret, err := os.ReadFile(keyFile)
	if err != nil {
		return ethos.Errorf(ethos.EINVALID, "process run: read key file: %v", err)
	}
	in := map[string]any{"profile_name": profileName, "options": splitList(options), "secret": string(bytes.TrimSpace(secret)),
		"threshold": threshold, "confidence": confidence}
	if profilePath != "" {
		b, err := os.ReadFile(profilePath)
		if err != nil {
			return ethos.Errorf(ethos.EINVALID, "process run: %v", err)
		}
		if !json.Valid(b) {
			return ethos.Errorf(ethos.EINVALID, "process run: profile %s is not JSON", profilePath)
		}
		in["profile"] = json.RawMessage(b)
	}
	var out struct {
		Job ethos.ProcessingJob  `json:"job"`
		Run *ethos.ProcessingRun `json:"run"`
	}
	if err := cl.do(ctx, "POST", projectPath(project, "/processing-runs"), in, &out); err != nil {
		return err
	}
	run := out.Run
	last := -1
	for run == nil {
		if out.Job.Done != last {
			fmt.Fprintf(env.Stderr, "processing run %s: %d of %d instances done\n", out.Job.ID, out.Job.Done, out.Job.Total)
			last = out.Job.Done
		}
		select {
		case <-ctx.Done():
			fmt.Fprintf(env.Stderr, "stopped waiting; run %s goes on on the server ('ethos process show %s' once it is recorded)\n", out.Job.ID, out.Job.ID)
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
		var poll struct {
			Job *ethos.ProcessingJob `json:"job"`
			ethos.ProcessingRun
		}
		q := url.Values{"purpose": {string(out.Job.Purpose)}}
		if err := cl.do(ctx, "GET", projectPath(project, "/processing-runs/"+url.PathEscape(out.Job.ID)+"?"+q.Encode()), nil, &poll); err != nil {
			return err
		}
		if poll.Job != nil {
			out.Job = *poll.Job
			continue
		}
		run = &poll.ProcessingRun
	}
	if asJSON {
		return printJSON(env, run)
	}
	printProcessingRun(env, run, false)
	return nil
}

func datasetCreateRemote(ctx context.Context, env *Env, cl *client, project, run, desc string, asJSON bool) error {
	var out struct {
		Version *ethos.DatasetVersion `json:"version"`
		LeftOut int                   `json:"left_out"`
	}
	if err := cl.do(ctx, "POST", projectPath(project, "/dataset-versions"), map[string]string{"run_id": run, "description": desc}, &out); err != nil {
		return err
	}
	if out.Version == nil {
		return ethos.Errorf(ethos.EINTERNAL, "server answered without a version")
	}
	if asJSON {
		return printJSON(env, out.Version)
	}
	fmt.Fprintf(env.Stdout, "%s  %d entries from run %s (%d outputs left out: no longer usable)\n", out.Version.ID, len(out.Version.Entries), out.Version.RunID, out.LeftOut)
	return nil
}

func datasetLabelsRemote(ctx context.Context, env *Env, cl *client, project, version, file, allowed string, asJSON bool) error {
	body, err := os.ReadFile(file)
	if err != nil {
		return ethos.Errorf(ethos.EINVALID, "dataset labels: %v", err)
	}
	q := url.Values{}
	setIf(q, "allowed", allowed)
	var v ethos.DatasetVersion
	if err := cl.send(ctx, "POST", projectPath(project, "/dataset-versions/"+url.PathEscape(version)+"/labels?"+q.Encode()), "text/csv", body, &v); err != nil {
		return err
	}
	// The diff against the parent, as the offline command prints it.
	var parent ethos.DatasetVersion
	if err := remoteRead(ctx, cl, project, "/dataset-versions/"+url.PathEscape(version), nil, &parent); err != nil {
		return err
	}
	diff := processing.DiffVersions(&parent, &v)
	if asJSON {
		return printJSON(env, map[string]any{"version": v.ID, "diff": diff})
	}
	fmt.Fprintf(env.Stdout, "%s  from %s: %d relabelled, %d unchanged\n", v.ID, v.Parent, len(diff.Relabelled), diff.Unchanged)
	return nil
}

func datasetSplitRemote(ctx context.Context, cl *client, project, version string, parts []ethos.DatasetSplitPart, stratify []string, seed int64) (*ethos.DatasetSplit, error) {
	var sp ethos.DatasetSplit
	in := map[string]any{"parts": parts, "stratify_by": stratify, "seed": seed}
	if err := cl.do(ctx, "POST", projectPath(project, "/dataset-versions/"+url.PathEscape(version)+"/splits"), in, &sp); err != nil {
		return nil, err
	}
	return &sp, nil
}

// exportedManifest is what the client reads of manifest.json to check
// the archive.
type exportedManifest struct {
	Format  string              `json:"format"`
	Version string              `json:"version"`
	Weights []processing.Weight `json:"weights"`
	Entries []struct {
		ID     string `json:"id"`
		Path   string `json:"path"`
		SHA256 string `json:"sha256"`
		Size   int64  `json:"size"`
	} `json:"entries"`
}

// maxManifestBytes bounds manifest.json and manifest.csv in an archive.
const maxManifestBytes = 1 << 30

// datasetExportRemote streams the export archive from the server and
// unpacks it into out: into a directory beside out, every file checked
// against manifest.json (which comes first) for its path, size and
// SHA-256, nothing missing and nothing extra; then synced and renamed.
// On any error nothing is left at out.
func datasetExportRemote(ctx context.Context, env *Env, cl *client, project, version, out, split, reweigh string, asJSON bool) error {
	out = filepath.Clean(out)
	if _, err := os.Lstat(out); err == nil {
		return ethos.Errorf(ethos.EINVALID, "export: %s already exists", out)
	}
	q := url.Values{}
	setIf(q, "split", split)
	setIf(q, "reweigh", reweigh)
	// Untimed: an archive of many gigabytes takes its time; the context
	// (Ctrl-C) ends it.
	resp, err := cl.request(ctx, "GET", projectPath(project, "/dataset-versions/"+url.PathEscape(version)+"/export?"+q.Encode()), "", nil, true)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return replyError(resp)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(out), "."+filepath.Base(out)+".tmp-")
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(tmp)
		}
	}()
	res, err := unpackExport(tar.NewReader(resp.Body), tmp, version)
	if err != nil {
		return err
	}
	if err := syncPath(tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, out); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	ok = true
	if err := syncPath(filepath.Dir(out)); err != nil {
		return err
	}
	res.Dir = out
	if asJSON {
		return printJSON(env, res)
	}
	fmt.Fprintf(env.Stdout, "exported %.12s: %d files, %d bytes to %s (manifest.csv, manifest.json)\n", res.VersionID, res.Files, res.Bytes, res.Dir)
	return nil
}

// unpackExport reads an export archive into dir and checks it.
func unpackExport(tr *tar.Reader, dir, version string) (*processing.ExportResult, error) {
	bad := func(format string, a ...any) error {
		return ethos.Errorf(ethos.EINVALID, "export archive: "+format+"; nothing kept", a...)
	}
	var m *exportedManifest
	want := map[string]int{} // path -> entry index
	seen := map[string]bool{}
	res := &processing.ExportResult{VersionID: version}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, bad("%v (the stream ended early or is damaged)", err)
		}
		name := h.Name
		if h.Typeflag != tar.TypeReg || !filepath.IsLocal(name) || strings.Contains(name, "\\") || path.Clean(name) != name || seen[name] {
			return nil, bad("unexpected member %q", name)
		}
		seen[name] = true
		switch {
		case m == nil && name == "manifest.json":
			b, err := io.ReadAll(io.LimitReader(tr, maxManifestBytes+1))
			if err != nil {
				return nil, bad("manifest.json: %v", err)
			}
			if len(b) > maxManifestBytes {
				return nil, bad("manifest.json larger than %d bytes", maxManifestBytes)
			}
			m = &exportedManifest{}
			if err := json.Unmarshal(b, m); err != nil {
				return nil, bad("manifest.json: %v", err)
			}
			if m.Version != version || m.Format != processing.ManifestFormat {
				return nil, bad("manifest.json is of version %.12s (format %q), not %.12s", m.Version, m.Format, version)
			}
			for i, e := range m.Entries {
				if !strings.HasPrefix(e.Path, "files/") || !filepath.IsLocal(e.Path) {
					return nil, bad("manifest entry %s: path %q", e.ID, e.Path)
				}
				if _, dup := want[e.Path]; dup {
					return nil, bad("manifest entry %s: path %q listed twice", e.ID, e.Path)
				}
				if !ethos.ValidBlobDigest(e.SHA256) {
					// Without a hash the file could not be checked.
					return nil, bad("manifest entry %s: sha256 is not 64 lower-case hex digits", e.ID)
				}
				want[e.Path] = i
			}
			res.Weights = m.Weights
			if err := writeFileSynced(filepath.Join(dir, "manifest.json"), bytes.NewReader(b), -1, ""); err != nil {
				return nil, err
			}
		case m == nil:
			return nil, bad("%q before manifest.json", name)
		case name == "manifest.csv":
			if h.Size > maxManifestBytes {
				return nil, bad("manifest.csv larger than %d bytes", maxManifestBytes)
			}
			if err := writeFileSynced(filepath.Join(dir, name), tr, h.Size, ""); err != nil {
				return nil, bad("manifest.csv: %v", err)
			}
		default:
			i, ok := want[name]
			if !ok {
				return nil, bad("%q is not in the manifest", name)
			}
			e := m.Entries[i]
			if h.Size != e.Size {
				return nil, bad("%s: %d bytes, the manifest says %d", name, h.Size, e.Size)
			}
			p := filepath.Join(dir, filepath.FromSlash(name))
			if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
				return nil, err
			}
			if err := writeFileSynced(p, tr, e.Size, e.SHA256); err != nil {
				return nil, bad("%s: %v", name, err)
			}
			res.Files++
			res.Bytes += e.Size
		}
	}
	if m == nil {
		return nil, bad("no manifest.json")
	}
	if !seen["manifest.csv"] {
		return nil, bad("no manifest.csv")
	}
	if res.Files != len(m.Entries) {
		return nil, bad("%d of the manifest's %d files received (the stream ended early)", res.Files, len(m.Entries))
	}
	return res, nil
}

// writeFileSynced writes r to a new file at p (size bytes exactly unless
// size is negative), checks its SHA-256 against sum (unless empty) and
// syncs it.
func writeFileSynced(p string, r io.Reader, size int64, sum string) error {
	f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), r)
	if err == nil && size >= 0 && n != size {
		err = fmt.Errorf("%d bytes, want %d", n, size)
	}
	if err == nil && sum != "" && hex.EncodeToString(h.Sum(nil)) != sum {
		err = fmt.Errorf("content hash does not match the manifest's %.12s", sum)
	}
	if err == nil {
		err = f.Sync()
	}
	return errors.Join(err, f.Close())
}

func syncPath(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
