package postgres_test

import (
	"testing"

	"github.com/ethos-imaging/ethos/sqlstore"
	"github.com/ethos-imaging/ethos/storetest"
)

func TestDeployment(t *testing.T) {
	storetest.RunDeployment(t, func(t *testing.T) *sqlstore.DB { return MustOpenDB(t).Store() })
}
