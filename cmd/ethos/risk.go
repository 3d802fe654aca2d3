package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/deployment"
)

const riskUsage = `risk <action> [flags]

Actions:
  matrix     [--matrix FILE] [--json]           print (and validate) the risk matrix
  catalogue  [--json]                           print the starter hazard catalogue
  check      --register FILE [--matrix FILE]    list what the register lacks before go-live (QC-DEP-3)
  deadlines  --incident FILE [--now RFC3339] [--json]
                                                notification deadlines of an incident, overdue flagged
  compliance [--register FILE] [--incident FILE]... [--evidence FILE] [--attestations FILE] [--now RFC3339] [--json]
                                                evaluate the QC-DEP-2 checklist`

// maxRiskInput bounds every JSON file the risk command reads.
const maxRiskInput = 8 << 20

// runRisk dispatches the risk register, incident deadline and compliance
// checklist actions. All are offline: they read JSON files and print.
func runRisk(ctx context.Context, env *Env, args []string) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fmt.Fprintf(env.Stderr, "Usage: ethos %s\n", riskUsage)
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			return nil
		}
		return usagef("risk needs an action: matrix, catalogue, check, deadlines or compliance")
	}
	action, args := args[0], args[1:]
	fs := newFlagSet(env, "risk "+action, riskUsage)
	asJSON := fs.Bool("json", false, "print JSON")
	matrixFile := fs.String("matrix", "", "risk matrix configuration (JSON: severity, probability, grid of A/L/U)")
	registerFile := fs.String("register", "", "risk register (JSON)")
	evidenceFile := fs.String("evidence", "", "evidence observations (JSON object: evidence key → observation)")
	attFile := fs.String("attestations", "", "attestations (JSON array)")
	nowFlag := fs.String("now", "", "evaluate at this instant (RFC 3339; default: the current time)")
	var incidentFiles stringList
	fs.Var(&incidentFiles, "incident", "incident (JSON); repeat for several with compliance")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("risk %s takes no arguments, got %q", action, fs.Arg(0))
	}
	now := time.Now()
	if *nowFlag != "" {
		t, err := time.Parse(time.RFC3339Nano, *nowFlag)
		if err != nil {
			return usagef("--now: %v", err)
		}
		now = t
	}
	matrix := deployment.DefaultMatrix()
	if *matrixFile != "" {
		data, err := riskReadFile(*matrixFile)
		if err != nil {
			return err
		}
		if matrix, err = deployment.ParseMatrix(bytes.NewReader(data)); err != nil {
			return fmt.Errorf("%s: %w", *matrixFile, err)
		}
	}
	loadRegister := func() (*ethos.RiskRegister, error) {
		var reg ethos.RiskRegister
		if err := riskReadJSON(*registerFile, &reg); err != nil {
			return nil, err
		}
		if *matrixFile != "" || reg.Matrix == (ethos.RiskMatrix{}) {
			reg.Matrix = matrix
		}
		return &reg, nil
	}
	switch action {
	case "matrix":
		if *asJSON {
			return deployment.FormatMatrix(env.Stdout, matrix)
		}
		return riskPrintMatrix(env.Stdout, matrix)
	case "catalogue":
		cat := deployment.Catalogue()
		if *asJSON {
			return riskWriteJSON(env.Stdout, cat)
		}
		tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
		for _, h := range cat {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", h.ID, h.Title, h.Harm)
		}
		return tw.Flush()
	case "check":
		if *registerFile == "" {
			return usagef("risk check needs --register")
		}
		reg, err := loadRegister()
		if err != nil {
			return err
		}
		gaps := deployment.Complete(reg, deployment.Catalogue())
		if *asJSON {
			if err := riskWriteJSON(env.Stdout, gaps); err != nil {
				return err
			}
		} else {
			for _, g := range gaps {
				fmt.Fprintln(env.Stdout, g)
			}
		}
		if len(gaps) > 0 {
			return ethos.Errorf(ethos.EINVALID, "risk register of project %s revision %d is not complete: %d gaps", reg.ProjectID, reg.Revision, len(gaps))
		}
		fmt.Fprintf(env.Stderr, "risk register of project %s revision %d is complete: %d risks\n", reg.ProjectID, reg.Revision, len(reg.Risks))
		return nil
	case "deadlines":
		if len(incidentFiles) != 1 {
			return usagef("risk deadlines needs exactly one --incident")
		}
		var inc ethos.Incident
		if err := riskReadJSON(incidentFiles[0], &inc); err != nil {
			return err
		}
		st, err := deployment.Status(&inc, now)
		if err != nil {
			return err
		}
		if *asJSON {
			return riskWriteJSON(env.Stdout, st)
		}
		tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "RULE\tRECIPIENT\tDUE (LOCAL TIME OF ITS ZONE)\tSTATE\tBASIS")
		for _, s := range st {
			due := "no fixed limit"
			if !s.Due.IsZero() {
				loc, _ := time.LoadLocation(s.Zone) // validated by Status
				due = s.Due.In(loc).Format("2006-01-02 15:04:05.999999999 MST")
			}
			rcpt := string(s.Recipient)
			if s.USState != "" {
				rcpt += " " + s.USState
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.Rule, rcpt, due, strings.ToUpper(string(s.State)), s.Basis)
		}
		return tw.Flush()
	case "compliance":
		ev := deployment.EvidenceMap{}
		if *evidenceFile != "" {
			if err := riskReadJSON(*evidenceFile, &ev); err != nil {
				return err
			}
		}
		if *registerFile != "" {
			reg, err := loadRegister()
			if err != nil {
				return err
			}
			ev[ethos.EvidenceRiskRegisterComplete] = deployment.RegisterObservation(reg, deployment.Catalogue(), now)
		}
		if len(incidentFiles) > 0 {
			var incs []*ethos.Incident
			for _, f := range incidentFiles {
				var inc ethos.Incident
				if err := riskReadJSON(f, &inc); err != nil {
					return err
				}
				incs = append(incs, &inc)
			}
			obs, err := deployment.IncidentsObservations(incs, now)
			if err != nil {
				return err
			}
			maps.Copy(ev, obs)
		}
		var atts []ethos.Attestation
		if *attFile != "" {
			if err := riskReadJSON(*attFile, &atts); err != nil {
				return err
			}
		}
		rs, err := deployment.Evaluate(ctx, deployment.Checklist(), ev, atts, now)
		if err != nil {
			return err
		}
		if *asJSON {
			return riskWriteJSON(env.Stdout, rs)
		}
		tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
		for _, r := range rs {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Item.ID, r.Item.Citation, strings.ToUpper(string(r.Outcome)), r.Reason)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		sum := deployment.Summary(rs)
		fmt.Fprintf(env.Stdout, "\n%d pass, %d waived, %d fail, %d need attestation\n", sum[ethos.CompliancePass], sum[ethos.ComplianceWaived], sum[ethos.ComplianceFail], sum[ethos.ComplianceAttestationNeeded])
		return nil
	}
	return usagef("risk: unknown action %q (want matrix, catalogue, check, deadlines or compliance)", action)
}

func riskReadFile(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxRiskInput+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if len(data) > maxRiskInput {
		return nil, ethos.Errorf(ethos.EINVALID, "%s: larger than %d bytes", name, maxRiskInput)
	}
	return data, nil
}

// riskReadJSON decodes one JSON value from a file, refusing unknown fields.
func riskReadJSON(name string, v any) error {
	data, err := riskReadFile(name)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if se, ok := errors.AsType[*json.SyntaxError](err); ok {
			return ethos.Errorf(ethos.EINVALID, "%s: byte offset %d: %v", name, se.Offset, err)
		}
		if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
			return ethos.Errorf(ethos.EINVALID, "%s: byte offset %d: field %s: want %s", name, te.Offset, te.Field, te.Type)
		}
		return ethos.Errorf(ethos.EINVALID, "%s: %v", name, err)
	}
	return nil
}

func riskWriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func riskPrintMatrix(w io.Writer, m ethos.RiskMatrix) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprint(tw, "severity \\ probability")
	for p, l := range m.Probability {
		fmt.Fprintf(tw, "\t%d %s", p+1, l)
	}
	fmt.Fprintln(tw)
	for s := ethos.RiskLevels - 1; s >= 0; s-- {
		fmt.Fprintf(tw, "%d %s", s+1, m.Severity[s])
		for p := range ethos.RiskLevels {
			fmt.Fprintf(tw, "\t%s", m.Regions[s][p])
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}
