package store

import (
	"context"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/internal/quota"
)

var _ quota.Source = (*DB)(nil)

// SetQuota sets a workspace's core limit for a pool in a location.
func (s *DB) SetQuota(ctx context.Context, workspace, location, pool string, cores int) error {
	_, err := s.exec(ctx, `INSERT INTO quotas (workspace, location, pool, cores) VALUES (?,?,?,?)
		ON CONFLICT (workspace, location, pool) DO UPDATE SET cores = excluded.cores`, workspace, location, pool, cores)
	return err
}

// QuotaOverrides returns the limits a workspace set in a location, by pool.
func (s *DB) QuotaOverrides(ctx context.Context, workspace, location string) (map[string]int, error) {
	rows, err := s.query(ctx, `SELECT pool, cores FROM quotas WHERE workspace = ? AND location = ?`, workspace, location)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var pool string
		var n int
		if err := rows.Scan(&pool, &n); err != nil {
			return nil, err
		}
		out[pool] = n
	}
	return out, rows.Err()
}

// Allocations counts the nodes a workspace holds in a location by size and tier; a leaving node
// no longer counts.
func (s *DB) Allocations(ctx context.Context, workspace, location string) ([]quota.Allocation, error) {
	rows, err := s.query(ctx, `SELECT c.size, c.tier, count(n.id) FROM computes c
		JOIN nodes n ON n.workspace = c.workspace AND n.compute = c.name AND n.state != ?
		WHERE c.workspace = ? AND c.location = ? GROUP BY c.size, c.tier`, trainyard.NodeLeaving, workspace, location)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []quota.Allocation
	for rows.Next() {
		var a quota.Allocation
		var tier string
		if err := rows.Scan(&a.Size, &tier, &a.Nodes); err != nil {
			return nil, err
		}
		a.LowPriority = tier == string(trainyard.LowPriority)
		out = append(out, a)
	}
	return out, rows.Err()
}
