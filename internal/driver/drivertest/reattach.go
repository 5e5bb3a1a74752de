package drivertest

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/trainyard/trainyard/internal/driver"
)

// testReattachRunning plays an agent restart: the first driver starts a task and is dropped;
// the task writes while no agent watches; a new driver reattaches and sees the task end.
func testReattachRunning(t *testing.T, newDriver func(*testing.T) driver.Driver) {
	spec := newSpec(t, "echo before; "+awaitFile("go")+"; echo away; "+
		awaitFile("release")+"; echo after; exit 7")
	start(t, newDriver(t), spec) // dropped, except by the test's cleanup
	waitForLog(t, spec, "before")

	touch(t, spec, "go")
	waitForLog(t, spec, "away") // written while the agent is away

	task := reattach(t, newDriver, spec)
	touch(t, spec, "release")
	if got, want := wait(t, task), (driver.Exit{Code: 7}); got != want {
		t.Errorf("reattached Wait() = %+v, want %+v", got, want)
	}
	if got, want := readLog(t, spec), "before\naway\nafter\n"; got != want {
		t.Errorf("log = %q, want %q", got, want)
	}
}

func testReattachStop(t *testing.T, newDriver func(*testing.T) driver.Driver) {
	for _, tt := range stopCases {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			spec := newSpec(t, tt.command)
			start(t, newDriver(t), spec)
			waitForLog(t, spec, "ready")

			task := reattach(t, newDriver, spec)
			took := stop(t, task, tt.grace)
			checkStopTime(t, took, tt.grace, tt.killed)
			if got := wait(t, task); got != tt.want {
				t.Errorf("reattached Wait() after Stop = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func testReattachFinished(t *testing.T, newDriver func(*testing.T) driver.Driver) {
	spec := newSpec(t, "echo done; exit 5")
	want := driver.Exit{Code: 5}
	if got := wait(t, start(t, newDriver(t), spec)); got != want {
		t.Fatalf("Wait() = %+v, want %+v", got, want)
	}
	for range 2 { // reattaching does not consume the recorded exit
		task := reattach(t, newDriver, spec)
		if got := wait(t, task); got != want {
			t.Errorf("reattached Wait() = %+v, want %+v", got, want)
		}
		stop(t, task, 0) // stopping a finished task is not an error
	}
}

func testReattachNotFound(t *testing.T, newDriver func(*testing.T) driver.Driver) {
	tests := []struct {
		name     string
		stateDir func(t *testing.T) string
	}{
		{name: "no state dir", stateDir: func(t *testing.T) string {
			return filepath.Join(t.TempDir(), "never-made")
		}},
		{name: "empty state dir", stateDir: func(t *testing.T) string { return t.TempDir() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			spec := newSpec(t, "true")
			spec.StateDir = tt.stateDir(t)
			ctx, cancel := context.WithTimeout(t.Context(), startTimeout)
			defer cancel()
			task, err := newDriver(t).Reattach(ctx, spec)
			if !errors.Is(err, driver.ErrNotFound) {
				t.Errorf("Reattach() = %v, %v; want error %v", task, err, driver.ErrNotFound)
			}
			if _, err := os.Stat(spec.LogPath); err == nil {
				t.Errorf("Reattach to nothing created the log")
			}
		})
	}
}
