package sqlstore

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/ethos-imaging/ethos"
)

// LineageService implements ethos.LineageService: the provenance graph as
// numbered nodes and small integer edges. Walks, whole or a page at a
// time, go level by level, a set of nodes per statement (lineage_walk.go);
// the subject question uses a recursive common table expression (both
// dialects).
type LineageService struct{ db *DB }

// NewLineageService returns the lineage service over db.
func NewLineageService(db *DB) *LineageService { return &LineageService{db: db} }

var (
	_ ethos.LineageService = (*LineageService)(nil)
	_ ethos.LineagePager   = (*LineageService)(nil)
)

// Relation codes stored in lineage_edges.rel.
var relCodes = map[ethos.LineageRelation]int64{
	ethos.RelUsed:              1,
	ethos.RelWasGeneratedBy:    2,
	ethos.RelWasDerivedFrom:    3,
	ethos.RelWasAttributedTo:   4,
	ethos.RelWasAssociatedWith: 5,
}

func relOf(code int64) (ethos.LineageRelation, bool) {
	for r, c := range relCodes {
		if c == code {
			return r, true
		}
	}
	return "", false
}

// nodeBatch bounds the nodes named in one statement (two parameters
// each, well below both dialects' parameter limits).
const nodeBatch = 400

// RecordLineage stores edges, keeping one copy of an edge recorded twice.
// Every edge is checked first: one bad edge stores nothing.
func (s *LineageService) RecordLineage(ctx context.Context, edges ...ethos.LineageEdge) error {
	if len(edges) == 0 {
		return nil
	}
	var nodes []ethos.LineageNode
	for i, e := range edges {
		if err := checkEdge(e); err != nil {
			return ethos.Errorf(ethos.EINVALID, "lineage edge %d: %s", i+1, ethos.ErrorMessage(err))
		}
		nodes = append(nodes, e.From, e.To)
	}
	now := nanos(s.db.Now())
	return s.db.withTx(ctx, func(tx *sql.Tx) error {
		// Take the writers' turn first (see lineage_writes).
		if _, err := tx.ExecContext(ctx, "UPDATE lineage_writes SET writes = writes + 1 WHERE id = 1"); err != nil {
			return fmt.Errorf("lineage write turn: %w", err)
		}
		ids, err := ensureNodes(ctx, tx, nodes)
		if err != nil {
			return err
		}
		type key struct{ src, rel, dst int64 }
		seen := map[key]bool{}
		var rows []any
		flush := func() error {
			if len(rows) == 0 {
				return nil
			}
			q := "INSERT INTO lineage_edges (src, rel, dst, at) VALUES " + valueRows(len(rows)/4, 4) +
				" ON CONFLICT (src, rel, dst) DO NOTHING"
			if _, err := tx.ExecContext(ctx, q, rows...); err != nil {
				return fmt.Errorf("insert lineage edges: %w", err)
			}
			rows = rows[:0]
			return nil
		}
		var derivedSrcs []int64
		for _, e := range edges {
			k := key{ids[e.From], relCodes[e.Relation], ids[e.To]}
			if e.Relation == ethos.RelWasDerivedFrom {
				derivedSrcs = append(derivedSrcs, k.src)
			}
			if seen[k] {
				continue
			}
			seen[k] = true
			at := now
			if !e.At.IsZero() {
				at = nanos(e.At)
			}
			rows = append(rows, k.src, k.rel, k.dst, at)
			if len(rows) == 4*nodeBatch/2 {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		if err := flush(); err != nil {
			return err
		}
		return updateSubjectSets(ctx, tx, derivedSrcs)
	})
}

// updateSubjectSets keeps lineage_subject_sets complete after new
// derivations from srcs: every dataset version derived (at any depth)
// from one of srcs, or among them, may have gained subjects, and its set
// is topped up from a walk. Sets only grow, as edges are never removed.
func updateSubjectSets(ctx context.Context, tx *sql.Tx, srcs []int64) error {
	if len(srcs) == 0 {
		return nil
	}
	slices.Sort(srcs)
	srcs = slices.Compact(srcs)
	affected := map[int64]bool{}
	for chunk := range slices.Chunk(srcs, 2*nodeBatch) {
		args := make([]any, 0, len(chunk)+2)
		for _, id := range chunk {
			args = append(args, id)
		}
		args = append(args, relCodes[ethos.RelWasDerivedFrom], string(ethos.LineageDatasetVersion))
		q := "WITH RECURSIVE down(n) AS (SELECT id FROM lineage_nodes WHERE id IN (" + placeholders(len(chunk)) + ")" +
			" UNION SELECT e.src FROM lineage_edges e JOIN down ON e.dst = down.n AND e.rel = ?)" +
			" SELECT down.n FROM down JOIN lineage_nodes k ON k.id = down.n WHERE k.kind = ?"
		rows, err := tx.QueryContext(ctx, q, args...)
		if err != nil {
			return fmt.Errorf("find dataset versions to update: %w", err)
		}
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			affected[id] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	for _, ds := range slices.Sorted(maps.Keys(affected)) {
		q := "INSERT INTO lineage_subject_sets (node, subject) SELECT CAST(? AS BIGINT), w.n FROM" +
			" (WITH RECURSIVE up(n) AS (SELECT CAST(? AS BIGINT) UNION SELECT e.dst FROM lineage_edges e JOIN up ON e.src = up.n AND e.rel = ?) SELECT n FROM up) w" +
			" JOIN lineage_nodes k ON k.id = w.n WHERE k.kind = ? ON CONFLICT (node, subject) DO NOTHING"
		if _, err := tx.ExecContext(ctx, q, ds, ds, relCodes[ethos.RelWasDerivedFrom], string(ethos.LineageSubject)); err != nil {
			return fmt.Errorf("update subject set: %w", err)
		}
	}
	return nil
}

// checkEdge checks an edge's nodes and that its relation joins the PROV
// classes PROV-DM allows it to join.
func checkEdge(e ethos.LineageEdge) error {
	if err := e.From.Validate(); err != nil {
		return err
	}
	if err := e.To.Validate(); err != nil {
		return err
	}
	from, to := e.From.Kind.ProvClass(), e.To.Kind.ProvClass()
	want := map[ethos.LineageRelation][2]string{
		ethos.RelUsed:              {"activity", "entity"},
		ethos.RelWasGeneratedBy:    {"entity", "activity"},
		ethos.RelWasDerivedFrom:    {"entity", "entity"},
		ethos.RelWasAttributedTo:   {"entity", "agent"},
		ethos.RelWasAssociatedWith: {"activity", "agent"},
	}
	w, ok := want[e.Relation]
	switch {
	case !ok:
		return ethos.Errorf(ethos.EINVALID, "unknown relation %q", e.Relation)
	case w != [2]string{from, to}:
		return ethos.Errorf(ethos.EINVALID, "%s %s %s: %s joins an %s to an %s", e.From, e.Relation, e.To, e.Relation, w[0], w[1])
	case e.From == e.To:
		return ethos.Errorf(ethos.EINVALID, "%s %s itself", e.From, e.Relation)
	}
	return nil
}

// ensureNodes inserts the nodes not yet known and returns every node's
// number.
func ensureNodes(ctx context.Context, tx *sql.Tx, nodes []ethos.LineageNode) (map[ethos.LineageNode]int64, error) {
	uniq := map[ethos.LineageNode]bool{}
	var list []ethos.LineageNode
	for _, n := range nodes {
		if !uniq[n] {
			uniq[n] = true
			list = append(list, n)
		}
	}
	// New nodes are numbered kind by kind (in the order given within a
	// kind): the instances of a processing run, its outputs and the
	// subjects behind them each get consecutive numbers instead of
	// interleaved ones, so that a whole walk reads each level as a few
	// exact ranges (lineage_walk.go).
	slices.SortStableFunc(list, func(a, b ethos.LineageNode) int { return strings.Compare(string(a.Kind), string(b.Kind)) })
	ids := make(map[ethos.LineageNode]int64, len(list))
	for chunk := range slices.Chunk(list, nodeBatch) {
		args := make([]any, 0, 2*len(chunk))
		for _, n := range chunk {
			args = append(args, string(n.Kind), n.ID)
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO lineage_nodes (kind, ref) VALUES "+valueRows(len(chunk), 2)+" ON CONFLICT (kind, ref) DO NOTHING", args...); err != nil {
			return nil, fmt.Errorf("insert lineage nodes: %w", err)
		}
		if err := lookupNodes(ctx, tx, chunk, ids); err != nil {
			return nil, err
		}
	}
	return ids, nil
}

// lookupNodes adds the numbers of the known nodes among chunk to ids.
func lookupNodes(ctx context.Context, q querier, chunk []ethos.LineageNode, ids map[ethos.LineageNode]int64) error {
	args := make([]any, 0, 2*len(chunk))
	for _, n := range chunk {
		args = append(args, string(n.Kind), n.ID)
	}
	cond := repeatJoin("(kind = ? AND ref = ?)", " OR ", len(chunk))
	rows, err := q.QueryContext(ctx, "SELECT id, kind, ref FROM lineage_nodes WHERE "+cond, args...)
	if err != nil {
		return fmt.Errorf("read lineage nodes: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var n ethos.LineageNode
		if err := rows.Scan(&id, &n.Kind, &n.ID); err != nil {
			return err
		}
		ids[n] = id
	}
	return rows.Err()
}

// nodeID returns the number of n, ENOTFOUND when nothing was recorded
// about it.
func (s *LineageService) nodeID(ctx context.Context, n ethos.LineageNode) (int64, error) {
	if err := n.Validate(); err != nil {
		return 0, err
	}
	var id int64
	err := s.db.db.QueryRowContext(ctx, "SELECT id FROM lineage_nodes WHERE kind = ? AND ref = ?", string(n.Kind), n.ID).Scan(&id)
	if noRows(err) {
		return 0, ethos.Errorf(ethos.ENOTFOUND, "lineage: nothing recorded about %s", n)
	}
	return id, err
}

// Upstream returns what n was built from.
func (s *LineageService) Upstream(ctx context.Context, n ethos.LineageNode, walk ethos.LineageWalk, kinds ...ethos.LineageKind) ([]ethos.LineageNode, error) {
	return s.closure(ctx, n, true, walk, kinds)
}

// Downstream returns what was built from n.
func (s *LineageService) Downstream(ctx context.Context, n ethos.LineageNode, walk ethos.LineageWalk, kinds ...ethos.LineageKind) ([]ethos.LineageNode, error) {
	return s.closure(ctx, n, false, walk, kinds)
}

// closure walks the edges from n: upstream follows src -> dst (towards
// what n was built from), downstream dst -> src, level by level
// (walkAll); each node comes out once, n itself never.
func (s *LineageService) closure(ctx context.Context, n ethos.LineageNode, up bool, walk ethos.LineageWalk, kinds []ethos.LineageKind) ([]ethos.LineageNode, error) {
	for _, k := range kinds {
		if !k.Valid() {
			return nil, ethos.Errorf(ethos.EINVALID, "lineage: unknown node kind %q", k)
		}
	}
	start, err := s.nodeID(ctx, n)
	if err != nil {
		return nil, err
	}
	if up && walk == ethos.WalkDerivations && len(kinds) == 1 && kinds[0] == ethos.LineageSubject {
		return s.subjectsBehind(ctx, n, start)
	}
	out, err := s.walkAll(ctx, start, up, walk, kinds)
	if err != nil {
		return nil, fmt.Errorf("lineage walk from %s: %w", n, err)
	}
	return out, nil
}

// subjectsBehind answers Upstream(n, WalkDerivations, subject) with the
// indexed closure: the walk stops at dataset versions and takes their
// subject sets instead of walking every instance behind them. The sets
// are read in a second query naming the dataset versions, which both
// planners answer from the primary key (one query joining the walk to
// the sets lets PostgreSQL misjudge the walk and scan every set).
func (s *LineageService) subjectsBehind(ctx context.Context, n ethos.LineageNode, start int64) ([]ethos.LineageNode, error) {
	q := "WITH RECURSIVE walk(n) AS (SELECT CAST(? AS BIGINT) UNION SELECT e.dst FROM walk JOIN lineage_nodes k ON k.id = walk.n" +
		" JOIN lineage_edges e ON e.src = walk.n AND e.rel = ? WHERE k.kind <> ?)" +
		" SELECT ln.id, ln.kind, ln.ref FROM walk JOIN lineage_nodes ln ON ln.id = walk.n WHERE ln.kind IN (?, ?) AND ln.id <> ?"
	rows, err := s.db.db.QueryContext(ctx, q, start, relCodes[ethos.RelWasDerivedFrom], string(ethos.LineageDatasetVersion),
		string(ethos.LineageSubject), string(ethos.LineageDatasetVersion), start)
	if err != nil {
		return nil, fmt.Errorf("subjects behind %s: %w", n, err)
	}
	found := map[string]bool{}
	var datasets []any
	for rows.Next() {
		var id int64
		var m ethos.LineageNode
		if err := rows.Scan(&id, &m.Kind, &m.ID); err != nil {
			rows.Close()
			return nil, err
		}
		if m.Kind == ethos.LineageSubject {
			found[m.ID] = true
		} else {
			datasets = append(datasets, id)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if n.Kind == ethos.LineageDatasetVersion {
		datasets = append(datasets, start)
	}
	for chunk := range slices.Chunk(datasets, 2*nodeBatch) {
		rows, err := s.db.db.QueryContext(ctx, "SELECT ln.ref FROM lineage_subject_sets ss JOIN lineage_nodes ln ON ln.id = ss.subject WHERE ss.node IN ("+
			placeholders(len(chunk))+")", chunk...)
		if err != nil {
			return nil, fmt.Errorf("subjects behind %s: %w", n, err)
		}
		for rows.Next() {
			var ref string
			if err := rows.Scan(&ref); err != nil {
				rows.Close()
				return nil, err
			}
			found[ref] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	out := make([]ethos.LineageNode, 0, len(found))
	for _, ref := range slices.Sorted(maps.Keys(found)) {
		out = append(out, ethos.LineageNode{Kind: ethos.LineageSubject, ID: ref})
	}
	return out, nil
}

// LineageEdges returns every edge with at least one end among nodes,
// each once, sorted. Nodes nothing was recorded about are ignored.
func (s *LineageService) LineageEdges(ctx context.Context, nodes []ethos.LineageNode) ([]ethos.LineageEdge, error) {
	ids := map[ethos.LineageNode]int64{}
	for chunk := range slices.Chunk(nodes, nodeBatch) {
		if err := lookupNodes(ctx, s.db.db, chunk, ids); err != nil {
			return nil, err
		}
	}
	list := make([]any, 0, len(ids))
	for _, id := range ids {
		list = append(list, id)
	}
	type key struct{ src, rel, dst int64 }
	found := map[key]int64{}
	for chunk := range slices.Chunk(list, 2*nodeBatch) {
		in := "(" + placeholders(len(chunk)) + ")"
		for _, col := range []string{"src", "dst"} {
			rows, err := s.db.db.QueryContext(ctx, "SELECT src, rel, dst, at FROM lineage_edges WHERE "+col+" IN "+in, chunk...)
			if err != nil {
				return nil, fmt.Errorf("read lineage edges: %w", err)
			}
			for rows.Next() {
				var k key
				var at int64
				if err := rows.Scan(&k.src, &k.rel, &k.dst, &at); err != nil {
					rows.Close()
					return nil, err
				}
				found[k] = at
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return nil, err
			}
		}
	}
	// Name the nodes at the far ends.
	byID := make(map[int64]ethos.LineageNode, len(ids))
	for n, id := range ids {
		byID[id] = n
	}
	var unknown []any
	for k := range found {
		for _, id := range []int64{k.src, k.dst} {
			if _, ok := byID[id]; !ok {
				byID[id] = ethos.LineageNode{}
				unknown = append(unknown, id)
			}
		}
	}
	for chunk := range slices.Chunk(unknown, 2*nodeBatch) {
		rows, err := s.db.db.QueryContext(ctx, "SELECT id, kind, ref FROM lineage_nodes WHERE id IN ("+placeholders(len(chunk))+")", chunk...)
		if err != nil {
			return nil, fmt.Errorf("read lineage nodes: %w", err)
		}
		for rows.Next() {
			var id int64
			var n ethos.LineageNode
			if err := rows.Scan(&id, &n.Kind, &n.ID); err != nil {
				rows.Close()
				return nil, err
			}
			byID[id] = n
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	out := make([]ethos.LineageEdge, 0, len(found))
	for k, at := range found {
		r, ok := relOf(k.rel)
		if !ok {
			continue
		}
		out = append(out, ethos.LineageEdge{From: byID[k.src], Relation: r, To: byID[k.dst], At: fromNanos(at)})
	}
	slices.SortFunc(out, compareEdges)
	return out, nil
}

func compareEdges(a, b ethos.LineageEdge) int {
	if c := strings.Compare(a.From.String(), b.From.String()); c != 0 {
		return c
	}
	if c := strings.Compare(string(a.Relation), string(b.Relation)); c != 0 {
		return c
	}
	return strings.Compare(a.To.String(), b.To.String())
}

// MaxLineagePage bounds the nodes of one page of a paged walk.
const MaxLineagePage = 10000

// lineageCursor is what a page cursor carries: where the next page
// starts in walk order, the graph's write count when the walk began, and
// the last node handed out (checked again at the next page's start, so a
// walk that came out in another order is refused, not skipped through).
type lineageCursor struct {
	Offset int    `json:"o"`
	Writes int64  `json:"w"`
	Last   string `json:"l"`
}

func (c lineageCursor) encode() string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string) (lineageCursor, error) {
	var c lineageCursor
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		err = json.Unmarshal(b, &c)
	}
	if err != nil || c.Offset < 1 || c.Last == "" {
		return c, ethos.Errorf(ethos.EINVALID, "lineage: malformed page cursor")
	}
	return c, nil
}

// UpstreamPage is one page of Upstream, in walk order.
func (s *LineageService) UpstreamPage(ctx context.Context, n ethos.LineageNode, walk ethos.LineageWalk, cursor string, limit int, kinds ...ethos.LineageKind) (*ethos.LineagePage, error) {
	return s.page(ctx, n, true, walk, cursor, limit, kinds)
}

// DownstreamPage is one page of Downstream, in walk order.
func (s *LineageService) DownstreamPage(ctx context.Context, n ethos.LineageNode, walk ethos.LineageWalk, cursor string, limit int, kinds ...ethos.LineageKind) (*ethos.LineagePage, error) {
	return s.page(ctx, n, false, walk, cursor, limit, kinds)
}

// page cuts one page from the level walk (pageWalk): breadth-first, each
// level in node-number order, so the order is fixed by the graph alone;
// the walk goes only as deep as the page (and the one node after it,
// which says whether more follow) reaches, and only the page's nodes are
// named.
func (s *LineageService) page(ctx context.Context, n ethos.LineageNode, up bool, walk ethos.LineageWalk, cursor string, limit int, kinds []ethos.LineageKind) (*ethos.LineagePage, error) {
	if limit < 1 || limit > MaxLineagePage {
		return nil, ethos.Errorf(ethos.EINVALID, "lineage: page size must be 1 to %d", MaxLineagePage)
	}
	for _, k := range kinds {
		if !k.Valid() {
			return nil, ethos.Errorf(ethos.EINVALID, "lineage: unknown node kind %q", k)
		}
	}
	var writes int64
	if err := s.db.db.QueryRowContext(ctx, "SELECT writes FROM lineage_writes WHERE id = 1").Scan(&writes); err != nil {
		return nil, fmt.Errorf("lineage write count: %w", err)
	}
	var cur lineageCursor
	if cursor != "" {
		var err error
		if cur, err = decodeCursor(cursor); err != nil {
			return nil, err
		}
		if cur.Writes != writes {
			return nil, ethos.Errorf(ethos.ECONFLICT, "lineage: the graph changed since the first page; start the listing again")
		}
	}
	start, err := s.nodeID(ctx, n)
	if err != nil {
		return nil, err
	}
	// From the last node of the previous page, to check it is still
	// there; one node past the page, to know whether more follow.
	skip := max(cur.Offset-1, 0)
	want := limit + 1
	if cur.Offset > 0 {
		want++
	}
	out, err := s.pageWalk(ctx, start, up, walk, kinds, skip, want)
	if err != nil {
		return nil, fmt.Errorf("lineage walk from %s: %w", n, err)
	}
	if cur.Offset > 0 {
		if len(out) == 0 || out[0].String() != cur.Last {
			return nil, ethos.Errorf(ethos.ECONFLICT, "lineage: the walk no longer continues where the previous page ended; start the listing again")
		}
		out = out[1:]
	}
	pg := &ethos.LineagePage{Nodes: out}
	if len(out) > limit {
		pg.Nodes = out[:limit]
		pg.Next = lineageCursor{Offset: cur.Offset + limit, Writes: writes, Last: out[limit-1].String()}.encode()
	}
	return pg, nil
}
