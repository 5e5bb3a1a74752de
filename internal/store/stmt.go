package store

import (
	"context"
	"database/sql"
	"sync"
)

// Reads run through prepared statements, kept by query text: SQLite parses a statement in
// about as long as it runs a lookup by key, so parsing each read once, not each time, nearly
// halves a small read's cost.

// maxStmts bounds the cache; queries built from filters come in a few shapes, not unbounded.
const maxStmts = 256

type stmtCache struct {
	mu    sync.Mutex
	stmts map[string]*sql.Stmt
}

// stmt returns the prepared form of query on the read pool, or nil when it cannot be kept.
func (s *DB) stmt(ctx context.Context, query string) *sql.Stmt {
	c := &s.stmts
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, ok := c.stmts[query]; ok {
		return st
	}
	if len(c.stmts) >= maxStmts {
		return nil
	}
	st, err := s.rd.PrepareContext(ctx, query)
	if err != nil {
		return nil // the query itself reports the error
	}
	if c.stmts == nil {
		c.stmts = make(map[string]*sql.Stmt)
	}
	c.stmts[query] = st
	return st
}

// queryRow runs a read that returns one row.
func (s *DB) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	if st := s.stmt(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return s.queryRow(ctx, query, args...)
}

// query runs a read that returns rows.
func (s *DB) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := s.stmt(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return s.query(ctx, query, args...)
}

func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, st := range c.stmts {
		st.Close()
	}
	c.stmts = nil
}
