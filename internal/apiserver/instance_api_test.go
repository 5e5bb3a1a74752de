package apiserver_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/api"
	"github.com/trainyard/trainyard/internal/store"
)

func TestComputeInstanceLifecycle(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	c := mustCompute(t, e, api.ComputeSpec{Name: "dev-box", Type: "instance", Size: "Standard_D2_v2", IdleTimeBeforeShutdownMinutes: intp(60)})
	p := c.Properties
	if c.Type != "computeinstance" || c.IsAttached || p.VMSize != "STANDARD_D2_V2" || p.State != "Creating" ||
		p.IdleTimeBeforeShutdown != "PT60M" || p.ScaleSettings != (api.ScaleSettings{}) || p.VMPriority != "" {
		t.Errorf("created %+v with %+v; want a computeinstance of STANDARD_D2_V2, Creating, idle shutdown PT60M, no scale settings", c, p)
	}
	_, err := e.c.PowerCompute(ctx, "default", "dev-box", "stop")
	wantError(t, err, http.StatusConflict, trainyard.Conflict, "is Creating; wait")
	if err := e.db.SetComputeState(ctx, "default", "dev-box", trainyard.Succeeded, ""); err != nil {
		t.Fatal(err)
	}
	state := func(want string) {
		t.Helper()
		got, err := e.c.Compute(ctx, "default", "dev-box")
		if err != nil || got.Properties.State != want {
			t.Errorf("state = %q, %v; want %s", got.Properties.State, err, want)
		}
	}
	state("Starting") // the autoscaler has not launched its node yet

	// Its one node registers: Running; a job runs on it: JobRunning, and stop waits for it.
	if _, err := e.db.CreateNode(ctx, trainyard.Node{ID: "dev-box-1", Workspace: "default", Compute: "dev-box"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.RegisterNode(ctx, "dev-box-1", "127.0.0.1", 0); err != nil {
		t.Fatal(err)
	}
	state("Running")
	j, err := e.c.CreateJob(ctx, "default", api.JobSpec{Name: "train", Command: "python train.py", Compute: api.Named("dev-box")})
	if err != nil || j.Status != "Queued" {
		t.Fatalf("CreateJob() = %+v, %v; want queued", j, err)
	}
	if _, ok, err := e.db.Place(ctx, "dev-box-1", nil); !ok || err != nil {
		t.Fatalf("Place() = %v, %v", ok, err)
	}
	state("JobRunning")
	for _, action := range []string{"stop", "restart"} {
		_, err = e.c.PowerCompute(ctx, "default", "dev-box", action)
		wantError(t, err, http.StatusConflict, trainyard.Conflict, "running job train", "trainyard job cancel --name train")
	}
	_, err = e.c.PowerCompute(ctx, "default", "dev-box", "start")
	wantError(t, err, http.StatusConflict, trainyard.Conflict, "already running")
	if _, err := e.c.CancelJob(ctx, "default", "train"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.FinishJob(ctx, "dev-box-1", jobID(t, e, "train"), 1, store.Outcome{Canceled: true}); err != nil {
		t.Fatal(err)
	}

	// A distributed job can never run on one node (nor, today, anywhere).
	_, err = e.c.CreateJob(ctx, "default", api.JobSpec{Command: "python train.py", Compute: api.Named("dev-box"), Resources: &api.Resources{InstanceCount: intp(2)}})
	wantError(t, err, http.StatusBadRequest, trainyard.Invalid, "resources.instance_count 2")

	// Stop: the node goes (the autoscaler releases it); jobs wait and say why.
	out, err := e.c.PowerCompute(ctx, "default", "dev-box", "stop")
	if err != nil || out.Properties.State != "Stopping" {
		t.Fatalf("stop = %q, %v; want Stopping while its node is up", out.Properties.State, err)
	}
	if ok, err := e.db.ReleaseNode(ctx, "dev-box-1"); !ok || err != nil {
		t.Fatal(err)
	}
	if err := e.db.DeleteNode(ctx, "dev-box-1"); err != nil {
		t.Fatal(err)
	}
	state("Stopped")
	_, err = e.c.PowerCompute(ctx, "default", "dev-box", "stop")
	wantError(t, err, http.StatusConflict, trainyard.Conflict, "is already stopped", "trainyard compute start --name dev-box")
	_, err = e.c.PowerCompute(ctx, "default", "dev-box", "restart")
	wantError(t, err, http.StatusConflict, trainyard.Conflict, "is stopped, so it cannot restart")
	j, err = e.c.CreateJob(ctx, "default", api.JobSpec{Name: "later", Command: "python train.py", Compute: api.Named("dev-box")})
	if err != nil || j.Status != "Queued" || !strings.HasPrefix(j.WaitReason, "InstanceStopped: compute instance dev-box is stopped; start it with: trainyard compute start --name dev-box") {
		t.Errorf("CreateJob() on a stopped instance = %+v, %v; want queued with wait reason InstanceStopped", j, err)
	}
	list, _ := e.c.Computes(ctx, "default")
	if len(list) != 1 || list[0].Properties.State != "Stopped" {
		t.Errorf("list = %+v, want dev-box Stopped", list)
	}

	out, err = e.c.PowerCompute(ctx, "default", "dev-box", "start")
	if err != nil || out.Properties.State != "Starting" {
		t.Errorf("start = %q, %v; want Starting", out.Properties.State, err)
	}
	evs, _ := e.c.Events(ctx, "default", "dev-box", 0)
	var msgs []string
	for _, ev := range evs {
		msgs = append(msgs, ev.Message)
	}
	if got := strings.Join(msgs, "; "); !strings.Contains(got, "stop requested; start requested") {
		t.Errorf("events = %s, want the stop and the start", got)
	}
}

func jobID(t *testing.T, e *env, name string) int64 {
	t.Helper()
	j, err := e.db.Job(t.Context(), "default", name)
	if err != nil {
		t.Fatal(err)
	}
	return j.ID
}

func TestRestartReleasesTheNode(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	mustCompute(t, e, api.ComputeSpec{Name: "dev-box", Type: "computeinstance"})
	e.db.SetComputeState(ctx, "default", "dev-box", trainyard.Succeeded, "")
	e.db.CreateNode(ctx, trainyard.Node{ID: "dev-box-1", Workspace: "default", Compute: "dev-box"})
	e.db.RegisterNode(ctx, "dev-box-1", "127.0.0.1", 0)
	out, err := e.c.PowerCompute(ctx, "default", "dev-box", "restart")
	if err != nil || out.Properties.State != "Restarting" {
		t.Fatalf("restart = %q, %v; want Restarting", out.Properties.State, err)
	}
	n, err := e.db.Node(ctx, "dev-box-1")
	if err != nil || n.State != trainyard.NodeLeaving {
		t.Errorf("node after restart = %s, %v; want leaving (the autoscaler replaces it)", n.State, err)
	}
}

func TestComputeInstanceRejectsBadInput(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name     string
		spec     api.ComputeSpec
		mentions []string
	}{
		{"idle shutdown too short", api.ComputeSpec{IdleTimeBeforeShutdownMinutes: intp(14)}, []string{"idle_time_before_shutdown_minutes 14", "15 to 4320 minutes"}},
		{"idle shutdown too long", api.ComputeSpec{IdleTimeBeforeShutdownMinutes: intp(4321)}, []string{"idle_time_before_shutdown_minutes 4321"}},
		{"idle shutdown zero", api.ComputeSpec{IdleTimeBeforeShutdownMinutes: intp(0)}, []string{"idle_time_before_shutdown_minutes 0"}},
		{"legacy idle shutdown too short", api.ComputeSpec{IdleTimeBeforeShutdown: "PT5M"}, []string{"idle_time_before_shutdown_minutes 5"}},
		{"legacy idle shutdown not a duration", api.ComputeSpec{IdleTimeBeforeShutdown: "soon"}, []string{"idle_time_before_shutdown:", "ISO-8601"}},
		{"both idle keys", api.ComputeSpec{IdleTimeBeforeShutdownMinutes: intp(30), IdleTimeBeforeShutdown: "PT30M"}, []string{"give one"}},
		{"max_instances", api.ComputeSpec{MaxInstances: intp(2)}, []string{"max_instances does not apply to type computeinstance", "amlcompute"}},
		{"tier", api.ComputeSpec{Tier: "low_priority"}, []string{"tier does not apply to type computeinstance"}},
		{"idle scale down", api.ComputeSpec{IdleTimeBeforeScaleDown: &api.Seconds{Duration: 60e9}}, []string{"idle_time_before_scale_down does not apply"}},
		{"schedules", api.ComputeSpec{Schedules: map[string]any{"compute_start_stop": []any{}}}, []string{"schedules: start/stop schedules are not supported yet", "trainyard compute start|stop"}},
		{"admin password", api.ComputeSpec{SSHSettings: &api.SSHSettings{AdminPassword: "Str0ng!pw"}}, []string{"ssh_settings.admin_password does not apply to type computeinstance"}},
		{"unknown size", api.ComputeSpec{Size: "STANDARD_XYZ"}, []string{`size "STANDARD_XYZ" is not offered`}},
		{"cluster idle key on a cluster", api.ComputeSpec{Type: "amlcompute", IdleTimeBeforeShutdownMinutes: intp(30)},
			[]string{"idle_time_before_shutdown_minutes does not apply to type amlcompute", "computeinstance"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.spec.Name = "dev-box"
			if tt.spec.Type == "" {
				tt.spec.Type = "computeinstance"
			}
			_, err := e.c.CreateCompute(t.Context(), "default", tt.spec)
			wantError(t, err, http.StatusBadRequest, trainyard.Invalid, tt.mentions...)
		})
	}
	c := mustCompute(t, e, api.ComputeSpec{Name: "legacy-box", Type: "computeinstance", IdleTimeBeforeShutdown: "PT2H"})
	if c.Properties.IdleTimeBeforeShutdown != "PT120M" {
		t.Errorf("idle shutdown PT2H shown as %q, want PT120M", c.Properties.IdleTimeBeforeShutdown)
	}
	e.db.SetComputeState(t.Context(), "default", "legacy-box", trainyard.Succeeded, "")
	status, body := e.call(t, "PATCH", "/v1/workspaces/default/computes/legacy-box", e.admin, `{"min_instances": 1}`)
	if status != 400 || !strings.Contains(string(body), "only amlcompute clusters have scale settings") {
		t.Errorf("PATCH min_instances of an instance = %d %s, want 400", status, body)
	}
	mustCompute(t, e, api.ComputeSpec{Name: "cpu-cluster"})
	_, err := e.c.PowerCompute(t.Context(), "default", "cpu-cluster", "stop")
	wantError(t, err, http.StatusBadRequest, trainyard.Invalid, "stop applies to compute instances only", "--min-instances")
}
