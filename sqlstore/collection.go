package sqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/ethos-imaging/ethos"
)

// ConsentService implements ethos.ConsentService and
// ethos.SubjectLinkService (consents and the sealed links of their
// subjects live together).
type ConsentService struct {
	db    *DB
	stmts stmtCache
}

// NewConsentService returns the consent service over db.
func NewConsentService(db *DB) *ConsentService { return &ConsentService{db: db} }

// stmtCache keeps the prepared statements of the queries ingest runs for
// every instance: preparing (parsing) the SQL again each time cost as much
// CPU as running it. Keys are query texts, a small closed set.
type stmtCache struct{ m sync.Map }

func (c *stmtCache) get(ctx context.Context, db *sql.DB, q string) (*sql.Stmt, error) {
	if st, ok := c.m.Load(q); ok {
		return st.(*sql.Stmt), nil
	}
	st, err := db.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	if prev, loaded := c.m.LoadOrStore(q, st); loaded {
		st.Close()
		return prev.(*sql.Stmt), nil
	}
	return st, nil
}

// total is the count of all matches: the rows read when they are all of
// them, a COUNT(*) otherwise.
func (db *DB) total(ctx context.Context, table string, w *where, offset, limit, read int) (int, error) {
	if offset == 0 && read < limit {
		return read, nil
	}
	return db.count(ctx, table, w)
}

var (
	_ ethos.ConsentService     = (*ConsentService)(nil)
	_ ethos.SubjectLinkService = (*ConsentService)(nil)
)

func newConsentID() string {
	var b [12]byte
	rand.Read(b[:])
	return "cns-" + hex.EncodeToString(b[:])
}

func purposeCol(c *ethos.Consent) string {
	return "," + joinWords(c.Purposes()) + ","
}

func (s *ConsentService) FindConsentByID(ctx context.Context, id string) (*ethos.Consent, error) {
	cs, _, err := s.FindConsents(ctx, ethos.ConsentFilter{ID: &id, Limit: 1})
	if err != nil {
		return nil, err
	}
	if len(cs) == 0 {
		return nil, notFound("consent", id)
	}
	return cs[0], nil
}

func (s *ConsentService) FindConsents(ctx context.Context, f ethos.ConsentFilter) ([]*ethos.Consent, int, error) {
	var w where
	if f.ID != nil {
		w.add("id = ?", *f.ID)
	}
	if f.SubjectID != nil {
		w.add("subject = ?", string(*f.SubjectID))
	}
	if f.Status != nil {
		w.add("status = ?", string(*f.Status))
	}
	if f.Purpose != nil {
		w.add("purposes LIKE ?", "%,"+string(*f.Purpose)+",%")
	}
	limit, offset := page(f.Offset, f.Limit)
	st, err := s.stmts.get(ctx, s.db.db, "SELECT body FROM consents"+w.String()+" ORDER BY created_at, id LIMIT ? OFFSET ?")
	if err != nil {
		return nil, 0, err
	}
	rows, err := st.QueryContext(ctx, append(w.args, limit, offset)...)
	if err != nil {
		return nil, 0, err
	}
	out, err := scanBodies[ethos.Consent](rows, "consent")
	if err != nil {
		return nil, 0, err
	}
	n, err := s.db.total(ctx, "consents", &w, offset, limit, len(out))
	return out, n, err
}

func (s *ConsentService) CreateConsent(ctx context.Context, c *ethos.Consent) error {
	return s.db.withTx(ctx, func(tx *sql.Tx) error { return s.create(ctx, tx, c) })
}

// ImportConsents stores every consent of cs and every sealed subject link
// of links in one transaction: all or none. A subject that already has a
// link keeps it.
func (s *ConsentService) ImportConsents(ctx context.Context, cs []*ethos.Consent, links []*ethos.SubjectLink) error {
	return s.db.withTx(ctx, func(tx *sql.Tx) error {
		for _, c := range cs {
			if err := s.create(ctx, tx, c); err != nil {
				return err
			}
		}
		for _, l := range links {
			if !l.Subject.Valid() || len(l.Sealed) == 0 {
				return ethos.Errorf(ethos.EINVALID, "subject link: needs a subject key and a sealed identifier")
			}
			if l.CreatedAt.IsZero() {
				l.CreatedAt = s.db.Now().UTC()
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO subject_links (subject, sealed, created_at) VALUES (?, ?, ?) ON CONFLICT (subject) DO NOTHING`,
				string(l.Subject), l.Sealed, nanos(l.CreatedAt)); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *ConsentService) create(ctx context.Context, tx *sql.Tx, c *ethos.Consent) error {
	if c.ID == "" {
		c.ID = newConsentID()
	}
	if err := c.Validate(); err != nil {
		return err
	}
	ok, err := exists(ctx, tx, "consents", c.ID)
	if err != nil {
		return err
	}
	if ok {
		return ethos.Errorf(ethos.ECONFLICT, "consent %s already exists", c.ID)
	}
	now := s.db.Now().UTC()
	c.CreatedAt, c.UpdatedAt = now, now
	body, err := json.Marshal(c)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO consents (id, subject, status, purposes, body, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		c.ID, string(c.Subject), string(c.Status), purposeCol(c), string(body), nanos(now), nanos(now))
	if isUnique(err) {
		return ethos.Errorf(ethos.ECONFLICT, "consent %s already exists", c.ID)
	}
	return err
}

func (s *ConsentService) save(ctx context.Context, tx *sql.Tx, c *ethos.Consent) error {
	if err := c.Validate(); err != nil {
		return err
	}
	c.UpdatedAt = s.db.Now().UTC()
	body, err := json.Marshal(c)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `UPDATE consents SET status = ?, purposes = ?, body = ?, updated_at = ? WHERE id = ?`,
		string(c.Status), purposeCol(c), string(body), nanos(c.UpdatedAt), c.ID)
	return err
}

func loadConsent(ctx context.Context, tx *sql.Tx, id string) (*ethos.Consent, error) {
	var body string
	err := tx.QueryRowContext(ctx, "SELECT body FROM consents WHERE id = ?", id).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("consent", id)
	}
	if err != nil {
		return nil, err
	}
	var c ethos.Consent
	if err := json.Unmarshal([]byte(body), &c); err != nil {
		return nil, fmt.Errorf("consent row: %w", err)
	}
	return &c, nil
}

func (s *ConsentService) UpdateConsent(ctx context.Context, id string, upd ethos.ConsentUpdate) (*ethos.Consent, error) {
	var out *ethos.Consent
	err := s.db.withTx(ctx, func(tx *sql.Tx) error {
		c, err := loadConsent(ctx, tx, id)
		if err != nil {
			return err
		}
		if upd.Status != nil {
			c.Status = *upd.Status
		}
		if upd.Provision != nil {
			c.Provision = *upd.Provision
		}
		if upd.Policies != nil {
			c.Policies = *upd.Policies
		}
		if upd.PolicyRule != nil {
			c.PolicyRule = *upd.PolicyRule
		}
		if err := s.save(ctx, tx, c); err != nil {
			return err
		}
		out = c
		return nil
	})
	return out, err
}

func (s *ConsentService) WithdrawConsents(ctx context.Context, subject ethos.SubjectKey, w ethos.ConsentWithdrawal) ([]*ethos.Consent, error) {
	if !subject.Valid() {
		return nil, ethos.Errorf(ethos.EINVALID, "withdraw: not a subject key")
	}
	if w.At.IsZero() {
		w.At = s.db.Now().UTC()
	}
	var out []*ethos.Consent
	err := s.db.withTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, "SELECT id FROM consents WHERE subject = ? AND status = ? ORDER BY created_at, id", string(subject), string(ethos.ConsentActive))
		if err != nil {
			return err
		}
		var ids []string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			ids = append(ids, id)
		}
		if err := rows.Close(); err != nil {
			return err
		}
		for _, id := range ids {
			c, err := loadConsent(ctx, tx, id)
			if err != nil {
				return err
			}
			wc := w
			c.Status, c.Withdrawal = ethos.ConsentInactive, &wc
			if err := s.save(ctx, tx, c); err != nil {
				return err
			}
			out = append(out, c)
		}
		return nil
	})
	return out, err
}

func (s *ConsentService) PutSubjectLink(ctx context.Context, l *ethos.SubjectLink) error {
	if !l.Subject.Valid() || len(l.Sealed) == 0 {
		return ethos.Errorf(ethos.EINVALID, "subject link: needs a subject key and a sealed identifier")
	}
	if l.CreatedAt.IsZero() {
		l.CreatedAt = s.db.Now().UTC()
	}
	_, err := s.db.db.ExecContext(ctx, `INSERT INTO subject_links (subject, sealed, created_at) VALUES (?, ?, ?) ON CONFLICT (subject) DO NOTHING`,
		string(l.Subject), l.Sealed, nanos(l.CreatedAt))
	return err
}

func (s *ConsentService) SubjectLink(ctx context.Context, subject ethos.SubjectKey) (*ethos.SubjectLink, error) {
	l := ethos.SubjectLink{Subject: subject}
	var created int64
	err := s.db.db.QueryRowContext(ctx, "SELECT sealed, created_at FROM subject_links WHERE subject = ?", string(subject)).Scan(&l.Sealed, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("subject link", subject.Short())
	}
	if err != nil {
		return nil, err
	}
	l.CreatedAt = fromNanos(created)
	return &l, nil
}

func (s *ConsentService) DeleteSubjectLink(ctx context.Context, subject ethos.SubjectKey) error {
	_, err := s.db.db.ExecContext(ctx, "DELETE FROM subject_links WHERE subject = ?", string(subject))
	return err
}

// InstanceService implements ethos.InstanceService.
type InstanceService struct {
	db    *DB
	stmts stmtCache
}

// NewInstanceService returns the instance service over db.
func NewInstanceService(db *DB) *InstanceService { return &InstanceService{db: db} }

var _ ethos.InstanceService = (*InstanceService)(nil)

const keptByUID = "SELECT " + instanceCols + " FROM instances WHERE project_id = ? AND sop_instance_uid = ? AND status <> 'quarantined'"

const instanceCols = "id, project_id, sop_instance_uid, subject, modality, body_part, acquired_at, status, reason, detail, consent_id, blob_digest, blob_size, source, received_at, received_by, plain_sha256, pixel_tag, pixel_offset, pixel_length, pixel_encapsulated, pixel_syntax"

func scanInstance(s interface{ Scan(...any) error }) (*ethos.Instance, error) {
	var in ethos.Instance
	var acquired sql.NullInt64
	var received, size int64
	var digest string
	var plain, pxSyntax sql.NullString
	var pxTag, pxOff, pxLen sql.NullInt64
	var pxEnc sql.NullBool
	if err := s.Scan(&in.ID, &in.ProjectID, &in.SOPInstanceUID, &in.Subject, &in.Modality, &in.BodyPart, &acquired,
		&in.Status, &in.Reason, &in.Detail, &in.ConsentID, &digest, &size, &in.Source, &received, &in.ReceivedBy, &plain,
		&pxTag, &pxOff, &pxLen, &pxEnc, &pxSyntax); err != nil {
		return nil, err
	}
	in.SHA256 = plain.String
	if pxTag.Valid && pxOff.Valid && pxLen.Valid && pxEnc.Valid && pxSyntax.Valid {
		in.Pixels = &ethos.PixelValue{Tag: uint32(pxTag.Int64), Offset: pxOff.Int64, Length: pxLen.Int64,
			Encapsulated: pxEnc.Bool, Syntax: pxSyntax.String}
	}
	if acquired.Valid {
		in.Acquired = fromNanos(acquired.Int64)
	}
	in.ReceivedAt = fromNanos(received)
	if digest != "" {
		in.Blob = &ethos.BlobRef{Subject: in.Subject, Digest: digest, Size: size}
	}
	return &in, nil
}

func (s *InstanceService) CreateInstance(ctx context.Context, in *ethos.Instance) (*ethos.Instance, error) {
	findKept, insert, err := s.instanceStmts(ctx, in)
	if err != nil {
		return nil, err
	}
	var existing *ethos.Instance
	err = s.db.withTx(ctx, func(tx *sql.Tx) error {
		existing, err = insertInstance(ctx, tx, findKept, insert, in)
		return err
	})
	if isUnique(err) && in.Status != ethos.InstanceQuarantined {
		// Another writer kept the same UID between our check and insert
		// (PostgreSQL's READ COMMITTED lets both checks pass): the unique
		// index refused ours, so answer with the kept record.
		row := s.db.db.QueryRowContext(ctx, keptByUID, in.ProjectID, in.SOPInstanceUID)
		e, rerr := scanInstance(row)
		if rerr != nil {
			return nil, fmt.Errorf("instance %s: read the kept record after a uniqueness conflict: %w", in.ID, rerr)
		}
		existing, err = e, nil
	}
	if err != nil {
		return nil, err
	}
	if existing != nil {
		return existing, ethos.Errorf(ethos.ECONFLICT, "instance already stored as %s", existing.ID)
	}
	return in, nil
}

// CreateInstances records ins in one transaction (one commit, one sync)
// and returns, for each, the record kept: ins[i] itself, or the record
// already holding its SOP Instance UID in the project (kept[i] != ins[i],
// as CreateInstance's ECONFLICT). Two stored instances of the batch with
// the same UID resolve like two calls: the first is kept. If the batch
// fails on a uniqueness race with another writer, each instance is
// recorded on its own instead.
func (s *InstanceService) CreateInstances(ctx context.Context, ins []*ethos.Instance) (kept []*ethos.Instance, err error) {
	if len(ins) == 0 {
		return nil, nil
	}
	var findKept, insert *sql.Stmt
	for _, in := range ins {
		if findKept, insert, err = s.instanceStmts(ctx, in); err != nil {
			return nil, err
		}
	}
	kept = make([]*ethos.Instance, len(ins))
	err = s.db.withTx(ctx, func(tx *sql.Tx) error {
		for i, in := range ins {
			e, err := insertInstance(ctx, tx, findKept, insert, in)
			if err != nil {
				return fmt.Errorf("instance %d of %d: %w", i+1, len(ins), err)
			}
			kept[i] = in
			if e != nil {
				kept[i] = e
			}
		}
		return nil
	})
	if isUnique(err) {
		for i, in := range ins {
			e, err := s.CreateInstance(ctx, in)
			if err != nil && ethos.ErrorCode(err) != ethos.ECONFLICT {
				return nil, err
			}
			kept[i] = e
		}
		return kept, nil
	}
	if err != nil {
		return nil, err
	}
	return kept, nil
}

// instanceStmts fills in's defaults and returns the cached statements. They
// are prepared outside the transaction: preparing on another connection
// while this one holds SQLite's write lock would wait for it.
func (s *InstanceService) instanceStmts(ctx context.Context, in *ethos.Instance) (findKept, insert *sql.Stmt, err error) {
	if in.ID == "" {
		in.ID = ethos.NewID("ins")
	}
	if in.ReceivedAt.IsZero() {
		in.ReceivedAt = s.db.Now().UTC()
	}
	if in.Status == ethos.InstanceStored && (in.Blob == nil || in.SOPInstanceUID == "") {
		return nil, nil, ethos.Errorf(ethos.EINVALID, "instance: a stored instance needs a blob and a SOP Instance UID")
	}
	if findKept, err = s.stmts.get(ctx, s.db.db, keptByUID); err != nil {
		return nil, nil, err
	}
	insert, err = s.stmts.get(ctx, s.db.db, "INSERT INTO instances ("+instanceCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
	return findKept, insert, err
}

// insertInstance inserts in within tx, unless it is to be stored and the
// project already keeps its UID: then it returns the kept record.
func insertInstance(ctx context.Context, tx *sql.Tx, findKept, insert *sql.Stmt, in *ethos.Instance) (*ethos.Instance, error) {
	if in.Status != ethos.InstanceQuarantined {
		row := tx.StmtContext(ctx, findKept).QueryRowContext(ctx, in.ProjectID, in.SOPInstanceUID)
		e, err := scanInstance(row)
		if err == nil {
			return e, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return nil, err
		}
	}
	var acquired sql.NullInt64
	if !in.Acquired.IsZero() {
		acquired = sql.NullInt64{Int64: nanos(in.Acquired), Valid: true}
	}
	var digest string
	var size int64
	if in.Blob != nil {
		digest, size = in.Blob.Digest, in.Blob.Size
	}
	plain := sql.NullString{String: in.SHA256, Valid: in.SHA256 != ""}
	var pxTag, pxOff, pxLen sql.NullInt64
	var pxEnc sql.NullBool
	var pxSyntax sql.NullString
	if px := in.Pixels; px != nil {
		pxTag, pxOff, pxLen = sql.NullInt64{Int64: int64(px.Tag), Valid: true}, sql.NullInt64{Int64: px.Offset, Valid: true}, sql.NullInt64{Int64: px.Length, Valid: true}
		pxEnc, pxSyntax = sql.NullBool{Bool: px.Encapsulated, Valid: true}, sql.NullString{String: px.Syntax, Valid: true}
	}
	_, err := tx.StmtContext(ctx, insert).ExecContext(ctx,
		in.ID, in.ProjectID, in.SOPInstanceUID, string(in.Subject), in.Modality, in.BodyPart, acquired, string(in.Status),
		string(in.Reason), in.Detail, in.ConsentID, digest, size, in.Source, nanos(in.ReceivedAt), in.ReceivedBy, plain,
		pxTag, pxOff, pxLen, pxEnc, pxSyntax)
	return nil, err
}

func (s *InstanceService) FindInstances(ctx context.Context, f ethos.InstanceFilter) ([]*ethos.Instance, int, error) {
	var w where
	if f.ID != nil {
		w.add("id = ?", *f.ID)
	}
	if f.ProjectID != nil {
		w.add("project_id = ?", *f.ProjectID)
	}
	if f.Subject != nil {
		w.add("subject = ?", string(*f.Subject))
	}
	if f.Status != nil {
		w.add("status = ?", string(*f.Status))
	}
	if f.Kept {
		w.conds = append(w.conds, "status IN ('stored', 'withdrawn')")
	}
	if f.BlobDigest != nil {
		w.add("blob_digest = ?", *f.BlobDigest)
	}
	if f.ReceivedBefore != nil {
		w.add("received_at < ?", nanos(*f.ReceivedBefore))
	}
	limit, offset := page(f.Offset, f.Limit)
	st, err := s.stmts.get(ctx, s.db.db, "SELECT "+instanceCols+" FROM instances"+w.String()+" ORDER BY received_at, id LIMIT ? OFFSET ?")
	if err != nil {
		return nil, 0, err
	}
	rows, err := st.QueryContext(ctx, append(w.args, limit, offset)...)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var out []*ethos.Instance
	for rows.Next() {
		in, err := scanInstance(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, in)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, err
	}
	n, err := s.db.total(ctx, "instances", &w, offset, limit, len(out))
	return out, n, err
}

func (s *InstanceService) SetSubjectStatus(ctx context.Context, subject ethos.SubjectKey, status ethos.InstanceStatus) (int, error) {
	if status != ethos.InstanceWithdrawn && status != ethos.InstanceErased {
		return 0, ethos.Errorf(ethos.EINVALID, "instance status can only move to withdrawn or erased")
	}
	res, err := s.db.db.ExecContext(ctx, "UPDATE instances SET status = ? WHERE subject = ? AND status IN ('stored', 'withdrawn')", string(status), string(subject))
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}

func (s *InstanceService) SetInstanceStatus(ctx context.Context, id string, status ethos.InstanceStatus) error {
	if status != ethos.InstanceWithdrawn && status != ethos.InstanceErased {
		return ethos.Errorf(ethos.EINVALID, "instance status can only move to withdrawn or erased")
	}
	res, err := s.db.db.ExecContext(ctx, "UPDATE instances SET status = ? WHERE id = ? AND status IN ('stored', 'withdrawn')", string(status), id)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return ethos.Errorf(ethos.ENOTFOUND, "instance %s not found among the stored or withdrawn instances", id)
	}
	return nil
}

func (s *InstanceService) FindCollectionRules(ctx context.Context) ([]*ethos.CollectionRules, error) {
	rows, err := s.db.db.QueryContext(ctx, "SELECT body FROM collection_rules ORDER BY project_id")
	if err != nil {
		return nil, err
	}
	out, err := scanBodies[ethos.CollectionRules](rows, "collection rules")
	return out, err
}

func (s *InstanceService) CollectionRules(ctx context.Context, projectID string) (*ethos.CollectionRules, error) {
	var body string
	err := s.db.db.QueryRowContext(ctx, "SELECT body FROM collection_rules WHERE project_id = ?", projectID).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("collection rules of project", projectID)
	}
	if err != nil {
		return nil, err
	}
	var r ethos.CollectionRules
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		return nil, fmt.Errorf("collection rules row: %w", err)
	}
	return &r, nil
}

func (s *InstanceService) SetCollectionRules(ctx context.Context, r *ethos.CollectionRules) error {
	for i, b := range r.BodyParts {
		r.BodyParts[i] = strings.ToUpper(strings.TrimSpace(b))
	}
	if err := r.Validate(); err != nil {
		return err
	}
	r.UpdatedAt = s.db.Now().UTC()
	body, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = s.db.db.ExecContext(ctx, `INSERT INTO collection_rules (project_id, body, updated_at) VALUES (?, ?, ?)
		ON CONFLICT (project_id) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at`, r.ProjectID, string(body), nanos(r.UpdatedAt))
	return err
}
