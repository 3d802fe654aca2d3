package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/collection"
)

// ethos dispose: crypto-shred one subject's data, or dispose of the
// instances past their project's retention period (QC-COL-2; docs/ingest.md).

func runDispose(ctx context.Context, env *Env, args []string) error {
	flags := newFlagSet(env, "dispose", "dispose --project ID (--subject KEY | --issuer I --patient-id-from FILE|-) [--reason R] [--server URL] [--json]\n       ethos dispose --expired [--project ID] [--server URL] [--json]\n       (offline, no server running: add --data DIR --user ID and no token)")
	data := flags.String("data", defaultDataDir, "data directory (offline mode)")
	user := flags.String("user", "", "id of the Ethos user disposing of the data (offline mode)")
	project := flags.String("project", "", "project under which the disposal is recorded (the access check is made against it); with --expired, the only project to sweep")
	sf := addSubjectFlags(flags)
	expired := flags.Bool("expired", false, "dispose of every instance past its project's retention period")
	reason := flags.String("reason", "", "why (kept in the audit log; no identifiers)")
	asJSON := flags.Bool("json", false, "print the result as JSON")
	remote := remoteFlags(env, flags)
	if err := parseFlags(flags, args); err != nil {
		return err
	}
	if flags.NArg() != 0 {
		return usagef("dispose takes no arguments")
	}
	// The reason is the one typed text an audit entry keeps (the server
	// screens it the same way; checked here first for the offline path).
	if p := ethos.IdentifierProblem(*reason, false); p != "" {
		return usagef("--reason: %s (it is kept in the audit log, which never holds patient identifiers)", p)
	}
	var k ethos.SubjectKey
	var id *ethos.PatientIdentifier
	if !*expired {
		var err error
		if k, id, err = sf.read(env); err != nil {
			return err
		}
		if *project == "" {
			return usagef("--project is required")
		}
	} else if *sf.subject != "" || *sf.issuer != "" {
		return usagef("--expired disposes by retention period; it takes no subject")
	}
	cl, err := remote()
	if err != nil {
		return err
	}
	var total ethos.Disposal
	total.Shredded = []ethos.ShredRecord{}
	if cl != nil {
		projects := []string{*project}
		if *expired && *project == "" {
			var list struct {
				Items []*ethos.Project `json:"items"`
			}
			if err := cl.do(ctx, "GET", "/api/v1/projects?limit=1000", nil, &list); err != nil {
				return err
			}
			projects = projects[:0]
			for _, p := range list.Items {
				projects = append(projects, p.ID)
			}
		}
		for _, p := range projects {
			in := map[string]any{"reason": *reason}
			switch {
			case *expired:
				in["expired"] = true
			case id != nil:
				in["issuer"], in["patient_id"] = id.Issuer, id.Value
			default:
				in["subject"] = k
			}
			b, _ := json.Marshal(in)
			var d ethos.Disposal
			err := cl.send(ctx, "POST", projectPath(p, "/disposals"), "", b, &d)
			if err != nil && *expired && *project == "" && ethos.ErrorCode(err) == ethos.EFORBIDDEN {
				fmt.Fprintf(env.Stderr, "project %s: skipped: %s\n", p, ethos.ErrorMessage(err))
				continue
			}
			if err != nil {
				return err
			}
			addDisposal(&total, &d)
		}
	} else {
		c, err := openCollection(ctx, *data, pgDSN(env, ""), *user)
		if err != nil {
			return err
		}
		defer c.Close()
		reg := c.registry()
		rid := "cli-" + ethos.NewID("dsp")
		var d *ethos.Disposal
		if *expired {
			if *project != "" {
				if err := c.allowWrite(ctx, *project, "subject.dispose"); err != nil {
					return err
				}
			} else if !hasRole(c.actor.Roles, ethos.RoleAdmin) {
				return ethos.Errorf(ethos.EFORBIDDEN, "sweeping every project offline needs an admin user; name one --project otherwise")
			}
			d, err = reg.DisposeExpired(ctx, c.actor, *project, time.Now().UTC(), rid)
		} else {
			if err := c.allowWrite(ctx, *project, "subject.dispose"); err != nil {
				return err
			}
			if k, err = reg.ResolveSubject(ctx, ethos.SubjectRef{Subject: k, Identifier: id}); err != nil {
				return err
			}
			why := *reason
			if why == "" {
				why = "disposal requested"
			}
			d, err = reg.DisposeSubject(ctx, c.actor, k, why, rid)
		}
		if err != nil {
			return err
		}
		addDisposal(&total, d)
	}
	if *asJSON {
		return printJSON(env, total)
	}
	for _, sr := range total.Shredded {
		fmt.Fprintf(env.Stdout, "subject %s: data key %s destroyed, %d blobs (%d bytes) deleted\n", sr.Subject.Short(), orNone(sr.KeyID), sr.BlobsDeleted, sr.BytesDeleted)
	}
	fmt.Fprintf(env.Stdout, "disposed of %d instances (%d blobs deleted one by one, %d subjects crypto-shredded)\n", total.Instances, total.BlobsDeleted, len(total.Shredded))
	return nil
}

func addDisposal(total, d *ethos.Disposal) {
	total.Instances += d.Instances
	total.BlobsDeleted += d.BlobsDeleted
	total.Shredded = append(total.Shredded, d.Shredded...)
	total.Projects = append(total.Projects, d.Projects...)
}

func hasRole(roles []ethos.Role, r ethos.Role) bool {
	for _, x := range roles {
		if x == r {
			return true
		}
	}
	return false
}

// startRetention disposes of instances past their project's retention
// period now and then every interval, acting as "system" (the sweep is the
// deployment's own duty, not a user's request), until the returned stop
// function is called; stop waits for a sweep under way. Failures are
// logged and retried at the next tick. interval <= 0 disables it.
func startRetention(ctx context.Context, reg *collection.Registry, interval time.Duration, logger *slog.Logger) (stop func()) {
	if interval <= 0 {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		now := time.Now()
		for {
			d, err := reg.DisposeExpired(ctx, ethos.AccessRequest{UserID: "system"}, "", now.UTC(), "retention-"+now.UTC().Format("20060102T150405"))
			switch {
			case err != nil && ctx.Err() == nil:
				logger.Error("retention sweep", "err", ethos.ErrorMessage(err))
			case err == nil && d.Instances > 0:
				logger.Info("retention sweep", "instances", d.Instances, "blobs_deleted", d.BlobsDeleted, "subjects_shredded", len(d.Shredded))
			}
			select {
			case <-ctx.Done():
				return
			case now = <-t.C:
			}
		}
	})
	return func() { cancel(); wg.Wait() }
}
