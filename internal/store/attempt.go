package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/trainyard/trainyard"
)

// holds reports whether node nodeID runs job j's current attempt: as its node, or as a rank.
func holds(tx *Tx, j JobRow, nodeID string) (bool, error) {
	if j.Node == nodeID {
		return true, nil
	}
	_, ok, err := rankOn(tx, j.ID, nodeID)
	return ok, err
}

// beginAttempt records the attempt that placement just gave job jobID, on nodes (rank 0
// first).
func (s *DB) beginAttempt(tx *Tx, jobID int64, nodes []string) error {
	_, err := tx.Exec(`INSERT INTO job_attempts (job_id, attempt, nodes, started_at)
		SELECT id, attempt, ?, ? FROM jobs WHERE id = ?
		ON CONFLICT (job_id, attempt) DO UPDATE SET nodes = excluded.nodes, started_at = excluded.started_at`,
		strings.Join(nodes, ","), s.now(), jobID)
	return err
}

// endAttempt ends job j's current attempt, which node nodeID ended with error code cause. While
// j.Retry allows it, the job is queued again as its next attempt, with a fresh run token when
// it is placed; the nodes of its other ranks keep the job until their agents say it stopped
// there, so no node runs two attempts. Otherwise the job fails (or, cancel asked, is
// canceled) with cause and message.
func (s *DB) endAttempt(tx *Tx, j JobRow, nodeID, cause, message string) error {
	now := s.now()
	if _, err := tx.Exec(`UPDATE job_attempts SET ended_at = ?, cause = ?, message = ? WHERE job_id = ? AND attempt = ?`,
		now, cause, message, j.ID, j.Attempt); err != nil {
		return err
	}
	// A process left on a node of the attempt cannot write into the job any more.
	if _, err := tx.Exec(`DELETE FROM tokens WHERE kind = ? AND subject = ?`, KindRun, fmt.Sprint(j.ID)); err != nil {
		return err
	}
	if j.Status != trainyard.JobCancelRequested && j.Retry.Retries(j.Attempt, cause) {
		if _, err := tx.Exec(`DELETE FROM job_ranks WHERE job_id = ?`, j.ID); err != nil {
			return err
		}
		_, err := tx.Exec(`UPDATE jobs SET status = ?, node = '', attempt = attempt + 1, wait_reason = ?, master_port = 0,
			exit_code = NULL, error_code = '', error_message = '' WHERE id = ?`,
			trainyard.JobQueued, trainyard.RequeueReason(j.Attempt+1, j.Retry.Max, message), j.ID)
		return err
	}
	if _, err := tx.Exec(`UPDATE job_ranks SET state = ? WHERE job_id = ? AND node = ?`, RankDone, j.ID, nodeID); err != nil {
		return err
	}
	st := trainyard.JobFailed
	if j.Status == trainyard.JobCancelRequested {
		st = trainyard.JobCanceled
	}
	if j.Attempt > 1 {
		message += fmt.Sprintf(" (attempt %d, the last of 1 + max_retries %d)", j.Attempt, j.Retry.Max)
	}
	_, err := tx.Exec(`UPDATE jobs SET status = ?, error_code = ?, error_message = ?, ended_at = ? WHERE id = ?`,
		st, cause, message, now, j.ID)
	return err
}

// superseded is the error for a report from a node about an attempt of job j that is not its
// current one, or that the node does not hold. A node that still holds the job's record
// (a rank left over from an attempt that ended) is freed by it: its agent reports once the
// attempt's processes have stopped.
func (s *DB) superseded(tx *Tx, j JobRow, nodeID string, attempt int, free bool) error {
	var held int
	if err := tx.QueryRow(`SELECT count(*) FROM nodes WHERE id = ? AND job_id = ?`, nodeID, j.ID).Scan(&held); err != nil {
		return err
	}
	if held == 0 && attempt == j.Attempt {
		return trainyard.Errorf(trainyard.NotFound, "job %d is not placed on node %s", j.ID, nodeID)
	}
	err := trainyard.Errorf(trainyard.Conflict, "job %s no longer runs on node %s; this node stops it", j.Name, nodeID)
	if attempt != j.Attempt {
		err = trainyard.Errorf(trainyard.Conflict, "attempt %d of job %s was superseded by attempt %d; this node stops it", attempt, j.Name, j.Attempt)
	}
	if free && held > 0 {
		if err := s.freeNode(tx, nodeID, j.ID); err != nil {
			return err
		}
		return freed{err}
	}
	return err
}

// freed is a refusal that freed the node: its transaction commits, and the caller returns
// the refusal after.
type freed struct{ error }

func (f freed) Unwrap() error { return f.error }

// PreemptNode takes back a node of a low-priority cluster, as the platform does when it needs
// the capacity: the node becomes preempted, its job is told to stop (with the agent's grace to
// checkpoint) and then runs again elsewhere as its next attempt, and the node is released.
// A workspace other than "" must be the node's.
func (s *DB) PreemptNode(ctx context.Context, workspace, id, reason string) (NodeRow, error) {
	var n NodeRow
	err := s.update(ctx, func(tx *Tx) error {
		var err error
		n, err = scanNode(tx.QueryRow(`SELECT `+nodeCols+` FROM nodes WHERE id = ?`, id))
		if errors.Is(err, sql.ErrNoRows) || err == nil && workspace != "" && n.Workspace != workspace {
			return trainyard.Errorf(trainyard.NotFound, "node %q not found in workspace %q; list the nodes of a cluster with: trainyard compute list-nodes --name CLUSTER", id, workspace)
		}
		if err != nil {
			return err
		}
		var tier string
		if err := tx.QueryRow(`SELECT tier FROM computes WHERE workspace = ? AND name = ?`, n.Workspace, n.Compute).Scan(&tier); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if tier != string(trainyard.LowPriority) {
			return trainyard.Errorf(trainyard.Invalid, "node %s belongs to %s, a dedicated cluster: only nodes of low-priority clusters (tier: low_priority) are preempted", id, n.Compute)
		}
		switch n.State {
		case trainyard.NodePreempted:
			return trainyard.Errorf(trainyard.Conflict, "node %s is already preempted; it is being released", id)
		case trainyard.NodeLeaving, trainyard.NodeUnusable:
			return trainyard.Errorf(trainyard.Conflict, "node %s is %s; it is being released already", id, n.State)
		}
		if n.JobID != 0 {
			if err := tx.QueryRow(`SELECT name FROM jobs WHERE id = ?`, n.JobID).Scan(&n.Job); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(`UPDATE nodes SET state = ?, preempted_at = ? WHERE id = ?`, trainyard.NodePreempted, s.now(), id); err != nil {
			return err
		}
		_, err = tx.Exec(`INSERT INTO events (workspace, compute, time, kind, message) VALUES (?,?,?,?,?)`,
			n.Workspace, n.Compute, s.now(), "node", fmt.Sprintf("node %s preempted: %s", id, reason))
		return err
	})
	return n, err
}

// Attempts lists the attempts of a job, the first first.
func (s *DB) Attempts(ctx context.Context, jobID int64) ([]trainyard.Attempt, error) {
	rows, err := s.query(ctx, `SELECT attempt, nodes, started_at, ended_at, cause, message FROM job_attempts
		WHERE job_id = ? ORDER BY attempt`, jobID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []trainyard.Attempt
	for rows.Next() {
		var a trainyard.Attempt
		var nodes string
		if err := rows.Scan(&a.N, &nodes, &a.Started, &a.Ended, &a.Cause, &a.Message); err != nil {
			return nil, err
		}
		a.Nodes = strings.Split(nodes, ",")
		out = append(out, a)
	}
	return out, rows.Err()
}

// retryAfter ends attempt j.Attempt, which node nodeID (in nodeState) reports ended as o says,
// when that is a cause the job runs again for or ends with apart from its command: the node
// was preempted (the job runs again, or fails as Preempted), or the command failed and the
// job retries failures while it has attempts left. It frees the node and reports whether it
// took the end; when not, FinishJob records the end as usual.
func (s *DB) retryAfter(tx *Tx, j JobRow, nodeID string, nodeState trainyard.NodeState, o Outcome) (bool, error) {
	if j.Status.Terminal() || j.Status == trainyard.JobCancelRequested || o.Canceled && nodeState != trainyard.NodePreempted {
		return false, nil
	}
	var cause, message string
	switch {
	case nodeState == trainyard.NodePreempted:
		cause, message = trainyard.ErrPreempted, "node "+nodeID+" was preempted"
	case (o.ExitCode == nil || *o.ExitCode != 0 || o.Error != nil && o.Error.Code == trainyard.ErrUserError) &&
		(o.Error == nil || o.Error.Code == trainyard.ErrUserError) && j.Retry.Retries(j.Attempt, trainyard.ErrUserError):
		cause, message = trainyard.ErrUserError, "the command failed on node "+nodeID
		if o.ExitCode != nil {
			message += fmt.Sprintf(" with exit code %d", *o.ExitCode)
		}
	default:
		return false, nil
	}
	if err := s.freeNode(tx, nodeID, j.ID); err != nil {
		return false, err
	}
	return true, s.endAttempt(tx, j, nodeID, cause, message)
}

// closeAttempt records the end of a job's last attempt, with the job's own end.
func closeAttempt(tx *Tx, jobID int64, now int64, code, message string) error {
	_, err := tx.Exec(`UPDATE job_attempts SET ended_at = ?, cause = ?, message = ? FROM jobs
		WHERE job_attempts.job_id = jobs.id AND job_attempts.attempt = jobs.attempt AND jobs.id = ? AND job_attempts.ended_at = 0`,
		now, code, message, jobID)
	return err
}

// LogStart says which attempt owns a job's std_log.txt now and where that attempt's log starts
// in it. The first attempt owns it from the top until another is handed it: a job that runs
// once has no line of trainyard's in its log, and its start costs no write.
func (s *DB) LogStart(ctx context.Context, jobID int64) (attempt int, base int64, err error) {
	err = s.queryRow(ctx, `SELECT log_attempt, log_base FROM jobs WHERE id = ?`, jobID).Scan(&attempt, &base)
	return max(attempt, 1), base, err
}

// SetLogStart hands a job's log to attempt, whose log starts at base.
func (s *DB) SetLogStart(ctx context.Context, jobID int64, attempt int, base int64) error {
	_, err := s.exec(ctx, `UPDATE jobs SET log_attempt = ?, log_base = ? WHERE id = ?`, attempt, base, jobID)
	return err
}

// NodeHolds reports whether node nodeID still holds job jobID's record: it runs one of its
// attempts, maybe one that ended, whose processes are stopping.
func (s *DB) NodeHolds(ctx context.Context, nodeID string, jobID int64) (bool, error) {
	var n int
	err := s.queryRow(ctx, `SELECT count(*) FROM nodes WHERE id = ? AND job_id = ?`, nodeID, jobID).Scan(&n)
	return n > 0, err
}

// ReclaimNode preempts a low-priority node for the capacity its location needs elsewhere.
func (s *DB) ReclaimNode(ctx context.Context, id, reason string) error {
	_, err := s.PreemptNode(ctx, "", id, reason)
	return err
}
