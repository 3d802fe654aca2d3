package collection

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/consent"
	"github.com/ethos-imaging/ethos/dicom"
	"github.com/ethos-imaging/ethos/dicom/tag"
)

// MaxInstanceBytes bounds one received instance; larger input is refused
// before it is read in full.
const MaxInstanceBytes = 1 << 30

// Ingester is consent-gated ingest (QC-COL-2, with data minimisation under the privacy-security principle): every received
// instance is parsed, tied to a subject key, checked against the access
// policy, the project's minimisation rules and the subject's consents on
// the acquisition date and now, and then either stored encrypted under the
// subject's data key or recorded as quarantined with a reason. Every
// decision is written to the audit log naming the subject by key only.
type Ingester struct {
	Instances ethos.InstanceService
	Consents  ethos.ConsentService
	Blobs     ethos.BlobStore
	Auditor   ethos.Auditor
	Decider   ethos.Decider
	Secret    []byte           // subject key secret (ethos.DeriveSubjectKey)
	Now       func() time.Time // default time.Now
}

// Batch is who ingests into which project.
type Batch struct {
	Project   *ethos.Project
	Rules     *ethos.CollectionRules
	Access    ethos.AccessRequest // the caller: user, party, roles, DUAs
	RequestID string
}

// Result is the outcome for one instance. Duplicate is set when the
// project already held the SOP Instance UID; Instance is then the
// existing record and nothing new was stored.
type Result struct {
	Instance  *ethos.Instance
	Duplicate bool
}

func (g *Ingester) now() time.Time {
	if g.Now != nil {
		return g.Now().UTC()
	}
	return time.Now().UTC()
}

// header is what ingest reads from a DICOM instance.
type header struct {
	sopUID   string
	id       ethos.PatientIdentifier
	modality string
	bodyPart string
	acquired time.Time
	// pixels locates the file's one top-level pixel data value (nil:
	// none, several, or a deflated data set), recorded with a stored
	// instance for processing runs (ethos.PixelValue).
	pixels *ethos.PixelValue
}

// headerBulk is the value size from which readHeader leaves a value unread
// (skipped, its length checked): none of the attributes ingest reads is
// near it.
const headerBulk = 4096

// readHeader reads the attributes ingest decides on. Every top-level
// element up to the end of the data set is read (a file broken anywhere
// is refused as unparsable), but large values (pixel data among them) are
// skipped rather than copied, and elements are carved from pooled memory.
func readHeader(data []byte) (*header, error) {
	sc := dicom.GetScratch()
	defer dicom.PutScratch(sc)
	rd, err := dicom.NewReader(bytes.NewReader(data), dicom.SkipPixelData(), dicom.WithBulkThreshold(headerBulk), dicom.WithScratch(sc))
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	h := &header{}
	var dates [4]string // acquisition, content, series, study
	pixelValues := 0
	for {
		e, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		switch e.Tag {
		case tag.PixelData, tag.FloatPixelData, tag.DoubleFloatPixelData:
			pixelValues++
			if b := e.Bulk; b != nil && b.Length >= 0 && !rd.Header.Syntax.Deflated {
				h.pixels = &ethos.PixelValue{Tag: uint32(e.Tag), Offset: b.Offset, Length: b.Length,
					Encapsulated: b.Encapsulated, Syntax: rd.Header.Syntax.UID}
			}
		case tag.SOPInstanceUID:
			h.sopUID = strings.Trim(e.Text(), " \x00")
		case tag.IssuerOfPatientID:
			h.id.Issuer = strings.Trim(e.Text(), " \x00")
		case tag.PatientID:
			h.id.Value = strings.Trim(e.Text(), " \x00")
		case tag.Modality:
			h.modality = strings.ToUpper(strings.TrimSpace(e.Text()))
		case tag.BodyPartExamined:
			h.bodyPart = strings.ToUpper(strings.TrimSpace(e.Text()))
		case tag.AcquisitionDate:
			dates[0] = e.Text()
		case tag.ContentDate:
			dates[1] = e.Text()
		case tag.SeriesDate:
			dates[2] = e.Text()
		case tag.StudyDate:
			dates[3] = e.Text()
		}
	}
	if h.sopUID == "" {
		h.sopUID = strings.Trim(rd.Header.Meta.Text(tag.MediaStorageSOPInstanceUID), " \x00")
	}
	if pixelValues != 1 {
		h.pixels = nil
	}
	for _, d := range dates {
		if t, ok := dicomDate(d); ok {
			h.acquired = t
			break
		}
	}
	return h, nil
}

// PixelValueOf locates the one top-level pixel data value of the DICOM
// file data as ingest records it with a stored instance (nil when the
// file has none, several, or a deflated data set). Tools that store
// instances without Ingest (bench/processing/prepare) record it with it.
func PixelValueOf(data []byte) (*ethos.PixelValue, error) {
	h, err := readHeader(data)
	if err != nil {
		return nil, err
	}
	return h.pixels, nil
}

// Ingest reads one instance from r and decides its fate. source names
// where it came from (a file name relative to the ingest root, or
// "stow-rs"); it must not contain patient identifiers. The error is
// non-nil only when Ethos itself failed (store, audit): a rejected
// instance is a quarantined Result, not an error.
func (g *Ingester) Ingest(ctx context.Context, b *Batch, source string, r io.Reader) (*Result, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxInstanceBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", source, err)
	}
	return g.IngestBytes(ctx, b, source, data)
}

// IngestBytes is Ingest of an instance already in memory (a file read
// whole, a STOW-RS part). data is not kept after it returns, so the
// caller may reuse the buffer.
func (g *Ingester) IngestBytes(ctx context.Context, b *Batch, source string, data []byte) (*Result, error) {
	in, err := g.decide(ctx, b, source, data, g.Blobs.Put, nil)
	if err != nil {
		return nil, err
	}
	if in.Status != ethos.InstanceStored {
		return g.quarantine(ctx, b, in)
	}
	saved, err := g.Instances.CreateInstance(ctx, in)
	release(in)
	if e, ok := errors.AsType[*ethos.Error](err); ok && e.Code == ethos.ECONFLICT && saved != nil {
		ev, err := g.duplicate(ctx, b, in, saved)
		if err != nil {
			return nil, err
		}
		if err := g.Auditor.Record(ctx, ev); err != nil {
			return nil, err
		}
		return &Result{Instance: saved, Duplicate: true}, nil
	}
	if err != nil {
		return nil, err
	}
	if err := g.Auditor.Record(ctx, g.event(b, saved, "instance.store", "allow", in.Detail)); err != nil {
		return nil, err
	}
	return &Result{Instance: saved}, nil
}

// Item is one instance of IngestBatch or Prepare: its source (as
// Ingest's) and its bytes, which are not kept after they return (a
// prepared group waiting for its Commit holds only ciphertext). Instead of
// Data an item may have Load, which is called just before the item is
// decided; the bytes Load returns need to stay valid only until the next
// item's Load or the return, so a caller can read every file of a batch
// into one reused buffer (memory of one file, not of the batch). A Load
// error ends the batch with that error.
type Item struct {
	Source string
	Data   []byte
	Load   func() ([]byte, error)
}

// DeferredBlobStore is a blob store that can write blobs without syncing
// each and make a batch of them durable at once (fileblob.Store).
type DeferredBlobStore interface {
	PutDeferred(ctx context.Context, subject ethos.SubjectKey, r io.Reader) (ethos.BlobRef, error)
	Flush(ctx context.Context) error
}

// RefFlusher is a DeferredBlobStore that flushes for one caller: it fails
// only when one of refs failed to be stored, whoever else flushes the
// store at the same time (fileblob.Store.FlushRefs). Commit prefers it to
// Flush.
type RefFlusher interface {
	FlushRefs(ctx context.Context, refs []ethos.BlobRef) error
}

// BatchInstanceService records a batch of instances in one transaction
// (sqlstore.InstanceService): kept[i] is ins[i], or the record already
// holding its SOP Instance UID.
type BatchInstanceService interface {
	CreateInstances(ctx context.Context, ins []*ethos.Instance) (kept []*ethos.Instance, err error)
}

// BatchAuditor records a batch of events in one durable append, in order.
type BatchAuditor interface {
	RecordBatch(ctx context.Context, events []ethos.AuditEvent) error
}

// IngestBatch decides the fate of every item as IngestBytes does and
// records them together (group commit): the blobs of the batch are made
// durable with one Flush when Blobs is a DeferredBlobStore, then the
// instance records are written in one transaction when Instances is a
// BatchInstanceService, then the audit events in one append when Auditor
// is a BatchAuditor; without these it falls back to one call per item.
// No result is returned, so none may be acknowledged, before all three
// steps are durable. Results keep the items' order. It is Prepare and
// Commit of one group; a Committer overlaps the commit of one group with
// the preparing of the next.
func (g *Ingester) IngestBatch(ctx context.Context, b *Batch, items []Item) ([]*Result, error) {
	p, err := g.Prepare(ctx, b, items)
	if err != nil {
		return nil, err
	}
	res, err := g.Commit(ctx, p)
	if err != nil {
		return nil, err
	}
	return res[0], nil
}

// Prepared is a group of items decided and, when admitted, sealed into
// the blob store (deferred: not yet durable), waiting for its Commit.
// Nothing of it may be acknowledged before the Commit returns.
type Prepared struct {
	Tag     int // the caller's: where the group's items start, say; the Ingester leaves it alone
	batch   *Batch
	ins     []*ethos.Instance
	settled bool // committed or discarded: its holds on its blobs are released
}

// Len is the number of items of the group.
func (p *Prepared) Len() int { return len(p.ins) }

// Prepare decides every item of a group (parse, subject key, access
// policy, minimisation rules, consent) and seals each admitted one into
// the blob store, with PutDeferred when Blobs is a DeferredBlobStore.
func (g *Ingester) Prepare(ctx context.Context, b *Batch, items []Item) (*Prepared, error) {
	put := g.Blobs.Put
	if deferred, ok := g.Blobs.(DeferredBlobStore); ok {
		put = deferred.PutDeferred
	}
	ins := make([]*ethos.Instance, len(items))
	// A subject's consents are read once per batch (the files of one
	// study tend to arrive together): every decision of the batch sees the
	// same consents, as one transaction's reads would.
	consents := map[ethos.SubjectKey][]*ethos.Consent{}
	for i, it := range items {
		data := it.Data
		if it.Load != nil {
			var err error
			if data, err = it.Load(); err != nil {
				g.discard(ctx, ins[:i])
				return nil, err
			}
		}
		in, err := g.decide(ctx, b, it.Source, data, put, consents)
		if err != nil {
			g.discard(ctx, ins[:i])
			return nil, err
		}
		ins[i] = in
	}
	return &Prepared{batch: b, ins: ins}, nil
}

// Discard gives up a prepared group that will not be committed: the
// blobs its stored instances sealed into the store are deleted, since no
// record will name them (they would stay behind as ciphertext nothing
// accounts for, until a verify or a shred). A blob is kept while another
// instance decided by this process and not yet recorded holds it, or
// while a record names it: the store keeps one blob for a subject's
// identical files. The check and the delete happen under the lock that
// an ingest takes its hold under before it puts the same file, so an
// ingest never finds in place, and records, a blob being deleted.
// Deleting is best effort (a failure leaves the blob, as before). A
// failed Commit and a failed Committer call it; a caller that drops a
// group it prepared should too.
func (g *Ingester) Discard(ctx context.Context, p *Prepared) {
	if p != nil && !p.settled {
		p.settled = true
		g.discard(ctx, p.ins)
	}
}

func (g *Ingester) discard(ctx context.Context, ins []*ethos.Instance) {
	ctx = context.WithoutCancel(ctx)
	for _, in := range ins {
		if in == nil || in.Status != ethos.InstanceStored || in.Blob == nil {
			continue
		}
		g.discardBlob(ctx, in)
	}
}

// discardBlob drops in's hold on its blob and deletes the blob when that
// was the last hold and no record names it, all under sealed's lock: an
// ingest of the same file for the same subject takes its hold under that
// lock before its put, so either the hold is seen here (and the blob
// kept) or the put comes after the delete (and stores the blob again).
// Holding the lock over a query and a delete stalls other ingests' holds
// meanwhile; discards only follow failures.
func (g *Ingester) discardBlob(ctx context.Context, in *ethos.Instance) {
	sealed.Lock()
	defer sealed.Unlock()
	if !releaseLocked(in) {
		return
	}
	d := in.Blob.Digest
	if _, n, err := g.Instances.FindInstances(ctx, ethos.InstanceFilter{BlobDigest: &d, Limit: 1}); err != nil || n > 0 {
		return
	}
	g.Blobs.Delete(ctx, *in.Blob)
}

// sealed counts, per subject and file (its SHA-256, from which the blob
// store derives the blob's address), the instances decided in this
// process whose blob is being or has been sealed in the store and whose
// record is not yet written (or whose group is not yet discarded). A
// hold is taken before the put, so that a discard deciding to delete the
// blob cannot miss an ingest that is about to find the blob in place.
var sealed = struct {
	sync.Mutex
	n map[string]int
}{n: map[string]int{}}

func sealedKey(subject ethos.SubjectKey, sum string) string { return string(subject) + "/" + sum }

// hold takes a hold on the blob of subject's file whose SHA-256 is sum
// (hex), before the file is put.
func hold(subject ethos.SubjectKey, sum string) {
	sealed.Lock()
	sealed.n[sealedKey(subject, sum)]++
	sealed.Unlock()
}

// release drops in's hold on its blob and reports whether it was the last.
func release(in *ethos.Instance) bool {
	sealed.Lock()
	defer sealed.Unlock()
	return releaseLocked(in)
}

func releaseLocked(in *ethos.Instance) bool {
	k := sealedKey(in.Subject, in.SHA256)
	n := sealed.n[k] - 1
	if n > 0 {
		sealed.n[k] = n
		return false
	}
	delete(sealed.n, k)
	return true
}

// Commit makes prepared groups durable together and returns each group's
// results (in the groups' and their items' order): one Flush of the blob
// store for all of them, then their instance records in one transaction,
// then their audit events in one append (each step falling back to one
// call per item as IngestBatch says). Whatever Commit returns, nothing of
// the groups is acknowledged before all three steps are durable.
func (g *Ingester) Commit(ctx context.Context, groups ...*Prepared) (_ [][]*Result, err error) {
	var ins []*ethos.Instance
	for _, p := range groups {
		ins = append(ins, p.ins...)
	}
	// The groups' holds on their blobs end here. When Commit fails, the
	// groups are discarded: a blob no record names (the flush or the
	// records failed) is deleted; one a record names (the audit append
	// failed) is kept.
	defer func() {
		for _, p := range groups {
			if p.settled {
				continue
			}
			if err != nil {
				g.Discard(ctx, p)
				continue
			}
			p.settled = true
			for _, in := range p.ins {
				if in.Status == ethos.InstanceStored && in.Blob != nil {
					release(in)
				}
			}
		}
	}()
	if rf, ok := g.Blobs.(RefFlusher); ok {
		var refs []ethos.BlobRef
		for _, in := range ins {
			if in.Blob != nil {
				refs = append(refs, *in.Blob)
			}
		}
		if err := rf.FlushRefs(ctx, refs); err != nil {
			return nil, err
		}
	} else if deferred, ok := g.Blobs.(DeferredBlobStore); ok {
		if err := deferred.Flush(ctx); err != nil {
			return nil, err
		}
	}
	var kept []*ethos.Instance
	if bi, ok := g.Instances.(BatchInstanceService); ok {
		var err error
		if kept, err = bi.CreateInstances(ctx, ins); err != nil {
			return nil, err
		}
	} else {
		kept = make([]*ethos.Instance, len(ins))
		for i, in := range ins {
			saved, err := g.Instances.CreateInstance(ctx, in)
			if err != nil && (ethos.ErrorCode(err) != ethos.ECONFLICT || saved == nil) {
				return nil, err
			}
			kept[i] = saved
		}
	}
	out := make([][]*Result, len(groups))
	events := make([]ethos.AuditEvent, 0, len(ins))
	i := 0
	for k, p := range groups {
		out[k] = make([]*Result, len(p.ins))
		b := p.batch
		for j, in := range p.ins {
			saved := kept[i]
			i++
			r := &Result{Instance: saved}
			var ev ethos.AuditEvent
			switch {
			case saved != in:
				var err error
				if ev, err = g.duplicate(ctx, b, in, saved); err != nil {
					return nil, err
				}
				r.Duplicate = true
			case in.Status == ethos.InstanceStored:
				ev = g.event(b, in, "instance.store", "allow", in.Detail)
			default:
				ev = g.event(b, in, "instance.quarantine", "deny", string(in.Reason)+": "+in.Detail)
			}
			out[k][j] = r
			events = append(events, ev)
		}
	}
	if ba, ok := g.Auditor.(BatchAuditor); ok {
		if err := ba.RecordBatch(ctx, events); err != nil {
			return nil, err
		}
	} else {
		for _, ev := range events {
			if err := g.Auditor.Record(ctx, ev); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// Committer commits prepared groups in the background, so that workers
// prepare the next groups (reading, parsing, hashing, encrypting: CPU)
// while earlier ones are made durable (blob sync, database commit, audit
// append: mostly waiting on the disk). Groups that are ready together are
// committed together, in one Commit: the slower the disk, the larger the
// commits and the fewer the syncs. Results are delivered only after their
// group's Commit returned, so nothing is acknowledged before it is
// durable.
type Committer struct {
	g       *Ingester
	deliver func(*Prepared, []*Result) error
	queue   chan *Prepared
	done    chan struct{}
	ctx     context.Context
	cancel  context.CancelCauseFunc
}

// maxCommitGroups bounds the groups one Commit of a Committer takes.
const maxCommitGroups = 8

// NewCommitter starts a committer of g's prepared groups. deliver is
// called, from one goroutine, with each group and its results once they
// are durable. queue is the number of prepared groups that may wait for
// their commit before Submit blocks (at least 1).
func (g *Ingester) NewCommitter(ctx context.Context, queue int, deliver func(*Prepared, []*Result) error) *Committer {
	ctx, cancel := context.WithCancelCause(ctx)
	c := &Committer{g: g, deliver: deliver, queue: make(chan *Prepared, max(queue, 1)), done: make(chan struct{}), ctx: ctx, cancel: cancel}
	go c.run()
	return c
}

func (c *Committer) run() {
	defer close(c.done)
	for p := range c.queue {
		groups := []*Prepared{p}
	more:
		for len(groups) < maxCommitGroups {
			select {
			case q, ok := <-c.queue:
				if !ok {
					break more
				}
				groups = append(groups, q)
			default:
				break more
			}
		}
		if c.ctx.Err() != nil {
			// Failed: drain what was submitted, commit nothing, and
			// take back the blobs those groups sealed.
			for _, g := range groups {
				c.g.Discard(c.ctx, g)
			}
			continue
		}
		// A commit once begun is not cut short by a cancellation (a
		// worker's failure, a client gone): cut between the instance
		// transaction and the audit append it would leave records that no
		// audit event accounts for. No further commit starts after one.
		res, err := c.g.Commit(context.WithoutCancel(c.ctx), groups...)
		for i := 0; err == nil && i < len(groups); i++ {
			err = c.deliver(groups[i], res[i])
		}
		if err != nil {
			c.cancel(err)
		}
	}
}

// Submit queues a prepared group for commit, waiting while the queue is
// full. It fails once a commit has failed (or ctx is done), with that
// error; the group is then not committed, and its blobs are discarded
// (Discard).
func (c *Committer) Submit(ctx context.Context, p *Prepared) error {
	if err := c.Err(); err != nil {
		c.g.Discard(ctx, p)
		return err
	}
	select {
	case c.queue <- p:
		return nil
	case <-c.ctx.Done():
		c.g.Discard(ctx, p)
		return context.Cause(c.ctx)
	case <-ctx.Done():
		c.g.Discard(ctx, p)
		return context.Cause(ctx)
	}
}

// Err is the error that stopped the committer, if any.
func (c *Committer) Err() error {
	if c.ctx.Err() != nil {
		return context.Cause(c.ctx)
	}
	return nil
}

// Close waits until every submitted group is committed and delivered (or
// the committer failed) and returns the first failure. Submit must not be
// called during or after Close.
func (c *Committer) Close() error {
	close(c.queue)
	<-c.done
	err := c.Err()
	c.cancel(nil)
	return err
}

// duplicate handles an instance whose SOP Instance UID the project already
// keeps as saved: a blob of other bytes is deleted (the first copy is
// kept), and the audit event is returned.
func (g *Ingester) duplicate(ctx context.Context, b *Batch, in, saved *ethos.Instance) (ethos.AuditEvent, error) {
	if in.Blob != nil && (saved.Blob == nil || saved.Blob.Digest != in.Blob.Digest) {
		if err := g.Blobs.Delete(ctx, *in.Blob); err != nil {
			return ethos.AuditEvent{}, err
		}
	}
	return g.event(b, saved, "instance.duplicate", "allow", "SOP Instance UID already stored as "+saved.ID), nil
}

// decide parses data and runs every check. It returns the instance to
// record: stored, with its blob written by put, or quarantined with a
// reason. The error is non-nil only when Ethos itself failed. cache, when
// not nil, keeps the consents read per subject for the next decisions.
func (g *Ingester) decide(ctx context.Context, b *Batch, source string, data []byte,
	put func(context.Context, ethos.SubjectKey, io.Reader) (ethos.BlobRef, error),
	cache map[ethos.SubjectKey][]*ethos.Consent) (*ethos.Instance, error) {
	in := &ethos.Instance{ProjectID: b.Project.ID, Source: source, ReceivedAt: g.now(), ReceivedBy: b.Access.UserID, Status: ethos.InstanceQuarantined}
	if len(data) > MaxInstanceBytes {
		return quarantined(in, ethos.QuarantineUnparsable, fmt.Sprintf("larger than %d bytes", MaxInstanceBytes), "")
	}
	h, err := readHeader(data)
	if err != nil {
		// The codec's errors name tags and offsets, never values.
		return quarantined(in, ethos.QuarantineUnparsable, ethos.ErrorMessage(err), "")
	}
	in.SOPInstanceUID, in.Modality, in.BodyPart, in.Acquired = h.sopUID, h.modality, h.bodyPart, h.acquired
	if h.id.Issuer == "" {
		h.id.Issuer = b.Rules.Issuer
	}
	if h.id.Value == "" || h.id.Issuer == "" {
		return quarantined(in, ethos.QuarantineNoIdentity, "no Patient ID, or no Issuer of Patient ID and no default issuer in the collection rules", "")
	}
	if in.Subject, err = ethos.DeriveSubjectKey(g.Secret, h.id); err != nil {
		return nil, err
	}
	if in.SOPInstanceUID == "" {
		return quarantined(in, ethos.QuarantineMissingUID, "no SOP Instance UID", "")
	}
	// Access policy: the caller must be allowed to write at the collection
	// stage for the project's purpose.
	req := b.Access
	req.ProjectID, req.ProjectPartyID = b.Project.ID, b.Project.PartyID
	req.Stage, req.Action, req.Purpose, req.Now = ethos.StageCollection, ethos.ActionWrite, b.Rules.Purpose, in.ReceivedAt
	if d := g.Decider.Decide(&req); !d.Allow {
		return quarantined(in, ethos.QuarantinePolicy, "rule "+d.Rule+": "+d.Reason, "")
	}
	if why := outsideRules(b.Rules, h); why != "" {
		return quarantined(in, ethos.QuarantineMinimisation, why, "")
	}
	if in.Acquired.IsZero() {
		return quarantined(in, ethos.QuarantineNoDate, "no acquisition, content, series or study date to check consent on", "")
	}
	cs, ok := cache[in.Subject]
	if !ok {
		if cs, _, err = g.Consents.FindConsents(ctx, ethos.ConsentFilter{SubjectID: &in.Subject, Limit: 1000}); err != nil {
			return nil, err
		}
		if cache != nil {
			cache[in.Subject] = cs
		}
	}
	q := consent.Query{Subject: in.Subject, Purpose: b.Rules.Purpose, Party: b.Project.PartyID, Modality: h.modality,
		BodyPart: h.bodyPart, Action: ethos.ActionCollect, Now: in.ReceivedAt}
	cov, err := consent.DecideAcquiredAndNow(cs, q, in.Acquired)
	if err != nil {
		return nil, err
	}
	d := cov.Decision()
	if !d.Permitted() {
		return quarantined(in, ethos.QuarantineReasonFor(d.Reason), d.Detail, d.ConsentID)
	}
	in.ConsentID = d.ConsentID
	// The file's SHA-256 is taken here, once: the blob store derives the
	// blob's address from it (fileblob.KnownDigest) instead of hashing
	// the file itself, and the record keeps it, so a processing run need
	// not hash its input again (docs/processing.md).
	sum := sha256.Sum256(data)
	in.SHA256 = hex.EncodeToString(sum[:])
	hold(in.Subject, in.SHA256) // before the put (discardBlob); until its record is written, or its group discarded
	ref, err := put(ctx, in.Subject, ethos.NewBlobBytes(data, sum[:]))
	if err != nil {
		release(in)
		return nil, err
	}
	in.Blob, in.Status, in.Pixels = &ref, ethos.InstanceStored, h.pixels
	in.Detail = "consent " + d.ConsentID + " permits " + string(b.Rules.Purpose) + " on the acquisition date and now"
	return in, nil
}

func quarantined(in *ethos.Instance, reason ethos.QuarantineReason, detail, consentID string) (*ethos.Instance, error) {
	in.Status, in.Reason, in.Detail, in.ConsentID = ethos.InstanceQuarantined, reason, detail, consentID
	return in, nil
}

func outsideRules(r *ethos.CollectionRules, h *header) string {
	if len(r.Modalities) > 0 && !slices.Contains(r.Modalities, h.modality) {
		return fmt.Sprintf("the file's modality is not among the project's modalities %v", r.Modalities)
	}
	if len(r.BodyParts) > 0 && !slices.Contains(r.BodyParts, h.bodyPart) {
		return fmt.Sprintf("the file's body part is not among the project's %d body parts", len(r.BodyParts))
	}
	if !r.Acquired.IsZero() {
		if h.acquired.IsZero() {
			return "no acquisition date to check against the project's acquisition window"
		}
		// Dates are days: the window's end day counts whole.
		end := r.Acquired.End
		if !end.IsZero() {
			end = end.Truncate(24 * time.Hour).Add(24*time.Hour - time.Nanosecond)
		}
		if !(ethos.Period{Start: r.Acquired.Start, End: end}).Covers(h.acquired) {
			return "acquisition date " + h.acquired.Format("2006-01-02") + " is outside the project's acquisition window"
		}
	}
	return ""
}

func (g *Ingester) quarantine(ctx context.Context, b *Batch, in *ethos.Instance) (*Result, error) {
	saved, err := g.Instances.CreateInstance(ctx, in)
	if err != nil {
		return nil, err
	}
	if err := g.Auditor.Record(ctx, g.event(b, saved, "instance.quarantine", "deny", string(in.Reason)+": "+in.Detail)); err != nil {
		return nil, err
	}
	return &Result{Instance: saved}, nil
}

func (g *Ingester) event(b *Batch, in *ethos.Instance, action, decision, reason string) ethos.AuditEvent {
	subject := "-"
	if in.Subject != "" {
		subject = in.Subject.String()
	}
	return ethos.AuditEvent{
		Time: in.ReceivedAt, Actor: b.Access.UserID, Party: b.Access.PartyID, Action: action,
		Resource: "project/" + b.Project.ID + "/instance/" + in.ID, Stage: ethos.StageCollection, Purpose: b.Rules.Purpose,
		Decision: decision, Reason: "subject " + subject + "; " + reason, RequestID: b.RequestID,
	}
}

// LinkKey derives the key that seals patient identifiers for linkage from
// the blob store's master key bytes (HKDF-SHA-256 with its own label), so
// the two uses of the master key never share a key.
func LinkKey(master []byte) ([]byte, error) {
	return hkdf.Key(sha256.New, master, nil, "ethos subject link v1", 32)
}

// SealIdentifier encrypts id with AES-256-GCM under key; the subject key
// is the additional data, so the sealed link opens only for its subject.
func SealIdentifier(key []byte, subject ethos.SubjectKey, id ethos.PatientIdentifier) ([]byte, error) {
	aead, err := linkAEAD(key)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize())
	rand.Read(nonce)
	plain := make([]byte, 0, 4+len(id.Issuer)+len(id.Value))
	plain = fmt.Appendf(plain, "%d:", len(id.Issuer))
	plain = append(plain, id.Issuer...)
	plain = append(plain, id.Value...)
	return aead.Seal(nonce, nonce, plain, []byte(subject)), nil
}

// OpenIdentifier decrypts a sealed link.
func OpenIdentifier(key []byte, subject ethos.SubjectKey, sealed []byte) (ethos.PatientIdentifier, error) {
	aead, err := linkAEAD(key)
	if err != nil {
		return ethos.PatientIdentifier{}, err
	}
	if len(sealed) < aead.NonceSize() {
		return ethos.PatientIdentifier{}, ethos.Errorf(ethos.EINVALID, "sealed link of subject %s is too short", subject.Short())
	}
	plain, err := aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], []byte(subject))
	if err != nil {
		return ethos.PatientIdentifier{}, ethos.Errorf(ethos.EINVALID, "sealed link of subject %s does not open with this key", subject.Short())
	}
	var n int
	i := bytes.IndexByte(plain, ':')
	if i < 0 {
		return ethos.PatientIdentifier{}, ethos.Errorf(ethos.EINVALID, "sealed link of subject %s is malformed", subject.Short())
	}
	if _, err := fmt.Sscanf(string(plain[:i]), "%d", &n); err != nil || n < 0 || i+1+n > len(plain) {
		return ethos.PatientIdentifier{}, ethos.Errorf(ethos.EINVALID, "sealed link of subject %s is malformed", subject.Short())
	}
	rest := plain[i+1:]
	return ethos.PatientIdentifier{Issuer: string(rest[:n]), Value: string(rest[n:])}, nil
}

func linkAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != 32 {
		return nil, ethos.Errorf(ethos.EINVALID, "link key is %d bytes, want 32", len(key))
	}
	blk, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(blk)
}

// Service offers an Ingester as ethos.InstanceIngester: it looks up the
// project, its collection rules and the caller's agreements for it.
type Service struct {
	Ingester *Ingester
	Projects ethos.ProjectService
	DUAs     ethos.DUAService
	Workers  int // instances in flight per call; 0 means 2
}

var _ ethos.InstanceIngester = (*Service)(nil)

// IngestInstances ingests items into project projectID with up to
// Workers (default 2) batches in flight; outcomes keep the items' order.
func (s *Service) IngestInstances(ctx context.Context, projectID string, who ethos.AccessRequest, requestID string, items []ethos.IngestItem) ([]ethos.IngestOutcome, error) {
	p, err := s.Projects.FindProjectByID(ctx, projectID)
	if err != nil {
		return nil, err
	}
	rules, err := s.Ingester.Instances.CollectionRules(ctx, p.ID)
	if err != nil {
		if e, ok := errors.AsType[*ethos.Error](err); ok && e.Code == ethos.ENOTFOUND {
			return nil, ethos.Errorf(ethos.ECONFLICT, "project %s has no collection rules yet; set them before ingesting", p.ID)
		}
		return nil, err
	}
	if s.DUAs != nil && who.PartyID != "" {
		if who.DUAs, _, err = s.DUAs.FindDUAs(ctx, ethos.DUAFilter{PartyID: &who.PartyID, ProjectID: &p.ID, Limit: 1000}); err != nil {
			return nil, err
		}
	}
	b := &Batch{Project: p, Rules: rules, Access: who, RequestID: requestID}
	out := make([]ethos.IngestOutcome, len(items))
	n := s.Workers
	if n <= 0 {
		n = 2
	}
	// Group commit: each worker decides and seals a chunk of the items,
	// and a committer makes the chunks durable (one blob sync, one
	// transaction, one audit append for whatever is ready) while the
	// workers go on.
	chunk := max(1, min(BatchSize, (len(items)+n-1)/n))
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	com := s.Ingester.NewCommitter(ctx, n, func(p *Prepared, res []*Result) error {
		for j, r := range res {
			out[p.Tag+j] = ethos.IngestOutcome{Instance: r.Instance, Duplicate: r.Duplicate}
		}
		return nil
	})
	next := make(chan int)
	go func() {
		defer close(next)
		for i := 0; i < len(items); i += chunk {
			select {
			case next <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	var wg sync.WaitGroup
	for range min(n, len(items)) {
		wg.Go(func() {
			for i := range next {
				part := items[i:min(i+chunk, len(items))]
				batch := make([]Item, len(part))
				for j, it := range part {
					batch[j] = Item{Source: it.Source, Data: it.Data}
				}
				p, err := s.Ingester.Prepare(ctx, b, batch)
				if err == nil {
					p.Tag = i
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
		return nil, err
	}
	if ctx.Err() != nil {
		return nil, context.Cause(ctx)
	}
	return out, nil
}

// BatchSize is the number of instances a Service prepares as one group
// (a Committer may commit several groups together).
const BatchSize = 32
