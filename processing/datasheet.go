package processing

import (
	"bytes"
	"context"
	"embed"
	"fmt"
	"html/template"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/ethos-imaging/ethos"
)

// A datasheet documents a dataset version in the seven sections of Gebru
// et al., "Datasheets for Datasets" (2021): motivation, composition,
// collection process, preprocessing, uses, distribution, maintenance. Every
// answer is generated from what Ethos recorded — the project, its
// collection records and consents, the processing run, the version and its
// splits, the access policy — and says "not recorded" where Ethos holds no
// fact; nothing is written by hand.

// DatasheetItem is one answered question.
type DatasheetItem struct {
	Key    string   `json:"key"`
	Label  string   `json:"label"`
	Value  string   `json:"value"`
	Values []string `json:"values,omitempty"` // list answers (one line each)
}

// DatasheetSection is one of the seven sections.
type DatasheetSection struct {
	Key   string          `json:"key"`
	Title string          `json:"title"`
	Items []DatasheetItem `json:"items"`
}

// Datasheet is the generated document.
type Datasheet struct {
	Version   string             `json:"version"` // dataset version id
	Project   string             `json:"project"`
	Generated time.Time          `json:"generated"`
	Sections  []DatasheetSection `json:"sections"`
}

// Item returns the answer with the key "section.item" (nil if none).
func (d *Datasheet) Item(key string) *DatasheetItem {
	sec, item, _ := strings.Cut(key, ".")
	for i := range d.Sections {
		if d.Sections[i].Key != sec {
			continue
		}
		for j := range d.Sections[i].Items {
			if d.Sections[i].Items[j].Key == item {
				return &d.Sections[i].Items[j]
			}
		}
	}
	return nil
}

const notRecorded = "not recorded"

// counts renders "a: 3, b: 1" sorted by key.
func counts(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s: %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

// Datasheet generates the datasheet of a version of the caller's project.
func (d *Datasets) Datasheet(ctx context.Context, c *Caller, versionID string) (*Datasheet, error) {
	v, err := d.Version(ctx, c, versionID)
	if err != nil {
		return nil, err
	}
	run, err := d.Runs.ProcessingRun(ctx, v.RunID)
	if err != nil {
		return nil, err
	}
	splits, err := d.Versions.FindDatasetSplits(ctx, v.ID)
	if err != nil {
		return nil, err
	}
	proj := c.Project.ID
	var all []*ethos.Instance
	for {
		page, n, err := d.Instances.FindInstances(ctx, ethos.InstanceFilter{ProjectID: &proj, Offset: len(all), Limit: 1000})
		if err != nil {
			return nil, err
		}
		all = append(all, page...)
		if len(page) == 0 || len(all) >= n {
			break
		}
	}
	versions, nv, err := d.Versions.FindDatasetVersions(ctx, ethos.DatasetVersionFilter{ProjectID: &proj, Limit: 1000})
	if err != nil {
		return nil, err
	}
	ds := buildDatasheet(c, v, run, splits, all, versions, nv, d.Decider, d.now())
	if err := d.audit(ctx, c, ethos.StageProcessing, c.Purpose, "dataset.datasheet", "dataset-version/"+v.ID, "allow", "datasheet generated"); err != nil {
		return nil, err
	}
	return ds, nil
}

func buildDatasheet(c *Caller, v *ethos.DatasetVersion, run *ethos.ProcessingRun, splits []*ethos.DatasetSplit, instances []*ethos.Instance,
	versions []*ethos.DatasetVersion, nVersions int, dec ethos.Decider, now time.Time) *Datasheet {
	p := c.Project
	or := func(s string) string {
		if strings.TrimSpace(s) == "" {
			return notRecorded
		}
		return s
	}
	ds := &Datasheet{Version: v.ID, Project: p.ID, Generated: now}

	// Members by instance, for consent coverage of exactly this version.
	member := map[string]bool{}
	patients := map[string]bool{}
	labels, modalities, bodyParts := map[string]int{}, map[string]int{}, map[string]int{}
	attrs := map[string]map[string]int{}
	for _, m := range v.Members {
		member[m.InstanceID] = true
	}
	labelled := 0
	for _, e := range v.Entries {
		patients[e.Patient] = true
		if e.Label != "" {
			labels[e.Label]++
			labelled++
		}
		modalities[or(e.Modality)]++
		bodyParts[or(e.BodyPart)]++
		for k, val := range e.Attributes {
			if attrs[k] == nil {
				attrs[k] = map[string]int{}
			}
			attrs[k][val]++
		}
	}
	var attrLines []string
	for _, k := range slices.Sorted(maps.Keys(attrs)) {
		attrLines = append(attrLines, k+": "+counts(attrs[k]))
	}
	attrValue := "none kept (Retain Patient Characteristics was not applied)"
	if len(attrLines) > 0 {
		attrValue = fmt.Sprintf("%d attribute(s) kept by Retain Patient Characteristics", len(attrLines))
	}

	// Collection facts over the whole project.
	status, reasons, sources := map[string]int{}, map[string]int{}, map[string]int{}
	consents := map[string]bool{}
	var first, last time.Time
	covered := 0
	for _, in := range instances {
		status[string(in.Status)]++
		if in.Reason != "" {
			reasons[string(in.Reason)]++
		}
		kind, _, _ := strings.Cut(in.Source, ":") // "file" or "stow-rs"; never the path
		sources[kind]++
		if first.IsZero() || in.ReceivedAt.Before(first) {
			first = in.ReceivedAt
		}
		if in.ReceivedAt.After(last) {
			last = in.ReceivedAt
		}
		if member[in.ID] {
			if in.ConsentID != "" {
				consents[in.ConsentID] = true
				if in.Status.Usable() {
					covered++
				}
			}
		}
	}
	window := notRecorded
	if !first.IsZero() {
		window = first.Format("2006-01-02") + " to " + last.Format("2006-01-02")
	}

	// Processing facts.
	runReasons := map[string]int{}
	for _, it := range run.Items {
		for _, r := range it.Reasons {
			r, _, _ = strings.Cut(r, ":")
			runReasons[r]++
		}
	}
	var flagged []string
	if run.Bias != nil {
		for _, g := range run.Bias.Groups {
			if g.Flagged {
				flagged = append(flagged, g.Why)
			}
		}
	}
	biasValue := "no processing bias record"
	if run.Bias != nil {
		biasValue = fmt.Sprintf("%d group(s) flagged at threshold %.2f (%.0f%% Wilson intervals); overall exclusion %.1f%%",
			run.Bias.Flagged, run.Bias.Threshold, 100*run.Bias.Confidence, 100*run.Bias.Overall)
	}

	// Splits.
	var splitLines []string
	for _, s := range splits {
		var parts []string
		for _, pt := range s.Parts {
			parts = append(parts, fmt.Sprintf("%s %.2f", pt.Name, pt.Fraction))
		}
		splitLines = append(splitLines, fmt.Sprintf("%s: %s; seed %d; stratified by %s; %d patients; leakage verified: %v",
			s.ID, strings.Join(parts, ", "), s.Seed, or(strings.Join(s.StratifyBy, ", ")), s.Leakage.Patients, s.Leakage.Verified))
	}

	// Access: the training row of the policy, for a member of each party
	// type outside the owning party without an agreement.
	var access []string
	if dec != nil {
		for _, pt := range []ethos.PartyType{ethos.PartyPublic, ethos.PartyPrivate, ethos.PartyThirdParty} {
			r := ethos.AccessRequest{UserID: "datasheet", PartyID: "other", PartyType: pt, Roles: []ethos.Role{ethos.RoleMLEngineer},
				ProjectID: p.ID, ProjectPartyID: p.PartyID, Stage: ethos.StageTraining, Action: ethos.ActionRead,
				Purpose: ethos.PurposeAITraining, View: ethos.ViewDeidentified, Now: now}
			d := dec.Decide(&r)
			line := fmt.Sprintf("%s: %s", pt, d.Level)
			if d.Level == ethos.LevelLimited {
				line += " (only under an active data-use agreement)"
			}
			access = append(access, line)
		}
	}
	var lineage []string
	for _, ov := range versions {
		line := ov.ID[:12] + " " + ov.CreatedAt.Format("2006-01-02")
		if ov.Parent != "" {
			line += " from " + ov.Parent[:min(12, len(ov.Parent))]
		}
		if ov.ID == v.ID {
			line += " (this version)"
		}
		lineage = append(lineage, line)
	}

	ds.Sections = []DatasheetSection{
		{Key: "motivation", Title: "Motivation", Items: []DatasheetItem{
			{Key: "purpose", Label: "For what purpose was the dataset created?", Value: or(p.IntendedUse)},
			{Key: "declared_purpose", Label: "Declared purpose of collection", Value: or(string(c.Purpose))},
			{Key: "project", Label: "Project", Value: p.Name + " (" + p.ID + ")"},
			{Key: "creator", Label: "Who created this version?", Value: "user " + v.CreatedBy + " on " + v.CreatedAt.Format(time.RFC3339)},
			{Key: "funding", Label: "Who funded the creation of the dataset?", Value: notRecorded},
		}},
		{Key: "composition", Title: "Composition", Items: []DatasheetItem{
			{Key: "instances", Label: "How many instances are there?", Value: fmt.Sprint(len(v.Entries))},
			{Key: "patients", Label: "How many (pseudonymous) patients?", Value: fmt.Sprint(len(patients))},
			{Key: "instance_type", Label: "What does each instance consist of?", Value: "one de-identified DICOM instance, named by a pseudonymous SOP Instance UID and patient pseudonym"},
			{Key: "modalities", Label: "Modalities", Value: counts(modalities)},
			{Key: "body_parts", Label: "Body parts", Value: counts(bodyParts)},
			{Key: "labels", Label: "Labels", Value: fmt.Sprintf("%d of %d labelled; %s", labelled, len(v.Entries), counts(labels))},
			{Key: "attributes", Label: "Patient characteristics kept", Value: attrValue, Values: attrLines},
			{Key: "splits", Label: "Recommended data splits", Value: fmt.Sprintf("%d split(s), all at patient level", len(splits)), Values: splitLines},
			{Key: "confidential", Label: "Does the dataset contain identifiable data?", Value: fmt.Sprintf("de-identified under %s, profile %s, options [%s]; %d instance(s) held back for possible burned-in or residual identifiers",
				run.Profile.Standard, run.Profile.Name, strings.Join(run.Profile.Options, ", "), run.Quarantined)},
		}},
		{Key: "collection", Title: "Collection process", Items: []DatasheetItem{
			{Key: "sources", Label: "How was the data acquired?", Value: "received by Ethos ingest: " + counts(sources)},
			{Key: "timeframe", Label: "Over what timeframe was the data received?", Value: window},
			{Key: "project_instances", Label: "Project instances by state", Value: counts(status)},
			{Key: "collection_exclusions", Label: "Instances not stored at collection, by reason", Value: counts(reasons)},
			{Key: "consent_coverage", Label: "Consent coverage of this version", Value: fmt.Sprintf("%d of %d member instances stored under a recorded consent and still usable; %d distinct consent(s)",
				covered, len(v.Members), len(consents))},
		}},
		{Key: "preprocessing", Title: "Preprocessing, cleaning, labelling", Items: []DatasheetItem{
			{Key: "run", Label: "Processing run", Value: fmt.Sprintf("%s by user %s, %s to %s", run.ID, run.StartedBy, run.StartedAt.Format(time.RFC3339), run.FinishedAt.Format(time.RFC3339))},
			{Key: "software", Label: "Software", Value: run.Software},
			{Key: "profile", Label: "De-identification profile", Value: fmt.Sprintf("%s, %s, options [%s], hash %s", run.Profile.Standard, run.Profile.Name, strings.Join(run.Profile.Options, ", "), run.Profile.Hash)},
			{Key: "key", Label: "Pseudonymisation key fingerprint", Value: run.KeyFingerprint},
			{Key: "outcomes", Label: "Run outcome", Value: fmt.Sprintf("%d input(s), %d written, %d quarantined", run.Inputs, run.Written, run.Quarantined)},
			{Key: "actions", Label: "De-identification actions applied", Value: counts(run.Actions)},
			{Key: "quarantine_reasons", Label: "Quarantine reasons", Value: counts(runReasons)},
			{Key: "bias", Label: "Loss per demographic group (QC-PRO-2)", Value: biasValue, Values: flagged},
			{Key: "integrity", Label: "Pixel data integrity", Value: "pixel data values compared byte for byte with the input's and found identical for every written instance not cleaned by Clean Pixel Data"},
			{Key: "labelling", Label: "How were labels made?", Value: labelSource(v)},
		}},
		{Key: "uses", Title: "Uses", Items: []DatasheetItem{
			{Key: "intended", Label: "Intended use", Value: or(p.IntendedUse)},
			{Key: "setting", Label: "Clinical setting", Value: or(p.ClinicalSetting)},
			{Key: "consented_purpose", Label: "Purpose the consents were checked for", Value: or(string(c.Purpose))},
			{Key: "not_for", Label: "Uses the dataset should not be put to", Value: "any purpose the subjects' consents do not cover; re-identification of subjects"},
		}},
		{Key: "distribution", Title: "Distribution", Items: []DatasheetItem{
			{Key: "how", Label: "How is the dataset distributed?", Value: "Ethos export: manifest.csv and manifest.json with the de-identified files, through the access policy's training row, audited"},
			{Key: "access", Label: "Training access by party type (outside the owning party)", Value: fmt.Sprintf("%d party type(s)", len(access)), Values: access},
			{Key: "manifest", Label: "Manifest (content address)", Value: "sha256:" + v.ID},
		}},
		{Key: "maintenance", Title: "Maintenance", Items: []DatasheetItem{
			{Key: "maintainer", Label: "Who maintains the dataset?", Value: "the project owner party " + p.PartyID},
			{Key: "versions", Label: "Versions of this project's dataset", Value: fmt.Sprint(nVersions), Values: lineage},
			{Key: "withdrawal", Label: "What happens when a subject withdraws?", Value: "new versions leave the subject out; the subject's outputs are stored under the subject's data key, so erasure destroys them; versions that hold the subject are found by subject key"},
			{Key: "immutability", Label: "Can a version change?", Value: "no: a version is identified by the SHA-256 of its manifest; any change makes a new version"},
		}},
	}
	return ds
}

func labelSource(v *ethos.DatasetVersion) string {
	if v.Parent == "" {
		return "no labels imported into this version"
	}
	return "imported from a validated CSV label file into this version, derived from version " + v.Parent
}

// WriteMarkdown renders the datasheet as Markdown.
func (d *Datasheet) WriteMarkdown(w io.Writer) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Datasheet: dataset version %s\n\nProject %s. Generated %s from the records Ethos keeps.\n", d.Version, d.Project, d.Generated.Format(time.RFC3339))
	for _, s := range d.Sections {
		fmt.Fprintf(&b, "\n## %s\n\n", s.Title)
		for _, it := range s.Items {
			fmt.Fprintf(&b, "- **%s** %s\n", mdEscape(it.Label), mdEscape(it.Value))
			for _, v := range it.Values {
				fmt.Fprintf(&b, "  - %s\n", mdEscape(v))
			}
		}
	}
	_, err := w.Write(b.Bytes())
	return err
}

func mdEscape(s string) string {
	r := strings.NewReplacer("\\", "\\\\", "*", "\\*", "_", "\\_", "`", "\\`", "<", "&lt;", "[", "\\[", "\n", " ")
	return r.Replace(s)
}

//go:embed datasheet.html.tmpl
var tmplFS embed.FS

var datasheetTmpl = template.Must(template.ParseFS(tmplFS, "datasheet.html.tmpl"))

// WriteHTML renders the datasheet as a standalone HTML page (rendered into
// a buffer first: nothing is written on error).
func (d *Datasheet) WriteHTML(w io.Writer) error {
	var b bytes.Buffer
	if err := datasheetTmpl.Execute(&b, d); err != nil {
		return err
	}
	_, err := w.Write(b.Bytes())
	return err
}
