package main

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/drift"
	"github.com/ethos-imaging/ethos/svgchart"
)

const driftUsage = "drift --ref FILE --cur FILE --column NAME [--categorical] [--bins 10] [--epsilon 1e-4] [--chart FILE.svg] [--out FILE]"

// runDrift compares one column of a reference CSV file with the same
// column of a current CSV file (either may be gzip-compressed) and prints
// the drift statistics as JSON: KS, Wasserstein-1 and PSI for a numeric
// column; PSI, chi-square, Jensen–Shannon and new categories for a
// categorical one. Empty cells are counted as missing and left out.
func runDrift(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "drift", driftUsage)
	ref := fs.String("ref", "", "reference CSV file (.csv or .csv.gz) with a header row")
	cur := fs.String("cur", "", "current (monitoring window) CSV file")
	column := fs.String("column", "", "name of the column to compare")
	categorical := fs.Bool("categorical", false, "treat the column as categories (default: numbers)")
	bins := fs.Int("bins", drift.DefaultBins, "PSI bins at reference quantiles (numeric columns)")
	epsilon := fs.Float64("epsilon", drift.DefaultEpsilon, "share that replaces an empty PSI bin")
	chart := fs.String("chart", "", "also write an SVG bar chart of the shares to this file")
	out := fs.String("out", "", "write the JSON here instead of standard output")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return usagef("drift takes no arguments, got %q", fs.Arg(0))
	case *ref == "" || *cur == "" || *column == "":
		return usagef("drift needs --ref, --cur and --column")
	case *bins < 1 || *bins > 1000:
		return usagef("--bins must be between 1 and 1000")
	case !(*epsilon > 0 && *epsilon < 1):
		return usagef("--epsilon must be in (0, 1)")
	}
	refCol, err := driftReadColumn(ctx, *ref, *column, *categorical)
	if err != nil {
		return err
	}
	curCol, err := driftReadColumn(ctx, *cur, *column, *categorical)
	if err != nil {
		return err
	}
	rep := driftReport{Column: *column, Reference: refCol.summary(), Current: curCol.summary()}
	var bars *svgchart.BarChart
	if *categorical {
		rep.Kind = "categorical"
		t := drift.Align(refCol.counts, curCol.counts)
		res, err := drift.CompareCategorical(t, *epsilon)
		if err != nil {
			return driftStatError(err)
		}
		rep.PSI = driftPSIJSON(res.PSI, nil)
		rep.ChiSquare = &driftChi{Statistic: res.ChiSquare.Statistic, DoF: res.ChiSquare.DoF, PValue: res.ChiSquare.PValue}
		rep.JensenShannon = &driftJS{Divergence: res.JS.Divergence, Distance: res.JS.Distance, Base: 2}
		rep.NewCategories = []driftNewCat{}
		for _, n := range res.New {
			rep.NewCategories = append(rep.NewCategories, driftNewCat{n.Category, n.Count})
		}
		bars = driftShareChart(*column, res.PSI)
	} else {
		rep.Kind = "numeric"
		r, err := drift.NewReference(refCol.values, *bins, *epsilon)
		if err != nil {
			return driftStatError(err)
		}
		res, err := r.Compare(curCol.values)
		if err != nil {
			return driftStatError(err)
		}
		rep.KS = &driftKS{Statistic: res.KS.Statistic, PValue: res.KS.PValue, Method: res.KS.Method}
		rep.Wasserstein = &res.Wasserstein
		rep.PSI = driftPSIJSON(res.PSI, r.Edges())
		rep.Reference.Mean, rep.Current.Mean = &res.RefMean, &res.CurMean
		bars = driftShareChart(*column, res.PSI)
	}
	if *chart != "" {
		svg, err := bars.SVG()
		if err != nil {
			return fmt.Errorf("drift chart: %w", err)
		}
		if err := writeAtomic(*chart, svg, 0o644); err != nil {
			return err
		}
	}
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if *out != "" {
		return writeAtomic(*out, b, 0o644)
	}
	_, err = env.Stdout.Write(b)
	return err
}

// driftReport is the JSON document of `ethos drift`.
type driftReport struct {
	Column        string        `json:"column"`
	Kind          string        `json:"kind"` // numeric | categorical
	Reference     driftSample   `json:"reference"`
	Current       driftSample   `json:"current"`
	KS            *driftKS      `json:"ks,omitempty"`
	Wasserstein   *float64      `json:"wasserstein,omitempty"`
	PSI           driftPSIOut   `json:"psi"`
	ChiSquare     *driftChi     `json:"chi_square,omitempty"`
	JensenShannon *driftJS      `json:"jensen_shannon,omitempty"`
	NewCategories []driftNewCat `json:"new_categories,omitempty"`
}

type driftSample struct {
	N       int      `json:"n"`
	Missing int      `json:"missing"`
	Mean    *float64 `json:"mean,omitempty"`
}

type driftKS struct {
	Statistic float64 `json:"statistic"`
	PValue    float64 `json:"p_value"`
	Method    string  `json:"method"`
}

type driftChi struct {
	Statistic float64 `json:"statistic"`
	DoF       int     `json:"dof"`
	PValue    float64 `json:"p_value"`
}

type driftJS struct {
	Divergence float64 `json:"divergence"`
	Distance   float64 `json:"distance"`
	Base       int     `json:"base"`
}

type driftNewCat struct {
	Category string  `json:"category"`
	Count    float64 `json:"count"`
}

type driftPSIOut struct {
	Value float64       `json:"value"`
	Bins  []driftPSIBin `json:"bins"`
}

type driftPSIBin struct {
	Label     string  `json:"label"`
	Reference float64 `json:"reference"`
	Current   float64 `json:"current"`
	RefShare  float64 `json:"reference_share"`
	CurShare  float64 `json:"current_share"`
	Term      float64 `json:"term"`
}

func driftPSIJSON(p drift.PSIResult, edges []float64) driftPSIOut {
	o := driftPSIOut{Value: p.PSI, Bins: []driftPSIBin{}}
	for _, b := range p.Bins {
		o.Bins = append(o.Bins, driftPSIBin{Label: driftBinLabel(b), Reference: b.Ref, Current: b.Cur,
			RefShare: b.RefShare, CurShare: b.CurShare, Term: b.Term})
	}
	return o
}

func driftBinLabel(b drift.PSIBin) string {
	if math.IsNaN(b.Lower) {
		return b.Category
	}
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }
	switch {
	case math.IsInf(b.Lower, -1) && math.IsInf(b.Upper, 1):
		return "all"
	case math.IsInf(b.Lower, -1):
		return "≤ " + f(b.Upper)
	case math.IsInf(b.Upper, 1):
		return "> " + f(b.Lower)
	}
	return "(" + f(b.Lower) + ", " + f(b.Upper) + "]"
}

// driftShareChart draws the current share per bin with the reference share as
// the reference marker.
func driftShareChart(column string, p drift.PSIResult) *svgchart.BarChart {
	c := &svgchart.BarChart{
		Options: svgchart.Options{
			Title:  fmt.Sprintf("%s: share per bin (PSI %.3f)", column, p.PSI),
			YLabel: "Share", XLabel: column, Width: 720, Height: 360,
		},
		Format: svgchart.Percent(1), ReferenceName: "Reference share",
	}
	s := svgchart.BarSeries{Name: "Current window"}
	for _, b := range p.Bins {
		c.Categories = append(c.Categories, driftBinLabel(b))
		s.Values = append(s.Values, b.Cur/driftNonZero(driftSumCur(p)))
		s.Reference = append(s.Reference, b.Ref/driftNonZero(driftSumRef(p)))
	}
	c.Series = []svgchart.BarSeries{s}
	return c
}

func driftSumCur(p drift.PSIResult) (s float64) {
	for _, b := range p.Bins {
		s += b.Cur
	}
	return s
}

func driftSumRef(p drift.PSIResult) (s float64) {
	for _, b := range p.Bins {
		s += b.Ref
	}
	return s
}

func driftNonZero(v float64) float64 {
	if v == 0 {
		return math.NaN()
	}
	return v
}

// driftStatError turns an input error of the drift engine into a coded error
// (its message names the statistic, argument and index, never a value).
func driftStatError(err error) error {
	if e, ok := errors.AsType[*drift.Error](err); ok {
		return ethos.Errorf(ethos.EINVALID, "%s", strings.TrimPrefix(e.Error(), "drift: "))
	}
	return err
}

// driftColumn holds one column read from a CSV file.
type driftColumn struct {
	values  []float64
	counts  map[string]int
	n       int
	missing int
}

func (c *driftColumn) summary() driftSample { return driftSample{N: c.n, Missing: c.missing} }

// driftReadColumn streams a CSV file (gzip-compressed when it starts with the
// gzip magic bytes) and keeps one column. Errors name the file, the row
// and the column, never the cell's content.
func driftReadColumn(ctx context.Context, path, name string, categorical bool) (*driftColumn, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, ethos.Errorf(ethos.EINVALID, "cannot open %s: %v", filepath.Base(path), errors.Unwrap(err))
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 1<<16)
	var r io.Reader = br
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return nil, ethos.Errorf(ethos.EINVALID, "%s: bad gzip header", filepath.Base(path))
		}
		defer gz.Close()
		r = gz
	}
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err == io.EOF {
		return nil, ethos.Errorf(ethos.EINVALID, "%s is empty", filepath.Base(path))
	}
	if err != nil {
		return nil, driftCSVError(path, err)
	}
	idx := -1
	for i, h := range header {
		if strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")) == name {
			idx = i
			break
		}
	}
	if idx < 0 {
		return nil, ethos.Errorf(ethos.EINVALID, "%s has no column %q", filepath.Base(path), name)
	}
	col := &driftColumn{counts: map[string]int{}}
	for row := 2; ; row++ {
		if row%65536 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, driftCSVError(path, err)
		}
		if idx >= len(rec) {
			return nil, ethos.Errorf(ethos.EINVALID, "%s row %d: no column %q", filepath.Base(path), row, name)
		}
		cell := strings.TrimSpace(rec[idx])
		if cell == "" || cell == "NA" {
			col.missing++
			continue
		}
		col.n++
		if categorical {
			col.counts[cell]++
			continue
		}
		v, err := strconv.ParseFloat(cell, 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, ethos.Errorf(ethos.EINVALID, "%s row %d column %q: not a finite number", filepath.Base(path), row, name)
		}
		col.values = append(col.values, v)
	}
	if col.n == 0 {
		return nil, ethos.Errorf(ethos.EINVALID, "%s: column %q has no values", filepath.Base(path), name)
	}
	return col, nil
}

func driftCSVError(path string, err error) error {
	if pe, ok := errors.AsType[*csv.ParseError](err); ok {
		return ethos.Errorf(ethos.EINVALID, "%s line %d column %d: %v", filepath.Base(path), pe.Line, pe.Column, pe.Err)
	}
	return fmt.Errorf("read %s: %w", filepath.Base(path), err)
}
