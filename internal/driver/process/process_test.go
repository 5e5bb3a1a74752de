package process_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/trainyard/trainyard/internal/driver"
	"github.com/trainyard/trainyard/internal/driver/drivertest"
	"github.com/trainyard/trainyard/internal/driver/process"
)

// helperEnv, when set to a JSON TaskSpec, makes the test binary start that task and exit: an
// agent that dies and leaves its task to another process.
const helperEnv = "TRAINYARD_PROCESS_TEST_START"

func TestMain(m *testing.M) {
	if s := os.Getenv(helperEnv); s != "" {
		os.Exit(startAndExit(s))
	}
	os.Exit(m.Run())
}

func startAndExit(specJSON string) int {
	var spec driver.TaskSpec
	if err := json.Unmarshal([]byte(specJSON), &spec); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if _, err := process.New().Start(context.Background(), spec); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

func TestConformance(t *testing.T) {
	drivertest.Run(t, func(*testing.T) driver.Driver { return process.New() })
}

func TestStartErrors(t *testing.T) {
	tests := []struct {
		name   string
		driver *process.Driver
		edit   func(t *testing.T, spec *driver.TaskSpec)
		want   string // in the error
	}{
		{
			name:   "bash missing",
			driver: &process.Driver{Bash: "/nonexistent/bash"},
			want:   "find bash",
		},
		{
			name: "dir missing",
			edit: func(t *testing.T, s *driver.TaskSpec) { s.Dir = filepath.Join(s.Dir, "missing") },
			want: "working dir: stat",
		},
		{
			name: "dir is a file",
			edit: func(t *testing.T, s *driver.TaskSpec) { s.Dir = writeFile(t, s.Dir, "file", "") },
			want: "is not a directory",
		},
		{
			name: "no state dir",
			edit: func(t *testing.T, s *driver.TaskSpec) { s.StateDir = "" },
			want: "state dir is required",
		},
		{
			name: "state dir under a file",
			edit: func(t *testing.T, s *driver.TaskSpec) {
				s.StateDir = filepath.Join(writeFile(t, s.Dir, "file", ""), "state")
			},
			want: "state dir: mkdir",
		},
		{
			name: "no log path",
			edit: func(t *testing.T, s *driver.TaskSpec) { s.LogPath = "" },
			want: "log path is required",
		},
		{
			name: "bad env name",
			edit: func(t *testing.T, s *driver.TaskSpec) { s.Env = map[string]string{"A=B": "x"} },
			want: `bad variable name "A=B"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := tt.driver
			if d == nil {
				d = process.New()
			}
			spec := newSpec(t, "true")
			if tt.edit != nil {
				tt.edit(t, &spec)
			}
			task, err := d.Start(t.Context(), spec)
			if err == nil {
				_ = task.Stop(t.Context(), 0)
				t.Fatalf("Start() error = nil, want one containing %q", tt.want)
			}
			prefix := "process: start " + spec.ID + ": "
			if msg := err.Error(); !strings.HasPrefix(msg, prefix) || !strings.Contains(msg, tt.want) {
				t.Errorf("Start() error = %q, want %q then %q", msg, prefix, tt.want)
			}
		})
	}
}

func TestStartRefusesStateDirOfRunningTask(t *testing.T) {
	spec := newSpec(t, "sleep 60")
	task := start(t, spec)
	if again, err := process.New().Start(t.Context(), spec); err == nil {
		_ = again.Stop(t.Context(), 0)
		t.Fatalf("second Start() in the same StateDir: no error")
	} else if !strings.Contains(err.Error(), "still running") {
		t.Errorf("second Start() error = %v, want one saying a task is still running", err)
	}
	stop(t, task, 0)
	// Once it has ended, the StateDir may be used again.
	if got, want := wait(t, start(t, newSpecIn(spec, "exit 4"))), (driver.Exit{Code: 4}); got != want {
		t.Errorf("restarted task: Wait() = %+v, want %+v", got, want)
	}
}

// TestEnvIsMinimal checks the whole environment a task gets when its spec adds nothing.
func TestEnvIsMinimal(t *testing.T) {
	t.Setenv("LANG", "")
	spec := newSpec(t, "env")
	if got := wait(t, start(t, spec)); got != (driver.Exit{}) {
		t.Fatalf("Wait() = %+v, want success", got)
	}
	allowed := map[string]bool{"PATH": true, "HOME": true, "LANG": true, "USER": true,
		"TMPDIR": true, "PWD": true, "SHLVL": true, "_": true} // the last three set by bash
	var lang string
	for _, line := range strings.Split(strings.TrimSpace(readLog(t, spec)), "\n") {
		k, v, _ := strings.Cut(line, "=")
		if !allowed[k] {
			t.Errorf("task env holds %s", line)
		}
		if k == "LANG" {
			lang = v
		}
	}
	if lang != "C.UTF-8" {
		t.Errorf("task LANG = %q with the agent's unset, want C.UTF-8", lang)
	}
}

// TestReattachFromAnotherProcess starts a task from a process that then exits, as an agent
// that dies, and reattaches from this one, which is not the task's parent.
func TestReattachFromAnotherProcess(t *testing.T) {
	tests := []struct {
		name    string
		command string
		finish  func(t *testing.T, spec driver.TaskSpec, task driver.Task)
		want    driver.Exit
	}{
		{
			name:    "exits by itself",
			command: "echo ready; while [ ! -e release ]; do sleep 0.02; done; exit 9",
			finish: func(t *testing.T, spec driver.TaskSpec, task driver.Task) {
				writeFile(t, spec.Dir, "release", "")
			},
			want: driver.Exit{Code: 9},
		},
		{
			name:    "stopped",
			command: "trap '' TERM; echo ready; sleep 60",
			finish: func(t *testing.T, spec driver.TaskSpec, task driver.Task) {
				stop(t, task, 100*time.Millisecond)
			},
			want: driver.Exit{Code: -1, Signal: 9},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			spec := newSpec(t, tt.command)
			b, err := json.Marshal(spec)
			if err != nil {
				t.Fatal(err)
			}
			helper := exec.Command(os.Args[0])
			helper.Env = append(os.Environ(), helperEnv+"="+string(b))
			if out, err := helper.CombinedOutput(); err != nil {
				t.Fatalf("helper that starts the task: %v\n%s", err, out)
			}
			waitForLog(t, spec, "ready")

			task, err := process.New().Reattach(t.Context(), spec)
			if err != nil {
				t.Fatalf("Reattach() error: %v", err)
			}
			t.Cleanup(func() { _ = task.Stop(context.Background(), 0) })
			if ppid := procField(t, wrapperPid(t, spec), 4); ppid == strconv.Itoa(os.Getpid()) {
				t.Fatalf("the wrapper is this process's child; the test proves nothing")
			}
			tt.finish(t, spec, task)
			if got := wait(t, task); got != tt.want {
				t.Errorf("Wait() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestReattachDetectsPidReuse points a pid file at a live process that is not the task's
// wrapper, as happens when the wrapper's pid is given to a new process.
func TestReattachDetectsPidReuse(t *testing.T) {
	tests := []struct {
		name string
		exit string // content of the exit file; none if empty
		want driver.Exit
	}{
		{name: "exit recorded", exit: "3\n", want: driver.Exit{Code: 3}},
		{name: "signal recorded", exit: "143\n", want: driver.Exit{Code: -1, Signal: 15}},
		{name: "nothing recorded", want: driver.Exit{Lost: true}},
		{name: "recording cut short", exit: "14", want: driver.Exit{Lost: true}},
		{name: "recording emptied", exit: " ", want: driver.Exit{Lost: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			other := exec.Command("sleep", "60")
			other.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // a group Stop might hit
			if err := other.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = other.Process.Kill(); _ = other.Wait() })

			spec := newSpec(t, "true")
			if err := os.MkdirAll(spec.StateDir, 0o755); err != nil {
				t.Fatal(err)
			}
			// Its pid, with a start time that cannot be its own.
			writeFile(t, spec.StateDir, "pid", fmt.Sprintf("%d 1\n", other.Process.Pid))
			if tt.exit != "" {
				writeFile(t, spec.StateDir, "exit", tt.exit)
			}
			task, err := process.New().Reattach(t.Context(), spec)
			if err != nil {
				t.Fatalf("Reattach() error: %v", err)
			}
			if got := wait(t, task); got != tt.want {
				t.Errorf("Wait() = %+v, want %+v", got, tt.want)
			}
			stop(t, task, 0)
			// A signal takes effect a moment after kill returns: watch for a while.
			for end := time.Now().Add(200 * time.Millisecond); time.Now().Before(end); {
				if state := procField(t, other.Process.Pid, 3); state == "Z" || state == "" {
					t.Fatalf("Stop of the reattached task killed the process that reused its pid")
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
}

// TestWrapperKilled covers a wrapper killed from outside, leaving the command running: the
// parent sees the wrapper's death, a reattached task cannot know more than that it is lost,
// and Stop still ends the command.
func TestWrapperKilled(t *testing.T) {
	spec := newSpec(t, "echo $$ >cmd.pid; echo ready; sleep 60")
	started := start(t, spec)
	waitForLog(t, spec, "ready")
	reattached, err := process.New().Reattach(t.Context(), spec)
	if err != nil {
		t.Fatalf("Reattach() error: %v", err)
	}
	if err := syscall.Kill(wrapperPid(t, spec), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if got, want := wait(t, started), (driver.Exit{Code: -1, Signal: 9}); got != want {
		t.Errorf("starter's Wait() = %+v, want %+v", got, want)
	}
	if got, want := wait(t, reattached), (driver.Exit{Lost: true}); got != want {
		t.Errorf("reattached Wait() = %+v, want %+v", got, want)
	}
	cmdPid := readPid(t, filepath.Join(spec.Dir, "cmd.pid"))
	if procField(t, cmdPid, 3) == "" {
		t.Fatalf("the command died with its wrapper; the test proves nothing")
	}
	stop(t, reattached, 0)
	waitGone(t, cmdPid)
}

// TestStopKillsBackgroundByPid checks with /proc that a background child is gone after Stop.
func TestStopKillsBackgroundByPid(t *testing.T) {
	spec := newSpec(t, "sleep 60 & echo $! >bg.pid; echo ready; sleep 60")
	task := start(t, spec)
	waitForLog(t, spec, "ready")
	bg := readPid(t, filepath.Join(spec.Dir, "bg.pid"))
	stop(t, task, time.Second)
	waitGone(t, bg)
}

func TestBashEnvNotSourcedByWrapper(t *testing.T) {
	spec := newSpec(t, "echo command ran")
	rc := writeFile(t, spec.Dir, "rc.sh", "echo sourced\n")
	spec.Env = map[string]string{"BASH_ENV": rc}
	if got := wait(t, start(t, spec)); got != (driver.Exit{}) {
		t.Fatalf("Wait() = %+v, want success", got)
	}
	// The command's bash sources it, as the spec asks; the wrapper does not.
	if diff := cmp.Diff("sourced\ncommand ran\n", readLog(t, spec)); diff != "" {
		t.Errorf("log mismatch (-want +got):\n%s", diff)
	}
}
