package docker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/client"

	"github.com/trainyard/trainyard/internal/engine"
)

// retryInterval is how long the driver waits before asking an engine that failed again.
const retryInterval = time.Second

// follow appends the container's output to the task's log until the container has stopped and
// all of its output is in the log.
//
// Only one follower writes a task's log at a time: each holds an exclusive lock on the state
// dir's log.lock, which the kernel releases when an agent dies. A follower that takes over skips
// as many bytes of the container's output as the log has gained since Start (the log's size
// less the offset Start recorded), so a restarted agent neither repeats nor loses output.
func (t *task) follow(ctx context.Context) error {
	unlock, err := t.lockLog(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	for {
		err := t.copyLogs(ctx)
		switch {
		case engine.IsNotFound(err):
			return nil // removed: whoever removed it had the whole log first
		case err == nil:
			// The stream ends when the container stops, or when the engine goes away.
			select {
			case <-t.exited:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(retryInterval):
			}
		default:
			t.log.Warn("following task output", "task_id", t.id, "container", t.name, "err", err)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(retryInterval):
			}
		}
	}
}

// copyLogs follows the container's output from its start, skipping what the log already has.
func (t *task) copyLogs(ctx context.Context) error {
	f, err := os.OpenFile(t.logPath, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("log: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("log: %w", err)
	}
	rc, err := t.client.ContainerLogs(ctx, t.name, client.ContainerLogsOptions{
		ShowStdout: true, ShowStderr: true, Follow: true,
	})
	if err != nil {
		return err
	}
	defer rc.Close()
	w := &skipWriter{w: f, skip: max(fi.Size()-t.logOffset, 0)}
	_, err = stdcopy.StdCopy(w, w, rc)
	return err
}

// lockLog takes the task's log lock, waiting while another follower holds it.
func (t *task) lockLog(ctx context.Context) (unlock func(), err error) {
	f, err := os.OpenFile(filepath.Join(t.stateDir, lockFile), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("log lock: %w", err)
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil // closing the file releases the lock
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, fmt.Errorf("log lock: %w", err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// skipWriter drops the first skip bytes written to it and passes on the rest.
type skipWriter struct {
	w    io.Writer
	skip int64
}

func (s *skipWriter) Write(p []byte) (int, error) {
	n := len(p)
	if s.skip >= int64(n) {
		s.skip -= int64(n)
		return n, nil
	}
	p = p[s.skip:]
	s.skip = 0
	if _, err := s.w.Write(p); err != nil {
		return 0, err
	}
	return n, nil
}
