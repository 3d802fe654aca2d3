package collection_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/collection"
	"github.com/ethos-imaging/ethos/consent"
	"github.com/ethos-imaging/ethos/fileblob"
	"github.com/ethos-imaging/ethos/internal/testenv"
	"github.com/ethos-imaging/ethos/policy"
	"github.com/ethos-imaging/ethos/sqlite"
	"github.com/ethos-imaging/ethos/storetest"
)

const testIssuer = "urn:oid:2.999.4711.1"

// recorder is an Auditor that keeps every event, to be scanned for
// identifiers.
type recorder struct {
	mu     sync.Mutex
	events []ethos.AuditEvent
}

func (r *recorder) Record(ctx context.Context, e ethos.AuditEvent) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
	return nil
}

func (r *recorder) dump(t *testing.T) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	b, err := json.Marshal(r.events)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

type fixture struct {
	ing       *collection.Ingester
	batch     *collection.Batch
	consents  *sqlite.ConsentService
	instances *sqlite.InstanceService
	blobs     *fileblob.Store
	audit     *recorder
	linkKey   []byte
	canary    string
}

var secret = []byte("0123456789abcdef0123456789abcdef-test-secret")

func setup(t *testing.T) *fixture { return setupTB(t) }

func setupTB(t testing.TB) *fixture {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	db := sqlite.NewDB(filepath.Join(dir, "db"))
	if err := db.Open(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s := storetest.Stores{Parties: sqlite.NewPartyService(db), Users: sqlite.NewUserService(db), Projects: sqlite.NewProjectService(db)}
	party := storetest.MustParty(t, s, "Hospital", ethos.PartyPublic)
	roles := policy.StageRoles(ethos.StageCollection, ethos.ActionWrite)
	if len(roles) == 0 {
		t.Fatal("no role may write at the collection stage")
	}
	user := storetest.MustUser(t, s, party, roles[0])
	proj := storetest.MustProject(t, s, party, user.ID)
	f := &fixture{consents: sqlite.NewConsentService(db), instances: sqlite.NewInstanceService(db), audit: &recorder{}}
	master := fileblob.GenerateMasterKey()
	keys := fileblob.NewFileKeyStore(filepath.Join(dir, "keys.json"))
	if err := keys.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { keys.Close() })
	f.blobs = fileblob.NewStore(filepath.Join(dir, "blobs"), keys, master)
	if err := f.blobs.Init(); err != nil {
		t.Fatal(err)
	}
	var err error
	if f.linkKey, err = collection.LinkKey([]byte("0123456789abcdef0123456789abcdef")); err != nil {
		t.Fatal(err)
	}
	rules := &ethos.CollectionRules{ProjectID: proj.ID, Purpose: ethos.PurposeResearch, Modalities: []string{"CT", "MR"}, Issuer: testIssuer}
	if err := f.instances.SetCollectionRules(ctx, rules); err != nil {
		t.Fatal(err)
	}
	f.ing = &collection.Ingester{Instances: f.instances, Consents: f.consents, Blobs: f.blobs, Auditor: f.audit, Decider: policy.Default(), Secret: secret,
		Now: func() time.Time { return time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC) }}
	f.batch = &collection.Batch{Project: proj, Rules: rules, RequestID: "test",
		Access: ethos.AccessRequest{UserID: user.ID, PartyID: party.ID, PartyType: party.Type, Roles: user.Roles}}
	f.canary = filepath.Join(testenv.DICOMDir(t), "canary")
	f.importConsents(t, "testdata/ingest/consents.json")
	return f
}

func (f *fixture) importConsents(t testing.TB, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ims, err := consent.ParseFHIR(b)
	if err != nil {
		t.Fatal(err)
	}
	var cs []*ethos.Consent
	var links []*ethos.SubjectLink
	for _, im := range ims {
		k, err := ethos.DeriveSubjectKey(secret, *im.Patient)
		if err != nil {
			t.Fatal(err)
		}
		sealed, err := collection.SealIdentifier(f.linkKey, k, *im.Patient)
		if err != nil {
			t.Fatal(err)
		}
		im.Consent.Subject = k
		cs = append(cs, im.Consent)
		links = append(links, &ethos.SubjectLink{Subject: k, Sealed: sealed})
	}
	if err := f.consents.ImportConsents(context.Background(), cs, links); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) ingest(t *testing.T, rel string) *collection.Result {
	t.Helper()
	fh, err := os.Open(filepath.Join(f.canary, rel))
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	res, err := f.ing.Ingest(context.Background(), f.batch, "file:"+rel, fh)
	if err != nil {
		t.Fatalf("ingest %s: %v", rel, err)
	}
	return res
}

func subjectOf(t *testing.T, patientID string) ethos.SubjectKey {
	k, err := ethos.DeriveSubjectKey(secret, ethos.PatientIdentifier{Issuer: testIssuer, Value: patientID})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestIngestDecisions(t *testing.T) {
	f := setup(t)
	tests := []struct {
		name   string
		file   string
		status ethos.InstanceStatus
		reason ethos.QuarantineReason
	}{
		{"stored_with_research_consent", "shard0/ct_00000.dcm", ethos.InstanceStored, ""},
		{"stored_second_instance_same_subject", "shard1/ct_00001.dcm", ethos.InstanceStored, ""},
		{"quarantined_consent_for_other_purpose", "shard0/mr_00002.dcm", ethos.InstanceQuarantined, ethos.QuarantineOutOfScope},
		{"quarantined_consent_expired", "shard0/mrbig_00004.dcm", ethos.InstanceQuarantined, ethos.QuarantineExpired},
		{"quarantined_no_consent", "shard0/ctsmall_00010.dcm", ethos.InstanceQuarantined, ethos.QuarantineNoConsent},
		{"quarantined_modality_outside_rules", "shard0/xa_00006.dcm", ethos.InstanceQuarantined, ethos.QuarantineMinimisation},
		{"quarantined_sr_outside_rules", "shard0/sr_00008.dcm", ethos.InstanceQuarantined, ethos.QuarantineMinimisation},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := f.ingest(t, tt.file)
			in := res.Instance
			if in.Status != tt.status || in.Reason != tt.reason || res.Duplicate {
				t.Fatalf("got %s %s (dup %t, %s), want %s %s", in.Status, in.Reason, res.Duplicate, in.Detail, tt.status, tt.reason)
			}
			if (in.Blob != nil) != (tt.status == ethos.InstanceStored) {
				t.Errorf("blob %v for status %s", in.Blob, in.Status)
			}
			if in.Source != "file:"+tt.file || in.ReceivedBy != f.batch.Access.UserID || in.ReceivedAt.IsZero() {
				t.Errorf("provenance: %q %q %v", in.Source, in.ReceivedBy, in.ReceivedAt)
			}
		})
	}
	t.Run("stored_bytes_decrypt_to_the_file", func(t *testing.T) {
		res := f.ingest(t, "shard0/ct_00000.dcm")
		want, _ := os.ReadFile(filepath.Join(f.canary, "shard0/ct_00000.dcm"))
		rc, err := f.blobs.Open(context.Background(), *res.Instance.Blob)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("read back %d bytes (%v), want the %d bytes of the file", len(got), err, len(want))
		}
	})
	t.Run("stored_record_keeps_the_file_sha256", func(t *testing.T) {
		res := f.ingest(t, "shard1/ct_00001.dcm")
		data, _ := os.ReadFile(filepath.Join(f.canary, "shard1/ct_00001.dcm"))
		sum := sha256.Sum256(data)
		want := hex.EncodeToString(sum[:])
		ins, _, err := f.instances.FindInstances(context.Background(), ethos.InstanceFilter{ID: &res.Instance.ID})
		if err != nil || len(ins) != 1 {
			t.Fatalf("find %s: %v", res.Instance.ID, err)
		}
		if ins[0].SHA256 != want {
			t.Fatalf("recorded sha256 %q, want %s", ins[0].SHA256, want)
		}
		// The blob store derived the blob's address from that digest.
		if ok, err := f.blobs.AddressedBy(context.Background(), *ins[0].Blob, sum[:]); err != nil || !ok {
			t.Fatalf("blob not addressed by the recorded digest (%v, %v)", ok, err)
		}
	})
	t.Run("stored_record_locates_the_pixel_data", func(t *testing.T) {
		res := f.ingest(t, "shard1/ct_00001.dcm")
		data, _ := os.ReadFile(filepath.Join(f.canary, "shard1/ct_00001.dcm"))
		ins, _, err := f.instances.FindInstances(context.Background(), ethos.InstanceFilter{ID: &res.Instance.ID})
		if err != nil || len(ins) != 1 {
			t.Fatalf("find %s: %v", res.Instance.ID, err)
		}
		px := ins[0].Pixels
		if px == nil || px.Tag != 0x7FE00010 || px.Encapsulated || px.Syntax != "1.2.840.10008.1.2.1" {
			t.Fatalf("recorded pixel value %+v, want native Pixel Data in explicit VR little endian", px)
		}
		// The explicit VR element header sits right before the value:
		// tag (7FE0,0010), a VR, two reserved bytes and the length.
		if px.Offset < 12 || px.Offset+px.Length > int64(len(data)) {
			t.Fatalf("value at %d, %d bytes, in a file of %d", px.Offset, px.Length, len(data))
		}
		h := data[px.Offset-12 : px.Offset]
		if !bytes.Equal(h[:4], []byte{0xE0, 0x7F, 0x10, 0x00}) || binary.LittleEndian.Uint32(h[8:]) != uint32(px.Length) {
			t.Fatalf("bytes before the recorded value % x are not its Pixel Data element header", h)
		}
		got, err := collection.PixelValueOf(data)
		if err != nil || got == nil || *got != *px {
			t.Fatalf("PixelValueOf: %+v (%v), want the recorded %+v", got, err, px)
		}
	})
	t.Run("same_sop_instance_stored_once", func(t *testing.T) {
		res := f.ingest(t, "shard0/ct_00000.dcm")
		if !res.Duplicate {
			t.Fatal("second ingest of the same instance was not reported as a duplicate")
		}
		st := ethos.InstanceStored
		_, n, err := f.instances.FindInstances(context.Background(), ethos.InstanceFilter{ProjectID: &f.batch.Project.ID, Status: &st})
		if err != nil || n != 2 {
			t.Fatalf("%d stored instances (%v), want 2", n, err)
		}
	})
	t.Run("quarantined_unparsable", func(t *testing.T) {
		res, err := f.ing.Ingest(context.Background(), f.batch, "file:junk.dcm", strings.NewReader("this is not DICOM at all, not even a preamble"))
		if err != nil {
			t.Fatal(err)
		}
		if res.Instance.Reason != ethos.QuarantineUnparsable {
			t.Fatalf("reason %s, want %s", res.Instance.Reason, ethos.QuarantineUnparsable)
		}
	})
	t.Run("quarantined_policy_denies_role", func(t *testing.T) {
		b := *f.batch
		b.Access.Roles = nil
		fh, _ := os.Open(filepath.Join(f.canary, "shard1/ct_00001.dcm"))
		defer fh.Close()
		res, err := f.ing.Ingest(context.Background(), &b, "file:x", fh)
		if err != nil {
			t.Fatal(err)
		}
		if res.Instance.Reason != ethos.QuarantinePolicy {
			t.Fatalf("reason %s, want %s", res.Instance.Reason, ethos.QuarantinePolicy)
		}
	})
	assertNoCanary(t, f.audit.dump(t))
}

func assertNoCanary(t *testing.T, text string) {
	t.Helper()
	for _, s := range []string{"CANARY", "canary^", "Canary"} {
		if strings.Contains(text, s) {
			i := strings.Index(text, s)
			t.Fatalf("patient identifier %q leaked: …%s…", s, text[max(0, i-60):min(len(text), i+60)])
		}
	}
}

func TestWithdraw(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name  string
		erase bool
		want  ethos.InstanceStatus
	}{
		{"withdrawn_instances_unusable", false, ethos.InstanceWithdrawn},
		{"erased_instances_cannot_be_decrypted", true, ethos.InstanceErased},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := setup(t)
			var logs bytes.Buffer
			slog.SetDefault(slog.New(slog.NewTextHandler(&logs, nil)))
			stored := f.ingest(t, "shard0/ct_00000.dcm").Instance
			k := subjectOf(t, "CANARYID000001")
			if stored.Subject != k || stored.Status != ethos.InstanceStored {
				t.Fatalf("setup: %s %s", stored.Status, stored.Reason)
			}
			w := ethos.ConsentWithdrawal{At: time.Now(), RecordedBy: f.batch.Access.UserID, RequestedBy: ethos.GrantorPatient, ErasureRequested: tt.erase}
			res, err := collection.Withdraw(ctx, f.consents, f.instances, f.blobs, f.consents, f.audit, f.batch.Access, k, w, "t")
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Consents) != 1 || res.Instances != 1 {
				t.Fatalf("withdrew %v consents, %d instances; want 1 and 1", res.Consents, res.Instances)
			}
			ins, _, err := f.instances.FindInstances(ctx, ethos.InstanceFilter{Subject: &k})
			if err != nil || len(ins) != 1 || ins[0].Status != tt.want || ins[0].Status.Usable() {
				t.Fatalf("instances after withdrawal: %v (%v)", ins, err)
			}
			// A new instance of the subject is refused at once.
			again := f.ingest(t, "shard1/ct_00001.dcm").Instance
			if again.Status != ethos.InstanceQuarantined || again.Reason != ethos.QuarantineWithdrawn {
				t.Fatalf("after withdrawal: %s %s, want quarantined %s", again.Status, again.Reason, ethos.QuarantineWithdrawn)
			}
			_, err = f.blobs.Open(ctx, *stored.Blob)
			if tt.erase {
				if err == nil {
					t.Fatal("shredded blob still opens")
				}
				if _, lerr := f.consents.SubjectLink(ctx, k); lerr == nil {
					t.Error("sealed identifier link kept after erasure")
				}
				if !strings.Contains(f.audit.dump(t), "subject.dispose") {
					t.Error("no disposal record in the audit log")
				}
			} else if err != nil {
				t.Fatalf("withdrawal without erasure destroyed the data: %v", err)
			}
			assertNoCanary(t, f.audit.dump(t))
			assertNoCanary(t, logs.String())
		})
	}
}

func TestSealedLink(t *testing.T) {
	key, err := collection.LinkKey(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	id := ethos.PatientIdentifier{Issuer: testIssuer, Value: "CANARYID000001"}
	k := subjectOf(t, id.Value)
	sealed, err := collection.SealIdentifier(key, k, id)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("CANARY")) {
		t.Fatal("sealed link holds the identifier in clear")
	}
	t.Run("opens_for_its_subject", func(t *testing.T) {
		got, err := collection.OpenIdentifier(key, k, sealed)
		if err != nil || got != id {
			t.Fatalf("opened %v, %v", got.Issuer, err)
		}
	})
	t.Run("refused_for_another_subject", func(t *testing.T) {
		_, err := collection.OpenIdentifier(key, subjectOf(t, "CANARYID000002"), sealed)
		if e, ok := errors.AsType[*ethos.Error](err); !ok || e.Code != ethos.EINVALID || strings.Contains(err.Error(), "CANARY") {
			t.Fatalf("err %v", err)
		}
	})
}

// FuzzOpenIdentifier feeds arbitrary sealed links to OpenIdentifier: it
// returns an error or an identifier, never panics, and an error never
// carries the plaintext of a real link.
func FuzzOpenIdentifier(f *testing.F) {
	key, err := collection.LinkKey(bytes.Repeat([]byte{9}, 32))
	if err != nil {
		f.Fatal(err)
	}
	k, err := ethos.DeriveSubjectKey(secret, ethos.PatientIdentifier{Issuer: testIssuer, Value: "CANARYID000001"})
	if err != nil {
		f.Fatal(err)
	}
	sealed, err := collection.SealIdentifier(key, k, ethos.PatientIdentifier{Issuer: testIssuer, Value: "CANARYID000001"})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sealed)
	f.Add(sealed[:12])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		id, err := collection.OpenIdentifier(key, k, b)
		if err != nil {
			if strings.Contains(err.Error(), "CANARY") {
				t.Fatalf("error leaks the identifier: %v", err)
			}
			return
		}
		if id.Value == "" && id.Issuer == "" && bytes.Equal(b, sealed) {
			t.Fatal("the real link opened empty")
		}
	})
}

// BenchmarkIngest measures one instance through the whole path: parse,
// subject key, policy, rules, consent on two dates, encryption into the
// blob store and the SQLite record (the first iteration stores, the rest
// are duplicates that still encrypt and then find the kept copy).
func BenchmarkIngest(b *testing.B) {
	f := setupTB(b)
	data, err := os.ReadFile(filepath.Join(f.canary, "shard0/ct_00000.dcm"))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	ctx := context.Background()
	for b.Loop() {
		if _, err := f.ing.Ingest(ctx, f.batch, "file:bench", bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkQuarantine measures an instance refused for want of consent
// (no encryption, one record).
func BenchmarkQuarantine(b *testing.B) {
	f := setupTB(b)
	data, err := os.ReadFile(filepath.Join(f.canary, "shard0/ctsmall_00010.dcm"))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	ctx := context.Background()
	for b.Loop() {
		if _, err := f.ing.Ingest(ctx, f.batch, "file:bench", bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
}

func TestWithdrawEraseWithoutStoredData(t *testing.T) {
	f := setup(t)
	k := subjectOf(t, "CANARYID000003") // consent on file, nothing stored
	w := ethos.ConsentWithdrawal{At: time.Now(), RecordedBy: f.batch.Access.UserID, RequestedBy: ethos.GrantorPatient, ErasureRequested: true}
	res, err := collection.Withdraw(context.Background(), f.consents, f.instances, f.blobs, f.consents, f.audit, f.batch.Access, k, w, "t")
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Consents) != 1 || res.Shred == nil || res.Shred.KeyID != "" || res.Shred.BlobsDeleted != 0 {
		t.Fatalf("result %+v", res)
	}
	if !strings.Contains(f.audit.dump(t), "subject.dispose") {
		t.Error("no disposal record")
	}
}
