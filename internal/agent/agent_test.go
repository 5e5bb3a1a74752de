package agent_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/api"
	"github.com/trainyard/trainyard/internal/agent"
	"github.com/trainyard/trainyard/internal/apiserver"
	"github.com/trainyard/trainyard/internal/driver/process"
	"github.com/trainyard/trainyard/internal/snapshot"
	"github.com/trainyard/trainyard/internal/store"
)

// These tests run a real API server over a real SQLite store, and a real agent with the process
// driver: jobs are bash commands, and everything they do is checked through the user API.

const (
	workspace = "default"
	compute   = "agent-test"
	// jobTimeout bounds how long a test waits for a job to reach a status; jobs here take a
	// few seconds at most.
	jobTimeout = 12 * time.Second
)

// testLog returns a logger that discards, or writes to stderr when TRAINYARD_TEST_LOG is set.
func testLog() *slog.Logger {
	if os.Getenv("TRAINYARD_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// env is a server, its store and an admin client; the server can be stopped and started again
// on the same address.
type env struct {
	t       *testing.T
	db      *store.DB
	dataDir string
	addr    string // host:port the server listens on, kept across restarts
	url     string
	srv     *httptest.Server
	admin   *api.Client
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := t.Context()
	dataDir := t.TempDir()
	db, err := store.Open(ctx, filepath.Join(dataDir, "trainyard.db"))
	if err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	tok := store.NewToken("tya")
	if err := db.ReplaceAdmin(ctx, tok); err != nil {
		t.Fatalf("ReplaceAdmin: %v", err)
	}
	_, _, err = db.CreateCompute(ctx, trainyard.ComputeTarget{Workspace: workspace, Name: compute, Type: trainyard.TypeAmlCompute,
		Location: "local", Size: trainyard.DefaultSize, Scale: trainyard.ScaleSettings{MaxNodes: 2}})
	if err != nil {
		t.Fatalf("CreateCompute: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, db: db, dataDir: dataDir, addr: ln.Addr().String(), url: "http://" + ln.Addr().String()}
	e.serve(ln)
	e.admin = api.NewClient(e.url, tok)
	t.Cleanup(e.stopServer)
	return e
}

// serve starts a fresh API server over the env's store on ln.
func (e *env) serve(ln net.Listener) {
	s := &apiserver.Server{
		Store: e.db, DataDir: e.dataDir, DefaultLocation: "local", Kick: func() {}, Log: testLog(),
		Sizes: func(loc string) ([]trainyard.VMSize, bool) {
			if loc == "local" {
				return trainyard.BuiltinSizes, true
			}
			return nil, false
		},
	}
	srv := httptest.NewUnstartedServer(s.Handler())
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	e.srv = srv
}

// stopServer stops the server as a crash would look to its clients: connections, long polls
// included, are cut.
func (e *env) stopServer() {
	if e.srv == nil {
		return
	}
	e.srv.CloseClientConnections()
	e.srv.Close()
	e.srv = nil
}

// restartServer starts a new server, over the same store and data dir, on the old address.
func (e *env) restartServer() {
	e.t.Helper()
	var ln net.Listener
	var err error
	deadline := time.Now().Add(5 * time.Second)
	for {
		if ln, err = net.Listen("tcp", e.addr); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		e.t.Fatalf("listen again on %s: %v", e.addr, err)
	}
	e.serve(ln)
}

// newNode records a preparing node of the test compute and returns its join token.
func (e *env) newNode(id string) string {
	e.t.Helper()
	join, err := e.db.CreateNode(e.t.Context(), trainyard.Node{ID: id, Workspace: workspace, Compute: compute})
	if err != nil {
		e.t.Fatalf("CreateNode: %v", err)
	}
	return join
}

// waitRegistered waits until a node is registered and its agent holds its node token.
func (e *env) waitRegistered(id, workDir string) {
	e.t.Helper()
	waitFor(e.t, id+" to register", func() bool {
		n, err := e.db.Node(e.t.Context(), id)
		b, _ := os.ReadFile(filepath.Join(workDir, "node.token"))
		return err == nil && n.State == trainyard.NodeIdle && len(b) > len("tyn_")
	})
}

// runningAgent is an agent's Run in a goroutine.
type runningAgent struct {
	cancel context.CancelFunc
	done   chan error
}

// stop ends the agent's Run (not its tasks) and returns what Run returned.
func (a *runningAgent) stop(t *testing.T) error {
	t.Helper()
	a.cancel()
	select {
	case err := <-a.done:
		a.done <- err // so a second stop (the cleanup) returns at once
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("agent.Run did not return within 10s of its context ending")
		return nil
	}
}

// agentConfig is the config of an agent for node id working in workDir.
func (e *env) agentConfig(id, join, workDir string) agent.Config {
	return agent.Config{ServerURL: e.url, NodeID: id, JoinToken: join, WorkDir: workDir, Address: "127.0.0.1",
		Driver: process.New(), StopGrace: 2 * time.Second, Log: testLog()}
}

// startAgent runs an agent until the test ends; tasks it leaves behind are killed then.
func (e *env) startAgent(cfg agent.Config) *runningAgent {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	a := &runningAgent{cancel: cancel, done: make(chan error, 1)}
	go func() { a.done <- agent.New(cfg).Run(ctx) }()
	e.t.Cleanup(func() {
		cancel()
		select {
		case err := <-a.done:
			a.done <- err
		case <-time.After(10 * time.Second):
			e.t.Error("agent.Run did not return within 10s of its context ending")
		}
		killTasks(cfg.WorkDir)
	})
	return a
}

// startNode creates a node and starts its agent, which registers with the join token.
func (e *env) startNode(id string) (*runningAgent, agent.Config) {
	e.t.Helper()
	cfg := e.agentConfig(id, e.newNode(id), filepath.Join(e.t.TempDir(), "node"))
	return e.startAgent(cfg), cfg
}

// killTasks kills the process groups of the tasks left under an agent's work dir.
func killTasks(workDir string) {
	files, _ := filepath.Glob(filepath.Join(workDir, "jobs", "*", "task", "pid"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		if pid, err := strconv.Atoi(strings.Fields(string(b) + " 0")[0]); err == nil && pid > 0 {
			syscall.Kill(-pid, syscall.SIGKILL)
		}
	}
}

// submit creates a job on the test compute.
func (e *env) submit(spec api.JobSpec) api.Job {
	e.t.Helper()
	if spec.Compute == (api.JobCompute{}) {
		spec.Compute = api.Named(compute)
	}
	j, err := e.admin.CreateJob(e.t.Context(), workspace, spec)
	if err != nil {
		e.t.Fatalf("CreateJob: %v", err)
	}
	return j
}

// waitJob polls a job until ok accepts it, and fails the test after timeout.
func (e *env) waitJob(name string, timeout time.Duration, what string, ok func(api.Job) bool) api.Job {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	var j api.Job
	var err error
	for time.Now().Before(deadline) {
		j, err = e.admin.Job(e.t.Context(), workspace, name)
		if err == nil && ok(j) {
			return j
		}
		time.Sleep(50 * time.Millisecond)
	}
	e.t.Fatalf("job %s: not %s after %s; last status %q (err %v, job error %+v)", name, what, timeout, j.Status, err, j.Error)
	return j
}

// waitEnd waits for a job to reach a terminal status.
func (e *env) waitEnd(name string) api.Job {
	e.t.Helper()
	return e.waitJob(name, jobTimeout, "finished", func(j api.Job) bool {
		return j.Status == string(trainyard.JobCompleted) || j.Status == string(trainyard.JobFailed) || j.Status == string(trainyard.JobCanceled)
	})
}

// log returns the job's whole log as the server holds it.
func (e *env) log(name string) string {
	e.t.Helper()
	c, err := e.admin.Logs(e.t.Context(), workspace, name, 0, 0)
	if err != nil {
		e.t.Fatalf("Logs: %v", err)
	}
	return string(c.Data)
}

// waitLog polls the server's log of a job until it contains want.
func (e *env) waitLog(name, want string) {
	e.t.Helper()
	deadline := time.Now().Add(jobTimeout)
	for time.Now().Before(deadline) {
		if strings.Contains(e.log(name), want) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	e.t.Fatalf("job %s: log never contained %q; it holds:\n%s", name, want, e.log(name))
}

// outputs returns the files of a job's uploaded outputs, by name.
func (e *env) outputs(name string) map[string]string {
	e.t.Helper()
	body, err := e.admin.Outputs(e.t.Context(), workspace, name)
	if err != nil {
		e.t.Fatalf("Outputs: %v", err)
	}
	defer body.Close()
	gz, err := gzip.NewReader(body)
	if err != nil {
		e.t.Fatalf("outputs are not gzip: %v", err)
	}
	files := map[string]string{}
	tr := tar.NewReader(gz)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			e.t.Fatalf("outputs are not a tar: %v", err)
		}
		if hdr.Typeflag == tar.TypeReg {
			b, _ := io.ReadAll(tr)
			files[hdr.Name] = string(b)
		}
	}
	return files
}

func TestJobCompletes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, cfg := e.startNode("node-a")

	// The code snapshot: the job reads a file of it.
	code := t.TempDir()
	os.MkdirAll(filepath.Join(code, "data"), 0o755)
	os.WriteFile(filepath.Join(code, "data", "input.txt"), []byte("from the snapshot\n"), 0o644)
	var buf bytes.Buffer
	if _, err := snapshot.Create(code, &buf, snapshot.DefaultLimits); err != nil {
		t.Fatalf("snapshot.Create: %v", err)
	}
	snap, err := e.admin.UploadSnapshot(t.Context(), workspace, &buf)
	if err != nil {
		t.Fatalf("UploadSnapshot: %v", err)
	}

	j := e.submit(api.JobSpec{
		Name: "hello",
		Code: snap.ID,
		Command: `echo "greeting=$GREETING"; echo "name=$TRAINYARD_JOB_NAME"; echo "outputs=$TRAINYARD_OUTPUTS_DIR"; ` +
			`echo "pwd=$PWD"; cat data/input.txt; echo 42 > outputs/result.txt; echo 7 > "${{outputs.model}}/weights.txt"`,
		EnvironmentVariables: map[string]string{"GREETING": "hello world"},
		Outputs:              map[string]any{"model": map[string]any{}},
	})
	got := e.waitEnd(j.Name)
	if got.Status != string(trainyard.JobCompleted) || got.ExitCode == nil || *got.ExitCode != 0 || got.Error != nil {
		t.Fatalf("job ended %s, exit %v, error %+v; want Completed, exit 0, no error\nlog:\n%s", got.Status, got.ExitCode, got.Error, e.log(j.Name))
	}
	if got.Node != "node-a" {
		t.Errorf("job ran on node %q, want node-a", got.Node)
	}

	log := e.log(j.Name)
	lines := map[string]string{}
	for _, l := range strings.Split(log, "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			lines[k] = v
		}
	}
	if lines["greeting"] != "hello world" {
		t.Errorf("GREETING in the job = %q, want %q (spec environment_variables)", lines["greeting"], "hello world")
	}
	if lines["name"] != "hello" {
		t.Errorf("TRAINYARD_JOB_NAME = %q, want hello", lines["name"])
	}
	workDir, _ := filepath.EvalSymlinks(cfg.WorkDir) // the job's $PWD is the physical path
	if want := lines["pwd"] + "/outputs"; lines["outputs"] != want || !strings.HasPrefix(lines["pwd"], workDir+"/") {
		t.Errorf("TRAINYARD_OUTPUTS_DIR = %q with the job in %q; want %q, under the work dir %s", lines["outputs"], lines["pwd"], want, workDir)
	}
	if !strings.Contains(log, "from the snapshot\n") {
		t.Errorf("the log lacks the snapshot file's content; the code was not unpacked? log:\n%s", log)
	}

	files := e.outputs(j.Name)
	if files["result.txt"] != "42\n" || files["model/weights.txt"] != "7\n" {
		t.Errorf("outputs = %q; want result.txt = \"42\\n\" and model/weights.txt = \"7\\n\"", files)
	}

	// The node's folder for the job is removed once the server has the end.
	waitFor(t, "the job folder to be removed", func() bool {
		dirs, _ := filepath.Glob(filepath.Join(cfg.WorkDir, "jobs", "*"))
		return len(dirs) == 0
	})
}

func TestJobFails(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.startNode("node-a")

	j := e.submit(api.JobSpec{Command: "echo about to fail; exit 3"})
	got := e.waitEnd(j.Name)
	if got.Status != string(trainyard.JobFailed) || got.ExitCode == nil || *got.ExitCode != 3 {
		t.Fatalf("job ended %s with exit %v; want Failed with exit code 3", got.Status, got.ExitCode)
	}
	if got.Error == nil || got.Error.Code != trainyard.ErrUserError {
		t.Errorf("job error = %+v, want code %s", got.Error, trainyard.ErrUserError)
	}
	if log := e.log(j.Name); log != "about to fail\n" {
		t.Errorf("log = %q, want %q", log, "about to fail\n")
	}
	// A failed job that wrote nothing has no outputs.
	if _, err := e.admin.Outputs(t.Context(), workspace, j.Name); !api.IsNotFound(err) {
		t.Errorf("Outputs of a job that wrote none: err = %v, want not_found", err)
	}

	// The node is free again: the next job runs.
	j2 := e.submit(api.JobSpec{Command: "true"})
	if got := e.waitEnd(j2.Name); got.Status != string(trainyard.JobCompleted) {
		t.Errorf("second job ended %s, want Completed", got.Status)
	}
}

// sleepJob is a job that runs sleep 60 and writes the sleep's pid to a file.
func sleepJob(t *testing.T) (api.JobSpec, string) {
	pidFile := filepath.Join(t.TempDir(), "sleep.pid")
	return api.JobSpec{
		Command:              `sleep 60 & echo $! > "$PIDFILE"; echo started; wait`,
		EnvironmentVariables: map[string]string{"PIDFILE": pidFile},
	}, pidFile
}

// readPid waits for a pid file and returns its pid.
func readPid(t *testing.T, path string) int {
	t.Helper()
	var pid int
	waitFor(t, "pid file "+path, func() bool {
		b, err := os.ReadFile(path)
		if err != nil {
			return false
		}
		pid, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil && pid > 0
	})
	return pid
}

// processGone reports whether pid has exited: not in /proc, or a zombie waiting for a reaper
// that a container's init may never be.
func processGone(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	f := strings.Fields(s[i+1:])
	return len(f) == 0 || f[0] == "Z" || f[0] == "X"
}

func TestCancelRunningJob(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.startNode("node-a")

	spec, pidFile := sleepJob(t)
	j := e.submit(spec)
	e.waitJob(j.Name, jobTimeout, "Running", func(j api.Job) bool { return j.Status == string(trainyard.JobRunning) })
	pid := readPid(t, pidFile)

	start := time.Now()
	if _, err := e.admin.CancelJob(t.Context(), workspace, j.Name); err != nil {
		t.Fatalf("CancelJob: %v", err)
	}
	got := e.waitJob(j.Name, 5*time.Second, "Canceled", func(j api.Job) bool { return j.Status == string(trainyard.JobCanceled) })
	t.Logf("canceled in %s", time.Since(start).Round(time.Millisecond))
	if got.Error != nil && got.Error.Code == trainyard.ErrJobTimeout {
		t.Errorf("a canceled job has error %+v", got.Error)
	}
	waitFor(t, fmt.Sprintf("the job's sleep (pid %d) to be gone", pid), func() bool { return processGone(pid) })
}

func TestTimeout(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.startNode("node-a")

	spec, pidFile := sleepJob(t)
	spec.Limits = &api.Limits{Timeout: &api.Seconds{Duration: time.Second}}
	j := e.submit(spec)
	pid := readPid(t, pidFile)
	got := e.waitJob(j.Name, 8*time.Second, "Canceled", func(j api.Job) bool { return j.Status == string(trainyard.JobCanceled) })
	if got.Error == nil || got.Error.Code != trainyard.ErrJobTimeout {
		t.Errorf("job error = %+v, want code %s", got.Error, trainyard.ErrJobTimeout)
	}
	if got.StartedAt != nil && got.EndedAt != nil {
		if d := got.EndedAt.Sub(*got.StartedAt); d < 900*time.Millisecond || d > 6*time.Second {
			t.Errorf("the job ran %s with limits.timeout 1s", d)
		}
	}
	waitFor(t, fmt.Sprintf("the job's sleep (pid %d) to be gone", pid), func() bool { return processGone(pid) })
}

// A job's timeout counts from when it started, not from when a restarted agent took it back:
// a job whose limit ran out while its agent was away is stopped as soon as the new one is up.
func TestTimeoutAcrossAgentRestart(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	first, cfg := e.startNode("node-a")

	spec, pidFile := sleepJob(t)
	spec.Limits = &api.Limits{Timeout: &api.Seconds{Duration: 3 * time.Second}}
	j := e.submit(spec)
	pid := readPid(t, pidFile)
	if err := first.stop(t); err != nil {
		t.Fatalf("first agent's Run = %v, want nil when its context ends", err)
	}
	time.Sleep(2 * time.Second)
	cfg.JoinToken = ""
	restarted := time.Now()
	e.startAgent(cfg)
	got := e.waitJob(j.Name, 10*time.Second, "Canceled", func(j api.Job) bool { return j.Status == string(trainyard.JobCanceled) })
	if got.Error == nil || got.Error.Code != trainyard.ErrJobTimeout {
		t.Fatalf("job error = %+v, want code %s", got.Error, trainyard.ErrJobTimeout)
	}
	// At most 1 s of the limit was left at the restart; counted again from there, it was 3 s.
	if d := got.EndedAt.Sub(restarted); d > 2500*time.Millisecond {
		t.Errorf("the job timed out %s after its agent restarted, %s after it started: its 3 s limit was counted from the restart",
			d.Round(time.Millisecond), got.EndedAt.Sub(*got.StartedAt).Round(time.Millisecond))
	}
	waitFor(t, fmt.Sprintf("the job's sleep (pid %d) to be gone", pid), func() bool { return processGone(pid) })
}

// countingJob prints "line 1" .. "line n", one every interval.
func countingJob(n int, interval string) (api.JobSpec, string) {
	var want strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&want, "line %d\n", i)
	}
	return api.JobSpec{Command: fmt.Sprintf(`for i in $(seq 1 %d); do echo "line $i"; sleep %s; done`, n, interval)}, want.String()
}

// jobDir returns the one job folder under an agent's work dir.
func jobDir(t *testing.T, workDir string) string {
	t.Helper()
	var dir string
	waitFor(t, "the job's folder on the node", func() bool {
		dirs, _ := filepath.Glob(filepath.Join(workDir, "jobs", "*"))
		if len(dirs) == 1 {
			dir = dirs[0]
		}
		return len(dirs) == 1
	})
	return dir
}

func TestServerOutage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// endsDuringOutage: the server comes back only after the task has ended, so the agent
		// must ship the log's tail, report and upload once it is back.
		endsDuringOutage bool
	}{
		{name: "job ends after the server is back"},
		{name: "job ends during the outage", endsDuringOutage: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			_, cfg := e.startNode("node-a")

			spec, want := countingJob(8, "0.2")
			spec.Command += "; echo done > outputs/done.txt"
			j := e.submit(spec)
			e.waitLog(j.Name, "line 1\n")
			dir := jobDir(t, cfg.WorkDir)

			e.stopServer()
			if tt.endsDuringOutage {
				waitFor(t, "the task to end", func() bool {
					_, err := os.Stat(filepath.Join(dir, "task", "exit"))
					return err == nil
				})
				time.Sleep(500 * time.Millisecond) // the agent tries to flush and report meanwhile
			} else {
				time.Sleep(700 * time.Millisecond)
				if _, err := os.Stat(filepath.Join(dir, "task", "exit")); err == nil {
					t.Fatal("the task ended during the outage; make the job longer")
				}
			}
			e.restartServer()

			got := e.waitEnd(j.Name)
			if got.Status != string(trainyard.JobCompleted) {
				t.Fatalf("job ended %s (error %+v), want Completed", got.Status, got.Error)
			}
			if log := e.log(j.Name); log != want {
				t.Errorf("log after the outage =\n%q\nwant every line exactly once:\n%q", log, want)
			}
			if files := e.outputs(j.Name); files["done.txt"] != "done\n" {
				t.Errorf("outputs = %q, want done.txt", files)
			}
		})
	}
}

func TestAgentRestartReattaches(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// endsWhileAway: the task ends before the new agent starts, which must still report it
		// with its exit code, log and outputs.
		endsWhileAway bool
	}{
		{name: "task still running"},
		{name: "task ended while the agent was away", endsWhileAway: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			first, cfg := e.startNode("node-a")

			spec, want := countingJob(6, "0.5")
			spec.Command += "; echo done > outputs/done.txt"
			j := e.submit(spec)
			e.waitLog(j.Name, "line 2\n")
			dir := jobDir(t, cfg.WorkDir)

			if err := first.stop(t); err != nil {
				t.Fatalf("first agent's Run = %v, want nil when its context ends", err)
			}
			exitFile := filepath.Join(dir, "task", "exit")
			if _, err := os.Stat(exitFile); err == nil {
				t.Fatal("the task ended before the agent stopped; the test proves nothing, make the job longer")
			}
			if st := e.waitJob(j.Name, time.Second, "readable", func(api.Job) bool { return true }); st.Status != string(trainyard.JobRunning) {
				t.Fatalf("job is %s after its agent stopped, want Running: the task keeps running", st.Status)
			}
			if tt.endsWhileAway {
				waitFor(t, "the task to end", func() bool {
					_, err := os.Stat(exitFile)
					return err == nil
				})
			}

			// The new agent has the node token in the work dir and no join token.
			cfg.JoinToken = ""
			e.startAgent(cfg)
			got := e.waitEnd(j.Name)
			if got.Status != string(trainyard.JobCompleted) || got.ExitCode == nil || *got.ExitCode != 0 {
				t.Fatalf("job ended %s with exit %v (error %+v), want Completed with exit 0", got.Status, got.ExitCode, got.Error)
			}
			if log := e.log(j.Name); log != want {
				t.Errorf("log after the agent restart =\n%q\nwant every line exactly once:\n%q", log, want)
			}
			if files := e.outputs(j.Name); files["done.txt"] != "done\n" {
				t.Errorf("outputs = %q, want done.txt", files)
			}
		})
	}
}

func TestRegistration(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	join := e.newNode("node-a")
	cfg := e.agentConfig("node-a", join, filepath.Join(t.TempDir(), "first"))
	e.startAgent(cfg)
	e.waitRegistered("node-a", cfg.WorkDir)
	if b, err := os.ReadFile(filepath.Join(cfg.WorkDir, "node.token")); err != nil || !strings.HasPrefix(string(b), "tyn_") {
		t.Errorf("node.token in the work dir = %q (%v), want a node token", b, err)
	}

	t.Run("join token works once", func(t *testing.T) {
		second := e.agentConfig("node-a", join, filepath.Join(t.TempDir(), "second"))
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		err := agent.New(second).Run(ctx)
		if !api.HasCode(err, string(trainyard.Unauthenticated)) {
			t.Errorf("second agent with the same join token: Run = %v, want an unauthenticated error", err)
		}
		if _, err := os.Stat(filepath.Join(second.WorkDir, "node.token")); err == nil {
			t.Error("the refused agent wrote a node token")
		}
	})

	t.Run("no token at all", func(t *testing.T) {
		c := e.agentConfig("node-a", "", filepath.Join(t.TempDir(), "none"))
		if err := agent.New(c).Run(t.Context()); err == nil {
			t.Error("an agent with neither a join token nor a node token: Run = nil, want an error")
		}
	})
}

func TestReleasedNodeStops(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a, cfg := e.startNode("node-a")
	e.waitRegistered("node-a", cfg.WorkDir)
	if err := e.db.DeleteNode(t.Context(), "node-a"); err != nil {
		t.Fatal(err)
	}
	// Nothing wakes the agent's held sync when the store changes behind the server's back;
	// cut it, and the agent syncs again at once.
	e.srv.CloseClientConnections()
	select {
	case err := <-a.done:
		a.done <- err
		if !errors.Is(err, agent.ErrReleased) {
			t.Errorf("Run of a deleted node's agent = %v, want ErrReleased", err)
		}
	case <-time.After(jobTimeout):
		t.Fatal("the agent of a deleted node did not stop")
	}
}

func TestIdleAgentGivesUp(t *testing.T) {
	t.Parallel()
	// A server that is gone for good: a port nobody listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	ln.Close()
	cfg := agent.Config{ServerURL: url, NodeID: "node-a", NodeToken: "tyn_x", WorkDir: t.TempDir(), Driver: process.New(),
		GiveUpAfter: 300 * time.Millisecond, Log: testLog()}
	start := time.Now()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	err = agent.New(cfg).Run(ctx)
	if err == nil || ctx.Err() != nil {
		t.Fatalf("Run = %v after %s, want it to give up with an error", err, time.Since(start))
	}
}

// waitFor polls cond until it holds, failing the test after a few seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(jobTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
