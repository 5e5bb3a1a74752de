package store

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/trainyard/trainyard"
)

// gangJob queues a job of compute gpu in workspace default that takes n nodes together.
func gangJob(t *testing.T, db *DB, name string, n int) JobRow {
	t.Helper()
	return gangJobOf(t, db, name, n, trainyard.Distribution{Type: trainyard.DistributionPyTorch})
}

func gangJobOf(t *testing.T, db *DB, name string, n int, d trainyard.Distribution) JobRow {
	t.Helper()
	return mustJobWith(t, db, trainyard.Job{Workspace: "default", Name: name, Compute: "gpu", Command: "python train.py",
		InstanceCount: n, Distribution: d})
}

func exitCode(c int) *int { return &c }

// placedGang makes nodes, queues job name on all of them together and places it, the first
// node as rank 0.
func placedGang(t *testing.T, db *DB, name string, nodes ...string) JobRow {
	t.Helper()
	return placedGangOf(t, db, name, trainyard.Distribution{Type: trainyard.DistributionPyTorch}, nodes...)
}

func placedGangOf(t *testing.T, db *DB, name string, d trainyard.Distribution, nodes ...string) JobRow {
	t.Helper()
	for _, n := range nodes {
		mustNode(t, db, n, "default", "gpu")
	}
	j := gangJobOf(t, db, name, len(nodes), d)
	for _, n := range nodes {
		mustPlace(t, db, n)
	}
	return j
}

// A gang takes all its nodes at once or none, and waits saying how many it has.
func TestGangPlacedWhole(t *testing.T) {
	db := mustOpen(t)
	ctx := t.Context()
	mustNode(t, db, "n-1", "default", "gpu")
	j := gangJob(t, db, "ddp", 2)
	if _, ok, err := db.Place(ctx, "n-1", nil); err != nil || ok {
		t.Fatalf("Place(n-1) with 1 of 2 nodes idle = %v, %v; want nothing placed", ok, err)
	}
	waiting := mustJobByID(t, db, j.ID)
	if waiting.Status != trainyard.JobQueued || !strings.HasPrefix(waiting.WaitReason, "WaitingForNodes 1/2") {
		t.Errorf("job = %s (%s), want Queued, WaitingForNodes 1/2", waiting.Status, waiting.WaitReason)
	}
	if n := mustNodeRow(t, db, "n-1"); n.State != trainyard.NodeIdle {
		t.Errorf("node n-1 is %s while its gang waits, want idle: a gang holds no part of its nodes", n.State)
	}

	mustNode(t, db, "n-2", "default", "gpu")
	a := mustPlace(t, db, "n-2")
	if a.Job.ID != j.ID || a.Rank != 0 || a.Gang.Nodes != 2 || a.Gang.MasterPort == 0 {
		t.Fatalf("assignment = job %d rank %d gang %+v, want job %d as rank 0 of 2", a.Job.ID, a.Rank, a.Gang, j.ID)
	}
	if a.Gang.MasterAddr != "10.0.0.1" || a.Gang.MasterPort != trainyard.FirstGangPort {
		t.Errorf("gang = %+v, want rank 0's address and the first block of gang ports", a.Gang)
	}
	b := mustPlace(t, db, "n-1")
	if b.Job.ID != j.ID || b.Rank != 1 || !reflect.DeepEqual(b.Gang, a.Gang) {
		t.Errorf("n-1 got job %d rank %d gang %+v, want rank 1 of the same gang %+v", b.Job.ID, b.Rank, b.Gang, a.Gang)
	}
	// Sent again until its rank starts (the agent may not have heard), then no more.
	if again := mustPlace(t, db, "n-1"); again.Rank != 1 {
		t.Errorf("resend to n-1 = rank %d, want 1", again.Rank)
	}
	if err := db.SetJobRunning(ctx, "n-1", j.ID, 1, trainyard.JobRunning); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := db.Place(ctx, "n-1", nil); err != nil || ok {
		t.Errorf("Place(n-1) after its rank started = %v, %v; want nothing", ok, err)
	}
	// The job's status follows rank 0.
	if st := mustJobByID(t, db, j.ID).Status; st != trainyard.JobPreparing {
		t.Errorf("job = %s after rank 1 started, want Preparing until rank 0 does", st)
	}
	if err := db.SetJobRunning(ctx, "n-2", j.ID, 1, trainyard.JobRunning); err != nil {
		t.Fatal(err)
	}
	if st := mustJobByID(t, db, j.ID).Status; st != trainyard.JobRunning {
		t.Errorf("job = %s after rank 0 started, want Running", st)
	}
	// It finalizes once no rank still runs.
	if err := db.SetJobRunning(ctx, "n-2", j.ID, 1, trainyard.JobFinalizing); err != nil {
		t.Fatal(err)
	}
	if st := mustJobByID(t, db, j.ID).Status; st != trainyard.JobRunning {
		t.Errorf("job = %s while rank 1 still runs, want Running", st)
	}
	ranks, err := db.Ranks(ctx, j.ID)
	if err != nil || len(ranks) != 2 || ranks[0].Node != "n-2" || ranks[1].Node != "n-1" || ranks[1].State != rankRunning {
		t.Errorf("Ranks = %+v, %v; want n-2 as rank 0 and n-1 as rank 1, running", ranks, err)
	}
	if err := db.SetJobRunning(ctx, "n-1", j.ID, 1, trainyard.JobFinalizing); err != nil {
		t.Fatal(err)
	}
	if st := mustJobByID(t, db, j.ID).Status; st != trainyard.JobFinalizing {
		t.Errorf("job = %s once every rank finalizes, want Finalizing", st)
	}
}

// The oldest job goes first: a single-node job queued behind a waiting gang does not take
// the gang's nodes, so two gangs never each hold part of the nodes.
func TestGangsQueueInOrder(t *testing.T) {
	db := mustOpen(t)
	ctx := t.Context()
	first := gangJob(t, db, "first", 2)
	second := gangJob(t, db, "second", 2)
	mustJob(t, db, "default", "small", "gpu")
	mustNode(t, db, "n-1", "default", "gpu")
	if _, ok, err := db.Place(ctx, "n-1", nil); err != nil || ok {
		t.Fatalf("Place(n-1) = %v, %v; want nothing while the first gang waits", ok, err)
	}
	mustNode(t, db, "n-2", "default", "gpu")
	a := mustPlace(t, db, "n-2")
	if a.Job.ID != first.ID {
		t.Fatalf("placed job %d, want the first gang %d", a.Job.ID, first.ID)
	}
	mustPlace(t, db, "n-1")
	mustNode(t, db, "n-3", "default", "gpu")
	if _, ok, err := db.Place(ctx, "n-3", nil); err != nil || ok {
		t.Errorf("Place(n-3) = %v, %v; want nothing: the second gang is next and needs 2", ok, err)
	}
	if st := mustJobByID(t, db, second.ID); st.Status != trainyard.JobQueued || !strings.HasPrefix(st.WaitReason, "WaitingForNodes 1/2") {
		t.Errorf("second gang = %s (%s), want Queued, WaitingForNodes 1/2", st.Status, st.WaitReason)
	}
}

func TestGangEnds(t *testing.T) {
	tests := []struct {
		name string
		// reports, in order: node and outcome
		reports    []gangReport
		procs      int // processes per node; 0 is 1
		wantStatus trainyard.JobStatus
		wantCode   string
		wantMsg    string
	}{
		{name: "a node of two processes fails: the message names its ranks and the launcher's line", procs: 2,
			reports:    []gangReport{{"n-1", Outcome{ExitCode: exitCode(3)}}},
			wantStatus: trainyard.JobFailed, wantCode: trainyard.ErrUserError,
			wantMsg: "node rank 1 (node n-1), which runs ranks 2 to 3: the command exited with a non-zero code, so the job's other ranks were stopped; its launcher's line in user_logs/std_log.txt names the process"},
		{name: "every rank exits 0", reports: []gangReport{{"n-2", Outcome{ExitCode: exitCode(0)}}, {"n-1", Outcome{ExitCode: exitCode(0)}}},
			wantStatus: trainyard.JobCompleted},
		{name: "a rank fails: the job fails at once, naming it", reports: []gangReport{{"n-1", Outcome{ExitCode: exitCode(3)}}},
			wantStatus: trainyard.JobFailed, wantCode: trainyard.ErrUserError, wantMsg: "rank 1 (node n-1): the command exited with a non-zero code, so the job's other ranks were stopped"},
		{name: "a rank fails after another completed", reports: []gangReport{{"n-2", Outcome{ExitCode: exitCode(0)}}, {"n-1", Outcome{ExitCode: exitCode(1)}}},
			wantStatus: trainyard.JobFailed, wantCode: trainyard.ErrUserError, wantMsg: "rank 1"},
		{name: "a rank killed by a signal: the message keeps the signal", reports: []gangReport{{"n-1", Outcome{ExitCode: exitCode(-1),
			Error: &trainyard.JobError{Code: trainyard.ErrUserError, Message: "the command was killed by signal 9; see user_logs/std_log.txt"}}}},
			wantStatus: trainyard.JobFailed, wantCode: trainyard.ErrUserError, wantMsg: "rank 1 (node n-1): the command was killed by signal 9, so the job's other ranks were stopped; see user_logs/std_log_process_1.txt"},
		{name: "the stopped rank reports after the job failed", reports: []gangReport{{"n-2", Outcome{ExitCode: exitCode(2)}}, {"n-1", Outcome{ExitCode: exitCode(143)}}},
			wantStatus: trainyard.JobFailed, wantCode: trainyard.ErrUserError, wantMsg: "rank 0 (node n-2)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := mustOpen(t)
			ctx := t.Context()
			j := placedGangOf(t, db, "ddp", trainyard.Distribution{Type: trainyard.DistributionPyTorch, ProcessCountPerInstance: tt.procs}, "n-2", "n-1")
			for _, n := range []string{"n-2", "n-1"} {
				if err := db.SetJobRunning(ctx, n, j.ID, 1, trainyard.JobRunning); err != nil {
					t.Fatal(err)
				}
			}
			for i, r := range tt.reports {
				// As the agent reports: Finalizing, then the finish; also for a rank stopped
				// after its gang ended.
				if err := db.SetJobRunning(ctx, r.node, j.ID, 1, trainyard.JobFinalizing); err != nil {
					t.Fatalf("report %d: SetJobRunning(%s, Finalizing) error: %v", i, r.node, err)
				}
				if _, err := db.FinishJob(ctx, r.node, j.ID, 1, r.o); err != nil {
					t.Fatalf("report %d: FinishJob(%s) error: %v", i, r.node, err)
				}
				if st := mustJobByID(t, db, j.ID).Status; i < len(tt.reports)-1 && tt.wantStatus == trainyard.JobCompleted && st.Terminal() {
					t.Errorf("job %s after %d of 2 ranks exited 0, want it to wait for the others", st, i+1)
				}
				if n := mustNodeRow(t, db, r.node); n.State != trainyard.NodeIdle {
					t.Errorf("node %s is %s after its rank ended, want idle", r.node, n.State)
				}
			}
			got := mustJobByID(t, db, j.ID)
			if got.Status != tt.wantStatus {
				t.Fatalf("job = %s, want %s", got.Status, tt.wantStatus)
			}
			if tt.wantCode != "" && (got.Error == nil || got.Error.Code != tt.wantCode || !strings.Contains(got.Error.Message, tt.wantMsg)) {
				t.Errorf("error = %+v, want %s mentioning %q", got.Error, tt.wantCode, tt.wantMsg)
			}
			// A rank still running is told to stop: its job has ended.
			for _, n := range []string{"n-1", "n-2"} {
				if row := mustNodeRow(t, db, n); row.State == trainyard.NodeRunning && !got.Status.Terminal() {
					t.Errorf("node %s still runs a job that is %s", n, got.Status)
				}
			}
		})
	}
}

type gangReport struct {
	node string
	o    Outcome
}

// Cancel reaches every rank, and a lost node ends its gang.
func TestGangCancelAndLoss(t *testing.T) {
	db := mustOpen(t)
	ctx := t.Context()
	j := placedGang(t, db, "ddp", "n-2", "n-1")
	if _, err := db.CancelJob(ctx, "default", "ddp"); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"n-1", "n-2"} {
		ids, err := db.CancelRequested(ctx, n)
		if err != nil || !slices.Equal(ids, []int64{j.ID}) {
			t.Errorf("CancelRequested(%s) = %v, %v; want [%d]", n, ids, err, j.ID)
		}
	}

	k := placedGang(t, db, "ddp2", "n-3", "n-4")
	if err := db.MarkNodeLost(ctx, "n-4", "its agent went silent"); err != nil {
		t.Fatal(err)
	}
	got := mustJobByID(t, db, k.ID)
	if got.Status != trainyard.JobFailed || got.Error == nil || got.Error.Code != trainyard.ErrNodeLost {
		t.Errorf("job after losing rank 1's node = %s %+v, want Failed NodeLost", got.Status, got.Error)
	}
	if _, err := db.FinishJob(ctx, "n-3", k.ID, 1, Outcome{ExitCode: exitCode(143)}); err != nil {
		t.Errorf("the stopped rank 0 reporting after the loss: %v", err)
	}
	if n := mustNodeRow(t, db, "n-3"); n.State != trainyard.NodeIdle {
		t.Errorf("n-3 = %s, want idle once its stopped rank reported", n.State)
	}
	// The first gang's ranks finish their cancel.
	for _, n := range []string{"n-2", "n-1"} {
		if _, err := db.FinishJob(ctx, n, j.ID, 1, Outcome{Canceled: true, ExitCode: exitCode(143)}); err != nil {
			t.Fatal(err)
		}
	}
	if st := mustJobByID(t, db, j.ID).Status; st != trainyard.JobCanceled {
		t.Errorf("canceled gang = %s, want Canceled", st)
	}
}

// Gangs running at once get ports of their own; an ended gang's ports are free again.
func TestGangPorts(t *testing.T) {
	db := mustOpen(t)
	ctx := t.Context()
	first := placedGang(t, db, "one", "n-1", "n-2")
	placedGang(t, db, "two", "n-3", "n-4")
	p1, p2 := mustPlace(t, db, "n-2").Gang.MasterPort, mustPlace(t, db, "n-4").Gang.MasterPort
	if p1 != trainyard.FirstGangPort || p2 != trainyard.FirstGangPort+trainyard.PortsPerGang {
		t.Fatalf("ports = %d and %d, want %d and %d", p1, p2, trainyard.FirstGangPort, trainyard.FirstGangPort+trainyard.PortsPerGang)
	}
	for _, n := range []string{"n-1", "n-2"} {
		if _, err := db.FinishJob(ctx, n, first.ID, 1, Outcome{ExitCode: exitCode(0)}); err != nil {
			t.Fatal(err)
		}
	}
	mustJobWith(t, db, trainyard.Job{Workspace: "default", Name: "three", Compute: "gpu", Command: "true", InstanceCount: 2})
	if a := mustPlace(t, db, "n-1"); a.Gang.MasterPort != p1 {
		t.Errorf("a gang placed after the first ended got port %d, want the freed %d", a.Gang.MasterPort, p1)
	}
}

// An mpi job is its mpirun on rank 0: when it ends, the job ends, while the relays of the other
// ranks are still running (they are then stopped).
func TestMPIGangEndsWithRankZero(t *testing.T) {
	db := mustOpen(t)
	ctx := t.Context()
	j := placedGangOf(t, db, "mpi", trainyard.Distribution{Type: trainyard.DistributionMPI, ProcessCountPerInstance: 1}, "n-1", "n-2")
	if a := mustPlace(t, db, "n-1"); a.Gang.Secret == "" {
		t.Error("an mpi gang has no relay secret")
	}
	if _, err := db.FinishJob(ctx, "n-1", j.ID, 1, Outcome{ExitCode: exitCode(0)}); err != nil {
		t.Fatal(err)
	}
	if st := mustJobByID(t, db, j.ID).Status; st != trainyard.JobCompleted {
		t.Errorf("mpi job = %s once mpirun on rank 0 exited 0, want Completed", st)
	}
	if _, err := db.FinishJob(ctx, "n-2", j.ID, 1, Outcome{Canceled: true, ExitCode: exitCode(143)}); err != nil {
		t.Fatal(err)
	}
	if st := mustJobByID(t, db, j.ID).Status; st != trainyard.JobCompleted {
		t.Errorf("mpi job = %s after its relay was stopped, want still Completed", st)
	}
}

// A failed mpi job is mpirun's failure, on rank 0: the message says so, not "rank 0 failed".
func TestMPIGangFailureNamesMpirun(t *testing.T) {
	db := mustOpen(t)
	ctx := t.Context()
	j := placedGangOf(t, db, "mpi", trainyard.Distribution{Type: trainyard.DistributionMPI, ProcessCountPerInstance: 2}, "n-1", "n-2")
	if _, err := db.FinishJob(ctx, "n-1", j.ID, 1, Outcome{ExitCode: exitCode(2)}); err != nil {
		t.Fatal(err)
	}
	got := mustJobByID(t, db, j.ID)
	if got.Status != trainyard.JobFailed || got.Error == nil || !strings.Contains(got.Error.Message, "mpirun, on node rank 0 (node n-1): the command exited with a non-zero code, so the job's other processes were stopped") {
		t.Errorf("job = %s %+v, want Failed naming mpirun", got.Status, got.Error)
	}
	if _, err := db.FinishJob(ctx, "n-2", j.ID, 1, Outcome{Canceled: true, ExitCode: exitCode(143)}); err != nil {
		t.Fatal(err)
	}
}

// While nodes come, a waiting gang keeps its own count of them rather than the compute's; a
// different cause replaces it.
func TestGangWaitReasonKept(t *testing.T) {
	db := mustOpen(t)
	ctx := t.Context()
	mustNode(t, db, "n-1", "default", "gpu")
	j := gangJob(t, db, "ddp", 2)
	mustNoPlace := func() {
		t.Helper()
		if _, ok, err := db.Place(ctx, "n-1", nil); err != nil || ok {
			t.Fatalf("Place(n-1) with 1 of 2 nodes idle = %v, %v; want nothing placed", ok, err)
		}
	}
	mustNoPlace()
	steps := []struct {
		autoscaler, want string
	}{
		{"WaitingForNodes: 1 node starting (1 ready of 2 wanted)", "WaitingForNodes 1/2: 1 of the 2 nodes this job takes together are idle on gpu"},
		{"NodesBusy: all 2 nodes busy, max_instances 2", "NodesBusy: all 2 nodes busy, max_instances 2"},
	}
	for _, st := range steps {
		if err := db.SetWaitReason(ctx, "default", "gpu", st.autoscaler); err != nil {
			t.Fatal(err)
		}
		if got := mustJobByID(t, db, j.ID).WaitReason; got != st.want {
			t.Errorf("after the autoscaler said %q, the gang's wait reason = %q, want %q", st.autoscaler, got, st.want)
		}
	}
}
