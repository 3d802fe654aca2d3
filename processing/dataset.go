package processing

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ethos-imaging/ethos"
)

// ManifestFormat names the canonical manifest encoding hashed into a
// dataset version's id. Changing the encoding means a new format name.
const ManifestFormat = "ethos-dataset-manifest/1"

// canonicalManifest is what a version's id is the hash of: the format
// name and the entries sorted by id. encoding/json writes struct fields
// in declaration order and map keys sorted, with no insignificant space,
// so the bytes depend only on the content.
type canonicalManifest struct {
	Format  string                `json:"format"`
	Entries []ethos.ManifestEntry `json:"entries"`
}

// CanonicalManifest returns the canonical bytes of entries (sorted by id
// on a copy; the input is not changed).
func CanonicalManifest(entries []ethos.ManifestEntry) ([]byte, error) {
	es := slices.Clone(entries)
	slices.SortFunc(es, func(a, b ethos.ManifestEntry) int { return strings.Compare(a.ID, b.ID) })
	for i := range es {
		if len(es[i].Attributes) == 0 {
			es[i].Attributes = nil
		}
	}
	return json.Marshal(canonicalManifest{Format: ManifestFormat, Entries: es})
}

// ManifestID is the content address of a manifest: the SHA-256 of its
// canonical bytes, in hex.
func ManifestID(entries []ethos.ManifestEntry) (string, error) {
	b, err := CanonicalManifest(entries)
	if err != nil {
		return "", err
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:]), nil
}

// Datasets builds, labels, splits, documents and exports dataset versions.
type Datasets struct {
	Runs      ethos.ProcessingService
	Instances ethos.InstanceService
	Versions  ethos.DatasetService
	Blobs     ethos.BlobStore
	Lineage   ethos.LineageRecorder
	Auditor   ethos.Auditor
	Decider   ethos.Decider
	Now       func() time.Time
}

func (d *Datasets) now() time.Time {
	if d.Now != nil {
		return d.Now().UTC()
	}
	return time.Now().UTC()
}

// Caller is who asks, for the access policy and the audit log.
type Caller struct {
	Project   *ethos.Project
	Purpose   ethos.Purpose // the project's declared purpose
	Access    ethos.AccessRequest
	RequestID string
}

func (d *Datasets) decide(ctx context.Context, c *Caller, stage ethos.Stage, action ethos.Action, purpose ethos.Purpose, view ethos.View, auditAction, resource string) (ethos.AccessDecision, error) {
	ar := c.Access
	ar.ProjectID, ar.ProjectPartyID = c.Project.ID, c.Project.PartyID
	ar.Stage, ar.Action, ar.Purpose, ar.View, ar.Now = stage, action, purpose, view, d.now()
	dec := d.Decider.Decide(&ar)
	if !dec.Allow {
		if err := d.audit(ctx, c, stage, purpose, auditAction, resource, "deny", "rule "+dec.Rule+": "+dec.Reason); err != nil {
			return dec, err
		}
		return dec, dec.Err()
	}
	return dec, nil
}

func (d *Datasets) audit(ctx context.Context, c *Caller, stage ethos.Stage, purpose ethos.Purpose, action, resource, decision, reason string) error {
	return d.Auditor.Record(ctx, ethos.AuditEvent{Time: d.now(), Actor: c.Access.UserID, Party: c.Access.PartyID, Action: action,
		Resource: resource, Stage: stage, Purpose: purpose, Decision: decision, Reason: reason, RequestID: c.RequestID})
}

// Create builds a dataset version from the written outputs of a
// processing run of the caller's project. Outputs whose collection
// instance is no longer usable (withdrawn or erased since the run) are
// left out and counted in the returned number. Building the same content
// twice returns the existing version (content addressing), not an error.
func (d *Datasets) Create(ctx context.Context, c *Caller, runID, description string) (*ethos.DatasetVersion, int, error) {
	// The run id is typed by the caller: checked for shape before it
	// names the audit entry's target, and never quoted back.
	if !ethos.ValidID(runID) || ethos.IdentifierProblem(runID, true) != "" {
		return nil, 0, ethos.Errorf(ethos.EINVALID, "run_id: not a processing run id")
	}
	if _, err := d.decide(ctx, c, ethos.StageProcessing, ethos.ActionWrite, c.Purpose, "", "dataset.create", "processing-run/"+runID); err != nil {
		return nil, 0, err
	}
	run, err := d.Runs.ProcessingRun(ctx, runID)
	if ethos.ErrorCode(err) == ethos.ENOTFOUND || err == nil && run.ProjectID != c.Project.ID {
		return nil, 0, ethos.Errorf(ethos.ENOTFOUND, "run_id: no such processing run in project %s", c.Project.ID)
	}
	if err != nil {
		return nil, 0, err
	}
	usable, err := d.usable(ctx, c.Project.ID)
	if err != nil {
		return nil, 0, err
	}
	v := &ethos.DatasetVersion{ProjectID: c.Project.ID, RunID: run.ID, Description: description, CreatedAt: d.now(), CreatedBy: c.Access.UserID}
	skipped := 0
	for _, it := range run.Items {
		if it.Status != ethos.ItemWritten {
			continue
		}
		if !usable[it.InstanceID] {
			skipped++
			continue
		}
		v.Entries = append(v.Entries, ethos.ManifestEntry{ID: it.OutputUID, Patient: it.PseudoID, SHA256: it.OutputSHA256, Size: it.Output.Size,
			Path: it.OutputName, Modality: it.Modality, BodyPart: it.BodyPart, Attributes: it.Attributes})
		v.Members = append(v.Members, ethos.DatasetMember{EntryID: it.OutputUID, InstanceID: it.InstanceID, Subject: it.Subject, Blob: *it.Output})
	}
	if len(v.Entries) == 0 {
		return nil, skipped, ethos.Errorf(ethos.EINVALID, "dataset: processing run %s has no usable outputs", runID)
	}
	v, err = d.store(ctx, c, v, "dataset.create", fmt.Sprintf("from processing run %s: %d entries, %d left out (no longer usable)", run.ID, len(v.Entries), skipped))
	return v, skipped, err
}

// usable returns the ids of the project's instances that may still be used.
func (d *Datasets) usable(ctx context.Context, project string) (map[string]bool, error) {
	st := ethos.InstanceStored
	out := map[string]bool{}
	for off := 0; ; {
		page, n, err := d.Instances.FindInstances(ctx, ethos.InstanceFilter{ProjectID: &project, Status: &st, Offset: off, Limit: 1000})
		if err != nil {
			return nil, err
		}
		for _, in := range page {
			out[in.ID] = true
		}
		off += len(page)
		if len(page) == 0 || off >= n {
			return out, nil
		}
	}
}

// store sorts, addresses, links and saves a new version; an existing
// version with the same content is returned as is.
func (d *Datasets) store(ctx context.Context, c *Caller, v *ethos.DatasetVersion, action, reason string) (*ethos.DatasetVersion, error) {
	slices.SortFunc(v.Entries, func(a, b ethos.ManifestEntry) int { return strings.Compare(a.ID, b.ID) })
	slices.SortFunc(v.Members, func(a, b ethos.DatasetMember) int { return strings.Compare(a.EntryID, b.EntryID) })
	for i := 1; i < len(v.Entries); i++ {
		if v.Entries[i].ID == v.Entries[i-1].ID {
			return nil, ethos.Errorf(ethos.EINVALID, "dataset: two entries share the id %s", v.Entries[i].ID)
		}
	}
	id, err := ManifestID(v.Entries)
	if err != nil {
		return nil, err
	}
	v.ID = id
	if old, err := d.Versions.DatasetVersion(ctx, id); err == nil {
		return old, nil
	} else if ethos.ErrorCode(err) != ethos.ENOTFOUND {
		return nil, err
	}
	if d.Lineage != nil {
		if err := d.Lineage.RecordLineage(ctx, VersionEdges(v)...); err != nil {
			return nil, fmt.Errorf("record lineage of dataset version %.12s: %w", v.ID, err)
		}
	}
	if err := d.Versions.CreateDatasetVersion(ctx, v); err != nil {
		if ethos.ErrorCode(err) == ethos.ECONFLICT {
			return d.Versions.DatasetVersion(ctx, id)
		}
		return nil, err
	}
	if err := d.audit(ctx, c, ethos.StageProcessing, c.Purpose, action, "dataset-version/"+v.ID, "allow", reason); err != nil {
		return nil, err
	}
	return v, nil
}

// VersionEdges is the lineage of a version: it wasDerivedFrom each
// de-identified instance (and from its parent version) and
// wasAttributedTo its creator.
func VersionEdges(v *ethos.DatasetVersion) []ethos.LineageEdge {
	n := ethos.LineageNode{Kind: ethos.LineageDatasetVersion, ID: v.ID}
	edges := []ethos.LineageEdge{{From: n, Relation: ethos.RelWasAttributedTo, To: ethos.LineageNode{Kind: ethos.LineageAgent, ID: v.CreatedBy}, At: v.CreatedAt}}
	if v.Parent != "" {
		edges = append(edges, ethos.LineageEdge{From: n, Relation: ethos.RelWasDerivedFrom, To: ethos.LineageNode{Kind: ethos.LineageDatasetVersion, ID: v.Parent}, At: v.CreatedAt})
	}
	for _, m := range v.Members {
		edges = append(edges, ethos.LineageEdge{From: n, Relation: ethos.RelWasDerivedFrom,
			To: ethos.LineageNode{Kind: ethos.LineageDeidInstance, ID: DeidNodeID(v.RunID, m.InstanceID)}, At: v.CreatedAt})
	}
	return edges
}

// Relabel is one entry whose label changed between two versions.
type Relabel struct {
	ID   string `json:"id"`
	From string `json:"from"`
	To   string `json:"to"`
}

// Diff lists what changed from version a to version b.
type Diff struct {
	From       string    `json:"from"`
	To         string    `json:"to"`
	Added      []string  `json:"added"`
	Removed    []string  `json:"removed"`
	Relabelled []Relabel `json:"relabelled"`
	Changed    []string  `json:"changed"` // same id, other content (hash, attributes)
	Unchanged  int       `json:"unchanged"`
}

// DiffVersions compares the manifests of a and b.
func DiffVersions(a, b *ethos.DatasetVersion) *Diff {
	d := &Diff{From: a.ID, To: b.ID, Added: []string{}, Removed: []string{}, Relabelled: []Relabel{}, Changed: []string{}}
	old := map[string]*ethos.ManifestEntry{}
	for i := range a.Entries {
		old[a.Entries[i].ID] = &a.Entries[i]
	}
	seen := map[string]bool{}
	for i := range b.Entries {
		e := &b.Entries[i]
		seen[e.ID] = true
		o, ok := old[e.ID]
		switch {
		case !ok:
			d.Added = append(d.Added, e.ID)
		case o.Label != e.Label:
			d.Relabelled = append(d.Relabelled, Relabel{ID: e.ID, From: o.Label, To: e.Label})
			if !sameButLabel(o, e) {
				d.Changed = append(d.Changed, e.ID)
			}
		case !sameButLabel(o, e):
			d.Changed = append(d.Changed, e.ID)
		default:
			d.Unchanged++
		}
	}
	for _, e := range a.Entries {
		if !seen[e.ID] {
			d.Removed = append(d.Removed, e.ID)
		}
	}
	slices.Sort(d.Added)
	slices.Sort(d.Removed)
	slices.Sort(d.Changed)
	slices.SortFunc(d.Relabelled, func(x, y Relabel) int { return cmp.Compare(x.ID, y.ID) })
	return d
}

func sameButLabel(a, b *ethos.ManifestEntry) bool {
	x, y := *a, *b
	x.Label, y.Label = "", ""
	bx, _ := json.Marshal(x)
	by, _ := json.Marshal(y)
	return string(bx) == string(by)
}

// Version returns a version of the caller's project after a read check at
// the processing stage.
func (d *Datasets) Version(ctx context.Context, c *Caller, id string) (*ethos.DatasetVersion, error) {
	dec, err := d.decide(ctx, c, ethos.StageProcessing, ethos.ActionRead, c.Purpose, ethos.ViewDeidentified, "dataset.read", "dataset-version/"+id)
	if err != nil {
		return nil, err
	}
	if err := d.audit(ctx, c, ethos.StageProcessing, c.Purpose, "dataset.read", "dataset-version/"+id, "allow", "rule "+dec.Rule); err != nil {
		return nil, err
	}
	v, err := d.Versions.DatasetVersion(ctx, id)
	if err != nil {
		return nil, err
	}
	if v.ProjectID != c.Project.ID {
		return nil, ethos.Errorf(ethos.ENOTFOUND, "dataset version %.12s not found in project %s", id, c.Project.ID)
	}
	return v, nil
}

// CheckRead applies the access policy to a read of the caller's project
// at the processing stage (processing records, versions, splits); a
// refusal is audited.
func (d *Datasets) CheckRead(ctx context.Context, c *Caller, resource string) error {
	dec, err := d.decide(ctx, c, ethos.StageProcessing, ethos.ActionRead, c.Purpose, ethos.ViewDeidentified, "processing.read", resource)
	if err != nil {
		return err
	}
	return d.audit(ctx, c, ethos.StageProcessing, c.Purpose, "processing.read", resource, "allow", "rule "+dec.Rule)
}
