package apiserver

import (
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/api"
	"github.com/trainyard/trainyard/internal/store"
)

// A generated job name can be one a job already has: one in 3.8 billion, but make bench's
// 6,400 submits met it. The user left the name out, so the job is created under another
// generated name, its run-based cluster renamed with it; a name the user gave is refused.
func TestTakenNames(t *testing.T) {
	ctx := t.Context()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "trainyard.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s := &Server{Store: db, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if _, _, err := db.CreateCompute(ctx, trainyard.ComputeTarget{Workspace: "default", Name: "gpu", Type: trainyard.TypeAmlCompute,
		Scale: trainyard.ScaleSettings{MaxNodes: 2}}); err != nil {
		t.Fatal(err)
	}
	const taken = "keen_otter_4fa1c2"
	job := func() trainyard.Job {
		return trainyard.Job{Workspace: "default", Name: taken, DisplayName: taken, Compute: "gpu", Command: "true", InstanceCount: 1}
	}
	if _, err := s.insertJob(ctx, job(), nil, "{}", api.JobSpec{Name: taken}); err != nil {
		t.Fatal(err)
	}

	_, err = s.insertJob(ctx, job(), nil, "{}", api.JobSpec{Name: taken})
	if !errors.Is(err, store.ErrJobNameTaken) || !strings.Contains(trainyard.ErrorMessage(err), "leave name out") {
		t.Errorf("a given name that is taken: err = %v; want the Conflict that says to leave name out", err)
	}

	row, err := s.insertJob(ctx, job(), nil, "{}", api.JobSpec{})
	if err != nil || row.Name == taken || row.DisplayName != row.Name {
		t.Errorf("a generated name that is taken: got %q (display %q), %v; want a job under a new name", row.Name, row.DisplayName, err)
	}

	run := trainyard.ComputeTarget{Workspace: "default", Name: trainyard.RunBasedName(taken, "abcde"), Type: trainyard.TypeAmlCompute,
		Scale: trainyard.ScaleSettings{MaxNodes: 1, IdleTimeBeforeScaleDown: time.Minute}, Tags: map[string]string{trainyard.RunBasedTag: taken}}
	j := job()
	j.Compute = run.Name
	row, err = s.insertJob(ctx, j, &run, "{}", api.JobSpec{Compute: api.JobCompute{Spec: &api.ComputeSpec{}}})
	if err != nil || row.Name == taken {
		t.Fatalf("a run-based job under a taken generated name: got %q, %v; want a new name", row.Name, err)
	}
	c, err := db.Compute(ctx, "default", row.Compute)
	if err != nil || c.RunBasedFor() != row.Name || !strings.HasPrefix(c.Name, trainyard.RunBasedName(row.Name, "")) {
		t.Errorf("its cluster = %q for %q, %v; want one named and tagged for job %s", c.Name, c.RunBasedFor(), err, row.Name)
	}
}
