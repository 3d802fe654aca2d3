package sqlite_test

import (
	"testing"

	"github.com/ethos-imaging/ethos/sqlstore"
	"github.com/ethos-imaging/ethos/storetest"
)

func TestEvaluationStore(t *testing.T) {
	storetest.RunEvaluation(t, func(t *testing.T) *sqlstore.DB { return MustOpenDB(t).Store() })
}
