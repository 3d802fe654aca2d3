package sqlite

import "github.com/ethos-imaging/ethos/sqlstore"

// The services are package sqlstore's, over this database's handle; the
// names are kept here so callers need only this package.
type (
	PartyService    = sqlstore.PartyService
	UserService     = sqlstore.UserService
	TokenService    = sqlstore.TokenService
	ProjectService  = sqlstore.ProjectService
	DUAService      = sqlstore.DUAService
	RecordService   = sqlstore.RecordService
	ConsentService  = sqlstore.ConsentService
	InstanceService = sqlstore.InstanceService
)

// Store returns the shared SQL services' handle; nil before Open.
func (db *DB) Store() *sqlstore.DB { return db.store }

func NewPartyService(db *DB) *PartyService       { return sqlstore.NewPartyService(db.store) }
func NewUserService(db *DB) *UserService         { return sqlstore.NewUserService(db.store) }
func NewTokenService(db *DB) *TokenService       { return sqlstore.NewTokenService(db.store) }
func NewProjectService(db *DB) *ProjectService   { return sqlstore.NewProjectService(db.store) }
func NewDUAService(db *DB) *DUAService           { return sqlstore.NewDUAService(db.store) }
func NewRecordService(db *DB) *RecordService     { return sqlstore.NewRecordService(db.store) }
func NewConsentService(db *DB) *ConsentService   { return sqlstore.NewConsentService(db.store) }
func NewInstanceService(db *DB) *InstanceService { return sqlstore.NewInstanceService(db.store) }
