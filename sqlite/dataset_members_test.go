package sqlite_test

import (
	"testing"

	"github.com/ethos-imaging/ethos/processing"
	"github.com/ethos-imaging/ethos/storetest"
)

func TestDatasetMembersMigration(t *testing.T) {
	before, after := migrationDB(t, "0080")
	storetest.RunDatasetMembersMigration(t, processing.ManifestID, before, after)
}
