package process_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trainyard/trainyard/internal/driver"
	"github.com/trainyard/trainyard/internal/driver/process"
)

const waitTimeout = 15 * time.Second

// newSpec is a spec for command in fresh directories; StateDir does not exist yet.
func newSpec(t *testing.T, command string) driver.TaskSpec {
	t.Helper()
	root := t.TempDir()
	spec := driver.TaskSpec{
		ID:       "process-test",
		Command:  command,
		Dir:      filepath.Join(root, "work"),
		LogPath:  filepath.Join(root, "task.log"),
		StateDir: filepath.Join(root, "state"),
	}
	if err := os.Mkdir(spec.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return spec
}

// newSpecIn is spec with another command, in the same directories.
func newSpecIn(spec driver.TaskSpec, command string) driver.TaskSpec {
	spec.Command = command
	return spec
}

// start starts spec with a new driver and stops the task when the test ends.
func start(t *testing.T, spec driver.TaskSpec) driver.Task {
	t.Helper()
	task, err := process.New().Start(t.Context(), spec)
	if err != nil {
		t.Fatalf("Start() error: %v", err)
	}
	t.Cleanup(func() { _ = task.Stop(context.Background(), 0) })
	return task
}

func wait(t *testing.T, task driver.Task) driver.Exit {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	exit, err := task.Wait(ctx)
	if err != nil {
		t.Fatalf("Wait() error: %v", err)
	}
	return exit
}

func stop(t *testing.T, task driver.Task, grace time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), grace+waitTimeout)
	defer cancel()
	if err := task.Stop(ctx, grace); err != nil {
		t.Fatalf("Stop() error: %v", err)
	}
}

func readLog(t *testing.T, spec driver.TaskSpec) string {
	t.Helper()
	b, err := os.ReadFile(spec.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func waitForLog(t *testing.T, spec driver.TaskSpec, want string) {
	t.Helper()
	for deadline := time.Now().Add(waitTimeout); ; time.Sleep(10 * time.Millisecond) {
		b, _ := os.ReadFile(spec.LogPath)
		if strings.Contains(string(b), want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("log never held %q; it holds:\n%s", want, b)
		}
	}
}

// writeFile writes dir/name and returns its path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// wrapperPid reads the wrapper's pid from the task's pid file ("PID STARTTIME").
func wrapperPid(t *testing.T, spec driver.TaskSpec) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(spec.StateDir, "pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.Fields(string(b))[0])
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// readPid reads a pid a command wrote to path.
func readPid(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// procField is field n (3 is the state, 4 the parent pid) of /proc/pid/stat, or "" if there
// is no such process.
func procField(t *testing.T, pid, n int) string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return ""
	}
	i := strings.LastIndexByte(string(b), ')')
	f := strings.Fields(string(b[i+1:]))
	if n-3 >= len(f) {
		t.Fatalf("/proc/%d/stat: too few fields", pid)
	}
	return f[n-3]
}

// waitGone waits for pid to exit: to leave /proc, or to be a zombie waiting for its reaper.
func waitGone(t *testing.T, pid int) {
	t.Helper()
	for deadline := time.Now().Add(waitTimeout); ; time.Sleep(10 * time.Millisecond) {
		if s := procField(t, pid, 3); s == "" || s == "Z" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d still runs after Stop", pid)
		}
	}
}
