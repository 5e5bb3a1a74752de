// Package drivertest is the conformance suite for the driver contract: every driver.Driver
// implementation runs Run in its tests and must pass it.
//
// The suite's commands use only bash and coreutils, so a driver that runs tasks in a container
// with those tools can run it too. It assumes the task sees spec.Dir at the same path as the
// test: it checks pwd, and talks to the task through files and a FIFO there (never through
// pids, which a container would not share). It must only be imported by tests, and imports
// only the standard library and the driver contract.
package drivertest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trainyard/trainyard/internal/driver"
)

// Timeouts for things that should happen in well under a second; generous, for loaded machines.
const (
	startTimeout = 30 * time.Second
	waitTimeout  = 15 * time.Second
)

// Run checks that the drivers newDriver makes meet the driver contract. newDriver is called
// once per test and again wherever a test plays an agent restart, so each call must return a
// driver with no memory of tasks started through another. Run sets an environment variable
// with t.Setenv, so it must not be called from a parallel test.
func Run(t *testing.T, newDriver func(t *testing.T) driver.Driver) {
	// Sequential: it sets an environment variable, which parallel tests must not see changed.
	t.Run("Env", func(t *testing.T) { testEnv(t, newDriver) })

	tests := []struct {
		name string
		run  func(*testing.T, func(*testing.T) driver.Driver)
	}{
		{"ExitCode", testExitCode},
		{"Output", testOutput},
		{"WorkingDir", testWorkingDir},
		{"StartCreatesStateDir", testStartCreatesStateDir},
		{"StartMissingDir", testStartMissingDir},
		{"WaitContext", testWaitContext},
		{"WaitConcurrentWithStop", testWaitConcurrentWithStop},
		{"Stop", testStop},
		{"StopExited", testStopExited},
		{"StopKillsBackground", testStopKillsBackground},
		{"ReattachRunning", testReattachRunning},
		{"ReattachStop", testReattachStop},
		{"ReattachFinished", testReattachFinished},
		{"ReattachNotFound", testReattachNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.run(t, newDriver)
		})
	}
}

// newSpec is a spec for command in fresh directories. Dir exists; StateDir does not, since
// Start must make it.
func newSpec(t *testing.T, command string) driver.TaskSpec {
	t.Helper()
	root := t.TempDir()
	spec := driver.TaskSpec{
		ID:       taskID(t),
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

// taskID is a fresh task id that is safe as a container or file name.
func taskID(t *testing.T) string {
	t.Helper()
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "drivertest-" + hex.EncodeToString(b)
}

// start starts spec with d and makes sure the task is stopped when the test ends.
func start(t *testing.T, d driver.Driver, spec driver.TaskSpec) driver.Task {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), startTimeout)
	defer cancel()
	task, err := d.Start(ctx, spec)
	if err != nil {
		t.Fatalf("Start(%q) error: %v", spec.Command, err)
	}
	if got := task.ID(); got != spec.ID {
		t.Errorf("Task.ID() = %q, want %q", got, spec.ID)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		if err := task.Stop(ctx, 0); err != nil {
			t.Errorf("cleanup: Stop error: %v", err)
		}
	})
	return task
}

// reattach reattaches to spec's task with a new driver, as a restarted agent would.
func reattach(t *testing.T, newDriver func(*testing.T) driver.Driver, spec driver.TaskSpec) driver.Task {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), startTimeout)
	defer cancel()
	task, err := newDriver(t).Reattach(ctx, spec)
	if err != nil {
		t.Fatalf("Reattach error: %v", err)
	}
	if got := task.ID(); got != spec.ID {
		t.Errorf("reattached Task.ID() = %q, want %q", got, spec.ID)
	}
	return task
}

// wait waits for task to exit.
func wait(t *testing.T, task driver.Task) driver.Exit {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	exit, err := task.Wait(ctx)
	if err != nil {
		t.Fatalf("Wait error: %v", err)
	}
	return exit
}

// stop stops task with the given grace and returns how long Stop took.
func stop(t *testing.T, task driver.Task, grace time.Duration) time.Duration {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), grace+waitTimeout)
	defer cancel()
	began := time.Now()
	if err := task.Stop(ctx, grace); err != nil {
		t.Fatalf("Stop(%v) error: %v", grace, err)
	}
	return time.Since(began)
}

// waitForLog polls spec's log until it contains want, and returns the log.
func waitForLog(t *testing.T, spec driver.TaskSpec, want string) string {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		log := readLog(t, spec)
		if strings.Contains(log, want) {
			return log
		}
		if time.Now().After(deadline) {
			t.Fatalf("log never held %q; it holds:\n%s", want, log)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func readLog(t *testing.T, spec driver.TaskSpec) string {
	t.Helper()
	b, err := os.ReadFile(spec.LogPath)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return string(b)
}

// touch creates the file name in spec's working dir, which the suite's commands wait for.
func touch(t *testing.T, spec driver.TaskSpec, name string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(spec.Dir, name), nil, 0o644); err != nil {
		t.Fatal(err)
	}
}

// awaitFile is a shell snippet that waits for the file name to appear in the working dir.
func awaitFile(name string) string {
	return "while [ ! -e " + name + " ]; do sleep 0.02; done"
}
