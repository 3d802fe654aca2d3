package main

import (
	"io"
	"time"

	"github.com/ethos-imaging/ethos/evalstat"
	"github.com/ethos-imaging/ethos/evaluation"
)

// writeEvalHTML renders "ethos eval --format html" with the evaluation
// stage's report (evaluation.WriteHTML): the same page, tables and svgchart
// charts as a stored evaluation's report, without the plan, attempt and
// sign-off sections a file evaluation does not have.
func writeEvalHTML(w io.Writer, rep *evalstat.Report, o *evalOptions) error {
	return evaluation.WriteHTML(w, &evaluation.ReportData{Report: rep, Source: o.in, Generated: time.Now()})
}
