package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Writes are group-committed: one goroutine owns the write connection, and the writes that
// arrive while a commit is under way go into the next transaction together, each inside its
// own savepoint. One fsync then makes the whole group durable, and every caller is answered
// only after it. A write whose function fails rolls back to its savepoint alone; the others
// in its group still commit. A lone writer waits for nothing: a group is whatever queued up
// during the previous commit.

// maxGroup bounds how many writes share one transaction, so that none waits behind an
// unbounded group.
const maxGroup = 256

var errClosed = errors.New("store: the database is closed")

// write is one caller's transaction body and where its result goes.
type write struct {
	ctx  context.Context
	fn   func(tx *Tx) error
	done chan error
}

// update runs fn in a write transaction and returns once it is durable: nil when fn returned
// nil and the transaction committed, else fn's error (its writes undone) or the commit's.
func (s *DB) update(ctx context.Context, fn func(tx *Tx) error) error {
	w := write{ctx: ctx, fn: fn, done: make(chan error, 1)}
	select {
	case s.writes <- w:
	case <-ctx.Done():
		return ctx.Err()
	case <-s.closing:
		return errClosed
	}
	// Once taken, the write may commit whatever ctx does now, so its answer is awaited.
	return <-w.done
}

// exec runs one statement as a write of its own.
func (s *DB) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	var res sql.Result
	err := s.update(ctx, func(tx *Tx) error {
		var err error
		res, err = tx.Exec(query, args...)
		return err
	})
	return res, err
}

// commitLoop is the only user of the write connection while the store is open.
func (s *DB) commitLoop() {
	defer close(s.committed)
	group := make([]write, 0, maxGroup)
	for {
		select {
		case w := <-s.writes:
			group = append(group[:0], w)
		case <-s.closing:
			return
		}
	gather:
		for len(group) < maxGroup {
			select {
			case w := <-s.writes:
				group = append(group, w)
			default:
				break gather
			}
		}
		s.commitGroup(group)
		s.wstmts.prepare(s.db) // the connection is free now
	}
}

// commitGroup runs a group's writes in one transaction and answers each caller.
func (s *DB) commitGroup(group []write) {
	errs := make([]error, len(group))
	err := s.runGroup(group, errs)
	for i, w := range group {
		if err != nil {
			errs[i] = err
		}
		w.done <- errs[i]
	}
}

// runGroup fills errs with each write's own error and returns an error that fails them all:
// the transaction could not begin, a savepoint could not be undone, or the commit failed.
func (s *DB) runGroup(group []write, errs []error) error {
	sqltx, err := s.db.BeginTx(context.Background(), nil)
	if err != nil {
		return err
	}
	tx := &Tx{tx: sqltx, stmts: &s.wstmts}
	kept := 0
	for i, w := range group {
		if err := w.ctx.Err(); err != nil {
			errs[i] = err
			continue
		}
		if _, err := tx.Exec(`SAVEPOINT w`); err != nil {
			sqltx.Rollback()
			return err
		}
		if errs[i] = call(w.fn, tx); errs[i] != nil {
			// A failure that ended SQLite's transaction (I/O, a full disk) takes the savepoint
			// with it; the group cannot go on safely then, and fails as a whole.
			if _, err := tx.Exec(`ROLLBACK TO w`); err != nil {
				sqltx.Rollback()
				return fmt.Errorf("%w (and undoing it: %v)", errs[i], err)
			}
		} else {
			kept++
		}
		if _, err := tx.Exec(`RELEASE w`); err != nil {
			sqltx.Rollback()
			return err
		}
	}
	if kept == 0 {
		sqltx.Rollback() // nothing to keep; each caller has its own error
		return nil
	}
	return sqltx.Commit()
}

// call runs fn, turning a panic into that write's error so the committer lives on.
func call(fn func(tx *Tx) error, tx *Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("store: write panicked: %v", p)
		}
	}()
	return fn(tx)
}
