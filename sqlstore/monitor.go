package sqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ethos-imaging/ethos"
)

// MonitorService implements ethos.MonitorStore: monitoring plans and the
// engine state carried between runs, runs, window results, alerts,
// stop-rule cases and webhook deliveries (QC-DEP-1).
type MonitorService struct{ db *DB }

// NewMonitorService returns the monitoring store over db.
func NewMonitorService(db *DB) *MonitorService { return &MonitorService{db: db} }

var _ ethos.MonitorStore = (*MonitorService)(nil)

func newMonitorID(prefix string) string {
	var b [10]byte
	rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// PutPlan stores a validated plan for its deployment. A changed plan keeps
// the engine state and the windows already checked.
func (s *MonitorService) PutPlan(ctx context.Context, p *ethos.MonitoringPlan, by string) error {
	if err := p.Validate(); err != nil {
		return err
	}
	if p.DeploymentID == "" {
		return ethos.Errorf(ethos.EINVALID, "monitoring plan: deployment_id is required")
	}
	body, err := json.Marshal(p)
	if err != nil {
		return err
	}
	now := nanos(s.db.Now())
	_, err = s.db.db.ExecContext(ctx, `INSERT INTO monitor_plans (deployment_id, project_id, body, state, checked_to, updated_at, updated_by)
		VALUES (?, ?, ?, '{}', 0, ?, ?)
		ON CONFLICT (deployment_id) DO UPDATE SET project_id = excluded.project_id, body = excluded.body, updated_at = excluded.updated_at, updated_by = excluded.updated_by`,
		p.DeploymentID, p.ProjectID, string(body), now, by)
	return err
}

func scanPlan(sc interface{ Scan(...any) error }) (*ethos.MonitorPlanRecord, error) {
	var body, state, by string
	var checked, updated int64
	if err := sc.Scan(&body, &state, &checked, &updated, &by); err != nil {
		return nil, err
	}
	var p ethos.MonitoringPlan
	if err := json.Unmarshal([]byte(body), &p); err != nil {
		return nil, fmt.Errorf("monitor plan row: %w", err)
	}
	rec := &ethos.MonitorPlanRecord{Plan: &p, UpdatedAt: fromNanos(updated), UpdatedBy: by, State: json.RawMessage(state)}
	if checked != 0 {
		rec.CheckedTo = fromNanos(checked)
	}
	return rec, nil
}

const planCols = `body, state, checked_to, updated_at, updated_by`

func (s *MonitorService) FindPlan(ctx context.Context, deploymentID string) (*ethos.MonitorPlanRecord, error) {
	rec, err := scanPlan(s.db.db.QueryRowContext(ctx, `SELECT `+planCols+` FROM monitor_plans WHERE deployment_id = ?`, deploymentID))
	if noRows(err) {
		return nil, notFound("monitoring plan of deployment", deploymentID)
	}
	return rec, err
}

func (s *MonitorService) ListPlans(ctx context.Context) ([]*ethos.MonitorPlanRecord, error) {
	rows, err := s.db.db.QueryContext(ctx, `SELECT `+planCols+` FROM monitor_plans ORDER BY deployment_id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*ethos.MonitorPlanRecord
	for rows.Next() {
		rec, err := scanPlan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, rec)
	}
	return out, rows.Err()
}

// SaveRun stores everything a run changed in one transaction.
func (s *MonitorService) SaveRun(ctx context.Context, o *ethos.RunOutcome) error {
	r := o.Run
	if r == nil || r.DeploymentID == "" {
		return ethos.Errorf(ethos.EINVALID, "monitor run: the run and its deployment are required")
	}
	if r.ID == "" {
		r.ID = newMonitorID("run-")
	}
	return s.db.withTx(ctx, func(tx *sql.Tx) error {
		var one int
		if err := tx.QueryRowContext(ctx, `SELECT 1 FROM monitor_plans WHERE deployment_id = ?`, r.DeploymentID).Scan(&one); err != nil {
			if noRows(err) {
				return notFound("monitoring plan of deployment", r.DeploymentID)
			}
			return err
		}
		body, _ := json.Marshal(r)
		if _, err := tx.ExecContext(ctx, `INSERT INTO monitor_runs (id, deployment_id, kind, started_at, body) VALUES (?, ?, ?, ?, ?)`,
			r.ID, r.DeploymentID, r.Kind, nanos(r.StartedAt), string(body)); err != nil {
			return fmt.Errorf("insert run: %w", err)
		}
		for _, w := range o.Windows {
			w.RunID = r.ID
			wb, _ := json.Marshal(w)
			if _, err := tx.ExecContext(ctx, `INSERT INTO monitor_windows (deployment_id, start_at, end_at, part, run_id, body) VALUES (?, ?, ?, ?, ?, ?)
				ON CONFLICT (deployment_id, start_at, end_at, part) DO UPDATE SET run_id = excluded.run_id, body = excluded.body`,
				r.DeploymentID, nanos(w.Start), nanos(w.End), w.Part, r.ID, string(wb)); err != nil {
				return fmt.Errorf("store window: %w", err)
			}
		}
		for _, ch := range o.Changes {
			if err := s.applyChange(ctx, tx, r.DeploymentID, ch); err != nil {
				return err
			}
		}
		for _, c := range o.Cases {
			if err := s.openCase(ctx, tx, c); err != nil {
				return err
			}
		}
		if len(o.State) > 0 || !o.CheckedTo.IsZero() {
			state := string(o.State)
			if state == "" {
				state = "{}"
			}
			if _, err := tx.ExecContext(ctx, `UPDATE monitor_plans SET state = ?, checked_to = ? WHERE deployment_id = ?`,
				state, nanos(o.CheckedTo), r.DeploymentID); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *MonitorService) applyChange(ctx context.Context, tx *sql.Tx, dep string, ch ethos.AlertChange) error {
	if a := ch.Raise; a != nil {
		if a.ID == "" {
			a.ID = newMonitorID("alr-")
		}
		a.DeploymentID = dep
		b, _ := json.Marshal(a)
		_, err := tx.ExecContext(ctx, `INSERT INTO monitor_alerts (id, deployment_id, site, identity, state, triaged_at, raised_at, body) VALUES (?, ?, ?, ?, ?, 0, ?, ?)`,
			a.ID, dep, a.Site, ethos.AlertIdentity(a.RuleID, a.Key, a.Site), a.State, nanos(a.RaisedAt), string(b))
		if isUnique(err) {
			return ethos.Errorf(ethos.ECONFLICT, "alert %s %s is active already", a.RuleID, a.Key)
		}
		return err
	}
	var id, body string
	err := tx.QueryRowContext(ctx, `SELECT id, body FROM monitor_alerts WHERE deployment_id = ? AND identity = ? AND state = 'active'`, dep, ch.Clear).Scan(&id, &body)
	if noRows(err) {
		return nil // cleared already (an earlier run), nothing to do
	}
	if err != nil {
		return err
	}
	return updateAlert(ctx, tx, id, body, func(a *ethos.Alert) error {
		at := ch.At.UTC()
		a.State, a.ClearedAt = ethos.AlertCleared, &at
		return nil
	})
}

func updateAlert(ctx context.Context, tx *sql.Tx, id, body string, fn func(a *ethos.Alert) error) error {
	var a ethos.Alert
	if err := json.Unmarshal([]byte(body), &a); err != nil {
		return fmt.Errorf("alert row %s: %w", id, err)
	}
	if err := fn(&a); err != nil {
		return err
	}
	var triaged int64
	if a.TriagedAt != nil {
		triaged = nanos(*a.TriagedAt)
	}
	b, _ := json.Marshal(&a)
	_, err := tx.ExecContext(ctx, `UPDATE monitor_alerts SET state = ?, triaged_at = ?, body = ? WHERE id = ?`, a.State, triaged, string(b), id)
	return err
}

// openCase opens c, or adds its alerts to the open case of the same
// deployment, stop-rule and site; either way the alerts are linked.
func (s *MonitorService) openCase(ctx context.Context, tx *sql.Tx, c *ethos.StopCase) error {
	var id, body string
	err := tx.QueryRowContext(ctx, `SELECT id, body FROM monitor_cases WHERE deployment_id = ? AND stop_rule = ? AND site = ? AND state = 'open'`,
		c.DeploymentID, c.StopRuleID, c.Site).Scan(&id, &body)
	switch {
	case noRows(err):
		if c.ID == "" {
			c.ID = newMonitorID("case-")
		}
		c.State = ethos.CaseOpen
		b, _ := json.Marshal(c)
		if _, err := tx.ExecContext(ctx, `INSERT INTO monitor_cases (id, deployment_id, site, stop_rule, state, opened_at, due_at, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			c.ID, c.DeploymentID, c.Site, c.StopRuleID, c.State, nanos(c.OpenedAt), nanos(c.DueAt), string(b)); err != nil {
			return fmt.Errorf("open case: %w", err)
		}
	case err != nil:
		return err
	default:
		var open ethos.StopCase
		if err := json.Unmarshal([]byte(body), &open); err != nil {
			return fmt.Errorf("case row %s: %w", id, err)
		}
		for _, a := range c.AlertIDs {
			if !slices.Contains(open.AlertIDs, a) {
				open.AlertIDs = append(open.AlertIDs, a)
			}
		}
		b, _ := json.Marshal(&open)
		if _, err := tx.ExecContext(ctx, `UPDATE monitor_cases SET body = ? WHERE id = ?`, string(b), id); err != nil {
			return err
		}
		*c = open
	}
	for _, aid := range c.AlertIDs {
		var abody string
		if err := tx.QueryRowContext(ctx, `SELECT body FROM monitor_alerts WHERE id = ?`, aid).Scan(&abody); err != nil {
			if noRows(err) {
				return ethos.Errorf(ethos.EINVALID, "case %s names unknown alert %s", c.ID, aid)
			}
			return err
		}
		if err := updateAlert(ctx, tx, aid, abody, func(a *ethos.Alert) error {
			if a.CaseID == "" {
				a.CaseID = c.ID
			}
			return nil
		}); err != nil {
			return err
		}
	}
	return nil
}

func (s *MonitorService) FindWindows(ctx context.Context, deploymentID string, from, to time.Time) ([]*ethos.WindowResult, error) {
	w := where{}
	w.add("deployment_id = ?", deploymentID)
	if !from.IsZero() {
		w.add("end_at > ?", nanos(from))
	}
	if !to.IsZero() {
		w.add("start_at < ?", nanos(to))
	}
	rows, err := s.db.db.QueryContext(ctx, `SELECT body FROM monitor_windows`+w.String()+` ORDER BY start_at, part LIMIT 10000`, w.args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*ethos.WindowResult
	for rows.Next() {
		var b string
		if err := rows.Scan(&b); err != nil {
			return nil, err
		}
		var wr ethos.WindowResult
		if err := json.Unmarshal([]byte(b), &wr); err != nil {
			return nil, fmt.Errorf("window row: %w", err)
		}
		out = append(out, &wr)
	}
	return out, rows.Err()
}

func (s *MonitorService) FindRuns(ctx context.Context, deploymentID string, limit int) ([]*ethos.MonitorRun, error) {
	limit, _ = page(0, limit)
	rows, err := s.db.db.QueryContext(ctx, `SELECT body FROM monitor_runs WHERE deployment_id = ? ORDER BY started_at DESC, id LIMIT ?`, deploymentID, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*ethos.MonitorRun
	for rows.Next() {
		var b string
		if err := rows.Scan(&b); err != nil {
			return nil, err
		}
		var r ethos.MonitorRun
		if err := json.Unmarshal([]byte(b), &r); err != nil {
			return nil, fmt.Errorf("run row: %w", err)
		}
		out = append(out, &r)
	}
	return out, rows.Err()
}

func (s *MonitorService) FindAlerts(ctx context.Context, f ethos.AlertFilter) ([]*ethos.Alert, int, error) {
	var w where
	if f.DeploymentID != "" {
		w.add("deployment_id = ?", f.DeploymentID)
	}
	if f.Site != nil {
		w.add("site = ?", *f.Site)
	}
	if f.State != "" {
		w.add("state = ?", f.State)
	}
	if f.Untriaged {
		w.add("triaged_at = ?", 0)
	}
	n, err := s.db.count(ctx, "monitor_alerts", &w)
	if err != nil {
		return nil, 0, err
	}
	limit, offset := page(f.Offset, f.Limit)
	rows, err := s.db.db.QueryContext(ctx, `SELECT body FROM monitor_alerts`+w.String()+` ORDER BY raised_at, id LIMIT ? OFFSET ?`, append(w.args, limit, offset)...)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var out []*ethos.Alert
	for rows.Next() {
		var b string
		if err := rows.Scan(&b); err != nil {
			return nil, 0, err
		}
		var a ethos.Alert
		if err := json.Unmarshal([]byte(b), &a); err != nil {
			return nil, 0, fmt.Errorf("alert row: %w", err)
		}
		out = append(out, &a)
	}
	return out, n, rows.Err()
}

func (s *MonitorService) FindAlertByID(ctx context.Context, id string) (*ethos.Alert, error) {
	var b string
	err := s.db.db.QueryRowContext(ctx, `SELECT body FROM monitor_alerts WHERE id = ?`, id).Scan(&b)
	if noRows(err) {
		return nil, notFound("alert", id)
	}
	if err != nil {
		return nil, err
	}
	var a ethos.Alert
	if err := json.Unmarshal([]byte(b), &a); err != nil {
		return nil, fmt.Errorf("alert row: %w", err)
	}
	return &a, nil
}

// changeAlert reads, changes and writes one alert in a transaction.
func (s *MonitorService) changeAlert(ctx context.Context, id string, fn func(a *ethos.Alert) error) (*ethos.Alert, error) {
	var out ethos.Alert
	err := s.db.withTx(ctx, func(tx *sql.Tx) error {
		var b string
		err := tx.QueryRowContext(ctx, `SELECT body FROM monitor_alerts WHERE id = ?`, id).Scan(&b)
		if noRows(err) {
			return notFound("alert", id)
		}
		if err != nil {
			return err
		}
		return updateAlert(ctx, tx, id, b, func(a *ethos.Alert) error {
			if err := fn(a); err != nil {
				return err
			}
			out = *a
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// AcknowledgeAlert records that a person has seen the alert. A second
// acknowledgement is a conflict naming the first.
func (s *MonitorService) AcknowledgeAlert(ctx context.Context, id, by string) (*ethos.Alert, error) {
	if by == "" {
		return nil, ethos.Errorf(ethos.EINVALID, "acknowledging an alert needs the person")
	}
	return s.changeAlert(ctx, id, func(a *ethos.Alert) error {
		if a.AckBy != "" {
			return ethos.Errorf(ethos.ECONFLICT, "alert %s was acknowledged by %s at %s", id, a.AckBy, a.AckAt.Format(time.RFC3339))
		}
		now := s.db.Now().UTC()
		a.AckBy, a.AckAt = by, &now
		return nil
	})
}

// TriageAlert records a person's triage decision and reason (which also
// acknowledges the alert). A decision may be revised only while it is
// "investigating".
func (s *MonitorService) TriageAlert(ctx context.Context, id, decision, reason, by string) (*ethos.Alert, error) {
	if !slices.Contains(ethos.TriageDecisions, decision) {
		return nil, ethos.Errorf(ethos.EINVALID, "triage decision: want one of %s", strings.Join(ethos.TriageDecisions, ", "))
	}
	if strings.TrimSpace(reason) == "" || by == "" {
		return nil, ethos.Errorf(ethos.EINVALID, "a triage decision needs a reason and the person deciding")
	}
	return s.changeAlert(ctx, id, func(a *ethos.Alert) error {
		if a.Triage != "" && a.Triage != ethos.TriageInvestigate {
			return ethos.Errorf(ethos.ECONFLICT, "alert %s was triaged %q by %s", id, a.Triage, a.TriagedBy)
		}
		now := s.db.Now().UTC()
		if a.AckBy == "" {
			a.AckBy, a.AckAt = by, &now
		}
		a.Triage, a.TriageReason, a.TriagedBy, a.TriagedAt = decision, reason, by, &now
		return nil
	})
}

func scanCase(b string) (*ethos.StopCase, error) {
	var c ethos.StopCase
	if err := json.Unmarshal([]byte(b), &c); err != nil {
		return nil, fmt.Errorf("case row: %w", err)
	}
	return &c, nil
}

func (s *MonitorService) FindCases(ctx context.Context, f ethos.CaseFilter) ([]*ethos.StopCase, int, error) {
	var w where
	if f.DeploymentID != "" {
		w.add("deployment_id = ?", f.DeploymentID)
	}
	if f.State != "" {
		w.add("state = ?", f.State)
	}
	n, err := s.db.count(ctx, "monitor_cases", &w)
	if err != nil {
		return nil, 0, err
	}
	limit, offset := page(f.Offset, f.Limit)
	rows, err := s.db.db.QueryContext(ctx, `SELECT body FROM monitor_cases`+w.String()+` ORDER BY opened_at, id LIMIT ? OFFSET ?`, append(w.args, limit, offset)...)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var out []*ethos.StopCase
	for rows.Next() {
		var b string
		if err := rows.Scan(&b); err != nil {
			return nil, 0, err
		}
		c, err := scanCase(b)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, c)
	}
	return out, n, rows.Err()
}

func (s *MonitorService) FindCaseByID(ctx context.Context, id string) (*ethos.StopCase, error) {
	var b string
	err := s.db.db.QueryRowContext(ctx, `SELECT body FROM monitor_cases WHERE id = ?`, id).Scan(&b)
	if noRows(err) {
		return nil, notFound("case", id)
	}
	if err != nil {
		return nil, err
	}
	return scanCase(b)
}

// DecideCase records a person's decision on an open case, with a reason.
func (s *MonitorService) DecideCase(ctx context.Context, id, decision, reason, by string) (*ethos.StopCase, error) {
	if !slices.Contains(ethos.CaseDecisions, decision) {
		return nil, ethos.Errorf(ethos.EINVALID, "case decision: want one of %s", strings.Join(ethos.CaseDecisions, ", "))
	}
	if strings.TrimSpace(reason) == "" || by == "" {
		return nil, ethos.Errorf(ethos.EINVALID, "a case decision needs a reason and the person deciding")
	}
	var out *ethos.StopCase
	err := s.db.withTx(ctx, func(tx *sql.Tx) error {
		var b string
		err := tx.QueryRowContext(ctx, `SELECT body FROM monitor_cases WHERE id = ?`, id).Scan(&b)
		if noRows(err) {
			return notFound("case", id)
		}
		if err != nil {
			return err
		}
		c, err := scanCase(b)
		if err != nil {
			return err
		}
		if c.State != ethos.CaseOpen {
			return ethos.Errorf(ethos.ECONFLICT, "case %s was decided (%s) by %s", id, c.Decision, c.DecidedBy)
		}
		now := s.db.Now().UTC()
		c.State, c.Decision, c.Reason, c.DecidedBy, c.DecidedAt = ethos.CaseDecided, decision, reason, by, &now
		nb, _ := json.Marshal(c)
		if _, err := tx.ExecContext(ctx, `UPDATE monitor_cases SET state = ?, body = ? WHERE id = ?`, c.State, string(nb), id); err != nil {
			return err
		}
		out = c
		return nil
	})
	return out, err
}

// SetCaseSuspension records the outcome of asking the registry to suspend
// the deployment of a case.
func (s *MonitorService) SetCaseSuspension(ctx context.Context, id string, requested bool, errText string) error {
	return s.db.withTx(ctx, func(tx *sql.Tx) error {
		var b string
		if err := tx.QueryRowContext(ctx, `SELECT body FROM monitor_cases WHERE id = ?`, id).Scan(&b); err != nil {
			if noRows(err) {
				return notFound("case", id)
			}
			return err
		}
		c, err := scanCase(b)
		if err != nil {
			return err
		}
		c.SuspendRequested, c.SuspendError = requested, errText
		nb, _ := json.Marshal(c)
		_, err = tx.ExecContext(ctx, `UPDATE monitor_cases SET body = ? WHERE id = ?`, string(nb), id)
		return err
	})
}

func (s *MonitorService) RecordDelivery(ctx context.Context, d *ethos.Delivery) error {
	b, _ := json.Marshal(d)
	_, err := s.db.db.ExecContext(ctx, `INSERT INTO monitor_deliveries (alert_id, attempt, at, body) VALUES (?, ?, ?, ?)`, d.AlertID, d.Attempt, nanos(d.At), string(b))
	if isUnique(err) {
		return ethos.Errorf(ethos.ECONFLICT, "delivery %d of alert %s is recorded already", d.Attempt, d.AlertID)
	}
	return err
}

func (s *MonitorService) FindDeliveries(ctx context.Context, alertID string) ([]*ethos.Delivery, error) {
	rows, err := s.db.db.QueryContext(ctx, `SELECT body FROM monitor_deliveries WHERE alert_id = ? ORDER BY attempt`, alertID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*ethos.Delivery
	for rows.Next() {
		var b string
		if err := rows.Scan(&b); err != nil {
			return nil, err
		}
		var d ethos.Delivery
		if err := json.Unmarshal([]byte(b), &d); err != nil {
			return nil, fmt.Errorf("delivery row: %w", err)
		}
		out = append(out, &d)
	}
	return out, rows.Err()
}
