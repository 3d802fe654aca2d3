package evalstat_test

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/ethos-imaging/ethos/evalstat"
)

// fastPathTable writes n seeded rows spread over several read chunks, in
// the plain form the fast path reads and, with quote, with a quoted group
// value on every line, which only the general reader handles. Values mix
// short and long group names, missing values, CRLF line ends, labels
// written 1.0, and scores the fast path leaves to the general parser.
func fastPathTable(n int, quote bool, badRow int) []byte {
	rng := rand.New(rand.NewPCG(3, 4))
	sites := []string{"A", "north-east-hospital", "", "B7", "a-very-long-site-name-indeed"}
	var b bytes.Buffer
	b.WriteString("pid,label,score,sex,note,site\r\n")
	for i := 1; i <= n; i++ {
		label := []string{"0", "1"}[rng.IntN(2)]
		if rng.IntN(50) == 0 {
			label += ".0"
		}
		score := fmt.Sprintf("%.6f", rng.Float64())
		switch rng.IntN(200) {
		case 0:
			score = "1e-3"
		case 1:
			score = " 0.5"
		case 2:
			score = "1"
		case 3:
			score = ".25"
		}
		if i == badRow {
			score = "1.5"
		}
		sex := []string{"F", "M"}[rng.IntN(2)]
		if quote {
			sex = `"` + sex + `"`
		}
		eol := "\n"
		if rng.IntN(3) == 0 {
			eol = "\r\n"
		}
		fmt.Fprintf(&b, "P%d,%s,%s,%s,x%d,%s%s", i, label, score, sex, rng.IntN(1000), sites[rng.IntN(len(sites))], eol)
	}
	return b.Bytes()
}

func TestReadCSVFastPathMatchesGeneral(t *testing.T) {
	fspec := evalstat.CSVSpec{Label: "label", Score: "score", Groups: []string{"sex", "site"}, Cluster: "pid"}
	const n = 70000 // about 2.5 MiB: several chunks
	t.Run("SameTable", func(t *testing.T) {
		fast, err := evalstat.ReadCSV(bytes.NewReader(fastPathTable(n, false, 0)), fspec)
		if err != nil {
			t.Fatal(err)
		}
		slow, err := evalstat.ReadCSV(bytes.NewReader(fastPathTable(n, true, 0)), fspec)
		if err != nil {
			t.Fatal(err)
		}
		if fast.Len() != n || slow.Len() != n || fast.Clusters() != n {
			t.Fatalf("rows %d and %d, clusters %d, want %d", fast.Len(), slow.Len(), fast.Clusters(), n)
		}
		for a := range fast.Attrs {
			if !slices.Equal(fast.Attrs[a].Levels, slow.Attrs[a].Levels) {
				t.Errorf("attribute %d levels %q, general reader %q", a, fast.Attrs[a].Levels, slow.Attrs[a].Levels)
			}
		}
		for i := range n {
			l1, s1, g1, c1 := fast.Row(i)
			l2, s2, g2, c2 := slow.Row(i)
			if l1 != l2 || s1 != s2 || !slices.Equal(g1, g2) || c1 != c2 {
				t.Fatalf("row %d: %v %v %q %s, general reader %v %v %q %s", i, l1, s1, g1, c1, l2, s2, g2, c2)
			}
		}
	})
	t.Run("AdjacentGroupsSameTable", func(t *testing.T) {
		// sex, note and site are adjacent columns: the combination cache
		// keys on their text as one span (long site names make some
		// spans too long for it).
		aspec := evalstat.CSVSpec{Label: "label", Score: "score", Groups: []string{"sex", "note", "site"}}
		fuzzFastMatchesGeneral(t, fastPathTable(n, false, 0), aspec)
		// Only lines the fast path takes (fastPathTable's odd scores,
		// labels and empty values send the rest of a chunk to the general
		// reader), with spans of 5 to 33 bytes and more combinations
		// than the cache holds.
		rng := rand.New(rand.NewPCG(5, 6))
		sites := []string{"A", "B7", "north", "north-east-hospital", "c"}
		var b bytes.Buffer
		b.WriteString("pid,label,score,sex,note,site\n")
		for i := range n {
			fmt.Fprintf(&b, "P%d,%d,%.6f,%s,x%d,%s\n", i, rng.IntN(2), rng.Float64(), []string{"F", "M"}[rng.IntN(2)], rng.IntN(1+rng.IntN(2000)), sites[rng.IntN(len(sites))])
		}
		fuzzFastMatchesGeneral(t, b.Bytes(), aspec)
	})
	t.Run("ErrSamePosition", func(t *testing.T) {
		for _, bad := range []int{1, 31000, n} {
			_, err1 := evalstat.ReadCSV(bytes.NewReader(fastPathTable(n, false, bad)), fspec)
			_, err2 := evalstat.ReadCSV(bytes.NewReader(fastPathTable(n, true, bad)), fspec)
			ce1, ok1 := errors.AsType[*evalstat.CSVError](err1)
			_, ok2 := errors.AsType[*evalstat.CSVError](err2)
			if !ok1 || !ok2 || !errors.Is(err1, evalstat.ErrScore) || ce1.Row != bad || ce1.Line != bad+1 || err1.Error() != err2.Error() {
				t.Errorf("bad row %d: %v; general reader: %v", bad, err1, err2)
			}
		}
	})
	t.Run("NoFinalLineBreak", func(t *testing.T) {
		in := strings.TrimSuffix(string(fastPathTable(1000, false, 0)), "\n")
		tab, err := evalstat.ReadCSV(strings.NewReader(in), fspec)
		if err != nil || tab.Len() != 1000 {
			t.Fatalf("%v, %d rows", err, tab.Len())
		}
	})
}

// TestReadCSVScoreDigits reads scores with every number of digits the
// eight-at-a-time conversion takes (and a few it leaves to the digit loop),
// with short group values that go through the cache of combinations, and
// checks every score against strconv.ParseFloat and every group value
// against the text. Lines that are not plain numbers fail with the row
// and column, as the general reader reports them.
func TestReadCSVScoreDigits(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 9))
	var b strings.Builder
	b.WriteString("a,score,label,b\n")
	var want []float64
	var groups [][]string
	for i := range 30000 {
		var s string
		switch k := i % 12; {
		case k < 8:
			s = "0." + fmt.Sprintf("%0*d", k+1, rng.Uint64N(uint64(math.Pow10(k+1))))
		case k == 8:
			s = "1." + strings.Repeat("0", 1+rng.IntN(8))
		case k == 9:
			s = "0." + fmt.Sprintf("%012d", rng.Uint64N(1e12)) // long: the digit loop
		case k == 10:
			s = fmt.Sprint(rng.IntN(2)) // no point
		default:
			s = "0.9" + strings.Repeat("9", rng.IntN(8))
		}
		x, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, x)
		g := []string{[]string{"x", "yy", "zzzzzzzz", "long-value-12"}[rng.IntN(4)], fmt.Sprint(rng.IntN(40))}
		groups = append(groups, g)
		fmt.Fprintf(&b, "%s,%s,%d,%s\n", g[0], s, rng.IntN(2), g[1])
	}
	spec := evalstat.CSVSpec{Label: "label", Score: "score", Groups: []string{"a", "b"}}
	tab, err := evalstat.ReadCSV(strings.NewReader(b.String()), spec)
	if err != nil {
		t.Fatal(err)
	}
	for i, x := range want {
		_, s, g, _ := tab.Row(i)
		if s != x || !slices.Equal(g, groups[i]) {
			t.Fatalf("row %d: score %v groups %q, want %v %q", i+1, s, g, x, groups[i])
		}
	}
	for _, bad := range []string{"0.5x", "0.1234567:", "0./", "1.00000001", "1.5"} {
		t.Run("Err"+bad, func(t *testing.T) {
			in := "a,score,label,b\nx,0.5,1,1\nx," + bad + ",0,2\nx,0.25,1,3\n" + strings.Repeat("x,0.125,0,4\n", 4)
			_, err := evalstat.ReadCSV(strings.NewReader(in), spec)
			ce, ok := errors.AsType[*evalstat.CSVError](err)
			if !ok || ce.Row != 2 || ce.Column != "score" || !errors.Is(err, evalstat.ErrScore) {
				t.Fatalf("%q: error %v, want ErrScore at row 2, column score", bad, err)
			}
		})
	}
}

// TestDelimMasksMarkEveryDelimiter checks the delimiter masks of the fast
// path, the assembly version and the portable one, against a byte-by-byte
// comparison: every comma and line break marked, nothing else, and whether
// there is a quote, in blocks of
// random bytes, of delimiters next to every byte value, and of the
// benchmark table's text.
func TestDelimMasksMarkEveryDelimiter(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	var inputs [][]byte
	random := make([]byte, 64*300)
	for i := range random {
		random[i] = byte(rng.Uint32())
		if rng.IntN(4) == 0 {
			random[i] = ",\n\r\"-+"[rng.IntN(6)]
		}
	}
	inputs = append(inputs, random)
	var pairs []byte
	for _, d := range []byte{',', '\n'} {
		for v := range 256 {
			pairs = append(pairs, d, byte(v), byte(v), d)
		}
	}
	inputs = append(inputs, pairs[:len(pairs)/64*64])
	table := fastPathTable(2000, false, 0)
	inputs = append(inputs, table[:len(table)/64*64])
	quoted := fastPathTable(2000, true, 0)
	inputs = append(inputs, quoted[:len(quoted)/64*64])
	// One quote in the last byte of the last block.
	last := bytes.Repeat([]byte("ab,c\n"), 64)[:256]
	last[255] = '"'
	inputs = append(inputs, last)
	for _, in := range inputs {
		n := len(in) / 64
		for name, masks := range map[string]func([]byte, []uint64, []uint64) bool{"DelimMasks": evalstat.DelimMasks, "DelimMasksGo": evalstat.DelimMasksGo} {
			commas, lines := make([]uint64, n+1), make([]uint64, n+1)
			commas[n], lines[n] = 7, 7 // past the end: must stay
			quote := masks(in, commas, lines)
			if commas[n] != 7 || lines[n] != 7 {
				t.Fatalf("%s wrote past %d blocks", name, n)
			}
			if want := bytes.IndexByte(in[:64*n], '"') >= 0; quote != want {
				t.Fatalf("%s: quote %v, want %v", name, quote, want)
			}
			for i, c := range in {
				gotC, gotL := commas[i/64]>>(i%64)&1 == 1, lines[i/64]>>(i%64)&1 == 1
				if gotC != (c == ',') || gotL != (c == '\n') {
					t.Fatalf("%s: byte %d (%q): comma %v, line break %v", name, i, c, gotC, gotL)
				}
			}
		}
	}
}

// FuzzReadCSVFastMatchesGeneral reads every input twice, with the fast
// path and with the general reader alone: both must give the same table,
// or the same error.
func FuzzReadCSVFastMatchesGeneral(f *testing.F) {
	f.Add(fastPathTable(300, false, 0))
	f.Add(fastPathTable(200, false, 17))
	f.Add([]byte("pid,label,score,sex,note,site\n1,1,0.12345678,F,x,ab\n2,0,1.00000000,M,y,abcdefghi\n3,1,0.5x,F,z,\n"))
	f.Add([]byte("pid,label,score,sex,note,site\r\nP1,1.0,0.25,F , x ,-a\r\nP2,0,.5,\"M\",y,b\r\n"))
	// Two layouts: group columns apart, and adjacent in column order
	// (whose text the combination cache takes as one key).
	specs := []evalstat.CSVSpec{
		{Label: "label", Score: "score", Groups: []string{"sex", "site"}, Cluster: "pid"},
		{Label: "label", Score: "score", Groups: []string{"sex", "note", "site"}},
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, spec := range specs {
			fuzzFastMatchesGeneral(t, data, spec)
		}
	})
}

func fuzzFastMatchesGeneral(t *testing.T, data []byte, spec evalstat.CSVSpec) {
	fast, err1 := evalstat.ReadCSV(bytes.NewReader(data), spec)
	restore := evalstat.SetGeneralOnly(true)
	slow, err2 := evalstat.ReadCSV(bytes.NewReader(data), spec)
	restore()
	if (err1 == nil) != (err2 == nil) || (err1 != nil && err1.Error() != err2.Error()) {
		t.Fatalf("groups %q: fast path: %v; general reader: %v", spec.Groups, err1, err2)
	}
	if err1 != nil {
		return
	}
	if fast.Len() != slow.Len() || fast.Clusters() != slow.Clusters() {
		t.Fatalf("groups %q: %d rows, %d clusters; general reader %d, %d", spec.Groups, fast.Len(), fast.Clusters(), slow.Len(), slow.Clusters())
	}
	for a := range fast.Attrs {
		if !slices.Equal(fast.Attrs[a].Levels, slow.Attrs[a].Levels) {
			t.Fatalf("groups %q: attribute %d levels %q, general reader %q", spec.Groups, a, fast.Attrs[a].Levels, slow.Attrs[a].Levels)
		}
	}
	for i := range fast.Len() {
		l1, s1, g1, c1 := fast.Row(i)
		l2, s2, g2, c2 := slow.Row(i)
		if l1 != l2 || math.Float64bits(s1) != math.Float64bits(s2) || !slices.Equal(g1, g2) || c1 != c2 {
			t.Fatalf("groups %q: row %d: %v %v %q %s, general reader %v %v %q %s", spec.Groups, i, l1, s1, g1, c1, l2, s2, g2, c2)
		}
	}
}
