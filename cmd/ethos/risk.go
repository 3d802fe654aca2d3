package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/url"
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
                                                evaluate the QC-DEP-2 checklist

With --deployment ID the actions work on a running server's records instead:
  put        --deployment ID --register FILE     store the next revision of the register (its "revision" = the current one, 0 first)
  show       --deployment ID [--json]            the stored register
  check      --deployment ID                     what blocks go-live (register gaps, acknowledgements, evaluation)
  incident   --deployment ID --incident FILE     record an incident or breach; deadlines computed
  incidents  --deployment ID [--open] [--json]   incidents with their deadlines, overdue flagged
  notify     --deployment ID --id INCIDENT --recipient R [--reference REF] [--sent-at RFC3339] [--us-state XX] [--status S]
                                                record a notification sent (and/or a status)
  compliance --deployment ID [--json]            the checklist from the server's evidence and attestations
  attest     --deployment ID --item ITEM --role ROLE --reason TEXT [--waiver]
                                                attest (or waive) a checklist item in one of your roles`

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
	rf := riskRemoteFlags{deployment: fs.String("deployment", "", "work on this deployment's records on the server"),
		id: fs.String("id", "", "incident id (notify)"), recipient: fs.String("recipient", "", "notification recipient (notify)"),
		reference: fs.String("reference", "", "authority reference (notify)"), sentAt: fs.String("sent-at", "", "when the notification was sent (RFC 3339; default now)"),
		usState: fs.String("us-state", "", "two-letter US state of a media notice (notify)"), status: fs.String("status", "", "new incident status (notify)"),
		item: fs.String("item", "", "checklist item id (attest)"), role: fs.String("role", "", "your role (attest)"), reason: fs.String("reason", "", "statement (attest)"),
		waiver: fs.Bool("waiver", false, "the attestation waives the item with a reason (attest)"), open: fs.Bool("open", false, "only open incidents")}
	connect := clientFlags(env, fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *rf.deployment != "" {
		if fs.NArg() > 0 {
			return usagef("risk %s takes no arguments, got %q", action, fs.Arg(0))
		}
		c, err := connect()
		if err != nil {
			return err
		}
		return riskRemote(ctx, env, c, action, rf, *registerFile, incidentFiles, *asJSON)
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

// riskRemoteFlags are the flags of the server-backed risk actions.
type riskRemoteFlags struct {
	deployment, id, recipient, reference, sentAt, usState, status, item, role, reason *string
	waiver, open                                                                      *bool
}

// riskRemote runs a risk action against a server's records of one
// deployment.
func riskRemote(ctx context.Context, env *Env, c *client, action string, rf riskRemoteFlags, registerFile string, incidentFiles []string, asJSON bool) error {
	base := "/api/v1/deployments/" + url.PathEscape(*rf.deployment)
	switch action {
	case "put":
		if registerFile == "" {
			return usagef("risk put needs --register")
		}
		var reg ethos.RiskRegister
		if err := riskReadJSON(registerFile, &reg); err != nil {
			return err
		}
		var out ethos.RiskRegister
		if err := c.do(ctx, "PUT", base+"/risk-register", &reg, &out); err != nil {
			return err
		}
		if asJSON {
			return riskWriteJSON(env.Stdout, &out)
		}
		fmt.Fprintf(env.Stdout, "risk register of %s stored as revision %d (%d risks); each stakeholder role must acknowledge it: %s\n",
			*rf.deployment, out.Revision, len(out.Risks), joinRoles(out.StakeholderRoles))
		return nil
	case "show":
		var out ethos.RiskRegister
		if err := c.do(ctx, "GET", base+"/risk-register", nil, &out); err != nil {
			return err
		}
		return riskWriteJSON(env.Stdout, &out)
	case "check":
		var d struct {
			Status         ethos.DeploymentStatus `json:"status"`
			GoLiveBlockers []string               `json:"go_live_blockers"`
		}
		if err := c.do(ctx, "GET", base, nil, &d); err != nil {
			return err
		}
		for _, b := range d.GoLiveBlockers {
			fmt.Fprintln(env.Stdout, b)
		}
		if len(d.GoLiveBlockers) > 0 {
			return ethos.Errorf(ethos.ECONFLICT, "deployment %s (%s) cannot go live: %d blockers", *rf.deployment, d.Status, len(d.GoLiveBlockers))
		}
		fmt.Fprintf(env.Stderr, "deployment %s (%s): nothing blocks go-live\n", *rf.deployment, d.Status)
		return nil
	case "incident":
		if len(incidentFiles) != 1 {
			return usagef("risk incident needs exactly one --incident")
		}
		var inc ethos.Incident
		if err := riskReadJSON(incidentFiles[0], &inc); err != nil {
			return err
		}
		var out json.RawMessage
		if err := c.do(ctx, "POST", base+"/incidents", &inc, &out); err != nil {
			return err
		}
		return riskPrintIncidents(env, []json.RawMessage{out}, asJSON)
	case "incidents":
		q := ""
		if *rf.open {
			q = "?open=true"
		}
		var out struct {
			Items []json.RawMessage `json:"items"`
		}
		if err := c.do(ctx, "GET", base+"/incidents"+q, nil, &out); err != nil {
			return err
		}
		return riskPrintIncidents(env, out.Items, asJSON)
	case "notify":
		if *rf.id == "" || (*rf.recipient == "" && *rf.status == "") {
			return usagef("risk notify needs --id and --recipient and/or --status")
		}
		u := ethos.IncidentUpdate{}
		if *rf.recipient != "" {
			n := &ethos.Notification{Recipient: ethos.Recipient(*rf.recipient), USState: *rf.usState, Reference: *rf.reference}
			if *rf.sentAt != "" {
				t, err := time.Parse(time.RFC3339Nano, *rf.sentAt)
				if err != nil {
					return usagef("--sent-at: %v", err)
				}
				n.SentAt = t
			}
			u.Notification = n
		}
		if *rf.status != "" {
			st := ethos.IncidentStatus(*rf.status)
			u.Status = &st
		}
		var out json.RawMessage
		if err := c.do(ctx, "POST", base+"/incidents/"+url.PathEscape(*rf.id), &u, &out); err != nil {
			return err
		}
		return riskPrintIncidents(env, []json.RawMessage{out}, asJSON)
	case "compliance":
		var out struct {
			Results []ethos.ComplianceResult `json:"results"`
		}
		if err := c.do(ctx, "GET", base+"/compliance", nil, &out); err != nil {
			return err
		}
		if asJSON {
			return riskWriteJSON(env.Stdout, out.Results)
		}
		tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
		for _, r := range out.Results {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Item.ID, r.Item.Citation, strings.ToUpper(string(r.Outcome)), r.Reason)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		sum := deployment.Summary(out.Results)
		fmt.Fprintf(env.Stdout, "\n%d pass, %d waived, %d fail, %d need attestation\n", sum[ethos.CompliancePass], sum[ethos.ComplianceWaived], sum[ethos.ComplianceFail], sum[ethos.ComplianceAttestationNeeded])
		return nil
	case "attest":
		if *rf.item == "" || *rf.role == "" || *rf.reason == "" {
			return usagef("risk attest needs --item, --role and --reason")
		}
		if err := c.do(ctx, "POST", base+"/attestations", map[string]any{"item_id": *rf.item, "role": *rf.role, "reason": *rf.reason, "waiver": *rf.waiver}, nil); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "item %s attested as %s\n", *rf.item, *rf.role)
		return nil
	}
	return usagef("risk: unknown action %q with --deployment (want put, show, check, incident, incidents, notify, compliance or attest)", action)
}

// riskPrintIncidents prints incidents as the server returns them, with
// their deadlines.
func riskPrintIncidents(env *Env, items []json.RawMessage, asJSON bool) error {
	if asJSON {
		return riskWriteJSON(env.Stdout, items)
	}
	for _, raw := range items {
		var inc struct {
			ethos.Incident
			Deadlines []ethos.DeadlineStatus `json:"deadlines"`
			Overdue   int                    `json:"overdue"`
		}
		if err := json.Unmarshal(raw, &inc); err != nil {
			return fmt.Errorf("decode server reply: %w", err)
		}
		flag := ""
		if inc.Overdue > 0 {
			flag = fmt.Sprintf("  ** %d OVERDUE **", inc.Overdue)
		}
		fmt.Fprintf(env.Stdout, "%s  %s  %s  aware %s%s\n", inc.ID, strings.ToUpper(string(inc.Status)), inc.Title, inc.AwareAt.UTC().Format(time.RFC3339), flag)
		tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
		for _, d := range inc.Deadlines {
			due := "no fixed limit"
			if !d.Due.IsZero() {
				if loc, err := time.LoadLocation(d.Zone); err == nil {
					due = d.Due.In(loc).Format("2006-01-02 15:04 MST")
				}
			}
			fmt.Fprintf(tw, "    %s\t%s\t%s\t%s\n", d.Rule, d.Recipient, due, strings.ToUpper(string(d.State)))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}
