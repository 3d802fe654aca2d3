package audit

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"

	"golang.org/x/mod/sumdb/tlog"
)

// ExportFormat names the export format in its header line.
const ExportFormat = "ethos-audit-export/1"

// exportHeader is the first line of an export.
type exportHeader struct {
	Format     string `json:"format"`
	Checkpoint string `json:"checkpoint"`
}

// exportLine is one event line of an export.
type exportLine struct {
	Index    *int64          `json:"index"`
	LeafHash *tlog.Hash      `json:"leaf_hash"`
	Event    json.RawMessage `json:"event"`
}

// Export writes the events covered by the latest signed checkpoint as
// JSON lines, for an auditor to verify offline with VerifyExport. The
// first line is the header
//
//	{"format":"ethos-audit-export/1","checkpoint":"<signed checkpoint note>"}
//
// and each following line one event, in index order:
//
//	{"index":0,"leaf_hash":"<base64 stored leaf hash>","event":{…canonical event…}}
//
// "event" is the leaf byte for byte (the canonical form is JSON), so
// hashing it as RFC 6962 leaf gives the leaf hash. "leaf_hash" is the
// hash storage holds for that index, not one recomputed here, so a leaf
// changed in the database shows in the export as a mismatch. Export
// copies what is stored without judging it (a missing row is a missing
// line); judging is VerifyExport's job. Events appended after the latest
// checkpoint are not exported: sign a checkpoint first to include them.
func Export(ctx context.Context, s Storage, w io.Writer) error {
	signed, err := s.LatestCheckpoint(ctx)
	if err != nil {
		return fmt.Errorf("audit: export: latest checkpoint: %w", err)
	}
	if signed == nil {
		return errors.New("audit: export: no signed checkpoint stored (sign one first)")
	}
	cp, err := unverifiedCheckpoint(signed)
	if err != nil {
		return fmt.Errorf("audit: export: %w", err)
	}
	bw := bufio.NewWriterSize(w, 256<<10)
	head, err := json.Marshal(exportHeader{Format: ExportFormat, Checkpoint: string(signed)})
	if err != nil {
		return err
	}
	bw.Write(head)
	bw.WriteByte('\n')

	// Leaf hashes stream in from the stored hashes, read alongside.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	hashes := make(chan []leafHash, 4)
	hashErr := make(chan error, 1)
	go func() { hashErr <- streamLeafHashes(ctx, s, cp.Size, hashes) }()
	var cur []leafHash
	nextHash := func(idx int64) (tlog.Hash, bool) {
		for {
			for len(cur) > 0 && cur[0].i < idx {
				cur = cur[1:]
			}
			if len(cur) > 0 {
				if cur[0].i == idx {
					return cur[0].h, true
				}
				return tlog.Hash{}, false
			}
			c, ok := <-hashes
			if !ok {
				return tlog.Hash{}, false
			}
			cur = c
		}
	}
	line := make([]byte, 0, 512)
	err = s.ScanLeaves(ctx, 0, cp.Size, func(idx int64, leaf []byte) error {
		line = append(line[:0], `{"index":`...)
		line = strconv.AppendInt(line, idx, 10)
		if h, ok := nextHash(idx); ok {
			line = append(line, `,"leaf_hash":"`...)
			line = append(line, h.String()...)
			line = append(line, `","event":`...)
		} else {
			// No stored hash: the verifier names this index.
			line = append(line, `,"leaf_hash":null,"event":`...)
		}
		if json.Valid(leaf) && !bytes.ContainsAny(leaf, "\n\r") {
			line = append(line, leaf...)
		} else {
			// Not JSON (damaged storage): carried as a JSON string so the
			// line stays parseable and the verifier reports the index.
			q, _ := json.Marshal(string(leaf))
			line = append(line, q...)
		}
		line = append(line, "}\n"...)
		_, err := bw.Write(line)
		return err
	})
	cancel()
	for range hashes { // let the reader finish
	}
	if herr := <-hashErr; err == nil && herr != nil && !errors.Is(herr, context.Canceled) {
		err = fmt.Errorf("audit: export: stored hashes: %w", herr)
	}
	if err != nil {
		return err
	}
	return bw.Flush()
}

// leafHash is the stored leaf hash of event i.
type leafHash struct {
	i int64
	h tlog.Hash
}

// streamLeafHashes sends the stored leaf hashes of events [0, n), in
// order and in chunks, picking them out of one ScanHashes pass. Events
// whose leaf hash is not stored are left out (the reader sees a gap).
func streamLeafHashes(ctx context.Context, s Storage, n int64, out chan<- []leafHash) error {
	defer close(out)
	const chunk = 4096
	buf := make([]leafHash, 0, chunk)
	send := func() error {
		select {
		case out <- buf:
		case <-ctx.Done():
			return ctx.Err()
		}
		buf = make([]leafHash, 0, chunk)
		return nil
	}
	err := s.ScanHashes(ctx, 0, tlog.StoredHashCount(n), func(idx int64, h tlog.Hash) error {
		level, k := tlog.SplitStoredHashIndex(idx)
		if level != 0 || k >= n {
			return nil
		}
		buf = append(buf, leafHash{k, h})
		if len(buf) >= chunk {
			return send()
		}
		return nil
	})
	if err != nil {
		return err
	}
	if len(buf) > 0 {
		return send()
	}
	return nil
}

// VerifyExport checks an export written by Export, with nothing but the
// export and the log's verifier key: the checkpoint's signature, the
// indexes (0, 1, 2… with no gaps), every event's canonical form and its
// leaf hash, and the tree recomputed from the events against the signed
// root (and against opts.Checkpoint, a checkpoint the auditor saved
// earlier, which proves the log only grew). Errors are *VerifyError
// naming the first bad event, or a parse error naming the line.
func VerifyExport(r io.Reader, verifierKey string, opts VerifyOptions) (*Report, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 2*MaxLeafSize+4096)
	lineNo := 0
	next := func() ([]byte, bool, error) {
		if !sc.Scan() {
			if err := sc.Err(); err != nil {
				return nil, false, fmt.Errorf("audit: export line %d: %w", lineNo+1, err)
			}
			return nil, false, nil
		}
		lineNo++
		return sc.Bytes(), true, nil
	}
	first, ok, err := next()
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errors.New("audit: export is empty (no header line)")
	}
	var head exportHeader
	if err := strictUnmarshal(first, &head); err != nil {
		return nil, fmt.Errorf("audit: export line 1 (header): %w", err)
	}
	if head.Format != ExportFormat {
		return nil, fmt.Errorf("audit: export line 1: format %q, this verifier reads %q", head.Format, ExportFormat)
	}
	var cps checkpoints
	if err := cps.load([]byte(head.Checkpoint), opts.Checkpoint, verifierKey); err != nil {
		return nil, err
	}
	b := treeBuilder{}
	if err := cps.at(0, emptyRoot); err != nil {
		return nil, err
	}
	var want int64
	for {
		raw, ok, err := next()
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		var l exportLine
		if err := strictUnmarshal(raw, &l); err != nil {
			return nil, &VerifyError{Index: want, Reason: fmt.Sprintf("export line %d is not an event line", lineNo), Err: err}
		}
		if l.Index == nil || l.LeafHash == nil || l.Event == nil {
			return nil, badf(want, "export line %d lacks index, leaf_hash or event", lineNo)
		}
		if *l.Index != want {
			if *l.Index > want {
				return nil, badf(want, "event missing: export line %d carries index %d", lineNo, *l.Index)
			}
			return nil, badf(*l.Index, "export line %d repeats or reorders index %d (expected %d)", lineNo, *l.Index, want)
		}
		if want >= cps.latest.Size {
			return nil, badf(want, "event beyond the %d events the export's checkpoint signs", cps.latest.Size)
		}
		leaf := []byte(l.Event)
		if !opts.SkipDecode {
			if err := checkCanonical(leaf); err != nil {
				return nil, &VerifyError{Index: want, Reason: "event is not in canonical form", Err: err}
			}
		}
		h := tlog.RecordHash(leaf)
		if h != *l.LeafHash {
			return nil, badf(want, "the event does not hash to its leaf_hash (modified, inserted or reordered)")
		}
		if err := b.add(h); err != nil {
			return nil, err
		}
		want++
		if err := cps.at(want, b.root); err != nil {
			return nil, err
		}
	}
	if want < cps.latest.Size {
		return nil, badf(want, "event missing: the checkpoint signs %d events, the export holds %d", cps.latest.Size, want)
	}
	if cps.saved != nil && cps.saved.Size > want {
		return nil, badf(want, "event missing: the saved checkpoint covers %d events, the export holds %d", cps.saved.Size, want)
	}
	rep := &Report{Size: want, Checkpoint: *cps.latest, CheckpointSize: cps.latest.Size, SavedSize: -1, Root: emptyRoot()}
	if want > 0 {
		rep.Root = b.root()
	}
	if cps.saved != nil {
		rep.Saved, rep.SavedSize = cps.saved, cps.saved.Size
	}
	return rep, nil
}

func strictUnmarshal(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return errors.New("trailing data after the JSON object")
	}
	return nil
}
