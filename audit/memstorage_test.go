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
