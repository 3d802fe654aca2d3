package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/ethos-imaging/ethos"
)

// DeploymentStore implements ethos.DeploymentStore: deployments and their
// change log, risk registers, incidents, attestations, and the inference
// events and labels of the deployment stage (migrations 0060 and 0082).
type DeploymentStore struct {
	db *DB

	mu        sync.Mutex
	rowWise   bool      // SQLite: one INSERT a row (see insertRows)
	insertOne *sql.Stmt // that INSERT, prepared once
	insertCol *sql.Stmt // PostgreSQL: the whole batch as column arrays (insertColumns), prepared once
	findByID  *sql.Stmt // FindDeploymentByID's query, prepared once (twice per batch of events)

	kmu  sync.Mutex
	keys map[string]int64 // committed event keys of deployments (event_deployments)

	qmu     sync.Mutex
	queue   []*insertReq // batches waiting for the writer
	writing bool         // a writer goroutine is running
	closed  bool
	writer  sync.WaitGroup
}

// NewDeploymentStore returns the deployment store over db.
func NewDeploymentStore(db *DB) *DeploymentStore {
	return &DeploymentStore{db: db, rowWise: db.sqlite, keys: map[string]int64{}}
}

var (
	_ ethos.DeploymentStore      = (*DeploymentStore)(nil)
	_ ethos.InferenceEventReader = (*DeploymentStore)(nil)
)

const deploymentCols = "id, project_id, model_version_id, evaluation_id, site, intended_use, threshold, responsible, plan, stakeholder_roles, status, revision, created_by, created_at, updated_at, live_at"

func scanDeployment(s interface{ Scan(...any) error }) (*ethos.Deployment, error) {
	var d ethos.Deployment
	var plan, roles, status string
	var created, updated int64
	var live sql.NullInt64
	if err := s.Scan(&d.ID, &d.ProjectID, &d.ModelVersionID, &d.EvaluationID, &d.Site, &d.IntendedUse, &d.Threshold, &d.ResponsibleUserID,
		&plan, &roles, &status, &d.Revision, &d.CreatedBy, &created, &updated, &live); err != nil {
		return nil, err
	}
	d.Plan = json.RawMessage(plan)
	d.StakeholderRoles = splitWords[ethos.Role](roles)
	d.Status = ethos.DeploymentStatus(status)
	d.CreatedAt, d.UpdatedAt, d.LiveAt = fromNanos(created), fromNanos(updated), fromNullNanos(live)
	return &d, nil
}

func (s *DeploymentStore) CreateDeployment(ctx context.Context, d *ethos.Deployment, first *ethos.DeploymentChange) error {
	return s.db.withTx(ctx, func(tx *sql.Tx) error {
		if ok, err := exists(ctx, tx, "projects", d.ProjectID); err != nil {
			return err
		} else if !ok {
			return ethos.Errorf(ethos.EINVALID, "project_id: project %s not found", d.ProjectID)
		}
		_, err := tx.ExecContext(ctx, "INSERT INTO deployments ("+deploymentCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
			d.ID, d.ProjectID, d.ModelVersionID, d.EvaluationID, d.Site, d.IntendedUse, d.Threshold, d.ResponsibleUserID, string(d.Plan),
			joinWords(d.StakeholderRoles), string(d.Status), d.Revision, d.CreatedBy, nanos(d.CreatedAt), nanos(d.UpdatedAt), nullNanos(d.LiveAt))
		if isUnique(err) {
			return ethos.Errorf(ethos.ECONFLICT, "deployment %s exists", d.ID)
		}
		if err != nil {
			return err
		}
		return insertChange(ctx, tx, first)
	})
}

func insertChange(ctx context.Context, tx *sql.Tx, c *ethos.DeploymentChange) error {
	_, err := tx.ExecContext(ctx, "INSERT INTO deployment_changes (deployment_id, seq, kind, from_value, to_value, reason, expected_effect, notified, by_user, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		c.DeploymentID, c.Seq, string(c.Kind), c.From, c.To, c.Reason, c.ExpectedEffect, joinWords(c.Notified), c.By, nanos(c.At))
	if isUnique(err) {
		return ethos.Errorf(ethos.ECONFLICT, "deployment %s changed underneath (change %d exists)", c.DeploymentID, c.Seq)
	}
	return err
}

func (s *DeploymentStore) FindDeploymentByID(ctx context.Context, id string) (*ethos.Deployment, error) {
	st, err := s.prepared(ctx, &s.findByID, "SELECT "+deploymentCols+" FROM deployments WHERE id = ?")
	if err != nil {
		return nil, err
	}
	d, err := scanDeployment(st.QueryRowContext(ctx, id))
	if noRows(err) {
		return nil, notFound("deployment", id)
	}
	return d, err
}

func (s *DeploymentStore) FindDeployments(ctx context.Context, f ethos.DeploymentFilter) ([]*ethos.Deployment, int, error) {
	var w where
	if f.ID != nil {
		w.add("id = ?", *f.ID)
	}
	if f.ProjectID != nil {
		w.add("project_id = ?", *f.ProjectID)
	}
	if f.ModelVersionID != nil {
		w.add("model_version_id = ?", *f.ModelVersionID)
	}
	if f.Status != nil {
		w.add("status = ?", string(*f.Status))
	}
	limit, offset := page(f.Offset, f.Limit)
	rows, err := s.db.db.QueryContext(ctx, "SELECT "+deploymentCols+" FROM deployments"+w.String()+" ORDER BY created_at, id LIMIT ? OFFSET ?", append(w.args, limit, offset)...)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	out := []*ethos.Deployment{}
	for rows.Next() {
		d, err := scanDeployment(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, err
	}
	n, err := s.db.count(ctx, "deployments", &w)
	return out, n, err
}

func (s *DeploymentStore) UpdateDeployment(ctx context.Context, d *ethos.Deployment, c *ethos.DeploymentChange) error {
	return s.db.withTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE deployments SET model_version_id = ?, evaluation_id = ?, site = ?, intended_use = ?, threshold = ?, responsible = ?,
			plan = ?, stakeholder_roles = ?, status = ?, revision = ?, updated_at = ?, live_at = ? WHERE id = ? AND revision = ?`,
			d.ModelVersionID, d.EvaluationID, d.Site, d.IntendedUse, d.Threshold, d.ResponsibleUserID, string(d.Plan), joinWords(d.StakeholderRoles),
			string(d.Status), d.Revision, nanos(d.UpdatedAt), nullNanos(d.LiveAt), d.ID, d.Revision-1)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n != 1 {
			if ok, err := exists(ctx, tx, "deployments", d.ID); err != nil {
				return err
			} else if !ok {
				return notFound("deployment", d.ID)
			}
			return ethos.Errorf(ethos.ECONFLICT, "deployment %s changed underneath (revision is no longer %d); reload and retry", d.ID, d.Revision-1)
		}
		return insertChange(ctx, tx, c)
	})
}

func (s *DeploymentStore) FindChanges(ctx context.Context, deploymentID string) ([]*ethos.DeploymentChange, error) {
	rows, err := s.db.db.QueryContext(ctx, "SELECT seq, kind, from_value, to_value, reason, expected_effect, notified, by_user, at FROM deployment_changes WHERE deployment_id = ? ORDER BY seq", deploymentID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []*ethos.DeploymentChange{}
	bySeq := map[int]*ethos.DeploymentChange{}
	for rows.Next() {
		c := ethos.DeploymentChange{DeploymentID: deploymentID, Acks: []ethos.ChangeAck{}}
		var kind, notified string
		var at int64
		if err := rows.Scan(&c.Seq, &kind, &c.From, &c.To, &c.Reason, &c.ExpectedEffect, &notified, &c.By, &at); err != nil {
			return nil, err
		}
		c.Kind, c.Notified, c.At = ethos.ChangeKind(kind), splitWords[ethos.Role](notified), fromNanos(at)
		out = append(out, &c)
		bySeq[c.Seq] = &c
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close()
	acks, err := s.db.db.QueryContext(ctx, "SELECT seq, user_id, role, at FROM deployment_change_acks WHERE deployment_id = ? ORDER BY seq, at, user_id, role", deploymentID)
	if err != nil {
		return nil, err
	}
	defer acks.Close()
	for acks.Next() {
		var seq int
		var a ethos.ChangeAck
		var role string
		var at int64
		if err := acks.Scan(&seq, &a.UserID, &role, &at); err != nil {
			return nil, err
		}
		a.Role, a.At = ethos.Role(role), fromNanos(at)
		if c := bySeq[seq]; c != nil {
			c.Acks = append(c.Acks, a)
		}
	}
	return out, acks.Err()
}

func (s *DeploymentStore) AddChangeAck(ctx context.Context, deploymentID string, seq int, a ethos.ChangeAck) error {
	return s.db.withTx(ctx, func(tx *sql.Tx) error {
		var one int
		err := tx.QueryRowContext(ctx, "SELECT 1 FROM deployment_changes WHERE deployment_id = ? AND seq = ?", deploymentID, seq).Scan(&one)
		if noRows(err) {
			return ethos.Errorf(ethos.ENOTFOUND, "deployment %s has no change %d", deploymentID, seq)
		}
		if err != nil {
			return err
		}
		// Acknowledging twice in the same role keeps the first.
		_, err = tx.ExecContext(ctx, "INSERT INTO deployment_change_acks (deployment_id, seq, user_id, role, at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (deployment_id, seq, user_id, role) DO NOTHING",
			deploymentID, seq, a.UserID, string(a.Role), nanos(a.At))
		return err
	})
}

// Risk registers

func (s *DeploymentStore) RiskRegister(ctx context.Context, deploymentID string) (*ethos.RiskRegister, error) {
	var body string
	err := s.db.db.QueryRowContext(ctx, "SELECT body FROM risk_registers WHERE deployment_id = ?", deploymentID).Scan(&body)
	if noRows(err) {
		return nil, ethos.Errorf(ethos.ENOTFOUND, "deployment %s has no risk register yet", deploymentID)
	}
	if err != nil {
		return nil, err
	}
	var reg ethos.RiskRegister
	if err := json.Unmarshal([]byte(body), &reg); err != nil {
		return nil, fmt.Errorf("risk register of deployment %s: stored body: %w", deploymentID, err)
	}
	return &reg, nil
}

func (s *DeploymentStore) PutRiskRegister(ctx context.Context, deploymentID string, reg *ethos.RiskRegister) error {
	body, err := json.Marshal(reg)
	if err != nil {
		return err
	}
	return s.db.withTx(ctx, func(tx *sql.Tx) error {
		if ok, err := exists(ctx, tx, "deployments", deploymentID); err != nil {
			return err
		} else if !ok {
			return notFound("deployment", deploymentID)
		}
		var cur int
		err := tx.QueryRowContext(ctx, "SELECT revision FROM risk_registers WHERE deployment_id = ?", deploymentID).Scan(&cur)
		switch {
		case noRows(err):
			cur = 0
		case err != nil:
			return err
		}
		if cur != reg.Revision-1 {
			return ethos.Errorf(ethos.ECONFLICT, "risk register of deployment %s is at revision %d; base the change on it", deploymentID, cur)
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO risk_registers (deployment_id, revision, body, updated_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (deployment_id) DO UPDATE SET revision = excluded.revision, body = excluded.body, updated_at = excluded.updated_at`,
			deploymentID, reg.Revision, string(body), nanos(reg.RevisedAt))
		return err
	})
}

func (s *DeploymentStore) UpdateRiskAcks(ctx context.Context, deploymentID string, revision int, acks []ethos.RiskAcknowledgement) error {
	return s.db.withTx(ctx, func(tx *sql.Tx) error {
		var body string
		err := tx.QueryRowContext(ctx, "SELECT body FROM risk_registers WHERE deployment_id = ? AND revision = ?", deploymentID, revision).Scan(&body)
		if noRows(err) {
			return ethos.Errorf(ethos.ECONFLICT, "risk register of deployment %s is not at revision %d", deploymentID, revision)
		}
		if err != nil {
			return err
		}
		var reg ethos.RiskRegister
		if err := json.Unmarshal([]byte(body), &reg); err != nil {
			return fmt.Errorf("risk register of deployment %s: stored body: %w", deploymentID, err)
		}
		reg.Acknowledgements = acks
		b, err := json.Marshal(&reg)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "UPDATE risk_registers SET body = ? WHERE deployment_id = ? AND revision = ?", string(b), deploymentID, revision)
		return err
	})
}

// Incidents

func (s *DeploymentStore) CreateIncident(ctx context.Context, inc *ethos.Incident) error {
	body, err := json.Marshal(inc)
	if err != nil {
		return err
	}
	return s.db.withTx(ctx, func(tx *sql.Tx) error {
		if ok, err := exists(ctx, tx, "deployments", inc.DeploymentID); err != nil {
			return err
		} else if !ok {
			return notFound("deployment", inc.DeploymentID)
		}
		now := nanos(s.db.Now())
		_, err := tx.ExecContext(ctx, "INSERT INTO incidents (id, deployment_id, status, aware_at, body, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
			inc.ID, inc.DeploymentID, string(inc.Status), nanos(inc.AwareAt), string(body), now, now)
		if isUnique(err) {
			return ethos.Errorf(ethos.ECONFLICT, "incident %s exists", inc.ID)
		}
		return err
	})
}

func (s *DeploymentStore) FindIncidents(ctx context.Context, f ethos.IncidentFilter) ([]*ethos.Incident, int, error) {
	var w where
	if f.ID != nil {
		w.add("id = ?", *f.ID)
	}
	if f.DeploymentID != nil {
		w.add("deployment_id = ?", *f.DeploymentID)
	}
	if f.Open {
		w.add("status <> ?", string(ethos.IncidentClosed))
	}
	limit, offset := page(f.Offset, f.Limit)
	rows, err := s.db.db.QueryContext(ctx, "SELECT body FROM incidents"+w.String()+" ORDER BY aware_at, id LIMIT ? OFFSET ?", append(w.args, limit, offset)...)
	if err != nil {
		return nil, 0, err
	}
	out, err := scanBodies[ethos.Incident](rows, "incident")
	if err != nil {
		return nil, 0, err
	}
	n, err := s.db.count(ctx, "incidents", &w)
	return out, n, err
}

func (s *DeploymentStore) PutIncident(ctx context.Context, inc *ethos.Incident) error {
	body, err := json.Marshal(inc)
	if err != nil {
		return err
	}
	res, err := s.db.db.ExecContext(ctx, "UPDATE incidents SET status = ?, aware_at = ?, body = ?, updated_at = ? WHERE id = ? AND deployment_id = ?",
		string(inc.Status), nanos(inc.AwareAt), string(body), nanos(s.db.Now()), inc.ID, inc.DeploymentID)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n != 1 {
		return notFound("incident", inc.ID)
	}
	return nil
}

// Attestations

func (s *DeploymentStore) AddAttestation(ctx context.Context, deploymentID string, a *ethos.Attestation) error {
	return s.db.withTx(ctx, func(tx *sql.Tx) error {
		if ok, err := exists(ctx, tx, "deployments", deploymentID); err != nil {
			return err
		} else if !ok {
			return notFound("deployment", deploymentID)
		}
		_, err := tx.ExecContext(ctx, "INSERT INTO compliance_attestations (deployment_id, item_id, user_id, role, at, reason, waiver) VALUES (?, ?, ?, ?, ?, ?, ?)",
			deploymentID, a.ItemID, a.UserID, string(a.Role), nanos(a.At), a.Reason, a.Waiver)
		if isUnique(err) {
			return ethos.Errorf(ethos.ECONFLICT, "an attestation of %s by %s at this instant exists", a.ItemID, a.UserID)
		}
		return err
	})
}

func (s *DeploymentStore) FindAttestations(ctx context.Context, deploymentID string) ([]ethos.Attestation, error) {
	rows, err := s.db.db.QueryContext(ctx, "SELECT item_id, user_id, role, at, reason, waiver FROM compliance_attestations WHERE deployment_id = ? ORDER BY at, item_id, user_id", deploymentID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []ethos.Attestation{}
	for rows.Next() {
		var a ethos.Attestation
		var role string
		var at int64
		if err := rows.Scan(&a.ItemID, &a.UserID, &role, &at, &a.Reason, &a.Waiver); err != nil {
			return nil, err
		}
		a.Role, a.At = ethos.Role(role), fromNanos(at)
		out = append(out, a)
	}
	return out, rows.Err()
}

// Inference events

const eventCols = "dkey, event_id, t, case_id, site, score, decision, latency_ms, reader_action, sex, age_band, manufacturer, model_name, software_version, body_part, protocol, modality, institution, kvp, slice_thickness, pixel_spacing, digest, received_at"

const eventColCount = 23

// prepared returns the statement kept in *dst, preparing query into it
// on first use.
func (s *DeploymentStore) prepared(ctx context.Context, dst **sql.Stmt, query string) (*sql.Stmt, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if *dst != nil {
		return *dst, nil
	}
	st, err := s.db.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	*dst = st
	return st, nil
}

// Close waits for queued event batches and releases the prepared
// statements.
func (s *DeploymentStore) Close() error {
	s.qmu.Lock()
	s.closed = true
	s.qmu.Unlock()
	s.writer.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, st := range []**sql.Stmt{&s.insertOne, &s.insertCol, &s.findByID} {
		if *st != nil {
			(*st).Close()
			*st = nil
		}
	}
	return nil
}

// errClash rolls back an atomic batch that reuses a stored id.
var errClash = errors.New("event id reused with other content")

// InsertEvents implements group commit: concurrent calls are queued and a
// single writer stores every queued batch in one transaction, an atomic
// batch inside its own savepoint (so one that clashes rolls back alone).
// One commit, and one fsync, then serves many requests.
func (s *DeploymentStore) InsertEvents(ctx context.Context, evs []*ethos.InferenceEvent, digests []string, atomic bool) ([]string, error) {
	if len(evs) != len(digests) {
		return nil, fmt.Errorf("insert events: %d events, %d digests", len(evs), len(digests))
	}
	if len(evs) == 0 {
		return []string{}, nil
	}
	req := &insertReq{evs: evs, digests: digests, atomic: atomic, lazy: syncDeferred(ctx), dup: make([]string, len(evs)), done: make(chan struct{})}
	s.qmu.Lock()
	if s.closed {
		s.qmu.Unlock()
		return nil, errors.New("insert events: store closed")
	}
	s.queue = append(s.queue, req)
	if !s.writing {
		s.writing = true
		s.writer.Add(1)
		go s.writeLoop()
	}
	s.qmu.Unlock()
	select {
	case <-req.done:
		return req.dup, req.err
	case <-ctx.Done():
		// The batch may still be stored; an idempotent retry is safe.
		return nil, ctx.Err()
	}
}

// insertReq is one queued batch.
type insertReq struct {
	evs     []*ethos.InferenceEvent
	digests []string
	atomic  bool
	lazy    bool // the caller commits durably afterwards (DeferSync)
	dup     []string
	err     error
	done    chan struct{}
}

// writeLoop stores queued batches until the queue is empty.
func (s *DeploymentStore) writeLoop() {
	defer s.writer.Done()
	for {
		s.qmu.Lock()
		group := s.queue
		s.queue = nil
		if len(group) == 0 {
			s.writing = false
			s.qmu.Unlock()
			return
		}
		s.qmu.Unlock()
		s.writeGroup(group)
	}
}

func (s *DeploymentStore) writeGroup(group []*insertReq) {
	ctx := context.Background()
	// The commit skips its flush only when every batch's caller makes a
	// durable commit afterwards (DeferSync).
	lazy := true
	for _, req := range group {
		lazy = lazy && req.lazy
	}
	var w groupWriter
	err := s.db.writeTx(ctx, lazy, func(tx *sql.Tx) error {
		w.newKeys = nil
		if s.rowWise && s.db.wconn != nil {
			w.raw = true
		} else if s.rowWise {
			st, err := s.prepared(ctx, &s.insertOne, insertOneSQL)
			if err != nil {
				return err
			}
			// database/sql prepares it once per connection and reuses it.
			w.one = tx.StmtContext(ctx, st)
			defer w.one.Close()
		}
		for _, req := range group {
			// Only an atomic batch can be undone alone (a clash); a
			// savepoint costs page copies, so others go without: any
			// error of theirs is the database's and fails the group.
			if !req.atomic {
				if err := s.insertInTx(ctx, tx, &w, req); err != nil {
					return err
				}
				continue
			}
			if _, err := tx.ExecContext(ctx, "SAVEPOINT batch"); err != nil {
				return err
			}
			keysBefore := maps.Clone(w.newKeys)
			err := s.insertInTx(ctx, tx, &w, req)
			if err == nil {
				if _, err := tx.ExecContext(ctx, "RELEASE SAVEPOINT batch"); err != nil {
					return err
				}
				continue
			}
			if _, rerr := tx.ExecContext(ctx, "ROLLBACK TO SAVEPOINT batch"); rerr != nil {
				return rerr
			}
			w.newKeys = keysBefore // a key given out in the savepoint is gone
			if _, rerr := tx.ExecContext(ctx, "RELEASE SAVEPOINT batch"); rerr != nil {
				return rerr
			}
			if !errors.Is(err, errClash) {
				return err
			}
		}
		return nil
	})
	if err == nil && len(w.newKeys) > 0 {
		s.kmu.Lock()
		maps.Copy(s.keys, w.newKeys) // committed: safe to remember
		s.kmu.Unlock()
	}
	for _, req := range group {
		if err != nil {
			req.err, req.dup = err, nil
		}
		close(req.done)
	}
}

// eventKey returns the event key of a deployment, from memory or from
// event_deployments (keys never change once committed); ok is false when
// the deployment has no key (no event was ever stored for it).
func (s *DeploymentStore) eventKey(ctx context.Context, q querier, deploymentID string) (int64, bool, error) {
	s.kmu.Lock()
	k, ok := s.keys[deploymentID]
	s.kmu.Unlock()
	if ok {
		return k, true, nil
	}
	err := q.QueryRowContext(ctx, "SELECT dkey FROM event_deployments WHERE deployment_id = ?", deploymentID).Scan(&k)
	if noRows(err) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("event key of deployment %s: %w", deploymentID, err)
	}
	if _, isTx := q.(*sql.Tx); !isTx {
		s.kmu.Lock()
		s.keys[deploymentID] = k
		s.kmu.Unlock()
	}
	return k, true, nil
}

// writeKey returns the event key of a deployment inside the writer's
// transaction, giving it the next number if it has none; a key given out
// is remembered only once the transaction committed (writeGroup).
func (s *DeploymentStore) writeKey(ctx context.Context, tx *sql.Tx, w *groupWriter, deploymentID string) (int64, error) {
	if k, ok := w.newKeys[deploymentID]; ok {
		return k, nil
	}
	k, ok, err := s.eventKey(ctx, tx, deploymentID)
	if err != nil || ok {
		return k, err
	}
	if err := tx.QueryRowContext(ctx, "SELECT COALESCE(MAX(dkey), 0) + 1 FROM event_deployments").Scan(&k); err != nil {
		return 0, fmt.Errorf("new event key: %w", err)
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO event_deployments (deployment_id, dkey) VALUES (?, ?)", deploymentID, k); err != nil {
		return 0, fmt.Errorf("new event key: %w", err)
	}
	if w.newKeys == nil {
		w.newKeys = map[string]int64{}
	}
	w.newKeys[deploymentID] = k
	return k, nil
}

// insertOneSQL stores one event; a stored id is left alone.
var insertOneSQL = "INSERT INTO inference_events (" + eventCols + ") VALUES " + valueRows(1, eventColCount) + " ON CONFLICT (dkey, event_id) DO NOTHING"

// groupWriter is the state of one group's transaction.
type groupWriter struct {
	newKeys map[string]int64 // event keys this transaction gave out
	keys    []int64          // the key of each event of the batch being written
	raw     bool             // SQLite's write connection: insertRowsRaw
	one     *sql.Stmt        // insertOneSQL prepared in the transaction (SQLite)
	args    []any
	named   []driver.NamedValue
}

// eventArgs appends the column values of e.
func eventArgs(args []any, key int64, e *ethos.InferenceEvent, digest string) []any {
	a := &e.Acquisition
	return append(args, key, e.EventID, nanos(e.Time), e.CaseID, e.Site, e.Score, e.Decision, floatArg(e.LatencyMS),
		string(e.Reader), e.Sex, e.AgeBand, a.Manufacturer, a.ModelName, a.SoftwareVersion, a.BodyPart, a.Protocol, a.Modality,
		a.InstitutionPseudo, floatArg(a.KVP), floatArg(a.SliceThickness), floatArg(a.PixelSpacing), digest, nanos(e.ReceivedAt))
}

// floatArg is a nullable float parameter: nil or the value. (A
// sql.NullFloat64 costs two allocations a parameter, boxing and Value.)
func floatArg(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

// storedDigest looks up the digest of an event that is already stored.
func storedDigest(ctx context.Context, tx *sql.Tx, key int64, e *ethos.InferenceEvent) (string, error) {
	var d string
	if err := tx.QueryRowContext(ctx, "SELECT digest FROM inference_events WHERE dkey = ? AND event_id = ?", key, e.EventID).Scan(&d); err != nil {
		return "", fmt.Errorf("look up stored event: %w", err)
	}
	return d, nil
}

// markStored records, for event i of the batch that was not inserted
// because its id is stored under dkey, the stored digest in dup; errClash
// when the batch is atomic and the stored content differs.
func (req *insertReq) markStored(ctx context.Context, tx *sql.Tx, i int, dkey int64) error {
	d, err := storedDigest(ctx, tx, dkey, req.evs[i])
	if err != nil {
		return err
	}
	req.dup[i] = d
	if req.atomic && d != req.digests[i] {
		return errClash
	}
	return nil
}

// insertRows writes a batch one INSERT a row. On SQLite this is cheaper
// than a multi-row VALUES: SQLite runs that as a multi-write statement
// that may abort (NOT NULL), so inside a transaction it keeps a
// statement journal, copying every page it touches (a tenth of the CPU
// of ingestion in the profile, spilled to a temporary file).
func (s *DeploymentStore) insertRows(ctx context.Context, tx *sql.Tx, w *groupWriter, req *insertReq) error {
	for i, e := range req.evs {
		w.args = eventArgs(w.args[:0], w.keys[i], e, req.digests[i])
		res, err := w.one.ExecContext(ctx, w.args...)
		if err != nil {
			return fmt.Errorf("insert events: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if n == 1 {
			continue
		}
		if err := req.markStored(ctx, tx, i, w.keys[i]); err != nil {
			return err
		}
	}
	return nil
}

// insertRowsRaw is insertRows on SQLite's write connection, below
// database/sql: the transaction tx runs on that connection, so the
// driver's statement executes inside it. database/sql converted the 23
// arguments of every row into a fresh slice and wrapped every result (a
// third of the bytes allocated per stored event, and their garbage
// collection); here one slice serves every row, and the statement stays
// prepared on the connection. Rows that were not inserted (their id is
// stored) are looked up afterwards through tx.
func (s *DeploymentStore) insertRowsRaw(ctx context.Context, tx *sql.Tx, w *groupWriter, req *insertReq) error {
	var missed []int
	_, err := s.db.rawWrite(func(prepare func(context.Context, string) (driver.Stmt, error)) error {
		st, err := prepare(ctx, insertOneSQL)
		if err != nil {
			return fmt.Errorf("insert events: %w", err)
		}
		ex, ok := st.(driver.StmtExecContext)
		if !ok {
			return fmt.Errorf("insert events: driver statement %T cannot execute", st)
		}
		if len(w.named) != eventColCount {
			w.named = make([]driver.NamedValue, eventColCount)
		}
		for i, e := range req.evs {
			w.args = eventArgs(w.args[:0], w.keys[i], e, req.digests[i])
			for j, a := range w.args {
				w.named[j] = driver.NamedValue{Ordinal: j + 1, Value: a}
			}
			res, err := ex.ExecContext(ctx, w.named)
			if err != nil {
				return fmt.Errorf("insert events: %w", err)
			}
			n, err := res.RowsAffected()
			if err != nil {
				return err
			}
			if n != 1 {
				missed = append(missed, i)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, i := range missed {
		if err := req.markStored(ctx, tx, i, w.keys[i]); err != nil {
			return err
		}
	}
	return nil
}

// insertInTx writes one batch; errClash when an atomic batch reuses a
// stored id with other content.
func (s *DeploymentStore) insertInTx(ctx context.Context, tx *sql.Tx, w *groupWriter, req *insertReq) error {
	w.keys = w.keys[:0]
	last, key := "", int64(0)
	for _, e := range req.evs {
		if e.DeploymentID != last || last == "" {
			k, err := s.writeKey(ctx, tx, w, e.DeploymentID)
			if err != nil {
				return err
			}
			last, key = e.DeploymentID, k
		}
		w.keys = append(w.keys, key)
	}
	if w.raw {
		return s.insertRowsRaw(ctx, tx, w, req)
	}
	if w.one != nil {
		return s.insertRows(ctx, tx, w, req)
	}
	return s.insertColumns(ctx, tx, w, req)
}

// insertColumnsSQL stores a batch sent as one array per column: the
// arrays are unnested side by side into rows. PostgreSQL only (unnest and
// typed arrays); see insertColumns.
const insertColumnsSQL = "INSERT INTO inference_events (" + eventCols + ") SELECT * FROM unnest(" +
	"?::bigint[], ?::text[], ?::bigint[], ?::text[], ?::text[], ?::float8[], ?::boolean[], ?::float8[], " +
	"?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], " +
	"?::float8[], ?::float8[], ?::float8[], ?::text[], ?::bigint[]) ON CONFLICT (dkey, event_id) DO NOTHING RETURNING event_id"

// eventColumns is a batch of events as one slice per column, in
// eventCols order; nullable numbers are pointers (NULL when nil).
type eventColumns struct {
	dkey, t, received                          []int64
	id, caseID, site, reader, sex, age         []string
	manufacturer, modelName, software, body    []string
	protocol, modality, institution, digest    []string
	score                                      []float64
	decision                                   []bool
	latency, kvp, sliceThickness, pixelSpacing []*float64
}

func (c *eventColumns) args(keys []int64, evs []*ethos.InferenceEvent, digests []string) []any {
	n := len(evs)
	*c = eventColumns{dkey: keys[:n], t: make([]int64, 0, n), received: make([]int64, 0, n),
		id: make([]string, 0, n), caseID: make([]string, 0, n), site: make([]string, 0, n), reader: make([]string, 0, n),
		sex: make([]string, 0, n), age: make([]string, 0, n), manufacturer: make([]string, 0, n), modelName: make([]string, 0, n),
		software: make([]string, 0, n), body: make([]string, 0, n), protocol: make([]string, 0, n), modality: make([]string, 0, n),
		institution: make([]string, 0, n), digest: digests[:n], score: make([]float64, 0, n), decision: make([]bool, 0, n),
		latency: make([]*float64, 0, n), kvp: make([]*float64, 0, n), sliceThickness: make([]*float64, 0, n), pixelSpacing: make([]*float64, 0, n)}
	for _, e := range evs {
		a := &e.Acquisition
		c.t = append(c.t, nanos(e.Time))
		c.received = append(c.received, nanos(e.ReceivedAt))
		c.id = append(c.id, e.EventID)
		c.caseID = append(c.caseID, e.CaseID)
		c.site = append(c.site, e.Site)
		c.reader = append(c.reader, string(e.Reader))
		c.sex = append(c.sex, e.Sex)
		c.age = append(c.age, e.AgeBand)
		c.manufacturer = append(c.manufacturer, a.Manufacturer)
		c.modelName = append(c.modelName, a.ModelName)
		c.software = append(c.software, a.SoftwareVersion)
		c.body = append(c.body, a.BodyPart)
		c.protocol = append(c.protocol, a.Protocol)
		c.modality = append(c.modality, a.Modality)
		c.institution = append(c.institution, a.InstitutionPseudo)
		c.score = append(c.score, e.Score)
		c.decision = append(c.decision, e.Decision)
		c.latency = append(c.latency, e.LatencyMS)
		c.kvp = append(c.kvp, a.KVP)
		c.sliceThickness = append(c.sliceThickness, a.SliceThickness)
		c.pixelSpacing = append(c.pixelSpacing, a.PixelSpacing)
	}
	return []any{c.dkey, c.id, c.t, c.caseID, c.site, c.score, c.decision, c.latency, c.reader, c.sex, c.age,
		c.manufacturer, c.modelName, c.software, c.body, c.protocol, c.modality, c.institution,
		c.kvp, c.sliceThickness, c.pixelSpacing, c.digest, c.received}
}

// insertColumns writes a batch on PostgreSQL in one statement with one
// array parameter a column (23 parameters whatever the batch size). The
// multi-row VALUES it replaces sent 1,150 parameters a statement, two
// statements a batch of 100: PostgreSQL parsed, bound and planned every
// one, and that, not the rows, was most of its CPU per event
// (docs/benchmarks-deploy.md, session 5). RETURNING names the rows
// written; the others were stored before (or earlier in the batch) and
// are looked up.
func (s *DeploymentStore) insertColumns(ctx context.Context, tx *sql.Tx, w *groupWriter, req *insertReq) error {
	st, err := s.prepared(ctx, &s.insertCol, insertColumnsSQL)
	if err != nil {
		return err
	}
	var c eventColumns
	rows, err := tx.StmtContext(ctx, st).QueryContext(ctx, c.args(w.keys, req.evs, req.digests)...)
	if err != nil {
		return fmt.Errorf("insert events: %w", err)
	}
	inserted := make(map[string]bool, len(req.evs))
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return err
		}
		inserted[id] = true
	}
	if err := rows.Close(); err != nil {
		return err
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("insert events: %w", err)
	}
	if len(inserted) == len(req.evs) {
		return nil
	}
	// An id written by this statement belongs to its first occurrence in
	// the batch; a later one is a repeat and reports the stored digest,
	// as on SQLite, which writes row by row.
	for i, e := range req.evs {
		if inserted[e.EventID] {
			delete(inserted, e.EventID)
			continue
		}
		if err := req.markStored(ctx, tx, i, w.keys[i]); err != nil {
			return err
		}
	}
	return nil
}

func (s *DeploymentStore) UpsertLabels(ctx context.Context, deploymentID string, labels []*ethos.EventLabel, atomic bool) ([]bool, error) {
	known := make([]bool, len(labels))
	recorded := nanos(s.db.Now())
	key, hasKey, err := s.eventKey(ctx, s.db.db, deploymentID)
	if err != nil || !hasKey {
		return known, err // no event stored: every case is unknown
	}
	err = s.db.withTx(ctx, func(tx *sql.Tx) error {
		for i, l := range labels {
			var one int
			err := tx.QueryRowContext(ctx, "SELECT 1 FROM inference_events WHERE dkey = ? AND case_id = ? LIMIT 1", key, l.CaseID).Scan(&one)
			if noRows(err) {
				continue
			}
			if err != nil {
				return err
			}
			known[i] = true
		}
		if atomic {
			for _, k := range known {
				if !k {
					return nil // the caller reports; nothing is written
				}
			}
		}
		for i, l := range labels {
			if !known[i] {
				continue
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO event_labels (deployment_id, case_id, positive, source, at, recorded_by, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?)
				ON CONFLICT (deployment_id, case_id) DO UPDATE SET positive = excluded.positive, source = excluded.source, at = excluded.at,
				recorded_by = excluded.recorded_by, recorded_at = excluded.recorded_at`,
				deploymentID, l.CaseID, l.Positive, string(l.Source), nanos(l.At), l.RecordedBy, recorded); err != nil {
				return err
			}
		}
		return nil
	})
	return known, err
}

// LabelledEventTimes implements ethos.LabelArrivals: the times of the
// events whose label was stored in (after, upTo].
func (s *DeploymentStore) LabelledEventTimes(ctx context.Context, deploymentID string, after, upTo time.Time) ([]time.Time, error) {
	key, ok, err := s.eventKey(ctx, s.db.db, deploymentID)
	if err != nil || !ok {
		return nil, err
	}
	rows, err := s.db.db.QueryContext(ctx, `SELECT e.t FROM event_labels l JOIN inference_events e ON e.dkey = ? AND e.case_id = l.case_id
		WHERE l.deployment_id = ? AND l.recorded_at > ? AND l.recorded_at <= ?`, key, deploymentID, nanos(after), nanos(upTo))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []time.Time
	for rows.Next() {
		var t int64
		if err := rows.Scan(&t); err != nil {
			return nil, err
		}
		out = append(out, fromNanos(t))
	}
	return out, rows.Err()
}

var _ ethos.LabelArrivals = (*DeploymentStore)(nil)

func (s *DeploymentStore) EventStats(ctx context.Context, deploymentID string) (*ethos.EventStats, error) {
	var st ethos.EventStats
	var first, last, recv sql.NullInt64
	key, ok, err := s.eventKey(ctx, s.db.db, deploymentID)
	if err != nil {
		return nil, err
	}
	if ok {
		if err := s.db.db.QueryRowContext(ctx, "SELECT COUNT(*), MIN(t), MAX(t), MAX(received_at) FROM inference_events WHERE dkey = ?", key).
			Scan(&st.Count, &first, &last, &recv); err != nil {
			return nil, err
		}
	}
	if first.Valid {
		st.FirstTime, st.LastTime, st.LastReceivedAt = fromNanos(first.Int64), fromNanos(last.Int64), fromNanos(recv.Int64)
	}
	if err := s.db.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM event_labels WHERE deployment_id = ?", deploymentID).Scan(&st.Labelled); err != nil {
		return nil, err
	}
	return &st, nil
}

// ScanEvents implements ethos.InferenceEventReader: events of one
// deployment in time order (then event id), labels attached by case id.
func (s *DeploymentStore) ScanEvents(ctx context.Context, f ethos.EventFilter, fn func(*ethos.InferenceEvent) error) error {
	key, ok, err := s.eventKey(ctx, s.db.db, f.DeploymentID)
	if err != nil || !ok {
		return err
	}
	w := where{}
	w.add("e.dkey = ?", key)
	if !f.From.IsZero() {
		w.add("e.t >= ?", nanos(f.From))
	}
	if !f.To.IsZero() {
		w.add("e.t < ?", nanos(f.To))
	}
	if f.Site != "" {
		w.add("e.site = ?", f.Site)
	}
	q := `SELECT e.event_id, e.t, e.case_id, e.site, e.score, e.decision, e.latency_ms, e.reader_action, e.sex, e.age_band, e.manufacturer, e.model_name,
		e.software_version, e.body_part, e.protocol, e.modality, e.institution, e.kvp, e.slice_thickness, e.pixel_spacing, e.received_at,
		l.positive, l.source, l.at, l.recorded_by
		FROM inference_events e LEFT JOIN event_labels l ON l.deployment_id = ? AND l.case_id = e.case_id` + w.String() + " ORDER BY e.t, e.event_id"
	rows, err := s.db.db.QueryContext(ctx, q, append([]any{f.DeploymentID}, w.args...)...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		e := ethos.InferenceEvent{DeploymentID: f.DeploymentID}
		a := &e.Acquisition
		var t, recv int64
		var reader string
		var lat, kvp, slice, spacing sql.NullFloat64
		var lpos sql.NullBool
		var lsrc, lby sql.NullString
		var lat2 sql.NullInt64
		if err := rows.Scan(&e.EventID, &t, &e.CaseID, &e.Site, &e.Score, &e.Decision, &lat, &reader, &e.Sex, &e.AgeBand, &a.Manufacturer, &a.ModelName,
			&a.SoftwareVersion, &a.BodyPart, &a.Protocol, &a.Modality, &a.InstitutionPseudo, &kvp, &slice, &spacing, &recv,
			&lpos, &lsrc, &lat2, &lby); err != nil {
			return err
		}
		e.Time, e.ReceivedAt, e.Reader = fromNanos(t), fromNanos(recv), ethos.ReaderAction(reader)
		e.LatencyMS, a.KVP, a.SliceThickness, a.PixelSpacing = floatPtr(lat), floatPtr(kvp), floatPtr(slice), floatPtr(spacing)
		if lpos.Valid {
			e.Label = &ethos.EventLabel{CaseID: e.CaseID, Positive: lpos.Bool, Source: ethos.LabelSource(lsrc.String), At: fromNanos(lat2.Int64), RecordedBy: lby.String}
		}
		if err := fn(&e); err != nil {
			return err
		}
	}
	return rows.Err()
}

func floatPtr(n sql.NullFloat64) *float64 {
	if !n.Valid {
		return nil
	}
	v := n.Float64
	return &v
}
