package store

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trainyard/trainyard"
)

// mustOp reads an operation and checks its kind and status.
func mustOp(t *testing.T, db *DB, id string, kind trainyard.OperationKind, st trainyard.OperationStatus) trainyard.Operation {
	t.Helper()
	op, err := db.Operation(t.Context(), id)
	if err != nil {
		t.Fatalf("Operation(%s) error: %v", id, err)
	}
	if op.Kind != kind || op.Status != st {
		t.Fatalf("operation %s = %s %s (error %+v), want %s %s", id, op.Kind, op.Status, op.Error, kind, st)
	}
	if st.Terminal() == op.EndedAt.IsZero() {
		t.Errorf("operation %s %s has ended_at %v", id, op.Status, op.EndedAt)
	}
	return op
}

func TestCreateOperationEndsWithProvisioning(t *testing.T) {
	db := mustOpen(t)
	ctx := t.Context()
	clk := useClock(db, t0)
	_, op, err := db.CreateCompute(ctx, cluster("default", "gpu"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(op.ID, "op-") || op.Workspace != "default" || op.Compute != "gpu" || !op.CreatedAt.Equal(t0) {
		t.Errorf("CreateCompute() operation = %+v, want op-… of default/gpu created at %v", op, t0)
	}
	mustOp(t, db, op.ID, trainyard.OpCreate, trainyard.OpInProgress)
	clk.Set(t0.Add(3 * time.Second))
	if err := db.SetComputeState(ctx, "default", "gpu", trainyard.Succeeded, ""); err != nil {
		t.Fatal(err)
	}
	got := mustOp(t, db, op.ID, trainyard.OpCreate, trainyard.OpSucceeded)
	if !got.EndedAt.Equal(t0.Add(3*time.Second)) || got.Error != nil {
		t.Errorf("operation = %+v, want ended at t0+3s with no error", got)
	}

	// A failed create carries the provisioning error.
	if _, op, err = db.CreateCompute(ctx, cluster("default", "bad")); err != nil {
		t.Fatal(err)
	}
	if err := db.SetComputeState(ctx, "default", "bad", trainyard.Failed, `size "X" is not available in location "local"`); err != nil {
		t.Fatal(err)
	}
	got = mustOp(t, db, op.ID, trainyard.OpCreate, trainyard.OpFailed)
	if got.Error == nil || got.Error.Code != trainyard.ErrProvisioningFailed || !strings.Contains(got.Error.Message, `size "X"`) {
		t.Errorf("failed create error = %+v, want %s with the provisioning error", got.Error, trainyard.ErrProvisioningFailed)
	}
	latest, ok, err := db.LatestOperation(ctx, "default", "BAD")
	if err != nil || !ok || latest.ID != op.ID {
		t.Errorf("LatestOperation(BAD) = %+v, %v, %v; want %s", latest, ok, err, op.ID)
	}
	if _, err := db.Operation(ctx, "op-nope"); codeOf(err) != trainyard.NotFound {
		t.Errorf("Operation(op-nope) = %v, want NotFound", err)
	}
}

func TestDeleteOperationEndsWhenTheRecordGoes(t *testing.T) {
	db := mustOpen(t)
	ctx := t.Context()
	useClock(db, t0)
	_, create, err := db.CreateCompute(ctx, cluster("default", "gpu"))
	if err != nil {
		t.Fatal(err)
	}
	_, del, err := db.MarkComputeDeleting(ctx, "default", "gpu")
	if err != nil {
		t.Fatal(err)
	}
	// Deleted before it was ready: the create is moot.
	got := mustOp(t, db, create.ID, trainyard.OpCreate, trainyard.OpCanceled)
	if got.Error == nil || got.Error.Code != trainyard.ErrOperationCanceled {
		t.Errorf("create deleted while Creating: error %+v, want %s", got.Error, trainyard.ErrOperationCanceled)
	}
	mustOp(t, db, del.ID, trainyard.OpDelete, trainyard.OpInProgress)
	if err := db.DeleteCompute(ctx, "default", "gpu"); err != nil {
		t.Fatal(err)
	}
	mustOp(t, db, del.ID, trainyard.OpDelete, trainyard.OpSucceeded)
}

func TestAtOnceOperations(t *testing.T) {
	db := mustOpen(t)
	ctx := t.Context()
	useClock(db, t0)
	_, attach, err := db.CreateCompute(ctx, attachedVM("default", "myvm", ""))
	if err != nil {
		t.Fatal(err)
	}
	mustOp(t, db, attach.ID, trainyard.OpAttach, trainyard.OpSucceeded)
	if _, _, err := db.CreateCompute(ctx, cluster("default", "gpu")); err != nil {
		t.Fatal(err)
	}
	_, upd, err := db.UpdateCompute(ctx, "default", "gpu", trainyard.OpUpdate, func(c *trainyard.ComputeTarget) error {
		c.Scale.MaxNodes = 8
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	mustOp(t, db, upd.ID, trainyard.OpUpdate, trainyard.OpSucceeded)
	detach, err := db.DetachCompute(ctx, "default", "MYVM")
	if err != nil {
		t.Fatal(err)
	}
	if op := mustOp(t, db, detach.ID, trainyard.OpDetach, trainyard.OpSucceeded); op.Compute != "myvm" {
		t.Errorf("detach operation names compute %q, want the record's own name myvm", op.Compute)
	}
}

// Start, stop and restart end when the instance reaches Running or Stopped: when its node
// registers or its last node goes.
func TestInstanceOperationsFollowTheNode(t *testing.T) {
	db := mustOpen(t)
	ctx := t.Context()
	clk := useClock(db, t0)
	in := trainyard.ComputeTarget{Workspace: "default", Name: "box", Type: trainyard.TypeComputeInstance, Size: "STANDARD_DS3_V2",
		Tier: trainyard.Dedicated, Scale: trainyard.ScaleSettings{MaxNodes: 1}, Instance: &trainyard.InstanceSettings{Power: trainyard.PowerRunning}}
	if _, _, err := db.CreateCompute(ctx, in); err != nil {
		t.Fatal(err)
	}
	if err := db.SetComputeState(ctx, "default", "box", trainyard.Succeeded, ""); err != nil {
		t.Fatal(err)
	}
	mustNode(t, db, "n-1", "default", "box")
	power := func(kind trainyard.OperationKind, p trainyard.PowerState) trainyard.Operation {
		t.Helper()
		clk.Set(clk.Now().Add(time.Second))
		_, op, err := db.UpdateCompute(ctx, "default", "box", kind, func(c *trainyard.ComputeTarget) error {
			c.Instance.Power = p
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return op
	}

	stop := power(trainyard.OpStop, trainyard.PowerStopped)
	mustOp(t, db, stop.ID, trainyard.OpStop, trainyard.OpInProgress) // its node is still up
	if ok, err := db.ReleaseNode(ctx, "n-1"); !ok || err != nil {
		t.Fatalf("ReleaseNode() = %v, %v", ok, err)
	}
	mustOp(t, db, stop.ID, trainyard.OpStop, trainyard.OpInProgress) // leaving is not gone
	if err := db.DeleteNode(ctx, "n-1"); err != nil {
		t.Fatal(err)
	}
	mustOp(t, db, stop.ID, trainyard.OpStop, trainyard.OpSucceeded)

	start := power(trainyard.OpStart, trainyard.PowerRunning)
	mustOp(t, db, start.ID, trainyard.OpStart, trainyard.OpInProgress)
	clk.Set(clk.Now().Add(time.Second))
	mustNode(t, db, "n-2", "default", "box")
	mustOp(t, db, start.ID, trainyard.OpStart, trainyard.OpSucceeded)

	restart := power(trainyard.OpRestart, trainyard.PowerRunning)
	mustOp(t, db, restart.ID, trainyard.OpRestart, trainyard.OpInProgress) // n-2 registered before it
	clk.Set(clk.Now().Add(time.Second))
	mustNode(t, db, "n-3", "default", "box")
	mustOp(t, db, restart.ID, trainyard.OpRestart, trainyard.OpSucceeded)

	// A start superseded by a stop is canceled, not left in progress.
	if ok, err := db.ReleaseNode(ctx, "n-2"); !ok || err != nil {
		t.Fatal(ok, err)
	}
	db.DeleteNode(ctx, "n-2")
	db.ReleaseNode(ctx, "n-3")
	db.DeleteNode(ctx, "n-3")
	stop = power(trainyard.OpStop, trainyard.PowerStopped)
	mustOp(t, db, stop.ID, trainyard.OpStop, trainyard.OpSucceeded)
	start = power(trainyard.OpStart, trainyard.PowerRunning)
	power(trainyard.OpStop, trainyard.PowerStopped)
	got := mustOp(t, db, start.ID, trainyard.OpStart, trainyard.OpCanceled)
	if got.Error == nil || !strings.Contains(got.Error.Message, "later stop") {
		t.Errorf("superseded start error = %+v, want it to name the later stop", got.Error)
	}
}

// An operation left InProgress for a compute that settled (a server that crashed between the
// two, or one older than operations) ends at the next start.
func TestSettleOperationsAfterRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "trainyard.db")
	ctx := t.Context()
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	_, op, err := db.CreateCompute(ctx, cluster("default", "gpu"))
	if err != nil {
		t.Fatal(err)
	}
	_, gone, err := db.CreateCompute(ctx, cluster("default", "old"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.db.ExecContext(ctx, `UPDATE computes SET state = ? WHERE name = 'gpu'`, trainyard.Succeeded); err != nil {
		t.Fatal(err)
	}
	if _, err := db.db.ExecContext(ctx, `DELETE FROM computes WHERE name = 'old'`); err != nil {
		t.Fatal(err)
	}
	db.Close()

	db = mustOpenAt(t, path)
	n, err := db.SettleOperations(ctx)
	if err != nil || n != 2 {
		t.Fatalf("SettleOperations() = %d, %v; want 2 ended", n, err)
	}
	mustOp(t, db, op.ID, trainyard.OpCreate, trainyard.OpSucceeded)
	mustOp(t, db, gone.ID, trainyard.OpCreate, trainyard.OpCanceled)
	if n, err := db.SettleOperations(ctx); err != nil || n != 0 {
		t.Errorf("SettleOperations() again = %d, %v; want 0", n, err)
	}
}
