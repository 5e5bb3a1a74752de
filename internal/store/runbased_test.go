package store

import (
	"testing"

	"github.com/trainyard/trainyard"
)

func runBasedPair(job, compute string) (trainyard.ComputeTarget, trainyard.Job) {
	c := cluster("default", compute)
	c.Tags = map[string]string{trainyard.RunBasedTag: job}
	return c, trainyard.Job{Workspace: "default", Name: job, Compute: compute, Command: "python train.py", InstanceCount: 1}
}

func TestCreateRunBasedJobIsOneStep(t *testing.T) {
	db := mustOpen(t)
	ctx := t.Context()
	useClock(db, t0)
	c, j := runBasedPair("train", "run-train-kx3f9")
	row, op, err := db.CreateRunBasedJob(ctx, c, j, "{}")
	if err != nil {
		t.Fatalf("CreateRunBasedJob() error: %v", err)
	}
	if row.Compute != "run-train-kx3f9" || row.Status != trainyard.JobQueued {
		t.Errorf("job = compute %q status %s, want run-train-kx3f9 Queued", row.Compute, row.Status)
	}
	mustOp(t, db, op.ID, trainyard.OpCreate, trainyard.OpInProgress)
	got, err := db.Compute(ctx, "default", "run-train-kx3f9")
	if err != nil || got.RunBasedFor() != "train" {
		t.Fatalf("Compute() = %+v, %v; want the cluster run-based for train", got, err)
	}

	// A taken job name: neither the job nor its cluster is recorded.
	c, j = runBasedPair("train", "run-train-ab123")
	if _, _, err := db.CreateRunBasedJob(ctx, c, j, "{}"); codeOf(err) != trainyard.Conflict {
		t.Fatalf("CreateRunBasedJob() with a taken job name = %v, want Conflict", err)
	}
	if _, err := db.Compute(ctx, "default", "run-train-ab123"); codeOf(err) != trainyard.NotFound {
		t.Errorf("cluster of the refused job: %v, want NotFound (nothing half-created)", err)
	}
	// A taken compute name: neither either.
	c, j = runBasedPair("other", "run-train-kx3f9")
	if _, _, err := db.CreateRunBasedJob(ctx, c, j, "{}"); codeOf(err) != trainyard.Conflict {
		t.Fatalf("CreateRunBasedJob() with a taken compute name = %v, want Conflict", err)
	}
	if _, err := db.Job(ctx, "default", "other"); codeOf(err) != trainyard.NotFound {
		t.Errorf("job of the refused cluster: %v, want NotFound", err)
	}
}

func TestRetireRunBased(t *testing.T) {
	db := mustOpen(t)
	ctx := t.Context()
	useClock(db, t0)
	c, j := runBasedPair("train", "run-train-kx3f9")
	if _, _, err := db.CreateRunBasedJob(ctx, c, j, "{}"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.CreateCompute(ctx, cluster("default", "persistent")); err != nil {
		t.Fatal(err)
	}
	retire := func(name string, want bool) {
		t.Helper()
		got, err := db.RetireRunBased(ctx, "default", name)
		if err != nil || got != want {
			t.Fatalf("RetireRunBased(%s) = %v, %v; want %v", name, got, err, want)
		}
	}
	retire("run-train-kx3f9", false) // still Creating
	for _, name := range []string{"run-train-kx3f9", "persistent"} {
		if err := db.SetComputeState(ctx, "default", name, trainyard.Succeeded, ""); err != nil {
			t.Fatal(err)
		}
	}
	retire("run-train-kx3f9", false) // its job is queued
	retire("persistent", false)      // not run-based: never retired
	retire("nope", false)
	if _, err := db.CancelJob(ctx, "default", "train"); err != nil {
		t.Fatal(err)
	}
	retire("run-train-kx3f9", true)
	got, _ := db.Compute(ctx, "default", "run-train-kx3f9")
	if got.State != trainyard.Deleting {
		t.Errorf("retired cluster state = %s, want Deleting", got.State)
	}
	op, ok, err := db.LatestOperation(ctx, "default", "run-train-kx3f9")
	if err != nil || !ok || op.Kind != trainyard.OpDelete || op.Status != trainyard.OpInProgress {
		t.Errorf("retired cluster's latest operation = %+v, %v; want a Delete in progress", op, err)
	}
	retire("run-train-kx3f9", false) // already Deleting
	if err := db.DeleteCompute(ctx, "default", "run-train-kx3f9"); err != nil {
		t.Fatal(err)
	}
	mustOp(t, db, op.ID, trainyard.OpDelete, trainyard.OpSucceeded)

	// A cluster that failed to provision: its job can never run, so it fails, and the cluster goes.
	c, j = runBasedPair("doomed", "run-doomed-kx3f9")
	if _, _, err := db.CreateRunBasedJob(ctx, c, j, "{}"); err != nil {
		t.Fatal(err)
	}
	if err := db.SetComputeState(ctx, "default", "run-doomed-kx3f9", trainyard.Failed, "no such size"); err != nil {
		t.Fatal(err)
	}
	retire("run-doomed-kx3f9", true)
	job, _ := db.Job(ctx, "default", "doomed")
	if job.Status != trainyard.JobFailed || job.Error == nil || job.Error.Code != trainyard.ErrComputeFailed || job.EndedAt.IsZero() {
		t.Errorf("job of a failed run-based cluster = %s %+v, want Failed with %s", job.Status, job.Error, trainyard.ErrComputeFailed)
	}
}
