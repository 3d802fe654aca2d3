// Package processing is the second lifecycle stage: processing runs that
// de-identify a project's stored collection instances with the deid engine
// into the processing stage and record what was done (QC-PRO-1), with the
// loss per demographic group (QC-PRO-2); and dataset versions built from
// the outputs: immutable, content-addressed manifests with labels,
// patient-level splits, reweighing weights, datasheets and exports for
// training.
package processing
