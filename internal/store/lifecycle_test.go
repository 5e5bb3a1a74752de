package store

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/trainyard/trainyard"
)

// mustNode records a node of ws/compute and registers its agent; it returns the node token.
func mustNode(t *testing.T, db *DB, id, ws, compute string) string {
	t.Helper()
	ctx := t.Context()
	if _, err := db.CreateNode(ctx, trainyard.Node{ID: id, Workspace: ws, Compute: compute}); err != nil {
		t.Fatalf("CreateNode(%s) error: %v", id, err)
	}
	tok, err := db.RegisterNode(ctx, id, "10.0.0.1", 7070)
	if err != nil {
		t.Fatalf("RegisterNode(%s) error: %v", id, err)
	}
	return tok
}

// mustPlace places work on a node and fails unless there was some.
func mustPlace(t *testing.T, db *DB, nodeID string) Assignment {
	t.Helper()
	a, ok, err := db.Place(t.Context(), nodeID, nil)
	if err != nil || !ok {
		t.Fatalf("Place(%s) = ok %v, err %v; want a job", nodeID, ok, err)
	}
	return a
}

func mustNodeRow(t *testing.T, db *DB, id string) NodeRow {
	t.Helper()
	n, err := db.Node(t.Context(), id)
	if err != nil {
		t.Fatalf("Node(%s) error: %v", id, err)
	}
	return n
}

func mustJobByID(t *testing.T, db *DB, id int64) JobRow {
	t.Helper()
	j, err := db.JobByID(t.Context(), id)
	if err != nil {
		t.Fatalf("JobByID(%d) error: %v", id, err)
	}
	return j
}

func TestRegisterNodeConsumesJoinToken(t *testing.T) {
	db := mustOpen(t)
	ctx := t.Context()
	useClock(db, t0)
	join, err := db.CreateNode(ctx, trainyard.Node{ID: "n-1", Workspace: "default", Compute: "gpu"})
	if err != nil {
		t.Fatalf("CreateNode() error: %v", err)
	}
	if p, err := db.Authenticate(ctx, join); err != nil || p != (Principal{KindJoin, "n-1"}) {
		t.Errorf("Authenticate(join) = %+v, %v; want join n-1", p, err)
	}
	if n := mustNodeRow(t, db, "n-1"); n.State != trainyard.NodePreparing || n.Slots != 1 {
		t.Errorf("new node: state %q slots %d, want preparing, 1", n.State, n.Slots)
	}
	if _, err := db.CreateNode(ctx, trainyard.Node{ID: "n-1", Workspace: "default", Compute: "gpu"}); err == nil {
		t.Errorf("CreateNode() with a taken ID succeeded, want an error")
	}

	tok, err := db.RegisterNode(ctx, "n-1", "10.0.0.7", 7070)
	if err != nil {
		t.Fatalf("RegisterNode() error: %v", err)
	}
	if p, err := db.Authenticate(ctx, tok); err != nil || p != (Principal{KindNode, "n-1"}) {
		t.Errorf("Authenticate(node token) = %+v, %v; want node n-1", p, err)
	}
	if _, err := db.Authenticate(ctx, join); err != nil {
		t.Errorf("Authenticate(join) before the first sync = %v, want valid: an agent whose answer was lost registers again", err)
	}
	n := mustNodeRow(t, db, "n-1")
	want := trainyard.Node{ID: "n-1", Workspace: "default", Compute: "gpu", State: trainyard.NodeIdle, Address: "10.0.0.7", Port: 7070,
		Slots: 1, CreatedAt: t0, RegisteredAt: t0, LastSeen: t0, IdleSince: t0}
	if diff := cmp.Diff(want, n.Node); diff != "" {
		t.Errorf("registered node mismatch (-want +got):\n%s", diff)
	}

	// The answer was lost: the agent registers again and the first token is replaced.
	tok2, err := db.RegisterNode(ctx, "n-1", "10.0.0.7", 7070)
	if err != nil {
		t.Fatalf("second RegisterNode() before the first sync: %v, want a new token", err)
	}
	if _, err := db.Authenticate(ctx, tok); codeOf(err) != trainyard.NotFound {
		t.Errorf("first node token after registering again = %v, want not_found", err)
	}
	// The first sync retires the join token: from then on it opens nothing.
	if err := db.Touch(ctx, "n-1"); err != nil {
		t.Fatalf("Touch() error: %v", err)
	}
	if _, err := db.Authenticate(ctx, join); codeOf(err) != trainyard.NotFound {
		t.Errorf("Authenticate(join) after the first sync = %v, want not_found", err)
	}
	if _, err := db.Authenticate(ctx, tok2); err != nil {
		t.Errorf("node token after the first sync: %v, want valid", err)
	}
	if _, err := db.RegisterNode(ctx, "nope", "", 0); codeOf(err) != trainyard.Conflict {
		t.Errorf("RegisterNode(unknown) = %v, want conflict", err)
	}
}

func TestPlace(t *testing.T) {
	type job struct{ ws, name, compute string }
	tests := []struct {
		name   string
		node   string // "local", "unregistered", or a registered node of default/gpu
		jobs   []job  // created in order
		cancel []int  // indexes of jobs canceled before placement
		want   string // name of the placed job; "" for nothing
	}{
		{name: "nothing queued", node: "n-1"},
		{name: "oldest queued job first", node: "n-1",
			jobs: []job{{"default", "first", "gpu"}, {"default", "second", "gpu"}}, want: "first"},
		{name: "skips a canceled job", node: "n-1",
			jobs: []job{{"default", "first", "gpu"}, {"default", "second", "gpu"}}, cancel: []int{0}, want: "second"},
		{name: "skips another compute", node: "n-1",
			jobs: []job{{"default", "cpu-job", "cpu"}, {"default", "gpu-job", "gpu"}}, want: "gpu-job"},
		{name: "compute names ignore case", node: "n-1",
			jobs: []job{{"default", "upper", "GPU"}}, want: "upper"},
		{name: "never a job of another workspace (C-02)", node: "n-1",
			jobs: []job{{"other", "theirs", "gpu"}}},
		{name: "another workspace's older job does not block", node: "n-1",
			jobs: []job{{"other", "theirs", "gpu"}, {"default", "ours", "gpu"}}, want: "ours"},
		{name: "cluster node ignores local jobs", node: "n-1",
			jobs: []job{{"default", "on-local", "local"}}},
		{name: "local node takes local jobs of any workspace", node: LocalNodeID,
			jobs: []job{{"other", "theirs", "local"}, {"default", "ours", "local"}}, want: "theirs"},
		{name: "local node ignores cluster jobs", node: LocalNodeID,
			jobs: []job{{"default", "gpu-job", "gpu"}}},
		{name: "unregistered node gets nothing", node: "unregistered",
			jobs: []job{{"default", "gpu-job", "gpu"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := mustOpen(t)
			ctx := t.Context()
			useClock(db, t0)
			if err := db.CreateWorkspace(ctx, "other"); err != nil {
				t.Fatal(err)
			}
			switch tt.node {
			case LocalNodeID:
				if _, err := db.EnsureLocalNode(ctx); err != nil {
					t.Fatal(err)
				}
			case "unregistered":
				if _, err := db.CreateNode(ctx, trainyard.Node{ID: tt.node, Workspace: "default", Compute: "gpu"}); err != nil {
					t.Fatal(err)
				}
			default:
				mustNode(t, db, tt.node, "default", "gpu")
			}
			var rows []JobRow
			for _, j := range tt.jobs {
				rows = append(rows, mustJob(t, db, j.ws, j.name, j.compute))
			}
			for _, i := range tt.cancel {
				if _, err := db.CancelJob(ctx, rows[i].Workspace, rows[i].Name); err != nil {
					t.Fatal(err)
				}
			}
			before := mustNodeRow(t, db, tt.node)

			a, ok, err := db.Place(ctx, tt.node, nil)
			if err != nil {
				t.Fatalf("Place() error: %v", err)
			}
			got := "<nothing>"
			if ok {
				got = a.Job.Name
			}
			want := tt.want
			if want == "" {
				want = "<nothing>"
			}
			if got != want {
				t.Fatalf("Place() placed %s, want %s", got, want)
			}
			if tt.want == "" {
				if n := mustNodeRow(t, db, tt.node); n.State != before.State || n.JobID != 0 {
					t.Errorf("node after no placement: state %q job %d, want %q and none", n.State, n.JobID, before.State)
				}
				return
			}
			if a.Job.Status != trainyard.JobPreparing || a.Job.Node != tt.node || a.Job.WaitReason != "" {
				t.Errorf("placed job: status %q node %q wait %q, want Preparing on %s with no wait reason",
					a.Job.Status, a.Job.Node, a.Job.WaitReason, tt.node)
			}
			n := mustNodeRow(t, db, tt.node)
			if n.State != trainyard.NodeRunning || n.JobID != a.Job.ID {
				t.Errorf("node after placement: state %q job %d, want running job %d", n.State, n.JobID, a.Job.ID)
			}
			p, err := db.Authenticate(ctx, a.RunToken)
			if want := (Principal{KindRun, fmt.Sprint(a.Job.ID)}); err != nil || p != want {
				t.Errorf("Authenticate(run token) = %+v, %v; want %+v", p, err, want)
			}
			for _, r := range rows {
				if r.ID == a.Job.ID {
					continue
				}
				if j := mustJobByID(t, db, r.ID); j.Status.OnNode() {
					t.Errorf("job %s is %s too; one node takes one job", j.Name, j.Status)
				}
			}
			// A running node takes no second job, even with work queued.
			mustJob(t, db, "default", "later", "gpu")
			mustJob(t, db, "default", "later-local", "local")
			if a2, ok, err := db.Place(ctx, tt.node, []int64{a.Job.ID}); err != nil || ok {
				t.Errorf("Place() on a running node = %s, ok %v, err %v; want nothing", a2.Job.Name, ok, err)
			}
		})
	}
}

func TestPlaceResendsUnacknowledgedJob(t *testing.T) {
	tests := []struct {
		name       string
		listed     bool                // the agent reports the job as running
		status     trainyard.JobStatus // of the placed job when the agent syncs
		wantResend bool
	}{
		{name: "preparing, not listed: sent again", status: trainyard.JobPreparing, wantResend: true},
		{name: "preparing, listed", listed: true, status: trainyard.JobPreparing},
		{name: "running, not listed", status: trainyard.JobRunning},
		{name: "running, listed", listed: true, status: trainyard.JobRunning},
		// Canceled before the node heard of it: nothing runs, so the cancel is done and the
		// node takes the next job.
		{name: "cancel requested, not listed: canceled", status: trainyard.JobCancelRequested},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := mustOpen(t)
			ctx := t.Context()
			mustNode(t, db, "n-1", "default", "gpu")
			mustJob(t, db, "default", "first", "gpu")
			first := mustPlace(t, db, "n-1")
			queued := mustJob(t, db, "default", "second", "gpu")
			switch tt.status {
			case trainyard.JobRunning:
				if err := db.SetJobRunning(ctx, "n-1", first.Job.ID, 1, trainyard.JobRunning); err != nil {
					t.Fatal(err)
				}
			case trainyard.JobCancelRequested:
				if _, err := db.CancelJob(ctx, "default", "first"); err != nil {
					t.Fatal(err)
				}
			}
			var running []int64
			if tt.listed {
				running = []int64{first.Job.ID}
			}

			a, ok, err := db.Place(ctx, "n-1", running)
			if err != nil {
				t.Fatalf("Place() error: %v", err)
			}
			if ok != tt.wantResend {
				t.Fatalf("Place() ok = %v (job %q), want %v", ok, a.Job.Name, tt.wantResend)
			}
			if ok {
				if a.Job.ID != first.Job.ID {
					t.Errorf("Place() resent job %q, want %q", a.Job.Name, first.Job.Name)
				}
				if _, err := db.Authenticate(ctx, first.RunToken); codeOf(err) != trainyard.NotFound {
					t.Errorf("old run token after resend: %v, want not_found", err)
				}
				if p, err := db.Authenticate(ctx, a.RunToken); err != nil || p.Subject != fmt.Sprint(first.Job.ID) {
					t.Errorf("new run token = %+v, %v; want the job's", p, err)
				}
			}
			if tt.status == trainyard.JobCancelRequested {
				if j := mustJobByID(t, db, first.Job.ID); j.Status != trainyard.JobCanceled {
					t.Errorf("canceled job is %s, want Canceled", j.Status)
				}
				if n := mustNodeRow(t, db, "n-1"); n.State != trainyard.NodeIdle || n.JobID != 0 {
					t.Errorf("node: state %q job %d, want idle and free", n.State, n.JobID)
				}
				return
			}
			if n := mustNodeRow(t, db, "n-1"); n.State != trainyard.NodeRunning || n.JobID != first.Job.ID {
				t.Errorf("node: state %q job %d, want running job %d", n.State, n.JobID, first.Job.ID)
			}
			if j := mustJobByID(t, db, queued.ID); j.Status != trainyard.JobQueued {
				t.Errorf("second job is %s, want Queued", j.Status)
			}
		})
	}
}

func TestReleaseNode(t *testing.T) {
	tests := []struct {
		name      string
		setup     func(t *testing.T, db *DB) // leaves node n-1 in some state
		want      bool
		wantState trainyard.NodeState
	}{
		{name: "idle", setup: func(t *testing.T, db *DB) { mustNode(t, db, "n-1", "default", "gpu") },
			want: true, wantState: trainyard.NodeLeaving},
		{name: "preparing", setup: func(t *testing.T, db *DB) {
			if _, err := db.CreateNode(t.Context(), trainyard.Node{ID: "n-1", Workspace: "default", Compute: "gpu"}); err != nil {
				t.Fatal(err)
			}
		}, want: true, wantState: trainyard.NodeLeaving},
		{name: "unusable", setup: func(t *testing.T, db *DB) {
			mustNode(t, db, "n-1", "default", "gpu")
			if err := db.MarkNodeLost(t.Context(), "n-1", "silent"); err != nil {
				t.Fatal(err)
			}
		}, want: true, wantState: trainyard.NodeLeaving},
		{name: "leaving again", setup: func(t *testing.T, db *DB) {
			mustNode(t, db, "n-1", "default", "gpu")
			if ok, err := db.ReleaseNode(t.Context(), "n-1"); !ok || err != nil {
				t.Fatalf("first ReleaseNode() = %v, %v", ok, err)
			}
		}, want: true, wantState: trainyard.NodeLeaving},
		{name: "running is refused", setup: func(t *testing.T, db *DB) {
			mustNode(t, db, "n-1", "default", "gpu")
			mustJob(t, db, "default", "train", "gpu")
			mustPlace(t, db, "n-1")
		}, want: false, wantState: trainyard.NodeRunning},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := mustOpen(t)
			tt.setup(t, db)
			got, err := db.ReleaseNode(t.Context(), "n-1")
			if err != nil {
				t.Fatalf("ReleaseNode() error: %v", err)
			}
			if got != tt.want {
				t.Errorf("ReleaseNode() = %v, want %v", got, tt.want)
			}
			if n := mustNodeRow(t, db, "n-1"); n.State != tt.wantState {
				t.Errorf("state after ReleaseNode() = %q, want %q", n.State, tt.wantState)
			}
		})
	}
}

func TestFinishJob(t *testing.T) {
	exit := func(c int) *int { return &c }
	tests := []struct {
		name       string
		cancel     bool // cancel asked before the agent reports the end
		outcome    Outcome
		wantStatus trainyard.JobStatus
		wantCode   string // error code; "" for none
		wantExit   *int
	}{
		{name: "exit 0", outcome: Outcome{ExitCode: exit(0)}, wantStatus: trainyard.JobCompleted, wantExit: exit(0)},
		{name: "exit 3", outcome: Outcome{ExitCode: exit(3)}, wantStatus: trainyard.JobFailed,
			wantCode: trainyard.ErrUserError, wantExit: exit(3)},
		{name: "no exit code", outcome: Outcome{}, wantStatus: trainyard.JobFailed, wantCode: trainyard.ErrUserError},
		{name: "canceled flag", outcome: Outcome{ExitCode: exit(143), Canceled: true}, wantStatus: trainyard.JobCanceled,
			wantExit: exit(143)},
		{name: "cancel requested, then exit 0", cancel: true, outcome: Outcome{ExitCode: exit(0)},
			wantStatus: trainyard.JobCanceled, wantExit: exit(0)},
		{name: "timeout", outcome: Outcome{ExitCode: exit(137), Error: &trainyard.JobError{Code: trainyard.ErrJobTimeout, Message: "limits.timeout of 1h reached"}},
			wantStatus: trainyard.JobCanceled, wantCode: trainyard.ErrJobTimeout, wantExit: exit(137)},
		{name: "system error", outcome: Outcome{Error: &trainyard.JobError{Code: trainyard.ErrSystem, Message: "snapshot unpack failed"}},
			wantStatus: trainyard.JobFailed, wantCode: trainyard.ErrSystem},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := mustOpen(t)
			ctx := t.Context()
			clk := useClock(db, t0)
			mustNode(t, db, "n-1", "default", "gpu")
			mustJob(t, db, "default", "train", "gpu")
			a := mustPlace(t, db, "n-1")
			if err := db.SetJobRunning(ctx, "n-1", a.Job.ID, 1, trainyard.JobRunning); err != nil {
				t.Fatal(err)
			}
			if tt.cancel {
				if _, err := db.CancelJob(ctx, "default", "train"); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := db.FinishJob(ctx, "n-2", a.Job.ID, 1, tt.outcome); codeOf(err) != trainyard.NotFound {
				t.Errorf("FinishJob() from another node = %v, want not_found", err)
			}
			end := t0.Add(90 * time.Second)
			clk.Set(end)

			j, err := db.FinishJob(ctx, "n-1", a.Job.ID, 1, tt.outcome)
			if err != nil {
				t.Fatalf("FinishJob() error: %v", err)
			}
			if j.Status != tt.wantStatus {
				t.Errorf("status = %q, want %q", j.Status, tt.wantStatus)
			}
			gotCode := ""
			if j.Error != nil {
				gotCode = j.Error.Code
				if j.Error.Message == "" {
					t.Errorf("error %s has no message", gotCode)
				}
			}
			if gotCode != tt.wantCode {
				t.Errorf("error code = %q, want %q", gotCode, tt.wantCode)
			}
			if diff := cmp.Diff(tt.wantExit, j.ExitCode); diff != "" {
				t.Errorf("exit code mismatch (-want +got):\n%s", diff)
			}
			if !j.EndedAt.Equal(end) {
				t.Errorf("EndedAt = %v, want %v", j.EndedAt, end)
			}
			if stored := mustJobByID(t, db, a.Job.ID); stored.Status != j.Status {
				t.Errorf("stored status = %q, returned %q", stored.Status, j.Status)
			}

			n := mustNodeRow(t, db, "n-1")
			if n.State != trainyard.NodeIdle || n.JobID != 0 || n.Job != "" {
				t.Errorf("node after finish: state %q job %d %q, want idle with no job", n.State, n.JobID, n.Job)
			}
			if !n.IdleSince.Equal(end) || !n.LastSeen.Equal(end) {
				t.Errorf("node after finish: IdleSince %v LastSeen %v, want both %v (the idle clock restarts)", n.IdleSince, n.LastSeen, end)
			}
			if got := n.IdleFor(end.Add(time.Minute)); got != time.Minute {
				t.Errorf("IdleFor(end+1m) = %v, want 1m", got)
			}
			if _, err := db.Authenticate(ctx, a.RunToken); codeOf(err) != trainyard.NotFound {
				t.Errorf("run token after finish: %v, want not_found", err)
			}

			if _, err := db.FinishJob(ctx, "n-1", a.Job.ID, 1, tt.outcome); codeOf(err) != trainyard.Conflict {
				t.Errorf("second FinishJob() = %v, want conflict", err)
			}
			// The freed node takes the next job.
			mustJob(t, db, "default", "next", "gpu")
			if b := mustPlace(t, db, "n-1"); b.Job.Name != "next" {
				t.Errorf("next placement = %q, want next", b.Job.Name)
			}
		})
	}
}

func TestCancelJob(t *testing.T) {
	tests := []struct {
		name       string
		job        string // name of the job to cancel
		wantStatus trainyard.JobStatus
		wantCode   trainyard.Code
		wantStop   bool // the node is told to stop it
	}{
		{name: "queued: canceled at once", job: "queued", wantStatus: trainyard.JobCanceled},
		{name: "preparing: asks the node", job: "preparing", wantStatus: trainyard.JobCancelRequested, wantStop: true},
		{name: "running: asks the node", job: "running", wantStatus: trainyard.JobCancelRequested, wantStop: true},
		{name: "completed: conflict", job: "completed", wantCode: trainyard.Conflict},
		{name: "canceled: conflict", job: "canceled", wantCode: trainyard.Conflict},
		{name: "unknown: not found", job: "nope", wantCode: trainyard.NotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := mustOpen(t)
			ctx := t.Context()
			clk := useClock(db, t0)
			mustNode(t, db, "n-1", "default", "gpu")
			mustNode(t, db, "n-2", "default", "gpu")
			mustNode(t, db, "n-3", "default", "gpu")
			exit0 := 0
			mustJob(t, db, "default", "completed", "gpu")
			done := mustPlace(t, db, "n-3")
			if _, err := db.FinishJob(ctx, "n-3", done.Job.ID, 1, Outcome{ExitCode: &exit0}); err != nil {
				t.Fatal(err)
			}
			mustJob(t, db, "default", "preparing", "gpu")
			mustPlace(t, db, "n-1")
			mustJob(t, db, "default", "running", "gpu")
			run := mustPlace(t, db, "n-2")
			if err := db.SetJobRunning(ctx, "n-2", run.Job.ID, 1, trainyard.JobRunning); err != nil {
				t.Fatal(err)
			}
			mustJob(t, db, "default", "queued", "gpu")
			mustJob(t, db, "default", "canceled", "gpu")
			if _, err := db.CancelJob(ctx, "default", "canceled"); err != nil {
				t.Fatal(err)
			}
			end := t0.Add(time.Minute)
			clk.Set(end)

			j, err := db.CancelJob(ctx, "default", tt.job)
			if code := codeOf(err); code != tt.wantCode {
				t.Fatalf("CancelJob(%s) code = %q (err %v), want %q", tt.job, code, err, tt.wantCode)
			}
			if err != nil {
				return
			}
			if j.Status != tt.wantStatus {
				t.Errorf("status = %q, want %q", j.Status, tt.wantStatus)
			}
			if j.Status == trainyard.JobCanceled && (!j.EndedAt.Equal(end) || j.WaitReason != "") {
				t.Errorf("canceled job: EndedAt %v wait %q, want %v and no wait reason", j.EndedAt, j.WaitReason, end)
			}
			var stop []int64
			for _, id := range []string{"n-1", "n-2", "n-3"} {
				ids, err := db.CancelRequested(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				stop = append(stop, ids...)
			}
			if got := slices.Contains(stop, j.ID); got != tt.wantStop || len(stop) > 1 {
				t.Errorf("CancelRequested() over all nodes = %v, want job %d listed: %v (and nothing else)", stop, j.ID, tt.wantStop)
			}
		})
	}
}

func TestMarkNodeLost(t *testing.T) {
	db := mustOpen(t)
	ctx := t.Context()
	clk := useClock(db, t0)
	mustNode(t, db, "n-1", "default", "gpu")
	mustNode(t, db, "n-2", "default", "gpu")
	mustJob(t, db, "default", "train", "gpu")
	a := mustPlace(t, db, "n-1")
	if err := db.SetJobRunning(ctx, "n-1", a.Job.ID, 1, trainyard.JobRunning); err != nil {
		t.Fatal(err)
	}
	lostAt := t0.Add(5 * time.Minute)
	clk.Set(lostAt)

	if err := db.MarkNodeLost(ctx, "n-1", "no heartbeat for 90s"); err != nil {
		t.Fatalf("MarkNodeLost() error: %v", err)
	}
	j := mustJobByID(t, db, a.Job.ID)
	if j.Status != trainyard.JobFailed || j.Error == nil || j.Error.Code != trainyard.ErrNodeLost {
		t.Fatalf("job after node lost: status %q error %+v, want Failed with %s", j.Status, j.Error, trainyard.ErrNodeLost)
	}
	if !strings.Contains(j.Error.Message, "n-1") || !strings.Contains(j.Error.Message, "no heartbeat for 90s") {
		t.Errorf("error message %q should name the node and the reason", j.Error.Message)
	}
	if !j.EndedAt.Equal(lostAt) {
		t.Errorf("EndedAt = %v, want %v", j.EndedAt, lostAt)
	}
	n := mustNodeRow(t, db, "n-1")
	if n.State != trainyard.NodeUnusable || n.JobID != 0 {
		t.Errorf("lost node: state %q job %d, want unusable with no job", n.State, n.JobID)
	}

	// An unusable node gets no work; a healthy one does.
	mustJob(t, db, "default", "next", "gpu")
	if b, ok, err := db.Place(ctx, "n-1", nil); ok || err != nil {
		t.Errorf("Place() on the lost node = %q, %v, %v; want nothing", b.Job.Name, ok, err)
	}
	if b := mustPlace(t, db, "n-2"); b.Job.Name != "next" {
		t.Errorf("Place() on n-2 = %q, want next", b.Job.Name)
	}
	// A late report from the lost node changes nothing.
	exit0 := 0
	if _, err := db.FinishJob(ctx, "n-1", a.Job.ID, 1, Outcome{ExitCode: &exit0}); codeOf(err) != trainyard.Conflict {
		t.Errorf("FinishJob() from the lost node = %v, want conflict", err)
	}
	if n := mustNodeRow(t, db, "n-1"); n.State != trainyard.NodeUnusable {
		t.Errorf("lost node after a late finish: %q, want unusable", n.State)
	}
	if j := mustJobByID(t, db, a.Job.ID); j.Status != trainyard.JobFailed {
		t.Errorf("job after a late finish: %q, want Failed", j.Status)
	}

	// A lost idle node, and an unknown one.
	if err := db.MarkNodeLost(ctx, "n-3", "never existed"); err != nil {
		t.Errorf("MarkNodeLost(unknown) = %v, want nil", err)
	}
	mustNode(t, db, "n-4", "default", "gpu")
	if err := db.MarkNodeLost(ctx, "n-4", "silent"); err != nil {
		t.Fatal(err)
	}
	if n := mustNodeRow(t, db, "n-4"); n.State != trainyard.NodeUnusable {
		t.Errorf("lost idle node: %q, want unusable", n.State)
	}
}
