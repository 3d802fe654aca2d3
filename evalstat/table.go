package evalstat

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
)

// MaxAttributes is the largest number of group attributes a Table holds, and
// MaxLevels the largest number of distinct values of one attribute.
const (
	MaxAttributes = 4
	MaxLevels     = 1<<16 - 1
	maxCells      = 1<<31 - 1
)

// Attribute is a grouping column: its name and its distinct values in order
// of first appearance.
type Attribute struct {
	Name   string
	Levels []string
}

// Table holds the rows of one evaluation as columns: label, score, the
// stratum (the observed combination of attribute values) and optionally a
// cluster id (patient). Build it with [NewTable] and [Table.Add], or
// [ReadCSV].
type Table struct {
	Attrs []Attribute
	// Cells lists each observed combination of attribute values as level
	// codes, one per attribute, in order of first appearance.
	Cells [][]uint32

	score   []float64
	pay     []uint32 // label<<31 | cell
	cluster []uint32 // nil without clusters
	nclust  int
	sorted  bool
	// digits is the most digits after the point among the scores when the
	// CSV readers read every one as a plain decimal (so that each score is
	// the correctly rounded value of one): the scale of sortCodes' codes.
	// -1: no rows yet; -2: not known (Table.Add, other spellings).
	digits int

	levelIdx []map[string]uint32
	cellIdx  map[uint64]uint32
	cellHot  *[cellHotSize]cellHotEntry // direct-mapped cache in front of cellIdx
	clustIdx map[string]uint32
	clustIDs []string
	codes    []uint32 // scratch
}

// cellHotSize is the size of the direct-mapped cache of attribute
// combinations (Table.add), which spares most rows a map lookup.
const (
	cellHotBits = 10
	cellHotSize = 1 << cellHotBits
)

// cellHotEntry caches one combination.
type cellHotEntry struct {
	key  uint64
	cell uint32
	ok   bool
}

// NewTable returns an empty table grouped by the named attributes. With
// clusters, every row must name its cluster (for example the patient).
func NewTable(attrs []string, clusters bool) (*Table, error) {
	if len(attrs) > MaxAttributes {
		return nil, fmt.Errorf("evalstat: %d group attributes, at most %d", len(attrs), MaxAttributes)
	}
	t := &Table{cellIdx: make(map[uint64]uint32), codes: make([]uint32, len(attrs)), digits: -1}
	for _, a := range attrs {
		t.Attrs = append(t.Attrs, Attribute{Name: a})
		t.levelIdx = append(t.levelIdx, make(map[string]uint32))
	}
	if clusters {
		t.clustIdx = make(map[string]uint32)
		t.cluster = []uint32{}
	}
	return t, nil
}

// Len returns the number of rows.
func (t *Table) Len() int { return len(t.score) }

// HasClusters reports whether rows carry a cluster id.
func (t *Table) HasClusters() bool { return t.cluster != nil }

// Clusters returns the number of distinct cluster ids.
func (t *Table) Clusters() int { return t.nclust }

// Add appends a row. The score must be a number in [0, 1]; groups holds one
// value per attribute; cluster is ignored when the table has no clusters.
func (t *Table) Add(label bool, score float64, groups []string, cluster string) error {
	if len(groups) != len(t.Attrs) {
		return fmt.Errorf("evalstat: %d group values for %d attributes", len(groups), len(t.Attrs))
	}
	for i, g := range groups {
		c, err := t.level(i, []byte(g))
		if err != nil {
			return err
		}
		t.codes[i] = c
	}
	var cl uint32
	if t.cluster != nil {
		cl = t.clusterCode([]byte(cluster))
	}
	t.digits = -2 // a float64, not known to be a short decimal
	return t.add(label, score, cl)
}

// level returns the code of value b of attribute i.
func (t *Table) level(i int, b []byte) (uint32, error) {
	// Most attributes have a handful of values: a scan beats hashing.
	if lv := t.Attrs[i].Levels; len(lv) <= 8 {
		for c, name := range lv {
			if name == string(b) {
				return uint32(c), nil
			}
		}
	}
	m := t.levelIdx[i]
	if c, ok := m[string(b)]; ok {
		return c, nil
	}
	if len(m) >= MaxLevels {
		return 0, fmt.Errorf("evalstat: attribute %q has more than %d distinct values", t.Attrs[i].Name, MaxLevels)
	}
	c := uint32(len(m))
	s := string(b)
	m[s] = c
	t.Attrs[i].Levels = append(t.Attrs[i].Levels, s)
	return c, nil
}

func (t *Table) clusterCode(b []byte) uint32 {
	if c, ok := t.clustIdx[string(b)]; ok {
		return c
	}
	c := uint32(len(t.clustIdx))
	id := string(b)
	t.clustIdx[id] = c
	t.clustIDs = append(t.clustIDs, id)
	t.nclust++
	return c
}

// reset empties t for reuse, keeping its columns' memory.
func (t *Table) reset() {
	for i := range t.Attrs {
		t.Attrs[i].Levels = nil
		clear(t.levelIdx[i])
	}
	t.Cells = nil
	clear(t.cellIdx)
	if t.cellHot != nil {
		clear(t.cellHot[:])
	}
	t.score, t.pay = t.score[:0], t.pay[:0]
	if t.cluster != nil {
		t.cluster = t.cluster[:0]
		clear(t.clustIdx)
		t.clustIDs = nil
		t.nclust = 0
	}
	t.sorted = false
	t.digits = -1
}

// grow makes room for n more rows.
func (t *Table) grow(n int) {
	t.score = slices.Grow(t.score, n)
	t.pay = slices.Grow(t.pay, n)
	if t.cluster != nil {
		t.cluster = slices.Grow(t.cluster, n)
	}
}

// add appends a row whose attribute codes are in t.codes.
func (t *Table) add(label bool, score float64, cluster uint32) error {
	if math.IsNaN(score) || score < 0 || score > 1 {
		return fmt.Errorf("evalstat: score %v outside [0, 1]", score)
	}
	cell, err := t.cellOf()
	if err != nil {
		return err
	}
	if score == 0 {
		score = 0 // -0 → 0
	}
	t.addRow(label, score, cell, cluster)
	return nil
}

// addRow appends a row of a known cell; score is in [0, 1] and not -0.
func (t *Table) addRow(label bool, score float64, cell, cluster uint32) {
	p := cell
	if label {
		p |= labelBit
	}
	t.addPay(score, p, cluster)
}

// addPay appends a row whose label and cell are packed in p (labelBit |
// cell).
func (t *Table) addPay(score float64, p, cluster uint32) {
	t.score = append(t.score, score)
	t.pay = append(t.pay, p)
	if t.cluster != nil {
		t.cluster = append(t.cluster, cluster)
	}
	t.sorted = false
}

// cellOf returns the cell of the attribute codes in t.codes, adding it
// when it is new.
func (t *Table) cellOf() (uint32, error) {
	var key uint64
	for i, c := range t.codes {
		key |= uint64(c) << (16 * i)
	}
	if t.cellHot == nil {
		t.cellHot = new([cellHotSize]cellHotEntry)
	}
	hot := &t.cellHot[(key*0x9E3779B97F4A7C15)>>(64-cellHotBits)]
	cell, ok := hot.cell, hot.ok && hot.key == key
	if !ok {
		cell, ok = t.cellIdx[key]
	}
	if ok {
		*hot = cellHotEntry{key: key, cell: cell, ok: true}
		return cell, nil
	}
	if len(t.Cells) >= maxCells {
		return 0, fmt.Errorf("evalstat: too many attribute combinations")
	}
	cell = uint32(len(t.Cells))
	t.cellIdx[key] = cell
	t.Cells = append(t.Cells, append([]uint32(nil), t.codes...))
	*hot = cellHotEntry{key: key, cell: cell, ok: true}
	return cell, nil
}

// sort orders the rows by descending score, once: by sortCodes when the
// scores are short decimals and there are no clusters (rows of equal score
// stay in input order), else by sortDesc.
func (t *Table) sort() {
	if t.sorted {
		return
	}
	if t.cluster != nil || !sortCodes(t.score, t.pay, t.digits, len(t.Cells)) {
		sortDesc(t.score, t.pay, t.cluster)
	}
	t.sorted = true
}

// noteDigits records that rows were read with scores of at most d digits
// after the point (d = -2: some were not plain decimals; -1: no rows).
func (t *Table) noteDigits(d int) {
	switch {
	case d == -1:
	case t.digits == -2 || d == -2:
		t.digits = -2
	default:
		t.digits = max(t.digits, d)
	}
}

// WriteCSV writes the table's rows (in their current order) as CSV with the
// columns named in spec: label, score, the group attributes and the cluster
// when the table has one. Scores are written in the shortest form that
// reads back to the same float64.
func (t *Table) WriteCSV(w io.Writer, spec CSVSpec) error {
	bw := bufio.NewWriter(w)
	cols := []string{spec.Label, spec.Score}
	cols = append(cols, spec.Groups...)
	if t.cluster != nil {
		cols = append(cols, spec.Cluster)
	}
	for i, c := range cols {
		if i > 0 {
			bw.WriteByte(',')
		}
		writeField(bw, c)
	}
	bw.WriteByte('\n')
	var buf []byte
	for i, s := range t.score {
		p := t.pay[i]
		if p&labelBit != 0 {
			bw.WriteString("1,")
		} else {
			bw.WriteString("0,")
		}
		buf = strconv.AppendFloat(buf[:0], s, 'g', -1, 64)
		bw.Write(buf)
		cell := t.Cells[p&^labelBit]
		for a, code := range cell {
			bw.WriteByte(',')
			writeField(bw, t.Attrs[a].Levels[code])
		}
		if t.cluster != nil {
			bw.WriteByte(',')
			writeField(bw, t.clustIDs[t.cluster[i]])
		}
		bw.WriteByte('\n')
	}
	return bw.Flush()
}

// Row returns row i's label, score, group values and cluster id (in the
// table's current order).
func (t *Table) Row(i int) (label bool, score float64, groups []string, cluster string) {
	p := t.pay[i]
	for a, code := range t.Cells[p&^labelBit] {
		groups = append(groups, t.Attrs[a].Levels[code])
	}
	if t.cluster != nil {
		cluster = t.clustIDs[t.cluster[i]]
	}
	return p&labelBit != 0, t.score[i], groups, cluster
}

func writeField(w *bufio.Writer, s string) {
	if s == "" || strings.ContainsAny(s, ",\"\r\n") || s[0] == ' ' || s[len(s)-1] == ' ' || strings.HasPrefix(s, "\ufeff") {
		w.WriteByte('"')
		w.WriteString(strings.ReplaceAll(s, `"`, `""`))
		w.WriteByte('"')
		return
	}
	w.WriteString(s)
}
