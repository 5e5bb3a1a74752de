package docker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/trainyard/trainyard/internal/driver"
	"github.com/trainyard/trainyard/internal/engine"
)

var _ driver.Task = (*task)(nil)

// errGone means the container vanished before its exit code could be read.
var errGone = errors.New("container is gone")

// task is a started or reattached task. One goroutine, watch, follows its container until it
// has stopped, its output is in the log and its exit is recorded.
type task struct {
	client    *client.Client
	log       *slog.Logger
	id        string
	name      string // the container's
	stateDir  string
	logPath   string
	logOffset int64

	exitedOnce sync.Once
	exited     chan struct{} // closed once the container has stopped

	doneOnce sync.Once
	done     chan struct{} // closed once exit is set
	exit     driver.Exit
}

func (d *Driver) newTask(id, name, stateDir, logPath string, logOffset int64) *task {
	return &task{
		client: d.Client, log: d.logger(), id: id, name: name,
		stateDir: stateDir, logPath: logPath, logOffset: logOffset,
		exited: make(chan struct{}), done: make(chan struct{}),
	}
}

func (t *task) ID() string { return t.id }

// Wait blocks until the task has exited and all its output is in the log, or ctx ends. Any
// number of goroutines may wait.
func (t *task) Wait(ctx context.Context) (driver.Exit, error) {
	return driver.AwaitExit(ctx, t.done, &t.exit)
}

// Stop sends SIGTERM to the container, which its init passes on to the task's whole process
// group, waits up to grace for the container to stop, then kills it with SIGKILL, and with it
// every process it holds. It returns once the task has exited. If ctx ends first, the container
// is killed at once and Stop returns ctx's error without waiting further.
func (t *task) Stop(ctx context.Context, grace time.Duration) error {
	select {
	case <-t.exited:
		return t.waitDone(ctx)
	default:
	}
	if err := t.signal(ctx, "SIGTERM"); err != nil {
		return err
	}
	timer := time.NewTimer(grace)
	defer timer.Stop()
	var ctxErr error
	select {
	case <-t.exited:
	case <-timer.C:
	case <-ctx.Done():
		ctxErr = ctx.Err()
	}
	select {
	case <-t.exited:
	default:
		kctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if err := t.signal(kctx, "SIGKILL"); err != nil {
			return err
		}
	}
	if ctxErr != nil {
		return fmt.Errorf("docker: stop %s: %w", t.id, ctxErr)
	}
	return t.waitDone(ctx)
}

func (t *task) waitDone(ctx context.Context) error {
	select {
	case <-t.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("docker: stop %s: %w", t.id, ctx.Err())
	}
}

// signal sends sig to the container's init. A container that has stopped or is gone is not an
// error.
func (t *task) signal(ctx context.Context, sig string) error {
	_, err := t.client.ContainerKill(ctx, t.name, client.ContainerKillOptions{Signal: sig})
	if err != nil && !engine.IsNotFound(err) && !engine.IsConflict(err) {
		return fmt.Errorf("docker: stop %s: %s to container %s: %w", t.id, sig, t.name, err)
	}
	return nil
}

// watch follows the container until it has stopped and its output is all in the log, records
// its exit code in the state dir and then removes it. The task does not depend on the context
// of the call that started it; watch ends when the container does.
func (t *task) watch() {
	ctx := context.Background()
	logs := make(chan error, 1)
	go func() { logs <- t.follow(ctx) }()
	code, err := t.waitExit(ctx)
	t.exitedOnce.Do(func() { close(t.exited) })
	<-logs

	if err != nil { // gone: perhaps another agent recorded the exit and removed it
		exit := driver.Exit{Lost: true}
		if code, ok := readExit(t.stateDir); ok {
			exit = exitFromCode(code)
		}
		t.finish(exit)
		return
	}
	if err := writeExit(t.stateDir, code); err != nil {
		// Keep the container: it holds the only record of how the task ended.
		t.log.Error("recording the exit of a task", "task_id", t.id, "container", t.name, "err", err)
	} else {
		t.remove(ctx)
	}
	t.finish(exitFromCode(code))
}

// waitExit waits for the container to stop and returns its exit code, or errGone.
func (t *task) waitExit(ctx context.Context) (int, error) {
	for {
		w := t.client.ContainerWait(ctx, t.name, client.ContainerWaitOptions{Condition: container.WaitConditionNotRunning})
		select {
		case r := <-w.Result:
			return int(r.StatusCode), nil
		case err := <-w.Error:
			if engine.IsNotFound(err) {
				return 0, errGone
			}
			t.log.Warn("waiting for a task's container", "task_id", t.id, "container", t.name, "err", err)
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(retryInterval):
		}
	}
}

// remove removes the container; one that is gone already is not an error.
func (t *task) remove(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	_, err := t.client.ContainerRemove(ctx, t.name, client.ContainerRemoveOptions{Force: true})
	if err != nil && !engine.IsNotFound(err) && !engine.IsConflict(err) { // conflict: removal under way
		t.log.Warn("removing a task's container", "task_id", t.id, "container", t.name, "err", err)
	}
}

// finished makes t a task that has ended with e.
func (t *task) finished(e driver.Exit) *task {
	t.exitedOnce.Do(func() { close(t.exited) })
	t.finish(e)
	return t
}

func (t *task) finish(e driver.Exit) {
	t.doneOnce.Do(func() {
		t.exit = e
		close(t.done)
	})
}
