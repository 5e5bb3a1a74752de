package store

import (
	"context"
	"database/sql"
	"errors"

	"github.com/trainyard/trainyard"
)

// Workspace is a tenant: every compute and job belongs to one.
type Workspace struct {
	Name      string
	CreatedAt int64
}

// CreateWorkspace adds a workspace; Conflict if it exists.
func (s *DB) CreateWorkspace(ctx context.Context, name string) error {
	_, err := s.exec(ctx, `INSERT INTO workspaces (name, created_at) VALUES (?, ?)`, name, s.now())
	if isUnique(err) {
		return trainyard.Errorf(trainyard.Conflict, "workspace %q already exists", name)
	}
	return err
}

// Workspaces lists every workspace by name.
func (s *DB) Workspaces(ctx context.Context) ([]string, error) {
	rows, err := s.query(ctx, `SELECT name FROM workspaces ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		names = append(names, n)
	}
	return names, rows.Err()
}

// CheckWorkspace returns NotFound unless the workspace exists.
func (s *DB) CheckWorkspace(ctx context.Context, name string) error {
	var n string
	err := s.queryRow(ctx, `SELECT name FROM workspaces WHERE name = ?`, name).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return trainyard.Errorf(trainyard.NotFound, "workspace %q not found; list them with: trainyard workspace list", name)
	}
	return err
}
