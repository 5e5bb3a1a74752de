package store

import (
	"context"
	"database/sql"
	"errors"
	"strings"

	"github.com/trainyard/trainyard"
)

const nodeCols = `id, workspace, compute, state, job_id, address, port, slots, created_at, registered_at, last_seen, idle_since, preempted_at`

// NodeRow is a node record with the internal ID of the job placed on it.
type NodeRow struct {
	trainyard.Node
	JobID int64
}

// CreateNode records n in state preparing and returns the one-time join token for its agent.
func (s *DB) CreateNode(ctx context.Context, n trainyard.Node) (string, error) {
	join := NewToken("tyj")
	err := s.update(ctx, func(tx *Tx) error {
		now := s.now()
		if n.Slots == 0 {
			n.Slots = 1
		}
		if _, err := tx.Exec(`INSERT INTO nodes (id, workspace, compute, state, slots, created_at) VALUES (?,?,?,?,?,?)`,
			n.ID, n.Workspace, n.Compute, trainyard.NodePreparing, n.Slots, now); err != nil {
			return err
		}
		_, err := tx.Exec(`INSERT INTO tokens (hash, kind, subject, created_at) VALUES (?,?,?,?)`, HashToken(join), KindJoin, n.ID, now)
		return err
	})
	return join, err
}

// RegisterNode gives a node whose agent presented its join token a new node token. The join
// token stays valid until the node's first sync (Touch), so an agent whose answer was lost can
// register again; a registration replaces the node's earlier tokens.
func (s *DB) RegisterNode(ctx context.Context, nodeID, address string, port int) (string, error) {
	tok := NewToken("tyn")
	err := s.update(ctx, func(tx *Tx) error {
		now := s.now()
		res, err := tx.Exec(`UPDATE nodes SET state = ?, address = ?, port = ?, registered_at = ?, last_seen = ?, idle_since = ?
			WHERE id = ? AND state = ?`, trainyard.NodeIdle, address, port, now, now, now, nodeID, trainyard.NodePreparing)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			var st trainyard.NodeState
			var jobID int64
			err := tx.QueryRow(`SELECT state, job_id FROM nodes WHERE id = ?`, nodeID).Scan(&st, &jobID)
			if err != nil || st != trainyard.NodeIdle || jobID != 0 {
				return trainyard.Errorf(trainyard.Conflict, "node %s is not waiting to register", nodeID)
			}
		}
		if _, err := tx.Exec(`DELETE FROM tokens WHERE kind = ? AND subject = ?`, KindNode, nodeID); err != nil {
			return err
		}
		if _, err = tx.Exec(`INSERT INTO tokens (hash, kind, subject, created_at) VALUES (?,?,?,?)`, HashToken(tok), KindNode, nodeID, now); err != nil {
			return err
		}
		return s.settleNodeOps(tx, nodeID) // a compute instance may be up now
	})
	return tok, err
}

// EnsureLocalNode makes the node of the implicit local target exist and be idle, and returns a
// fresh node token for the server's own agent. Its earlier tokens stop working.
func (s *DB) EnsureLocalNode(ctx context.Context) (string, error) {
	tok := NewToken("tyn")
	err := s.update(ctx, func(tx *Tx) error {
		now := s.now()
		_, err := tx.Exec(`INSERT INTO nodes (id, workspace, compute, state, created_at, registered_at, last_seen, idle_since, address)
			VALUES (?, '', ?, ?, ?, ?, ?, ?, '127.0.0.1') ON CONFLICT (id) DO UPDATE SET last_seen = excluded.last_seen`,
			LocalNodeID, trainyard.TypeLocal, trainyard.NodeIdle, now, now, now, now)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(`DELETE FROM tokens WHERE kind = ? AND subject = ?`, KindNode, LocalNodeID); err != nil {
			return err
		}
		_, err = tx.Exec(`INSERT INTO tokens (hash, kind, subject, created_at) VALUES (?,?,?,?)`, HashToken(tok), KindNode, LocalNodeID, now)
		return err
	})
	return tok, err
}

// LocalNodeID is the node of the implicit local target: the server's own machine.
const LocalNodeID = "local"

// Node returns one node record, or NotFound.
func (s *DB) Node(ctx context.Context, id string) (NodeRow, error) {
	n, err := scanNode(s.queryRow(ctx, `SELECT `+nodeCols+` FROM nodes WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return n, notFound("node %q not found", id)
	}
	return n, err
}

// Nodes returns the node records of a compute.
func (s *DB) Nodes(ctx context.Context, workspace, compute string) ([]trainyard.Node, error) {
	rows, err := s.NodeRows(ctx, workspace, compute)
	out := make([]trainyard.Node, len(rows))
	for i, r := range rows {
		out[i] = r.Node
	}
	return out, err
}

// NodeRows returns the node records of a compute with their job IDs.
func (s *DB) NodeRows(ctx context.Context, workspace, compute string) ([]NodeRow, error) {
	rows, err := s.query(ctx, `SELECT `+nodeCols+` FROM nodes WHERE workspace = ? AND compute = ? ORDER BY created_at, id`, workspace, compute)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []NodeRow
	for rows.Next() {
		n, err := scanNode(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// Name the jobs placed on the nodes.
	for i := range out {
		if out[i].JobID != 0 {
			s.queryRow(ctx, `SELECT name FROM jobs WHERE id = ?`, out[i].JobID).Scan(&out[i].Job)
		}
	}
	return out, nil
}

func scanNode(r scanner) (NodeRow, error) {
	var n NodeRow
	var created, registered, seen, idle, preempted int64
	err := r.Scan(&n.ID, &n.Workspace, &n.Compute, &n.State, &n.JobID, &n.Address, &n.Port, &n.Slots, &created, &registered, &seen, &idle, &preempted)
	n.CreatedAt, n.RegisteredAt, n.LastSeen, n.IdleSince = fromMS(created), fromMS(registered), fromMS(seen), fromMS(idle)
	n.PreemptedAt = fromMS(preempted)
	return n, err
}

// Touch records contact from a node's agent. Its first contact with the node token also
// retires the join token, which is then no longer needed.
func (s *DB) Touch(ctx context.Context, id string) error {
	return s.update(ctx, func(tx *Tx) error {
		if _, err := tx.Exec(`UPDATE nodes SET last_seen = ? WHERE id = ?`, s.now(), id); err != nil {
			return err
		}
		_, err := tx.Exec(`DELETE FROM tokens WHERE kind = ? AND subject = ?`, KindJoin, id)
		return err
	})
}

// TouchAll records contact from every node, as if each had just sent a heartbeat. The server
// calls it at start, so that the time it was down is not held against its nodes.
func (s *DB) TouchAll(ctx context.Context) error {
	_, err := s.exec(ctx, `UPDATE nodes SET last_seen = ? WHERE registered_at > 0`, s.now())
	return err
}

// ReleaseNode moves a node to leaving if it is idle, unusable or preparing; never a running
// node, since a job may just have been placed on it. It reports whether it did.
func (s *DB) ReleaseNode(ctx context.Context, id string) (bool, error) {
	res, err := s.exec(ctx, `UPDATE nodes SET state = ? WHERE id = ? AND (state IN (?, ?, ?) OR (state IN (?, ?) AND job_id = 0))`,
		trainyard.NodeLeaving, id, trainyard.NodeIdle, trainyard.NodeUnusable, trainyard.NodePreparing, trainyard.NodeLeaving, trainyard.NodePreempted)
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// DeleteNode drops a node record and its tokens.
func (s *DB) DeleteNode(ctx context.Context, id string) error {
	return s.update(ctx, func(tx *Tx) error {
		if _, err := tx.Exec(`DELETE FROM tokens WHERE kind IN (?, ?) AND subject = ?`, KindJoin, KindNode, id); err != nil {
			return err
		}
		var ws, compute string
		err := tx.QueryRow(`SELECT workspace, compute FROM nodes WHERE id = ?`, id).Scan(&ws, &compute)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		if _, err := tx.Exec(`DELETE FROM nodes WHERE id = ?`, id); err != nil {
			return err
		}
		return s.settleOps(tx, ws, compute) // a compute instance may be stopped now
	})
}

// MarkNodeLost moves a node to unusable; call it once the node's instance is gone, so that
// nothing of its job still runs there. The job placed on it runs again as its next attempt
// (or, out of retries, fails with code NodeLost; Preempted for a preempted node).
func (s *DB) MarkNodeLost(ctx context.Context, id, reason string) error {
	return s.update(ctx, func(tx *Tx) error {
		n, err := scanNode(tx.QueryRow(`SELECT `+nodeCols+` FROM nodes WHERE id = ?`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		state, cause, what := trainyard.NodeUnusable, trainyard.ErrNodeLost, "was lost"
		if n.State == trainyard.NodePreempted {
			state, cause, what = trainyard.NodePreempted, trainyard.ErrPreempted, "was preempted and did not stop in time"
		}
		if _, err := tx.Exec(`UPDATE nodes SET state = ?, job_id = 0 WHERE id = ?`, state, id); err != nil {
			return err
		}
		if n.JobID == 0 {
			return nil
		}
		j, err := s.scanJob(tx.QueryRow(`SELECT `+jobCols+` FROM jobs WHERE id = ?`, n.JobID))
		if err != nil {
			return err
		}
		if onIt, err := holds(tx, j, id); err != nil || !onIt || j.Status.Terminal() {
			return err // a rank left over from an attempt that ended already
		}
		return s.endAttempt(tx, j, id, cause, "node "+id+" "+what+": "+reason)
	})
}

// Demand returns the number of nodes the queued jobs of a compute want: schedule.Demand of its
// queue, as in the simulator (TestSimulatorAndServerAgree holds the two to the same steps).
func (s *DB) Demand(ctx context.Context, workspace, compute string) (int, error) {
	// schedule.Demand, summed in SQL: every queued job wants one node, a multi-node job
	// instance_count. The autoscaler asks on every submit and job end, and reading each row
	// of a queue of thousands made that a tenth of a busy server's CPU.
	var n int
	err := s.queryRow(ctx, `SELECT (SELECT count(*) FROM jobs WHERE status = ?1 AND workspace = ?2 AND compute = ?3)
		+ (SELECT coalesce(sum(instance_count - 1), 0) FROM jobs WHERE status = ?1 AND workspace = ?2 AND compute = ?3 AND instance_count > 1)`,
		trainyard.JobQueued, workspace, compute).Scan(&n)
	return n, err
}

// SetWaitReason sets the wait reason of every queued job of a compute. While nodes are coming
// (WaitingForNodes), a job that takes several keeps its own count of them (GangWait).
func (s *DB) SetWaitReason(ctx context.Context, workspace, compute, reason string) error {
	q := `UPDATE jobs SET wait_reason = ? WHERE status = ? AND workspace = ? AND compute = ? AND wait_reason != ?`
	if strings.HasPrefix(reason, trainyard.WaitWaitingForNodes+":") {
		q += ` AND (instance_count < 2 OR wait_reason NOT LIKE '` + trainyard.WaitWaitingForNodes + ` %/%')`
	}
	_, err := s.exec(ctx, q, reason, trainyard.JobQueued, workspace, compute, reason)
	return err
}

// freeNode lets node id go of job jobID, if it still holds it: a running node is idle from now,
// its idle clock started; a preempted one stays preempted, to be released.
func (s *DB) freeNode(tx *Tx, id string, jobID int64) error {
	now := s.now()
	_, err := tx.Exec(`UPDATE nodes SET state = CASE WHEN state = ? THEN ? ELSE state END, job_id = 0, idle_since = ?, last_seen = ?
		WHERE id = ? AND job_id = ?`, trainyard.NodeRunning, trainyard.NodeIdle, now, now, id, jobID)
	return err
}
