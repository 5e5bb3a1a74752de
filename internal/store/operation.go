package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"

	"github.com/trainyard/trainyard"
)

const opCols = `id, workspace, compute, kind, status, error_code, error_message, created_at, ended_at`

// beginOp records an operation of kind on a compute in tx and settles the compute's
// operations, this one included: one that is done at once (update, attach, detach) ends
// Succeeded before the transaction commits, and an earlier one the change made moot (a stop
// after a start) ends Canceled.
func (s *DB) beginOp(tx *Tx, workspace, compute string, kind trainyard.OperationKind) (trainyard.Operation, error) {
	b := make([]byte, 8)
	rand.Read(b) // never fails (crypto/rand, Go 1.24+)
	id := "op-" + hex.EncodeToString(b)
	if _, err := tx.Exec(`INSERT INTO operations (id, workspace, compute, kind, status, created_at) VALUES (?,?,?,?,?,?)`,
		id, workspace, compute, kind, trainyard.OpInProgress, s.now()); err != nil {
		return trainyard.Operation{}, err
	}
	if err := s.settleOps(tx, workspace, compute); err != nil {
		return trainyard.Operation{}, err
	}
	return scanOp(tx.QueryRow(`SELECT `+opCols+` FROM operations WHERE id = ?`, id))
}

// settleOps ends the operations of a compute that its state in tx says are over
// (trainyard.Operation.Outcome). Every store method that changes what an operation waits
// for (the compute's state, its record, its nodes) calls it in the same transaction, so an
// operation ends exactly when its compute settles, and a crash cannot separate the two.
func (s *DB) settleOps(tx *Tx, workspace, compute string) error {
	ops, err := queryOps(tx, `SELECT `+opCols+` FROM operations WHERE workspace = ? AND compute = ? AND status = ?`,
		workspace, compute, trainyard.OpInProgress)
	if err != nil || len(ops) == 0 {
		return err
	}
	var c *trainyard.ComputeTarget
	got, err := s.scanCompute(tx.QueryRow(`SELECT `+computeCols+` FROM computes WHERE workspace = ? AND name = ?`, workspace, compute))
	switch {
	case err == nil:
		c = &got
	case !errors.Is(err, sql.ErrNoRows):
		return err
	}
	var nodes []trainyard.Node
	if c != nil {
		if nodes, err = nodesIn(tx, workspace, compute); err != nil {
			return err
		}
	}
	for _, op := range ops {
		st, e := op.Outcome(c, nodes)
		if st == trainyard.OpInProgress {
			continue
		}
		if e == nil {
			e = &trainyard.OperationError{}
		}
		if _, err := tx.Exec(`UPDATE operations SET status = ?, error_code = ?, error_message = ?, ended_at = ? WHERE id = ? AND status = ?`,
			st, e.Code, e.Message, s.now(), op.ID, trainyard.OpInProgress); err != nil {
			return err
		}
	}
	return nil
}

// nodesIn returns the nodes of a compute, read in tx.
func nodesIn(tx *Tx, workspace, compute string) ([]trainyard.Node, error) {
	rows, err := tx.Query(`SELECT `+nodeCols+` FROM nodes WHERE workspace = ? AND compute = ?`, workspace, compute)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []trainyard.Node
	for rows.Next() {
		n, err := scanNode(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, n.Node)
	}
	return out, rows.Err()
}

// settleNodeOps settles the operations of the compute of node id, before or after a change
// to the node in tx.
func (s *DB) settleNodeOps(tx *Tx, id string) error {
	var ws, compute string
	err := tx.QueryRow(`SELECT workspace, compute FROM nodes WHERE id = ?`, id).Scan(&ws, &compute)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	return s.settleOps(tx, ws, compute)
}

// Operation returns one operation, or NotFound.
func (s *DB) Operation(ctx context.Context, id string) (trainyard.Operation, error) {
	op, err := scanOp(s.queryRow(ctx, `SELECT `+opCols+` FROM operations WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return op, trainyard.Errorf(trainyard.NotFound, "operation %q not found; a request that changes a compute names its operation in the Azure-AsyncOperation header and the compute's operation field", id)
	}
	return op, err
}

// LatestOperation returns the newest operation of a compute; ok is false when it has none.
func (s *DB) LatestOperation(ctx context.Context, workspace, compute string) (op trainyard.Operation, ok bool, err error) {
	op, err = scanOp(s.queryRow(ctx, `SELECT `+opCols+` FROM operations WHERE workspace = ? AND compute = ?
		ORDER BY created_at DESC, rowid DESC LIMIT 1`, workspace, compute))
	if errors.Is(err, sql.ErrNoRows) {
		return op, false, nil
	}
	return op, err == nil, err
}

// EndOperation ends an operation that is still in progress with status st, e.g. when the
// request that began it could not finish its work.
func (s *DB) EndOperation(ctx context.Context, id string, st trainyard.OperationStatus, e trainyard.OperationError) error {
	_, err := s.exec(ctx, `UPDATE operations SET status = ?, error_code = ?, error_message = ?, ended_at = ? WHERE id = ? AND status = ?`,
		st, e.Code, e.Message, s.now(), id, trainyard.OpInProgress)
	return err
}

// SettleOperations checks every operation still in progress against its compute and ends
// those that are over. The server calls it at start: should anything have changed a compute
// without settling its operations, none stays InProgress for a compute that has settled.
// It returns how many it ended.
func (s *DB) SettleOperations(ctx context.Context) (int, error) {
	rows, err := s.query(ctx, `SELECT DISTINCT workspace, compute FROM operations WHERE status = ?`, trainyard.OpInProgress)
	if err != nil {
		return 0, err
	}
	var targets [][2]string
	for rows.Next() {
		var t [2]string
		if err := rows.Scan(&t[0], &t[1]); err != nil {
			rows.Close()
			return 0, err
		}
		targets = append(targets, t)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	var before, after int
	if err := s.queryRow(ctx, `SELECT count(*) FROM operations WHERE status = ?`, trainyard.OpInProgress).Scan(&before); err != nil {
		return 0, err
	}
	for _, t := range targets {
		if err := s.update(ctx, func(tx *Tx) error { return s.settleOps(tx, t[0], t[1]) }); err != nil {
			return 0, err
		}
	}
	err = s.queryRow(ctx, `SELECT count(*) FROM operations WHERE status = ?`, trainyard.OpInProgress).Scan(&after)
	return before - after, err
}

type queryer interface {
	Query(query string, args ...any) (*sql.Rows, error)
}

func queryOps(q queryer, query string, args ...any) ([]trainyard.Operation, error) {
	rows, err := q.Query(query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []trainyard.Operation
	for rows.Next() {
		op, err := scanOp(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, op)
	}
	return out, rows.Err()
}

func scanOp(r scanner) (trainyard.Operation, error) {
	var op trainyard.Operation
	var code, msg string
	var created, ended int64
	if err := r.Scan(&op.ID, &op.Workspace, &op.Compute, &op.Kind, &op.Status, &code, &msg, &created, &ended); err != nil {
		return op, err
	}
	if code != "" || msg != "" {
		op.Error = &trainyard.OperationError{Code: code, Message: msg}
	}
	op.CreatedAt, op.EndedAt = fromMS(created), fromMS(ended)
	return op, nil
}
