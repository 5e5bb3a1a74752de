package drivertest

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/trainyard/trainyard/internal/driver"
)

// stopCases are commands that Stop must end, both on a started and on a reattached task.
var stopCases = []struct {
	name    string
	command string // prints "ready" once its signal handling is in place
	grace   time.Duration
	want    driver.Exit
	killed  bool // ended by SIGKILL after the grace, not by SIGTERM
}{
	{
		name:    "exits on TERM",
		command: "echo ready; sleep 60",
		grace:   10 * time.Second,
		want:    driver.Exit{Code: -1, Signal: 15},
	},
	{
		name:    "ignores TERM",
		command: "trap '' TERM; echo ready; sleep 60",
		grace:   500 * time.Millisecond,
		want:    driver.Exit{Code: -1, Signal: 9},
		killed:  true,
	},
}

func testStop(t *testing.T, newDriver func(*testing.T) driver.Driver) {
	for _, tt := range stopCases {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			spec := newSpec(t, tt.command)
			task := start(t, newDriver(t), spec)
			waitForLog(t, spec, "ready")
			took := stop(t, task, tt.grace)
			checkStopTime(t, took, tt.grace, tt.killed)
			if got := wait(t, task); got != tt.want {
				t.Errorf("Wait() after Stop = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// checkStopTime checks that Stop took about the grace when it had to kill, and returned
// promptly when SIGTERM sufficed.
func checkStopTime(t *testing.T, took, grace time.Duration, killed bool) {
	t.Helper()
	const slack = 5 * time.Second // for loaded machines; a prompt stop takes milliseconds
	switch {
	case killed && took < grace:
		t.Errorf("Stop(%v) killed the task after %v, before the grace ran out", grace, took)
	case killed && took > grace+slack:
		t.Errorf("Stop(%v) took %v, want about the grace", grace, took)
	case !killed && took > slack:
		t.Errorf("Stop(%v) of a task that exits on SIGTERM took %v", grace, took)
	}
}

func testStopExited(t *testing.T, newDriver func(*testing.T) driver.Driver) {
	task := start(t, newDriver(t), newSpec(t, "exit 2"))
	want := driver.Exit{Code: 2}
	if got := wait(t, task); got != want {
		t.Fatalf("Wait() = %+v, want %+v", got, want)
	}
	for range 2 {
		took := stop(t, task, 10*time.Second)
		checkStopTime(t, took, 10*time.Second, false)
	}
	if got := wait(t, task); got != want {
		t.Errorf("Wait() after Stop = %+v, want %+v", got, want)
	}
}

// testStopKillsBackground checks that Stop ends processes the command left running in the
// background, even ones that ignore SIGTERM. Each holds the write end of a FIFO in the working
// dir, so the test sees it die as end of file, whatever pid namespace it runs in.
func testStopKillsBackground(t *testing.T, newDriver func(*testing.T) driver.Driver) {
	// The background child opens the FIFO, ignores TERM, says "up" (also as a file, for the
	// command) and sleeps.
	const child = "(exec 3>bg.fifo; trap '' TERM; echo up >&3; : > up; exec sleep 60) & "
	tests := []struct {
		name    string
		command string
	}{
		{name: "command running", command: child + "sleep 60"},
		// The command exits once its child is up: a child still starting when the command
		// exits may be ended before it says so, which is right, but not what this tests.
		{name: "command exited", command: child + "while [ ! -e up ]; do sleep 0.01; done; exit 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			spec := newSpec(t, tt.command)
			fifo := openFIFO(t, filepath.Join(spec.Dir, "bg.fifo"))
			task := start(t, newDriver(t), spec)
			readUp(t, fifo)
			stop(t, task, 200*time.Millisecond)
			if err := fifo.SetReadDeadline(time.Now().Add(waitTimeout)); err != nil {
				t.Fatal(err)
			}
			n, err := fifo.Read(make([]byte, 64))
			switch {
			case errors.Is(err, os.ErrDeadlineExceeded):
				t.Fatalf("a background child still runs %v after Stop returned", waitTimeout)
			case err != io.EOF:
				t.Fatalf("reading the FIFO after Stop: %d bytes, error %v; want end of file", n, err)
			}
		})
	}
}

// openFIFO makes a FIFO and opens its read end without blocking for a writer.
func openFIFO(t *testing.T, path string) *os.File {
	t.Helper()
	if err := syscall.Mkfifo(path, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// readUp reads the FIFO until the background child has said "up". Until a writer opens it,
// reads report end of file.
func readUp(t *testing.T, fifo *os.File) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	if err := fifo.SetReadDeadline(deadline); err != nil {
		t.Fatal(err)
	}
	var got strings.Builder
	buf := make([]byte, 64)
	for !strings.Contains(got.String(), "up\n") {
		n, err := fifo.Read(buf)
		got.Write(buf[:n])
		switch {
		case err == io.EOF && time.Now().Before(deadline):
			time.Sleep(10 * time.Millisecond) // no writer yet
		case err != nil:
			t.Fatalf("waiting for the background child: read %q, error %v", got.String(), err)
		}
	}
}
