package store

import (
	"context"
	"database/sql"
	"strings"
	"sync"
)

// Statements run prepared, kept by query text: SQLite parses a statement in about as long as
// it runs a lookup by key, so parsing each once, not each time, nearly halves a small query's
// cost. Reads prepare on the read pool when first run. Writes cannot: the write connection is
// inside the transaction then. A write's query text is noted when first run, and prepared by
// the committer once the group has committed.

// maxStmts bounds each cache; queries built from filters come in a few shapes, not unbounded.
const maxStmts = 256

type stmtCache struct {
	mu     sync.Mutex
	stmts  map[string]*sql.Stmt
	wanted map[string]bool // write statements to prepare after the commit
}

// get returns the prepared form of query, or nil.
func (c *stmtCache) get(query string) *sql.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stmts[query]
}

// put keeps st for query, or closes it when the cache is full.
func (c *stmtCache) put(query string, st *sql.Stmt) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.stmts[query]; ok || len(c.stmts) >= maxStmts {
		st.Close()
		return
	}
	if c.stmts == nil {
		c.stmts = make(map[string]*sql.Stmt)
	}
	c.stmts[query] = st
}

// want notes a write's query text, to be prepared after its transaction; not a script of
// several statements (a migration), which a prepared statement would run the first of.
func (c *stmtCache) want(query string) {
	if strings.Contains(query, ";") {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.stmts)+len(c.wanted) >= maxStmts {
		return
	}
	if c.wanted == nil {
		c.wanted = make(map[string]bool)
	}
	c.wanted[query] = true
}

// prepare prepares the wanted texts on db; call it while db's connection is free.
func (c *stmtCache) prepare(db *sql.DB) {
	c.mu.Lock()
	wanted := c.wanted
	c.wanted = nil
	c.mu.Unlock()
	for q := range wanted {
		if st, err := db.Prepare(q); err == nil {
			c.put(q, st)
		}
	}
}

func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, st := range c.stmts {
		st.Close()
	}
	c.stmts = nil
}

// stmt returns the prepared form of a read on the read pool, or nil when it cannot be kept.
func (s *DB) stmt(ctx context.Context, query string) *sql.Stmt {
	if st := s.stmts.get(query); st != nil {
		return st
	}
	st, err := s.rd.PrepareContext(ctx, query)
	if err != nil {
		return nil // the query itself reports the error
	}
	s.stmts.put(query, st)
	return s.stmts.get(query)
}

// queryRow runs a read that returns one row.
func (s *DB) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	if st := s.stmt(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return s.rd.QueryRowContext(ctx, query, args...)
}

// query runs a read that returns rows.
func (s *DB) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := s.stmt(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return s.rd.QueryContext(ctx, query, args...)
}

// Tx is a write transaction: database/sql's, with the group's prepared statements.
type Tx struct {
	tx    *sql.Tx
	stmts *stmtCache
}

// prepared returns the transaction's form of query's prepared statement, or nil, noting the
// text to be prepared later.
func (t *Tx) prepared(query string) *sql.Stmt {
	if st := t.stmts.get(query); st != nil {
		return t.tx.Stmt(st)
	}
	t.stmts.want(query)
	return nil
}

// Exec runs a statement in the transaction.
func (t *Tx) Exec(query string, args ...any) (sql.Result, error) {
	if st := t.prepared(query); st != nil {
		return st.Exec(args...)
	}
	return t.tx.Exec(query, args...)
}

// Query runs a query in the transaction.
func (t *Tx) Query(query string, args ...any) (*sql.Rows, error) {
	if st := t.prepared(query); st != nil {
		return st.Query(args...)
	}
	return t.tx.Query(query, args...)
}

// QueryRow runs a query of one row in the transaction.
func (t *Tx) QueryRow(query string, args ...any) *sql.Row {
	if st := t.prepared(query); st != nil {
		return st.QueryRow(args...)
	}
	return t.tx.QueryRow(query, args...)
}
