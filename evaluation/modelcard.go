package evaluation

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/ethos-imaging/ethos/evalstat"
)

// ModelCard follows the fields of the Model Card Toolkit's JSON schema
// (version 0.0.2): model details, model parameters (with the evaluation
// and training data), quantitative analysis and considerations (users,
// use cases, limitations, trade-offs, ethical considerations). Ethos fills
// it from what it holds: the plan, the attempt, its results and sign-offs,
// the project.
type ModelCard struct {
	SchemaVersion        string              `json:"schema_version"`
	ModelDetails         CardModelDetails    `json:"model_details"`
	ModelParameters      CardModelParameters `json:"model_parameters"`
	QuantitativeAnalysis CardQuantitative    `json:"quantitative_analysis"`
	Considerations       CardConsiderations  `json:"considerations"`
}

// CardModelDetails is the card's model_details.
type CardModelDetails struct {
	Name          string          `json:"name"`
	Overview      string          `json:"overview"`
	Documentation string          `json:"documentation"`
	Owners        []CardOwner     `json:"owners"`
	Version       CardVersion     `json:"version"`
	References    []CardReference `json:"references"`
}

// CardOwner names who is responsible for the model.
type CardOwner struct {
	Name    string `json:"name"`
	Contact string `json:"contact"`
}

// CardVersion is the model version.
type CardVersion struct {
	Name string `json:"name"`
	Date string `json:"date"`
	Diff string `json:"diff,omitempty"`
}

// CardReference is a reference.
type CardReference struct {
	Reference string `json:"reference"`
}

// CardModelParameters is the card's model_parameters.
type CardModelParameters struct {
	ModelArchitecture string        `json:"model_architecture"`
	Data              []CardDataset `json:"data"`
	InputFormat       string        `json:"input_format"`
	OutputFormat      string        `json:"output_format"`
}

// CardDataset describes a data set.
type CardDataset struct {
	Name        string        `json:"name"`
	Description string        `json:"description"`
	Link        string        `json:"link"`
	Sensitive   CardSensitive `json:"sensitive"`
}

// CardSensitive lists sensitive attributes of a data set.
type CardSensitive struct {
	SensitiveData []string `json:"sensitive_data"`
}

// CardQuantitative is the card's quantitative_analysis.
type CardQuantitative struct {
	PerformanceMetrics []CardMetric `json:"performance_metrics"`
	Graphics           CardGraphics `json:"graphics"`
}

// CardMetric is one performance metric on one slice.
type CardMetric struct {
	Type               string        `json:"type"`
	Value              string        `json:"value"`
	Slice              string        `json:"slice"`
	Threshold          string        `json:"threshold,omitempty"`
	ConfidenceInterval *CardInterval `json:"confidence_interval,omitempty"`
}

// CardInterval is a confidence interval.
type CardInterval struct {
	LowerBound string `json:"lower_bound"`
	UpperBound string `json:"upper_bound"`
}

// CardGraphics holds charts as base64 images.
type CardGraphics struct {
	Description string        `json:"description"`
	Collection  []CardGraphic `json:"collection"`
}

// CardGraphic is one chart (an SVG image, base64).
type CardGraphic struct {
	Name  string `json:"name"`
	Image string `json:"image"`
}

// CardConsiderations is the card's considerations.
type CardConsiderations struct {
	Users                 []CardDescription `json:"users"`
	UseCases              []CardDescription `json:"use_cases"`
	Limitations           []CardDescription `json:"limitations"`
	Tradeoffs             []CardDescription `json:"tradeoffs"`
	EthicalConsiderations []CardRisk        `json:"ethical_considerations"`
}

// CardDescription is a free-text item.
type CardDescription struct {
	Description string `json:"description"`
}

// CardRisk is an ethical consideration and its mitigation.
type CardRisk struct {
	Name               string `json:"name"`
	MitigationStrategy string `json:"mitigation_strategy"`
}

// cardMetrics are the metrics reported per slice.
var cardMetrics = []string{"sensitivity", "specificity", "ppv", "npv", "ppv_at_prevalence", "npv_at_prevalence", "auroc", "auprc", "brier", "ece", "net_benefit"}

func fmtNum(x float64) string { return fmt.Sprintf("%.4f", x) }

// NewModelCard fills a model card from d.
func NewModelCard(d *ReportData) (*ModelCard, error) {
	p, err := build(d)
	if err != nil {
		return nil, err
	}
	rep := d.Report
	mc := &ModelCard{SchemaVersion: "0.0.2"}
	md := &mc.ModelDetails
	md.Name = p.Title
	md.Owners = []CardOwner{}
	md.References = []CardReference{{Reference: "Ethos evaluation report schema " + rep.SchemaVersion + " (docs/eval-schema.md); metric definitions docs/metrics.md"}}
	mc.ModelParameters.Data = []CardDataset{}
	cons := &mc.Considerations
	cons.Users, cons.UseCases, cons.Tradeoffs = []CardDescription{}, []CardDescription{}, []CardDescription{}
	if d.Plan != nil {
		pl := d.Plan
		md.Version = CardVersion{Name: pl.ModelVersionID}
		md.Overview = fmt.Sprintf("Model version %s evaluated on test data set %s under evaluation plan %s, pre-registered at %s (audit log entry %d).",
			pl.ModelVersionID, pl.DatasetVersionID, pl.ID, pl.RegisteredAt.UTC().Format("2006-01-02T15:04:05Z"), pl.AuditIndex)
		if pl.IntendedUse != "" {
			cons.UseCases = append(cons.UseCases, CardDescription{pl.IntendedUse})
		}
		mc.ModelParameters.Data = append(mc.ModelParameters.Data,
			CardDataset{Name: pl.DatasetVersionID, Description: fmt.Sprintf("Evaluation data: held-out test data set version %s, %d rows, %d with the condition.", pl.DatasetVersionID, rep.Overall.N, rep.Overall.Positives),
				Link: "dataset-version/" + pl.DatasetVersionID, Sensitive: CardSensitive{SensitiveData: append([]string{}, pl.Attributes...)}},
			CardDataset{Name: "training data of " + pl.ModelVersionID, Description: "Training data: recorded by the training stage for model version " + pl.ModelVersionID + " (its datasheet and lineage); not part of this evaluation.",
				Link: "model-version/" + pl.ModelVersionID, Sensitive: CardSensitive{SensitiveData: []string{}}})
		md.Owners = append(md.Owners, CardOwner{Name: pl.RegisteredBy, Contact: "Ethos user " + pl.RegisteredBy})
	} else {
		md.Overview = "Evaluation of " + d.Source
		md.Version = CardVersion{Name: "unspecified"}
	}
	if m := d.Model; m != nil {
		md.Name = m.Name + ": " + p.Title
		md.Version.Date = m.CreatedAt.UTC().Format("2006-01-02")
		md.Version.Diff = fmt.Sprintf("artefact sha256:%s, produced by training run %s", m.SHA256, m.Run)
		md.References = append(md.References, CardReference{Reference: "training-run/" + m.Run + " in the Ethos training register"})
		for i := range mc.ModelParameters.Data {
			if strings.HasPrefix(mc.ModelParameters.Data[i].Name, "training data of ") {
				mc.ModelParameters.Data[i] = CardDataset{Name: m.DatasetVersion, Link: "dataset-version/" + m.DatasetVersion,
					Description: fmt.Sprintf("Training data: data set version %s, used by training run %s (its datasheet, consent coverage and lineage are in the training stage).", m.DatasetVersion, m.Run),
					Sensitive:   CardSensitive{SensitiveData: []string{}}}
			}
		}
	}
	if d.Run != nil {
		if md.Version.Date == "" {
			md.Version.Date = d.Run.UploadedAt.UTC().Format("2006-01-02")
		}
		md.Documentation = fmt.Sprintf("Attempt %d (%s): predictions %s uploaded %s (audit log entry %d); criteria outcome %s (%d pass, %d fail, %d undetermined).",
			d.Run.Attempt, d.Run.ID, d.Run.InputDigest, d.Run.UploadedAt.UTC().Format("2006-01-02T15:04:05Z"), d.Run.AuditIndex, d.Run.Outcome, d.Run.Passed, d.Run.Failed, d.Run.Undetermined)
	}
	if d.Status != nil {
		md.Documentation += fmt.Sprintf(" Evaluation stage passed: %t; ethics review %s; plain-language report acknowledged: %t.", d.Status.Passed, d.Status.Ethics, d.Status.Acknowledged)
	}
	if d.Project != nil {
		mc.ModelParameters.ModelArchitecture = "not recorded by the evaluation stage"
		mc.ModelParameters.InputFormat = d.Project.Modality + " images"
		cons.Users = append(cons.Users, CardDescription{"Clinicians in the " + d.Project.ClinicalSetting + " setting of project " + d.Project.Name})
		if d.Project.IntendedUse != "" && (d.Plan == nil || d.Plan.IntendedUse != d.Project.IntendedUse) {
			cons.UseCases = append(cons.UseCases, CardDescription{d.Project.IntendedUse})
		}
	} else {
		mc.ModelParameters.ModelArchitecture = "not recorded by the evaluation stage"
		mc.ModelParameters.InputFormat = "not recorded"
	}
	mc.ModelParameters.OutputFormat = fmt.Sprintf("a score in [0, 1]; flagged positive when the score is at least %s", trimFloat(rep.Settings.Threshold))

	qa := &mc.QuantitativeAnalysis
	qa.PerformanceMetrics = []CardMetric{}
	th := trimFloat(rep.Settings.Threshold)
	add := func(g *evalstat.GroupResult) {
		for _, m := range cardMetrics {
			v, ok := g.Metrics[m]
			if !ok || !v.Defined() {
				continue
			}
			cm := CardMetric{Type: m, Value: fmtNum(v.Estimate), Slice: g.Name}
			if idx := evalstat.MetricIndex(m); idx >= 0 && m != "auroc" && m != "auprc" && m != "brier" && m != "ece" {
				cm.Threshold = th
			}
			if iv, _, ok := pickCI(v); ok {
				cm.ConfidenceInterval = &CardInterval{LowerBound: fmtNum(iv.Lower), UpperBound: fmtNum(iv.Upper)}
			}
			qa.PerformanceMetrics = append(qa.PerformanceMetrics, cm)
		}
	}
	add(rep.Overall)
	for _, gp := range rep.Groupings {
		for _, g := range gp.Groups {
			add(g)
		}
	}
	qa.Graphics.Description = "Charts of the Ethos evaluation report (SVG)"
	qa.Graphics.Collection = []CardGraphic{}
	if len(p.Groupings) > 0 {
		cs := p.Groupings[0].Charts
		for i, h := range cs.Curves[:min(3, len(cs.Curves))] {
			qa.Graphics.Collection = append(qa.Graphics.Collection, CardGraphic{Name: []string{"ROC curve", "Calibration", "Decision curve"}[i] + " by " + p.Groupings[0].Name, Image: base64.StdEncoding.EncodeToString([]byte(h))})
		}
		if len(cs.Forest) > 0 {
			qa.Graphics.Collection = append(qa.Graphics.Collection, CardGraphic{Name: "Sensitivity by " + p.Groupings[0].Name, Image: base64.StdEncoding.EncodeToString([]byte(cs.Forest[0]))})
		}
	}

	cons.Limitations = []CardDescription{}
	for _, l := range p.Limits {
		cons.Limitations = append(cons.Limitations, CardDescription{l})
	}
	for _, g := range p.Small {
		cons.Limitations = append(cons.Limitations, CardDescription{fmt.Sprintf("Too small to judge: %s (%s).", g.Name, g.Reasons)})
	}
	cons.Tradeoffs = append(cons.Tradeoffs, CardDescription{fmt.Sprintf("At threshold %s the model finds %s of 100 patients with the condition and wrongly flags %s of 100 without it; a lower threshold finds more and alarms more (see the decision curve).",
		th, p.Plain.Overall.Flagged, p.Plain.Overall.FalseAlarm)})
	cons.EthicalConsiderations = []CardRisk{}
	for _, gp := range rep.Groupings {
		a := gp.Aggregates["sensitivity"]
		if a.Difference.Defined() {
			mit := "Acceptance criteria on subgroup gaps were fixed before the results (QC-EVA-2)"
			if len(rep.Criteria) == 0 {
				mit = "No acceptance criterion was set: review the gap before use"
			}
			cons.EthicalConsiderations = append(cons.EthicalConsiderations, CardRisk{
				Name:               fmt.Sprintf("Unequal detection across %s: sensitivity differs by %.3f between groups (lowest %s).", gp.Name, a.Difference.Estimate, a.MinGroup),
				MitigationStrategy: mit + "; subgroup performance is monitored after deployment.",
			})
		}
	}
	if len(p.Small) > 0 {
		cons.EthicalConsiderations = append(cons.EthicalConsiderations, CardRisk{Name: fmt.Sprintf("%d group(s) too small to judge: the model's performance for them is unknown.", len(p.Small)),
			MitigationStrategy: "Collect more cases from these groups before relying on the model for them, or restrict the intended use."})
	}
	return mc, nil
}

// WriteModelCardJSON writes the card as indented JSON.
func WriteModelCardJSON(w io.Writer, d *ReportData) error {
	mc, err := NewModelCard(d)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(mc)
}

// mdEscape keeps text from being read as Markdown structure.
func mdEscape(s string) string {
	r := strings.NewReplacer("\\", "\\\\", "|", "\\|", "*", "\\*", "_", "\\_", "`", "\\`", "<", "&lt;", ">", "&gt;", "[", "\\[", "]", "\\]", "\n", " ")
	return r.Replace(s)
}

// WriteModelCardMarkdown writes the card as Markdown.
func WriteModelCardMarkdown(w io.Writer, d *ReportData) error {
	mc, err := NewModelCard(d)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	md := mc.ModelDetails
	fmt.Fprintf(&b, "# Model card: %s\n\n## Model details\n\n%s\n\n", mdEscape(md.Name), mdEscape(md.Overview))
	fmt.Fprintf(&b, "- Version: %s (%s)\n", mdEscape(md.Version.Name), mdEscape(md.Version.Date))
	for _, o := range md.Owners {
		fmt.Fprintf(&b, "- Owner: %s (%s)\n", mdEscape(o.Name), mdEscape(o.Contact))
	}
	if md.Documentation != "" {
		fmt.Fprintf(&b, "- Evaluation: %s\n", mdEscape(md.Documentation))
	}
	mp := mc.ModelParameters
	fmt.Fprintf(&b, "\n## Model parameters\n\n- Architecture: %s\n- Input: %s\n- Output: %s\n", mdEscape(mp.ModelArchitecture), mdEscape(mp.InputFormat), mdEscape(mp.OutputFormat))
	for _, ds := range mp.Data {
		fmt.Fprintf(&b, "- Data %s: %s", mdEscape(ds.Name), mdEscape(ds.Description))
		if len(ds.Sensitive.SensitiveData) > 0 {
			fmt.Fprintf(&b, " Sensitive attributes: %s.", mdEscape(strings.Join(ds.Sensitive.SensitiveData, ", ")))
		}
		b.WriteString("\n")
	}
	b.WriteString("\n## Quantitative analysis\n\n| Slice | Metric | Value | 95% CI | Threshold |\n|---|---|---|---|---|\n")
	for _, m := range mc.QuantitativeAnalysis.PerformanceMetrics {
		ci := ""
		if m.ConfidenceInterval != nil {
			ci = m.ConfidenceInterval.LowerBound + "–" + m.ConfidenceInterval.UpperBound
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", mdEscape(m.Slice), mdEscape(m.Type), m.Value, ci, m.Threshold)
	}
	c := mc.Considerations
	section := func(title string, items []CardDescription) {
		fmt.Fprintf(&b, "\n### %s\n\n", title)
		if len(items) == 0 {
			b.WriteString("- none recorded\n")
		}
		for _, it := range items {
			fmt.Fprintf(&b, "- %s\n", mdEscape(it.Description))
		}
	}
	b.WriteString("\n## Considerations\n")
	section("Intended users", c.Users)
	section("Use cases", c.UseCases)
	section("Limitations", c.Limitations)
	section("Trade-offs", c.Tradeoffs)
	b.WriteString("\n### Ethical considerations\n\n")
	if len(c.EthicalConsiderations) == 0 {
		b.WriteString("- none recorded\n")
	}
	for _, r := range c.EthicalConsiderations {
		fmt.Fprintf(&b, "- %s Mitigation: %s\n", mdEscape(r.Name), mdEscape(r.MitigationStrategy))
	}
	_, err = b.WriteTo(w)
	return err
}

// WriteModelCardHTML writes the card as an HTML page with its charts.
func WriteModelCardHTML(w io.Writer, d *ReportData) error {
	mc, err := NewModelCard(d)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := tmpl.ExecuteTemplate(&buf, "modelcard.html.tmpl", mc); err != nil {
		return err
	}
	_, err = buf.WriteTo(w)
	return err
}
