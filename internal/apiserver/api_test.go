package apiserver_test

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/api"
	"github.com/trainyard/trainyard/internal/apiserver"
	"github.com/trainyard/trainyard/internal/store"
)

// env is a server over a real store in t.TempDir, reached through httptest.NewServer.
type env struct {
	db    *store.DB
	url   string
	admin string
	c     *api.Client // with the admin token
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvWith(t, nil)
}

// newEnvWith lets a test change the server before it starts serving.
func newEnvWith(t *testing.T, change func(*apiserver.Server)) *env {
	t.Helper()
	ctx := t.Context()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "trainyard.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	admin := store.NewToken("tya")
	if err := db.ReplaceAdmin(ctx, admin); err != nil {
		t.Fatal(err)
	}
	s := &apiserver.Server{
		Store: db, DataDir: t.TempDir(), DefaultLocation: "local",
		Sizes: func(loc string) ([]trainyard.VMSize, bool) { return trainyard.BuiltinSizes, loc == "local" },
		Log:   slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if change != nil {
		change(s)
	}
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(hs.Close) // runs before db.Close
	return &env{db: db, url: hs.URL, admin: admin, c: api.NewClient(hs.URL, admin)}
}

// call sends a raw request and returns the status and body.
func (e *env) call(t *testing.T, method, path, token, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, e.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, data
}

// wantError checks that err is an API error with this status and code whose message has
// every one of mentions.
func wantError(t *testing.T, err error, status int, code trainyard.Code, mentions ...string) {
	t.Helper()
	e, ok := errors.AsType[*api.Error](err)
	if !ok {
		t.Fatalf("error = %v (%T), want an *api.Error", err, err)
	}
	if e.Status != status || e.Code != string(code) {
		t.Errorf("error = %d %s %q, want %d %s", e.Status, e.Code, e.Message, status, code)
	}
	for _, m := range mentions {
		if !strings.Contains(e.Message, m) {
			t.Errorf("message %q does not mention %q", e.Message, m)
		}
	}
	if e.RequestID == "" {
		t.Errorf("error %q has no request ID", e.Message)
	}
}

func intp(n int) *int { return &n }

func mustCompute(t *testing.T, e *env, spec api.ComputeSpec) api.Compute {
	t.Helper()
	if spec.Type == "" {
		spec.Type = "amlcompute"
	}
	c, err := e.c.CreateCompute(t.Context(), "default", spec)
	if err != nil {
		t.Fatalf("CreateCompute(%s) error: %v", spec.Name, err)
	}
	return c
}

func TestCreateComputeDefaults(t *testing.T) {
	e := newEnv(t)
	got := mustCompute(t, e, api.ComputeSpec{Name: "gpu-cluster", Type: "amlcompute"})
	check := func(what string, c api.Compute) {
		t.Helper()
		p := c.Properties
		if c.Name != "gpu-cluster" || c.Workspace != "default" || c.Type != "amlcompute" || c.Location != "local" {
			t.Errorf("%s: name %q workspace %q type %q location %q, want gpu-cluster default amlcompute local", what, c.Name, c.Workspace, c.Type, c.Location)
		}
		if p.VMSize != trainyard.DefaultSize || p.VMPriority != "Dedicated" {
			t.Errorf("%s: size %q priority %q, want %s Dedicated", what, p.VMSize, p.VMPriority, trainyard.DefaultSize)
		}
		want := api.ScaleSettings{MinNodeCount: 0, MaxNodeCount: 1, NodeIdleTimeBeforeScaleDown: "PT120S"}
		if p.ScaleSettings != want {
			t.Errorf("%s: scale settings %+v, want %+v", what, p.ScaleSettings, want)
		}
		if c.ProvisioningState != "Creating" {
			t.Errorf("%s: state %q, want Creating", what, c.ProvisioningState)
		}
		if c.CreatedOn.IsZero() {
			t.Errorf("%s: no createdOn", what)
		}
	}
	check("create answer", got)
	shown, err := e.c.Compute(t.Context(), "default", "GPU-Cluster")
	if err != nil {
		t.Fatalf("Compute() error: %v", err)
	}
	check("show", shown)
	list, err := e.c.Computes(t.Context(), "default")
	if err != nil || len(list) != 1 {
		t.Fatalf("Computes() = %d records, %v; want 1", len(list), err)
	}
	check("list", list[0])
}

func TestCreateComputeSpellings(t *testing.T) {
	e := newEnv(t)
	c := mustCompute(t, e, api.ComputeSpec{Name: "gpu-cluster", Type: "cluster", Size: "Standard_NC6", Tier: "LowPriority",
		MinInstances: intp(1), MaxInstances: intp(4), IdleTimeBeforeScaleDown: &api.Seconds{Duration: 300e9}})
	p := c.Properties
	if c.Type != "amlcompute" || p.VMSize != "STANDARD_NC6" || p.VMPriority != "LowPriority" ||
		p.ScaleSettings != (api.ScaleSettings{MinNodeCount: 1, MaxNodeCount: 4, NodeIdleTimeBeforeScaleDown: "PT300S"}) {
		t.Errorf("created %+v with %+v, want amlcompute STANDARD_NC6 LowPriority 1..4 PT300S", c, p)
	}
}

func TestCreateComputeRejectsBadInput(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name     string
		spec     api.ComputeSpec
		mentions []string
	}{
		{name: "missing name", spec: api.ComputeSpec{Type: "amlcompute"}, mentions: []string{"name is required"}},
		{name: "missing type", spec: api.ComputeSpec{Name: "gpu-cluster"}, mentions: []string{"type is required", "amlcompute"}},
		{name: "bad type", spec: api.ComputeSpec{Name: "gpu-cluster", Type: "synapsespark"},
			mentions: []string{`type "synapsespark"`, "hdinsight", "amlcompute"}},
		{name: "type local is implicit", spec: api.ComputeSpec{Name: "my-box", Type: "local"},
			mentions: []string{`type "local"`, "--compute local"}},
		{name: "C-07: name ends in -digits", spec: api.ComputeSpec{Name: "cpu-cluster-1", Type: "amlcompute"},
			mentions: []string{`"cpu-cluster-1"`, "amlcompute", `"-1"`, trainyard.ComputeNameRule}},
		{name: "name too short", spec: api.ComputeSpec{Name: "ab", Type: "amlcompute"},
			mentions: []string{`"ab"`, "2 characters", trainyard.ComputeNameRule}},
		{name: "name starts with a digit", spec: api.ComputeSpec{Name: "1gpu", Type: "amlcompute"},
			mentions: []string{`"1gpu"`, "start with a letter"}},
		{name: "reserved name local", spec: api.ComputeSpec{Name: "local", Type: "amlcompute"},
			mentions: []string{`"local"`, "reserved"}},
		{name: "reserved name in another case", spec: api.ComputeSpec{Name: "AmlCompute", Type: "amlcompute"},
			mentions: []string{`"AmlCompute"`, "reserved"}},
		{name: "max below min", spec: api.ComputeSpec{Name: "gpu-cluster", Type: "amlcompute", MinInstances: intp(3), MaxInstances: intp(1)},
			mentions: []string{"max_instances 1", "min_instances 3", "max must be >= min"}},
		{name: "min above the default max", spec: api.ComputeSpec{Name: "gpu-cluster", Type: "amlcompute", MinInstances: intp(2)},
			mentions: []string{"max_instances 1", "min_instances 2"}},
		{name: "negative min", spec: api.ComputeSpec{Name: "gpu-cluster", Type: "amlcompute", MinInstances: intp(-1)},
			mentions: []string{"min_instances -1", "0 or more"}},
		{name: "negative max", spec: api.ComputeSpec{Name: "gpu-cluster", Type: "amlcompute", MaxInstances: intp(-2)},
			mentions: []string{"max_instances -2", "0 or more"}},
		{name: "negative idle time", spec: api.ComputeSpec{Name: "gpu-cluster", Type: "amlcompute", IdleTimeBeforeScaleDown: &api.Seconds{Duration: -1e9}},
			mentions: []string{"idle_time_before_scale_down", "0 or more"}},
		{name: "unknown size", spec: api.ComputeSpec{Name: "gpu-cluster", Type: "amlcompute", Size: "STANDARD_XYZ"},
			mentions: []string{`size "STANDARD_XYZ"`, `"local"`, strings.Join(trainyard.SizeNames(trainyard.BuiltinSizes), ", ")}},
		{name: "unknown location", spec: api.ComputeSpec{Name: "gpu-cluster", Type: "amlcompute", Location: "mars"},
			mentions: []string{`location "mars"`, `"local"`}},
		{name: "bad tier", spec: api.ComputeSpec{Name: "gpu-cluster", Type: "amlcompute", Tier: "gold"},
			mentions: []string{`tier "gold"`, "dedicated", "low_priority"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.c.CreateCompute(t.Context(), "default", tt.spec)
			wantError(t, err, http.StatusBadRequest, trainyard.Invalid, tt.mentions...)
		})
	}
	if list, err := e.c.Computes(t.Context(), "default"); err != nil || len(list) != 0 {
		t.Errorf("Computes() after refused creates = %d records, %v; want none", len(list), err)
	}
}

func TestCreateComputeConflictsAndUnknowns(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	first := mustCompute(t, e, api.ComputeSpec{Name: "gpu-cluster", MaxInstances: intp(2)})
	for _, name := range []string{"gpu-cluster", "GPU-CLUSTER"} {
		_, err := e.c.CreateCompute(ctx, "default", api.ComputeSpec{Name: name, Type: "amlcompute", MaxInstances: intp(9)})
		wantError(t, err, http.StatusConflict, trainyard.Conflict, `"`+name+`"`, "already exists")
	}
	if got, err := e.c.Compute(ctx, "default", "gpu-cluster"); err != nil || got.Properties.ScaleSettings != first.Properties.ScaleSettings {
		t.Errorf("after conflicting creates: %+v, %v; want it unchanged (%+v)", got.Properties.ScaleSettings, err, first.Properties.ScaleSettings)
	}

	// A misspelt key is named, never ignored.
	err := e.c.Do(ctx, "POST", "/v1/workspaces/default/computes",
		map[string]any{"name": "cpu-cluster", "type": "amlcompute", "max_nodes": 2}, nil)
	wantError(t, err, http.StatusBadRequest, trainyard.Invalid, `"max_nodes"`)
	if _, err := e.c.Compute(ctx, "default", "cpu-cluster"); !api.IsNotFound(err) {
		t.Errorf("compute with an unknown key: %v, want not created", err)
	}

	_, err = e.c.CreateCompute(ctx, "nope", api.ComputeSpec{Name: "gpu-cluster", Type: "amlcompute"})
	wantError(t, err, http.StatusNotFound, trainyard.NotFound, `workspace "nope"`)
	_, err = e.c.Compute(ctx, "default", "nope")
	wantError(t, err, http.StatusNotFound, trainyard.NotFound, `"nope"`)
}

// TestInternalErrorsDoNotLeak makes the server fail on its data dir (a file, not a folder):
// the caller gets "internal error" and the request ID, the log gets the cause.
func TestInternalErrorsDoNotLeak(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "not-a-dir")
	if err := os.WriteFile(dataDir, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	var log lockedBuffer
	e := newEnvWith(t, func(s *apiserver.Server) {
		s.DataDir = dataDir
		s.Log = slog.New(slog.NewTextHandler(&log, nil))
	})
	_, err := e.c.UploadSnapshot(t.Context(), "default", strings.NewReader("tarball"))
	wantError(t, err, http.StatusInternalServerError, trainyard.Internal, "internal error")
	apiErr, _ := errors.AsType[*api.Error](err)
	if strings.Contains(apiErr.Message, dataDir) || strings.Contains(apiErr.Message, "not a directory") {
		t.Errorf("message %q leaks the cause", apiErr.Message)
	}
	if !strings.Contains(apiErr.Message, apiErr.RequestID) {
		t.Errorf("message %q does not give the request ID %s", apiErr.Message, apiErr.RequestID)
	}
	if logged := log.String(); !strings.Contains(logged, apiErr.RequestID) || !strings.Contains(logged, dataDir) {
		t.Errorf("log %q lacks the request ID %s or the cause", logged, apiErr.RequestID)
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
