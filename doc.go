// Package ethos is the vocabulary of Ethos: the lifecycle stages, the
// parties and roles that act in them, the records each stage keeps and the
// service interfaces that adapters implement.
//
// The package holds types, interfaces, error codes and validation only. It
// imports nothing but the standard library; engines (dicom, deid, audit,
// evalstat, drift, svgchart) never import it, stage packages build on it and
// adapters (sqlite, postgres, fileblob, http) implement it. Only cmd/ethos
// wires concrete types together.
package ethos
