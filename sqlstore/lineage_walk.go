package sqlstore

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/ethos-imaging/ethos"
)

// A whole walk (Upstream, Downstream) is answered level by level, with a
// set of nodes per statement, instead of one recursive query that steps
// node by node: the recursive form costs a queue insert, a queue delete,
// a distinct-set insert and an index seek per node, about 4 µs a node in
// the embedded SQLite (0.2 s for the 42,000 nodes behind a dataset
// version of 20,000 instances, docs/benchmarks-lineage.md).
//
// Each level's frontier is sorted and cut into groups of close node
// numbers. Nodes recorded together get consecutive numbers (the instances
// of a processing run, the members of a dataset version), so a level
// usually comes down to a few dense groups, each read with one range
// scan of the edge index (src or dst BETWEEN lo AND hi), and rows of
// nodes that fall in a group's gaps are dropped here. Scattered nodes are
// read in batches by IN lists (one index seek each, as before). The
// visited set is kept here, which also ends the walk on a cycle. The
// nodes found are then named (kind, ref) the same way, and sorted here.
//
// The statements are not one snapshot: edges are only ever added, so
// every node reachable when the walk starts is found; a node connected
// while the walk runs may or may not be.

const (
	// walkGap is the largest difference between consecutive node numbers
	// of one dense group: a range scan reads at most walkGap-1 unwanted
	// nodes' rows per step.
	walkGap = 8
	// walkDense is the fewest nodes a group needs to be read by a range
	// scan rather than in an IN list.
	walkDense = 16
	// walkRanges bounds the ranges named in one statement.
	walkRanges = 50
)

// idGroups cuts sorted node numbers into dense ranges and the scattered
// rest.
func idGroups(ids []int64) (ranges [][2]int64, rest []int64) {
	for i := 0; i < len(ids); {
		j := i + 1
		for j < len(ids) && ids[j]-ids[j-1] <= walkGap {
			j++
		}
		if j-i >= walkDense {
			ranges = append(ranges, [2]int64{ids[i], ids[j-1]})
		} else {
			rest = append(rest, ids[i:j]...)
		}
		i = j
	}
	return ranges, rest
}

// forGroups runs one statement per batch of groups of ids: query makes
// the statement from the WHERE condition on col for a batch, whose
// arguments come first, then extra. Each row is handed to row; rows of nodes not among ids (a
// range's gaps) are the caller's to drop.
func (s *LineageService) forGroups(ctx context.Context, ids []int64, col string, query func(where string) string, extra []any, row func(scan func(...any) error) error) error {
	ranges, rest := idGroups(ids)
	run := func(where string, args []any) error {
		rows, err := s.db.db.QueryContext(ctx, query(where), append(args, extra...)...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			if err := row(rows.Scan); err != nil {
				return err
			}
		}
		return rows.Err()
	}
	for chunk := range slices.Chunk(ranges, walkRanges) {
		conds := make([]string, len(chunk))
		args := make([]any, 0, 2*len(chunk))
		for i, r := range chunk {
			conds[i] = col + " BETWEEN ? AND ?"
			args = append(args, r[0], r[1])
		}
		if err := run("("+strings.Join(conds, " OR ")+")", args); err != nil {
			return err
		}
	}
	for chunk := range slices.Chunk(rest, 2*nodeBatch) {
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		if err := run(col+" IN ("+strings.TrimSuffix(strings.Repeat("?, ", len(chunk)), ", ")+")", args); err != nil {
			return err
		}
	}
	return nil
}

// walkAll returns every node reachable from start (start itself never,
// even when a cycle leads back to it), named and sorted by kind and ref,
// keeping only kinds when given.
func (s *LineageService) walkAll(ctx context.Context, start int64, up bool, walk ethos.LineageWalk, kinds []ethos.LineageKind) ([]ethos.LineageNode, error) {
	from, to := "dst", "src"
	if up {
		from, to = "src", "dst"
	}
	var extra []any
	relCond := ""
	if walk == ethos.WalkDerivations {
		relCond = " AND rel = ?"
		extra = []any{relCodes[ethos.RelWasDerivedFrom]}
	}
	query := func(where string) string {
		return "SELECT " + from + ", " + to + " FROM lineage_edges WHERE " + where + relCond
	}
	seen := map[int64]bool{start: true}
	frontier := []int64{start}
	var found []int64
	for len(frontier) > 0 {
		slices.Sort(frontier)
		in := make(map[int64]bool, len(frontier))
		for _, id := range frontier {
			in[id] = true
		}
		var next []int64
		err := s.forGroups(ctx, frontier, from, query, extra, func(scan func(...any) error) error {
			var f, t int64
			if err := scan(&f, &t); err != nil {
				return err
			}
			if in[f] && !seen[t] {
				seen[t] = true
				next = append(next, t)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		found = append(found, next...)
		frontier = next
	}
	return s.nameNodes(ctx, found, kinds)
}

// nameNodes returns the nodes numbered ids (distinct), sorted by kind and
// ref, keeping only kinds when given.
func (s *LineageService) nameNodes(ctx context.Context, ids []int64, kinds []ethos.LineageKind) ([]ethos.LineageNode, error) {
	slices.Sort(ids)
	want := make(map[int64]bool, len(ids))
	for _, id := range ids {
		want[id] = true
	}
	keep := func(k ethos.LineageKind) bool { return len(kinds) == 0 || slices.Contains(kinds, k) }
	out := make([]ethos.LineageNode, 0, len(ids))
	query := func(where string) string { return "SELECT id, kind, ref FROM lineage_nodes WHERE " + where }
	err := s.forGroups(ctx, ids, "id", query, nil, func(scan func(...any) error) error {
		var id int64
		var n ethos.LineageNode
		if err := scan(&id, &n.Kind, &n.ID); err != nil {
			return err
		}
		if want[id] && keep(n.Kind) {
			want[id] = false // once, whatever the statements return
			out = append(out, n)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("lineage: name walked nodes: %w", err)
	}
	slices.SortFunc(out, func(a, b ethos.LineageNode) int {
		return cmp.Or(strings.Compare(string(a.Kind), string(b.Kind)), strings.Compare(a.ID, b.ID))
	})
	return out, nil
}
