package sqlite

import (
	"context"
	"database/sql/driver"
	"fmt"
	"sync"
)

// The SQLite connections of the pool go through conn, which finalizes the
// statements prepared on a connection when the connection closes.
// database/sql closes a connection on its own when an operation on it
// reports driver.ErrBadConn, and does not finalize the statements
// prepared through a *sql.Conn or below it (sqlstore's write connection
// keeps both kinds). SQLite then keeps the connection alive as a zombie
// until its last statement is finalized, with any transaction it had
// open, and the write lock: every later write of the process fails with
// SQLITE_BUSY. Finalizing those statements afterwards is no remedy: the
// closed connection's memory is gone (docs/storage-durability.md).

// connector opens connections with the driver d.
type connector struct {
	d   driver.Driver
	dsn string
}

func (c connector) Connect(ctx context.Context) (driver.Conn, error) {
	dc, err := c.d.Open(c.dsn)
	if err != nil {
		return nil, err
	}
	bc, ok := dc.(baseConn)
	if !ok {
		dc.Close()
		return nil, fmt.Errorf("sqlite driver connection %T lacks the context methods", dc)
	}
	return &conn{baseConn: bc, stmts: map[*stmt]struct{}{}}, nil
}

func (c connector) Driver() driver.Driver { return c.d }

// baseConn is what modernc.org/sqlite's connection implements and
// database/sql uses.
type baseConn interface {
	driver.Conn
	driver.ConnPrepareContext
	driver.ConnBeginTx
	driver.ExecerContext
	driver.QueryerContext
	driver.SessionResetter
	driver.Validator
	driver.Pinger
}

// conn is a connection that knows its open statements.
type conn struct {
	baseConn
	mu    sync.Mutex
	stmts map[*stmt]struct{}
}

func (c *conn) Prepare(q string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), q)
}

func (c *conn) PrepareContext(ctx context.Context, q string) (driver.Stmt, error) {
	s, err := c.baseConn.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	bs, ok := s.(baseStmt)
	if !ok {
		s.Close()
		return nil, fmt.Errorf("sqlite driver statement %T lacks the context methods", s)
	}
	st := &stmt{baseStmt: bs, c: c}
	c.mu.Lock()
	c.stmts[st] = struct{}{}
	c.mu.Unlock()
	return st, nil
}

// Close finalizes the statements still open, then closes the connection.
func (c *conn) Close() error {
	c.mu.Lock()
	open := c.stmts
	c.stmts = map[*stmt]struct{}{}
	c.mu.Unlock()
	for s := range open {
		s.finalize()
	}
	return c.baseConn.Close()
}

// baseStmt is what modernc.org/sqlite's statement implements.
type baseStmt interface {
	driver.Stmt
	driver.StmtExecContext
	driver.StmtQueryContext
}

// stmt is a statement of a conn; Close is idempotent.
type stmt struct {
	baseStmt
	c      *conn
	mu     sync.Mutex
	closed bool
}

func (s *stmt) finalize() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	return s.baseStmt.Close()
}

func (s *stmt) Close() error {
	s.c.mu.Lock()
	delete(s.c.stmts, s)
	s.c.mu.Unlock()
	return s.finalize()
}
