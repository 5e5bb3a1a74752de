package store

import (
	"strings"
	"testing"

	"github.com/trainyard/trainyard"
)

// spotCluster records a low-priority cluster "spot" in the default workspace.
func spotCluster(t *testing.T, db *DB) {
	t.Helper()
	c := cluster("default", "spot")
	c.Tier = trainyard.LowPriority
	c.Scale.MaxNodes = 4
	if _, _, err := db.CreateCompute(t.Context(), c); err != nil {
		t.Fatalf("CreateCompute(spot) error: %v", err)
	}
}

func retryJob(t *testing.T, db *DB, name string, nodes int, r trainyard.Retry) JobRow {
	t.Helper()
	j := trainyard.Job{Workspace: "default", Name: name, Compute: "spot", Command: "python train.py", InstanceCount: nodes, Retry: r}
	if nodes > 1 {
		j.Distribution = trainyard.Distribution{Type: trainyard.DistributionPyTorch}
	}
	return mustJobWith(t, db, j)
}

// How each end of an attempt decides what becomes of the job: a preempted or lost node runs
// it again while retries remain, a failure of the command only when asked, and never beyond
// max_retries.
func TestAttemptEnds(t *testing.T) {
	exit := func(c int) Outcome { return Outcome{ExitCode: exitCode(c)} }
	tests := []struct {
		name      string
		retry     trainyard.Retry
		attempts  int    // attempts to run, each ended by how
		how       string // preempt, lose, fail
		want      trainyard.JobStatus
		wantCode  string
		wantInMsg string
	}{
		{"a preempted job runs again", trainyard.Retry{Max: 3}, 1, "preempt", trainyard.JobQueued, "", ""},
		{"a job whose node is lost runs again", trainyard.Retry{Max: 3}, 1, "lose", trainyard.JobQueued, "", ""},
		{"a failed command fails the job", trainyard.Retry{Max: 3}, 1, "fail", trainyard.JobFailed, trainyard.ErrUserError, "non-zero"},
		{"a failed command runs again when asked", trainyard.Retry{Max: 3, OnFailure: true}, 1, "fail", trainyard.JobQueued, "", ""},
		{"max_retries 0 never retries", trainyard.Retry{Max: 0}, 1, "preempt", trainyard.JobFailed, trainyard.ErrPreempted, "was preempted"},
		{"out of retries after 1 + max_retries attempts", trainyard.Retry{Max: 2}, 3, "lose", trainyard.JobFailed, trainyard.ErrNodeLost, "(attempt 3, the last of 1 + max_retries 2)"},
		{"two retries used of three", trainyard.Retry{Max: 3}, 2, "preempt", trainyard.JobQueued, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := mustOpen(t)
			ctx := t.Context()
			spotCluster(t, db)
			j := retryJob(t, db, "train", 1, tt.retry)
			for n := 1; n <= tt.attempts; n++ {
				node := "n-" + string(rune('0'+n))
				mustNode(t, db, node, "default", "spot")
				a := mustPlace(t, db, node)
				if a.Job.Attempt != n {
					t.Fatalf("placement %d runs attempt %d", n, a.Job.Attempt)
				}
				if err := db.SetJobRunning(ctx, node, j.ID, n, trainyard.JobRunning); err != nil {
					t.Fatal(err)
				}
				switch tt.how {
				case "preempt":
					if _, err := db.PreemptNode(ctx, "default", node, "test"); err != nil {
						t.Fatal(err)
					}
					if _, err := db.FinishJob(ctx, node, j.ID, n, Outcome{Canceled: true}); err != nil {
						t.Fatal(err)
					}
				case "lose":
					if err := db.MarkNodeLost(ctx, node, "agent silent"); err != nil {
						t.Fatal(err)
					}
				case "fail":
					if _, err := db.FinishJob(ctx, node, j.ID, n, exit(1)); err != nil {
						t.Fatal(err)
					}
				}
			}
			got := mustJobByID(t, db, j.ID)
			if got.Status != tt.want || got.errorCode() != tt.wantCode || !strings.Contains(got.errorMessage(), tt.wantInMsg) {
				t.Errorf("job = %s %s %q, want %s %s with %q", got.Status, got.errorCode(), got.errorMessage(), tt.want, tt.wantCode, tt.wantInMsg)
			}
			if tt.want == trainyard.JobQueued && (got.Attempt != tt.attempts+1 || !strings.HasPrefix(got.WaitReason, trainyard.WaitRequeued)) {
				t.Errorf("requeued job is attempt %d (%s), want attempt %d, %s", got.Attempt, got.WaitReason, tt.attempts+1, trainyard.WaitRequeued)
			}
			attempts, err := db.Attempts(ctx, j.ID)
			if err != nil || len(attempts) != tt.attempts {
				t.Fatalf("Attempts() = %d, %v; want %d", len(attempts), err, tt.attempts)
			}
			if last := attempts[len(attempts)-1]; last.Ended == 0 || last.Cause == "" {
				t.Errorf("last attempt = %+v, want it ended with its cause", last)
			}
		})
	}
}

// A node of an attempt that was superseded cannot report into the job; its finish frees it.
// The new attempt never shares a node with the old one.
func TestSupersededAttemptFenced(t *testing.T) {
	db := mustOpen(t)
	ctx := t.Context()
	spotCluster(t, db)
	j := retryJob(t, db, "ddp", 2, trainyard.Retry{Max: 3})
	mustNode(t, db, "n-1", "default", "spot")
	mustNode(t, db, "n-2", "default", "spot")
	mustPlace(t, db, "n-1")
	mustPlace(t, db, "n-2")
	for _, n := range []string{"n-1", "n-2"} {
		if err := db.SetJobRunning(ctx, n, j.ID, 1, trainyard.JobRunning); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.PreemptNode(ctx, "default", "n-2", "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.FinishJob(ctx, "n-2", j.ID, 1, Outcome{Canceled: true}); err != nil {
		t.Fatal(err)
	}
	if got := mustJobByID(t, db, j.ID); got.Status != trainyard.JobQueued || got.Attempt != 2 {
		t.Fatalf("job = %s attempt %d, want Queued attempt 2", got.Status, got.Attempt)
	}
	// n-1 still runs attempt 1's rank 0: it stays busy until it says the rank stopped.
	mustNode(t, db, "n-3", "default", "spot")
	if _, ok, err := db.Place(ctx, "n-3", nil); err != nil || ok {
		t.Fatalf("Place(n-3) = %v, %v; want nothing while n-1 still stops attempt 1", ok, err)
	}
	if err := db.SetJobRunning(ctx, "n-1", j.ID, 1, trainyard.JobFinalizing); trainyard.ErrorCode(err) != trainyard.Conflict || !strings.Contains(err.Error(), "superseded by attempt 2") {
		t.Errorf("status from the old attempt = %v, want a conflict naming attempt 2", err)
	}
	if _, err := db.FinishJob(ctx, "n-1", j.ID, 1, Outcome{Canceled: true}); trainyard.ErrorCode(err) != trainyard.Conflict {
		t.Errorf("finish from the old attempt = %v, want a conflict", err)
	}
	if n := mustNodeRow(t, db, "n-1"); n.State != trainyard.NodeIdle || n.JobID != 0 {
		t.Errorf("n-1 after its old rank stopped = %s job %d, want idle and free", n.State, n.JobID)
	}
	a := mustPlace(t, db, "n-1")
	if a.Job.ID != j.ID || a.Job.Attempt != 2 || a.Gang.Nodes != 2 {
		t.Errorf("placement = job %d attempt %d on %d nodes, want attempt 2 of the gang", a.Job.ID, a.Job.Attempt, a.Gang.Nodes)
	}
	if n := mustNodeRow(t, db, "n-2"); n.State != trainyard.NodePreempted || n.JobID != 0 {
		t.Errorf("preempted node = %s job %d, want preempted and free (released next)", n.State, n.JobID)
	}
}

// Only nodes of low-priority clusters are preempted, and only once.
func TestPreemptNodeRefusals(t *testing.T) {
	db := mustOpen(t)
	ctx := t.Context()
	spotCluster(t, db)
	if _, _, err := db.CreateCompute(ctx, cluster("default", "gpu")); err != nil {
		t.Fatal(err)
	}
	mustNode(t, db, "d-1", "default", "gpu")
	mustNode(t, db, "s-1", "default", "spot")
	if _, err := db.PreemptNode(ctx, "default", "s-1", "test"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		node     string
		code     trainyard.Code
		mentions string
	}{
		{"d-1", trainyard.Invalid, "dedicated cluster"},
		{"s-1", trainyard.Conflict, "already preempted"},
		{"nope", trainyard.NotFound, "trainyard compute list-nodes"},
	}
	for _, tt := range tests {
		_, err := db.PreemptNode(ctx, "default", tt.node, "test")
		if trainyard.ErrorCode(err) != tt.code || !strings.Contains(err.Error(), tt.mentions) {
			t.Errorf("PreemptNode(%s) = %v, want %s mentioning %q", tt.node, err, tt.code, tt.mentions)
		}
	}
}

// A job that ended while its node still held it (a cancel that raced its placement) frees the
// node when the node reports it stopped, and a cancel after placement waits for the node.
func TestEndedJobFreesItsNode(t *testing.T) {
	db := mustOpen(t)
	ctx := t.Context()
	mustNode(t, db, "n-1", "default", "gpu")
	j := mustJob(t, db, "default", "train", "gpu")
	mustPlace(t, db, "n-1")
	got, err := db.CancelJob(ctx, "default", "train")
	if err != nil || got.Status != trainyard.JobCancelRequested {
		t.Fatalf("cancel after placement = %s, %v; want CancelRequested: the node must stop it", got.Status, err)
	}
	// As if the job had ended with no word from its node.
	if _, err := db.db.ExecContext(ctx, `UPDATE jobs SET status = ? WHERE id = ?`, trainyard.JobCanceled, j.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.FinishJob(ctx, "n-1", j.ID, 1, Outcome{Canceled: true}); trainyard.ErrorCode(err) != trainyard.Conflict {
		t.Errorf("finish of an ended job = %v, want a conflict", err)
	}
	if n := mustNodeRow(t, db, "n-1"); n.State != trainyard.NodeIdle || n.JobID != 0 {
		t.Errorf("node after the ended job's finish = %s job %d, want idle and free", n.State, n.JobID)
	}
}

// A job canceled after its placement reached the store but before its node heard of it is
// canceled when the node next asks for work, and the node is free again.
func TestCanceledBeforeTheNodeHeard(t *testing.T) {
	db := mustOpen(t)
	ctx := t.Context()
	mustNode(t, db, "n-1", "default", "gpu")
	j := mustJob(t, db, "default", "train", "gpu")
	mustPlace(t, db, "n-1") // its answer to the node is lost
	if _, err := db.CancelJob(ctx, "default", "train"); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := db.Place(ctx, "n-1", nil); err != nil || ok {
		t.Fatalf("Place(n-1) = %v, %v; want nothing to run", ok, err)
	}
	if got := mustJobByID(t, db, j.ID); got.Status != trainyard.JobCanceled {
		t.Errorf("job = %s, want Canceled", got.Status)
	}
	if n := mustNodeRow(t, db, "n-1"); n.State != trainyard.NodeIdle || n.JobID != 0 {
		t.Errorf("node = %s job %d, want idle and free", n.State, n.JobID)
	}
}
