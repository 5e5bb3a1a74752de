package cli_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/api"
	"github.com/trainyard/trainyard/internal/apiserver"
	"github.com/trainyard/trainyard/internal/cli"
	"github.com/trainyard/trainyard/internal/store"
)

// These tests run the CLI as the binary does, through cli.Main, against a real API server over
// a real store. The machine's own config never leaks in: isolate points HOME, the config dir
// and the local data dir at empty temporary folders, and clears the TRAINYARD_ variables.

// isolate gives the test an empty home, config dir and data dir, and returns the config dir
// and the data dir. Tests that call it must not be parallel.
func isolate(t *testing.T) (configDir, dataDir string) {
	t.Helper()
	home := t.TempDir()
	configDir, dataDir = filepath.Join(home, ".config"), filepath.Join(home, ".trainyard")
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", configDir)
	t.Setenv("TRAINYARD_DATA_DIR", dataDir)
	for _, k := range []string{"TRAINYARD_SERVER", "TRAINYARD_TOKEN", "TRAINYARD_WORKSPACE"} {
		t.Setenv(k, "")
	}
	return configDir, dataDir
}

// server is a real API server with an admin token. Its handler may be served on several URLs
// (fronts), each counting its requests.
type server struct {
	t       *testing.T
	db      *store.DB
	token   string
	handler http.Handler

	mu     sync.Mutex
	bodies map[string][]byte // the last body of each "METHOD path"
}

func newServer(t *testing.T) *server {
	t.Helper()
	dir := t.TempDir()
	db, err := store.Open(t.Context(), filepath.Join(dir, "trainyard.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	tok := store.NewToken("tya")
	if err := db.ReplaceAdmin(t.Context(), tok); err != nil {
		t.Fatal(err)
	}
	s := &apiserver.Server{
		Store: db, DataDir: dir, DefaultLocation: "local", Kick: func() {}, Log: slog.New(slog.DiscardHandler),
		Sizes: func(loc string) ([]trainyard.VMSize, bool) {
			if loc == "local" {
				return trainyard.BuiltinSizes, true
			}
			return nil, false
		},
	}
	return &server{t: t, db: db, token: tok, handler: s.Handler(), bodies: map[string][]byte{}}
}

// front serves the server on a new URL and counts the requests it gets there.
type front struct {
	URL string
	mu  sync.Mutex
	n   int
}

func (f *front) requests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n
}

func (s *server) front() *front {
	f := &front{}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.n++
		f.mu.Unlock()
		if r.Body != nil && r.Header.Get("Content-Type") == "application/json" {
			b, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(b))
			s.mu.Lock()
			s.bodies[r.Method+" "+r.URL.Path] = b
			s.mu.Unlock()
		}
		s.handler.ServeHTTP(w, r)
	}))
	s.t.Cleanup(hs.Close)
	f.URL = hs.URL
	return f
}

func (s *server) body(key string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bodies[key]
}

// run runs the CLI with args and returns its exit code and output.
func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = cli.Main(t.Context(), args, &out, &errb)
	return code, out.String(), errb.String()
}

// deadURL is the URL of a port nobody listens on.
func deadURL(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	ln.Close()
	return url
}

func TestCommands(t *testing.T) {
	isolate(t)
	s := newServer(t)
	tests := []refusal{
		{
			name:     "bad compute name is refused before any request",
			args:     []string{"compute", "create", "--name", "cpu-cluster-1", "--type", "amlcompute", "--no-wait"},
			wantCode: 1, wantErr: []string{`"cpu-cluster-1"`, "amlcompute", trainyard.ComputeNameRule}, noRequests: true,
		},
		{
			name:     "unknown type is refused before any request",
			args:     []string{"compute", "create", "--name", "cpu-cluster", "--type", "kubernetes", "--no-wait"},
			wantCode: 1, wantErr: []string{`"kubernetes"`, "amlcompute"}, noRequests: true,
		},
		{
			name:     "unknown key in a compute file names the key and its line",
			args:     []string{"compute", "create", "-f", "testdata/compute-unknown-key.yml", "--no-wait"},
			wantCode: 1, wantErr: []string{"testdata/compute-unknown-key.yml", "line 4", `unknown key "idle_time_before_scaledown"`, "idle_time_before_scale_down"},
			noRequests: true,
		},
		{
			name:     "set without a file",
			args:     []string{"compute", "create", "--name", "cpu-cluster", "--type", "amlcompute", "--set", "max_instances=3"},
			wantCode: 2, wantErr: []string{"--set needs a file (-f)"}, noRequests: true,
		},
		{
			name:     "compute create",
			args:     []string{"compute", "create", "--name", "cpu-cluster", "--type", "amlcompute", "--max-instances", "3", "--no-wait"},
			wantCode: 0, wantOut: []string{"compute cpu-cluster: Creating", "max 3"},
		},
		{
			name:     "compute create of a taken name",
			args:     []string{"compute", "create", "--name", "cpu-cluster", "--type", "amlcompute", "--no-wait"},
			wantCode: 1, wantErr: []string{`compute "cpu-cluster" already exists`},
		},
		{
			name:     "compute list table",
			args:     []string{"compute", "list"},
			wantCode: 0, wantOut: []string{"NAME", "cpu-cluster", "amlcompute", trainyard.DefaultSize},
		},
		{
			name:     "compute show without --name",
			args:     []string{"compute", "show"},
			wantCode: 2, wantErr: []string{"--name is required"}, noRequests: true,
		},
		{
			name:     "job show without --name hints at job list",
			args:     []string{"job", "show"},
			wantCode: 2, wantErr: []string{"--name is required", "trainyard job list"}, noRequests: true,
		},
		{
			name:     "job create without a file",
			args:     []string{"job", "create"},
			wantCode: 2, wantErr: []string{"--file (-f) is required"}, noRequests: true,
		},
		{
			name:     "unknown flag",
			args:     []string{"job", "list", "--bogus"},
			wantCode: 2, wantErr: []string{"unknown flag: --bogus", "trainyard job list --help"}, noRequests: true,
		},
		{
			name:     "unknown output format",
			args:     []string{"workspace", "list", "-o", "bad"},
			wantCode: 2, wantErr: []string{`--output "bad"`, "table, json or yaml"},
		},
		{
			name:     "job not found",
			args:     []string{"job", "show", "--name", "nope"},
			wantCode: 1, wantErr: []string{`job "nope" not found`, "trainyard job list"},
		},
		{
			name:     "wrong token",
			args:     []string{"workspace", "list"},
			token:    "tya_wrong",
			wantCode: 4, wantErr: []string{"token is not valid"},
		},
		{
			name:     "job submit",
			args:     []string{"job", "submit", "--name", "hello", "--", "echo", "hello world"},
			wantCode: 0, wantOut: []string{"job hello submitted to local: Queued", "trainyard job stream --name hello"},
		},
		{
			name:     "job list",
			args:     []string{"job", "list"},
			wantCode: 0, wantOut: []string{"hello", "local", "Queued", "LocalBusy"},
		},
		{
			name:     "job cancel",
			args:     []string{"job", "cancel", "--name", "hello"},
			wantCode: 0, wantOut: []string{"job hello: Canceled"},
		},
		{
			name:     "job cancel twice",
			args:     []string{"job", "cancel", "--name", "hello"},
			wantCode: 1, wantErr: []string{"already Canceled"},
		},
	}
	runRefusals(t, s, tests)
}

func TestOutputFormats(t *testing.T) {
	isolate(t)
	s := newServer(t)
	f := s.front()
	base := []string{"--server", f.URL, "--token", s.token}
	if code, _, stderr := run(t, append(base, "compute", "create", "--name", "gpu-cluster", "--type", "cluster", "--size", "STANDARD_NC6", "--no-wait")...); code != 0 {
		t.Fatalf("compute create: exit %d\n%s", code, stderr)
	}

	check := func(t *testing.T, c api.Compute) {
		t.Helper()
		if c.Name != "gpu-cluster" || c.Type != "amlcompute" || c.Properties.VMSize != "STANDARD_NC6" || c.ProvisioningState != "Creating" {
			t.Errorf("compute = %+v, want gpu-cluster, amlcompute, STANDARD_NC6, Creating", c)
		}
	}
	t.Run("json", func(t *testing.T) {
		code, stdout, stderr := run(t, append(base, "compute", "show", "--name", "gpu-cluster", "-o", "json")...)
		if code != 0 {
			t.Fatalf("exit %d\n%s", code, stderr)
		}
		var c api.Compute
		if err := json.Unmarshal([]byte(stdout), &c); err != nil {
			t.Fatalf("-o json output is not JSON: %v\n%s", err, stdout)
		}
		check(t, c)
	})
	t.Run("yaml", func(t *testing.T) {
		code, stdout, stderr := run(t, append(base, "compute", "show", "--name", "gpu-cluster", "--output", "yaml")...)
		if code != 0 {
			t.Fatalf("exit %d\n%s", code, stderr)
		}
		if strings.HasPrefix(strings.TrimSpace(stdout), "{") {
			t.Errorf("-o yaml printed JSON:\n%s", stdout)
		}
		var c api.Compute
		if err := yaml.Unmarshal([]byte(stdout), &c); err != nil {
			t.Fatalf("-o yaml output is not YAML: %v\n%s", err, stdout)
		}
		check(t, c)
	})
	t.Run("json list", func(t *testing.T) {
		code, stdout, stderr := run(t, append(base, "compute", "list", "-o", "json")...)
		if code != 0 {
			t.Fatalf("exit %d\n%s", code, stderr)
		}
		var cs []api.Compute
		if err := json.Unmarshal([]byte(stdout), &cs); err != nil {
			t.Fatalf("-o json output is not a JSON list: %v\n%s", err, stdout)
		}
		if len(cs) != 1 {
			t.Fatalf("compute list -o json = %d computes, want 1", len(cs))
		}
		check(t, cs[0])
	})
	t.Run("table", func(t *testing.T) {
		code, stdout, _ := run(t, append(base, "compute", "show", "--name", "gpu-cluster")...)
		if code != 0 || !strings.Contains(stdout, "name:") || !strings.Contains(stdout, "STANDARD_NC6") {
			t.Errorf("table output (exit %d):\n%s", code, stdout)
		}
	})
	t.Run("bad", func(t *testing.T) {
		code, stdout, stderr := run(t, append(base, "compute", "show", "--name", "gpu-cluster", "-o", "xml")...)
		if code != 2 || !strings.Contains(stderr, "table, json or yaml") || stdout != "" {
			t.Errorf("-o xml: exit %d, stdout %q, stderr %q; want exit 2, nothing printed, the formats named", code, stdout, stderr)
		}
	})
}

func TestJobCreateSet(t *testing.T) {
	isolate(t)
	s := newServer(t)
	f := s.front()
	code, stdout, stderr := run(t, "--server", f.URL, "--token", s.token, "job", "create", "-f", "testdata/job.yml",
		"--set", "inputs.epochs=5", "--name", "set-test", "-o", "json")
	if code != 0 {
		t.Fatalf("job create: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	var j api.Job
	if err := json.Unmarshal([]byte(stdout), &j); err != nil {
		t.Fatalf("job create -o json: %v\n%s", err, stdout)
	}
	if j.Command != "python train.py --epochs 5" {
		t.Errorf("created job's command = %q, want the --set input substituted: %q", j.Command, "python train.py --epochs 5")
	}
	if j.Name != "set-test" || j.Compute != "local" || j.ExperimentName != "testdata" {
		t.Errorf("job = %s on %s in experiment %s; want set-test on local in testdata (the file's folder)", j.Name, j.Compute, j.ExperimentName)
	}
	if len(j.Code) != 64 {
		t.Errorf("job code = %q, want the ID of the uploaded snapshot", j.Code)
	}
	if !strings.Contains(stderr, "uploaded code folder") {
		t.Errorf("stderr does not report the code upload:\n%s", stderr)
	}

	// What was sent: the file's command with the input set, and the uploaded snapshot's ID.
	var sent api.JobSpec
	if err := json.Unmarshal(s.body("POST /v1/workspaces/default/jobs"), &sent); err != nil {
		t.Fatalf("the job request body: %v", err)
	}
	if got := fmt.Sprint(sent.Inputs["epochs"]); got != "5" {
		t.Errorf("sent inputs.epochs = %s, want 5", got)
	}
	if sent.Command != "python train.py --epochs ${{inputs.epochs}}" || sent.Code != j.Code {
		t.Errorf("sent command %q with code %q", sent.Command, sent.Code)
	}

	// A --set naming an unknown key fails like the key in the file would.
	code, _, stderr = run(t, "--server", f.URL, "--token", s.token, "job", "create", "-f", "testdata/job.yml", "--set", "inputz.epochs=5")
	if code == 0 || !strings.Contains(stderr, "inputz") {
		t.Errorf("--set inputz.epochs=5: exit %d, stderr %q; want an error naming inputz", code, stderr)
	}
}

func TestServerUnreachable(t *testing.T) {
	isolate(t)
	url := deadURL(t)
	code, _, stderr := run(t, "--server", url, "--token", "tya_x", "compute", "list")
	if code != 1 {
		t.Errorf("exit code = %d, want 1", code)
	}
	if !strings.Contains(stderr, "cannot reach the trainyard server at "+url) {
		t.Errorf("stderr = %q, want it to name %s", stderr, url)
	}
}

// TestConfigResolution checks where the CLI finds its server and token: a flag, else
// TRAINYARD_SERVER / TRAINYARD_TOKEN, else the config file, else the local server's files.
// Every layer points at a URL of its own, and the first layer that has a value must win even
// when its value is a wrong token.
func TestConfigResolution(t *testing.T) {
	const (
		flag = iota
		env
		config
		local
		layers
	)
	names := []string{"flag", "env", "config file", "local data dir"}
	tests := []struct {
		name string
		// server and token say which layers have a value; a token is "good" or "bad".
		server   [layers]bool
		token    [layers]string
		wantHit  int // the layer whose server is used
		wantCode int
	}{
		{name: "flag server wins", server: [layers]bool{true, true, true, true}, token: [layers]string{"good", "good", "good", "good"}, wantHit: flag},
		{name: "env server next", server: [layers]bool{false, true, true, true}, token: [layers]string{"good", "good", "good", "good"}, wantHit: env},
		{name: "config server next", server: [layers]bool{false, false, true, true}, token: [layers]string{"good", "good", "good", "good"}, wantHit: config},
		{name: "local server last", server: [layers]bool{false, false, false, true}, token: [layers]string{"good", "good", "good", "good"}, wantHit: local},
		{name: "flag token wins", server: [layers]bool{true}, token: [layers]string{"good", "bad", "bad", "bad"}, wantHit: flag},
		{name: "flag token wins even when wrong", server: [layers]bool{true}, token: [layers]string{"bad", "good", "good", "good"}, wantHit: flag, wantCode: 4},
		{name: "env token next", server: [layers]bool{true}, token: [layers]string{"", "good", "bad", "bad"}, wantHit: flag},
		{name: "env token over config", server: [layers]bool{true}, token: [layers]string{"", "bad", "good", "good"}, wantHit: flag, wantCode: 4},
		{name: "config token next", server: [layers]bool{true}, token: [layers]string{"", "", "good", "bad"}, wantHit: flag},
		{name: "config token over local", server: [layers]bool{true}, token: [layers]string{"", "", "bad", "good"}, wantHit: flag, wantCode: 4},
		{name: "local token last", server: [layers]bool{false, false, false, true}, token: [layers]string{"", "", "", "good"}, wantHit: local},
		// The local admin token never goes to another server than the local one.
		{name: "local token stays home", server: [layers]bool{true, false, false, true}, token: [layers]string{"", "", "", "good"}, wantHit: -1, wantCode: 1},
		{name: "server and token from different layers", server: [layers]bool{false, true, false, false}, token: [layers]string{"", "", "good", ""}, wantHit: env},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			configDir, dataDir := isolate(t)
			s := newServer(t)
			var fronts [layers]*front
			for i := range fronts {
				fronts[i] = s.front()
			}
			tok := func(i int) string {
				switch tt.token[i] {
				case "good":
					return s.token
				case "bad":
					return "tya_bad_" + names[i]
				}
				return ""
			}
			var args []string
			if tt.server[flag] {
				args = append(args, "--server", fronts[flag].URL)
			}
			if tok(flag) != "" {
				args = append(args, "--token", tok(flag))
			}
			if tt.server[env] {
				t.Setenv("TRAINYARD_SERVER", fronts[env].URL)
			}
			t.Setenv("TRAINYARD_TOKEN", tok(env))
			cfg := map[string]string{}
			if tt.server[config] {
				cfg["server"] = fronts[config].URL
			}
			if tok(config) != "" {
				cfg["token"] = tok(config)
			}
			if len(cfg) > 0 {
				writeFile(t, filepath.Join(configDir, "trainyard", "config.yaml"), mustYAML(t, cfg))
			}
			if tt.server[local] {
				writeFile(t, filepath.Join(dataDir, "server.json"), fmt.Sprintf(`{"url": %q, "pid": 1}`, fronts[local].URL))
			}
			if tok(local) != "" {
				writeFile(t, filepath.Join(dataDir, "admin.token"), tok(local)+"\n")
			}

			code, stdout, stderr := run(t, append(args, "workspace", "list")...)
			if code != tt.wantCode {
				t.Errorf("exit code = %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.wantCode, stdout, stderr)
			}
			if tt.wantCode == 0 && !strings.Contains(stdout, "default") {
				t.Errorf("workspace list printed %q, want default", stdout)
			}
			for i, f := range fronts {
				if n := f.requests(); (i == tt.wantHit) != (n > 0) {
					t.Errorf("the %s server got %d request(s); want only server %d used (-1: none)", names[i], n, tt.wantHit)
				}
			}
		})
	}

	t.Run("no server anywhere", func(t *testing.T) {
		_, dataDir := isolate(t)
		code, _, stderr := run(t, "workspace", "list")
		if code != 1 || !strings.Contains(stderr, "no trainyard server found") || !strings.Contains(stderr, filepath.Join(dataDir, "server.json")) {
			t.Errorf("exit %d, stderr %q; want exit 1 and a message naming %s", code, stderr, filepath.Join(dataDir, "server.json"))
		}
	})
	t.Run("no token anywhere", func(t *testing.T) {
		_, dataDir := isolate(t)
		url := deadURL(t)
		code, _, stderr := run(t, "--server", url, "workspace", "list")
		if code != 1 || !strings.Contains(stderr, "no token for "+url) || !strings.Contains(stderr, filepath.Join(dataDir, "admin.token")) {
			t.Errorf("exit %d, stderr %q; want exit 1 and a message naming the URL and %s", code, stderr, filepath.Join(dataDir, "admin.token"))
		}
	})
	t.Run("config under HOME without XDG_CONFIG_HOME", func(t *testing.T) {
		isolate(t)
		t.Setenv("XDG_CONFIG_HOME", "")
		s := newServer(t)
		f := s.front()
		writeFile(t, filepath.Join(os.Getenv("HOME"), ".config", "trainyard", "config.yaml"), mustYAML(t, map[string]string{"server": f.URL, "token": s.token}))
		if code, _, stderr := run(t, "workspace", "list"); code != 0 || f.requests() == 0 {
			t.Errorf("exit %d, %d requests, stderr %q; want ~/.config/trainyard/config.yaml used", code, f.requests(), stderr)
		}
	})
}

// TestWorkspaceResolution: -w, else TRAINYARD_WORKSPACE, else the config file, else "default".
func TestWorkspaceResolution(t *testing.T) {
	tests := []struct {
		name               string
		flag, env, config  string
		wantWorkspaceInMsg string
	}{
		{name: "flag", flag: "ws-flag", env: "ws-env", config: "ws-config", wantWorkspaceInMsg: "ws-flag"},
		{name: "env", env: "ws-env", config: "ws-config", wantWorkspaceInMsg: "ws-env"},
		{name: "config", config: "ws-config", wantWorkspaceInMsg: "ws-config"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			configDir, _ := isolate(t)
			s := newServer(t)
			f := s.front()
			args := []string{"--server", f.URL, "--token", s.token}
			if tt.flag != "" {
				args = append(args, "-w", tt.flag)
			}
			t.Setenv("TRAINYARD_WORKSPACE", tt.env)
			if tt.config != "" {
				writeFile(t, filepath.Join(configDir, "trainyard", "config.yaml"), mustYAML(t, map[string]string{"workspace": tt.config}))
			}
			code, _, stderr := run(t, append(args, "job", "list")...)
			if want := fmt.Sprintf("workspace %q not found", tt.wantWorkspaceInMsg); code != 1 || !strings.Contains(stderr, want) {
				t.Errorf("exit %d, stderr %q; want exit 1 and %q", code, stderr, want)
			}
		})
	}
	t.Run("default", func(t *testing.T) {
		isolate(t)
		s := newServer(t)
		f := s.front()
		if code, stdout, stderr := run(t, "--server", f.URL, "--token", s.token, "job", "list"); code != 0 || !strings.Contains(stdout, "NAME") {
			t.Errorf("job list in the default workspace: exit %d, stdout %q, stderr %q", code, stdout, stderr)
		}
	})
}

// TestEveryCommandHasExample walks the command tree through the help of each command and
// checks that every command and subcommand shows an example.
func TestEveryCommandHasExample(t *testing.T) {
	isolate(t)
	var walk func(path []string)
	seen := 0
	walk = func(path []string) {
		code, stdout, stderr := run(t, append(slices.Clone(path), "--help")...)
		name := strings.Join(append([]string{"trainyard"}, path...), " ")
		if code != 0 {
			t.Errorf("%s --help: exit %d\n%s", name, code, stderr)
			return
		}
		seen++
		if !strings.Contains(stdout, "\nExamples:\n") {
			t.Errorf("%s has no example; its help:\n%s", name, stdout)
		}
		for _, sub := range subcommands(stdout) {
			if sub == "help" || sub == "completion" { // cobra's own
				continue
			}
			walk(append(slices.Clone(path), sub))
		}
	}
	walk(nil)
	// root, workspace (2), compute (6), job (8); server and agent are wired by package main
	if want := 1 + 1 + 2 + 1 + 6 + 1 + 8; seen < want {
		t.Errorf("walked %d commands, want at least %d", seen, want)
	}
}

// subcommands reads the names under "Available Commands:" in a command's help.
func subcommands(help string) []string {
	_, rest, ok := strings.Cut(help, "Available Commands:\n")
	if !ok {
		return nil
	}
	var out []string
	for _, line := range strings.Split(rest, "\n") {
		if strings.TrimSpace(line) == "" {
			break
		}
		out = append(out, strings.Fields(line)[0])
	}
	return out
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func mustYAML(t *testing.T, v any) string {
	t.Helper()
	b, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
