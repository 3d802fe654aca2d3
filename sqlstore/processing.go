package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/ethos-imaging/ethos"
)

// ProcessingService implements ethos.ProcessingService (processing records,
// QC-PRO-1).
type ProcessingService struct{ db *DB }

// NewProcessingService returns the processing service over db.
func NewProcessingService(db *DB) *ProcessingService { return &ProcessingService{db: db} }

var _ ethos.ProcessingService = (*ProcessingService)(nil)

func (s *ProcessingService) CreateProcessingRun(ctx context.Context, r *ethos.ProcessingRun) error {
	if r.ID == "" {
		r.ID = ethos.NewID("prc")
	}
	if err := r.Validate(); err != nil {
		return err
	}
	seen := make(map[string]bool, len(r.Items))
	for _, it := range r.Items {
		if seen[it.InstanceID] {
			return ethos.Errorf(ethos.EINVALID, "processing run: instance %s listed twice", it.InstanceID)
		}
		seen[it.InstanceID] = true
	}
	head := *r
	head.Items = nil
	body, err := json.Marshal(&head)
	if err != nil {
		return err
	}
	return s.db.withTx(ctx, func(tx *sql.Tx) error {
		ok, err := exists(ctx, tx, "processing_runs", r.ID)
		if err != nil {
			return err
		}
		if ok {
			return ethos.Errorf(ethos.ECONFLICT, "processing run %s already exists", r.ID)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO processing_runs (id, project_id, started_at, body) VALUES (?, ?, ?, ?)`,
			r.ID, r.ProjectID, nanos(r.StartedAt), string(body)); err != nil {
			return err
		}
		// Items go in chunks of itemsPerInsert rows per statement: one
		// statement parsed and run per chunk rather than per item.
		for start := 0; start < len(r.Items); start += itemsPerInsert {
			chunk := r.Items[start:min(start+itemsPerInsert, len(r.Items))]
			args := make([]any, 0, 6*len(chunk))
			for i := range chunk {
				it := &chunk[i]
				b, err := json.Marshal(it)
				if err != nil {
					return err
				}
				args = append(args, r.ID, start+i, it.InstanceID, string(it.Subject), string(it.Status), string(b))
			}
			if _, err := tx.ExecContext(ctx, "INSERT INTO processing_items (run_id, seq, instance_id, subject, status, body) VALUES "+valueRows(len(chunk), 6), args...); err != nil {
				if isUnique(err) {
					return ethos.Errorf(ethos.EINVALID, "processing run: an instance is listed twice")
				}
				return err
			}
		}
		return nil
	})
}

// itemsPerInsert is the number of processing items one INSERT writes (6
// parameters each, well under SQLite's and PostgreSQL's limits).
const itemsPerInsert = 100

func (s *ProcessingService) FindProcessingRuns(ctx context.Context, f ethos.ProcessingRunFilter) ([]*ethos.ProcessingRun, int, error) {
	var w where
	if f.ID != nil {
		w.add("id = ?", *f.ID)
	}
	if f.ProjectID != nil {
		w.add("project_id = ?", *f.ProjectID)
	}
	limit, offset := page(f.Offset, f.Limit)
	rows, err := s.db.db.QueryContext(ctx, "SELECT body FROM processing_runs"+w.String()+" ORDER BY started_at, id LIMIT ? OFFSET ?", append(w.args, limit, offset)...)
	if err != nil {
		return nil, 0, err
	}
	out, err := scanBodies[ethos.ProcessingRun](rows, "processing run")
	if err != nil {
		return nil, 0, err
	}
	n, err := s.db.count(ctx, "processing_runs", &w)
	return out, n, err
}

func (s *ProcessingService) ProcessingRun(ctx context.Context, id string) (*ethos.ProcessingRun, error) {
	rs, _, err := s.FindProcessingRuns(ctx, ethos.ProcessingRunFilter{ID: &id, Limit: 1})
	if err != nil {
		return nil, err
	}
	if len(rs) == 0 {
		return nil, notFound("processing run", id)
	}
	r := rs[0]
	rows, err := s.db.db.QueryContext(ctx, `SELECT body FROM processing_items WHERE run_id = ? ORDER BY seq`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var body string
		if err := rows.Scan(&body); err != nil {
			return nil, err
		}
		var it ethos.ProcessingItem
		if err := json.Unmarshal([]byte(body), &it); err != nil {
			return nil, fmt.Errorf("processing item row: %w", err)
		}
		r.Items = append(r.Items, it)
	}
	return r, rows.Err()
}

// DatasetService implements ethos.DatasetService: immutable dataset
// versions, their members, and splits.
type DatasetService struct{ db *DB }

// NewDatasetService returns the dataset service over db.
func NewDatasetService(db *DB) *DatasetService { return &DatasetService{db: db} }

var _ ethos.DatasetService = (*DatasetService)(nil)

// memberBatch bounds the member rows of one INSERT (eight parameters
// each, below both dialects' parameter limits).
const memberBatch = 100

// CreateDatasetVersion stores the version's manifest as its body and its
// members as rows of dataset_members, in version order: the one place
// members are kept (migration 0080).
func (s *DatasetService) CreateDatasetVersion(ctx context.Context, v *ethos.DatasetVersion) error {
	if !ethos.ValidBlobDigest(v.ID) {
		return ethos.Errorf(ethos.EINVALID, "dataset version: id must be the manifest's SHA-256")
	}
	if !ethos.ValidID(v.ProjectID) || v.RunID == "" || v.CreatedBy == "" {
		return ethos.Errorf(ethos.EINVALID, "dataset version: project, run and creator are required")
	}
	if len(v.Members) != len(v.Entries) {
		return ethos.Errorf(ethos.EINVALID, "dataset version: %d entries but %d members", len(v.Entries), len(v.Members))
	}
	for _, m := range v.Members {
		if !m.Subject.Valid() || m.InstanceID == "" || m.EntryID == "" || !m.Blob.Subject.Valid() {
			return ethos.Errorf(ethos.EINVALID, "dataset version: member %s without entry, instance, subject or blob", m.EntryID)
		}
	}
	head := *v
	head.Members = nil
	body, err := json.Marshal(&head)
	if err != nil {
		return err
	}
	return s.db.withTx(ctx, func(tx *sql.Tx) error {
		ok, err := exists(ctx, tx, "dataset_versions", v.ID)
		if err != nil {
			return err
		}
		if ok {
			return ethos.Errorf(ethos.ECONFLICT, "dataset version %.12s already exists", v.ID)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO dataset_versions (id, project_id, run_id, parent_id, created_at, created_by, body) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			v.ID, v.ProjectID, v.RunID, v.Parent, nanos(v.CreatedAt), v.CreatedBy, string(body)); err != nil {
			return err
		}
		for start := 0; start < len(v.Members); start += memberBatch {
			chunk := v.Members[start:min(start+memberBatch, len(v.Members))]
			args := make([]any, 0, 8*len(chunk))
			for i, m := range chunk {
				args = append(args, v.ID, start+i, m.EntryID, m.InstanceID, string(m.Subject), string(m.Blob.Subject), m.Blob.Digest, m.Blob.Size)
			}
			q := "INSERT INTO dataset_members (version_id, seq, entry_id, instance_id, subject, blob_subject, blob_digest, blob_size) VALUES " + valueRows(len(chunk), 8)
			if _, err := tx.ExecContext(ctx, q, args...); err != nil {
				if isUnique(err) {
					return ethos.Errorf(ethos.EINVALID, "dataset version: an instance is listed twice")
				}
				return err
			}
		}
		return nil
	})
}

// DatasetVersion reads the manifest from the version's body and the
// members from dataset_members.
func (s *DatasetService) DatasetVersion(ctx context.Context, id string) (*ethos.DatasetVersion, error) {
	var body string
	err := s.db.db.QueryRowContext(ctx, `SELECT body FROM dataset_versions WHERE id = ?`, id).Scan(&body)
	if noRows(err) {
		return nil, notFound("dataset version", id)
	}
	if err != nil {
		return nil, err
	}
	var v ethos.DatasetVersion
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		return nil, fmt.Errorf("dataset version row: %w", err)
	}
	rows, err := s.db.db.QueryContext(ctx, `SELECT entry_id, instance_id, subject, blob_subject, blob_digest, blob_size FROM dataset_members WHERE version_id = ? ORDER BY seq`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	v.Members = make([]ethos.DatasetMember, 0, len(v.Entries))
	for rows.Next() {
		var m ethos.DatasetMember
		var subject, blobSubject string
		if err := rows.Scan(&m.EntryID, &m.InstanceID, &subject, &blobSubject, &m.Blob.Digest, &m.Blob.Size); err != nil {
			return nil, err
		}
		m.Subject, m.Blob.Subject = ethos.SubjectKey(subject), ethos.SubjectKey(blobSubject)
		v.Members = append(v.Members, m)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(v.Members) != len(v.Entries) {
		return nil, fmt.Errorf("dataset version %.12s: %d entries but %d member rows", id, len(v.Entries), len(v.Members))
	}
	return &v, nil
}

func (s *DatasetService) FindDatasetVersions(ctx context.Context, f ethos.DatasetVersionFilter) ([]*ethos.DatasetVersion, int, error) {
	var w where
	if f.ID != nil {
		w.add("id = ?", *f.ID)
	}
	if f.ProjectID != nil {
		w.add("project_id = ?", *f.ProjectID)
	}
	if f.Subject != nil {
		w.add("id IN (SELECT version_id FROM dataset_members WHERE subject = ?)", string(*f.Subject))
	}
	limit, offset := page(f.Offset, f.Limit)
	rows, err := s.db.db.QueryContext(ctx, "SELECT body FROM dataset_versions"+w.String()+" ORDER BY created_at, id LIMIT ? OFFSET ?", append(w.args, limit, offset)...)
	if err != nil {
		return nil, 0, err
	}
	out, err := scanBodies[ethos.DatasetVersion](rows, "dataset version")
	if err != nil {
		return nil, 0, err
	}
	for _, v := range out {
		v.Entries, v.Members = nil, nil
	}
	n, err := s.db.count(ctx, "dataset_versions", &w)
	return out, n, err
}

func (s *DatasetService) DatasetSubjects(ctx context.Context, versionID string) (map[string]ethos.SubjectKey, error) {
	var one int
	err := s.db.db.QueryRowContext(ctx, `SELECT 1 FROM dataset_versions WHERE id = ?`, versionID).Scan(&one)
	if noRows(err) {
		return nil, notFound("dataset version", versionID)
	}
	if err != nil {
		return nil, err
	}
	rows, err := s.db.db.QueryContext(ctx, `SELECT instance_id, subject FROM dataset_members WHERE version_id = ?`, versionID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]ethos.SubjectKey{}
	for rows.Next() {
		var id, subject string
		if err := rows.Scan(&id, &subject); err != nil {
			return nil, err
		}
		out[id] = ethos.SubjectKey(subject)
	}
	return out, rows.Err()
}

func (s *DatasetService) CreateDatasetSplit(ctx context.Context, sp *ethos.DatasetSplit) error {
	if sp.ID == "" {
		sp.ID = ethos.NewID("spl")
	}
	if sp.VersionID == "" || len(sp.Parts) == 0 {
		return ethos.Errorf(ethos.EINVALID, "dataset split: version and parts are required")
	}
	body, err := json.Marshal(sp)
	if err != nil {
		return err
	}
	return s.db.withTx(ctx, func(tx *sql.Tx) error {
		ok, err := exists(ctx, tx, "dataset_versions", sp.VersionID)
		if err != nil {
			return err
		}
		if !ok {
			return notFound("dataset version", sp.VersionID)
		}
		if ok, err := exists(ctx, tx, "dataset_splits", sp.ID); err != nil {
			return err
		} else if ok {
			return ethos.Errorf(ethos.ECONFLICT, "dataset split %s already exists", sp.ID)
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO dataset_splits (id, version_id, created_at, body) VALUES (?, ?, ?, ?)`,
			sp.ID, sp.VersionID, nanos(sp.CreatedAt), string(body))
		return err
	})
}

func (s *DatasetService) DatasetSplit(ctx context.Context, id string) (*ethos.DatasetSplit, error) {
	var body string
	err := s.db.db.QueryRowContext(ctx, `SELECT body FROM dataset_splits WHERE id = ?`, id).Scan(&body)
	if noRows(err) {
		return nil, notFound("dataset split", id)
	}
	if err != nil {
		return nil, err
	}
	var sp ethos.DatasetSplit
	if err := json.Unmarshal([]byte(body), &sp); err != nil {
		return nil, fmt.Errorf("dataset split row: %w", err)
	}
	return &sp, nil
}

func (s *DatasetService) FindDatasetSplits(ctx context.Context, versionID string) ([]*ethos.DatasetSplit, error) {
	rows, err := s.db.db.QueryContext(ctx, `SELECT body FROM dataset_splits WHERE version_id = ? ORDER BY created_at, id`, versionID)
	if err != nil {
		return nil, err
	}
	out, err := scanBodies[ethos.DatasetSplit](rows, "dataset split")
	return out, err
}
