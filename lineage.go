package ethos

import (
	"context"
	"time"
)

// This file holds the vocabulary of lineage: the provenance graph that
// joins the stages, from a subject to the instances collected from them,
// the processing runs that de-identified those instances, the dataset
// versions built from the outputs, the training runs that used a dataset
// version, the model versions they produced, and the evaluations and
// deployments of those models. The terms are W3C PROV's: entities (things),
// activities (what was done to them) and agents (who did it).
//
// Every stage records its own edges as it works; the lineage service
// answers the two questions the framework needs as one query each: "which
// subjects are behind this model?" and "which datasets and models used
// this subject?" (processing and training principles; QC-TRA-2).

// LineageKind is the kind of a node in the provenance graph.
type LineageKind string

// Node kinds. The PROV class of each is given by ProvClass.
const (
	LineageSubject        LineageKind = "subject"         // entity: a pseudonymous subject key
	LineageInstance       LineageKind = "instance"        // entity: a collected instance (Ethos instance id)
	LineageProcessingRun  LineageKind = "processing-run"  // activity: a de-identification run
	LineageDeidInstance   LineageKind = "deid-instance"   // entity: a de-identified instance (output of a run)
	LineageDatasetVersion LineageKind = "dataset-version" // entity: an immutable dataset version
	LineageTrainingRun    LineageKind = "training-run"    // activity: a registered training run
	LineageModelVersion   LineageKind = "model-version"   // entity: a model version produced by a run
	LineageEvaluation     LineageKind = "evaluation"      // activity: an evaluation of a model version
	LineageDeployment     LineageKind = "deployment"      // activity: a deployment of a model version
	LineageAgent          LineageKind = "agent"           // agent: a user (by Ethos user id)
)

// Valid reports whether k is a known node kind.
func (k LineageKind) Valid() bool { return k.ProvClass() != "" }

// ProvClass returns the PROV class of the kind: "entity", "activity" or
// "agent" ("" for an unknown kind).
func (k LineageKind) ProvClass() string {
	switch k {
	case LineageSubject, LineageInstance, LineageDeidInstance, LineageDatasetVersion, LineageModelVersion:
		return "entity"
	case LineageProcessingRun, LineageTrainingRun, LineageEvaluation, LineageDeployment:
		return "activity"
	case LineageAgent:
		return "agent"
	}
	return ""
}

// LineageNode names one node: its kind and its Ethos id (a subject key
// for subjects). Ids never carry patient identifiers.
type LineageNode struct {
	Kind LineageKind `json:"kind"`
	ID   string      `json:"id"`
}

// LineageRelation is a PROV relation between two nodes. An edge always
// points from the later node to the earlier one, as PROV does: a dataset
// version wasDerivedFrom a de-identified instance, a training run used a
// dataset version, a model version wasGeneratedBy a training run.
type LineageRelation string

// Relations (PROV-DM names).
const (
	RelUsed              LineageRelation = "used"              // activity used entity
	RelWasGeneratedBy    LineageRelation = "wasGeneratedBy"    // entity wasGeneratedBy activity
	RelWasDerivedFrom    LineageRelation = "wasDerivedFrom"    // entity wasDerivedFrom entity
	RelWasAttributedTo   LineageRelation = "wasAttributedTo"   // entity wasAttributedTo agent
	RelWasAssociatedWith LineageRelation = "wasAssociatedWith" // activity wasAssociatedWith agent
)

// LineageEdge is one recorded relation.
type LineageEdge struct {
	From     LineageNode     `json:"from"`
	Relation LineageRelation `json:"relation"`
	To       LineageNode     `json:"to"`
	At       time.Time       `json:"at,omitzero"`
}

// LineageRecorder records edges. Recording the same edge twice keeps one.
// Stages call it inside their own work; a failure to record fails the work
// (lineage is evidence, not a best effort).
type LineageRecorder interface {
	RecordLineage(ctx context.Context, edges ...LineageEdge) error
}
