package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"slices"
	"strconv"
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
// rest. A range is exact when every number in it is among ids.
func idGroups(ids []int64) (ranges []idRange, rest []int64) {
	for i := 0; i < len(ids); {
		j := i + 1
		for j < len(ids) && ids[j]-ids[j-1] <= walkGap {
			j++
		}
		if j-i >= walkDense {
			lo, hi := ids[i], ids[j-1]
			ranges = append(ranges, idRange{lo, hi, hi-lo+1 == int64(j-i)})
		} else {
			rest = append(rest, ids[i:j]...)
		}
		i = j
	}
	return ranges, rest
}

type idRange struct {
	lo, hi int64
	exact  bool
}

// groupConds cuts ids into statements' WHERE conditions on col with
// their arguments: ranges (at most walkRanges a statement) and IN lists.
// exact reports whether every row a condition selects has col among ids.
func groupConds(ids []int64, col string, yield func(where string, args []any, exact bool) error) error {
	ranges, rest := idGroups(ids)
	for _, exact := range []bool{true, false} {
		var sel []idRange
		for _, r := range ranges {
			if r.exact == exact {
				sel = append(sel, r)
			}
		}
		for chunk := range slices.Chunk(sel, walkRanges) {
			conds := make([]string, len(chunk))
			args := make([]any, 0, 2*len(chunk))
			for i, r := range chunk {
				conds[i] = col + " BETWEEN ? AND ?"
				args = append(args, r.lo, r.hi)
			}
			if err := yield("("+strings.Join(conds, " OR ")+")", args, exact); err != nil {
				return err
			}
		}
	}
	for chunk := range slices.Chunk(rest, 2*nodeBatch) {
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		if err := yield(col+" IN ("+placeholders(len(chunk))+")", args, true); err != nil {
			return err
		}
	}
	return nil
}

// walkAll returns every node reachable from start (start itself never,
// even when a cycle leads back to it), named and sorted by kind and ref,
// keeping only kinds when given.
func (s *LineageService) walkAll(ctx context.Context, start int64, up bool, walk ethos.LineageWalk, kinds []ethos.LineageKind) ([]ethos.LineageNode, error) {
	var found []int64
	err := s.walkLevels(ctx, start, up, walk, func(level []int64) bool {
		found = append(found, level...)
		return true
	})
	if err != nil {
		return nil, err
	}
	return s.nameNodes(ctx, found, kinds)
}

// walkLevels walks from start level by level (breadth first, each node
// once, start never) and hands each level to fn, sorted by node number;
// it stops when fn returns false or no node is left.
func (s *LineageService) walkLevels(ctx context.Context, start int64, up bool, walk ethos.LineageWalk, fn func(level []int64) bool) error {
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
	seen := map[int64]bool{start: true}
	frontier := []int64{start}
	for len(frontier) > 0 {
		var in map[int64]bool // built only when a range has gaps
		var next []int64
		add := func(t int64) {
			if !seen[t] {
				seen[t] = true
				next = append(next, t)
			}
		}
		err := groupConds(frontier, from, func(where string, args []any, exact bool) error {
			args = append(args, extra...)
			if exact {
				// Every row starts in the frontier: only the far ends.
				return s.scanIDs(ctx, to, "lineage_edges WHERE "+where+relCond, args, add)
			}
			if in == nil {
				in = make(map[int64]bool, len(frontier))
				for _, id := range frontier {
					in[id] = true
				}
			}
			return s.scanPairs(ctx, from, to, "lineage_edges WHERE "+where+relCond, args, func(f, t int64) {
				if in[f] {
					add(t)
				}
			})
		})
		if err != nil {
			return err
		}
		slices.Sort(next)
		if len(next) > 0 && !fn(next) {
			return nil
		}
		frontier = next
	}
	return nil
}

// pageWalk returns nodes skip to skip+n of the walk from start, in walk
// order: level by level (nearest first), each level by node number,
// counting only nodes of kinds when given. It walks only the levels the
// page reaches and names only the page's nodes.
func (s *LineageService) pageWalk(ctx context.Context, start int64, up bool, walk ethos.LineageWalk, kinds []ethos.LineageKind, skip, n int) ([]ethos.LineageNode, error) {
	var page []int64
	seen := 0
	var ferr error
	err := s.walkLevels(ctx, start, up, walk, func(level []int64) bool {
		if len(kinds) > 0 {
			if level, ferr = s.ofKinds(ctx, slices.Clone(level), kinds); ferr != nil {
				return false
			}
		}
		lo, hi := max(skip-seen, 0), min(skip+n-seen, len(level))
		if lo < hi {
			page = append(page, level[lo:hi]...)
		}
		seen += len(level)
		return seen < skip+n
	})
	if err == nil {
		err = ferr
	}
	if err != nil {
		return nil, err
	}
	named := make(map[int64]ethos.LineageNode, len(page))
	err = groupConds(slices.Sorted(slices.Values(page)), "id", func(where string, args []any, _ bool) error {
		return s.scanNames(ctx, "lineage_nodes WHERE "+where, args, true, func(id int64, n ethos.LineageNode) { named[id] = n })
	})
	if err != nil {
		return nil, err
	}
	out := make([]ethos.LineageNode, 0, len(page))
	for _, id := range page {
		nd, ok := named[id]
		if !ok {
			return nil, fmt.Errorf("lineage node %d has no name", id)
		}
		out = append(out, nd)
	}
	return out, nil
}

// ofKinds keeps the nodes of ids (sorted) whose kind is among kinds, in
// order.
func (s *LineageService) ofKinds(ctx context.Context, ids []int64, kinds []ethos.LineageKind) ([]int64, error) {
	kindCond, kindArgs := kindFilter(kinds)
	keep := map[int64]bool{}
	err := groupConds(ids, "id", func(where string, args []any, _ bool) error {
		return s.scanIDs(ctx, "id", "lineage_nodes WHERE "+where+kindCond, append(args, kindArgs...), func(id int64) { keep[id] = true })
	})
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(ids, func(id int64) bool { return !keep[id] }), nil
}

// nameNodes returns the nodes numbered ids (distinct), sorted by kind and
// ref, keeping only kinds when given. Rows of exact ranges and IN lists
// are all wanted and come once each, so only a range with gaps needs the
// node numbers back.
func (s *LineageService) nameNodes(ctx context.Context, ids []int64, kinds []ethos.LineageKind) ([]ethos.LineageNode, error) {
	slices.Sort(ids)
	kindCond, kindArgs := kindFilter(kinds)
	var want map[int64]bool // built only when a range has gaps
	out := make([]ethos.LineageNode, 0, len(ids))
	err := groupConds(ids, "id", func(where string, args []any, exact bool) error {
		args = append(args, kindArgs...)
		if exact {
			return s.scanNames(ctx, "lineage_nodes WHERE "+where+kindCond, args, false, func(_ int64, n ethos.LineageNode) {
				out = append(out, n)
			})
		}
		if want == nil {
			want = make(map[int64]bool, len(ids))
			for _, id := range ids {
				want[id] = true
			}
		}
		return s.scanNames(ctx, "lineage_nodes WHERE "+where+kindCond, args, true, func(id int64, n ethos.LineageNode) {
			if want[id] {
				out = append(out, n)
			}
		})
	})
	if err != nil {
		return nil, fmt.Errorf("lineage: name walked nodes: %w", err)
	}
	sortNodes(out)
	return out, nil
}

// kindFilter is the condition on lineage_nodes.kind that keeps kinds
// (" AND kind IN (…)", with its arguments); none when kinds is empty.
func kindFilter(kinds []ethos.LineageKind) (string, []any) {
	if len(kinds) == 0 {
		return "", nil
	}
	args := make([]any, len(kinds))
	for i, k := range kinds {
		args[i] = string(k)
	}
	return " AND kind IN (" + placeholders(len(kinds)) + ")", args
}

// sortNodes sorts nodes by kind and ref: into a bucket per kind (a walk
// holds a few kinds), then each bucket's refs as plain strings (measured
// on the 42,000 nodes behind a dataset version: 12 ms against 19 ms for
// one sort comparing both fields).
func sortNodes(nodes []ethos.LineageNode) {
	byKind := map[ethos.LineageKind][]string{}
	for _, n := range nodes {
		byKind[n.Kind] = append(byKind[n.Kind], n.ID)
	}
	i := 0
	for _, k := range slices.Sorted(maps.Keys(byKind)) {
		refs := byKind[k]
		slices.Sort(refs)
		for _, r := range refs {
			nodes[i] = ethos.LineageNode{Kind: k, ID: r}
			i++
		}
	}
}

// Both drivers cost about a microsecond for each row they hand over (most
// of a level's time once the walk is set-based: 60,000 edge rows and
// 42,000 node rows behind a dataset version of 20,000 instances), so a
// statement's rows come back as one text built by the database's string
// aggregate (group_concat in SQLite, string_agg in PostgreSQL; with
// "||", which both apply to an integer and a text, the only difference in
// the SQL) and are split here. Node numbers are decimal;
// kinds and refs hold no spaces or commas (node ids are checked on the
// way in: letters, digits and "_-.:"; subject keys are hex), so fields
// are joined by spaces and rows by commas.

// agg is the string aggregate of the text expr over rows, comma
// separated.
func (s *LineageService) agg(expr string) string {
	if s.db.sqlite {
		return "group_concat(" + expr + ", ',')"
	}
	return "string_agg(" + expr + ", ',')"
}

// aggInt is agg of an integer column: SQLite converts it by itself (an
// explicit CAST costs it a step per row), PostgreSQL aggregates text only.
func (s *LineageService) aggInt(col string) string {
	if s.db.sqlite {
		return s.agg(col)
	}
	return s.agg("CAST(" + col + " AS TEXT)")
}

// scanIDs reads the integer column col of the rows of fromWhere ("table
// WHERE …"). Values repeat; the caller's visited set drops repeats
// (cheaper there than a DISTINCT, which costs SQLite a temporary index).
func (s *LineageService) scanIDs(ctx context.Context, col, fromWhere string, args []any, fn func(int64)) error {
	return s.scanConcat(ctx, "SELECT "+s.aggInt(col)+" FROM "+fromWhere, args, func(f string) error {
		id, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return fmt.Errorf("malformed node number %q", f)
		}
		fn(id)
		return nil
	})
}

// scanPairs reads the integer columns a and b of the rows of fromWhere.
func (s *LineageService) scanPairs(ctx context.Context, a, b, fromWhere string, args []any, fn func(int64, int64)) error {
	return s.scanConcat(ctx, "SELECT "+s.agg(a+" || ' ' || "+b)+" FROM "+fromWhere, args, func(f string) error {
		x, y, ok := strings.Cut(f, " ")
		va, err1 := strconv.ParseInt(x, 10, 64)
		vb, err2 := strconv.ParseInt(y, 10, 64)
		if !ok || err1 != nil || err2 != nil {
			return fmt.Errorf("malformed edge %q", f)
		}
		fn(va, vb)
		return nil
	})
}

// scanNames reads kind and ref (and id when withID; else 0 is passed) of
// the lineage_nodes rows of fromWhere.
func (s *LineageService) scanNames(ctx context.Context, fromWhere string, args []any, withID bool, fn func(int64, ethos.LineageNode)) error {
	expr := "kind || ' ' || ref"
	if withID {
		expr = "id || ' ' || " + expr
	}
	return s.scanConcat(ctx, "SELECT "+s.agg(expr)+" FROM "+fromWhere, args, func(f string) error {
		var id int64
		if withID {
			x, rest, ok := strings.Cut(f, " ")
			var err error
			if id, err = strconv.ParseInt(x, 10, 64); !ok || err != nil {
				return fmt.Errorf("malformed node %q", f)
			}
			f = rest
		}
		kind, ref, ok := strings.Cut(f, " ")
		if !ok || strings.Contains(ref, " ") {
			return fmt.Errorf("malformed node %q", f)
		}
		fn(id, ethos.LineageNode{Kind: ethos.LineageKind(kind), ID: ref})
		return nil
	})
}

// scanConcat runs q, whose one row holds a string aggregate (NULL when no
// row matched), and hands each comma-separated field to fn.
func (s *LineageService) scanConcat(ctx context.Context, q string, args []any, fn func(string) error) error {
	var all sql.NullString
	if err := s.db.db.QueryRowContext(ctx, q, args...).Scan(&all); err != nil {
		return err
	}
	if !all.Valid {
		return nil
	}
	for f := range strings.SplitSeq(all.String, ",") {
		if err := fn(f); err != nil {
			return err
		}
	}
	return nil
}
