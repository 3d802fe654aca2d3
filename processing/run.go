package processing

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/deid"
	"github.com/ethos-imaging/ethos/dicom/tag"
)

// Processor runs de-identification over a project's stored instances into
// the processing stage and records each run (QC-PRO-1, QC-PRO-2).
type Processor struct {
	Instances ethos.InstanceService
	Runs      ethos.ProcessingService
	Blobs     ethos.BlobStore
	Lineage   ethos.LineageRecorder
	Auditor   ethos.Auditor
	Decider   ethos.Decider
	// Software names the de-identifier in records ("ethos <version>").
	Software string
	// TempDir is where plaintext inputs and outputs of instances larger
	// than MaxInMemory are staged while the engine works (a private
	// directory is made below it and removed); "" selects os.TempDir().
	TempDir string
	// MaxInMemory is the largest instance (plaintext bytes) de-identified
	// in memory, without staging files: 0 selects 32 MiB, a negative
	// value stages every instance. Each worker holds at most one input
	// and its output.
	MaxInMemory int64
	Now         func() time.Time // default time.Now
	// Workers de-identify in parallel (default twice the CPUs).
	Workers int

	// wrapEngine, when set (tests only: export_test.go), wraps the
	// engine of a run, e.g. to corrupt its outputs.
	wrapEngine func(deidentifier) deidentifier
	// hashInputs (tests only) has the engine hash every input held in
	// memory, as it does those without a digest recorded at ingest.
	hashInputs bool
}

// deidentifier is what a run asks of the de-identification engine
// (*deid.Engine).
type deidentifier interface {
	ProcessBytesDigest(ctx context.Context, data []byte, out io.Writer) (deid.FileResult, error)
	ProcessBytes(ctx context.Context, data []byte, out io.Writer) (deid.FileResult, error)
	ProcessFileDigest(ctx context.Context, in, out *os.File) (deid.FileResult, error)
}

// Request is one processing run.
type Request struct {
	Project   *ethos.Project
	Purpose   ethos.Purpose       // the project's declared purpose (its collection rules)
	Access    ethos.AccessRequest // the caller: user, party, roles, DUAs
	Config    *deid.Config
	Keys      *deid.Keys
	Profile   string // profile name for the record ("basic" when none)
	Bias      BiasOptions
	RequestID string
	// RunID is the id the record gets ("": a new one).
	RunID string
	// Progress, if set, is called after each instance is de-identified
	// and verified, with the number done so far and the total (from
	// several goroutines: it must be safe for concurrent use).
	Progress func(done, total int)
}

func (p *Processor) now() time.Time {
	if p.Now != nil {
		return p.Now().UTC()
	}
	return time.Now().UTC()
}

// retained are the patient characteristics a dataset manifest may carry:
// what Retain Patient Characteristics keeps, read from the output.
var retained = []struct {
	name string
	tag  tag.Tag
}{
	{"sex", tag.PatientSex},
	{"age", tag.PatientAge},
	{"size", tag.PatientSize},
	{"weight", tag.PatientWeight},
	{"ethnic_group", tag.EthnicGroup},
	{"smoking_status", tag.SmokingStatus},
}

// Run de-identifies every stored instance of the project and records the
// run. The access policy must allow a write at the processing stage. Pixel
// data is verified byte-identical to the input's for every output unless
// Clean Pixel Data changed it (pixels.go); a mismatch fails the run
// before any lineage or record is written. Outputs are stored in the blob
// store under the same subject's data key as their input, so erasing a
// subject's key reaches derived data too.
func (p *Processor) Run(ctx context.Context, req *Request) (*ethos.ProcessingRun, error) {
	if req.Project == nil || req.Config == nil || req.Keys == nil {
		return nil, ethos.Errorf(ethos.EINVALID, "processing run: project, configuration and key are required")
	}
	if err := req.Bias.validate(); err != nil {
		return nil, err
	}
	started := p.now()
	ar := req.Access
	ar.ProjectID, ar.ProjectPartyID = req.Project.ID, req.Project.PartyID
	ar.Stage, ar.Action, ar.Purpose, ar.Now = ethos.StageProcessing, ethos.ActionWrite, req.Purpose, started
	d := p.Decider.Decide(&ar)
	if !d.Allow {
		if err := p.audit(ctx, req, "processing.run", "project/"+req.Project.ID, "deny", "rule "+d.Rule+": "+d.Reason); err != nil {
			return nil, err
		}
		return nil, d.Err()
	}
	ins, err := p.storedInstances(ctx, req.Project.ID)
	if err != nil {
		return nil, err
	}
	if len(ins) == 0 {
		return nil, ethos.Errorf(ethos.EINVALID, "processing run: project %s has no stored instances", req.Project.ID)
	}
	dir, err := os.MkdirTemp(p.TempDir, "ethos-processing-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)

	de := deid.NewEngine(req.Config, req.Keys)
	de.Software = p.Software
	var engine deidentifier = de
	if p.wrapEngine != nil {
		engine = p.wrapEngine(engine)
	}
	bufs := &runBuffers{}
	run := &ethos.ProcessingRun{
		ID: cmp.Or(req.RunID, ethos.NewID("prc")), ProjectID: req.Project.ID, StartedBy: req.Access.UserID, StartedAt: started,
		Software: p.Software, KeyFingerprint: req.Keys.Fingerprint(),
		Profile: ethos.ProcessingProfile{Standard: "DICOM PS3.15 Annex E", Name: cmp.Or(req.Profile, "basic"),
			Options: optionNames(req.Config.Options), Hash: req.Config.Hash()},
		Actions: map[string]int{}, TagActions: map[string]map[string]int{},
	}
	// De-identify and verify in parallel (the engine is safe for
	// concurrent use); results keep the input order.
	type result struct {
		it     *ethos.ProcessingItem
		counts map[string]map[string]int
		err    error
	}
	results := make([]result, len(ins))
	workers := p.Workers
	if workers <= 0 {
		workers = 2 * runtime.NumCPU()
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	next := make(chan int)
	var wg sync.WaitGroup
	var done atomic.Int64
	for range min(workers, len(ins)) {
		wg.Go(func() {
			for i := range next {
				r := &results[i]
				r.it, r.counts, r.err = p.one(wctx, engine, dir, bufs, i, ins[i])
				if r.err != nil {
					cancel()
				} else if req.Progress != nil {
					req.Progress(int(done.Add(1)), len(ins))
				}
			}
		})
	}
	// Instances go to the workers smallest first (results keep the input
	// order): the input buffers kept for the run (runBuffers) then only
	// grow from one instance to the next, so their pages are allocated
	// and faulted in a few times a run instead of for every instance.
	order := make([]int, len(ins))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(blobSize(ins[a]), blobSize(ins[b])) })
feed:
	for _, i := range order {
		select {
		case next <- i:
		case <-wctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for i, r := range results {
		if r.err == nil && r.it == nil {
			continue // not reached after another instance failed
		}
		if r.err != nil {
			if errors.Is(r.err, context.Canceled) {
				continue
			}
			if pe, ok := errors.AsType[*PixelError](r.err); ok {
				if aerr := p.audit(ctx, req, "processing.run", "project/"+req.Project.ID, "", "failed: pixel integrity check on instance "+pe.InstanceID); aerr != nil {
					return nil, errors.Join(r.err, aerr)
				}
				return nil, fmt.Errorf("processing run failed, nothing recorded: %w", r.err)
			}
			return nil, fmt.Errorf("processing instance %s: %w", ins[i].ID, r.err)
		}
	}
	for _, r := range results {
		if r.it == nil {
			return nil, fmt.Errorf("processing run interrupted")
		}
		run.Items = append(run.Items, *r.it)
		addCounts(run, r.counts)
	}
	// Every instance verified: lineage, then the record.
	for i := range run.Items {
		it := &run.Items[i]
		run.Inputs++
		if it.Status == ethos.ItemWritten {
			run.Written++
		} else {
			run.Quarantined++
		}
	}
	// Outputs stored without their own syncs become durable here, before
	// the lineage and the record name them.
	if err := p.flushOutputs(ctx, run.Items); err != nil {
		return nil, fmt.Errorf("processing run: make outputs durable: %w", err)
	}
	run.Bias = Bias(run.Items, req.Bias)
	run.FinishedAt = p.now()
	if err := run.Validate(); err != nil {
		return nil, err
	}
	if p.Lineage != nil {
		if err := p.Lineage.RecordLineage(ctx, Edges(run)...); err != nil {
			return nil, fmt.Errorf("record lineage of %s: %w", run.ID, err)
		}
	}
	if err := p.Runs.CreateProcessingRun(ctx, run); err != nil {
		return nil, err
	}
	reason := fmt.Sprintf("profile %s options [%s] hash %.12s key %s: %d inputs, %d written, %d quarantined; %d groups flagged",
		run.Profile.Name, strings.Join(run.Profile.Options, ","), run.Profile.Hash, run.KeyFingerprint, run.Inputs, run.Written, run.Quarantined, run.Bias.Flagged)
	if err := p.audit(ctx, req, "processing.run", "processing-run/"+run.ID, "allow", reason); err != nil {
		return nil, err
	}
	return run, nil
}

// addCounts folds one instance's per-tag action counts into the run.
func addCounts(run *ethos.ProcessingRun, counts map[string]map[string]int) {
	for t, m := range counts {
		tm := run.TagActions[t]
		if tm == nil {
			tm = map[string]int{}
			run.TagActions[t] = tm
		}
		for a, n := range m {
			tm[a] += n
			run.Actions[a] += n
		}
	}
}

func optionNames(o deid.Options) []string {
	names := []string{}
	for _, x := range o.List() {
		names = append(names, x.String())
	}
	return names
}

// storedInstances lists the project's usable instances, in id order.
func (p *Processor) storedInstances(ctx context.Context, project string) ([]*ethos.Instance, error) {
	st := ethos.InstanceStored
	var all []*ethos.Instance
	for {
		page, n, err := p.Instances.FindInstances(ctx, ethos.InstanceFilter{ProjectID: &project, Status: &st, Offset: len(all), Limit: 1000})
		if err != nil {
			return nil, err
		}
		all = append(all, page...)
		if len(page) == 0 || len(all) >= n {
			break
		}
	}
	slices.SortFunc(all, func(a, b *ethos.Instance) int { return strings.Compare(a.ID, b.ID) })
	return all, nil
}

// blobSize is the stored size of an instance (0 without a blob; one
// then fails the run).
func blobSize(in *ethos.Instance) int64 {
	if in.Blob == nil {
		return 0
	}
	return in.Blob.Size
}

// defaultMaxInMemory is the largest instance (plaintext bytes) that a run
// de-identifies in memory when Processor.MaxInMemory is 0.
const defaultMaxInMemory = 32 << 20

// inMemory reports whether an instance of size bytes is de-identified in
// memory rather than staged in files.
func (p *Processor) inMemory(size int64) bool {
	return size >= 0 && size <= p.maxInMemory()
}

// maxInMemory is MaxInMemory with its default.
func (p *Processor) maxInMemory() int64 {
	if p.MaxInMemory == 0 {
		return defaultMaxInMemory
	}
	return p.MaxInMemory
}

// one de-identifies one instance, verifies the output and stores it. It
// returns the item and the engine's action counts. Instances up to
// MaxInMemory bytes go from the blob store through the engine back into
// the store in memory; larger ones are staged in dir.
func (p *Processor) one(ctx context.Context, e deidentifier, dir string, bufs *runBuffers, i int, in *ethos.Instance) (it *ethos.ProcessingItem, counts map[string]map[string]int, err error) {
	if in.Blob == nil {
		return nil, nil, fmt.Errorf("stored instance without a blob")
	}
	if p.inMemory(in.Blob.Size) {
		return p.oneInMemory(ctx, e, bufs, in)
	}
	return p.oneStaged(ctx, e, dir, i, in)
}

// newItem is the record item of in before it is de-identified.
func newItem(in *ethos.Instance) *ethos.ProcessingItem {
	return &ethos.ProcessingItem{InstanceID: in.ID, Subject: in.Subject, Modality: in.Modality, BodyPart: in.BodyPart}
}

// withheld fills it from the engine's result for an instance the engine
// did not refuse. It reports whether the engine withheld the instance
// (quarantined or skipped: it is then complete); otherwise it is a
// written item, to be checked and stored.
func withheld(it *ethos.ProcessingItem, res *deid.FileResult) bool {
	it.InputSHA256, it.Group = res.InputSHA256, res.Group
	if res.Skip || res.Quarantine {
		it.Status, it.Reasons = ethos.ItemQuarantined, slices.Clone(res.Reasons)
		if len(it.Reasons) == 0 {
			it.Reasons = []string{"skipped by the engine"}
		}
		return true
	}
	it.Status, it.OutputSHA256, it.OutputName = ethos.ItemWritten, res.OutputSHA256, res.Name
	_, it.PixelCleaned = res.Counts["(7FE0,0010)"]
	return false
}

// oneInMemory is one for an instance held in memory: the decrypted input
// is read into a buffer of its recorded size (bufs), the engine writes
// the output as pieces that share the input's unchanged large values
// (pieces.go), and the output is hashed, checked against the input and
// encrypted from those pieces. When the input's SHA-256 is known (inSum,
// recorded at ingest and shown by the blob store to be the one its blob
// is addressed by) the engine works through the entry point that hashes
// nothing (deid.Engine.ProcessBytes), and the output is hashed here,
// once; otherwise the engine hashes both (ProcessBytesDigest).
func (p *Processor) oneInMemory(ctx context.Context, e deidentifier, bufs *runBuffers, in *ethos.Instance) (it *ethos.ProcessingItem, counts map[string]map[string]int, err error) {
	inSum, err := p.inputDigest(ctx, in)
	if err != nil {
		return nil, nil, err
	}
	inBuf := bufs.get(int(in.Blob.Size))
	defer bufs.put(inBuf)
	data := *inBuf
	if err := p.readBlob(ctx, *in.Blob, data); err != nil {
		return nil, nil, err
	}
	it = newItem(in)
	w := newPiecesWriter(data)
	defer w.release()
	var res deid.FileResult
	if inSum != nil && !p.hashInputs {
		res, err = e.ProcessBytes(ctx, data, w)
		res.InputSHA256 = hex.EncodeToString(inSum)
	} else {
		res, err = e.ProcessBytesDigest(ctx, data, w)
	}
	if err != nil {
		return refused(ctx, it, res.InputSHA256, err)
	}
	if withheld(it, &res) {
		return it, nil, nil
	}
	out := w.output()
	if out.sha = p.outputSum(res.OutputSHA256); out.sha == nil {
		out.sum()
	}
	it.OutputSHA256 = hex.EncodeToString(out.sha)
	if err := verifyOutput(it, newMemFile(data), out, in.Pixels); err != nil {
		return nil, nil, err
	}
	// Stored under the input's subject key (see oneStaged on outputs
	// stored before a run fails), from the start of the pieces, which
	// the header read above moved through.
	if _, err := out.Seek(0, io.SeekStart); err != nil {
		return nil, nil, err
	}
	ref, err := p.putBlob(ctx, it.Subject, out)
	if err != nil {
		return nil, nil, fmt.Errorf("store output: %w", err)
	}
	it.Output = &ref
	return it, res.Counts, nil
}

// refused is the item of an instance the engine refused (malformed beyond
// repair): quarantined with the engine's reason, which names tags and
// offsets only; or the context's error when the run was cut.
func refused(ctx context.Context, it *ethos.ProcessingItem, inSum string, err error) (*ethos.ProcessingItem, map[string]map[string]int, error) {
	if ctx.Err() != nil {
		return nil, nil, ctx.Err()
	}
	it.Status, it.InputSHA256, it.Reasons = ethos.ItemQuarantined, inSum, []string{"engine: " + err.Error()}
	return it, nil, nil
}

// addressedBy is a blob store that can show that a plaintext digest is the
// one a blob is addressed by (fileblob.Store.AddressedBy).
type addressedBy interface {
	AddressedBy(ctx context.Context, ref ethos.BlobRef, sum []byte) (bool, error)
}

// inputDigest is the SHA-256 of an instance's stored file as ingest
// recorded it, when the blob store shows that the blob's address was
// derived from it: then reading the blob without an authentication error
// reads exactly the bytes of that digest, and the run records it instead
// of hashing the input again. It is nil for an instance stored before the
// digest was recorded, or in a store that cannot show it (the engine then
// hashes the input). A recorded digest the address refutes fails the
// instance: the record and the store disagree about the file.
func (p *Processor) inputDigest(ctx context.Context, in *ethos.Instance) ([]byte, error) {
	ab, ok := p.Blobs.(addressedBy)
	if in.SHA256 == "" || !ok {
		return nil, nil
	}
	sum, err := hex.DecodeString(in.SHA256)
	if err == nil && len(sum) == sha256.Size {
		var match bool
		if match, err = ab.AddressedBy(ctx, *in.Blob, sum); err != nil {
			return nil, err
		}
		if match {
			return sum, nil
		}
	}
	return nil, fmt.Errorf("the SHA-256 recorded at ingest is not the one the stored blob %s is addressed by", in.Blob)
}

// readBlob reads a stored blob whole into dst, which has the blob's
// recorded size; a blob shorter or longer than its reference says is an
// error.
func (p *Processor) readBlob(ctx context.Context, ref ethos.BlobRef, dst []byte) error {
	rc, err := p.Blobs.Open(ctx, ref)
	if err != nil {
		return err
	}
	defer rc.Close()
	if _, err := io.ReadFull(rc, dst); err != nil {
		return fmt.Errorf("blob %s: %w", ref, err)
	}
	if more, err := pastEnd(rc); err != nil {
		return fmt.Errorf("blob %s: %w", ref, err)
	} else if more {
		return fmt.Errorf("blob %s: longer than the %d bytes its reference says", ref, ref.Size)
	}
	return nil
}

// pastEnd reads one byte more from a blob read to its expected length: it
// reports whether there was one (the blob is longer), or the read's error
// (a blob store authenticates the end of a blob only when it is reached).
func pastEnd(r io.Reader) (bool, error) {
	var one [1]byte
	switch _, err := io.ReadFull(r, one[:]); err {
	case nil:
		return true, nil
	case io.EOF:
		return false, nil
	default:
		return false, err
	}
}

// bufPool holds the bytes an in-memory output's engine wrote itself
// (piecesWriter) between instances.
var bufPool sync.Pool // of *[]byte

// getBuf returns a buffer of length n from the pool, or a new one.
func getBuf(n int) *[]byte {
	if b, ok := bufPool.Get().(*[]byte); ok {
		if cap(*b) >= n {
			*b = (*b)[:n]
			return b
		}
		bufPool.Put(b)
	}
	b := make([]byte, n, max(n, 64<<10))
	return &b
}

// putBuf returns a buffer to the pool; its contents are not cleared (they
// are plaintext of an instance, overwritten by the next one; the process
// holds plaintext in memory while it works anyway).
func putBuf(b *[]byte) {
	if b != nil && cap(*b) <= defaultMaxInMemory {
		bufPool.Put(b)
	}
}

// oneStaged is one for an instance too large to hold in memory: the
// decrypted input and the output are staged in files in dir.
func (p *Processor) oneStaged(ctx context.Context, e deidentifier, dir string, i int, in *ethos.Instance) (it *ethos.ProcessingItem, counts map[string]map[string]int, err error) {
	inPath := filepath.Join(dir, fmt.Sprintf("%06d.in", i))
	outPath := filepath.Join(dir, fmt.Sprintf("%06d.out", i))
	rc, err := p.Blobs.Open(ctx, *in.Blob)
	if err != nil {
		return nil, nil, err
	}
	err = writeFile(inPath, rc)
	rc.Close()
	if err != nil {
		return nil, nil, err
	}
	defer os.Remove(inPath)
	fin, err := os.Open(inPath)
	if err != nil {
		return nil, nil, err
	}
	defer fin.Close()
	fout, err := os.OpenFile(outPath, os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o600)
	if err != nil {
		return nil, nil, err
	}
	defer fout.Close()
	it = newItem(in)
	res, err := e.ProcessFileDigest(ctx, fin, fout)
	if err != nil {
		os.Remove(outPath)
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		sum, herr := fileSHA256(inPath)
		if herr != nil {
			return nil, nil, herr
		}
		return refused(ctx, it, sum, err)
	}
	if withheld(it, &res) {
		os.Remove(outPath)
		return it, nil, nil
	}
	if err := verifyOutput(it, fin, fout, in.Pixels); err != nil {
		return nil, nil, err
	}
	// Verified: store the output now (under the input's subject key) and
	// drop the staged copy, so staging holds a few files, not the run. If
	// the run fails later, outputs stored so far stay as unreferenced
	// ciphertext under their subjects' keys (content-addressed: an
	// identical output of an earlier run is the same blob, so they are not
	// deleted); no record or lineage names them.
	ref, err := p.put(ctx, in.Subject, outPath, p.outputSum(res.OutputSHA256))
	if err != nil {
		return nil, nil, fmt.Errorf("store output: %w", err)
	}
	it.Output = &ref
	os.Remove(outPath)
	return it, res.Counts, nil
}

func writeFile(path string, r io.Reader) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func (p *Processor) put(ctx context.Context, subject ethos.SubjectKey, path string, sum []byte) (ethos.BlobRef, error) {
	f, err := os.Open(path)
	if err != nil {
		return ethos.BlobRef{}, err
	}
	defer f.Close()
	if sum != nil {
		return p.putBlob(ctx, subject, knownReader{f, sum})
	}
	return p.putBlob(ctx, subject, f)
}

// outputSum is the engine's SHA-256 of an output, which the blob store
// takes for the output's address (fileblob.KnownDigest) instead of
// hashing the output again.
func (p *Processor) outputSum(hexSum string) []byte {
	sum, err := hex.DecodeString(hexSum)
	if err != nil || len(sum) != sha256.Size {
		return nil
	}
	return sum
}

// knownReader is an output read from a file together with its SHA-256
// (an output in memory is an ethos.BlobBytes).
type knownReader struct {
	io.Reader
	sum []byte
}

func (k knownReader) PlainSHA256() []byte { return k.sum }

// deferredBlobs is a blob store that can write blobs without syncing each
// and make all of them durable with one Flush (fileblob.Store).
type deferredBlobs interface {
	PutDeferred(ctx context.Context, subject ethos.SubjectKey, r io.Reader) (ethos.BlobRef, error)
	Flush(ctx context.Context) error
}

// bufferedBlobs is a deferred blob store that can also write through the
// page cache (fileblob.Store.PutDeferredBuffered): a run's outputs go that
// way, and its one flush makes them durable.
type bufferedBlobs interface {
	deferredBlobs
	PutDeferredBuffered(ctx context.Context, subject ethos.SubjectKey, r io.Reader) (ethos.BlobRef, error)
}

// refFlusher is a deferred blob store that flushes for one caller: it
// fails only when one of that caller's puts failed, not when another
// user of the same store (a STOW-RS ingest) had a put fail
// (fileblob.Store.FlushRefs).
type refFlusher interface {
	FlushRefs(ctx context.Context, refs []ethos.BlobRef) error
}

// flushOutputs makes the run's outputs durable when the store deferred
// their syncs, judging only this run's own puts where the store can.
func (p *Processor) flushOutputs(ctx context.Context, items []ethos.ProcessingItem) error {
	d, ok := p.Blobs.(deferredBlobs)
	if !ok {
		return nil
	}
	if f, ok := p.Blobs.(refFlusher); ok {
		var refs []ethos.BlobRef
		for _, it := range items {
			if it.Output != nil {
				refs = append(refs, *it.Output)
			}
		}
		return f.FlushRefs(ctx, refs)
	}
	return d.Flush(ctx)
}

// putBlob stores an output. A store that defers syncs gets the output
// unsynced (through the page cache where it can: bufferedBlobs): Run
// flushes once after every output is written and before anything names
// them (lineage, record, audit), instead of an fsync of each blob and its
// directory.
func (p *Processor) putBlob(ctx context.Context, subject ethos.SubjectKey, r io.Reader) (ethos.BlobRef, error) {
	if b, ok := p.Blobs.(bufferedBlobs); ok {
		return b.PutDeferredBuffered(ctx, subject, r)
	}
	if d, ok := p.Blobs.(deferredBlobs); ok {
		return d.PutDeferred(ctx, subject, r)
	}
	return p.Blobs.Put(ctx, subject, r)
}

func (p *Processor) audit(ctx context.Context, req *Request, action, resource, decision, reason string) error {
	return p.Auditor.Record(ctx, ethos.AuditEvent{Time: p.now(), Actor: req.Access.UserID, Party: req.Access.PartyID, Action: action,
		Resource: resource, Stage: ethos.StageProcessing, Purpose: req.Purpose, Decision: decision, Reason: reason, RequestID: req.RequestID})
}

// Edges returns the lineage of a run: each written output wasDerivedFrom
// its input and wasGeneratedBy the run; the run used every input it read
// (quarantined ones too) and wasAssociatedWith the user who started it.
func Edges(run *ethos.ProcessingRun) []ethos.LineageEdge {
	rn := ethos.LineageNode{Kind: ethos.LineageProcessingRun, ID: run.ID}
	at := run.FinishedAt
	edges := []ethos.LineageEdge{{From: rn, Relation: ethos.RelWasAssociatedWith, To: ethos.LineageNode{Kind: ethos.LineageAgent, ID: run.StartedBy}, At: at}}
	for _, it := range run.Items {
		src := ethos.LineageNode{Kind: ethos.LineageInstance, ID: it.InstanceID}
		edges = append(edges, ethos.LineageEdge{From: rn, Relation: ethos.RelUsed, To: src, At: at})
		if it.Status != ethos.ItemWritten {
			continue
		}
		out := ethos.LineageNode{Kind: ethos.LineageDeidInstance, ID: DeidNodeID(run.ID, it.InstanceID)}
		edges = append(edges,
			ethos.LineageEdge{From: out, Relation: ethos.RelWasDerivedFrom, To: src, At: at},
			ethos.LineageEdge{From: out, Relation: ethos.RelWasGeneratedBy, To: rn, At: at})
	}
	return edges
}

// DeidNodeID is the lineage id of a run's output for one instance.
func DeidNodeID(runID, instanceID string) string { return runID + ":" + instanceID }
