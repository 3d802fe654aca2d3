// Package policy is Ethos's access decision point: a pure function from an
// access request (who, which party type, which roles, which project, stage,
// action, purpose and view, which data-use agreements) to allow or deny,
// with the id of the rule that decided and a sentence saying why.
//
// The default policy is the framework's access matrix
// (shared/framework/access-matrix.json), compiled into matrix_gen.go by
// go generate. A deployment may override cells with a policy file; a cell
// made more open than the framework's needs an explicit opt-in
// (AllowWider) and is reported by Policy.Widened. The roles allowed to take
// each action at each stage are the table roleRules (docs/access.md).
//
// The package does no I/O at decision time; the caller loads the user, the
// party and the agreements and records the decision in the audit log.
package policy

//go:generate go run gen.go -in ../../shared/framework/access-matrix.json -out matrix_gen.go
