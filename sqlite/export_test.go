package sqlite

// UseDriver makes Open use the database/sql driver registered as name (a
// wrapper around modernc.org/sqlite's that injects faults) instead of
// "sqlite".
func UseDriver(db *DB, name string) { db.driver = name }

// BaseConn is the connection interface the adapter's connector wraps
// (driver.go), for the fault-injecting driver of the external tests.
type BaseConn = baseConn
