package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/ethos-imaging/ethos/audit"
	"github.com/ethos-imaging/ethos/sqlstore"
	"golang.org/x/mod/sumdb/tlog"
)

// AuditStorage implements audit.Storage in the tables audit_leaves (idx,
// data) — one row per event, so an auditor with the sqlite3 tool sees every
// event on its own row —, audit_hash_chunks (chunk, hashes) holding the
// tree's stored hashes 256 to a row, and audit_checkpoints (size, signed). Append is one IMMEDIATE transaction
// with synchronous=FULL, so it returns only after the WAL is on disk.
type AuditStorage struct {
	sqlstore.AuditLeaves // leaves and checkpoints, as every adapter stores them
	db                   *DB
}

// NewAuditStorage returns the audit storage over db.
// The database must be open.
func NewAuditStorage(db *DB) *AuditStorage {
	return &AuditStorage{AuditLeaves: sqlstore.AuditLeaves{DB: db.db}, db: db}
}

var _ audit.Storage = (*AuditStorage)(nil)

func (s *AuditStorage) Append(ctx context.Context, start int64, leaves [][]byte, hashStart int64, hashes []tlog.Hash) error {
	return s.db.withTx(ctx, func(tx *sql.Tx) error {
		n, err := sqlstore.MaxIndex(ctx, tx, "audit_leaves")
		if err != nil {
			return err
		}
		if n != start {
			return fmt.Errorf("append at leaf %d, log has %d: %w", start, n, audit.ErrConflict)
		}
		last, lastData, err := lastChunk(ctx, tx)
		if err != nil {
			return err
		}
		h := int64(0)
		if last >= 0 {
			h = last*chunkSize + int64(len(lastData)/hashSize)
		}
		if h != hashStart {
			return fmt.Errorf("append at stored hash %d, log has %d: %w", hashStart, h, audit.ErrConflict)
		}
		if err := sqlstore.InsertMany(ctx, tx, "audit_leaves", "data", start, len(leaves), func(i int) any { return leaves[i] }); err != nil {
			return err
		}
		return appendHashes(ctx, tx, hashStart, hashes, lastData)
	})
}

const (
	chunkSize = 256 // stored hashes per audit_hash_chunks row
	hashSize  = len(tlog.Hash{})
)

// lastChunk returns the highest chunk and its bytes, or -1.
func lastChunk(ctx context.Context, tx *sql.Tx) (int64, []byte, error) {
	var c int64
	var b []byte
	err := tx.QueryRowContext(ctx, "SELECT chunk, hashes FROM audit_hash_chunks ORDER BY chunk DESC LIMIT 1").Scan(&c, &b)
	if noRows(err) {
		return -1, nil, nil
	}
	return c, b, err
}

// appendHashes writes hashes from stored index start on: it completes the
// partial last chunk (whose bytes are partial) and adds new chunks.
func appendHashes(ctx context.Context, tx *sql.Tx, start int64, hashes []tlog.Hash, partial []byte) error {
	chunk := start / chunkSize
	buf := append([]byte(nil), partial...)
	if start%chunkSize == 0 {
		buf = buf[:0]
	}
	flush := func() error {
		_, err := tx.ExecContext(ctx, "INSERT INTO audit_hash_chunks (chunk, hashes) VALUES (?, ?) ON CONFLICT (chunk) DO UPDATE SET hashes = excluded.hashes", chunk, buf)
		return err
	}
	for _, h := range hashes {
		buf = append(buf, h[:]...)
		if len(buf) == chunkSize*hashSize {
			if err := flush(); err != nil {
				return err
			}
			chunk++
			buf = buf[:0]
		}
	}
	if len(buf) > 0 {
		return flush()
	}
	return nil
}

func (s *AuditStorage) Hashes(ctx context.Context, indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	if len(indexes) == 0 {
		return out, nil
	}
	need := map[int64][]byte{}
	for _, x := range indexes {
		if x < 0 {
			return nil, fmt.Errorf("stored hash %d: %w", x, audit.ErrNotFound)
		}
		need[x/chunkSize] = nil
	}
	chunks := make([]any, 0, len(need))
	for c := range need {
		chunks = append(chunks, c)
	}
	const batch = 500
	for off := 0; off < len(chunks); off += batch {
		part := chunks[off:min(off+batch, len(chunks))]
		rows, err := s.db.db.QueryContext(ctx, "SELECT chunk, hashes FROM audit_hash_chunks WHERE chunk IN ("+strings.TrimSuffix(strings.Repeat("?,", len(part)), ",")+")", part...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var c int64
			var b []byte
			if err := rows.Scan(&c, &b); err != nil {
				rows.Close()
				return nil, err
			}
			need[c] = b
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	for i, x := range indexes {
		b := need[x/chunkSize]
		off := int(x%chunkSize) * hashSize
		if off+hashSize > len(b) {
			return nil, fmt.Errorf("stored hash %d: %w", x, audit.ErrNotFound)
		}
		copy(out[i][:], b[off:off+hashSize])
	}
	return out, nil
}

// ScanHashes streams the stored hashes in [start, end) chunk by chunk. A
// missing chunk skips its indexes; a chunk whose length is not a multiple
// of 32 bytes (a tampered row) yields its whole hashes and skips the rest.
func (s *AuditStorage) ScanHashes(ctx context.Context, start, end int64, fn func(int64, tlog.Hash) error) error {
	if start < 0 {
		start = 0
	}
	if end <= start {
		return nil
	}
	rows, err := s.db.db.QueryContext(ctx, "SELECT chunk, hashes FROM audit_hash_chunks WHERE chunk >= ? AND chunk <= ? ORDER BY chunk", start/chunkSize, (end-1)/chunkSize)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var c int64
		var b sql.RawBytes
		if err := rows.Scan(&c, &b); err != nil {
			return err
		}
		for k := 0; (k+1)*hashSize <= len(b) && k < chunkSize; k++ {
			i := c*chunkSize + int64(k)
			if i < start {
				continue
			}
			if i >= end {
				break
			}
			var h tlog.Hash
			copy(h[:], b[k*hashSize:])
			if err := fn(i, h); err != nil {
				return err
			}
		}
	}
	return rows.Err()
}
