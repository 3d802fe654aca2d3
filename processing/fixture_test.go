package processing_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/deid"
	"github.com/ethos-imaging/ethos/dicom"
	"github.com/ethos-imaging/ethos/dicom/tag"
	"github.com/ethos-imaging/ethos/fileblob"
	"github.com/ethos-imaging/ethos/internal/testenv"
	"github.com/ethos-imaging/ethos/policy"
	"github.com/ethos-imaging/ethos/processing"
	"github.com/ethos-imaging/ethos/sqlite"
	"github.com/ethos-imaging/ethos/sqlstore"
	"github.com/ethos-imaging/ethos/storetest"
)

const testIssuer = "urn:oid:2.999.4711.1"

var secret = []byte("0123456789abcdef0123456789abcdef-test-secret")

// auditLog keeps every audit event.
type auditLog struct {
	mu     sync.Mutex
	events []ethos.AuditEvent
}

func (r *auditLog) Record(ctx context.Context, e ethos.AuditEvent) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
	return nil
}

// lineage is a small in-memory LineageRecorder (the real one belongs to
// the training stage).
type lineage struct {
	mu    sync.Mutex
	edges map[[5]string]ethos.LineageEdge
}

func (l *lineage) RecordLineage(ctx context.Context, edges ...ethos.LineageEdge) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.edges == nil {
		l.edges = map[[5]string]ethos.LineageEdge{}
	}
	for _, e := range edges {
		l.edges[[5]string{string(e.From.Kind), e.From.ID, string(e.Relation), string(e.To.Kind), e.To.ID}] = e
	}
	return nil
}

func (l *lineage) has(from ethos.LineageNode, rel ethos.LineageRelation, to ethos.LineageNode) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, ok := l.edges[[5]string{string(from.Kind), from.ID, string(rel), string(to.Kind), to.ID}]
	return ok
}

type fixture struct {
	store     *sqlstore.DB
	instances *sqlstore.InstanceService
	runs      *sqlstore.ProcessingService
	blobs     *fileblob.Store
	audit     *auditLog
	lineage   *lineage
	proc      *processing.Processor
	project   *ethos.Project
	access    ethos.AccessRequest
	byFile    map[string]*ethos.Instance // file name -> stored instance
}

// testFiles are real DICOM files of the shared corpus: the canary series
// (two instances per patient) and pydicom's transfer-syntax family.
var testFiles = []string{
	"canary/shard0/ct_00000.dcm", "canary/shard1/ct_00001.dcm",
	"canary/shard0/mr_00002.dcm", "canary/shard1/mr_00003.dcm",
	"canary/shard0/mrbig_00004.dcm", "canary/shard1/mrbig_00005.dcm",
	"canary/shard0/xa_00006.dcm", "canary/shard1/xa_00007.dcm",
	"canary/shard0/ctsmall_00010.dcm", "canary/shard1/ctsmall_00011.dcm",
	"pydicom/CT_small.dcm", "pydicom/MR_small_RLE.dcm", "pydicom/image_dfl.dcm",
	"pydicom/GDCMJ2K_TextGBR.dcm", "pydicom/SC_rgb_small_odd.dcm",
}

func setup(t testing.TB, files ...string) *fixture {
	t.Helper()
	return setupCorpus(t, "", files)
}

// setupCorpus is setup with files relative to root ("": the shared
// corpus's DICOM directory).
func setupCorpus(t testing.TB, root string, files []string) *fixture {
	t.Helper()
	if root == "" {
		root = testenv.DICOMDir(t)
	}
	ctx := context.Background()
	dir := t.TempDir()
	db := sqlite.NewDB(filepath.Join(dir, "db"))
	if err := db.Open(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s := storetest.Stores{Parties: sqlite.NewPartyService(db), Users: sqlite.NewUserService(db), Projects: sqlite.NewProjectService(db)}
	party := storetest.MustParty(t, s, "Hospital", ethos.PartyPublic)
	roles := policy.StageRoles(ethos.StageProcessing, ethos.ActionWrite)
	if len(roles) == 0 {
		t.Fatal("no role may write at the processing stage")
	}
	user := storetest.MustUser(t, s, party, roles[0])
	f := &fixture{store: db.Store(), audit: &auditLog{}, lineage: &lineage{}, byFile: map[string]*ethos.Instance{}}
	f.project = storetest.MustProject(t, s, party, user.ID)
	f.instances = sqlstore.NewInstanceService(f.store)
	f.runs = sqlstore.NewProcessingService(f.store)
	keys := fileblob.NewFileKeyStore(filepath.Join(dir, "keys.json"))
	if err := keys.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { keys.Close() })
	f.blobs = fileblob.NewStore(filepath.Join(dir, "blobs"), keys, fileblob.GenerateMasterKey())
	if err := f.blobs.Init(); err != nil {
		t.Fatal(err)
	}
	f.access = ethos.AccessRequest{UserID: user.ID, PartyID: party.ID, PartyType: party.Type, Roles: user.Roles}
	f.proc = &processing.Processor{Instances: f.instances, Runs: f.runs, Blobs: f.blobs, Lineage: f.lineage, Auditor: f.audit,
		Decider: policy.Default(), Software: "ethos test", TempDir: dir,
		Now: func() time.Time { return time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC) }}
	if len(files) == 0 {
		files = testFiles
	}
	for _, rel := range files {
		f.put(t, root, rel)
	}
	return f
}

// put stores one corpus file as a stored collection instance, as ingest
// would after its checks passed (the consent gate is collection's, tested
// there and end to end in cmd/ethos), its SHA-256 recorded as ingest
// records it.
func (f *fixture) put(t testing.TB, root, rel string) *ethos.Instance {
	t.Helper()
	return f.putDigest(t, root, rel, func(sum string) string { return sum })
}

// putDigest is put with the SHA-256 recorded for the instance chosen by
// digest from the file's true one ("": none, as for instances stored
// before ingest recorded it).
func (f *fixture) putDigest(t testing.TB, root, rel string, digest func(sum string) string) *ethos.Instance {
	t.Helper()
	return f.putEdit(t, root, rel, func(in *ethos.Instance) { in.SHA256 = digest(in.SHA256) })
}

// putEdit is put with the record changed by edit before it is saved.
func (f *fixture) putEdit(t testing.TB, root, rel string, edit func(in *ethos.Instance)) *ethos.Instance {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(root, rel)
	df, err := dicom.ParseFile(path, dicom.SkipPixelData())
	if err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
	pid := strings.TrimSpace(df.Dataset.Text(tag.PatientID))
	if pid == "" {
		pid = "no-id-" + filepath.Base(rel)
	}
	subject, err := ethos.DeriveSubjectKey(secret, ethos.PatientIdentifier{Issuer: testIssuer, Value: pid})
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := f.blobs.Put(ctx, subject, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	sop := strings.Trim(df.Dataset.Text(tag.SOPInstanceUID), " \x00")
	in := &ethos.Instance{ProjectID: f.project.ID, SOPInstanceUID: sop, Subject: subject,
		Modality: strings.TrimSpace(df.Dataset.Text(tag.Modality)), Status: ethos.InstanceStored, Blob: &ref,
		Source: "file:" + rel, ReceivedAt: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), ReceivedBy: f.access.UserID,
		Acquired: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), ConsentID: "cns-test",
		SHA256: hex.EncodeToString(sum[:]), Pixels: pixelValueOf(t, data)}
	edit(in)
	saved, err := f.instances.CreateInstance(ctx, in)
	if ethos.ErrorCode(err) == ethos.ECONFLICT && saved != nil {
		// Same SOP Instance UID in the project (pydicom's MR_small family
		// is one instance in several transfer syntaxes): ingest keeps the
		// first copy only, and so does the fixture.
		f.byFile[rel] = saved
		return saved
	}
	if err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
	f.byFile[rel] = saved
	return saved
}

// pixelValueOf locates the one top-level pixel data value of data as
// ingest records it (nil: none, several, or a deflated data set).
func pixelValueOf(t testing.TB, data []byte) *ethos.PixelValue {
	t.Helper()
	rd, err := dicom.NewReader(bytes.NewReader(data), dicom.SkipPixelData(), dicom.WithBulkThreshold(4096))
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	var found []*ethos.PixelValue
	for {
		e, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if e.Tag == tag.PixelData || e.Tag == tag.FloatPixelData || e.Tag == tag.DoubleFloatPixelData {
			if e.Bulk == nil {
				return nil
			}
			found = append(found, &ethos.PixelValue{Tag: uint32(e.Tag), Offset: e.Bulk.Offset, Length: e.Bulk.Length,
				Encapsulated: e.Bulk.Encapsulated, Syntax: rd.Header.Syntax.UID})
		}
	}
	if len(found) != 1 || rd.Header.Syntax.Deflated {
		return nil
	}
	return found[0]
}

func (f *fixture) request(t testing.TB, options string) *processing.Request {
	t.Helper()
	opts, err := deid.ParseOptions(options)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := deid.NewConfig(nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := deid.NewKeys([]byte("project-secret-for-processing-tests"))
	if err != nil {
		t.Fatal(err)
	}
	return &processing.Request{Project: f.project, Purpose: ethos.PurposeResearch, Access: f.access, Config: cfg, Keys: keys, RequestID: "test"}
}
