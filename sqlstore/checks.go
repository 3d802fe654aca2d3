package sqlstore

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/ethos-imaging/ethos"
)

// CheckEvidence answers the aggregate questions of the quality checks
// (docs/checks.md) in a few queries over the stage tables, so that a
// project of 10^5 instances is not read one record at a time. It only
// reads.
type CheckEvidence struct{ db *DB }

// NewCheckEvidence returns the quality checks' queries over db.
func NewCheckEvidence(db *DB) *CheckEvidence { return &CheckEvidence{db: db} }

// SummarizeInstances counts a project's instance records for QC-COL-2, in
// one read transaction.
func (s *CheckEvidence) SummarizeInstances(ctx context.Context, projectID string) (*ethos.InstanceSummary, error) {
	out := &ethos.InstanceSummary{ProjectID: projectID, ByStatus: map[ethos.InstanceStatus]int{}, Quarantine: map[ethos.QuarantineReason]int{},
		StoredByConsent: map[string]int{}, Examples: map[string][]string{}}
	// Read only: on SQLite a plain (deferred) BEGIN, so the summary does
	// not take the write lock from ingest and event writers.
	tx, err := s.db.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("summarize instances: begin: %w", err)
	}
	defer tx.Rollback()
	each := func(what, q string, scan func(*sql.Rows) error, args ...any) error {
		rows, err := tx.QueryContext(ctx, q, args...)
		if err != nil {
			return fmt.Errorf("summarize instances: %s: %w", what, err)
		}
		defer rows.Close()
		for rows.Next() {
			if err := scan(rows); err != nil {
				return fmt.Errorf("summarize instances: %s: %w", what, err)
			}
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("summarize instances: %s: %w", what, err)
		}
		return nil
	}
	// One pass over the project's records gives every count: per status
	// and reason, the stored ones per consent, and those with or without
	// a blob.
	err = each("counts", "SELECT status, reason, consent_id, blob_digest = '', COUNT(*) FROM instances WHERE project_id = ? GROUP BY status, reason, consent_id, blob_digest = ''", func(r *sql.Rows) error {
		var st, reason, consent string
		var noBlob bool
		var n int
		if err := r.Scan(&st, &reason, &consent, &noBlob, &n); err != nil {
			return err
		}
		out.ByStatus[ethos.InstanceStatus(st)] += n
		switch ethos.InstanceStatus(st) {
		case ethos.InstanceQuarantined:
			out.Quarantine[ethos.QuarantineReason(reason)] += n
			if !noBlob {
				out.QuarantinedWithBlob += n
			}
		case ethos.InstanceStored:
			out.StoredByConsent[consent] += n
			if noBlob {
				out.StoredWithoutBlob += n
			}
		}
		return nil
	}, projectID)
	if err != nil {
		return nil, err
	}
	breaches := []struct {
		kind, cond string
		count      int
	}{
		{"no-consent", "status = 'stored' AND consent_id = ''", out.StoredByConsent[""]},
		{"no-blob", "status = 'stored' AND blob_digest = ''", out.StoredWithoutBlob},
		{"quarantined-blob", "status = 'quarantined' AND blob_digest <> ''", out.QuarantinedWithBlob},
	}
	for _, b := range breaches {
		if b.count == 0 {
			continue
		}
		err := each(b.kind, "SELECT id FROM instances WHERE project_id = ? AND "+b.cond+" ORDER BY id LIMIT ?", func(r *sql.Rows) error {
			var id string
			if err := r.Scan(&id); err != nil {
				return err
			}
			out.Examples[b.kind] = append(out.Examples[b.kind], id)
			return nil
		}, projectID, ethos.MaxSummaryExamples)
		if err != nil {
			return nil, err
		}
	}
	err = each("subjects", "SELECT DISTINCT subject FROM instances WHERE project_id = ? AND status = 'stored' ORDER BY subject", func(r *sql.Rows) error {
		var sk string
		if err := r.Scan(&sk); err != nil {
			return err
		}
		out.Subjects = append(out.Subjects, ethos.SubjectKey(sk))
		return nil
	}, projectID)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// consentBatch is how many consent ids one query asks for.
const consentBatch = 500

// ConsentsByID returns the consents with the given ids, keyed by id; an
// id with no consent is absent. It reads them in batches of 500, so the
// consents behind a large project's instances cost a few queries.
func (s *CheckEvidence) ConsentsByID(ctx context.Context, ids []string) (map[string]*ethos.Consent, error) {
	out := make(map[string]*ethos.Consent, len(ids))
	for start := 0; start < len(ids); start += consentBatch {
		batch := ids[start:min(start+consentBatch, len(ids))]
		args := make([]any, len(batch))
		marks := make([]byte, 0, 2*len(batch))
		for i, id := range batch {
			args[i] = id
			if i > 0 {
				marks = append(marks, ',')
			}
			marks = append(marks, '?')
		}
		rows, err := s.db.db.QueryContext(ctx, "SELECT body FROM consents WHERE id IN ("+string(marks)+")", args...)
		if err != nil {
			return nil, fmt.Errorf("consents by id: %w", err)
		}
		cs, err := scanBodies[ethos.Consent](rows, "consent")
		if err != nil {
			return nil, err
		}
		for _, c := range cs {
			out[c.ID] = c
		}
	}
	return out, nil
}
