package store

import (
	"context"
	"database/sql"
	"errors"
)

// Token kinds.
const (
	KindAdmin = "admin" // a user with every right
	KindJoin  = "join"  // one-time: lets a new node's agent register; subject is the node ID
	KindNode  = "node"  // an agent's own token; subject is the node ID
	KindRun   = "run"   // a job's token for metrics; subject is the job ID
)

// Principal is who a token speaks for.
type Principal struct {
	Kind    string
	Subject string
}

// AddToken stores the hash of token.
func (s *DB) AddToken(ctx context.Context, token, kind, subject string) error {
	_, err := s.exec(ctx, `INSERT INTO tokens (hash, kind, subject, created_at) VALUES (?, ?, ?, ?)`,
		HashToken(token), kind, subject, s.now())
	return err
}

// Authenticate returns the principal of token, or NotFound.
func (s *DB) Authenticate(ctx context.Context, token string) (Principal, error) {
	var p Principal
	err := s.queryRow(ctx, `SELECT kind, subject FROM tokens WHERE hash = ?`, HashToken(token)).Scan(&p.Kind, &p.Subject)
	if errors.Is(err, sql.ErrNoRows) {
		return p, notFound("unknown token")
	}
	return p, err
}

// HasAdmin reports whether any admin token exists.
func (s *DB) HasAdmin(ctx context.Context) (bool, error) {
	var n int
	err := s.queryRow(ctx, `SELECT count(*) FROM tokens WHERE kind = ?`, KindAdmin).Scan(&n)
	return n > 0, err
}

// ReplaceAdmin removes every admin token and stores token as the only one.
func (s *DB) ReplaceAdmin(ctx context.Context, token string) error {
	return s.update(ctx, func(tx *Tx) error {
		if _, err := tx.Exec(`DELETE FROM tokens WHERE kind = ?`, KindAdmin); err != nil {
			return err
		}
		_, err := tx.Exec(`INSERT INTO tokens (hash, kind, subject, created_at) VALUES (?, ?, '', ?)`, HashToken(token), KindAdmin, s.now())
		return err
	})
}
