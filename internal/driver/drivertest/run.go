package drivertest

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trainyard/trainyard/internal/driver"
)

func testExitCode(t *testing.T, newDriver func(*testing.T) driver.Driver) {
	tests := []struct {
		name    string
		command string
		want    driver.Exit
	}{
		{name: "success", command: "true", want: driver.Exit{Code: 0}},
		{name: "exit 3", command: "echo about to fail; exit 3", want: driver.Exit{Code: 3}},
		{name: "status of the last command", command: "false", want: driver.Exit{Code: 1}},
		{name: "killed by SIGKILL", command: "kill -KILL $$", want: driver.Exit{Code: -1, Signal: 9}},
		{name: "killed by SIGTERM", command: "kill -TERM $$", want: driver.Exit{Code: -1, Signal: 15}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			task := start(t, newDriver(t), newSpec(t, tt.command))
			got := wait(t, task)
			if got != tt.want {
				t.Errorf("Wait() = %+v, want %+v", got, tt.want)
			}
			// Waiting again gives the same answer.
			if again := wait(t, task); again != got {
				t.Errorf("second Wait() = %+v, first gave %+v", again, got)
			}
		})
	}
}

func testOutput(t *testing.T, newDriver func(*testing.T) driver.Driver) {
	spec := newSpec(t, "echo out1; echo err1 >&2; echo out2; printf 'err2\\n' >&2")
	// The log is appended to, never truncated: a task may be started again with the same log.
	if err := os.WriteFile(spec.LogPath, []byte("earlier\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	task := start(t, newDriver(t), spec)
	if exit := wait(t, task); exit != (driver.Exit{}) {
		t.Fatalf("Wait() = %+v, want success", exit)
	}
	want := "earlier\nout1\nerr1\nout2\nerr2\n"
	if got := readLog(t, spec); got != want {
		t.Errorf("log = %q, want %q", got, want)
	}
}

func testEnv(t *testing.T, newDriver func(*testing.T) driver.Driver) {
	const canary = "TRAINYARD_SECRET_CANARY"
	const secret = "s3cr3t-must-not-reach-tasks"
	t.Setenv(canary, secret)

	spec := newSpec(t, "env")
	spec.Env = map[string]string{
		"TRAINYARD_GREETING": "hello, world",
		"TRAINYARD_EMPTY":    "",
		"HOME":               "/nonexistent/drivertest-home", // the spec wins over the base
	}
	task := start(t, newDriver(t), spec)
	if exit := wait(t, task); exit != (driver.Exit{}) {
		t.Fatalf("Wait() = %+v, want success; log:\n%s", exit, readLog(t, spec))
	}
	log := readLog(t, spec)
	env := parseEnv(log)
	for k, want := range spec.Env {
		if got, ok := env[k]; !ok || got != want {
			t.Errorf("task env %s = %q (set: %v), want %q", k, got, ok, want)
		}
	}
	if env["PATH"] == "" {
		t.Errorf("task env has no PATH")
	}
	if _, ok := env[canary]; ok || strings.Contains(log, secret) {
		t.Errorf("the agent's %s reached the task; its env:\n%s", canary, log)
	}
}

// parseEnv parses the output of env, one NAME=value a line.
func parseEnv(s string) map[string]string {
	env := make(map[string]string)
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			env[k] = v
		}
	}
	return env
}

func testWorkingDir(t *testing.T, newDriver func(*testing.T) driver.Driver) {
	spec := newSpec(t, "pwd -P; echo made >here.txt")
	task := start(t, newDriver(t), spec)
	if exit := wait(t, task); exit != (driver.Exit{}) {
		t.Fatalf("Wait() = %+v, want success; log:\n%s", exit, readLog(t, spec))
	}
	want, err := filepath.EvalSymlinks(spec.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(readLog(t, spec)); got != want {
		t.Errorf("pwd = %q, want %q", got, want)
	}
	if _, err := os.Stat(filepath.Join(spec.Dir, "here.txt")); err != nil {
		t.Errorf("file written to a relative path is not in Dir: %v", err)
	}
}

func testStartCreatesStateDir(t *testing.T, newDriver func(*testing.T) driver.Driver) {
	spec := newSpec(t, "true")
	spec.StateDir = filepath.Join(spec.StateDir, "nested", "deeper")
	task := start(t, newDriver(t), spec)
	if exit := wait(t, task); exit != (driver.Exit{}) {
		t.Fatalf("Wait() = %+v, want success", exit)
	}
	if fi, err := os.Stat(spec.StateDir); err != nil || !fi.IsDir() {
		t.Errorf("StateDir after Start: %v", err)
	}
}

func testStartMissingDir(t *testing.T, newDriver func(*testing.T) driver.Driver) {
	spec := newSpec(t, "true")
	spec.Dir = filepath.Join(spec.Dir, "missing")
	task, err := newDriver(t).Start(t.Context(), spec)
	if err == nil {
		_ = task.Stop(t.Context(), 0)
		t.Fatalf("Start with a missing Dir: no error")
	}
}
