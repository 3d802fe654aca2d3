package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/audit"
	"github.com/ethos-imaging/ethos/collection"
	"github.com/ethos-imaging/ethos/dicom"
	"github.com/ethos-imaging/ethos/dicom/tag"
	"github.com/ethos-imaging/ethos/fileblob"
	ehttp "github.com/ethos-imaging/ethos/http"
	"github.com/ethos-imaging/ethos/policy"
	"github.com/ethos-imaging/ethos/sqlite"
	"github.com/ethos-imaging/ethos/sqlstore"
)

// Files of the data directory used by collection (QC-COL-2).
const (
	masterKeyFile     = "blob-master.key"    // fileblob master key, 0600
	subjectSecretFile = "subject-key.secret" // secret keying subject keys, 0600
	blobDir           = "blobs"              // encrypted instance bytes
	blobKeysFile      = "blob-keys.json"     // wrapped per-subject data keys
)

// collectionApp is a data directory opened for ingest and consent work,
// acting as one registered user (the operator on the machine that holds
// the data directory).
type collectionApp struct {
	*app
	consents  *sqlstore.ConsentService
	instances *sqlstore.InstanceService
	blobs     *fileblob.Store
	keys      *fileblob.FileKeyStore
	linkKey   []byte
	secret    []byte
	actor     ethos.AccessRequest
	decider   ethos.Decider
}

// openCollection opens the data directory dir (and the PostgreSQL
// database pg, when set) for offline collection work. The server holds the
// blob key store's lock while it runs: this is the fallback for a machine
// where no server runs.
func openCollection(ctx context.Context, dir, pg, userID string) (*collectionApp, error) {
	if pg == "" && !sqlite.Exists(dir) {
		return nil, usagef("%s is not an Ethos data directory (run 'ethos init' first)", dir)
	}
	a, err := openApp(ctx, dir, pg)
	if err != nil {
		return nil, err
	}
	c := &collectionApp{app: a, decider: policy.Default()}
	fail := func(err error) (*collectionApp, error) { c.Close(); return nil, err }
	if err := c.openStores(ctx); err != nil {
		return fail(err)
	}
	if userID == "" {
		return fail(usagef("--user: the id of the Ethos user doing this is required"))
	}
	u, err := a.users.FindUserByID(ctx, userID)
	if err != nil {
		return fail(err)
	}
	if u.Disabled {
		return fail(ethos.Errorf(ethos.EFORBIDDEN, "user %s is disabled", u.ID))
	}
	p, err := a.parties.FindPartyByID(ctx, u.PartyID)
	if err != nil {
		return fail(err)
	}
	c.actor = ethos.AccessRequest{UserID: u.ID, PartyID: p.ID, PartyType: p.Type, Roles: u.Roles}
	return c, nil
}

// openStores opens the collection tables, the blob store and the keys of
// the data directory (creating the keys on first use).
func (c *collectionApp) openStores(ctx context.Context) error {
	c.consents, c.instances = sqlstore.NewConsentService(c.store), sqlstore.NewInstanceService(c.store)
	master, err := loadOrCreateMaster(filepath.Join(c.dir, masterKeyFile))
	if err != nil {
		return err
	}
	raw, err := base64.StdEncoding.DecodeString(master.Encode())
	if err != nil {
		return err
	}
	if c.linkKey, err = collection.LinkKey(raw); err != nil {
		return err
	}
	keys := fileblob.NewFileKeyStore(filepath.Join(c.dir, blobKeysFile))
	if err := keys.Open(); err != nil {
		if ethos.ErrorCode(err) == ethos.ECONFLICT {
			return ethos.Errorf(ethos.ECONFLICT, "%s; if 'ethos serve' runs on %s, run this command through it: give a token (--token or $ETHOS_TOKEN) and --server", ethos.ErrorMessage(err), c.dir)
		}
		return err
	}
	c.keys = keys
	c.blobs = fileblob.NewStore(filepath.Join(c.dir, blobDir), keys, master)
	if err := c.blobs.Init(); err != nil {
		return err
	}
	// This process holds the key store's lock: no other Put is under way,
	// so temporary files are left over from a killed process.
	if _, err := c.blobs.RemoveStaleTemp(); err != nil {
		return err
	}
	c.secret, err = loadOrCreateSecret(filepath.Join(c.dir, subjectSecretFile))
	return err
}

// collectionServer is what "ethos serve" offers of the collection stage:
// STOW-RS ingest, and the consent registry with withdrawal and disposal.
type collectionServer struct {
	ingest    ethos.InstanceIngester
	registry  *collection.Registry
	instances *sqlstore.InstanceService
	consents  *sqlstore.ConsentService
}

// serveCollection opens the collection services of an opened app (SQLite
// or PostgreSQL; the blobs and keys stay in the data directory) and
// returns the function that closes what it opened. The server holds the
// blob key store's lock from then on.
func serveCollection(ctx context.Context, a *app, decider ethos.Decider) (*collectionServer, func() error, error) {
	c := &collectionApp{app: a, decider: decider}
	if err := c.openStores(ctx); err != nil {
		c.closeStores()
		return nil, nil, err
	}
	g := &collection.Ingester{Instances: c.instances, Consents: c.consents, Blobs: c.blobs, Auditor: withBatchAudit(a.auditor), Decider: decider, Secret: c.secret}
	return &collectionServer{
		ingest:    &collection.Service{Ingester: g, Projects: a.projects, DUAs: a.duas},
		registry:  c.registry(),
		instances: c.instances,
		consents:  c.consents,
	}, c.closeStores, nil
}

// registry returns the consent registry over the opened stores.
func (c *collectionApp) registry() *collection.Registry {
	return &collection.Registry{Consents: c.consents, Instances: c.instances, Blobs: c.blobs, Auditor: c.auditor, Secret: c.secret, LinkKey: c.linkKey,
		Followers: trainingService(c.app, nil)} // obligations on datasets and models (docs/training.md)
}

// closeStores releases the key store's lock.
func (c *collectionApp) closeStores() error {
	var errs []error
	if c.keys != nil {
		errs = append(errs, c.keys.Close())
		c.keys = nil
	}
	return errors.Join(errs...)
}

func (c *collectionApp) Close() error {
	return errors.Join(c.closeStores(), c.app.Close())
}

func loadOrCreateMaster(path string) (*fileblob.MasterKey, error) {
	m, err := fileblob.LoadMasterKey(path)
	if errors.Is(err, fs.ErrNotExist) {
		m = fileblob.GenerateMasterKey()
		if err := fileblob.WriteMasterKeyFile(path, m); err != nil {
			return nil, err
		}
		return m, nil
	}
	return m, err
}

func loadOrCreateSecret(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		k := make([]byte, 32)
		rand.Read(k)
		s := []byte(hex.EncodeToString(k))
		if err := writeAtomic(path, append(s, '\n'), 0o600); err != nil {
			return nil, err
		}
		return s, nil
	}
	if err != nil {
		return nil, err
	}
	b = bytes.TrimSpace(b)
	if len(b) < ethos.MinSubjectKeySecret {
		return nil, ethos.Errorf(ethos.EINVALID, "%s: %d bytes, want at least %d", path, len(b), ethos.MinSubjectKeySecret)
	}
	return b, nil
}

func runIngest(ctx context.Context, env *Env, args []string) error {
	if len(args) > 0 && args[0] == "rules" {
		return runIngestRules(ctx, env, args[1:])
	}
	if len(args) > 0 && args[0] == "list" {
		return runIngestList(ctx, env, args[1:])
	}
	flags := newFlagSet(env, "ingest", "ingest --user ID --project ID [--data DIR] [--workers N] [--batch N] [--json] [--cpuprofile F] [--trace F] DIR|FILE...\n       ethos ingest --project ID [--server URL] [--token T | $ETHOS_TOKEN] DIR|FILE...   (through a running server, by STOW-RS)\n       ethos ingest list --user ID --project ID [--status S] [--json]\n       ethos ingest rules --user ID --project ID --purpose research|ai-training [--modalities CT,MR] [--body-parts CHEST] [--from D] [--to D] [--issuer I]")
	data := flags.String("data", defaultDataDir, "data directory")
	user := flags.String("user", "", "id of the Ethos user doing the ingest")
	project := flags.String("project", "", "project to ingest into")
	asJSON := flags.Bool("json", false, "print one JSON record per instance")
	workers := flags.Int("workers", min(runtime.GOMAXPROCS(0), 4), "batches ingested at a time")
	batchFiles := flags.Int("batch", collection.BatchSize, "files per group commit (one blob sync, one database transaction, one audit append); 1 commits every file on its own")
	cpuProfile := flags.String("cpuprofile", "", "write a CPU profile (pprof) of the ingest to this file")
	traceFile := flags.String("trace", "", "write an execution trace (go tool trace) of the ingest to this file")
	remote := remoteFlags(env, flags)
	if err := parseFlags(flags, args); err != nil {
		return err
	}
	if *project == "" || flags.NArg() == 0 {
		return usagef("ingest needs --project and at least one directory or file")
	}
	cl, err := remote()
	if err != nil {
		return err
	}
	if cl != nil {
		return ingestRemote(ctx, env, cl, *project, flags.Args())
	}
	c, err := openCollection(ctx, *data, pgDSN(env, ""), *user)
	if err != nil {
		return err
	}
	defer c.Close()
	stop, err := startProfiles(*cpuProfile, *traceFile)
	if err != nil {
		return err
	}
	defer stop()
	p, err := c.projects.FindProjectByID(ctx, *project)
	if err != nil {
		return err
	}
	rules, err := c.instances.CollectionRules(ctx, p.ID)
	if e, ok := errors.AsType[*ethos.Error](err); ok && e.Code == ethos.ENOTFOUND {
		return usagef("project %s has no collection rules: set its purpose and minimisation rules with 'ethos ingest rules' first", p.ID)
	} else if err != nil {
		return err
	}
	duas, _, err := c.duas.FindDUAs(ctx, ethos.DUAFilter{PartyID: &c.actor.PartyID, ProjectID: &p.ID, Limit: 1000})
	if err != nil {
		return err
	}
	access := c.actor
	access.DUAs = duas
	g := &collection.Ingester{Instances: c.instances, Consents: c.consents, Blobs: c.blobs, Auditor: withBatchAudit(c.auditor), Decider: c.decider, Secret: c.secret}
	batch := &collection.Batch{Project: p, Rules: rules, Access: access, RequestID: "cli-" + ethos.NewID("ing")}
	// Walk first, then ingest groups of files with a few workers: parsing
	// and sealing of one group overlap another's syncs. Each group is
	// prepared by a worker and committed by a collection.Committer (with
	// the other groups ready at the same time), and its lines are printed
	// only once its blobs, instance records and audit events are durable.
	type job struct {
		path, source string
		size         int64
	}
	var jobs []job
	for _, root := range flags.Args() {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.Type().IsRegular() {
				return nil
			}
			fi, err := d.Info()
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, path)
			if rel == "." {
				rel = filepath.Base(path)
			}
			jobs = append(jobs, job{path, "file:" + filepath.ToSlash(rel), fi.Size()})
			return nil
		})
		if err != nil {
			return err
		}
	}
	n := max(*workers, 1)
	per := max(*batchFiles, 1)
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	next := make(chan []job)
	go func() {
		defer close(next)
		// A group ends at per files or maxBatchBytes, whichever comes
		// first, bounding the blob bytes one flush makes durable.
		for len(jobs) > 0 {
			k, sum := 0, int64(0)
			for k < len(jobs) && k < per && (k == 0 || sum+jobs[k].size <= maxBatchBytes) {
				sum += jobs[k].size
				k++
			}
			select {
			case next <- jobs[:k]:
			case <-ctx.Done():
				return
			}
			jobs = jobs[k:]
		}
	}()
	var (
		counts = map[string]int{}
		enc    = json.NewEncoder(env.Stdout)
		wg     sync.WaitGroup
	)
	report := func(res *collection.Result) error {
		in := res.Instance
		key := string(in.Status)
		if res.Duplicate {
			key = "duplicate"
		} else if in.Reason != "" {
			key += " " + string(in.Reason)
		}
		counts[key]++
		if *asJSON {
			return enc.Encode(map[string]any{"source": in.Source, "instance": in, "duplicate": res.Duplicate})
		}
		line := fmt.Sprintf("%-12s %s %s", key, in.ID, in.Source)
		if in.Status != ethos.InstanceStored {
			line += ": " + in.Detail
		}
		_, err := fmt.Fprintln(env.Stdout, line)
		return err
	}
	// Workers decide and seal groups; the committer makes them durable
	// (together when several are ready) and only then are their lines
	// printed, while the workers go on with the next groups.
	com := g.NewCommitter(ctx, n, func(_ *collection.Prepared, res []*collection.Result) error {
		for _, r := range res {
			if err := report(r); err != nil {
				return err
			}
		}
		return nil
	})
	for range n {
		wg.Go(func() {
			// One buffer per worker holds one file at a time: a group's
			// files are read just before each is decided and sealed, so
			// memory is bounded by the largest file, not the group.
			var buf []byte
			for group := range next {
				items := make([]collection.Item, len(group))
				for i, j := range group {
					items[i] = collection.Item{Source: j.source, Load: func() ([]byte, error) {
						var err error
						buf, err = appendFile(j.path, buf[:0])
						return buf, err
					}}
				}
				p, err := g.Prepare(ctx, batch, items)
				if err == nil {
					err = com.Submit(ctx, p)
				}
				if err != nil {
					cancel(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := com.Close(); err != nil {
		return err
	}
	if err := context.Cause(ctx); err != nil && ctx.Err() != nil {
		return err
	}
	if !*asJSON {
		var parts []string
		for k, n := range counts {
			parts = append(parts, fmt.Sprintf("%s %d", k, n))
		}
		fmt.Fprintf(env.Stdout, "done: %s\n", strings.Join(sortedStrings(parts), ", "))
	}
	return nil
}

// startProfiles starts a CPU profile and an execution trace when their
// files are named (benchmarks: docs/benchmarks-ingest.md) and returns the
// function that stops them and closes the files.
func startProfiles(cpu, trc string) (func(), error) {
	var closers []func()
	stop := func() {
		for _, c := range slices.Backward(closers) {
			c()
		}
	}
	if cpu != "" {
		f, err := os.Create(cpu)
		if err != nil {
			return nil, err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return nil, err
		}
		closers = append(closers, func() { pprof.StopCPUProfile(); f.Close() })
	}
	if trc != "" {
		f, err := os.Create(trc)
		if err != nil {
			stop()
			return nil, err
		}
		if err := trace.Start(f); err != nil {
			f.Close()
			stop()
			return nil, err
		}
		closers = append(closers, func() { trace.Stop(); f.Close() })
	}
	return stop, nil
}

func sortedStrings(s []string) []string {
	slices.Sort(s)
	return s
}

func runIngestRules(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "ingest rules", "ingest rules --project ID --purpose research|ai-training [--modalities CT,MR] [--body-parts CHEST] [--from YYYY-MM-DD] [--to YYYY-MM-DD] [--issuer I] [--retention-days N] [--server URL]\n       (offline, no server running: add --data DIR --user ID and no token)")
	data := fs.String("data", defaultDataDir, "data directory (offline mode)")
	user := fs.String("user", "", "id of the Ethos user setting the rules (offline mode)")
	project := fs.String("project", "", "project")
	purpose := fs.String("purpose", "", "purpose the project collects for: research or ai-training")
	mods := fs.String("modalities", "", "comma-separated DICOM modalities to accept (default: any)")
	parts := fs.String("body-parts", "", "comma-separated DICOM body parts to accept (default: any)")
	from := fs.String("from", "", "earliest acquisition date accepted")
	to := fs.String("to", "", "latest acquisition date accepted (whole day)")
	issuer := fs.String("issuer", "", "issuer of patient IDs for files without Issuer of Patient ID")
	retention := fs.Int("retention-days", 0, "days an instance is kept after it was received (0: until withdrawal or disposal)")
	remote := remoteFlags(env, fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *project == "" || *purpose == "" {
		return usagef("ingest rules needs --project and --purpose")
	}
	r := &ethos.CollectionRules{ProjectID: *project, Purpose: ethos.Purpose(*purpose), Issuer: *issuer, RetentionDays: *retention}
	if *mods != "" {
		r.Modalities = splitList(strings.ToUpper(*mods))
	}
	if *parts != "" {
		r.BodyParts = splitList(*parts)
	}
	for _, tf := range []struct {
		s   string
		dst *time.Time
	}{{*from, &r.Acquired.Start}, {*to, &r.Acquired.End}} {
		if tf.s == "" {
			continue
		}
		var err error
		if *tf.dst, err = parseTimeFlag(tf.s); err != nil {
			return usagef("%v", err)
		}
	}
	cl, err := remote()
	if err != nil {
		return err
	}
	if cl != nil {
		in := map[string]any{"purpose": r.Purpose, "modalities": r.Modalities, "body_parts": r.BodyParts, "acquired": r.Acquired, "issuer": r.Issuer, "retention_days": r.RetentionDays}
		var out ethos.CollectionRules
		if err := cl.do(ctx, "PUT", projectPath(*project, "/collection/rules"), in, &out); err != nil {
			return err
		}
		return printJSON(env, &out)
	}
	c, err := openCollection(ctx, *data, pgDSN(env, ""), *user)
	if err != nil {
		return err
	}
	defer c.Close()
	p, err := c.projects.FindProjectByID(ctx, *project)
	if err != nil {
		return err
	}
	if err := c.allowWrite(ctx, p.ID, "collection.rules"); err != nil {
		return err
	}
	req := c.actor
	req.ProjectID, req.ProjectPartyID, req.ManageKind, req.Action, req.Now = p.ID, p.PartyID, "project", ethos.ActionManage, time.Now()
	if d := c.decider.Decide(&req); !d.Allow {
		return d.Err()
	}
	r.UpdatedBy = c.actor.UserID
	if err := c.instances.SetCollectionRules(ctx, r); err != nil {
		return err
	}
	if err := c.auditor.Record(ctx, ethos.AuditEvent{Actor: c.actor.UserID, Party: c.actor.PartyID, Action: "collection.rules",
		Resource: "project/" + p.ID, Stage: ethos.StageCollection, Purpose: r.Purpose, Reason: fmt.Sprintf("purpose %s, modalities %v, %d body parts (typed, so on the rules), retention %d days", r.Purpose, r.Modalities, len(r.BodyParts), r.RetentionDays)}); err != nil {
		return err
	}
	return printJSON(env, r)
}

// runIngestList lists a project's instance records: what was stored,
// quarantined (with the reason), withdrawn or erased. Records name
// subjects by key only; reading them is a collection-stage read.
func runIngestList(ctx context.Context, env *Env, args []string) error {
	flags := newFlagSet(env, "ingest list", "ingest list --user ID --project ID [--status stored|quarantined|withdrawn|erased] [--limit N] [--json]")
	data := flags.String("data", defaultDataDir, "data directory")
	user := flags.String("user", "", "id of the Ethos user reading the records")
	project := flags.String("project", "", "project")
	status := flags.String("status", "", "only records in this state")
	limit := flags.Int("limit", 1000, "records to list (at most 1000)")
	asJSON := flags.Bool("json", false, "print as JSON")
	if err := parseFlags(flags, args); err != nil {
		return err
	}
	if *project == "" || flags.NArg() != 0 {
		return usagef("ingest list needs --project")
	}
	f := ethos.InstanceFilter{ProjectID: project, Limit: *limit}
	if *status != "" {
		st := ethos.InstanceStatus(*status)
		switch st {
		case ethos.InstanceStored, ethos.InstanceQuarantined, ethos.InstanceWithdrawn, ethos.InstanceErased:
		default:
			return usagef("--status: want stored, quarantined, withdrawn or erased")
		}
		f.Status = &st
	}
	c, err := openCollection(ctx, *data, pgDSN(env, ""), *user)
	if err != nil {
		return err
	}
	defer c.Close()
	p, err := c.projects.FindProjectByID(ctx, *project)
	if err != nil {
		return err
	}
	purpose := ethos.PurposeResearch
	if r, err := c.instances.CollectionRules(ctx, p.ID); err == nil {
		purpose = r.Purpose
	}
	req := c.actor
	req.ProjectID, req.ProjectPartyID, req.Stage, req.Action, req.Purpose, req.Now = p.ID, p.PartyID, ethos.StageCollection, ethos.ActionRead, purpose, time.Now()
	d := c.decider.Decide(&req)
	if err := c.auditor.Record(ctx, ethos.AuditEvent{Actor: c.actor.UserID, Party: c.actor.PartyID, Action: "instance.list", Resource: "project/" + p.ID,
		Stage: ethos.StageCollection, Purpose: purpose, Decision: d.Decision(), Reason: d.Rule + ": " + d.Reason}); err != nil {
		return err
	}
	if !d.Allow {
		return d.Err()
	}
	ins, n, err := c.instances.FindInstances(ctx, f)
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(env, map[string]any{"total": n, "instances": ins})
	}
	for _, in := range ins {
		subject := "-"
		if in.Subject != "" {
			subject = in.Subject.Short()
		}
		fmt.Fprintf(env.Stdout, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", in.ID, in.Status, orDash(string(in.Reason)), subject, orDash(in.Modality), in.ReceivedAt.Format(time.RFC3339), in.Source)
	}
	fmt.Fprintf(env.Stdout, "%d of %d records\n", len(ins), n)
	return nil
}

// maxBatchBytes bounds the bytes of one group of files (one blob flush);
// a single larger file still forms a group of its own.
const maxBatchBytes = 32 << 20

// batchAuditor appends a group of audit events to the audit log in one
// transaction (collection.BatchAuditor).
type batchAuditor struct{ ehttp.LogAuditor }

func (a batchAuditor) RecordBatch(ctx context.Context, events []ethos.AuditEvent) error {
	evs := make([]audit.Event, len(events))
	for i, e := range events {
		evs[i] = audit.Event{Time: e.Time, Actor: e.Actor, Party: e.Party, Action: e.Action, Resource: e.Resource,
			Stage: string(e.Stage), Purpose: string(e.Purpose), Decision: e.Decision, Reason: e.Reason, RequestID: e.RequestID}
	}
	_, err := a.Log.AppendBatch(ctx, evs)
	return err
}

// withBatchAudit gives a, when it writes to an audit log, the batch append
// group commit uses.
func withBatchAudit(a ethos.Auditor) ethos.Auditor {
	if la, ok := a.(ehttp.LogAuditor); ok {
		return batchAuditor{la}
	}
	return a
}

// appendFile appends the bytes of the file at path to buf (grown when too
// small), stopping after collection.MaxInstanceBytes + 1 bytes so that
// ingest quarantines a larger file instead of the reader allocating
// without bound.
func appendFile(path string, buf []byte) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return buf, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return buf, err
	}
	start := len(buf)
	size := min(fi.Size(), collection.MaxInstanceBytes+1) + 1 // +1: see EOF in one read
	buf = slices.Grow(buf, int(size))
	for {
		if len(buf)-start > collection.MaxInstanceBytes {
			return buf, nil
		}
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		limit := min(cap(buf), start+collection.MaxInstanceBytes+1)
		n, err := f.Read(buf[len(buf):limit])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// ingestRemote sends the files under roots to a running server by
// DICOMweb STOW-RS, at most 20 instances or 64 MiB a request, and prints
// what the server stored and refused. The records (with the quarantine
// reasons) are listed by 'ethos ingest list' or the audit log.
func ingestRemote(ctx context.Context, env *Env, cl *client, project string, roots []string) error {
	var files []string
	for _, root := range roots {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				files = append(files, path)
			}
			return err
		})
		if err != nil {
			return err
		}
	}
	const maxParts, maxBytes = 20, 64 << 20
	stored, reasons := 0, map[string]int{}
	for i := 0; i < len(files); {
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		var batch []stowFile
		for n := 0; i < len(files) && n < maxParts && (n == 0 || body.Len() < maxBytes); i, n = i+1, n+1 {
			b, err := os.ReadFile(files[i])
			if err != nil {
				return err
			}
			pw, err := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {"application/dicom"}})
			if err != nil {
				return err
			}
			pw.Write(b)
			batch = append(batch, stowFile{path: files[i], uid: sopInstanceUID(b)})
		}
		mw.Close()
		s, failed, err := stowRequest(ctx, cl, project, mw.Boundary(), body.Bytes())
		if err != nil {
			return err
		}
		stored += s
		for _, f := range failed {
			reasons[f.reason]++
			fmt.Fprintf(env.Stdout, "refused\t%s\t%s\n", refusedPath(batch, f.uid), f.reason)
		}
	}
	refused := 0
	var parts []string
	for k, n := range reasons {
		refused += n
		parts = append(parts, fmt.Sprintf("%s %d", k, n))
	}
	line := fmt.Sprintf("done: stored %d, refused %d", stored, refused)
	if refused > 0 {
		line += " (" + strings.Join(sortedStrings(parts), ", ") + ")"
	}
	fmt.Fprintln(env.Stdout, line)
	return nil
}

// stowFile is one file of a STOW-RS request and its SOP Instance UID
// ("" when the file does not parse), which the answer names it by.
type stowFile struct{ path, uid string }

// stowFailure is one refused instance of a STOW-RS answer.
type stowFailure struct{ uid, reason string }

// sopInstanceUID reads a file's SOP Instance UID from its header.
func sopInstanceUID(b []byte) string {
	f, err := dicom.Parse(bytes.NewReader(b), dicom.SkipPixelData())
	if err != nil {
		return ""
	}
	return strings.Trim(f.Dataset.Text(tag.SOPInstanceUID), " \x00")
}

// refusedPath names the file of a refused instance: the file of the batch
// with that SOP Instance UID, or a placeholder when the answer's UID is
// empty or matches no file (the server could not read it).
func refusedPath(batch []stowFile, uid string) string {
	if uid != "" {
		for _, f := range batch {
			if f.uid == uid {
				return f.path
			}
		}
	}
	var unread []string
	for _, f := range batch {
		if f.uid == "" {
			unread = append(unread, f.path)
		}
	}
	if len(unread) == 1 {
		return unread[0]
	}
	return "(a file of this request without a readable SOP Instance UID)"
}

// stowRequest posts one STOW-RS body and returns how many instances the
// DICOM JSON answer (200, 202, or 409 when none was stored) lists as stored
// and which it lists as refused, with the reason the server gave (Error
// Comment) or the DICOM failure code; any other answer is an error.
func stowRequest(ctx context.Context, cl *client, project, boundary string, body []byte) (stored int, failed []stowFailure, err error) {
	req, err := http.NewRequestWithContext(ctx, "POST", cl.base+"/dicomweb/studies?project="+url.QueryEscape(project), bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+cl.token)
	req.Header.Set("Content-Type", `multipart/related; type="application/dicom"; boundary=`+boundary)
	resp, err := cl.hc.Do(req)
	if err != nil {
		return 0, nil, ethos.Errorf(ethos.EINTERNAL, "cannot reach the server at %s: %v", cl.base, unwrapURL(err))
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return 0, nil, err
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "application/dicom+json" {
		var e struct {
			Error   string `json:"error"`
			Message string `json:"message"`
		}
		if json.Unmarshal(b, &e) != nil || e.Message == "" {
			return 0, nil, ethos.Errorf(ethos.EINTERNAL, "server answered %s", resp.Status)
		}
		return 0, nil, ethos.Errorf(e.Error, "%s", e.Message)
	}
	type attr struct {
		Value []json.RawMessage `json:"Value"`
	}
	var out map[string]attr
	if err := json.Unmarshal(b, &out); err != nil {
		return 0, nil, fmt.Errorf("STOW-RS answer: %w", err)
	}
	for _, raw := range out["00081198"].Value {
		var item map[string]attr
		if err := json.Unmarshal(raw, &item); err != nil {
			return 0, nil, fmt.Errorf("STOW-RS answer: failed instance: %w", err)
		}
		var f stowFailure
		if v := item["00081155"].Value; len(v) > 0 {
			json.Unmarshal(v[0], &f.uid)
		}
		if v := item["00000902"].Value; len(v) > 0 {
			json.Unmarshal(v[0], &f.reason)
		}
		if f.reason == "" {
			var code int
			if v := item["00081197"].Value; len(v) > 0 {
				json.Unmarshal(v[0], &code)
			}
			f.reason = fmt.Sprintf("failure 0x%04X", code)
		}
		failed = append(failed, f)
	}
	return len(out["00081199"].Value), failed, nil
}
