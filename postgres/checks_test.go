package postgres_test

import (
	"testing"

	"github.com/ethos-imaging/ethos/sqlstore"
	"github.com/ethos-imaging/ethos/storetest"
)

func TestCheckEvidence(t *testing.T) {
	storetest.RunChecks(t, func(t *testing.T) *sqlstore.DB { return MustOpenDB(t).Store() })
}
