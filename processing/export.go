package processing

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/ethos-imaging/ethos"
)

// ExportOptions choose what goes with an export.
type ExportOptions struct {
	// Gate is consulted before anything is read (nil allows).
	Gate ethos.ExportGate
	// SplitID adds each entry's split part ("" for none).
	SplitID string
	// ReweighBy adds Kamiran–Calders weights by these attributes (none
	// when empty).
	ReweighBy []string
}

// ExportResult says what was written.
type ExportResult struct {
	Dir       string   `json:"dir"`
	VersionID string   `json:"version_id"`
	Files     int      `json:"files"`
	Bytes     int64    `json:"bytes"`
	DUAID     string   `json:"dua_id,omitempty"` // the agreement that allowed a limited access
	Weights   []Weight `json:"weights,omitempty"`
}

// exportEntry is one manifest row of an export.
type exportEntry struct {
	ethos.ManifestEntry
	Split  string   `json:"split,omitempty"`
	Weight *float64 `json:"weight,omitempty"`
}

// exportManifest is manifest.json.
type exportManifest struct {
	Format    string        `json:"format"`
	Version   string        `json:"version"`
	Parent    string        `json:"parent,omitempty"`
	Project   string        `json:"project"`
	Run       string        `json:"processing_run"`
	Split     string        `json:"split,omitempty"`
	ReweighBy []string      `json:"reweigh_by,omitempty"`
	Weights   []Weight      `json:"weights,omitempty"`
	Entries   []exportEntry `json:"entries"`
}

// exportPlan is an export decided and checked, before anything is
// written: the manifest with its rows and where each file's blob is.
type exportPlan struct {
	resource string
	dec      ethos.AccessDecision
	m        exportManifest
	blobOf   map[string]ethos.BlobRef
	opts     ExportOptions
}

// planExport decides and checks an export: the policy's training row for
// ai-training on de-identified data (a limited party needs an active
// data-use agreement in the caller's DUAs), the export gate, that every
// member is still usable, the split and the weights. Refusals are
// audited.
func (d *Datasets) planExport(ctx context.Context, c *Caller, versionID string, o ExportOptions) (*exportPlan, error) {
	resource := "dataset-version/" + versionID
	dec, err := d.decide(ctx, c, ethos.StageTraining, ethos.ActionRead, ethos.PurposeAITraining, ethos.ViewDeidentified, "dataset.export", resource)
	if err != nil {
		return nil, err
	}
	refuse := func(err error, why string) (*exportPlan, error) {
		if aerr := d.audit(ctx, c, ethos.StageTraining, ethos.PurposeAITraining, "dataset.export", resource, "deny", why); aerr != nil {
			return nil, errors.Join(err, aerr)
		}
		return nil, err
	}
	if o.Gate != nil {
		if err := o.Gate(ctx, versionID); err != nil {
			return refuse(err, "export gate: "+ethos.ErrorMessage(err))
		}
	}
	v, err := d.Versions.DatasetVersion(ctx, versionID)
	if err != nil {
		return nil, err
	}
	if v.ProjectID != c.Project.ID {
		return nil, ethos.Errorf(ethos.ENOTFOUND, "dataset version %.12s not found in project %s", versionID, c.Project.ID)
	}
	usable, err := d.usable(ctx, c.Project.ID)
	if err != nil {
		return nil, err
	}
	gone := 0
	for _, m := range v.Members {
		if !usable[m.InstanceID] {
			gone++
		}
	}
	if gone > 0 {
		return refuse(ethos.Errorf(ethos.ECONSENT, "dataset version %.12s: %d of %d instances are no longer usable (consent withdrawn or erased); build a new version", v.ID, gone, len(v.Members)),
			fmt.Sprintf("%d members no longer usable", gone))
	}
	m := exportManifest{Format: ManifestFormat, Version: v.ID, Parent: v.Parent, Project: v.ProjectID, Run: v.RunID, ReweighBy: o.ReweighBy}
	var assign map[string]string
	if o.SplitID != "" {
		sp, err := d.Versions.DatasetSplit(ctx, o.SplitID)
		if err != nil {
			return nil, err
		}
		if sp.VersionID != v.ID {
			return nil, ethos.Errorf(ethos.EINVALID, "split %s belongs to another dataset version", o.SplitID)
		}
		if l := CheckLeakage(v, sp.Assignment); !l.Verified {
			return nil, ethos.Errorf(ethos.EINVALID, "split %s: %d patients in more than one part", o.SplitID, len(l.Leaked))
		}
		m.Split, assign = sp.ID, sp.Assignment
	}
	weightOf := map[[2]string]float64{}
	if len(o.ReweighBy) > 0 {
		ws, err := Reweigh(v, o.ReweighBy)
		if err != nil {
			return nil, err
		}
		m.Weights = ws
		for _, w := range ws {
			weightOf[[2]string{w.Group, w.Label}] = w.Weight
		}
	}
	blobOf := map[string]ethos.BlobRef{}
	for _, mb := range v.Members {
		blobOf[mb.EntryID] = mb.Blob
	}
	for _, e := range v.Entries {
		ee := exportEntry{ManifestEntry: e, Split: assign[e.ID]}
		if !filepath.IsLocal(e.Path) || strings.Contains(e.Path, "\\") {
			return nil, ethos.Errorf(ethos.EINVALID, "entry %s: path %q is not a local relative path", e.ID, e.Path)
		}
		ee.Path = "files/" + e.Path
		if len(o.ReweighBy) > 0 {
			w := weightOf[[2]string{groupOf(&e, o.ReweighBy), attrValue(&e, "label")}]
			ee.Weight = &w
		}
		m.Entries = append(m.Entries, ee)
	}
	return &exportPlan{resource: resource, dec: dec, m: m, blobOf: blobOf, opts: o}, nil
}

// reason is the audit reason of an export of files and bytes.
func (pl *exportPlan) reason(files int, bytes int64) string {
	r := fmt.Sprintf("%d files, %d bytes, split %q, reweighed by [%s], rule %s", files, bytes, pl.m.Split, strings.Join(pl.opts.ReweighBy, ","), pl.dec.Rule)
	if pl.dec.DUAID != "" {
		r += ", under DUA " + pl.dec.DUAID
	}
	return r
}

// Export writes a version for training into dir (which must not exist):
// the de-identified files under files/ at each entry's path, manifest.csv
// (one row per file, with "path" relative to dir) and manifest.json, as a
// PyTorch Dataset or a MONAI data list reads them. Access goes through the
// policy's training row for ai-training on de-identified data (a limited
// party needs an active data-use agreement in the caller's DUAs), then
// through the export gate; refusals and the export are audited. Every
// member must still be usable (not withdrawn or erased) and every file's
// SHA-256 must match the manifest; the directory appears whole or not at
// all (built beside it and renamed).
func (d *Datasets) Export(ctx context.Context, c *Caller, versionID, dir string, o ExportOptions) (*ExportResult, error) {
	pl, err := d.planExport(ctx, c, versionID, o)
	if err != nil {
		return nil, err
	}
	m := &pl.m
	dir = filepath.Clean(dir)
	if _, err := os.Lstat(dir); err == nil {
		return nil, ethos.Errorf(ethos.EINVALID, "export: %s already exists", dir)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), "."+filepath.Base(dir)+".tmp-")
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(tmp)
		}
	}()
	res := &ExportResult{Dir: dir, VersionID: m.Version, DUAID: pl.dec.DUAID, Weights: m.Weights}
	for _, e := range m.Entries {
		if err := d.writeVerified(ctx, filepath.Join(tmp, filepath.FromSlash(e.Path)), pl.blobOf[e.ID], e); err != nil {
			return nil, fmt.Errorf("export entry %s: %w", e.ID, err)
		}
		res.Files++
		res.Bytes += e.Size
	}
	if err := writeSynced(filepath.Join(tmp, "manifest.json"), func(w io.Writer) error { return writeManifestJSON(w, m) }); err != nil {
		return nil, err
	}
	if err := writeSynced(filepath.Join(tmp, "manifest.csv"), func(w io.Writer) error { return writeManifestCSV(w, m) }); err != nil {
		return nil, err
	}
	if err := syncDir(tmp); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, dir); err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	ok = true
	if err := syncDir(filepath.Dir(dir)); err != nil {
		return nil, err
	}
	if err := d.audit(ctx, c, ethos.StageTraining, ethos.PurposeAITraining, "dataset.export", pl.resource, "allow", pl.reason(res.Files, res.Bytes)); err != nil {
		return nil, err
	}
	return res, nil
}

func writeManifestJSON(w io.Writer, m *exportManifest) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(m)
}

// writeVerified decrypts one blob to path, checking its size and SHA-256
// against the manifest entry as it is copied (copyVerified, as for a tar
// export).
func (d *Datasets) writeVerified(ctx context.Context, path string, ref ethos.BlobRef, e exportEntry) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return writeSynced(path, func(w io.Writer) error { return d.copyVerified(ctx, w, ref, e) })
}

func writeSynced(path string, fill func(io.Writer) error) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if err := fill(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// writeManifestCSV writes one row per entry: fixed columns, then one
// column per kept patient characteristic (sorted by name).
func writeManifestCSV(w io.Writer, m *exportManifest) error {
	attrs := map[string]bool{}
	for _, e := range m.Entries {
		for k := range e.Attributes {
			attrs[k] = true
		}
	}
	attrNames := slices.Sorted(maps.Keys(attrs))
	cw := csv.NewWriter(w)
	header := []string{"id", "patient", "path", "sha256", "size", "modality", "body_part", "label", "split", "weight"}
	for _, a := range attrNames {
		header = append(header, "attr_"+a)
	}
	if err := cw.Write(header); err != nil {
		return err
	}
	for _, e := range m.Entries {
		weight := ""
		if e.Weight != nil {
			weight = strconv.FormatFloat(*e.Weight, 'g', -1, 64)
		}
		row := []string{e.ID, e.Patient, e.Path, e.SHA256, strconv.FormatInt(e.Size, 10), e.Modality, e.BodyPart, e.Label, e.Split, weight}
		for _, a := range attrNames {
			row = append(row, csvSafe(e.Attributes[a]))
		}
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// csvSafe keeps a value from being read as a formula by a spreadsheet.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
