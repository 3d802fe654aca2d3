package ethos

import "fmt"

// Stage is one of the five lifecycle stages of the framework, in order.
type Stage string

// The five lifecycle stages.
const (
	StageCollection Stage = "collection"
	StageProcessing Stage = "processing"
	StageTraining   Stage = "training"
	StageEvaluation Stage = "evaluation"
	StageDeployment Stage = "deployment"
)

// Stages lists the lifecycle stages in order.
var Stages = []Stage{StageCollection, StageProcessing, StageTraining, StageEvaluation, StageDeployment}

// Valid reports whether s names one of the five stages.
func (s Stage) Valid() bool {
	for _, t := range Stages {
		if s == t {
			return true
		}
	}
	return false
}

// Index returns the position of s in the lifecycle (0 for collection) or -1.
func (s Stage) Index() int {
	for i, t := range Stages {
		if s == t {
			return i
		}
	}
	return -1
}

// ParseStage returns the stage named by s.
func ParseStage(s string) (Stage, error) {
	st := Stage(s)
	if !st.Valid() {
		return "", Errorf(EINVALID, "unknown stage %q (want collection, processing, training, evaluation or deployment)", s)
	}
	return st, nil
}

func (s Stage) String() string { return string(s) }

var _ fmt.Stringer = Stage("")
