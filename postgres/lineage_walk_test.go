package postgres_test

import (
	"testing"

	"github.com/ethos-imaging/ethos/sqlstore"
	"github.com/ethos-imaging/ethos/storetest"
)

func TestLineageWalkConformance(t *testing.T) {
	storetest.RunLineageWalk(t, func(t *testing.T) *sqlstore.DB { return MustOpenDB(t).Store() })
}
