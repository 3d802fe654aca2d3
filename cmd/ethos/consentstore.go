package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/ethos-imaging/ethos"
)

// consent import and consent withdraw: the commands of "ethos consent"
// that change the consent store (QC-COL-2). Like "ingest rules" and
// "dispose" they run in one of two ways:
//
//   - through a running server (--server, with a token from --token or
//     $ETHOS_TOKEN): the server's access policy and audit log, and the
//     server keeps the blob key store's lock;
//   - offline, on the data directory (--data, --user), when no server
//     runs: the same checks and audit events, made by this process.
//
// A token selects the first; without one the command works offline and
// says so when a server holds the data directory.

// remoteFlags adds --server and --token to fs; the returned function gives
// the client, or nil when no token was given (offline mode).
func remoteFlags(env *Env, fs *flag.FlagSet) func() (*client, error) {
	mk := clientFlags(env, fs)
	return func() (*client, error) {
		if fs.Lookup("token").Value.String() == "" && env.Getenv("ETHOS_TOKEN") == "" {
			return nil, nil
		}
		return mk()
	}
}

// collectionServerOrData runs onServer with the client when remote yields
// one (a token is set); otherwise it opens the data directory as user,
// checks that the user may write at the collection stage of project (a
// refusal is audited under action) and runs offline on it.
func collectionServerOrData(ctx context.Context, env *Env, remote func() (*client, error), data, user, project, action string,
	onServer func(*client) error, offline func(*collectionApp) error) error {
	cl, err := remote()
	if err != nil {
		return err
	}
	if cl != nil {
		return onServer(cl)
	}
	c, err := openCollection(ctx, data, pgDSN(env, ""), user)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.allowWrite(ctx, project, action); err != nil {
		return err
	}
	return offline(c)
}

// send posts body (raw, of content type ct; or JSON when ct is "") and
// decodes a JSON reply into out; an error reply becomes an *ethos.Error.
func (c *client) send(ctx context.Context, method, path, ct string, body []byte, out any) error {
	if ct == "" {
		return c.do(ctx, method, path, json.RawMessage(body), out)
	}
	resp, err := c.request(ctx, method, path, ct, bytes.NewReader(body), false)
	if err != nil {
		return err
	}
	return readReply(resp, out)
}

func projectPath(project, rest string) string {
	return "/api/v1/projects/" + url.PathEscape(project) + rest
}

// readInput reads FILE, or stdin for "-".
func readInput(env *Env, name string) ([]byte, error) {
	if name == "-" {
		return io.ReadAll(env.Stdin)
	}
	return os.ReadFile(name)
}

func runConsentImport(ctx context.Context, env *Env, args []string) error {
	flags := newFlagSet(env, "consent import", "consent import --project ID [--server URL] [--token T | $ETHOS_TOKEN] FILE|-\n       ethos consent import --project ID --data DIR --user ID FILE|-   (offline, no server running)")
	data := flags.String("data", defaultDataDir, "data directory (offline mode)")
	user := flags.String("user", "", "id of the Ethos user recording the consents (offline mode)")
	project := flags.String("project", "", "project whose collection the consents were gathered for (the access check is made against it)")
	remote := remoteFlags(env, flags)
	if err := parseFlags(flags, args); err != nil {
		return err
	}
	if flags.NArg() != 1 {
		return usagef("consent import takes one FHIR file")
	}
	if *project == "" {
		return usagef("--project is required")
	}
	body, err := readInput(env, flags.Arg(0))
	if err != nil {
		return err
	}
	type brief struct {
		ID      string              `json:"id"`
		Status  ethos.ConsentStatus `json:"status"`
		Subject ethos.SubjectKey    `json:"subject"`
	}
	var out struct {
		Imported int     `json:"imported"`
		Consents []brief `json:"consents"`
	}
	err = collectionServerOrData(ctx, env, remote, *data, *user, *project, "consent.import",
		func(cl *client) error {
			return cl.send(ctx, "POST", projectPath(*project, "/consents"), "application/fhir+json", body, &out)
		},
		func(c *collectionApp) error {
			cs, err := c.registry().ImportConsents(ctx, c.actor, body, "cli-"+ethos.NewID("cim"))
			if err != nil {
				return err
			}
			out.Imported = len(cs)
			for _, cn := range cs {
				out.Consents = append(out.Consents, brief{ID: cn.ID, Status: cn.Status, Subject: cn.Subject})
			}
			return nil
		})
	if err != nil {
		return err
	}
	linked := 0
	for _, cn := range out.Consents {
		fmt.Fprintf(env.Stdout, "%s\t%s\tsubject %s\n", cn.ID, cn.Status, cn.Subject.Short())
		if cn.Subject != "" {
			linked++
		}
	}
	fmt.Fprintf(env.Stdout, "imported %d consents (%d identifiers sealed for linkage)\n", out.Imported, linked)
	return nil
}

// subjectFlags are the ways a command names a subject: by key, or by the
// hospital's identifier. The patient id is read from a file or stdin,
// never from the command line (which shows in ps and shell history).
type subjectFlags struct {
	subject, issuer, idFrom *string
}

func addSubjectFlags(fs *flag.FlagSet) subjectFlags {
	return subjectFlags{
		subject: fs.String("subject", "", "subject key (64 hex digits)"),
		issuer:  fs.String("issuer", "", "issuer of the patient id (with --patient-id-from): name the subject by the hospital's identifier"),
		idFrom:  fs.String("patient-id-from", "", "file holding the patient id on its first line, or - for stdin (with --issuer)"),
	}
}

// read returns the subject key, or the identifier, named by the flags.
func (f subjectFlags) read(env *Env) (ethos.SubjectKey, *ethos.PatientIdentifier, error) {
	switch {
	case *f.subject != "" && (*f.issuer != "" || *f.idFrom != ""):
		return "", nil, usagef("name the subject by --subject or by --issuer with --patient-id-from, not both")
	case *f.subject != "":
		k := ethos.SubjectKey(*f.subject)
		if !k.Valid() {
			return "", nil, usagef("--subject: want a subject key of 64 lowercase hex digits")
		}
		return k, nil, nil
	case *f.issuer != "" && *f.idFrom != "":
		var r io.Reader = env.Stdin
		if *f.idFrom != "-" {
			fh, err := os.Open(*f.idFrom)
			if err != nil {
				return "", nil, err
			}
			defer fh.Close()
			r = fh
		}
		line, err := bufio.NewReader(io.LimitReader(r, 4096)).ReadString('\n')
		if err != nil && err != io.EOF {
			return "", nil, err
		}
		id := strings.TrimSpace(line)
		if id == "" {
			return "", nil, usagef("--patient-id-from: no patient id on the first line")
		}
		return "", &ethos.PatientIdentifier{Issuer: *f.issuer, Value: id}, nil
	}
	return "", nil, usagef("name the subject by --subject KEY, or by --issuer I with --patient-id-from FILE|-")
}

func runConsentWithdraw(ctx context.Context, env *Env, args []string) error {
	flags := newFlagSet(env, "consent withdraw", "consent withdraw --project ID (--subject KEY | --issuer I --patient-id-from FILE|-) [--erase] [--requested-by Patient|RelatedPerson] [--server URL] [--json]\n       (offline, no server running: add --data DIR --user ID and no token)")
	data := flags.String("data", defaultDataDir, "data directory (offline mode)")
	user := flags.String("user", "", "id of the Ethos user recording the withdrawal (offline mode)")
	project := flags.String("project", "", "project under which the user records the withdrawal (the access check is made against it; the withdrawal covers every project)")
	sf := addSubjectFlags(flags)
	erase := flags.Bool("erase", false, "also erase the subject's data: crypto-shred its data key and blobs")
	by := flags.String("requested-by", "Patient", "who asked: Patient or RelatedPerson")
	note := flags.String("note", "", "note kept with the withdrawal (no identifiers)")
	asJSON := flags.Bool("json", false, "print the result as JSON")
	remote := remoteFlags(env, flags)
	if err := parseFlags(flags, args); err != nil {
		return err
	}
	if flags.NArg() != 0 {
		return usagef("consent withdraw takes no arguments")
	}
	if *project == "" {
		return usagef("--project is required")
	}
	k, id, err := sf.read(env)
	if err != nil {
		return err
	}
	var res ethos.WithdrawalResult
	err = collectionServerOrData(ctx, env, remote, *data, *user, *project, "consent.withdraw",
		func(cl *client) error {
			in := map[string]any{"requested_by": *by, "erase": *erase, "note": *note}
			if id != nil {
				in["issuer"], in["patient_id"] = id.Issuer, id.Value
			} else {
				in["subject"] = k
			}
			b, _ := json.Marshal(in)
			return cl.send(ctx, "POST", projectPath(*project, "/withdrawals"), "", b, &res)
		},
		func(c *collectionApp) error {
			reg := c.registry()
			k, err := reg.ResolveSubject(ctx, ethos.SubjectRef{Subject: k, Identifier: id})
			if err != nil {
				return err
			}
			w := ethos.ConsentWithdrawal{At: time.Now().UTC(), RecordedBy: c.actor.UserID, RequestedBy: ethos.GrantorKind(*by), ErasureRequested: *erase, Note: *note}
			r, err := reg.Withdraw(ctx, c.actor, k, w, "cli-"+ethos.NewID("wdr"))
			if err != nil {
				return err
			}
			res = *r
			return nil
		})
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(env, res)
	}
	fmt.Fprintf(env.Stdout, "subject %s: %d consents withdrawn, %d instances unusable, %d obligations opened on dataset and model versions\n", res.Subject.Short(), len(res.Consents), res.Instances, len(res.Obligations))
	for _, o := range res.Obligations {
		fmt.Fprintf(env.Stdout, "obligation %s on %s\n", o.ID, o.Target)
	}
	if res.Shred != nil {
		fmt.Fprintf(env.Stdout, "erased: data key %s destroyed, %d blobs (%d bytes) deleted\n", orNone(res.Shred.KeyID), res.Shred.BlobsDeleted, res.Shred.BytesDeleted)
	}
	return nil
}

// allowWrite asks the access policy whether the offline user may write at
// the collection stage of project; a refusal is audited under action.
func (c *collectionApp) allowWrite(ctx context.Context, project, action string) error {
	d, err := c.collectionWrite(ctx, project)
	if err != nil {
		return err
	}
	if !d.Allow {
		if err := c.auditor.Record(ctx, ethos.AuditEvent{Actor: c.actor.UserID, Party: c.actor.PartyID, Action: action, Resource: "project/" + project,
			Stage: ethos.StageCollection, Decision: "deny", Reason: d.Rule + ": " + d.Reason}); err != nil {
			return err
		}
		return d.Err()
	}
	return nil
}

// collectionWrite asks the access policy whether the user may write at the
// collection stage of project, for the project's collection purpose.
func (c *collectionApp) collectionWrite(ctx context.Context, project string) (ethos.AccessDecision, error) {
	if project == "" {
		return ethos.AccessDecision{}, usagef("--project is required")
	}
	p, err := c.projects.FindProjectByID(ctx, project)
	if err != nil {
		return ethos.AccessDecision{}, err
	}
	purpose := ethos.PurposeResearch
	if r, err := c.instances.CollectionRules(ctx, p.ID); err == nil {
		purpose = r.Purpose
	}
	duas, _, err := c.duas.FindDUAs(ctx, ethos.DUAFilter{PartyID: &c.actor.PartyID, ProjectID: &p.ID, Limit: 1000})
	if err != nil {
		return ethos.AccessDecision{}, err
	}
	req := c.actor
	req.ProjectID, req.ProjectPartyID, req.DUAs = p.ID, p.PartyID, duas
	req.Stage, req.Action, req.Purpose, req.Now = ethos.StageCollection, ethos.ActionWrite, purpose, time.Now()
	return c.decider.Decide(&req), nil
}

func orNone(s string) string {
	if s == "" {
		return "(none held)"
	}
	return s
}
