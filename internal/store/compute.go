package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/trainyard/trainyard"
)

const computeCols = `workspace, name, type, location, size, tier, min_nodes, max_nodes, idle_seconds,
	description, tags, state, errors, created_at, modified_at, properties, secrets`

// CreateCompute records c, in state Creating unless c.State says otherwise (an attached
// target is recorded Succeeded), with its operation: a Create that ends when provisioning
// does, or an Attach, done at once. Its credentials are sealed. It never overwrites: an
// existing name is a Conflict.
func (s *DB) CreateCompute(ctx context.Context, c trainyard.ComputeTarget) (trainyard.ComputeTarget, trainyard.Operation, error) {
	var op trainyard.Operation
	err := s.update(ctx, func(tx *Tx) error {
		var err error
		if c, err = s.insertCompute(tx, c); err != nil {
			return err
		}
		kind := trainyard.OpCreate
		if c.Type.Attached() {
			kind = trainyard.OpAttach
		}
		op, err = s.beginOp(tx, c.Workspace, c.Name, kind)
		return err
	})
	return c, op, err
}

// insertCompute adds the record of c in tx; an existing name is a Conflict.
func (s *DB) insertCompute(tx *Tx, c trainyard.ComputeTarget) (trainyard.ComputeTarget, error) {
	now := s.Now()
	if c.State == "" {
		c.State = trainyard.Creating
	}
	c.CreatedAt, c.ModifiedAt = now.UTC().Truncate(time.Millisecond), now.UTC().Truncate(time.Millisecond)
	tags, _ := json.Marshal(nonNil(c.Tags))
	props, sealed := s.encodeProps(c)
	_, err := tx.Exec(`INSERT INTO computes (`+computeCols+`) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
		c.Workspace, c.Name, c.Type, c.Location, c.Size, c.Tier, c.Scale.MinNodes, c.Scale.MaxNodes,
		int64(c.Scale.IdleTimeBeforeScaleDown/time.Second), c.Description, string(tags), c.State, "[]", ms(now), ms(now),
		props, sealed)
	if isUnique(err) {
		verb := "delete"
		if c.Type.Attached() {
			verb = "detach"
		}
		return c, trainyard.Errorf(trainyard.Conflict, "compute %q already exists in workspace %q; pick another name, or %s the existing one first with: trainyard compute %s --name %s",
			c.Name, c.Workspace, verb, verb, c.Name)
	}
	return c, err
}

// Compute returns one compute record, or NotFound.
func (s *DB) Compute(ctx context.Context, workspace, name string) (trainyard.ComputeTarget, error) {
	row := s.queryRow(ctx, `SELECT `+computeCols+` FROM computes WHERE workspace = ? AND name = ?`, workspace, name)
	c, err := s.scanCompute(row)
	if errors.Is(err, sql.ErrNoRows) {
		return c, trainyard.Errorf(trainyard.NotFound, "compute %q not found in workspace %q; list them with: trainyard compute list", name, workspace)
	}
	return c, err
}

// Computes returns every compute record of every workspace.
func (s *DB) Computes(ctx context.Context) ([]trainyard.ComputeTarget, error) {
	return s.queryComputes(ctx, `SELECT `+computeCols+` FROM computes ORDER BY workspace, name`)
}

// ComputesIn returns the compute records of one workspace.
func (s *DB) ComputesIn(ctx context.Context, workspace string) ([]trainyard.ComputeTarget, error) {
	return s.queryComputes(ctx, `SELECT `+computeCols+` FROM computes WHERE workspace = ? ORDER BY name`, workspace)
}

func (s *DB) queryComputes(ctx context.Context, q string, args ...any) ([]trainyard.ComputeTarget, error) {
	rows, err := s.query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []trainyard.ComputeTarget
	for rows.Next() {
		c, err := s.scanCompute(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

type scanner interface{ Scan(...any) error }

func (s *DB) scanCompute(r scanner) (trainyard.ComputeTarget, error) {
	var c trainyard.ComputeTarget
	var idle, created, modified int64
	var tags, errs, props, sealed string
	err := r.Scan(&c.Workspace, &c.Name, &c.Type, &c.Location, &c.Size, &c.Tier, &c.Scale.MinNodes, &c.Scale.MaxNodes,
		&idle, &c.Description, &tags, &c.State, &errs, &created, &modified, &props, &sealed)
	if err != nil {
		return c, err
	}
	c.Scale.IdleTimeBeforeScaleDown = time.Duration(idle) * time.Second
	c.CreatedAt, c.ModifiedAt = fromMS(created), fromMS(modified)
	json.Unmarshal([]byte(tags), &c.Tags)
	json.Unmarshal([]byte(errs), &c.Errors)
	return c, s.decodeProps(&c, props, sealed)
}

// SetComputeState moves a compute to state st; a non-empty errMsg is appended to its errors.
// Its Create operation ends with it when it leaves Creating.
func (s *DB) SetComputeState(ctx context.Context, workspace, name string, st trainyard.ProvisioningState, errMsg string) error {
	return s.update(ctx, func(tx *Tx) error {
		var errs string
		if err := tx.QueryRow(`SELECT errors FROM computes WHERE workspace = ? AND name = ?`, workspace, name).Scan(&errs); err != nil {
			return err
		}
		if errMsg != "" {
			var list []string
			json.Unmarshal([]byte(errs), &list)
			b, _ := json.Marshal(append(list, errMsg))
			errs = string(b)
		}
		if _, err := tx.Exec(`UPDATE computes SET state = ?, errors = ?, modified_at = ? WHERE workspace = ? AND name = ?`,
			st, errs, s.now(), workspace, name); err != nil {
			return err
		}
		return s.settleOps(tx, workspace, name)
	})
}

// MarkComputeDeleting starts the deletion of a compute and returns its Delete operation,
// which ends when the record goes (DeleteCompute). It refuses while jobs of the compute are
// not finished, so deleting a cluster never loses a job silently.
func (s *DB) MarkComputeDeleting(ctx context.Context, workspace, name string) (trainyard.ComputeTarget, trainyard.Operation, error) {
	var op trainyard.Operation
	c, err := s.Compute(ctx, workspace, name)
	if err != nil {
		return c, op, err
	}
	err = s.update(ctx, func(tx *Tx) error {
		if err := noActiveJobs(tx, workspace, name, "delete"); err != nil {
			return err
		}
		if _, err := tx.Exec(`UPDATE computes SET state = ?, modified_at = ? WHERE workspace = ? AND name = ?`, trainyard.Deleting, s.now(), workspace, name); err != nil {
			return err
		}
		op, err = s.beginOp(tx, c.Workspace, c.Name, trainyard.OpDelete)
		return err
	})
	c.State = trainyard.Deleting
	return c, op, err
}

// noActiveJobs refuses, naming verb, while jobs of a compute are not finished.
func noActiveJobs(tx *Tx, workspace, name, verb string) error {
	var active int
	err := tx.QueryRow(`SELECT count(*) FROM jobs WHERE workspace = ? AND compute = ? AND status NOT IN (?, ?, ?)`,
		workspace, name, trainyard.JobCompleted, trainyard.JobFailed, trainyard.JobCanceled).Scan(&active)
	if err != nil {
		return err
	}
	if active > 0 {
		return trainyard.Errorf(trainyard.Conflict, "compute %q has %d unfinished job(s); cancel them first (trainyard job list --compute %s), then %s", name, active, name, verb)
	}
	return nil
}

// DetachCompute drops the record of an attached compute, credentials included, in one
// transaction with its Detach operation, done at once: nothing of it runs on this server, so
// it is fully gone, and its name free, when this returns. It refuses while jobs of the compute
// are unfinished.
func (s *DB) DetachCompute(ctx context.Context, workspace, name string) (trainyard.Operation, error) {
	var op trainyard.Operation
	err := s.update(ctx, func(tx *Tx) error {
		if err := noActiveJobs(tx, workspace, name, "detach"); err != nil {
			return err
		}
		var stored string
		err := tx.QueryRow(`SELECT name FROM computes WHERE workspace = ? AND name = ?`, workspace, name).Scan(&stored)
		if errors.Is(err, sql.ErrNoRows) {
			return trainyard.Errorf(trainyard.NotFound, "compute %q not found in workspace %q; list them with: trainyard compute list", name, workspace)
		}
		if err != nil {
			return err
		}
		if _, err := tx.Exec(`DELETE FROM computes WHERE workspace = ? AND name = ?`, workspace, name); err != nil {
			return err
		}
		op, err = s.beginOp(tx, workspace, stored, trainyard.OpDetach)
		return err
	})
	return op, err
}

// DeleteCompute drops the record of a compute whose nodes are gone; its name is free again
// and its Delete operation ends Succeeded.
func (s *DB) DeleteCompute(ctx context.Context, workspace, name string) error {
	return s.update(ctx, func(tx *Tx) error {
		if _, err := tx.Exec(`DELETE FROM computes WHERE workspace = ? AND name = ?`, workspace, name); err != nil {
			return err
		}
		return s.settleOps(tx, workspace, name)
	})
}

// Event is one entry of a compute's history: a scaling decision, a node's life, an error.
type Event struct {
	ID      int64
	Time    time.Time
	Kind    string
	Message string
}

// AddEvent appends an event to a compute's history.
func (s *DB) AddEvent(ctx context.Context, workspace, compute, kind, message string) error {
	_, err := s.exec(ctx, `INSERT INTO events (workspace, compute, time, kind, message) VALUES (?,?,?,?,?)`,
		workspace, compute, s.now(), kind, message)
	return err
}

// Events returns the events of a compute after id afterID, oldest first, at most limit.
func (s *DB) Events(ctx context.Context, workspace, compute string, afterID int64, limit int) ([]Event, error) {
	rows, err := s.query(ctx, `SELECT id, time, kind, message FROM events
		WHERE workspace = ? AND compute = ? AND id > ? ORDER BY id LIMIT ?`, workspace, compute, afterID, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		var e Event
		var t int64
		if err := rows.Scan(&e.ID, &t, &e.Kind, &e.Message); err != nil {
			return nil, err
		}
		e.Time = fromMS(t)
		out = append(out, e)
	}
	return out, rows.Err()
}

func nonNil(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// RecentEvents returns the newest n events of a compute, oldest first.
func (s *DB) RecentEvents(ctx context.Context, workspace, compute string, n int) ([]Event, error) {
	var after int64
	err := s.queryRow(ctx, `SELECT coalesce(min(id), 1) - 1 FROM (SELECT id FROM events
		WHERE workspace = ? AND compute = ? ORDER BY id DESC LIMIT ?)`, workspace, compute, n).Scan(&after)
	if err != nil {
		return nil, err
	}
	return s.Events(ctx, workspace, compute, after, n)
}

// UpdateCompute applies fn to a compute record in one transaction, fn may refuse, and records
// the change as an operation of kind: an Update is done at once; a Start, Stop or Restart of
// a compute instance ends when the instance is Running or Stopped (or has a fresh node).
func (s *DB) UpdateCompute(ctx context.Context, workspace, name string, kind trainyard.OperationKind, fn func(c *trainyard.ComputeTarget) error) (trainyard.ComputeTarget, trainyard.Operation, error) {
	var c trainyard.ComputeTarget
	var op trainyard.Operation
	err := s.update(ctx, func(tx *Tx) error {
		var err error
		c, err = s.scanCompute(tx.QueryRow(`SELECT `+computeCols+` FROM computes WHERE workspace = ? AND name = ?`, workspace, name))
		if errors.Is(err, sql.ErrNoRows) {
			return trainyard.Errorf(trainyard.NotFound, "compute %q not found in workspace %q; list them with: trainyard compute list", name, workspace)
		}
		if err != nil {
			return err
		}
		if err := fn(&c); err != nil {
			return err
		}
		tags, _ := json.Marshal(nonNil(c.Tags))
		props, _ := s.encodeProps(c) // credentials never change in place
		c.ModifiedAt = s.Now().UTC().Truncate(time.Millisecond)
		_, err = tx.Exec(`UPDATE computes SET min_nodes = ?, max_nodes = ?, idle_seconds = ?, tags = ?, description = ?, properties = ?, modified_at = ?
			WHERE workspace = ? AND name = ?`, c.Scale.MinNodes, c.Scale.MaxNodes, int64(c.Scale.IdleTimeBeforeScaleDown/time.Second),
			string(tags), c.Description, props, ms(c.ModifiedAt), workspace, name)
		if err != nil {
			return err
		}
		op, err = s.beginOp(tx, c.Workspace, c.Name, kind)
		return err
	})
	return c, op, err
}
