package postgres

import (
	"embed"

	"github.com/ethos-imaging/ethos/sqlstore"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Migration is one embedded schema change.
type Migration = sqlstore.Migration

// MigrationError reports a database whose applied migrations do not match
// the binary's.
type MigrationError = sqlstore.MigrationError

// Migrations returns the embedded migrations in order.
func Migrations() ([]Migration, error) { return sqlstore.ReadMigrations(migrationFS) }
