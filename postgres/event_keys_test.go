package postgres_test

import (
	"testing"

	"github.com/ethos-imaging/ethos/storetest"
)

func TestEventKeysMigration(t *testing.T) {
	before, after := migrationDB(t, "0082")
	storetest.RunEventKeysMigration(t, before, after)
}
