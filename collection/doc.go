// Package collection is the first lifecycle stage: the workflow that makes
// the framework's collection rules happen. This part computes the
// representation report of quality check QC-COL-1 — how each group (sex,
// age band, ethnicity where recorded, site, scanner make and model, and
// every intersection of two) is represented in a collection against a
// declared reference population — and renders it as JSON, CSV and an HTML
// page with SVG charts.
package collection
