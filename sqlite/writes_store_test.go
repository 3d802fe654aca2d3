package sqlite_test

import (
	"testing"

	"github.com/ethos-imaging/ethos/sqlstore"
	"github.com/ethos-imaging/ethos/storetest"
)

func TestWritesStore(t *testing.T) {
	storetest.RunWrites(t, func(t *testing.T) *sqlstore.DB { return MustOpenDB(t).Store() })
}
