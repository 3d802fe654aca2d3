// Package svgchart draws static, accessible charts as hand-written SVG:
// grouped and horizontal bar charts with reference markers, multi-series
// line charts (ROC, calibration and decision curves with their reference
// lines), forest plots of estimates with confidence intervals, and
// timelines with threshold bands and marked alerts.
//
// The output needs no JavaScript, no fonts and nothing from the network, so
// it renders on closed hospital networks and prints well. Every chart
// carries a <title> and <desc> and role="img"; series differ by colour
// (the Okabe–Ito colour-blind-safe palette) and also by fill pattern, dash
// pattern or marker shape, so they stay distinguishable in greyscale print
// and for readers who cannot tell the colours apart. All text is escaped.
// The output is deterministic: the same chart value always renders to the
// same bytes, including its element ids.
//
// Data that cannot be drawn is handled without panics: NaN and infinite
// values are left out (a line is broken at them, a bar shows "n/a"), and a
// chart without any drawable value renders a visible "No data" notice.
// Structural mistakes (a series whose length does not match the
// categories, a negative size) are reported as *Error values.
//
// Ethos uses it for the representation report of collection (quality
// check QC-COL-1), the evaluation report (QC-EVA-1) and the monitoring
// timelines of deployment (QC-DEP-1), but the package is a generic
// engine: it knows nothing about medical imaging and imports only the
// standard library.
package svgchart
