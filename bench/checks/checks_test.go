package checksbench_test

// The benchmark answers a large project's quality checks: N instances
// (10 per subject, each under its subject's consent), a processing run
// over all of them, and an audit log of N events, in SQLite. The checks
// read them through the same sqlstore services and audit adapters as
// "ethos serve".

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/audit"
	"github.com/ethos-imaging/ethos/audit/audittest"
	"github.com/ethos-imaging/ethos/checks"
	"github.com/ethos-imaging/ethos/sqlite"
	"github.com/ethos-imaging/ethos/sqlstore"
	"github.com/ethos-imaging/ethos/storetest"
)

// size is the number of instances ($ETHOS_CHECKS_BENCH_N, default 100,000).
func size() int {
	if n, err := strconv.Atoi(os.Getenv("ETHOS_CHECKS_BENCH_N")); err == nil && n > 0 {
		return n
	}
	return 100_000
}

type fixture struct {
	dir     string
	db      *sqlite.DB
	store   *sqlstore.DB
	project string
	auditDB *sqlite.AuditStorage
	log     *audit.Log // appends the events of the audited requests between answers
	key     audittest.Key
	keys    keyMap
	built   time.Duration
}

var (
	once sync.Once
	fx   *fixture
	fxe  error
)

// TestMain removes the fixture once the benchmarks are done.
func TestMain(m *testing.M) {
	code := m.Run()
	if fx != nil {
		fx.db.Close()
		os.RemoveAll(fx.dir)
	}
	os.Exit(code)
}

// keyMap stands for the blob store's key file: one wrapped key per subject.
type keyMap map[ethos.SubjectKey]*ethos.DataKey

func (k keyMap) DataKey(_ context.Context, s ethos.SubjectKey) (*ethos.DataKey, error) {
	if d, ok := k[s]; ok {
		return d, nil
	}
	return nil, ethos.Errorf(ethos.ENOTFOUND, "no data key")
}

func subject(i int) ethos.SubjectKey { return ethos.SubjectKey(fmt.Sprintf("%064x", i+1)) }

func build(b *testing.B) *fixture {
	once.Do(func() { fx, fxe = buildFixture(b) })
	if fxe != nil {
		b.Fatal(fxe)
	}
	return fx
}

func buildFixture(b *testing.B) (*fixture, error) {
	ctx := context.Background()
	start := time.Now()
	dir, err := os.MkdirTemp("", "ethos-checks-bench-")
	if err != nil {
		return nil, err
	}
	f := &fixture{dir: dir, db: sqlite.NewDB(filepath.Join(dir, "data")), key: audittest.TestKey(b), keys: keyMap{}}
	if err := f.db.Open(ctx); err != nil {
		return nil, err
	}
	f.store = f.db.Store()
	parties, projects := sqlite.NewPartyService(f.db), sqlite.NewProjectService(f.db)
	party := &ethos.Party{Name: "Bench hospital", Type: ethos.PartyPublic}
	if err := parties.CreateParty(ctx, party); err != nil {
		return nil, err
	}
	prj := &ethos.Project{Name: "Bench", IntendedUse: "benchmark", Modality: "CT", ClinicalSetting: "radiology", PartyID: party.ID}
	if err := projects.CreateProject(ctx, prj, "usr_bench"); err != nil {
		return nil, err
	}
	f.project = prj.ID

	n := size()
	subjects := (n + 9) / 10
	consents := sqlstore.NewConsentService(f.store)
	var cs []*ethos.Consent
	var links []*ethos.SubjectLink
	for s := range subjects {
		sk := subject(s)
		cs = append(cs, storetest.TestConsent(fmt.Sprintf("cns-%d", s), sk, ethos.PurposeResearch))
		links = append(links, &ethos.SubjectLink{Subject: sk, Sealed: []byte{1}})
		f.keys[sk] = &ethos.DataKey{ID: fmt.Sprintf("%032x", s), Subject: sk, MasterKeyID: "mk-bench", Wrapped: []byte{1, 2, 3}}
		if len(cs) == 1000 || s == subjects-1 {
			if err := consents.ImportConsents(ctx, cs, links); err != nil {
				return nil, fmt.Errorf("import consents: %w", err)
			}
			cs, links = nil, nil
		}
	}
	instances := sqlstore.NewInstanceService(f.store)
	received := time.Now().UTC().Add(-time.Hour)
	run := &ethos.ProcessingRun{ProjectID: f.project, StartedBy: "usr_bench", StartedAt: received, FinishedAt: received.Add(time.Minute),
		Software: "ethos bench", KeyFingerprint: "fp-bench", Profile: ethos.ProcessingProfile{Standard: "DICOM PS3.15 Annex E", Options: []string{}, Hash: "h-bench"},
		Inputs: n, Written: n, Actions: map[string]int{"remove": n}, Bias: &ethos.ProcessingBias{Threshold: 0.1, Confidence: 0.95}}
	var batch []*ethos.Instance
	for i := range n {
		sk := subject(i / 10)
		id := fmt.Sprintf("ins_%d", i)
		digest := fmt.Sprintf("%064x", i+1)
		batch = append(batch, &ethos.Instance{ID: id, ProjectID: f.project, SOPInstanceUID: fmt.Sprintf("2.25.%d", i+1), Subject: sk, Modality: "CT",
			Status: ethos.InstanceStored, ConsentID: fmt.Sprintf("cns-%d", i/10), Blob: &ethos.BlobRef{Subject: sk, Digest: digest, Size: 1000},
			Source: "file:bench", ReceivedAt: received, ReceivedBy: "usr_bench"})
		run.Items = append(run.Items, ethos.ProcessingItem{InstanceID: id, Subject: sk, Status: ethos.ItemWritten, InputSHA256: digest, OutputSHA256: digest,
			Output: &ethos.BlobRef{Subject: sk, Digest: digest, Size: 900}, OutputUID: fmt.Sprintf("2.25.9%d", i+1)})
		if len(batch) == 1000 || i == n-1 {
			if _, err := instances.CreateInstances(ctx, batch); err != nil {
				return nil, fmt.Errorf("create instances: %w", err)
			}
			batch = nil
		}
	}
	if err := sqlstore.NewProcessingService(f.store).CreateProcessingRun(ctx, run); err != nil {
		return nil, fmt.Errorf("processing run: %w", err)
	}

	f.auditDB = sqlite.NewAuditStorage(f.db)
	signer, err := audit.NewSigner(f.key.Signer)
	if err != nil {
		return nil, err
	}
	log := audit.NewLog(f.auditDB, signer)
	f.log = log
	if err := log.Open(ctx); err != nil {
		return nil, err
	}
	var evs []audit.Event
	for i := range n {
		evs = append(evs, audit.Event{Time: received, Actor: "usr_bench", Party: party.ID, Action: "access.read", Resource: "project/" + f.project + "/collection",
			Stage: "collection", Purpose: "research", Decision: "allow", Reason: "owner/collection: bench"})
		if len(evs) == 1000 || i == n-1 {
			if _, err := log.AppendBatch(ctx, evs); err != nil {
				return nil, err
			}
			evs = nil
		}
	}
	if _, err := log.Checkpoint(ctx); err != nil {
		return nil, err
	}
	f.built = time.Since(start)
	return f, nil
}

func cpu() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkProjectChecks answers the eleven checks of the project: the
// instance summary, every consent and data key (QC-COL-2), the audit log
// verified (QC-COL-2), the processing run read with all its items
// (QC-PRO-1). Cold answers with a new service each time (a server's first
// answer); the Warm ones with a service that already judged the
// processing run, whose record never changes. Warm verifies the whole
// audit log on every answer (the behaviour before the incremental mode);
// WarmIncremental uses checks.AuditLogVerifier as "ethos serve" does,
// after one event is appended to the log (as the audited request itself
// would), and subtracts the append's CPU; WarmWithoutAudit leaves the
// audit verification out, to show its share.
func BenchmarkProjectChecks(b *testing.B) {
	f := build(b)
	b.Logf("fixture: %d instances of %d subjects, 1 processing run, %d audit events; built in %s", size(), (size()+9)/10, size(), f.built.Round(time.Second))
	for _, tc := range []struct {
		name        string
		audit, cold bool
		incremental bool
	}{{"Cold", true, true, false}, {"Warm", true, false, false}, {"WarmIncremental", true, false, true}, {"WarmWithoutAudit", false, false, false}} {
		b.Run(tc.name, func(b *testing.B) {
			service := func() *checks.Service {
				s := &checks.Service{Projects: sqlite.NewProjectService(f.db), Records: sqlite.NewRecordService(f.db),
					Instances: sqlstore.NewInstanceService(f.store), Summaries: sqlstore.NewCheckEvidence(f.store), Consents: sqlstore.NewConsentService(f.store), Keys: f.keys,
					ConsentBatch: sqlstore.NewCheckEvidence(f.store),
					Processing:   sqlstore.NewProcessingService(f.store), Datasets: sqlstore.NewDatasetService(f.store),
					Training: sqlstore.NewTrainingStore(f.store), Obligations: sqlstore.NewObligationService(f.store)}
				if tc.audit {
					v := checks.NewAuditLogVerifier(f.auditDB, f.key.Verifier)
					if !tc.incremental {
						v.FullEvery = 1 // every answer a full verification
					}
					s.Audit = v
				}
				return s
			}
			s := service()
			if !tc.cold {
				// Warm: the processing run's verdict is already
				// remembered, as in a server that answered once.
				if _, err := s.ProjectChecks(context.Background(), f.project); err != nil {
					b.Fatal(err)
				}
			}
			ctx := context.Background()
			c0 := cpu()
			b.ResetTimer()
			var appendCPU time.Duration
			for b.Loop() {
				if tc.cold {
					s = service()
				}
				if tc.incremental {
					a0 := cpu()
					if _, err := f.log.Append(ctx, audit.Event{Actor: "usr_bench", Party: "bench", Action: "checks.read", Resource: "project/" + f.project,
						Stage: "collection", Purpose: "research", Decision: "allow", Reason: "bench"}); err != nil {
						b.Fatal(err)
					}
					appendCPU += cpu() - a0
				}
				pc, err := s.ProjectChecks(ctx, f.project)
				if err != nil {
					b.Fatal(err)
				}
				if q := pc.Checks[1]; q.ID != "QC-COL-2" || tc.audit && q.Status != ethos.CheckPass {
					b.Fatalf("QC-COL-2: %s %v", q.Status, q.Problems)
				}
				if q := pc.Checks[1]; tc.audit && !slices.ContainsFunc(q.Evidence, func(e ethos.EvidenceRef) bool {
					return e.Kind == "audit-log" && strings.Contains(e.Note, map[bool]string{false: "full", true: "incremental"}[tc.incremental])
				}) {
					b.Fatalf("QC-COL-2 evidence %+v: want the verification mode", q.Evidence)
				}
				if q := pc.Checks[2]; q.Status != ethos.CheckPass {
					b.Fatalf("QC-PRO-1: %s %v", q.Status, q.Problems)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64((cpu()-c0-appendCPU).Milliseconds())/float64(b.N), "cpu-ms/op")
		})
	}
}
