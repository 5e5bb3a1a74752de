package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/internal/schedule"
)

// Rank is one node of a multi-node job.
type Rank struct {
	Rank     int
	Node     string
	State    string // rankPlaced, rankRunning, rankFinalizing or RankDone
	ExitCode *int
}

// The states of a rank.
const (
	rankPlaced     = "placed" // sent to its node, not started yet
	rankRunning    = "running"
	rankFinalizing = "finalizing"
	RankDone       = "done" // exported: a gang's log is complete once every rank is done
)

func distributionText(d trainyard.Distribution) string {
	if d == (trainyard.Distribution{}) {
		return ""
	}
	b, _ := json.Marshal(d)
	return string(b)
}

// idleNodes lists node n, then up to more other idle nodes of its compute, longest idle
// first: the nodes a gang placed from n may take, n as rank 0.
func idleNodes(tx *Tx, n NodeRow, more int) ([]string, error) {
	rows, err := tx.Query(`SELECT id FROM nodes WHERE workspace = ? AND compute = ? AND state = ? AND id != ?
		ORDER BY idle_since, id LIMIT ?`, n.Workspace, n.Compute, trainyard.NodeIdle, n.ID, more)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	ids := []string{n.ID}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// waitForNodes records on the oldest job of a compute that it waits, saying how many of the
// nodes it takes together are idle.
func waitForNodes(tx *Tx, compute string, w schedule.Wait) error {
	_, err := tx.Exec(`UPDATE jobs SET wait_reason = ? WHERE id = ?`, trainyard.GangWait(w.Ready, w.Wanted, compute), w.Job)
	return err
}

// placeGang records the placement of a multi-node job on all its nodes at once, the first as
// rank 0 (schedule.Place decided it: a gang never holds part of its nodes, so two gangs
// cannot each wait for the nodes the other holds).
func (s *DB) placeGang(tx *Tx, p schedule.Placement) error {
	now := s.now()
	for rank, id := range p.Nodes {
		if _, err := tx.Exec(`UPDATE nodes SET state = ?, job_id = ?, last_seen = ? WHERE id = ?`, trainyard.NodeRunning, p.Job, now, id); err != nil {
			return err
		}
		if _, err := tx.Exec(`INSERT INTO job_ranks (job_id, rank, node, state) VALUES (?,?,?,?)`, p.Job, rank, id, rankPlaced); err != nil {
			return err
		}
	}
	if err := s.beginAttempt(tx, p.Job, p.Nodes); err != nil {
		return err
	}
	port, err := freeGangPort(tx)
	if err != nil {
		return err
	}
	_, err = tx.Exec(`UPDATE jobs SET status = ?, node = ?, wait_reason = '', master_port = ?, gang_secret = ? WHERE id = ?`,
		trainyard.JobPreparing, p.Nodes[0], port, s.sealText(NewToken("tyg")), p.Job)
	return err
}

// freeGangPort is the first block of gang ports no placed gang holds.
func freeGangPort(tx *Tx) (int, error) {
	rows, err := tx.Query(`SELECT master_port FROM jobs WHERE master_port > 0 AND status IN (?,?,?,?)`,
		trainyard.JobPreparing, trainyard.JobRunning, trainyard.JobFinalizing, trainyard.JobCancelRequested)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	taken := map[int]bool{}
	for rows.Next() {
		var p int
		if err := rows.Scan(&p); err != nil {
			return 0, err
		}
		taken[p] = true
	}
	if err := rows.Err(); err != nil {
		return 0, err
	}
	for i := range trainyard.GangPorts {
		if p := trainyard.FirstGangPort + i*trainyard.PortsPerGang; !taken[p] {
			return p, nil
		}
	}
	return 0, trainyard.Errorf(trainyard.Unavailable, "%d multi-node jobs already run, each with ports of its own; wait for one to end", trainyard.GangPorts)
}

// rankOn returns the rank node nodeID holds in job jobID; ok is false when it holds none.
func rankOn(q querier, jobID int64, nodeID string) (r Rank, ok bool, err error) {
	r, err = scanRank(q.QueryRow(`SELECT `+rankCols+` FROM job_ranks WHERE job_id = ? AND node = ?`, jobID, nodeID))
	if errors.Is(err, sql.ErrNoRows) {
		return r, false, nil
	}
	return r, err == nil, err
}

const rankCols = `rank, node, state, exit_code`

func scanRank(row scanner) (Rank, error) {
	var r Rank
	var exit sql.NullInt64
	err := row.Scan(&r.Rank, &r.Node, &r.State, &exit)
	if exit.Valid {
		c := int(exit.Int64)
		r.ExitCode = &c
	}
	return r, err
}

// querier is what rankOn reads through: the database or a transaction.
type querier interface {
	QueryRow(query string, args ...any) *sql.Row
}

// dbQuerier lets rankOn read outside a transaction.
type dbQuerier struct {
	ctx context.Context
	db  *DB
}

func (q dbQuerier) QueryRow(query string, args ...any) *sql.Row {
	return q.db.queryRow(q.ctx, query, args...)
}

// RankOf returns the rank node nodeID holds in job jobID; ok is false when it holds none (a
// single-node job has no ranks).
func (s *DB) RankOf(ctx context.Context, jobID int64, nodeID string) (Rank, bool, error) {
	return rankOn(dbQuerier{ctx, s}, jobID, nodeID)
}

// Ranks lists the ranks of a multi-node job, rank 0 first; none for a single-node job or one
// not placed yet.
func (s *DB) Ranks(ctx context.Context, jobID int64) ([]Rank, error) {
	rows, err := s.query(ctx, `SELECT `+rankCols+` FROM job_ranks WHERE job_id = ? ORDER BY rank`, jobID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Rank
	for rows.Next() {
		r, err := scanRank(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// gangOf is where the ranks of job jobID meet: every rank's address, rank 0's as master, and
// the job's own ports.
func (s *DB) gangOf(tx *Tx, jobID int64) (trainyard.Gang, error) {
	var g trainyard.Gang
	var secret string
	if err := tx.QueryRow(`SELECT master_port, gang_secret FROM jobs WHERE id = ?`, jobID).Scan(&g.MasterPort, &secret); err != nil {
		return g, err
	}
	plain, err := s.box.Open(secret)
	if err != nil {
		return g, fmt.Errorf("job %d: gang secret: %w", jobID, err)
	}
	g.Secret = string(plain)
	rows, err := tx.Query(`SELECT n.address FROM job_ranks r JOIN nodes n ON n.id = r.node WHERE r.job_id = ? ORDER BY r.rank`, jobID)
	if err != nil {
		return g, err
	}
	defer rows.Close()
	for rows.Next() {
		var addr string
		if err := rows.Scan(&addr); err != nil {
			return g, err
		}
		g.Addrs = append(g.Addrs, addr)
	}
	g.Nodes = len(g.Addrs)
	if g.Nodes > 0 {
		g.MasterAddr = g.Addrs[0]
	}
	return g, rows.Err()
}

// finishRank records the end of node nodeID's rank of job j and frees the node. It decides
// the job's end when this rank settles it: the first rank to fail, be canceled or be lost ends
// the whole job (its other ranks are then told to stop), and the job completes when every rank
// has exited 0. done is false while other ranks still run a job that has not ended.
func (s *DB) finishRank(tx *Tx, j JobRow, r Rank, st trainyard.JobStatus, exit any, ecode, emsg string) (done bool, err error) {
	now := s.now()
	if _, err := tx.Exec(`UPDATE job_ranks SET state = ?, exit_code = ? WHERE job_id = ? AND rank = ?`, RankDone, exit, j.ID, r.Rank); err != nil {
		return false, err
	}
	if err := s.freeNode(tx, r.Node, j.ID); err != nil {
		return false, err
	}
	if j.Status.Terminal() {
		return false, nil // a rank stopping after the job ended
	}
	// An mpi job is its mpirun, on rank 0: the other ranks only relay for it, and stop with it.
	mpiHead := j.Distribution.Type == trainyard.DistributionMPI && r.Rank == 0
	if st == trainyard.JobCompleted && !mpiHead {
		var left int
		if err := tx.QueryRow(`SELECT count(*) FROM job_ranks WHERE job_id = ? AND state != ?`, j.ID, RankDone).Scan(&left); err != nil || left > 0 {
			return false, err
		}
	} else if ecode == trainyard.ErrUserError && mpiHead {
		what, _, _ := strings.Cut(emsg, "; see ")
		emsg = fmt.Sprintf("mpirun, on node rank 0 (node %s): %s, so the job's other processes were stopped; see Open MPI's lines in user_logs/std_log.txt (trainyard job stream --name %s)",
			r.Node, what, j.Name)
	} else if p := j.Distribution.Processes(); ecode == trainyard.ErrUserError && p > 1 {
		what, _, _ := strings.Cut(emsg, "; see ")
		emsg = fmt.Sprintf("node rank %d (node %s), which runs ranks %d to %d: %s, so the job's other ranks were stopped; its launcher's line in user_logs/std_log.txt names the process (trainyard job stream --name %s)",
			r.Rank, r.Node, r.Rank*p, r.Rank*p+p-1, what, j.Name)
	} else if ecode == trainyard.ErrUserError {
		what, _, _ := strings.Cut(emsg, "; see ")
		emsg = fmt.Sprintf("rank %d (node %s): %s, so the job's other ranks were stopped; see user_logs/std_log_process_%d.txt (trainyard job stream --name %s)",
			r.Rank, r.Node, what, r.Rank, j.Name)
	}
	_, err = tx.Exec(`UPDATE jobs SET status = ?, exit_code = ?, error_code = ?, error_message = ?, ended_at = ? WHERE id = ?`,
		st, exit, ecode, emsg, now, j.ID)
	return err == nil, err
}

// WidestJob returns the unfinished job of a compute that takes the most nodes together, and how
// many; nodes is 0 when the compute has no unfinished job.
func (s *DB) WidestJob(ctx context.Context, workspace, compute string) (name string, nodes int, err error) {
	err = s.queryRow(ctx, `SELECT name, instance_count FROM jobs WHERE workspace = ? AND compute = ?
		AND status NOT IN (?,?,?) ORDER BY instance_count DESC, id LIMIT 1`, workspace, compute,
		trainyard.JobCompleted, trainyard.JobFailed, trainyard.JobCanceled).Scan(&name, &nodes)
	if errors.Is(err, sql.ErrNoRows) {
		return "", 0, nil
	}
	return name, nodes, err
}
