package apiserver_test

import (
	"net/http"
	"testing"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/api"
)

// Lowering max_instances below what an unfinished job takes together is refused: the job could
// never start and would hold up every job behind it.
func TestUpdateMaxBelowAGang(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	mustCompute(t, e, api.ComputeSpec{Name: "gpu-cluster", Type: "amlcompute", MaxInstances: intp(2)})
	j, err := e.c.CreateJob(ctx, "default", api.JobSpec{Command: "python train.py", Compute: api.Named("gpu-cluster"),
		Resources: &api.Resources{InstanceCount: intp(2)}, Distribution: map[string]any{"type": "pytorch"}})
	if err != nil {
		t.Fatal(err)
	}
	if j.InstanceCount != 2 || j.Distribution != "pytorch, 1 process(es) per node" {
		t.Errorf("job = %d nodes, distribution %q; want 2 and pytorch", j.InstanceCount, j.Distribution)
	}
	_, err = e.c.UpdateCompute(ctx, "default", "gpu-cluster", api.ComputeUpdate{MaxInstances: intp(1)})
	wantError(t, err, http.StatusConflict, trainyard.Conflict, "max_instances 1", `job "`+j.Name+`"`, "takes 2 nodes together", "trainyard job cancel --name "+j.Name)
	if _, err := e.c.CancelJob(ctx, "default", j.Name); err != nil {
		t.Fatal(err)
	}
	// Once it is canceled, only the compute's own state stands in the way (no autoscaler
	// finishes its creation here).
	_, err = e.c.UpdateCompute(ctx, "default", "gpu-cluster", api.ComputeUpdate{MaxInstances: intp(1)})
	wantError(t, err, http.StatusConflict, trainyard.Conflict, "is Creating")
}
