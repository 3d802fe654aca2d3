// Package lineagebench builds a provenance graph of the size the training
// stage must answer for — 10^6 collected instances of 10^5 subjects, 100
// processing runs, 100 dataset versions and 1,000 training runs — straight
// in a database migrated for Ethos, and measures the lineage queries on
// it (docs/benchmarks-lineage.md).
//
// The graph is generated inside the database with set-based SQL (a
// recursive series in SQLite, generate_series in PostgreSQL): loading six
// million edges through the service one batch at a time would measure the
// loader, not the queries.
package lineagebench

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// Shape of the graph.
const (
	Subjects         = 100_000
	Instances        = 1_000_000 // 10 per subject, consecutive
	ProcessingRuns   = 100       // each de-identified 10,000 consecutive instances
	DatasetVersions  = 100       // each holds 20,000 consecutive de-identified instances; neighbours overlap by half
	DatasetSize      = 20_000
	TrainingRuns     = 1_000 // 10 per dataset version, one model version each
	Agents           = 10
	PerSubject       = Instances / Subjects
	PerProcessingRun = Instances / ProcessingRuns
)

// Node number bases: node numbers are assigned here, not by the database.
const (
	baseSubject  = 1
	baseInstance = 1_000_000
	baseDeid     = 3_000_000
	baseRun      = 5_000_000
	baseDataset  = 5_100_000
	baseTraining = 5_200_000
	baseModel    = 5_300_000
	baseAgent    = 5_400_000
)

// Dialect is what differs between the two databases for the generator.
type Dialect struct {
	Name string
	// Series returns a FROM clause (with any WITH prefix in With) that
	// yields x = 0 … n-1.
	With, From func(n int) string
	// Hex64 formats the integer expression x as 64 lowercase hex digits.
	Hex64 func(x string) string
}

var SQLite = Dialect{
	Name: "sqlite",
	With: func(n int) string {
		return fmt.Sprintf("WITH RECURSIVE seq(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM seq WHERE x < %d) ", n-1)
	},
	From:  func(n int) string { return " FROM seq" },
	Hex64: func(x string) string { return "printf('%064x', " + x + ")" },
}

var PostgreSQL = Dialect{
	Name:  "postgres",
	With:  func(n int) string { return "" },
	From:  func(n int) string { return fmt.Sprintf(" FROM generate_series(0, %d) AS seq(x)", n-1) },
	Hex64: func(x string) string { return "lpad(to_hex(" + x + "), 64, '0')" },
}

// SubjectKey returns the subject key of subject x, as the generator names it.
func SubjectKey(x int) string { return fmt.Sprintf("%064x", x) }

// Node ids (refs) as the generator names them.
func InstanceID(i int) string      { return fmt.Sprintf("ins_%d", i) }
func ProcessingRunID(p int) string { return fmt.Sprintf("prc_%d", p) }
func DatasetID(k int) string       { return fmt.Sprintf("dsv_%d", k) }
func ModelID(r int) string         { return fmt.Sprintf("mdl_%d", r) }

// Build fills the empty lineage tables of db with the graph. The index on
// edge targets is dropped during the load and built once at the end.
func Build(ctx context.Context, db *sql.DB, d Dialect) error {
	type step struct {
		n   int
		sql string
	}
	node := func(kind string, base int, ref string) string {
		return fmt.Sprintf("INSERT INTO lineage_nodes (id, kind, ref) SELECT %d + x, '%s', %s", base, kind, ref)
	}
	edge := func(src, rel, dst string) string {
		return "INSERT INTO lineage_edges (src, rel, dst, at) SELECT " + src + ", " + rel + ", " + dst + ", 0"
	}
	steps := []step{
		{Subjects, node("subject", baseSubject, d.Hex64("x"))},
		{Instances, node("instance", baseInstance, "'ins_' || x")},
		{Instances, node("deid-instance", baseDeid, "'did_' || x")},
		{ProcessingRuns, node("processing-run", baseRun, "'prc_' || x")},
		{DatasetVersions, node("dataset-version", baseDataset, "'dsv_' || x")},
		{TrainingRuns, node("training-run", baseTraining, "'trn_' || x")},
		{TrainingRuns, node("model-version", baseModel, "'mdl_' || x")},
		{Agents, node("agent", baseAgent, "'usr_' || x")},
		// instance wasDerivedFrom subject
		{Instances, edge(fmt.Sprintf("%d + x", baseInstance), "3", fmt.Sprintf("%d + x / %d", baseSubject, PerSubject))},
		// processing run used instance
		{Instances, edge(fmt.Sprintf("%d + x / %d", baseRun, PerProcessingRun), "1", fmt.Sprintf("%d + x", baseInstance))},
		// deid instance wasGeneratedBy processing run, wasDerivedFrom instance
		{Instances, edge(fmt.Sprintf("%d + x", baseDeid), "2", fmt.Sprintf("%d + x / %d", baseRun, PerProcessingRun))},
		{Instances, edge(fmt.Sprintf("%d + x", baseDeid), "3", fmt.Sprintf("%d + x", baseInstance))},
		// dataset version k wasDerivedFrom deid instances k*10^4 … k*10^4+2*10^4-1 (mod 10^6)
		{DatasetVersions * DatasetSize, edge(fmt.Sprintf("%d + x / %d", baseDataset, DatasetSize), "3",
			fmt.Sprintf("%d + ((x / %d) * %d + x %% %d) %% %d", baseDeid, DatasetSize, PerProcessingRun, DatasetSize, Instances))},
		// training run r used dataset r/10; model r wasGeneratedBy run r, wasDerivedFrom dataset r/10; run wasAssociatedWith agent
		{TrainingRuns, edge(fmt.Sprintf("%d + x", baseTraining), "1", fmt.Sprintf("%d + x / 10", baseDataset))},
		{TrainingRuns, edge(fmt.Sprintf("%d + x", baseModel), "2", fmt.Sprintf("%d + x", baseTraining))},
		{TrainingRuns, edge(fmt.Sprintf("%d + x", baseModel), "3", fmt.Sprintf("%d + x / 10", baseDataset))},
		{TrainingRuns, edge(fmt.Sprintf("%d + x", baseTraining), "5", fmt.Sprintf("%d + x %% %d", baseAgent, Agents))},
	}
	if _, err := db.ExecContext(ctx, "DROP INDEX lineage_edges_dst"); err != nil {
		return fmt.Errorf("drop index: %w", err)
	}
	for i, s := range steps {
		q := d.With(s.n) + s.sql + d.From(s.n)
		if _, err := db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("step %d (%s…): %w", i, strings.Fields(s.sql)[2], err)
		}
	}
	if _, err := db.ExecContext(ctx, "CREATE INDEX lineage_edges_dst ON lineage_edges (dst, rel, src)"); err != nil {
		return fmt.Errorf("create index: %w", err)
	}
	// The subject sets of the dataset versions, as the lineage service
	// keeps them when edges are recorded through it: dataset -> deid
	// instance -> instance -> subject.
	if _, err := db.ExecContext(ctx, fmt.Sprintf(`INSERT INTO lineage_subject_sets (node, subject)
		SELECT DISTINCT e1.src, e3.dst FROM lineage_edges e1
		JOIN lineage_edges e2 ON e2.src = e1.dst AND e2.rel = 3
		JOIN lineage_edges e3 ON e3.src = e2.dst AND e3.rel = 3
		WHERE e1.src >= %d AND e1.src < %d AND e1.rel = 3`, baseDataset, baseDataset+DatasetVersions)); err != nil {
		return fmt.Errorf("subject sets: %w", err)
	}
	// Statistics for the planners; in PostgreSQL also the visibility map
	// (VACUUM), which autovacuum would set on a live server and without
	// which index-only scans still read the heap.
	op := "ANALYZE "
	if d.Name == "postgres" {
		op = "VACUUM ANALYZE "
	}
	for _, t := range []string{"lineage_nodes", "lineage_edges", "lineage_subject_sets"} {
		if _, err := db.ExecContext(ctx, op+t); err != nil {
			return fmt.Errorf("analyze %s: %w", t, err)
		}
	}
	return nil
}

// Built reports whether db already holds the graph.
func Built(ctx context.Context, db *sql.DB) (bool, error) {
	var n int64
	err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM lineage_nodes WHERE kind = 'model-version'").Scan(&n)
	return n == TrainingRuns, err
}
