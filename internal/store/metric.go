package store

import (
	"context"
	"database/sql"
	"time"
)

// Metric is one logged value of a job.
type Metric struct {
	Name  string
	Step  *int64
	Value float64
	Time  time.Time
}

// AddMetrics appends values to a job's metric series, all or none.
func (s *DB) AddMetrics(ctx context.Context, jobID int64, ms []Metric) error {
	return s.update(ctx, func(tx *Tx) error {
		for _, m := range ms {
			var step any
			if m.Step != nil {
				step = *m.Step
			}
			if _, err := tx.Exec(`INSERT INTO metrics (job_id, name, step, value, time) VALUES (?,?,?,?,?)`,
				jobID, m.Name, step, m.Value, s.now()); err != nil {
				return err
			}
		}
		return nil
	})
}

// MetricNames returns the distinct metric names of a job.
func (s *DB) MetricNames(ctx context.Context, jobID int64) ([]string, error) {
	rows, err := s.query(ctx, `SELECT DISTINCT name FROM metrics WHERE job_id = ?`, jobID)
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

// Metrics returns a job's metrics in logging order; name "" means all.
func (s *DB) Metrics(ctx context.Context, jobID int64, name string) ([]Metric, error) {
	q, args := `SELECT name, step, value, time FROM metrics WHERE job_id = ?`, []any{jobID}
	if name != "" {
		q += ` AND name = ?`
		args = append(args, name)
	}
	rows, err := s.query(ctx, q+` ORDER BY seq`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Metric
	for rows.Next() {
		var m Metric
		var step sql.NullInt64
		var t int64
		if err := rows.Scan(&m.Name, &step, &m.Value, &t); err != nil {
			return nil, err
		}
		if step.Valid {
			m.Step = &step.Int64
		}
		m.Time = fromMS(t)
		out = append(out, m)
	}
	return out, rows.Err()
}
