package postgres_test

import (
	"testing"

	"github.com/ethos-imaging/ethos/sqlstore"
	"github.com/ethos-imaging/ethos/storetest"
)

func TestProcessingJobsStore(t *testing.T) {
	storetest.RunProcessingJobs(t, func(t *testing.T) *sqlstore.DB { return MustOpenDB(t).Store() })
}
