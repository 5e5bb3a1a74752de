package local_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/trainyard/trainyard/internal/provider"
	"github.com/trainyard/trainyard/internal/provider/local"
	"github.com/trainyard/trainyard/internal/provider/providertest"
)

// The "agent binary" of these tests is bash running sleep: the provider appends the agent flags
// after Args, where bash takes them as positional parameters, and no server is needed. The
// command is not a lone sleep, so bash stays the process (it would exec a lone command) and
// /proc/PID shows the argv and environment the provider gave it.
var standIn = []string{"-c", "sleep 300; exit 0", "--"}

const target = "default/cpu-cluster"

var nodeSeq atomic.Int64

// newTemplate returns a template with a new node ID and join token.
func newTemplate(t *testing.T) provider.Template {
	n := nodeSeq.Add(1)
	return provider.Template{
		NodeID: fmt.Sprintf("cpu-cluster-%04x", n), Target: target, ServerURL: "http://127.0.0.1:1",
		JoinToken: fmt.Sprintf("tyj_secret%08d", n), VCPUs: 2, MemoryGiB: 7,
	}
}

func newProvider(t *testing.T) *local.Provider {
	return &local.Provider{Dir: filepath.Join(t.TempDir(), "nodes"), Binary: "/bin/bash", Args: standIn}
}

func TestConformance(t *testing.T) {
	providertest.Run(t, func(t *testing.T) provider.Provider { return newProvider(t) }, newTemplate)
}

// create creates an instance, deleting it (and killing its process, whatever Delete does) when
// the test ends, and returns the agent's pid.
func create(t *testing.T, p *local.Provider) (provider.Template, int) {
	t.Helper()
	tmpl := newTemplate(t)
	if _, err := p.Create(t.Context(), tmpl); err != nil {
		t.Fatalf("Create: %v", err)
	}
	pid, _ := readPidFile(t, filepath.Join(p.Dir, tmpl.NodeID, "pid"))
	t.Cleanup(func() {
		p.Delete(context.Background(), tmpl.NodeID)
		syscall.Kill(-pid, syscall.SIGKILL)
	})
	return tmpl, pid
}

// readPidFile reads "PID STARTTIME".
func readPidFile(t *testing.T, path string) (int, int64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("pid file: %v", err)
	}
	var pid int
	var start int64
	if n, err := fmt.Sscan(string(b), &pid, &start); n != 2 || pid <= 0 {
		t.Fatalf("pid file %s = %q (%v), want \"PID STARTTIME\"", path, b, err)
	}
	return pid, start
}

// stat returns the fields of /proc/PID/stat from field 3 (state) on, so field N is [N-3].
func stat(pid int) []string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil
	}
	s := string(b)
	return strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
}

// startTime is field 22 of /proc/PID/stat.
func startTime(t *testing.T, pid int) int64 {
	t.Helper()
	f := stat(pid)
	if len(f) < 20 {
		t.Fatalf("no /proc/%d/stat", pid)
	}
	v, err := strconv.ParseInt(f[22-3], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// gone reports whether pid has exited: not in /proc, or a zombie (a container's init may never
// reap an orphan).
func gone(pid int) bool {
	f := stat(pid)
	return len(f) == 0 || f[0] == "Z" || f[0] == "X"
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// state returns the listed state of id, or "absent".
func state(t *testing.T, p provider.Provider, id string) provider.State {
	t.Helper()
	insts, err := p.List(t.Context(), target)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	for _, in := range insts {
		if in.ID == id {
			return in.State
		}
	}
	return "absent"
}

// startFakeTask starts sleep 300 in a process group of its own, as the process driver starts
// a task, and records it as a task of node id. wrongStart records a start time off by one, as
// for a pid that another process has since been given.
func startFakeTask(t *testing.T, p *local.Provider, id string, wrongStart bool) int {
	t.Helper()
	cmd := exec.Command("sleep", "300")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	go cmd.Wait()
	t.Cleanup(func() { syscall.Kill(-pid, syscall.SIGKILL) })
	start := startTime(t, pid)
	if wrongStart {
		start++
	}
	dir := filepath.Join(p.Dir, id, "work", "jobs", "7", "task")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "pid"), fmt.Appendf(nil, "%d %d\n", pid, start), 0o644); err != nil {
		t.Fatal(err)
	}
	return pid
}

func TestJoinTokenInEnvironmentNotArgs(t *testing.T) {
	// Not parallel: it sets an environment variable.
	t.Setenv("TRAINYARD_TOKEN", "tya_admin_secret")
	p := newProvider(t)
	tmpl, pid := create(t, p)

	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		t.Fatal(err)
	}
	args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
	if bytes.Contains(cmdline, []byte(tmpl.JoinToken)) {
		t.Errorf("the join token is on the agent's command line: %q", args)
	}
	want := []string{"/bin/bash", "-c", "sleep 300; exit 0", "--", "--server", tmpl.ServerURL, "--node-id", tmpl.NodeID,
		"--work-dir", filepath.Join(p.Dir, tmpl.NodeID, "work")}
	if strings.Join(args, "\n") != strings.Join(want, "\n") {
		t.Errorf("agent argv = %q, want %q", args, want)
	}

	environ, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		t.Fatal(err)
	}
	env := strings.Split(string(environ), "\x00")
	has := func(kv string) bool {
		for _, e := range env {
			if e == kv {
				return true
			}
		}
		return false
	}
	if !has("TRAINYARD_JOIN_TOKEN=" + tmpl.JoinToken) {
		t.Errorf("TRAINYARD_JOIN_TOKEN=%s is not in the agent's environment", tmpl.JoinToken)
	}
	if !has("TRAINYARD_NODE_VCPUS=2") {
		t.Error("TRAINYARD_NODE_VCPUS=2 is not in the agent's environment")
	}
	for _, e := range env {
		if strings.HasPrefix(e, "TRAINYARD_TOKEN=") {
			t.Errorf("the agent inherited the server's %s", e)
		}
	}
	// Only the provider (root here, or the server's user) may read the node's files.
	if fi, err := os.Stat(filepath.Join(p.Dir, tmpl.NodeID, "work")); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("work dir: %v, mode %v; want 0700", err, fi.Mode().Perm())
	}
}

func TestAgentRunsInItsOwnSession(t *testing.T) {
	t.Parallel()
	p := newProvider(t)
	_, pid := create(t, p)
	f := stat(pid)
	self := stat(os.Getpid())
	if len(f) < 4 || len(self) < 4 {
		t.Fatal("cannot read /proc stat")
	}
	// Fields 5 and 6: process group and session.
	if f[3] == self[3] {
		t.Errorf("the agent is in our session %s; it must have its own to outlive the server", f[3])
	}
	if f[3] != strconv.Itoa(pid) || f[2] != strconv.Itoa(pid) {
		t.Errorf("agent pid %d has process group %s and session %s, want both %d (setsid)", pid, f[2], f[3], pid)
	}
}

// TestMain doubles as a stand-in server process for TestAgentOutlivesServer: run with
// LOCAL_TEST_HELPER_DIR set, the test binary creates one node and exits.
func TestMain(m *testing.M) {
	if dir := os.Getenv("LOCAL_TEST_HELPER_DIR"); dir != "" {
		var tmpl provider.Template
		if err := json.Unmarshal([]byte(os.Getenv("LOCAL_TEST_HELPER_TEMPLATE")), &tmpl); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		p := &local.Provider{Dir: dir, Binary: "/bin/bash", Args: standIn}
		if _, err := p.Create(context.Background(), tmpl); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestAgentOutlivesServer: a node created by a server process that then exits keeps running,
// and a new Provider over the same Dir (the restarted server) finds it and can delete it.
func TestAgentOutlivesServer(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "nodes")
	tmpl := newTemplate(t)
	b, _ := json.Marshal(tmpl)
	helper := exec.Command(os.Args[0])
	helper.Env = append(os.Environ(), "LOCAL_TEST_HELPER_DIR="+dir, "LOCAL_TEST_HELPER_TEMPLATE="+string(b))
	if out, err := helper.CombinedOutput(); err != nil {
		t.Fatalf("helper server: %v\n%s", err, out)
	}
	pid, _ := readPidFile(t, filepath.Join(dir, tmpl.NodeID, "pid"))
	t.Cleanup(func() { syscall.Kill(-pid, syscall.SIGKILL) })

	if gone(pid) {
		t.Fatal("the agent died with the server process that started it")
	}
	p := &local.Provider{Dir: dir, Binary: "/bin/bash", Args: standIn}
	if st := state(t, p, tmpl.NodeID); st != provider.Running {
		t.Fatalf("a new Provider over the same Dir lists %s as %s, want running", tmpl.NodeID, st)
	}
	if err := p.Delete(t.Context(), tmpl.NodeID); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	waitFor(t, "the agent to be gone", func() bool { return gone(pid) })
	if st := state(t, p, tmpl.NodeID); st != "absent" {
		t.Errorf("after Delete, %s is listed as %s", tmpl.NodeID, st)
	}
}

func TestNewProviderValueFindsInstance(t *testing.T) {
	t.Parallel()
	p := newProvider(t)
	tmpl, pid := create(t, p)
	p2 := &local.Provider{Dir: p.Dir, Binary: p.Binary, Args: p.Args}
	insts, err := p2.List(t.Context(), target)
	if err != nil {
		t.Fatal(err)
	}
	if len(insts) != 1 || insts[0].ID != tmpl.NodeID || insts[0].State != provider.Running || insts[0].Target != target ||
		insts[0].CreatedAt.IsZero() {
		t.Fatalf("a fresh Provider lists %+v, want %s running in %s with its creation time", insts, tmpl.NodeID, target)
	}
	if err := p2.Delete(t.Context(), tmpl.NodeID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the agent to be gone", func() bool { return gone(pid) })
	if _, err := os.Stat(filepath.Join(p.Dir, tmpl.NodeID)); !os.IsNotExist(err) {
		t.Errorf("the node's folder is still there after Delete (stat: %v)", err)
	}
}

func TestKilledAgentIsGone(t *testing.T) {
	t.Parallel()
	p := newProvider(t)
	tmpl, pid := create(t, p)
	if st := state(t, p, tmpl.NodeID); st != provider.Running {
		t.Fatalf("state = %s, want running", st)
	}
	syscall.Kill(-pid, syscall.SIGKILL)
	waitFor(t, "the killed agent to be listed as gone", func() bool { return state(t, p, tmpl.NodeID) == provider.Gone })
	if err := p.Delete(t.Context(), tmpl.NodeID); err != nil {
		t.Errorf("Delete of a gone instance = %v", err)
	}
	if st := state(t, p, tmpl.NodeID); st != "absent" {
		t.Errorf("after Delete, state = %s, want absent", st)
	}
}

func TestDeleteKillsTasks(t *testing.T) {
	t.Parallel()
	p := newProvider(t)
	tmpl, agentPid := create(t, p)
	task := startFakeTask(t, p, tmpl.NodeID, false)

	start := time.Now()
	if err := p.Delete(t.Context(), tmpl.NodeID); err != nil {
		t.Fatal(err)
	}
	t.Logf("Delete took %s", time.Since(start).Round(time.Millisecond))
	waitFor(t, "the agent to be gone", func() bool { return gone(agentPid) })
	waitFor(t, fmt.Sprintf("the task (pid %d) to be gone", task), func() bool { return gone(task) })
}

func TestPidReuseGuard(t *testing.T) {
	t.Parallel()

	t.Run("task", func(t *testing.T) {
		t.Parallel()
		p := newProvider(t)
		tmpl, _ := create(t, p)
		// The recorded task's pid now names another process: Delete must leave it alone.
		other := startFakeTask(t, p, tmpl.NodeID, true)
		if err := p.Delete(t.Context(), tmpl.NodeID); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
		if gone(other) {
			t.Error("Delete killed a process whose start time does not match the task's pid file")
		}
	})

	t.Run("agent", func(t *testing.T) {
		t.Parallel()
		p := newProvider(t)
		tmpl, pid := create(t, p)
		path := filepath.Join(p.Dir, tmpl.NodeID, "pid")
		_, start := readPidFile(t, path)
		if want := startTime(t, pid); start != want {
			t.Errorf("pid file start time = %d, want %d from /proc/%d/stat", start, want, pid)
		}
		if err := os.WriteFile(path, fmt.Appendf(nil, "%d %d", pid, start+1), 0o600); err != nil {
			t.Fatal(err)
		}
		if st := state(t, p, tmpl.NodeID); st != provider.Gone {
			t.Errorf("with a pid file whose start time is wrong, state = %s, want gone", st)
		}
		if err := p.Delete(t.Context(), tmpl.NodeID); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
		if gone(pid) {
			t.Error("Delete killed a process whose start time does not match the node's pid file")
		}
	})
}
