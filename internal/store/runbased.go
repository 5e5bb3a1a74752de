package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/trainyard/trainyard"
)

// CreateRunBasedJob records a run-based cluster c (SPEC §1.2, "creation modes"), its Create
// operation and the queued job j that runs on it, in one transaction: when either cannot be
// recorded (a taken name), neither is.
func (s *DB) CreateRunBasedJob(ctx context.Context, c trainyard.ComputeTarget, j trainyard.Job, spec string) (JobRow, trainyard.Operation, error) {
	if c.RunBasedFor() != j.Name || j.Compute != c.Name {
		return JobRow{}, trainyard.Operation{}, fmt.Errorf("run-based compute %s is tagged for job %q and job %s names compute %q", c.Name, c.RunBasedFor(), j.Name, j.Compute)
	}
	var id int64
	var op trainyard.Operation
	err := s.update(ctx, func(tx *Tx) error {
		var err error
		if c, err = s.insertCompute(tx, c); err != nil {
			return err
		}
		if op, err = s.beginOp(tx, c.Workspace, c.Name, trainyard.OpCreate); err != nil {
			return err
		}
		id, err = s.insertJob(tx, j, spec)
		return err
	})
	if err != nil {
		return JobRow{}, op, err
	}
	row, err := s.JobByID(ctx, id)
	return row, op, err
}

// RetireRunBased starts deleting a run-based cluster whose job has ended, and reports whether
// it did; it returns false for a persistent compute, one still Creating or already Deleting,
// and one whose job is unfinished. When the cluster failed to provision, its job, which can
// never run, fails first with code ComputeFailed. The cluster gets a Delete operation, as if
// its owner had deleted it.
func (s *DB) RetireRunBased(ctx context.Context, workspace, name string) (bool, error) {
	retired := false
	err := s.update(ctx, func(tx *Tx) error {
		c, err := s.scanCompute(tx.QueryRow(`SELECT `+computeCols+` FROM computes WHERE workspace = ? AND name = ?`, workspace, name))
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		switch {
		case c.RunBasedFor() == "", c.State == trainyard.Creating, c.State == trainyard.Deleting:
			return nil
		case c.State == trainyard.Failed || c.State == trainyard.Canceled:
			why := "provisioning " + string(c.State)
			if len(c.Errors) > 0 {
				why = c.Errors[len(c.Errors)-1]
			}
			if _, err := tx.Exec(`UPDATE jobs SET status = ?, wait_reason = '', error_code = ?, error_message = ?, ended_at = ?
				WHERE workspace = ? AND compute = ? AND status IN (?, ?)`, trainyard.JobFailed, trainyard.ErrComputeFailed,
				fmt.Sprintf("the cluster %s created for this job failed: %s", c.Name, why), s.now(),
				workspace, name, trainyard.JobQueued, trainyard.JobStarting); err != nil {
				return err
			}
		}
		var active int
		if err := tx.QueryRow(`SELECT count(*) FROM jobs WHERE workspace = ? AND compute = ? AND status NOT IN (?, ?, ?)`,
			workspace, name, trainyard.JobCompleted, trainyard.JobFailed, trainyard.JobCanceled).Scan(&active); err != nil || active > 0 {
			return err
		}
		if _, err := tx.Exec(`UPDATE computes SET state = ?, modified_at = ? WHERE workspace = ? AND name = ?`, trainyard.Deleting, s.now(), workspace, name); err != nil {
			return err
		}
		if _, err := s.beginOp(tx, c.Workspace, c.Name, trainyard.OpDelete); err != nil {
			return err
		}
		retired = true
		return nil
	})
	return retired, err
}
