package sqlite

// UseDriver makes Open use the database/sql driver registered as name (a
// wrapper around modernc.org/sqlite's that injects faults) instead of
// "sqlite".
func UseDriver(db *DB, name string) { db.driver = name }
