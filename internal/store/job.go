package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/internal/schedule"
)

// JobRow is a job record with its internal ID and the spec it was submitted with.
type JobRow struct {
	trainyard.Job
	ID   int64
	Spec string // the submitted spec as JSON, echoed back by the API
}

const jobCols = `id, workspace, name, display_name, experiment_name, description, tags, compute, command, env,
	snapshot, timeout_ms, instance_count, spec, status, wait_reason, node, exit_code, error_code, error_message,
	created_at, started_at, ended_at, environment, image, shm_size, docker_args, build_log, distribution,
	attempt, max_retries, retry_on_failure`

// ErrJobNameTaken is in the chain of the Conflict that CreateJob and CreateRunBasedJob return
// for a job name already taken in the workspace.
var ErrJobNameTaken = errors.New("job name taken")

// CreateJob records a new queued job. Conflict if its name is taken in the workspace.
func (s *DB) CreateJob(ctx context.Context, j trainyard.Job, spec string) (JobRow, error) {
	var id int64
	err := s.update(ctx, func(tx *Tx) error {
		var err error
		id, err = s.insertJob(tx, j, spec)
		return err
	})
	if err != nil {
		return JobRow{}, err
	}
	return s.JobByID(ctx, id)
}

// insertJob adds a queued job in tx and returns its ID; a taken name is a Conflict.
func (s *DB) insertJob(tx *Tx, j trainyard.Job, spec string) (int64, error) {
	tags, _ := json.Marshal(nonNil(j.Tags))
	env, _ := json.Marshal(nonNil(j.Environment))
	// A job whose image must be built first waits in Preparing, taking no node.
	status := trainyard.JobQueued
	if j.Status == trainyard.JobPreparing {
		status = trainyard.JobPreparing
	}
	res, err := tx.Exec(`INSERT INTO jobs (workspace, name, display_name, experiment_name, description, tags, compute,
		command, env, snapshot, timeout_ms, instance_count, spec, status, wait_reason, created_at,
		environment, image, shm_size, docker_args, distribution, max_retries, retry_on_failure)
		VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
		j.Workspace, j.Name, j.DisplayName, j.ExperimentName, j.Description, string(tags), j.Compute,
		j.Command, s.box.Seal(env), j.Snapshot, j.Timeout.Milliseconds(), j.InstanceCount, spec,
		status, j.WaitReason, s.now(), j.EnvironmentRef, j.Image, j.ShmSize, s.sealText(j.DockerArgs), distributionText(j.Distribution),
		j.Retry.Max, j.Retry.OnFailure)
	if isUnique(err) {
		return 0, &trainyard.Error{Code: trainyard.Conflict, Err: ErrJobNameTaken,
			Message: fmt.Sprintf("a job named %q already exists in workspace %q; job names are unique: leave name out to get a generated one", j.Name, j.Workspace)}
	}
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
}

// Job returns a job by workspace and name, or NotFound.
func (s *DB) Job(ctx context.Context, workspace, name string) (JobRow, error) {
	j, err := s.scanJob(s.queryRow(ctx, `SELECT `+jobCols+` FROM jobs WHERE workspace = ? AND name = ?`, workspace, name))
	if errors.Is(err, sql.ErrNoRows) {
		return j, trainyard.Errorf(trainyard.NotFound, "job %q not found in workspace %q; list jobs with: trainyard job list", name, workspace)
	}
	return j, err
}

// JobByID returns a job by its internal ID, or NotFound.
func (s *DB) JobByID(ctx context.Context, id int64) (JobRow, error) {
	j, err := s.scanJob(s.queryRow(ctx, `SELECT `+jobCols+` FROM jobs WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return j, notFound("job %d not found", id)
	}
	return j, err
}

// JobFilter narrows Jobs.
type JobFilter struct {
	Compute string
	Status  trainyard.JobStatus
	Limit   int // default 100
}

// Jobs lists the jobs of a workspace, newest first.
func (s *DB) Jobs(ctx context.Context, workspace string, f JobFilter) ([]JobRow, error) {
	q := `SELECT ` + jobCols + ` FROM jobs WHERE workspace = ?`
	args := []any{workspace}
	if f.Compute != "" {
		q += ` AND compute = ?`
		args = append(args, f.Compute)
	}
	if f.Status != "" {
		q += ` AND status = ?`
		args = append(args, f.Status)
	}
	if f.Limit <= 0 {
		f.Limit = 100
	}
	q += ` ORDER BY id DESC LIMIT ?`
	args = append(args, f.Limit)
	rows, err := s.query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []JobRow
	for rows.Next() {
		j, err := s.scanJob(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, j)
	}
	return out, rows.Err()
}

func (s *DB) scanJob(r scanner) (JobRow, error) {
	var j JobRow
	var tags, env, ecode, emsg string
	var timeout, created, started, ended int64
	var exit sql.NullInt64
	var dist string
	err := r.Scan(&j.ID, &j.Workspace, &j.Name, &j.DisplayName, &j.ExperimentName, &j.Description, &tags, &j.Compute,
		&j.Command, &env, &j.Snapshot, &timeout, &j.InstanceCount, &j.Spec, &j.Status, &j.WaitReason, &j.Node,
		&exit, &ecode, &emsg, &created, &started, &ended, &j.EnvironmentRef, &j.Image, &j.ShmSize, &j.DockerArgs, &j.BuildLog, &dist,
		&j.Attempt, &j.Retry.Max, &j.Retry.OnFailure)
	if err != nil {
		return j, err
	}
	json.Unmarshal([]byte(tags), &j.Tags)
	if dist != "" {
		json.Unmarshal([]byte(dist), &j.Distribution)
	}
	plain, err := s.box.Open(env)
	if err != nil {
		return j, fmt.Errorf("job %d: environment: %w", j.ID, err)
	}
	json.Unmarshal(plain, &j.Environment)
	// docker_args may carry -e values: sealed as the environment is.
	args, err := s.box.Open(j.DockerArgs)
	if err != nil {
		return j, fmt.Errorf("job %d: docker_args: %w", j.ID, err)
	}
	j.DockerArgs = string(args)
	j.Timeout = time.Duration(timeout) * time.Millisecond
	if exit.Valid {
		c := int(exit.Int64)
		j.ExitCode = &c
	}
	if ecode != "" {
		j.Error = &trainyard.JobError{Code: ecode, Message: emsg}
	}
	j.CreatedAt, j.StartedAt, j.EndedAt = fromMS(created), fromMS(started), fromMS(ended)
	return j, nil
}

// Assignment is a job placed on a node, with a fresh run token for its metrics. A multi-node
// job's assignment names the node's rank and where the ranks meet.
type Assignment struct {
	Job      JobRow
	RunToken string
	Rank     int
	Gang     trainyard.Gang // zero for a single-node job
}

// Place gives node nodeID its work: the job already placed on it and not yet started (the
// agent did not hear of it, so it is sent again), or else the oldest queued job of the node's
// compute. It returns ok=false when there is nothing to do. Placement and the node's move to
// running are one transaction, so the autoscaler never releases a node that just got work.
func (s *DB) Place(ctx context.Context, nodeID string, running []int64) (a Assignment, ok bool, err error) {
	err = s.update(ctx, func(tx *Tx) error {
		n, err := scanNode(tx.QueryRow(`SELECT `+nodeCols+` FROM nodes WHERE id = ?`, nodeID))
		if err != nil {
			return err
		}
		var jobID int64
		gang := false
		switch {
		case n.State == trainyard.NodeRunning && n.JobID != 0 && !contains(running, n.JobID):
			r, ok, err := rankOn(tx, n.JobID, nodeID)
			if err != nil {
				return err
			}
			if ok {
				if r.State != rankPlaced {
					return nil
				}
				gang, a.Rank = true, r.Rank
			} else {
				var st trainyard.JobStatus
				if err := tx.QueryRow(`SELECT status FROM jobs WHERE id = ?`, n.JobID).Scan(&st); err != nil {
					return err
				}
				if st == trainyard.JobCancelRequested || st.Terminal() {
					// Canceled before its node heard of it: nothing ran, and the node is free.
					now := s.now()
					if _, err := tx.Exec(`UPDATE jobs SET status = ?, ended_at = ? WHERE id = ? AND status = ?`,
						trainyard.JobCanceled, now, n.JobID, trainyard.JobCancelRequested); err != nil {
						return err
					}
					return s.freeNode(tx, nodeID, n.JobID)
				}
				if st != trainyard.JobPreparing {
					return nil
				}
			}
			jobID = n.JobID
		case n.State == trainyard.NodeIdle:
			if stopped, err := instanceStopped(tx, n.Workspace, n.Compute); err != nil || stopped {
				return err // a stopped instance's node gets no new work while it is released
			}
			q := `SELECT id, instance_count, distribution FROM jobs WHERE status = ? AND workspace = ? AND compute = ? ORDER BY id LIMIT 1`
			args := []any{trainyard.JobQueued, n.Workspace, n.Compute}
			if nodeID == LocalNodeID {
				q = `SELECT id, instance_count, distribution FROM jobs WHERE status = ? AND compute = ? ORDER BY id LIMIT 1`
				args = []any{trainyard.JobQueued, trainyard.TypeLocal}
			}
			var count int
			var dist string
			err := tx.QueryRow(q, args...).Scan(&jobID, &count, &dist)
			if errors.Is(err, sql.ErrNoRows) {
				return nil
			}
			if err != nil {
				return err
			}
			// The decision is schedule.Place's, as in the simulator. The node asking gets the
			// oldest job or nothing, also when that job waits for more nodes (a younger job
			// taking them would keep a gang waiting for ever), so the head of the queue is all
			// it needs; a gang also needs the compute's other idle nodes.
			idle := []string{nodeID}
			if count > 1 {
				if idle, err = idleNodes(tx, n, count-1); err != nil {
					return err
				}
			}
			d := schedule.Place([]schedule.Job{{ID: jobID, Nodes: count}}, idle)
			if d.Waiting != nil {
				return waitForNodes(tx, n.Compute, *d.Waiting)
			}
			// A distributed job on one node is a gang of one, whose launcher starts its
			// processes.
			if p := d.Placed[0]; len(p.Nodes) > 1 || dist != "" {
				if err := s.placeGang(tx, p); err != nil {
					return err
				}
				gang = true
				break
			}
			now := s.now()
			if _, err := tx.Exec(`UPDATE jobs SET status = ?, node = ?, wait_reason = '' WHERE id = ?`, trainyard.JobPreparing, nodeID, jobID); err != nil {
				return err
			}
			if _, err := tx.Exec(`UPDATE nodes SET state = ?, job_id = ?, last_seen = ? WHERE id = ?`, trainyard.NodeRunning, jobID, now, nodeID); err != nil {
				return err
			}
			if err := s.beginAttempt(tx, jobID, []string{nodeID}); err != nil {
				return err
			}
		default:
			return nil
		}
		a.RunToken = NewToken("tyr")
		sub := fmt.Sprint(jobID)
		if gang {
			// Every rank holds a run token of the job, until the job ends.
			if a.Gang, err = s.gangOf(tx, jobID); err != nil {
				return err
			}
		} else if _, err := tx.Exec(`DELETE FROM tokens WHERE kind = ? AND subject = ?`, KindRun, sub); err != nil {
			return err
		}
		if _, err := tx.Exec(`INSERT INTO tokens (hash, kind, subject, created_at) VALUES (?,?,?,?)`, HashToken(a.RunToken), KindRun, sub, s.now()); err != nil {
			return err
		}
		a.Job, err = s.scanJob(tx.QueryRow(`SELECT `+jobCols+` FROM jobs WHERE id = ?`, jobID))
		ok = err == nil
		return err
	})
	return a, ok, err
}

// instanceStopped reports whether a compute is a compute instance its owner stopped.
func instanceStopped(tx *Tx, workspace, compute string) (bool, error) {
	var typ, props string
	err := tx.QueryRow(`SELECT type, properties FROM computes WHERE workspace = ? AND name = ?`, workspace, compute).Scan(&typ, &props)
	if errors.Is(err, sql.ErrNoRows) || err == nil && typ != string(trainyard.TypeComputeInstance) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	var p computeProps
	if err := json.Unmarshal([]byte(props), &p); err != nil {
		return false, fmt.Errorf("compute %s/%s: properties: %w", workspace, compute, err)
	}
	return p.Instance != nil && p.Instance.Power == trainyard.PowerStopped, nil
}

func contains(ids []int64, id int64) bool {
	for _, v := range ids {
		if v == id {
			return true
		}
	}
	return false
}

// jobOnNode loads a job and checks that node nodeID holds its current attempt, and that it is
// not finished; an agent may only report on its own live work. A report on another attempt is
// a Conflict (superseded), which frees the node when free is set.
func (s *DB) jobOnNode(tx *Tx, nodeID string, jobID int64, attempt int, free bool) (JobRow, error) {
	j, err := s.scanJob(tx.QueryRow(`SELECT `+jobCols+` FROM jobs WHERE id = ?`, jobID))
	if errors.Is(err, sql.ErrNoRows) {
		return j, trainyard.Errorf(trainyard.NotFound, "job %d is not placed on node %s", jobID, nodeID)
	}
	if err != nil {
		return j, err
	}
	mine, err := holds(tx, j, nodeID)
	if err != nil {
		return j, err
	}
	if !mine || attempt != j.Attempt {
		return j, s.superseded(tx, j, nodeID, attempt, free)
	}
	if j.Status.Terminal() {
		return j, trainyard.Errorf(trainyard.Conflict, "job %d is already %s", jobID, j.Status)
	}
	return j, nil
}

// SetJobRunning records that the command of a placed job started, or that it finished and its
// outputs are being collected (Finalizing).
func (s *DB) SetJobRunning(ctx context.Context, nodeID string, jobID int64, attempt int, st trainyard.JobStatus) error {
	return s.update(ctx, func(tx *Tx) error {
		_, gang, err := rankOn(tx, jobID, nodeID)
		if err != nil {
			return err
		}
		j, err := s.jobOnNode(tx, nodeID, jobID, attempt, false)
		if gang && trainyard.ErrorCode(err) == trainyard.Conflict {
			return nil // a rank stopping after its gang ended: it reports its finish next
		}
		if err != nil {
			return err
		}
		if j.Ranked() {
			// Each rank records its own part; the job's status follows rank 0, its own node.
			state := map[trainyard.JobStatus]string{trainyard.JobRunning: rankRunning, trainyard.JobFinalizing: rankFinalizing}[st]
			if _, err := tx.Exec(`UPDATE job_ranks SET state = ? WHERE job_id = ? AND node = ? AND state != ?`, state, jobID, nodeID, RankDone); err != nil {
				return err
			}
			// The job runs once every rank does, and finalizes once none still runs.
			behind := []any{rankPlaced}
			if st == trainyard.JobFinalizing {
				behind = append(behind, rankRunning)
			}
			var n int
			q := `SELECT count(*) FROM job_ranks WHERE job_id = ? AND state IN (?` + strings.Repeat(",?", len(behind)-1) + `)`
			if err := tx.QueryRow(q, append([]any{jobID}, behind...)...).Scan(&n); err != nil || n > 0 {
				return err
			}
		}
		// Repeats and late reports (an agent re-attached after its task had ended) are no-ops.
		if j.Status == st || j.Status == trainyard.JobCancelRequested || j.Status == trainyard.JobFinalizing {
			return nil
		}
		if !j.Status.CanBecome(st) {
			return trainyard.Errorf(trainyard.Conflict, "job %d cannot go from %s to %s", jobID, j.Status, st)
		}
		q := `UPDATE jobs SET status = ? WHERE id = ?`
		if st == trainyard.JobRunning {
			// started is the first attempt's start; each attempt keeps its own in job_attempts.
			q = `UPDATE jobs SET status = ?, started_at = CASE WHEN started_at = 0 THEN ` + fmt.Sprint(s.now()) + ` ELSE started_at END WHERE id = ?`
		}
		_, err = tx.Exec(q, st, jobID)
		return err
	})
}

// Outcome is how a job ended on its node.
type Outcome struct {
	ExitCode *int
	Canceled bool // stopped because cancel was asked
	Error    *trainyard.JobError
}

// FinishJob records the end of attempt of a job on node nodeID and frees the node, whose
// idle clock starts now. The job ends with it, or, when the node was preempted or the command
// failed and the job retries failures, runs again as its next attempt.
func (s *DB) FinishJob(ctx context.Context, nodeID string, jobID int64, attempt int, o Outcome) (JobRow, error) {
	var out JobRow
	var refused error // a report of a superseded attempt: the node is freed, the report refused
	err := s.update(ctx, func(tx *Tx) error {
		// A rank of a gang that ended already still frees its node.
		r, gang, err := rankOn(tx, jobID, nodeID)
		if err != nil {
			return err
		}
		j, err := s.jobOnNode(tx, nodeID, jobID, attempt, true)
		if f, ok := errors.AsType[freed](err); ok {
			refused = f.error
			return nil
		}
		if err != nil && !gang && j.Attempt == attempt && j.Status.Terminal() {
			// The job ended without this node's word (canceled as it was placed): the node,
			// which still holds it, is free now.
			if err := s.freeNode(tx, nodeID, jobID); err != nil {
				return err
			}
			refused = err
			return nil
		}
		if err != nil && !(gang && j.Attempt == attempt && j.Status.Terminal()) {
			return err
		}
		var nodeState trainyard.NodeState
		if err := tx.QueryRow(`SELECT state FROM nodes WHERE id = ?`, nodeID).Scan(&nodeState); err != nil {
			return err
		}
		if retry, err := s.retryAfter(tx, j, nodeID, nodeState, o); err != nil || retry {
			if err == nil {
				out, err = s.scanJob(tx.QueryRow(`SELECT `+jobCols+` FROM jobs WHERE id = ?`, jobID))
			}
			return err
		}
		st := trainyard.JobCompleted
		switch {
		case o.Canceled || j.Status == trainyard.JobCancelRequested:
			st = trainyard.JobCanceled
		case o.Error != nil:
			st = trainyard.JobFailed
		case o.ExitCode == nil || *o.ExitCode != 0:
			st = trainyard.JobFailed
		}
		if o.Error != nil && o.Error.Code == trainyard.ErrJobTimeout {
			st = trainyard.JobCanceled
		}
		var ecode, emsg string
		if o.Error != nil {
			ecode, emsg = o.Error.Code, o.Error.Message
		} else if st == trainyard.JobFailed {
			ecode, emsg = trainyard.ErrUserError, "the command exited with a non-zero code; see user_logs/std_log.txt (trainyard job stream --name "+j.Name+")"
		}
		var exit any
		if o.ExitCode != nil {
			exit = *o.ExitCode
		}
		now := s.now()
		if gang {
			ended, err := s.finishRank(tx, j, r, st, exit, ecode, emsg)
			if err == nil {
				out, err = s.scanJob(tx.QueryRow(`SELECT `+jobCols+` FROM jobs WHERE id = ?`, jobID))
			}
			if err != nil || !ended {
				return err
			}
			if err := closeAttempt(tx, jobID, now, out.errorCode(), out.errorMessage()); err != nil {
				return err
			}
			_, err = tx.Exec(`DELETE FROM tokens WHERE kind = ? AND subject = ?`, KindRun, fmt.Sprint(jobID))
			return err
		}
		if _, err := tx.Exec(`UPDATE jobs SET status = ?, exit_code = ?, error_code = ?, error_message = ?, ended_at = ? WHERE id = ?`,
			st, exit, ecode, emsg, now, jobID); err != nil {
			return err
		}
		if err := closeAttempt(tx, jobID, now, ecode, emsg); err != nil {
			return err
		}
		if err := s.freeNode(tx, nodeID, jobID); err != nil {
			return err
		}
		if _, err := tx.Exec(`DELETE FROM tokens WHERE kind = ? AND subject = ?`, KindRun, fmt.Sprint(jobID)); err != nil {
			return err
		}
		out, err = s.scanJob(tx.QueryRow(`SELECT `+jobCols+` FROM jobs WHERE id = ?`, jobID))
		return err
	})
	if err == nil && refused != nil {
		return out, refused
	}
	return out, err
}

// CancelJob cancels a queued job at once, or asks the node of a placed job to stop it.
func (s *DB) CancelJob(ctx context.Context, workspace, name string) (JobRow, error) {
	j, err := s.Job(ctx, workspace, name)
	if err != nil {
		return j, err
	}
	err = s.update(ctx, func(tx *Tx) error {
		// Status and node as they are now: a placement may have come since j was read.
		var st trainyard.JobStatus
		var node string
		if err := tx.QueryRow(`SELECT status, node FROM jobs WHERE id = ?`, j.ID).Scan(&st, &node); err != nil {
			return err
		}
		switch {
		case st.Terminal():
			return trainyard.Errorf(trainyard.Conflict, "job %q is already %s; there is nothing to cancel", name, st)
		case st == trainyard.JobQueued || st == trainyard.JobStarting || st == trainyard.JobPreparing && node == "":
			_, err := tx.Exec(`UPDATE jobs SET status = ?, wait_reason = '', ended_at = ? WHERE id = ?`, trainyard.JobCanceled, s.now(), j.ID)
			return err
		default:
			_, err := tx.Exec(`UPDATE jobs SET status = ? WHERE id = ?`, trainyard.JobCancelRequested, j.ID)
			return err
		}
	})
	if err != nil {
		return j, err
	}
	return s.JobByID(ctx, j.ID)
}

// CancelRequested returns the IDs of the jobs on a node whose cancel was asked.
func (s *DB) CancelRequested(ctx context.Context, nodeID string) ([]int64, error) {
	rows, err := s.query(ctx, `SELECT id FROM jobs WHERE node = ? AND status = ?
		UNION SELECT r.job_id FROM job_ranks r JOIN jobs j ON j.id = r.job_id WHERE r.node = ? AND r.state != ? AND j.status = ?`,
		nodeID, trainyard.JobCancelRequested, nodeID, RankDone, trainyard.JobCancelRequested)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// sealText seals v, keeping "" as it is so that "none" stays plain.
func (s *DB) sealText(v string) string {
	if v == "" {
		return ""
	}
	return s.box.Seal([]byte(v))
}

func (j JobRow) errorCode() string {
	if j.Error == nil {
		return ""
	}
	return j.Error.Code
}

func (j JobRow) errorMessage() string {
	if j.Error == nil {
		return ""
	}
	return j.Error.Message
}
