package apiserver_test

import (
	"net/http"
	"regexp"
	"testing"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/api"
)

func inline(spec api.ComputeSpec) api.JobCompute { return api.JobCompute{Spec: &spec} }

// wantOnly checks that the workspace holds exactly these computes and jobs.
func wantOnly(t *testing.T, e *env, computes, jobs int) {
	t.Helper()
	cs, err := e.c.Computes(t.Context(), "default")
	if err != nil {
		t.Fatal(err)
	}
	js, err := e.c.Jobs(t.Context(), "default", "", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != computes || len(js) != jobs {
		t.Errorf("workspace holds %d computes and %d jobs, want %d and %d: %+v %+v", len(cs), len(js), computes, jobs, cs, js)
	}
}

func TestRunBasedJobCreatesItsCluster(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	j, err := e.c.CreateJob(ctx, "default", api.JobSpec{Name: "train_model", Command: "python train.py",
		Compute: inline(api.ComputeSpec{Size: "STANDARD_D2_V2", MaxInstances: intp(1), Tags: map[string]string{"team": "ml"}})})
	if err != nil {
		t.Fatalf("CreateJob() with an inline compute: %v", err)
	}
	if !regexp.MustCompile(`^run-train-model-[a-z][a-z0-9]{4}$`).MatchString(j.Compute) || !j.RunBased || j.Status != "Queued" {
		t.Errorf("job = compute %q, run-based %v, status %s; want run-train-model-xxxxx, true, Queued", j.Compute, j.RunBased, j.Status)
	}
	c, err := e.c.Compute(ctx, "default", j.Compute)
	if err != nil {
		t.Fatalf("the job's cluster: %v", err)
	}
	if c.RunBasedFor != "train_model" || c.Tags[trainyard.RunBasedTag] != "train_model" || c.Tags["team"] != "ml" ||
		c.Type != "amlcompute" || c.Properties.VMSize != "STANDARD_D2_V2" || c.ProvisioningState != "Creating" {
		t.Errorf("cluster = %+v, want a Creating amlcompute STANDARD_D2_V2 tagged for train_model, with the spec's tags", c)
	}
	if c.Operation == nil || c.Operation.Kind != "Create" {
		t.Errorf("cluster operation = %+v, want its Create", c.Operation)
	}
	shown, _ := e.c.Job(ctx, "default", "train_model")
	if !shown.RunBased || shown.Compute != j.Compute {
		t.Errorf("job show = compute %q run-based %v, want %q true", shown.Compute, shown.RunBased, j.Compute)
	}

	// The inline spec may name its cluster.
	j, err = e.c.CreateJob(ctx, "default", api.JobSpec{Name: "eval", Command: "python eval.py",
		Compute: inline(api.ComputeSpec{Name: "eval-cluster", Type: "AmlCompute"})})
	if err != nil || j.Compute != "eval-cluster" {
		t.Fatalf("CreateJob() with a named inline compute = %q, %v; want eval-cluster", j.Compute, err)
	}

	// The cluster is the job's alone.
	_, err = e.c.CreateJob(ctx, "default", api.JobSpec{Command: "python other.py", Compute: api.Named("eval-cluster")})
	wantError(t, err, http.StatusConflict, trainyard.Conflict, `"eval-cluster" is the run-based cluster of job eval`, "inline compute spec")

	// Its tags stay through an update; nobody sets them by hand.
	if err := e.db.SetComputeState(ctx, "default", "eval-cluster", trainyard.Succeeded, ""); err != nil {
		t.Fatal(err)
	}
	out, err := e.c.UpdateCompute(ctx, "default", "eval-cluster", api.ComputeUpdate{Tags: map[string]string{"owner": "me"}})
	if err != nil || out.RunBasedFor != "eval" || out.Tags["owner"] != "me" {
		t.Errorf("UpdateCompute(tags) = %+v, %v; want owner=me and still run-based for eval", out.Tags, err)
	}
	_, err = e.c.UpdateCompute(ctx, "default", "eval-cluster", api.ComputeUpdate{Tags: map[string]string{trainyard.RunBasedTag: "x"}})
	wantError(t, err, http.StatusBadRequest, trainyard.Invalid, trainyard.RunBasedTag, "set by the server only")
	_, err = e.c.CreateCompute(ctx, "default", api.ComputeSpec{Name: "sneaky", Type: "amlcompute", Tags: map[string]string{trainyard.RunBasedTag: "x"}})
	wantError(t, err, http.StatusBadRequest, trainyard.Invalid, trainyard.RunBasedTag)
	wantOnly(t, e, 2, 2)
}

func TestRunBasedJobRefusedWhole(t *testing.T) {
	e := newQuotaEnv(t)
	if _, err := e.c.CreateJob(t.Context(), "default", api.JobSpec{Name: "taken", Command: "true", Compute: api.Named("local")}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		spec     api.JobSpec
		status   int
		code     trainyard.Code
		mentions []string
	}{
		{name: "bad max", spec: api.JobSpec{Command: "true", Compute: inline(api.ComputeSpec{MaxInstances: intp(-1)})},
			status: http.StatusBadRequest, code: trainyard.Invalid, mentions: []string{"compute: max_instances -1"}},
		{name: "unknown size", spec: api.JobSpec{Command: "true", Compute: inline(api.ComputeSpec{Size: "NOPE"})},
			status: http.StatusBadRequest, code: trainyard.Invalid, mentions: []string{`compute: size "NOPE"`, "list-sizes"}},
		{name: "key of another type", spec: api.JobSpec{Command: "true", Compute: inline(api.ComputeSpec{IdleTimeBeforeShutdownMinutes: intp(30)})},
			status: http.StatusBadRequest, code: trainyard.Invalid, mentions: []string{"compute: idle_time_before_shutdown_minutes"}},
		{name: "instance", spec: api.JobSpec{Command: "true", Compute: inline(api.ComputeSpec{Type: "computeinstance"})},
			status: http.StatusBadRequest, code: trainyard.Invalid, mentions: []string{"compute: type computeinstance", "amlcompute"}},
		{name: "bad name", spec: api.JobSpec{Command: "true", Compute: inline(api.ComputeSpec{Name: "run-1"})},
			status: http.StatusBadRequest, code: trainyard.Invalid, mentions: []string{`compute: compute name "run-1"`}},
		{name: "min nodes over quota", spec: api.JobSpec{Command: "true", Compute: inline(api.ComputeSpec{Size: "Standard_NC6", MinInstances: intp(1), MaxInstances: intp(1)})},
			status: http.StatusConflict, code: trainyard.Conflict, mentions: []string{"ClusterMinNodesExceedCoreQuota", "standardNCFamily"}},
		{name: "job over quota", spec: api.JobSpec{Command: "true", Compute: inline(api.ComputeSpec{Size: "Standard_NC6"})},
			status: http.StatusConflict, code: trainyard.Conflict, mentions: []string{"JobNodeCountExceedsCoreQuota"}},
		{name: "job name taken", spec: api.JobSpec{Name: "taken", Command: "true", Compute: inline(api.ComputeSpec{})},
			status: http.StatusConflict, code: trainyard.Conflict, mentions: []string{`a job named "taken" already exists`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.c.CreateJob(t.Context(), "default", tt.spec)
			wantError(t, err, tt.status, tt.code, tt.mentions...)
			wantOnly(t, e, 0, 1) // no cluster left behind, no job queued
		})
	}

	// An unknown key in the JSON is refused by name.
	status, body := e.call(t, "POST", "/v1/workspaces/default/jobs", e.admin,
		`{"command": "true", "compute": {"type": "amlcompute", "sise": "STANDARD_D2_V2"}}`)
	if status != http.StatusBadRequest || !regexp.MustCompile(`unknown key \\"sise\\" in the inline compute spec; known keys: .*size`).Match(body) {
		t.Errorf("unknown inline key: %d %s", status, body)
	}
	// ?validate=true creates nothing either.
	status, body = e.call(t, "POST", "/v1/workspaces/default/jobs?validate=true", e.admin, `{"command": "true", "compute": {"type": "amlcompute"}}`)
	if status != http.StatusNoContent {
		t.Errorf("validate an inline compute: %d %s, want 204", status, body)
	}
	wantOnly(t, e, 0, 1)
}
