package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strconv"

	"github.com/trainyard/trainyard"
)

const envCols = `workspace, name, version, description, tags, image, build_context, dockerfile, conda_file, created_at`

// CreateEnvironment records a new environment version. Without a version it gets the next
// whole number after the name's highest. A taken version is a Conflict: versions never
// change; an anonymous environment is the exception, since its version is its content hash,
// and creating it again returns the one there is.
func (s *DB) CreateEnvironment(ctx context.Context, e trainyard.Environment) (trainyard.Environment, error) {
	err := s.update(ctx, func(tx *Tx) error {
		var seq int64
		if err := tx.QueryRow(`SELECT coalesce(max(seq), 0) FROM environments WHERE workspace = ? AND name = ?`, e.Workspace, e.Name).Scan(&seq); err != nil {
			return err
		}
		if e.Version == "" {
			next, err := nextVersion(tx, e.Workspace, e.Name)
			if err != nil {
				return err
			}
			e.Version = next
		}
		tags, _ := json.Marshal(nonNil(e.Tags))
		_, err := tx.Exec(`INSERT INTO environments (`+envCols+`, hash, seq) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)`,
			e.Workspace, e.Name, e.Version, e.Description, string(tags), e.Image, e.Context, e.Dockerfile, e.CondaFile,
			s.now(), e.Hash(), seq+1)
		if isUnique(err) && e.Name == trainyard.AnonymousEnvironment {
			return nil
		}
		if isUnique(err) {
			return trainyard.Errorf(trainyard.Conflict, "environment %s:%s already exists in workspace %q, and versions never change; leave version out to get the next one", e.Name, e.Version, e.Workspace)
		}
		return err
	})
	if err != nil {
		return e, err
	}
	return s.Environment(ctx, e.Workspace, e.Name, e.Version)
}

// nextVersion is one more than the highest whole-number version of a name, or 1.
func nextVersion(tx *Tx, workspace, name string) (string, error) {
	rows, err := tx.Query(`SELECT version FROM environments WHERE workspace = ? AND name = ?`, workspace, name)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var top int64
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return "", err
		}
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n > top {
			top = n
		}
	}
	return strconv.FormatInt(top+1, 10), rows.Err()
}

// Environment returns one version of an environment; version "" means the latest created.
func (s *DB) Environment(ctx context.Context, workspace, name, version string) (trainyard.Environment, error) {
	q := `SELECT ` + envCols + ` FROM environments WHERE workspace = ? AND name = ? AND version = ?`
	args := []any{workspace, name, version}
	if version == "" {
		q = `SELECT ` + envCols + ` FROM environments WHERE workspace = ? AND name = ? ORDER BY seq DESC LIMIT 1`
		args = args[:2]
	}
	e, err := scanEnvironment(s.queryRow(ctx, q, args...))
	if errors.Is(err, sql.ErrNoRows) {
		what := name + ":" + version
		if version == "" {
			what = name + "@latest"
		}
		return e, trainyard.Errorf(trainyard.NotFound, "environment %s not found in workspace %q; list them with: trainyard environment list", what, workspace)
	}
	return e, err
}

// Environments lists the latest version of every environment of a workspace, or, given a
// name, every version of it, newest first.
func (s *DB) Environments(ctx context.Context, workspace, name string) ([]trainyard.Environment, error) {
	q := `SELECT ` + envCols + ` FROM environments e WHERE workspace = ? AND seq = (SELECT max(seq) FROM environments
		WHERE workspace = e.workspace AND name = e.name) ORDER BY name`
	args := []any{workspace}
	if name != "" {
		q = `SELECT ` + envCols + ` FROM environments WHERE workspace = ? AND name = ? ORDER BY seq DESC`
		args = append(args, name)
	}
	rows, err := s.query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []trainyard.Environment
	for rows.Next() {
		e, err := scanEnvironment(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

func scanEnvironment(r scanner) (trainyard.Environment, error) {
	var e trainyard.Environment
	var tags string
	var created int64
	err := r.Scan(&e.Workspace, &e.Name, &e.Version, &e.Description, &tags, &e.Image, &e.Context, &e.Dockerfile, &e.CondaFile, &created)
	json.Unmarshal([]byte(tags), &e.Tags)
	e.CreatedAt = fromMS(created)
	return e, err
}

// ImagesToBuild lists the environments whose images jobs in Preparing without a node wait
// for, oldest job first; each environment's RunImage is the image they wait for.
func (s *DB) ImagesToBuild(ctx context.Context) ([]trainyard.Environment, error) {
	rows, err := s.query(ctx, `SELECT workspace, environment FROM jobs WHERE status = ? AND node = ''
		GROUP BY image ORDER BY min(id)`, trainyard.JobPreparing)
	if err != nil {
		return nil, err
	}
	var refs [][2]string
	for rows.Next() {
		var ws, ref string
		if err := rows.Scan(&ws, &ref); err != nil {
			rows.Close()
			return nil, err
		}
		refs = append(refs, [2]string{ws, ref})
	}
	if err := rows.Err(); err != nil {
		rows.Close()
		return nil, err
	}
	rows.Close()
	var out []trainyard.Environment
	for _, r := range refs {
		name, version, err := trainyard.ParseEnvironmentRef(r[1])
		if err != nil {
			return nil, err
		}
		e, err := s.Environment(ctx, r[0], name, version)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// StartBuild names the build log of the jobs waiting for image, so their logs show it live.
func (s *DB) StartBuild(ctx context.Context, image, buildLog string) error {
	return s.update(ctx, func(tx *Tx) error {
		_, err := tx.Exec(`UPDATE jobs SET build_log = ? WHERE status = ? AND node = '' AND image = ?`, buildLog, trainyard.JobPreparing, image)
		return err
	})
}

// ImageReady queues the jobs that waited for image; buildLog, when set, names the log of the
// build that made it, for jobs that came while it ran.
func (s *DB) ImageReady(ctx context.Context, image, buildLog string) (int64, error) {
	var n int64
	err := s.update(ctx, func(tx *Tx) error {
		res, err := tx.Exec(`UPDATE jobs SET status = ?, wait_reason = ?, build_log = CASE WHEN build_log = '' THEN ? ELSE build_log END
			WHERE status = ? AND node = '' AND image = ?`,
			trainyard.JobQueued, trainyard.WaitWaitingForNodes, buildLog, trainyard.JobPreparing, image)
		if err == nil {
			n, err = res.RowsAffected()
		}
		return err
	})
	return n, err
}

// BuildFailed fails the jobs that waited for image, with the build's error.
func (s *DB) BuildFailed(ctx context.Context, image, buildLog, message string) (int64, error) {
	var n int64
	err := s.update(ctx, func(tx *Tx) error {
		res, err := tx.Exec(`UPDATE jobs SET status = ?, wait_reason = '', error_code = ?, error_message = ?, ended_at = ?,
			build_log = CASE WHEN build_log = '' THEN ? ELSE build_log END
			WHERE status = ? AND node = '' AND image = ?`,
			trainyard.JobFailed, trainyard.ErrEnvironmentBuildFailed, message, s.now(), buildLog, trainyard.JobPreparing, image)
		if err == nil {
			n, err = res.RowsAffected()
		}
		return err
	})
	return n, err
}
