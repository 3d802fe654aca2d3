package storetest

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/sqlstore"
	gocmp "github.com/google/go-cmp/cmp"
)

// RunLineageWalk checks whole lineage walks (Upstream, Downstream) over a
// fresh database from open against a walk of the same edges in memory,
// and the paged walk against the whole one and against the memory walk's
// distances (nearest first), on a random graph whose
// node numbers come out both in dense runs (nodes recorded together) and
// scattered (nodes recorded one edge at a time, in random order), with
// cycles.
func RunLineageWalk(t *testing.T, open func(t *testing.T) *sqlstore.DB) {
	ctx := context.Background()
	l := sqlstore.NewLineageService(open(t))
	edges := walkGraph()
	// Dense: the first half in one call (consecutive numbers, as a
	// processing run's or a dataset's nodes get). Scattered: the rest one
	// edge at a time in random order.
	half := len(edges) / 2
	if err := l.RecordLineage(ctx, edges[:half]...); err != nil {
		t.Fatal(err)
	}
	rest := slices.Clone(edges[half:])
	rand.New(rand.NewPCG(7, 11)).Shuffle(len(rest), func(i, j int) { rest[i], rest[j] = rest[j], rest[i] })
	for _, e := range rest {
		if err := l.RecordLineage(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	var starts []ethos.LineageNode
	for _, e := range edges {
		starts = append(starts, e.From, e.To)
	}
	slices.SortFunc(starts, compareNodes)
	starts = slices.Compact(starts)
	total := 0
	for walk, wname := range map[ethos.LineageWalk]string{ethos.WalkAll: "All", ethos.WalkDerivations: "Derivations"} {
		for up, dir := range map[bool]string{true: "Upstream", false: "Downstream"} {
			name := wname + dir
			t.Run("MatchesMemoryAndPages/"+name, func(t *testing.T) {
				for i, start := range starts {
					if i%3 != 0 && start.Kind != ethos.LineageDatasetVersion {
						continue // a third of the nodes, and every dataset
					}
					want := memoryWalk(edges, start, up, walk)
					var got []ethos.LineageNode
					var err error
					if up {
						got, err = l.Upstream(ctx, start, walk)
					} else {
						got, err = l.Downstream(ctx, start, walk)
					}
					if err != nil {
						t.Fatal(err)
					}
					if d := gocmp.Diff(want, got); d != "" {
						t.Fatalf("walk from %s: -memory +store:\n%s", start, d)
					}
					total += len(got)
					if i%9 == 0 {
						paged := pagedWalk(t, l, start, up, walk)
						dist := memoryDistances(edges, start, up, walk)
						for k := 1; k < len(paged); k++ {
							if dist[paged[k]] < dist[paged[k-1]] {
								t.Fatalf("walk from %s: page order puts %s (distance %d) after %s (distance %d)", start, paged[k], dist[paged[k]], paged[k-1], dist[paged[k-1]])
							}
						}
						slices.SortFunc(paged, compareNodes)
						if d := gocmp.Diff(got, paged); d != "" {
							t.Fatalf("walk from %s: -whole +pages:\n%s", start, d)
						}
					}
					// A kind filter keeps the same nodes of those kinds.
					kinds := []ethos.LineageKind{ethos.LineageSubject, ethos.LineageModelVersion}
					var f []ethos.LineageNode
					if up {
						f, err = l.Upstream(ctx, start, walk, kinds...)
					} else {
						f, err = l.Downstream(ctx, start, walk, kinds...)
					}
					if err != nil {
						t.Fatal(err)
					}
					wantF := []ethos.LineageNode{}
					for _, n := range want {
						if slices.Contains(kinds, n.Kind) {
							wantF = append(wantF, n)
						}
					}
					if up && walk == ethos.WalkDerivations {
						// The subject question has its own indexed answer;
						// compare only the model versions here.
						continue
					}
					if d := gocmp.Diff(wantF, f); d != "" {
						t.Fatalf("walk from %s, kinds %v: -memory +store:\n%s", start, kinds, d)
					}
				}
			})
		}
	}
	if total < 1000 {
		t.Errorf("the walks found %d nodes in all: the graph is too small to test anything", total)
	}
}

func compareNodes(a, b ethos.LineageNode) int {
	return cmp.Or(strings.Compare(string(a.Kind), string(b.Kind)), strings.Compare(a.ID, b.ID))
}

// walkGraph is a random provenance graph with the stages' shapes: 40
// subjects, 400 instances, 4 processing runs, 8 dataset versions drawing
// random outputs, 16 training runs and models, 3 agents, and a few
// derivation cycles between dataset versions.
func walkGraph() []ethos.LineageEdge {
	r := rand.New(rand.NewPCG(1, 2))
	var es []ethos.LineageEdge
	add := func(from ethos.LineageNode, rel ethos.LineageRelation, to ethos.LineageNode) {
		es = append(es, edge(from, rel, to))
	}
	subject := func(i int) ethos.LineageNode {
		return node(ethos.LineageSubject, fmt.Sprintf("%064x", i+1))
	}
	agent := func(i int) ethos.LineageNode { return node(ethos.LineageAgent, fmt.Sprintf("usr_%d", i)) }
	var outputs []ethos.LineageNode
	for p := range 4 {
		run := node(ethos.LineageProcessingRun, fmt.Sprintf("prc_%d", p))
		add(run, ethos.RelWasAssociatedWith, agent(p%3))
		for i := range 100 {
			in := node(ethos.LineageInstance, fmt.Sprintf("ins_%d", p*100+i))
			add(in, ethos.RelWasDerivedFrom, subject(r.IntN(40)))
			add(run, ethos.RelUsed, in)
			if r.IntN(10) == 0 {
				continue // quarantined: used, nothing derived
			}
			out := node(ethos.LineageDeidInstance, fmt.Sprintf("prc_%d:ins_%d", p, p*100+i))
			add(out, ethos.RelWasDerivedFrom, in)
			add(out, ethos.RelWasGeneratedBy, run)
			outputs = append(outputs, out)
		}
	}
	for d := range 8 {
		ds := node(ethos.LineageDatasetVersion, fmt.Sprintf("dsv_%d", d))
		for _, k := range r.Perm(len(outputs))[:60] {
			add(ds, ethos.RelWasDerivedFrom, outputs[k])
		}
		if d > 0 && d%3 == 0 {
			// Cycles: a dataset derived from an earlier one that is
			// derived from it.
			prev := node(ethos.LineageDatasetVersion, fmt.Sprintf("dsv_%d", d-1))
			add(ds, ethos.RelWasDerivedFrom, prev)
			add(prev, ethos.RelWasDerivedFrom, ds)
		}
		for k := range 2 {
			tr := node(ethos.LineageTrainingRun, fmt.Sprintf("trn_%d_%d", d, k))
			m := node(ethos.LineageModelVersion, fmt.Sprintf("mdl_%d_%d", d, k))
			add(tr, ethos.RelUsed, ds)
			add(tr, ethos.RelWasAssociatedWith, agent(r.IntN(3)))
			add(m, ethos.RelWasGeneratedBy, tr)
			add(m, ethos.RelWasDerivedFrom, ds)
			add(m, ethos.RelWasAttributedTo, agent(r.IntN(3)))
		}
	}
	return es
}

// memoryWalk walks edges from start in memory: the answer a whole walk
// must give (start excluded, sorted by kind and ref).
func memoryWalk(edges []ethos.LineageEdge, start ethos.LineageNode, up bool, walk ethos.LineageWalk) []ethos.LineageNode {
	out := []ethos.LineageNode{}
	for n := range memoryDistances(edges, start, up, walk) {
		if n != start {
			out = append(out, n)
		}
	}
	slices.SortFunc(out, compareNodes)
	return out
}

// memoryDistances is the number of edges from start to each node it
// reaches (start itself 0), walking edges in memory breadth-first.
func memoryDistances(edges []ethos.LineageEdge, start ethos.LineageNode, up bool, walk ethos.LineageWalk) map[ethos.LineageNode]int {
	next := map[ethos.LineageNode][]ethos.LineageNode{}
	for _, e := range edges {
		if walk == ethos.WalkDerivations && e.Relation != ethos.RelWasDerivedFrom {
			continue
		}
		if up {
			next[e.From] = append(next[e.From], e.To)
		} else {
			next[e.To] = append(next[e.To], e.From)
		}
	}
	dist := map[ethos.LineageNode]int{start: 0}
	for queue := []ethos.LineageNode{start}; len(queue) > 0; queue = queue[1:] {
		for _, m := range next[queue[0]] {
			if _, ok := dist[m]; !ok {
				dist[m] = dist[queue[0]] + 1
				queue = append(queue, m)
			}
		}
	}
	return dist
}

// pagedWalk lists a walk through the paged form (pages of 50), in page
// order.
func pagedWalk(t *testing.T, l *sqlstore.LineageService, start ethos.LineageNode, up bool, walk ethos.LineageWalk) []ethos.LineageNode {
	t.Helper()
	ctx := context.Background()
	out := []ethos.LineageNode{}
	cursor := ""
	for {
		var pg *ethos.LineagePage
		var err error
		if up {
			pg, err = l.UpstreamPage(ctx, start, walk, cursor, 50)
		} else {
			pg, err = l.DownstreamPage(ctx, start, walk, cursor, 50)
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, pg.Nodes...)
		if cursor = pg.Next; cursor == "" {
			break
		}
	}
	return out
}
