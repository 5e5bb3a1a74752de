package apiserver_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/api"
	"github.com/trainyard/trainyard/internal/store"
)

// newJobEnv is an env with compute gpu-cluster (max 1) and zero-cluster (max 0).
func newJobEnv(t *testing.T) *env {
	t.Helper()
	e := newEnv(t)
	mustCompute(t, e, api.ComputeSpec{Name: "gpu-cluster"})
	mustCompute(t, e, api.ComputeSpec{Name: "zero-cluster", MaxInstances: intp(0)})
	return e
}

func TestCreateJobRejectsBadSpecs(t *testing.T) {
	e := newJobEnv(t)
	tests := []struct {
		name     string
		spec     api.JobSpec
		status   int
		code     trainyard.Code
		mentions []string
	}{
		{name: "unknown compute", spec: api.JobSpec{Command: "python train.py", Compute: api.Named("nope")},
			status: http.StatusNotFound, code: trainyard.NotFound,
			mentions: []string{`compute "nope"`, "trainyard compute create --name nope", "--compute local"}},
		{name: "more nodes than the cluster has", spec: api.JobSpec{Command: "python train.py", Compute: api.Named("gpu-cluster"), Resources: &api.Resources{InstanceCount: intp(2)}},
			status: http.StatusBadRequest, code: trainyard.Invalid, mentions: []string{"resources.instance_count 2: compute \"gpu-cluster\" has max_instances 1", "trainyard compute update --name gpu-cluster --max-instances 2"}},
		{name: "no nodes", spec: api.JobSpec{Command: "python train.py", Compute: api.Named("gpu-cluster"), Resources: &api.Resources{InstanceCount: intp(0)}},
			status: http.StatusBadRequest, code: trainyard.Invalid, mentions: []string{"resources.instance_count 0", "1 or more", "leave it out"}},
		{name: "compute with max 0", spec: api.JobSpec{Command: "python train.py", Compute: api.Named("zero-cluster")},
			status: http.StatusBadRequest, code: trainyard.Invalid, mentions: []string{`"zero-cluster"`, "max_instances 0", "never start"}},
		{name: "undeclared input", spec: api.JobSpec{Command: "python train.py --lr ${{inputs.x}}", Compute: api.Named("gpu-cluster")},
			status: http.StatusBadRequest, code: trainyard.Invalid, mentions: []string{"${{inputs.x}}", "declare"}},
		{name: "undeclared output", spec: api.JobSpec{Command: "python train.py --out ${{outputs.model}}", Compute: api.Named("gpu-cluster"),
			Inputs: map[string]any{"model": "x"}},
			status: http.StatusBadRequest, code: trainyard.Invalid, mentions: []string{"${{outputs.model}}"}},
		{name: "data input", spec: api.JobSpec{Command: "python train.py ${{inputs.data}}", Compute: api.Named("gpu-cluster"),
			Inputs: map[string]any{"data": map[string]any{"type": "uri_folder", "path": "./data"}}},
			status: http.StatusBadRequest, code: trainyard.Invalid, mentions: []string{"inputs.data", "literal"}},
		{name: "unknown environment", spec: api.JobSpec{Command: "python train.py", Compute: api.Named("gpu-cluster"), Environment: "azureml:AzureML-sklearn-1.0:1"},
			status: http.StatusNotFound, code: trainyard.NotFound, mentions: []string{"environment AzureML-sklearn-1.0:1 not found", "trainyard environment list"}},
		{name: "mpi without process count (C-08)", spec: api.JobSpec{Command: "python train.py", Compute: api.Named("gpu-cluster"), Distribution: map[string]any{"type": "mpi"}},
			status: http.StatusBadRequest, code: trainyard.Invalid, mentions: []string{"distribution.process_count_per_instance is required for an mpi job"}},
		{name: "no command", spec: api.JobSpec{Command: "  ", Compute: api.Named("gpu-cluster")},
			status: http.StatusBadRequest, code: trainyard.Invalid, mentions: []string{"command is required"}},
		{name: "bad job name", spec: api.JobSpec{Name: "-train", Command: "python train.py", Compute: api.Named("gpu-cluster")},
			status: http.StatusBadRequest, code: trainyard.Invalid, mentions: []string{`job name "-train"`}},
		{name: "job name over 255", spec: api.JobSpec{Name: strings.Repeat("n", 256), Command: "python train.py", Compute: api.Named("gpu-cluster")},
			status: http.StatusBadRequest, code: trainyard.Invalid, mentions: []string{"1 to 255 letters"}},
		{name: "reserved env var", spec: api.JobSpec{Command: "python train.py", Compute: api.Named("gpu-cluster"),
			EnvironmentVariables: map[string]string{"TRAINYARD_TOKEN": "x"}},
			status: http.StatusBadRequest, code: trainyard.Invalid, mentions: []string{`"TRAINYARD_TOKEN"`}},
		{name: "negative timeout", spec: api.JobSpec{Command: "python train.py", Compute: api.Named("gpu-cluster"),
			Limits: &api.Limits{Timeout: &api.Seconds{Duration: -1e9}}},
			status: http.StatusBadRequest, code: trainyard.Invalid, mentions: []string{"limits.timeout"}},
		{name: "snapshot never uploaded", spec: api.JobSpec{Command: "python train.py", Compute: api.Named("gpu-cluster"), Code: strings.Repeat("ab", 32)},
			status: http.StatusBadRequest, code: trainyard.Invalid, mentions: []string{"never uploaded"}},
		{name: "unknown workspace", spec: api.JobSpec{Command: "python train.py"},
			status: http.StatusNotFound, code: trainyard.NotFound, mentions: []string{`workspace "nope"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ws := "default"
			if tt.name == "unknown workspace" {
				ws = "nope"
			}
			_, err := e.c.CreateJob(t.Context(), ws, tt.spec)
			wantError(t, err, tt.status, tt.code, tt.mentions...)
		})
	}
	if jobs, err := e.c.Jobs(t.Context(), "default", "", "", 0); err != nil || len(jobs) != 0 {
		t.Errorf("Jobs() after refused submissions = %d, %v; want none", len(jobs), err)
	}
}

func TestCreateJobBindsCommand(t *testing.T) {
	e := newJobEnv(t)
	tests := []struct {
		name    string
		spec    api.JobSpec
		wantCmd string
	}{
		{name: "literal number input",
			spec:    api.JobSpec{Command: "python train.py --epochs ${{inputs.epochs}}", Inputs: map[string]any{"epochs": 5}},
			wantCmd: "python train.py --epochs 5"},
		{name: "string, fraction and boolean inputs, spaces inside the braces",
			spec: api.JobSpec{Command: "python train.py --arch ${{ inputs.arch }} --lr ${{inputs.lr}} --fast ${{inputs.fast}}",
				Inputs: map[string]any{"arch": "resnet50", "lr": 0.01, "fast": true}},
			wantCmd: "python train.py --arch resnet50 --lr 0.01 --fast true"},
		{name: "output folder",
			spec:    api.JobSpec{Command: "python train.py --out ${{outputs.model}}", Outputs: map[string]any{"model": map[string]any{}}},
			wantCmd: "python train.py --out outputs/model"},
		{name: "output with type and mode",
			spec: api.JobSpec{Command: "python train.py --out ${{outputs.model}}",
				Outputs: map[string]any{"model": map[string]any{"type": "uri_folder", "mode": "rw_mount"}}},
			wantCmd: "python train.py --out outputs/model"},
		{name: "no bindings", spec: api.JobSpec{Command: "echo ${HOME} {{not a binding}}"}, wantCmd: "echo ${HOME} {{not a binding}}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.spec.Compute = api.Named("gpu-cluster")
			j, err := e.c.CreateJob(t.Context(), "default", tt.spec)
			if err != nil {
				t.Fatalf("CreateJob() error: %v", err)
			}
			if j.Command != tt.wantCmd {
				t.Errorf("command = %q, want %q", j.Command, tt.wantCmd)
			}
			shown, err := e.c.Job(t.Context(), "default", j.Name)
			if err != nil || shown.Command != tt.wantCmd {
				t.Errorf("Job() command = %q, %v; want %q", shown.Command, err, tt.wantCmd)
			}
		})
	}
}

func TestCreateJobNames(t *testing.T) {
	e := newJobEnv(t)
	ctx := t.Context()
	first, err := e.c.CreateJob(ctx, "default", api.JobSpec{Name: "train-1", Command: "python train.py", Compute: api.Named("gpu-cluster")})
	if err != nil {
		t.Fatal(err)
	}
	if first.Name != "train-1" || first.DisplayName != "train-1" || first.ExperimentName != "Default" {
		t.Errorf("job = name %q display %q experiment %q, want train-1 train-1 Default", first.Name, first.DisplayName, first.ExperimentName)
	}
	_, err = e.c.CreateJob(ctx, "default", api.JobSpec{Name: "train-1", Command: "python other.py"})
	wantError(t, err, http.StatusConflict, trainyard.Conflict, `"train-1"`, "leave name out")

	generated := regexp.MustCompile(`^[a-z]+_[a-z]+_[0-9a-f]{6}$`)
	seen := map[string]bool{}
	for range 20 {
		j, err := e.c.CreateJob(ctx, "default", api.JobSpec{Command: "python train.py", Compute: api.Named("gpu-cluster")})
		if err != nil {
			t.Fatalf("CreateJob() without a name: %v", err)
		}
		if !generated.MatchString(j.Name) || seen[j.Name] {
			t.Errorf("generated name %q: want unique, like keen_otter_4fa1c2", j.Name)
		}
		seen[j.Name] = true
	}
}

func TestQueuedJobSaysWhyItWaits(t *testing.T) {
	e := newJobEnv(t)
	ctx := t.Context()
	for _, compute := range []string{"gpu-cluster", "local", ""} {
		j, err := e.c.CreateJob(ctx, "default", api.JobSpec{Command: "python train.py", Compute: api.Named(compute)})
		if err != nil {
			t.Fatal(err)
		}
		if j.Status != string(trainyard.JobQueued) || j.WaitReason == "" {
			t.Errorf("job on %q: status %q wait reason %q, want Queued with a reason", compute, j.Status, j.WaitReason)
		}
		shown, err := e.c.Job(ctx, "default", j.Name)
		if err != nil || shown.WaitReason != j.WaitReason {
			t.Errorf("Job() wait reason = %q, %v; want %q", shown.WaitReason, err, j.WaitReason)
		}
	}
	jobs, err := e.c.Jobs(ctx, "default", "", string(trainyard.JobQueued), 0)
	if err != nil || len(jobs) != 3 {
		t.Fatalf("Jobs(Queued) = %d, %v; want 3", len(jobs), err)
	}
	for _, j := range jobs {
		if j.WaitReason == "" {
			t.Errorf("listed job %s has no wait reason", j.Name)
		}
	}
}

func TestEnvValuesNeverLeaveTheServer(t *testing.T) {
	e := newJobEnv(t)
	const secret, seed = "s3cret-value-0xdeadbeef", "seed-value-424242"
	spec := `{"name": "train", "command": "python train.py", "compute": "gpu-cluster",
		"environment_variables": {"API_KEY": "` + secret + `", "SEED": "` + seed + `"}}`
	status, created := e.call(t, "POST", "/v1/workspaces/default/jobs", e.admin, spec)
	if status != http.StatusCreated {
		t.Fatalf("create = %d %s, want 201", status, created)
	}
	var j api.Job
	if err := json.Unmarshal(created, &j); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"API_KEY", "SEED"}, j.EnvironmentVariables); diff != "" {
		t.Errorf("environment_variables mismatch (-want +got):\n%s", diff)
	}
	bodies := map[string][]byte{"create": created}
	for _, path := range []string{"/v1/workspaces/default/jobs/train", "/v1/workspaces/default/jobs",
		"/v1/workspaces/default/jobs?compute=gpu-cluster&status=Queued"} {
		_, bodies["GET "+path] = e.call(t, "GET", path, e.admin, "")
	}
	_, bodies["cancel"] = e.call(t, "POST", "/v1/workspaces/default/jobs/train/cancel", e.admin, "")
	for what, b := range bodies {
		if !strings.Contains(string(b), "API_KEY") {
			t.Errorf("%s: %s does not name API_KEY", what, b)
		}
		if strings.Contains(string(b), secret) || strings.Contains(string(b), seed) {
			t.Errorf("%s: %s leaks an environment variable value", what, b)
		}
	}
}

// placed submits a job to gpu-cluster, registers node n-1 of it and places the job there. It
// returns the job, the node token and the assignment.
func placed(t *testing.T, e *env) (api.Job, string, store.Assignment) {
	t.Helper()
	ctx := t.Context()
	j, err := e.c.CreateJob(ctx, "default", api.JobSpec{Name: "train", Command: "python train.py", Compute: api.Named("gpu-cluster")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.CreateNode(ctx, trainyard.Node{ID: "n-1", Workspace: "default", Compute: "gpu-cluster"}); err != nil {
		t.Fatal(err)
	}
	tok, err := e.db.RegisterNode(ctx, "n-1", "10.0.0.1", 7070)
	if err != nil {
		t.Fatal(err)
	}
	a, ok, err := e.db.Place(ctx, "n-1", nil)
	if err != nil || !ok || a.Job.Name != "train" {
		t.Fatalf("Place() = %q, %v, %v; want train", a.Job.Name, ok, err)
	}
	return j, tok, a
}

func TestAgentLogAppend(t *testing.T) {
	e := newJobEnv(t)
	_, nodeTok, a := placed(t, e)
	logs := fmt.Sprintf("/v1/agent/jobs/%d/logs", a.Job.ID)
	// Each step runs on what the steps before it left.
	steps := []struct {
		name     string
		offset   string
		data     string
		wantSize int64
	}{
		{name: "first chunk", offset: "0", data: "hello ", wantSize: 6},
		{name: "retried chunk is not written twice", offset: "0", data: "hello ", wantSize: 6},
		{name: "next chunk", offset: "6", data: "world\n", wantSize: 12},
		{name: "overlapping chunk adds its tail", offset: "3", data: "lo world\nmore\n", wantSize: 17},
		// A gap is refused with the size held, so the agent resends from there. The answer is
		// 200, not 409: internal/agent's shipFrom reads the size from a 2xx answer only.
		{name: "gap writes nothing", offset: "40", data: "lost", wantSize: 17},
		{name: "resend from the size", offset: "17", data: "end\n", wantSize: 21},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			status, body := e.call(t, "POST", logs+"?attempt=1&offset="+st.offset, nodeTok, st.data)
			if status != http.StatusOK {
				t.Fatalf("append = %d %s, want 200", status, body)
			}
			var got api.LogAppendResponse
			if err := json.Unmarshal(body, &got); err != nil || got.Size != st.wantSize {
				t.Errorf("append answer = %s (%v), want size %d", body, err, st.wantSize)
			}
		})
	}
	for _, bad := range []string{"", "-1", "x"} {
		status, body := e.call(t, "POST", logs+"?attempt=1&offset="+bad, nodeTok, "zzz")
		if status != http.StatusBadRequest {
			t.Errorf("append at offset %q = %d %s, want 400", bad, status, body)
		}
	}
	// Another node may not write this job's log.
	if _, err := e.db.CreateNode(t.Context(), trainyard.Node{ID: "n-2", Workspace: "default", Compute: "gpu-cluster"}); err != nil {
		t.Fatal(err)
	}
	otherTok, err := e.db.RegisterNode(t.Context(), "n-2", "10.0.0.2", 7070)
	if err != nil {
		t.Fatal(err)
	}
	if status, body := e.call(t, "POST", logs+"?attempt=1&offset=21", otherTok, "intruder\n"); status != http.StatusForbidden {
		t.Errorf("append by another node = %d %s, want 403", status, body)
	}

	const want = "hello world\nmore\nend\n"
	chunk, err := e.c.Logs(t.Context(), "default", "train", 0, 0)
	if err != nil {
		t.Fatalf("Logs() error: %v", err)
	}
	if string(chunk.Data) != want || chunk.Next != int64(len(want)) || chunk.Status != string(trainyard.JobPreparing) {
		t.Errorf("Logs(0) = %q next %d status %q, want %q next %d status Preparing", chunk.Data, chunk.Next, chunk.Status, want, len(want))
	}
	if chunk, err := e.c.Logs(t.Context(), "default", "train", 6, 0); err != nil || string(chunk.Data) != want[6:] {
		t.Errorf("Logs(6) = %q, %v; want %q", chunk.Data, err, want[6:])
	}
	if chunk, err := e.c.Logs(t.Context(), "default", "train", int64(len(want)), 0); err != nil || len(chunk.Data) != 0 {
		t.Errorf("Logs(end) = %q, %v; want nothing", chunk.Data, err)
	}
}

// postMetrics sends a raw metrics body with the run token.
func postMetrics(t *testing.T, e *env, token, body string) (int, []byte) {
	t.Helper()
	return e.call(t, "POST", "/v1/run/metrics", token, body)
}

func metricsBody(ms ...api.Metric) string {
	b, _ := json.Marshal(api.MetricsBody{Metrics: ms})
	return string(b)
}

func step(n int64) *int64 { return &n }

func TestRunMetrics(t *testing.T) {
	e := newJobEnv(t)
	ctx := t.Context()
	_, _, a := placed(t, e)
	run := a.RunToken
	want := []api.Metric{{Name: "loss", Value: 0.9, Step: step(0)}, {Name: "acc", Value: 0.1}, {Name: "loss", Value: 0.5, Step: step(1)}}
	for _, batch := range [][]api.Metric{want[:2], want[2:]} {
		if status, body := postMetrics(t, e, run, metricsBody(batch...)); status != http.StatusNoContent {
			t.Fatalf("post metrics = %d %s, want 204", status, body)
		}
	}
	checkMetrics := func(what string) {
		t.Helper()
		got, err := e.c.Metrics(ctx, "default", "train")
		if err != nil {
			t.Fatalf("Metrics() error: %v", err)
		}
		for _, m := range got {
			if m.Time == nil || m.Time.IsZero() {
				t.Errorf("%s: metric %s has no time", what, m.Name)
			}
		}
		if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(api.Metric{}, "Time")); diff != "" {
			t.Errorf("%s: Metrics() mismatch (-want +got):\n%s", what, diff)
		}
	}
	checkMetrics("after two batches")
	if j, err := e.c.Job(ctx, "default", "train"); err != nil || !cmp.Equal(j.Metrics, map[string]float64{"loss": 0.5, "acc": 0.1}) {
		t.Errorf("Job() metrics = %v, %v; want the latest of each", j.Metrics, err)
	}

	names := func(prefix string, n int) []api.Metric {
		var ms []api.Metric
		for i := range n {
			ms = append(ms, api.Metric{Name: fmt.Sprintf("%s%02d", prefix, i), Value: float64(i)})
		}
		return ms
	}
	bad := []struct {
		name, body, mention string
	}{
		{name: "NaN", body: `{"metrics": [{"name": "loss", "value": NaN}]}`, mention: "invalid JSON"},
		{name: "NaN as a string", body: `{"metrics": [{"name": "loss", "value": "NaN"}]}`, mention: "invalid JSON"},
		{name: "overflow", body: `{"metrics": [{"name": "loss", "value": 1e999}]}`, mention: "invalid JSON"},
		{name: "empty name", body: metricsBody(api.Metric{Name: "loss", Value: 1}, api.Metric{Name: "", Value: 2}), mention: "metrics[1].name"},
		{name: "long name", body: metricsBody(api.Metric{Name: strings.Repeat("n", 256), Value: 2}), mention: "metrics[0].name"},
		{name: "empty batch", body: `{"metrics": []}`, mention: "1 to 250"},
		{name: "batch over 250", body: metricsBody(slices.Repeat([]api.Metric{{Name: "loss", Value: 1}}, 251)...), mention: "251"},
		{name: "51 names in one batch", body: metricsBody(names("m", 51)...), mention: "at most 50"},
		{name: "49 new names next to 2 held", body: metricsBody(names("m", 49)...), mention: "at most 50"},
		{name: "unknown key", body: `{"metrics": [{"name": "loss", "value": 1, "epoch": 3}]}`, mention: `"epoch"`},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			status, body := postMetrics(t, e, run, tt.body)
			var eb api.ErrorBody
			json.Unmarshal(body, &eb)
			if status != http.StatusBadRequest || eb.Error.Code != string(trainyard.Invalid) || !strings.Contains(eb.Error.Message, tt.mention) {
				t.Errorf("post = %d %s, want 400 invalid mentioning %q", status, body, tt.mention)
			}
		})
	}
	checkMetrics("after refused batches") // all or nothing: no refused value is kept

	// 48 new names make 50, the limit; a 51st is refused, a held name is still welcome.
	if status, body := postMetrics(t, e, run, metricsBody(names("m", 48)...)); status != http.StatusNoContent {
		t.Fatalf("post up to 50 names = %d %s, want 204", status, body)
	}
	if status, body := postMetrics(t, e, run, metricsBody(api.Metric{Name: "one-too-many", Value: 1})); status != http.StatusBadRequest {
		t.Errorf("post a 51st name = %d %s, want 400", status, body)
	}
	if status, body := postMetrics(t, e, run, metricsBody(api.Metric{Name: "loss", Value: 0.25, Step: step(2)})); status != http.StatusNoContent {
		t.Errorf("post a held name at the limit = %d %s, want 204", status, body)
	}

	// Only the run token may post, and only while the job runs.
	if status, _ := postMetrics(t, e, e.admin, metricsBody(want[0])); status != http.StatusForbidden {
		t.Errorf("post with the admin token = %d, want 403", status)
	}
	exit0 := 0
	if _, err := e.db.FinishJob(ctx, "n-1", a.Job.ID, 1, store.Outcome{ExitCode: &exit0}); err != nil {
		t.Fatal(err)
	}
	if status, _ := postMetrics(t, e, run, metricsBody(want[0])); status != http.StatusUnauthorized {
		t.Errorf("post after the job ended = %d, want 401", status)
	}
	if got, _ := e.c.Metrics(ctx, "default", "train"); len(got) != 3+48+1 {
		t.Errorf("Metrics() holds %d values, want %d", len(got), 3+48+1)
	}
}
