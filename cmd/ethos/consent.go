package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/consent"
)

// consentCommands are the subcommands of "ethos consent". Commands that
// need a store (import, withdraw) join this table when the store exists.
var consentCommands = []command{
	{"validate", "check a FHIR R4 Consent or Bundle file; --export writes it back pseudonymised", runConsentValidate},
	{"decide", "answer a consent question from a FHIR file (PERMIT, DENY or NO_CONSENT)", runConsentDecide},
	{"import", "store the consents of a FHIR file in the data directory (all or none)", runConsentImport},
	{"withdraw", "withdraw a subject's consents at once; --erase crypto-shreds its data", runConsentWithdraw},
}

func runConsent(ctx context.Context, env *Env, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		w := env.Stderr
		if len(args) > 0 {
			w = env.Stdout
		}
		fmt.Fprintln(w, "Usage: ethos consent <command> [flags]")
		fmt.Fprintln(w, "\nCommands:")
		for _, c := range consentCommands {
			fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
		}
		if len(args) == 0 {
			return usagef("consent: missing command")
		}
		return nil
	}
	for _, c := range consentCommands {
		if c.name == args[0] {
			return c.run(ctx, env, args[1:])
		}
	}
	return usagef("consent: unknown command %q", args[0])
}

// readConsentFile parses path ("-" for stdin) and gives every consent that
// arrived with a raw patient identifier its subject key, derived with the
// secret in secretFile. Without a secret such consents are an error when
// needKeys is set.
func readConsentFile(env *Env, path, secretFile string, needKeys bool) ([]*ethos.Consent, int, error) {
	var r io.Reader = env.Stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, 0, err
		}
		defer f.Close()
		r = f
	}
	ims, err := consent.ReadFHIR(r)
	if err != nil {
		return nil, 0, err
	}
	var secret []byte
	if secretFile != "" {
		b, err := os.ReadFile(secretFile)
		if err != nil {
			return nil, 0, fmt.Errorf("read subject key secret: %w", err)
		}
		secret = bytes.TrimRight(b, "\r\n")
	}
	cs := make([]*ethos.Consent, len(ims))
	raw := 0
	for i, im := range ims {
		cs[i] = im.Consent
		if im.Patient == nil {
			continue
		}
		raw++
		if secret == nil {
			if needKeys {
				return nil, 0, usagef("consent %s names its patient by identifier: give --secret-file to derive the subject key", im.Consent.ID)
			}
			continue
		}
		k, err := ethos.DeriveSubjectKey(secret, *im.Patient)
		if err != nil {
			return nil, 0, fmt.Errorf("consent %s: %w", im.Consent.ID, err)
		}
		cs[i].Subject = k
	}
	return cs, raw, nil
}

func runConsentValidate(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "consent validate", "consent validate [--secret-file F] [--export] FILE|-")
	secretFile := fs.String("secret-file", "", "file holding the subject key secret (at least 32 bytes)")
	export := fs.Bool("export", false, "write the consents back as a FHIR Bundle, patients named by subject key")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("consent validate takes one file")
	}
	cs, raw, err := readConsentFile(env, fs.Arg(0), *secretFile, *export)
	if err != nil {
		return err
	}
	if *export {
		b, err := consent.MarshalFHIRBundle(cs)
		if err != nil {
			return err
		}
		_, err = env.Stdout.Write(b)
		return err
	}
	for _, c := range cs {
		subject := "patient identifier (subject key not derived)"
		if c.Subject != "" {
			subject = "subject " + c.Subject.Short()
		}
		fmt.Fprintf(env.Stdout, "%s\t%s\t%s\tgiven %s\t%s\t%d provisions\n",
			orDash(c.ID), c.Status, c.Scope, c.DateTime.UTC().Format(time.RFC3339), subject, countProvisions(&c.Provision))
	}
	fmt.Fprintf(env.Stdout, "ok: %d consents, %d with a raw patient identifier\n", len(cs), raw)
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func countProvisions(p *ethos.Provision) int {
	n := 1
	for i := range p.Provisions {
		n += countProvisions(&p.Provisions[i])
	}
	return n
}

func runConsentDecide(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "consent decide", "consent decide --subject KEY --purpose P [flags] FILE|-")
	secretFile := fs.String("secret-file", "", "file holding the subject key secret, for consents that name the patient by identifier")
	subject := fs.String("subject", "", "subject key (64 hex digits)")
	purpose := fs.String("purpose", "", "purpose of use: "+purposeList())
	party := fs.String("party", "", "Ethos party that will use the data")
	modality := fs.String("modality", "", "DICOM modality of the data (CT, MR, …)")
	bodyPart := fs.String("body-part", "", "DICOM body part examined (CHEST, …)")
	action := fs.String("action", "use", "action: collect, access, use, disclose or correct")
	at := fs.String("at", "", "time the question is about (RFC 3339 or YYYY-MM-DD; default now)")
	acquired := fs.String("acquired", "", "acquisition time: check on that date and now (RFC 3339 or YYYY-MM-DD)")
	nowFlag := fs.String("now", "", "current time (default: the clock)")
	explain := fs.Bool("explain", false, "print the decision with what every consent of the subject says (at --at, or now)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("consent decide takes one file")
	}
	p, err := ethos.ParsePurpose(*purpose)
	if err != nil {
		return usagef("--purpose: %s", ethos.ErrorMessage(err))
	}
	q := consent.Query{Subject: ethos.SubjectKey(*subject), Purpose: p, Party: *party, Modality: *modality,
		BodyPart: *bodyPart, Action: ethos.ConsentAction(*action), Now: time.Now()}
	if !q.Subject.Valid() {
		return usagef("--subject: want a subject key of 64 lowercase hex digits")
	}
	for _, tf := range []struct {
		name string
		s    string
		dst  *time.Time
	}{{"now", *nowFlag, &q.Now}, {"at", *at, &q.At}} {
		if tf.s == "" {
			continue
		}
		if *tf.dst, err = parseTimeFlag(tf.s); err != nil {
			return usagef("--%s: %v", tf.name, err)
		}
	}
	cs, _, err := readConsentFile(env, fs.Arg(0), *secretFile, true)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(env.Stdout)
	enc.SetIndent("", "  ")
	var evals []consent.Evaluation
	if *explain {
		eq := q
		if *acquired != "" {
			eq.At = time.Time{}
		}
		if evals, err = consent.Explain(cs, eq); err != nil {
			return err
		}
	}
	if *acquired != "" {
		t, err := parseTimeFlag(*acquired)
		if err != nil {
			return usagef("--acquired: %v", err)
		}
		cov, err := consent.DecideAcquiredAndNow(cs, q, t)
		if err != nil {
			return err
		}
		out := map[string]any{"acquired": cov.Acquired, "now": cov.Now, "decision": cov.Decision()}
		if *explain {
			out["consents"] = evals
		}
		if err := enc.Encode(out); err != nil {
			return err
		}
		return cov.Decision().Err()
	}
	d, err := consent.Decide(cs, q)
	if err != nil {
		return err
	}
	var out any = d
	if *explain {
		out = map[string]any{"decision": d, "consents": evals}
	}
	if err := enc.Encode(out); err != nil {
		return err
	}
	return d.Err()
}

func parseTimeFlag(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither RFC 3339 nor YYYY-MM-DD", s)
	}
	return t, nil
}

func purposeList() string {
	s := make([]string, len(ethos.Purposes))
	for i, p := range ethos.Purposes {
		s[i] = string(p)
	}
	return strings.Join(s, ", ")
}
