package process

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/trainyard/trainyard/internal/driver"
)

var _ driver.Task = (*task)(nil)

// pollInterval is how often a reattached task looks for its wrapper in /proc.
const pollInterval = 100 * time.Millisecond

// task is a started or reattached task. Its exit is found by one goroutine: reap when this
// process started the wrapper (and so must reap it), poll when another did.
type task struct {
	id       string
	stateDir string
	pid      int    // the wrapper's, which is also the process group id; 0 if unknown
	start    uint64 // the wrapper's start time, from /proc/PID/stat

	killed atomic.Bool // Stop sent SIGKILL while the task ran

	once sync.Once
	done chan struct{} // closed once exit is set
	exit driver.Exit
}

func newTask(id, stateDir string, pid int, start uint64) *task {
	return &task{id: id, stateDir: stateDir, pid: pid, start: start, done: make(chan struct{})}
}

func (t *task) ID() string { return t.id }

// Wait blocks until the task exits or ctx ends. Any number of goroutines may wait.
func (t *task) Wait(ctx context.Context) (driver.Exit, error) {
	return driver.AwaitExit(ctx, t.done, &t.exit)
}

// Stop sends SIGTERM to the task's process group, waits up to grace for the wrapper to exit,
// then sends SIGKILL to the group, which also ends any background process the command left
// behind. It returns once the task has exited. If ctx ends first, the group is killed at once
// and Stop returns ctx's error without waiting further.
func (t *task) Stop(ctx context.Context, grace time.Duration) error {
	if err := t.signal(syscall.SIGTERM); err != nil {
		return err
	}
	timer := time.NewTimer(grace)
	defer timer.Stop()
	var ctxErr error
	select {
	case <-t.done:
	case <-timer.C:
	case <-ctx.Done():
		ctxErr = ctx.Err()
	}
	select {
	case <-t.done:
	default:
		t.killed.Store(true) // before the signal, so poll sees it if the wrapper dies unrecorded
	}
	if err := t.signal(syscall.SIGKILL); err != nil {
		return err
	}
	if ctxErr != nil {
		return fmt.Errorf("process: stop %s: %w", t.id, ctxErr)
	}
	select {
	case <-t.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("process: stop %s: %w", t.id, ctx.Err())
	}
}

// signal sends sig to the task's process group. A group that is gone is not an error; nor is a
// pid that now names another process, which the group is not signalled through. (The group id
// stays taken while any member lives, so a live process with the wrapper's pid but another
// start time means our group is empty.)
func (t *task) signal(sig syscall.Signal) error {
	if t.pid <= 0 {
		return nil
	}
	if st, err := readProcStat(t.pid); err == nil && st.start != t.start {
		return nil
	}
	err := syscall.Kill(-t.pid, sig)
	if err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("process: signal %s (pgid %d): %w", t.id, t.pid, err)
	}
	return nil
}

// reap waits for the wrapper this process started.
func (t *task) reap(cmd *exec.Cmd) {
	_ = cmd.Wait() // a non-zero status is an error here; ProcessState has the detail
	// What the command left running in its group ends with it. The group's ID cannot have
	// been reused: it lives as long as any member does.
	_ = syscall.Kill(-t.pid, syscall.SIGKILL)
	if status, ok := readExitFile(t.stateDir); ok {
		t.finish(exitFromStatus(status))
		return
	}
	t.finish(exitFromProcessState(cmd.ProcessState))
}

// poll watches a wrapper that another process started, until it is gone.
func (t *task) poll() {
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for t.alive() {
		<-tick.C
	}
	t.finish(t.recordedExit())
}

// alive reports whether the wrapper still runs: its pid names a process with its start time
// that has not exited.
func (t *task) alive() bool {
	if t.pid <= 0 {
		return false
	}
	st, err := readProcStat(t.pid)
	return err == nil && st.start == t.start && !st.gone()
}

// recordedExit is the exit the wrapper recorded, for a wrapper that is gone.
func (t *task) recordedExit() driver.Exit {
	if status, ok := readExitFile(t.stateDir); ok {
		return exitFromStatus(status)
	}
	if t.killed.Load() {
		return driver.Exit{Code: -1, Signal: int(syscall.SIGKILL)}
	}
	return driver.Exit{Lost: true}
}

func (t *task) finish(e driver.Exit) {
	t.once.Do(func() {
		t.exit = e
		close(t.done)
	})
}
