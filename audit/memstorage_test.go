package audit_test

import (
	"testing"

	"github.com/ethos-imaging/ethos/audit"
	"github.com/ethos-imaging/ethos/audit/audittest"
)

func TestMemStorageConformance(t *testing.T) {
	audittest.Run(t, func(t *testing.T) audit.Storage { return audit.NewMemStorage() })
}

func TestMemStorageTamper(t *testing.T) {
	audittest.RunTamper(t, func(t *testing.T) (audit.Storage, audittest.Tamperer) {
		m := audit.NewMemStorage()
		return m, audittest.MemTamperer{M: m}
	})
}

// The same suites with Verify reading two ranges at once (from 16 events
// on), so checkpoints, gaps and edits on both sides of the split and at
// it are covered.
func TestMemStorageSplitVerify(t *testing.T) {
	defer audit.SetSplitAt(16)()
	audittest.Run(t, func(t *testing.T) audit.Storage { return audit.NewMemStorage() })
	audittest.RunTamper(t, func(t *testing.T) (audit.Storage, audittest.Tamperer) {
		m := audit.NewMemStorage()
		return m, audittest.MemTamperer{M: m}
	})
}
