// Package deid de-identifies DICOM instances following the Basic
// Application Level Confidentiality Profile of PS3.15 Annex E and its
// options.
//
// The action table (Table E.1-1) is generated from the standard's JSON
// extraction (see table_gen.go and internal/gentable). Compound actions are
// resolved by the attribute's type in the IOD (iodtype.go). Pseudonyms are
// keyed: a project secret gives, through HMAC-SHA-256, the same
// pseudonymous Patient ID for the same patient, the same 2.25 UID for the
// same original UID and the same date shift for the same patient, on every
// machine and in every batch (Keys). A Profile adds per-tag overrides,
// safe private attributes and residual-identifier patterns; a Scanner
// checks the de-identified text values against the instance's own original
// identifiers.
//
// The engine works on datasets of package dicom and never imports the
// Ethos vocabulary; cmd/ethos maps its errors to user-facing ones.
package deid
