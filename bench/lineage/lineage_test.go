package lineagebench_test

import (
	"context"
	"database/sql"
	"net/url"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/ethos-imaging/ethos"
	lineagebench "github.com/ethos-imaging/ethos/bench/lineage"
	"github.com/ethos-imaging/ethos/postgres"
	"github.com/ethos-imaging/ethos/sqlite"
	"github.com/ethos-imaging/ethos/sqlstore"
)

// The graph is built once per database and kept for later runs: the
// SQLite file under $ETHOS_LINEAGE_BENCH_DIR (default
// $TMPDIR/ethos-lineage-bench), the PostgreSQL schema ethos_lineage_bench
// in $ETHOS_TEST_POSTGRES. Delete either to rebuild.

func openSQLite(b *testing.B) (*sqlstore.DB, func()) {
	dir := os.Getenv("ETHOS_LINEAGE_BENCH_DIR")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "ethos-lineage-bench")
	}
	db := sqlite.NewDB(dir)
	if err := db.Open(context.Background()); err != nil {
		b.Fatal(err)
	}
	return db.Store(), func() { db.Close() }
}

func openPostgres(b *testing.B) (*sqlstore.DB, func()) {
	dsn := os.Getenv("ETHOS_TEST_POSTGRES")
	if dsn == "" {
		b.Skip("ETHOS_TEST_POSTGRES is not set")
	}
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		b.Fatal(err)
	}
	schema := os.Getenv("ETHOS_LINEAGE_BENCH_SCHEMA")
	if schema == "" {
		schema = "ethos_lineage_bench"
	}
	if _, err := admin.Exec("CREATE SCHEMA IF NOT EXISTS " + schema); err != nil {
		b.Fatal(err)
	}
	admin.Close()
	u, err := url.Parse(dsn)
	if err != nil {
		b.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	db := postgres.NewDB(u.String())
	if err := db.Open(context.Background()); err != nil {
		b.Fatal(err)
	}
	return db.Store(), func() { db.Close() }
}

// cpu returns the process's user+system CPU time.
func cpu() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func BenchmarkLineage(b *testing.B) {
	for _, tc := range []struct {
		d    lineagebench.Dialect
		open func(*testing.B) (*sqlstore.DB, func())
	}{{lineagebench.SQLite, openSQLite}, {lineagebench.PostgreSQL, openPostgres}} {
		b.Run(tc.d.Name, func(b *testing.B) {
			ctx := context.Background()
			store, closeDB := tc.open(b)
			defer closeDB()
			built, err := lineagebench.Built(ctx, store.SQL())
			if err != nil {
				b.Fatal(err)
			}
			if !built {
				start, c0 := time.Now(), cpu()
				if err := lineagebench.Build(ctx, store.SQL(), tc.d); err != nil {
					b.Fatal(err)
				}
				b.Logf("%s: graph built in %s (client CPU %s)", tc.d.Name, time.Since(start).Round(time.Second), (cpu() - c0).Round(time.Millisecond))
			}
			l := sqlstore.NewLineageService(store)
			subject := func(x int) ethos.LineageNode {
				return ethos.LineageNode{Kind: ethos.LineageSubject, ID: lineagebench.SubjectKey(x)}
			}
			queries := []struct {
				name string
				run  func(i int) ([]ethos.LineageNode, error)
				want int
			}{
				{"SubjectsBehindModel", func(i int) ([]ethos.LineageNode, error) {
					return l.Upstream(ctx, ethos.LineageNode{Kind: ethos.LineageModelVersion, ID: lineagebench.ModelID(i * 7 % lineagebench.TrainingRuns)}, ethos.WalkDerivations, ethos.LineageSubject)
				}, 2000},
				{"UsesOfSubject", func(i int) ([]ethos.LineageNode, error) {
					return l.Downstream(ctx, subject(i*7919%lineagebench.Subjects), ethos.WalkDerivations, ethos.LineageDatasetVersion, ethos.LineageModelVersion)
				}, 22},
				{"DownstreamOfProcessingRun", func(i int) ([]ethos.LineageNode, error) {
					return l.Downstream(ctx, ethos.LineageNode{Kind: ethos.LineageProcessingRun, ID: lineagebench.ProcessingRunID(i * 7 % lineagebench.ProcessingRuns)}, ethos.WalkAll)
				}, 10042},
				{"UpstreamOfDatasetVersion", func(i int) ([]ethos.LineageNode, error) {
					return l.Upstream(ctx, ethos.LineageNode{Kind: ethos.LineageDatasetVersion, ID: lineagebench.DatasetID(i * 7 % lineagebench.DatasetVersions)}, ethos.WalkDerivations)
				}, 42000},
				// The same walk a page at a time: the first page of 1,000
				// (what an interactive listing shows first), and every
				// page of 5,000 in turn.
				{"UpstreamOfDatasetVersionFirstPage", func(i int) ([]ethos.LineageNode, error) {
					pg, err := l.UpstreamPage(ctx, ethos.LineageNode{Kind: ethos.LineageDatasetVersion, ID: lineagebench.DatasetID(i * 7 % lineagebench.DatasetVersions)}, ethos.WalkDerivations, "", 1000)
					if err != nil {
						return nil, err
					}
					return pg.Nodes, nil
				}, 1000},
				{"UpstreamOfDatasetVersionAllPages", func(i int) ([]ethos.LineageNode, error) {
					var all []ethos.LineageNode
					cursor := ""
					for {
						pg, err := l.UpstreamPage(ctx, ethos.LineageNode{Kind: ethos.LineageDatasetVersion, ID: lineagebench.DatasetID(i * 7 % lineagebench.DatasetVersions)}, ethos.WalkDerivations, cursor, 5000)
						if err != nil {
							return nil, err
						}
						all = append(all, pg.Nodes...)
						if cursor = pg.Next; cursor == "" {
							return all, nil
						}
					}
				}, 42000},
			}
			for _, q := range queries {
				b.Run(q.name, func(b *testing.B) {
					// Check the answer once, outside the timing.
					got, err := q.run(1)
					if err != nil {
						b.Fatal(err)
					}
					if len(got) != q.want {
						b.Fatalf("%d nodes, want %d", len(got), q.want)
					}
					c0 := cpu()
					i := 0
					for b.Loop() {
						i++
						if _, err := q.run(i); err != nil {
							b.Fatal(err)
						}
					}
					b.ReportMetric(float64((cpu()-c0).Microseconds())/1000/float64(b.N), "client-cpu-ms/op")
				})
			}
		})
	}
}

// BenchmarkRecordDatasetMembers measures what a training-run registration
// adds to lineage for a dataset version of 20,000 instances of 2,000
// subjects: 40,000 derivation edges in one call, with the dataset's
// subject set kept up to date, into a fresh SQLite database per iteration.
func BenchmarkRecordDatasetMembers(b *testing.B) {
	ctx := context.Background()
	edges := make([]ethos.LineageEdge, 0, 2*lineagebench.DatasetSize)
	ds := ethos.LineageNode{Kind: ethos.LineageDatasetVersion, ID: "dsv_bench"}
	for i := range lineagebench.DatasetSize {
		in := ethos.LineageNode{Kind: ethos.LineageInstance, ID: lineagebench.InstanceID(i)}
		edges = append(edges,
			ethos.LineageEdge{From: in, Relation: ethos.RelWasDerivedFrom, To: ethos.LineageNode{Kind: ethos.LineageSubject, ID: lineagebench.SubjectKey(i / lineagebench.PerSubject)}},
			ethos.LineageEdge{From: ds, Relation: ethos.RelWasDerivedFrom, To: in})
	}
	var total time.Duration
	for b.Loop() {
		b.StopTimer()
		db := sqlite.NewDB(filepath.Join(b.TempDir(), "data"))
		if err := db.Open(ctx); err != nil {
			b.Fatal(err)
		}
		l := sqlstore.NewLineageService(db.Store())
		b.StartTimer()
		c0 := cpu()
		if err := l.RecordLineage(ctx, edges...); err != nil {
			b.Fatal(err)
		}
		total += cpu() - c0
		b.StopTimer()
		got, err := l.Upstream(ctx, ds, ethos.WalkDerivations, ethos.LineageSubject)
		if err != nil || len(got) != lineagebench.DatasetSize/lineagebench.PerSubject {
			b.Fatalf("%d subjects behind the dataset (%v)", len(got), err)
		}
		db.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "client-cpu-ms/op")
}

// BenchmarkWalkRecordedGraph walks upstream of a dataset version of
// 20,000 instances in a graph recorded through the lineage service, as
// the stages record it (two processing runs of 10,000 instances, in the
// order processing.Edges gives, then the dataset's members), so that the
// node numbers are the ones the service assigns rather than the
// generator's blocks: 42,000 nodes, into a fresh SQLite database.
func BenchmarkWalkRecordedGraph(b *testing.B) {
	ctx := context.Background()
	db := sqlite.NewDB(filepath.Join(b.TempDir(), "data"))
	if err := db.Open(ctx); err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	l := sqlstore.NewLineageService(db.Store())
	at := time.Unix(1, 0)
	ds := ethos.LineageNode{Kind: ethos.LineageDatasetVersion, ID: "dsv_recorded"}
	var members []ethos.LineageEdge
	for r := range 2 {
		rn := ethos.LineageNode{Kind: ethos.LineageProcessingRun, ID: lineagebench.ProcessingRunID(r)}
		es := []ethos.LineageEdge{{From: rn, Relation: ethos.RelWasAssociatedWith, To: ethos.LineageNode{Kind: ethos.LineageAgent, ID: "usr_bench"}, At: at}}
		for i := r * datasetHalf; i < (r+1)*datasetHalf; i++ {
			in := ethos.LineageNode{Kind: ethos.LineageInstance, ID: lineagebench.InstanceID(i)}
			out := ethos.LineageNode{Kind: ethos.LineageDeidInstance, ID: lineagebench.ProcessingRunID(r) + ":" + lineagebench.InstanceID(i)}
			es = append(es,
				ethos.LineageEdge{From: in, Relation: ethos.RelWasDerivedFrom, To: ethos.LineageNode{Kind: ethos.LineageSubject, ID: lineagebench.SubjectKey(i / lineagebench.PerSubject)}, At: at},
				ethos.LineageEdge{From: rn, Relation: ethos.RelUsed, To: in, At: at},
				ethos.LineageEdge{From: out, Relation: ethos.RelWasDerivedFrom, To: in, At: at},
				ethos.LineageEdge{From: out, Relation: ethos.RelWasGeneratedBy, To: rn, At: at})
			members = append(members, ethos.LineageEdge{From: ds, Relation: ethos.RelWasDerivedFrom, To: out, At: at})
		}
		if err := l.RecordLineage(ctx, es...); err != nil {
			b.Fatal(err)
		}
	}
	if err := l.RecordLineage(ctx, members...); err != nil {
		b.Fatal(err)
	}
	if _, err := db.Store().SQL().ExecContext(ctx, "ANALYZE"); err != nil {
		b.Fatal(err)
	}
	got, err := l.Upstream(ctx, ds, ethos.WalkDerivations)
	if err != nil || len(got) != 2*lineagebench.DatasetSize+lineagebench.DatasetSize/lineagebench.PerSubject {
		b.Fatalf("%d nodes upstream (%v)", len(got), err)
	}
	c0 := cpu()
	for b.Loop() {
		if _, err := l.Upstream(ctx, ds, ethos.WalkDerivations); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64((cpu()-c0).Microseconds())/1000/float64(b.N), "client-cpu-ms/op")
}

// datasetHalf is the instances of each of the two processing runs behind
// the recorded dataset version.
const datasetHalf = lineagebench.DatasetSize / 2
