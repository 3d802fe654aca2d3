package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/collection"
	"github.com/ethos-imaging/ethos/consent"
)

// consent import and consent withdraw: the commands of "ethos consent"
// that change the consent store of a data directory (QC-COL-2).

func runConsentImport(ctx context.Context, env *Env, args []string) error {
	flags := newFlagSet(env, "consent import", "consent import --user ID --project ID [--data DIR] FILE|-")
	data := flags.String("data", defaultDataDir, "data directory")
	user := flags.String("user", "", "id of the Ethos user recording the consents")
	project := flags.String("project", "", "project whose collection the consents were gathered for (the access check is made against it)")
	if err := parseFlags(flags, args); err != nil {
		return err
	}
	if flags.NArg() != 1 {
		return usagef("consent import takes one FHIR file")
	}
	c, err := openCollection(ctx, *data, *user)
	if err != nil {
		return err
	}
	defer c.Close()
	d, err := c.collectionWrite(ctx, *project)
	if err != nil {
		return err
	}
	if !d.Allow {
		if err := c.auditor.Record(ctx, ethos.AuditEvent{Actor: c.actor.UserID, Party: c.actor.PartyID, Action: "consent.import",
			Stage: ethos.StageCollection, Decision: "deny", Reason: d.Rule + ": " + d.Reason}); err != nil {
			return err
		}
		return d.Err()
	}
	r := env.Stdin
	if p := flags.Arg(0); p != "-" {
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		r = f
	}
	ims, err := consent.ReadFHIR(r)
	if err != nil {
		return err
	}
	cs := make([]*ethos.Consent, len(ims))
	var links []*ethos.SubjectLink
	for i, im := range ims {
		cs[i] = im.Consent
		if im.Patient == nil {
			continue
		}
		k, err := ethos.DeriveSubjectKey(c.secret, *im.Patient)
		if err != nil {
			return fmt.Errorf("consent %s: %w", orDash(im.Consent.ID), err)
		}
		sealed, err := collection.SealIdentifier(c.linkKey, k, *im.Patient)
		if err != nil {
			return err
		}
		cs[i].Subject = k
		links = append(links, &ethos.SubjectLink{Subject: k, Sealed: sealed})
	}
	if err := c.consents.ImportConsents(ctx, cs, links); err != nil {
		return err
	}
	for _, cn := range cs {
		if err := c.auditor.Record(ctx, ethos.AuditEvent{Actor: c.actor.UserID, Party: c.actor.PartyID, Action: "consent.import",
			Resource: "consent/" + cn.ID, Stage: ethos.StageCollection, Decision: "allow",
			Reason: fmt.Sprintf("subject %s; status %s; purposes %v", cn.Subject, cn.Status, cn.Purposes())}); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "%s\t%s\tsubject %s\n", cn.ID, cn.Status, cn.Subject.Short())
	}
	fmt.Fprintf(env.Stdout, "imported %d consents (%d identifiers sealed for linkage)\n", len(cs), len(links))
	return nil
}

func runConsentWithdraw(ctx context.Context, env *Env, args []string) error {
	flags := newFlagSet(env, "consent withdraw", "consent withdraw --user ID --project ID --subject KEY [--erase] [--requested-by Patient|RelatedPerson] [--data DIR] [--json]")
	data := flags.String("data", defaultDataDir, "data directory")
	user := flags.String("user", "", "id of the Ethos user recording the withdrawal")
	project := flags.String("project", "", "project under which the user records the withdrawal (the access check is made against it; the withdrawal covers every project)")
	subject := flags.String("subject", "", "subject key (64 hex digits)")
	erase := flags.Bool("erase", false, "also erase the subject's data: crypto-shred its data key and blobs")
	by := flags.String("requested-by", "Patient", "who asked: Patient or RelatedPerson")
	asJSON := flags.Bool("json", false, "print the result as JSON")
	if err := parseFlags(flags, args); err != nil {
		return err
	}
	k := ethos.SubjectKey(*subject)
	if !k.Valid() || flags.NArg() != 0 {
		return usagef("consent withdraw needs --subject with a subject key of 64 lowercase hex digits")
	}
	c, err := openCollection(ctx, *data, *user)
	if err != nil {
		return err
	}
	defer c.Close()
	d, err := c.collectionWrite(ctx, *project)
	if err != nil {
		return err
	}
	if !d.Allow {
		return d.Err()
	}
	w := ethos.ConsentWithdrawal{At: time.Now().UTC(), RecordedBy: c.actor.UserID, RequestedBy: ethos.GrantorKind(*by), ErasureRequested: *erase}
	reqID := "cli-" + ethos.NewID("wdr")
	res, err := collection.Withdraw(ctx, c.consents, c.instances, c.blobs, c.consents, c.auditor, c.actor, k, w, reqID)
	if err != nil {
		return err
	}
	// Every dataset and model version built from the subject's data gets
	// an open obligation (docs/training.md).
	obs, err := trainingService(c.app, nil).OnWithdrawal(ctx, k, c.actor, reqID)
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(env, struct {
			*collection.Withdrawal
			Obligations []*ethos.Obligation `json:"obligations"`
		}{res, obs})
	}
	fmt.Fprintf(env.Stdout, "subject %s: %d consents withdrawn, %d instances unusable, %d obligations opened on dataset and model versions\n", k.Short(), len(res.Consents), res.Instances, len(obs))
	for _, o := range obs {
		fmt.Fprintf(env.Stdout, "obligation %s on %s\n", o.ID, o.Target)
	}
	if res.Shred != nil {
		fmt.Fprintf(env.Stdout, "erased: data key %s destroyed, %d blobs (%d bytes) deleted\n", orNone(res.Shred.KeyID), res.Shred.BlobsDeleted, res.Shred.BytesDeleted)
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
