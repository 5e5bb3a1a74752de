package store

import (
	"context"
	"io/fs"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/trainyard/trainyard"
)

// t0 is the clock most tests start at; whole milliseconds, as the store keeps them.
var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// mustOpen opens a fresh store in t.TempDir. At cleanup it checks the store's invariants,
// then closes it.
func mustOpen(t *testing.T) *DB {
	t.Helper()
	return mustOpenAt(t, filepath.Join(t.TempDir(), "trainyard.db"))
}

// mustOpenAt opens the store at path, checking its invariants before closing it at cleanup.
func mustOpenAt(t *testing.T, path string) *DB {
	t.Helper()
	db, err := Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open(%s) error: %v", path, err)
	}
	t.Cleanup(func() {
		checkInvariants(t, db)
		if err := db.Close(); err != nil {
			t.Errorf("Close() error: %v", err)
		}
	})
	return db
}

// onNode lists, as SQL, the job statuses that occupy a node (trainyard.JobStatus.OnNode).
var onNode = `('` + strings.Join([]string{string(trainyard.JobPreparing), string(trainyard.JobRunning),
	string(trainyard.JobFinalizing), string(trainyard.JobCancelRequested)}, `','`) + `')`

// invariants are queries that must return no rows, whatever the test did.
var invariants = []struct{ name, query string }{
	{
		name: "running node without a live job placed on it",
		query: `SELECT n.id || ' job_id=' || n.job_id || ' job_status=' || coalesce(j.status, '<none>') || ' job_node=' || coalesce(j.node, '<none>')
			FROM nodes n LEFT JOIN jobs j ON j.id = n.job_id
			WHERE n.state = '` + string(trainyard.NodeRunning) + `'
			AND NOT EXISTS (SELECT 1 FROM job_ranks r WHERE r.job_id = n.job_id AND r.node = n.id AND r.state != '` + RankDone + `')
			AND (j.id IS NULL OR j.node != n.id OR j.status NOT IN ` + onNode + `)`,
	},
	{
		name: "job on a node whose record does not list it",
		query: `SELECT j.name || ' status=' || j.status || ' node=' || j.node || ' node_job_id=' || coalesce(n.job_id, '<no node>') || ' node_state=' || coalesce(n.state, '<no node>')
			FROM jobs j LEFT JOIN nodes n ON n.id = j.node
			WHERE j.status IN ` + onNode + ` AND NOT (j.status = '` + string(trainyard.JobPreparing) + `' AND j.node = '')
			AND (n.id IS NULL OR n.job_id != j.id OR n.state != '` + string(trainyard.NodeRunning) + `')`,
	},
	{
		name: "create operation in progress for a compute that left Creating",
		query: `SELECT o.id || ' compute=' || o.compute || ' state=' || coalesce(c.state, '<gone>')
			FROM operations o LEFT JOIN computes c ON c.workspace = o.workspace AND c.name = o.compute
			WHERE o.kind = '` + string(trainyard.OpCreate) + `' AND o.status = '` + string(trainyard.OpInProgress) + `'
			AND (c.name IS NULL OR c.state != '` + string(trainyard.Creating) + `')`,
	},
	{
		name: "delete operation in progress for a compute that is gone",
		query: `SELECT o.id || ' compute=' || o.compute FROM operations o
			WHERE o.kind = '` + string(trainyard.OpDelete) + `' AND o.status = '` + string(trainyard.OpInProgress) + `'
			AND NOT EXISTS (SELECT 1 FROM computes c WHERE c.workspace = o.workspace AND c.name = o.compute)`,
	},
	{
		name: "rank of a gang not done on a node that does not run it",
		query: `SELECT r.job_id || ' rank ' || r.rank || ' node=' || r.node || ' state=' || r.state || ' node_state=' || coalesce(n.state, '<no node>')
			FROM job_ranks r LEFT JOIN nodes n ON n.id = r.node
			WHERE r.state != '` + RankDone + `' AND (n.id IS NULL OR n.job_id != r.job_id OR n.state != '` + string(trainyard.NodeRunning) + `')`,
	},
}

func checkInvariants(t *testing.T, db *DB) {
	t.Helper()
	for _, v := range invariantViolations(db) {
		t.Errorf("invariant broken: %s", v)
	}
}

// invariantViolations runs every invariant query and describes each row found.
func invariantViolations(db *DB) []string {
	// t.Context is already canceled during cleanup.
	ctx := context.Background()
	var out []string
	for _, inv := range invariants {
		rows, err := db.db.QueryContext(ctx, inv.query)
		if err != nil {
			out = append(out, inv.name+": query error: "+err.Error())
			continue
		}
		for rows.Next() {
			var what string
			if err := rows.Scan(&what); err != nil {
				out = append(out, inv.name+": scan error: "+err.Error())
				break
			}
			out = append(out, inv.name+": "+what)
		}
		if err := rows.Err(); err != nil {
			out = append(out, inv.name+": rows error: "+err.Error())
		}
		rows.Close()
	}
	return out
}

// clock is a settable time source for DB.Now.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

// useClock replaces db.Now with a clock set at start.
func useClock(db *DB, start time.Time) *clock {
	c := &clock{now: start}
	db.Now = c.Now
	return c
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// codeOf returns the trainyard code of err ("" for nil).
func codeOf(err error) trainyard.Code { return trainyard.ErrorCode(err) }

func TestMigrationsIdempotent(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "trainyard.db")
	first, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("first Open() error: %v", err)
	}
	if err := first.CreateWorkspace(ctx, "team-a"); err != nil {
		t.Fatalf("CreateWorkspace() error: %v", err)
	}
	if err := first.Close(); err != nil {
		t.Fatalf("Close() error: %v", err)
	}
	want, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil || len(want) == 0 {
		t.Fatalf("no embedded migrations (err %v)", err)
	}
	for i := range 2 {
		db, err := Open(ctx, path) // runs every migration again; none may apply twice
		if err != nil {
			t.Fatalf("reopen %d: Open() error: %v", i+1, err)
		}
		var applied int
		if err := db.db.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&applied); err != nil {
			t.Fatalf("count migrations: %v", err)
		}
		if applied != len(want) {
			t.Errorf("reopen %d: %d migrations recorded, want %d", i+1, applied, len(want))
		}
		got, err := db.Workspaces(ctx)
		if err != nil {
			t.Fatalf("Workspaces() error: %v", err)
		}
		if diff := cmp.Diff([]string{"default", "team-a"}, got); diff != "" {
			t.Errorf("reopen %d: Workspaces() mismatch (-want +got):\n%s", i+1, diff)
		}
		checkInvariants(t, db)
		if err := db.Close(); err != nil {
			t.Fatalf("Close() error: %v", err)
		}
	}
}

func TestWorkspaces(t *testing.T) {
	db := mustOpen(t)
	ctx := t.Context()
	tests := []struct {
		name     string
		create   string
		wantCode trainyard.Code
	}{
		{name: "new", create: "team-a"},
		{name: "another", create: "team-b"},
		{name: "again is a conflict", create: "team-a", wantCode: trainyard.Conflict},
		{name: "the migration's default exists", create: "default", wantCode: trainyard.Conflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := db.CreateWorkspace(ctx, tt.create)
			if got := codeOf(err); got != tt.wantCode {
				t.Errorf("CreateWorkspace(%q) code = %q (err %v), want %q", tt.create, got, err, tt.wantCode)
			}
		})
	}
	got, err := db.Workspaces(ctx)
	if err != nil {
		t.Fatalf("Workspaces() error: %v", err)
	}
	if diff := cmp.Diff([]string{"default", "team-a", "team-b"}, got); diff != "" {
		t.Errorf("Workspaces() mismatch (-want +got):\n%s", diff)
	}
	if err := db.CheckWorkspace(ctx, "team-a"); err != nil {
		t.Errorf("CheckWorkspace(team-a) = %v, want nil", err)
	}
	if err := db.CheckWorkspace(ctx, "nope"); codeOf(err) != trainyard.NotFound {
		t.Errorf("CheckWorkspace(nope) = %v, want not_found", err)
	}
}

func cluster(ws, name string) trainyard.ComputeTarget {
	return trainyard.ComputeTarget{Workspace: ws, Name: name, Type: trainyard.TypeAmlCompute, Location: "local",
		Size: "STANDARD_DS3_V2", Tier: trainyard.Dedicated,
		Scale: trainyard.ScaleSettings{MaxNodes: 2, IdleTimeBeforeScaleDown: 120 * time.Second}}
}

func TestCreateComputeNeverOverwrites(t *testing.T) {
	db := mustOpen(t)
	ctx := t.Context()
	useClock(db, t0)
	if err := db.CreateWorkspace(ctx, "other"); err != nil {
		t.Fatal(err)
	}
	first := cluster("default", "gpu-cluster")
	first.Tags = map[string]string{"team": "vision"}
	created, _, err := db.CreateCompute(ctx, first)
	if err != nil {
		t.Fatalf("CreateCompute() error: %v", err)
	}
	if created.State != trainyard.Creating || !created.CreatedAt.Equal(t0) {
		t.Errorf("CreateCompute() = state %q created %v, want Creating at %v", created.State, created.CreatedAt, t0)
	}

	tests := []struct {
		name     string
		ws, comp string
		wantCode trainyard.Code
	}{
		{name: "same name", ws: "default", comp: "gpu-cluster", wantCode: trainyard.Conflict},
		{name: "upper case", ws: "default", comp: "GPU-CLUSTER", wantCode: trainyard.Conflict},
		{name: "mixed case", ws: "default", comp: "Gpu-Cluster", wantCode: trainyard.Conflict},
		{name: "same name in another workspace", ws: "other", comp: "gpu-cluster"},
		{name: "another name", ws: "default", comp: "cpu-cluster"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := cluster(tt.ws, tt.comp)
			c.Size, c.Scale.MaxNodes = "STANDARD_NC6", 9 // must not reach an existing record
			_, _, err := db.CreateCompute(ctx, c)
			if got := codeOf(err); got != tt.wantCode {
				t.Errorf("CreateCompute(%s/%s) code = %q (err %v), want %q", tt.ws, tt.comp, got, err, tt.wantCode)
			}
		})
	}

	got, err := db.Compute(ctx, "default", "gpu-cluster")
	if err != nil {
		t.Fatalf("Compute() error: %v", err)
	}
	if diff := cmp.Diff(created, got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("record after conflicting creates mismatch (-want +got):\n%s", diff)
	}
	if _, err := db.Compute(ctx, "default", "GPU-Cluster"); err != nil {
		t.Errorf("Compute() by another case: %v, want found", err)
	}
	if _, err := db.Compute(ctx, "default", "nope"); codeOf(err) != trainyard.NotFound {
		t.Errorf("Compute(nope) = %v, want not_found", err)
	}
	all, err := db.ComputesIn(ctx, "default")
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 {
		t.Errorf("ComputesIn(default) has %d records, want 2", len(all))
	}
}

func TestMarkComputeDeleting(t *testing.T) {
	db := mustOpen(t)
	ctx := t.Context()
	if _, _, err := db.CreateCompute(ctx, cluster("default", "gpu")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.MarkComputeDeleting(ctx, "default", "nope"); codeOf(err) != trainyard.NotFound {
		t.Errorf("MarkComputeDeleting(nope) = %v, want not_found", err)
	}
	j := mustJob(t, db, "default", "train", "gpu")
	mustJob(t, db, "default", "elsewhere", "cpu") // another compute's job does not hold it

	_, _, err := db.MarkComputeDeleting(ctx, "default", "gpu")
	if codeOf(err) != trainyard.Conflict {
		t.Fatalf("MarkComputeDeleting() with a queued job = %v, want conflict", err)
	}
	if c, _ := db.Compute(ctx, "default", "gpu"); c.State != trainyard.Creating {
		t.Errorf("state after refused delete = %q, want Creating", c.State)
	}
	if _, err := db.CancelJob(ctx, "default", j.Name); err != nil {
		t.Fatal(err)
	}
	c, _, err := db.MarkComputeDeleting(ctx, "default", "GPU")
	if err != nil {
		t.Fatalf("MarkComputeDeleting() with only finished jobs: %v", err)
	}
	if c.State != trainyard.Deleting {
		t.Errorf("returned state = %q, want Deleting", c.State)
	}
	if c, _ := db.Compute(ctx, "default", "gpu"); c.State != trainyard.Deleting {
		t.Errorf("stored state = %q, want Deleting", c.State)
	}
}

func TestDemand(t *testing.T) {
	db := mustOpen(t)
	ctx := t.Context()
	if err := db.CreateWorkspace(ctx, "other"); err != nil {
		t.Fatal(err)
	}
	add := func(ws, name, compute string, n int) JobRow {
		t.Helper()
		return mustJobWith(t, db, trainyard.Job{Workspace: ws, Name: name, Compute: compute, Command: "true", InstanceCount: n})
	}
	add("default", "a", "gpu", 1)
	add("default", "b", "GPU", 2) // compute names ignore case
	add("default", "c", "cpu", 4)
	add("other", "d", "gpu", 8)
	canceled := add("default", "e", "gpu", 16)
	if _, err := db.CancelJob(ctx, "default", canceled.Name); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		ws, compute string
		want        int
	}{
		{"default", "gpu", 3},
		{"default", "cpu", 4},
		{"other", "gpu", 8},
		{"other", "cpu", 0},
		{"default", "none", 0},
	}
	for _, tt := range tests {
		got, err := db.Demand(ctx, tt.ws, tt.compute)
		if err != nil {
			t.Fatalf("Demand(%s, %s) error: %v", tt.ws, tt.compute, err)
		}
		if got != tt.want {
			t.Errorf("Demand(%s, %s) = %d, want %d", tt.ws, tt.compute, got, tt.want)
		}
	}
}

func TestMetricsRoundTrip(t *testing.T) {
	db := mustOpen(t)
	ctx := t.Context()
	clk := useClock(db, t0)
	j := mustJob(t, db, "default", "train", "gpu")
	other := mustJob(t, db, "default", "other", "gpu")
	step := func(n int64) *int64 { return &n }
	first := []Metric{{Name: "loss", Step: step(0), Value: 0.9}, {Name: "acc", Value: 0.1}, {Name: "loss", Step: step(1), Value: 0.5}}
	if err := db.AddMetrics(ctx, j.ID, first); err != nil {
		t.Fatalf("AddMetrics() error: %v", err)
	}
	if err := db.AddMetrics(ctx, other.ID, []Metric{{Name: "loss", Value: 42}}); err != nil {
		t.Fatal(err)
	}
	clk.Set(t0.Add(time.Second))
	if err := db.AddMetrics(ctx, j.ID, []Metric{{Name: "loss", Step: step(2), Value: 0.25}}); err != nil {
		t.Fatal(err)
	}
	t1 := t0.Add(time.Second)
	want := []Metric{
		{Name: "loss", Step: step(0), Value: 0.9, Time: t0},
		{Name: "acc", Value: 0.1, Time: t0},
		{Name: "loss", Step: step(1), Value: 0.5, Time: t0},
		{Name: "loss", Step: step(2), Value: 0.25, Time: t1},
	}
	got, err := db.Metrics(ctx, j.ID, "")
	if err != nil {
		t.Fatalf("Metrics() error: %v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Metrics(all) mismatch (-want +got):\n%s", diff)
	}
	got, err = db.Metrics(ctx, j.ID, "loss")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]Metric{want[0], want[2], want[3]}, got); diff != "" {
		t.Errorf("Metrics(loss) mismatch (-want +got):\n%s", diff)
	}
	if n, err := db.MetricNames(ctx, j.ID); err != nil || len(n) != 2 {
		t.Errorf("MetricNames() = %v, %v, want 2 names", n, err)
	}
}

func TestDurability(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "trainyard.db")
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	useClock(db, t0)
	want, err := db.CreateJob(ctx, trainyard.Job{Workspace: "default", Name: "keep-me", Compute: "gpu", Command: "python train.py",
		Environment: map[string]string{"SEED": "1"}, Tags: map[string]string{"k": "v"}, Timeout: time.Hour, InstanceCount: 1,
		WaitReason: "WaitingForNodes: test"}, `{"command":"python train.py"}`)
	if err != nil {
		t.Fatalf("CreateJob() error: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	again := mustOpenAt(t, path)
	got, err := again.Job(ctx, "default", "keep-me")
	if err != nil {
		t.Fatalf("Job() after reopen: %v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("job after reopen mismatch (-want +got):\n%s", diff)
	}
	if got.Status != trainyard.JobQueued || !got.CreatedAt.Equal(t0) {
		t.Errorf("job after reopen: status %q created %v, want Queued at %v", got.Status, got.CreatedAt, t0)
	}
}

// mustJob records a queued single-node job.
func mustJob(t *testing.T, db *DB, ws, name, compute string) JobRow {
	t.Helper()
	return mustJobWith(t, db, trainyard.Job{Workspace: ws, Name: name, Compute: compute, Command: "python train.py", InstanceCount: 1})
}

func mustJobWith(t *testing.T, db *DB, j trainyard.Job) JobRow {
	t.Helper()
	row, err := db.CreateJob(t.Context(), j, "{}")
	if err != nil {
		t.Fatalf("CreateJob(%s/%s) error: %v", j.Workspace, j.Name, err)
	}
	return row
}

func TestCreateJobNameConflict(t *testing.T) {
	db := mustOpen(t)
	ctx := t.Context()
	if err := db.CreateWorkspace(ctx, "other"); err != nil {
		t.Fatal(err)
	}
	mustJob(t, db, "default", "train", "gpu")
	_, err := db.CreateJob(ctx, trainyard.Job{Workspace: "default", Name: "train", Compute: "cpu", Command: "x", InstanceCount: 1}, "{}")
	if codeOf(err) != trainyard.Conflict {
		t.Errorf("CreateJob() with a taken name = %v, want conflict", err)
	}
	mustJob(t, db, "other", "train", "gpu") // names are per workspace
	if _, err := db.Job(ctx, "default", "nope"); codeOf(err) != trainyard.NotFound {
		t.Errorf("Job(nope) = %v, want not_found", err)
	}
}

// TestInvariantQueries checks that mustOpen's cleanup would notice a broken store.
func TestInvariantQueries(t *testing.T) {
	ctx := t.Context()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "trainyard.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	mustNode(t, db, "n-1", "default", "gpu")
	mustJob(t, db, "default", "train", "gpu")
	a := mustPlace(t, db, "n-1")
	if v := invariantViolations(db); len(v) != 0 {
		t.Fatalf("violations on a consistent store: %q", v)
	}
	tests := []struct {
		name, corrupt, restore, want string
	}{
		{name: "job ended behind the node's back",
			corrupt: `UPDATE jobs SET status = 'Completed' WHERE id = ?`,
			restore: `UPDATE jobs SET status = 'Preparing' WHERE id = ?`,
			want:    invariants[0].name},
		{name: "node forgot its job",
			corrupt: `UPDATE nodes SET state = 'idle', job_id = 0 WHERE job_id = ?`,
			restore: `UPDATE nodes SET state = 'running', job_id = ? WHERE id = 'n-1'`,
			want:    invariants[1].name},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := db.db.ExecContext(ctx, tt.corrupt, a.Job.ID); err != nil {
				t.Fatal(err)
			}
			v := invariantViolations(db)
			if len(v) != 1 || !strings.HasPrefix(v[0], tt.want+": ") {
				t.Errorf("violations = %q, want one of %q", v, tt.want)
			}
			if _, err := db.db.ExecContext(ctx, tt.restore, a.Job.ID); err != nil {
				t.Fatal(err)
			}
		})
	}
}
