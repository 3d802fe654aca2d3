// Package auditbench measures the audit log: durable append throughput
// with group commit and the time to verify a log of 10^6 events.
//
// It holds FileStore, a small file-backed audit.Storage used only by the
// benchmarks, so the numbers include a real fsync per batch before the
// SQLite adapter exists: one append-only file, one record per batch
// (leaves, stored hashes, CRC-32C), written with one write and one fsync.
// Production uses the sqlite adapter; see docs/benchmarks-audit.md.
package auditbench

import (
	"bufio"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"slices"
	"sync"

	"github.com/ethos-imaging/ethos/audit"
	"golang.org/x/mod/sumdb/tlog"
)

const (
	recBatch      = 1
	recCheckpoint = 2
	headerSize    = 1 + 8 + 4 + 8 + 4 // type, start, count, hashStart, hashCount
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// FileStore is an append-only file of batch records. The leaves stay on
// disk (ScanLeaves reads the file); their offsets, the stored hashes and
// the checkpoints are also kept in memory.
type FileStore struct {
	mu          sync.RWMutex
	f           *os.File
	path        string
	end         int64   // file size after the last good record
	leafOff     []int64 // file offset of each leaf's bytes
	leafLen     []uint32
	batches     []batchPos // where each batch record starts, for ScanLeaves
	hashes      []tlog.Hash
	checkpoints map[int64][]byte
}

var _ audit.Storage = (*FileStore)(nil)

// OpenFileStore opens or creates the store at path. A torn last record
// (a crash during write) is cut off.
func OpenFileStore(path string) (*FileStore, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	s := &FileStore{f: f, path: path, checkpoints: map[int64][]byte{}}
	if err := s.load(); err != nil {
		f.Close()
		return nil, err
	}
	return s, nil
}

func (s *FileStore) load() error {
	r := bufio.NewReaderSize(io.NewSectionReader(s.f, 0, 1<<62), 1<<20)
	var off int64
	for {
		rec, err := readRecord(r)
		if err != nil {
			break // end of file or a torn/corrupt tail: cut it off
		}
		switch rec.typ {
		case recBatch:
			s.batches = append(s.batches, batchPos{off, rec.start})
			p := off + headerSize
			for _, l := range rec.leaves {
				p += 4
				s.leafOff = append(s.leafOff, p)
				s.leafLen = append(s.leafLen, uint32(len(l)))
				p += int64(len(l))
			}
			s.hashes = append(s.hashes, rec.hashes...)
		case recCheckpoint:
			s.checkpoints[rec.start] = rec.leaves[0]
		}
		off += rec.size
	}
	s.end = off
	return s.f.Truncate(off)
}

// batchPos locates a batch record: its file offset and first leaf index.
type batchPos struct {
	off, first int64
}

type record struct {
	typ       byte
	start     int64
	hashStart int64
	leaves    [][]byte
	hashes    []tlog.Hash
	size      int64
}

func readRecord(r *bufio.Reader) (*record, error) {
	var h [headerSize]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, err
	}
	crc := crc32.New(castagnoli)
	crc.Write(h[:])
	rec := &record{typ: h[0], start: int64(binary.LittleEndian.Uint64(h[1:])), hashStart: int64(binary.LittleEndian.Uint64(h[13:]))}
	n, nh := binary.LittleEndian.Uint32(h[9:]), binary.LittleEndian.Uint32(h[21:])
	if n > 1<<20 || nh > 1<<22 {
		return nil, errors.New("bad record header")
	}
	rec.size = headerSize
	for range n {
		var lb [4]byte
		if _, err := io.ReadFull(r, lb[:]); err != nil {
			return nil, err
		}
		crc.Write(lb[:])
		ln := binary.LittleEndian.Uint32(lb[:])
		if ln > audit.MaxLeafSize+1<<10 {
			return nil, errors.New("bad leaf length")
		}
		l := make([]byte, ln)
		if _, err := io.ReadFull(r, l); err != nil {
			return nil, err
		}
		crc.Write(l)
		rec.leaves = append(rec.leaves, l)
		rec.size += 4 + int64(ln)
	}
	for range nh {
		var hh tlog.Hash
		if _, err := io.ReadFull(r, hh[:]); err != nil {
			return nil, err
		}
		crc.Write(hh[:])
		rec.hashes = append(rec.hashes, hh)
		rec.size += 32
	}
	var cb [4]byte
	if _, err := io.ReadFull(r, cb[:]); err != nil {
		return nil, err
	}
	if binary.LittleEndian.Uint32(cb[:]) != crc.Sum32() {
		return nil, errors.New("bad record checksum")
	}
	rec.size += 4
	return rec, nil
}

func encodeRecord(typ byte, start int64, leaves [][]byte, hashStart int64, hashes []tlog.Hash) []byte {
	size := headerSize + 4 + 32*len(hashes)
	for _, l := range leaves {
		size += 4 + len(l)
	}
	b := make([]byte, 0, size)
	b = append(b, typ)
	b = binary.LittleEndian.AppendUint64(b, uint64(start))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(leaves)))
	b = binary.LittleEndian.AppendUint64(b, uint64(hashStart))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(hashes)))
	for _, l := range leaves {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(l)))
		b = append(b, l...)
	}
	for _, h := range hashes {
		b = append(b, h[:]...)
	}
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// write appends one record and fsyncs; on failure the file is cut back.
func (s *FileStore) write(rec []byte) error {
	if _, err := s.f.WriteAt(rec, s.end); err != nil {
		s.f.Truncate(s.end)
		return err
	}
	if err := s.f.Sync(); err != nil {
		s.f.Truncate(s.end)
		return err
	}
	s.end += int64(len(rec))
	return nil
}

// Close closes the file.
func (s *FileStore) Close() error { return s.f.Close() }

// Size implements audit.Storage.
func (s *FileStore) Size(ctx context.Context) (int64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return int64(len(s.leafOff)), nil
}

// Append implements audit.Storage: one record, one fsync.
func (s *FileStore) Append(ctx context.Context, start int64, leaves [][]byte, hashStart int64, hashes []tlog.Hash) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if start != int64(len(s.leafOff)) || hashStart != int64(len(s.hashes)) {
		return fmt.Errorf("append at %d/%d, store at %d/%d: %w", start, hashStart, len(s.leafOff), len(s.hashes), audit.ErrConflict)
	}
	recOff := s.end
	off := s.end + headerSize
	if err := s.write(encodeRecord(recBatch, start, leaves, hashStart, hashes)); err != nil {
		return err
	}
	s.batches = append(s.batches, batchPos{recOff, start})
	for _, l := range leaves {
		off += 4
		s.leafOff = append(s.leafOff, off)
		s.leafLen = append(s.leafLen, uint32(len(l)))
		off += int64(len(l))
	}
	s.hashes = append(s.hashes, hashes...)
	return nil
}

// Leaves implements audit.Storage.
func (s *FileStore) Leaves(ctx context.Context, start, end int64) ([][]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if start < 0 || end < start || end > int64(len(s.leafOff)) {
		return nil, fmt.Errorf("leaves [%d, %d): %w", start, end, audit.ErrNotFound)
	}
	out := make([][]byte, 0, end-start)
	for i := start; i < end; i++ {
		b := make([]byte, s.leafLen[i])
		if _, err := s.f.ReadAt(b, s.leafOff[i]); err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

// Hashes implements audit.Storage.
func (s *FileStore) Hashes(ctx context.Context, indexes []int64) ([]tlog.Hash, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		if x < 0 || x >= int64(len(s.hashes)) {
			return nil, fmt.Errorf("stored hash %d: %w", x, audit.ErrNotFound)
		}
		out[i] = s.hashes[x]
	}
	return out, nil
}

// ScanLeaves implements audit.Storage by reading the file sequentially.
func (s *FileStore) ScanLeaves(ctx context.Context, start, end int64, fn func(int64, []byte) error) error {
	s.mu.RLock()
	fileEnd := s.end
	// Start at the batch holding leaf start.
	var from int64
	if i, found := slices.BinarySearchFunc(s.batches, start, func(b batchPos, t int64) int {
		return cmp.Compare(b.first, t)
	}); found {
		from = s.batches[i].off
	} else if i > 0 {
		from = s.batches[i-1].off
	}
	s.mu.RUnlock()
	r := bufio.NewReaderSize(io.NewSectionReader(s.f, from, fileEnd-from), 1<<20)
	var h [headerSize]byte
	var buf []byte
	for {
		if _, err := io.ReadFull(r, h[:]); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
		typ, first, n, nh := h[0], int64(binary.LittleEndian.Uint64(h[1:])), binary.LittleEndian.Uint32(h[9:]), binary.LittleEndian.Uint32(h[21:])
		for i := range int64(n) {
			var lb [4]byte
			if _, err := io.ReadFull(r, lb[:]); err != nil {
				return err
			}
			ln := int(binary.LittleEndian.Uint32(lb[:]))
			buf = slices.Grow(buf[:0], ln)[:ln]
			if _, err := io.ReadFull(r, buf); err != nil {
				return err
			}
			if typ != recBatch {
				continue
			}
			if idx := first + i; idx >= start && idx < end {
				if err := fn(idx, buf); err != nil {
					return err
				}
			} else if idx >= end {
				return nil
			}
		}
		if _, err := r.Discard(32*int(nh) + 4); err != nil {
			return err
		}
	}
}

// ScanHashes implements audit.Storage.
func (s *FileStore) ScanHashes(ctx context.Context, start, end int64, fn func(int64, tlog.Hash) error) error {
	s.mu.RLock()
	hs := s.hashes[:len(s.hashes):len(s.hashes)]
	s.mu.RUnlock()
	for i := max(start, 0); i < min(end, int64(len(hs))); i++ {
		if err := fn(i, hs[i]); err != nil {
			return err
		}
	}
	return nil
}

// PutCheckpoint implements audit.Storage (one record, one fsync).
func (s *FileStore) PutCheckpoint(ctx context.Context, n int64, signed []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.write(encodeRecord(recCheckpoint, n, [][]byte{signed}, 0, nil)); err != nil {
		return err
	}
	s.checkpoints[n] = slices.Clone(signed)
	return nil
}

// LatestCheckpoint implements audit.Storage.
func (s *FileStore) LatestCheckpoint(ctx context.Context) ([]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	best := int64(-1)
	for n := range s.checkpoints {
		best = max(best, n)
	}
	if best < 0 {
		return nil, nil
	}
	return slices.Clone(s.checkpoints[best]), nil
}
