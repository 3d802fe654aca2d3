package postgres

import "github.com/ethos-imaging/ethos/sqlstore"

// Store returns the handle the services of package sqlstore run over
// (sqlstore.NewPartyService(db.Store()) …); nil before Open.
func (db *DB) Store() *sqlstore.DB { return db.store }
