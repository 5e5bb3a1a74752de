// Package driver defines how one task runs on a node: the contract between the agent and the
// ways of running a command (a process today, a container later). Implementations live in
// sub-packages and pass the drivertest conformance suite.
//
// A task must outlive the agent that started it: its output goes to files, not pipes, and its
// exit status is recorded where Reattach finds it, so an agent restart never orphans a
// training job.
package driver

import (
	"context"
	"errors"
	"time"
)

// TaskSpec is everything a driver needs to start one task.
type TaskSpec struct {
	ID      string            // unique on the node; names the task for Reattach
	Command string            // run with bash -c
	Dir     string            // working directory, already populated
	Env     map[string]string // added to a minimal base environment
	// LogPath receives the task's stdout and stderr, interleaved, appended as they are written.
	LogPath string
	// StateDir is a directory the driver owns for this task (pid, exit status).
	StateDir string
	// User, when set, is the account the task runs as; nil runs it as the agent's own. An
	// agent running as root runs jobs as an unprivileged user, so a job cannot read the
	// server's tokens and keys.
	User *User

	// Image, when set, runs the task in a container of that image: the docker driver's work.
	// The process driver refuses a spec with an image.
	Image string
	// ShmSize is the size of the container's /dev/shm in bytes; 0 keeps the default (2 GiB).
	ShmSize int64
	// DockerArgs are extra `docker run` options, as the job gave them; dockerargs.Parse
	// checked them when the job was submitted.
	DockerArgs string
	// ReadOnly are host folders a container sees at the same path, read-only (the Python
	// helper on PYTHONPATH). Dir is mounted read-write at its own path.
	ReadOnly []string
}

// User is an account on the node.
type User struct {
	Name     string
	UID, GID uint32
}

// Exit is how a task ended.
type Exit struct {
	Code   int  // exit status; -1 when killed by a signal
	Signal int  // the signal that ended it, 0 if none
	Lost   bool // the task vanished and its status could not be recovered
}

// Task is a started task.
type Task interface {
	ID() string
	// Wait blocks until the task exits or ctx ends.
	Wait(ctx context.Context) (Exit, error)
	// Stop sends SIGTERM to the task's whole process group, waits up to grace, then SIGKILL.
	// Stopping a task that has exited is not an error.
	Stop(ctx context.Context, grace time.Duration) error
}

// Driver starts and re-attaches tasks.
type Driver interface {
	Start(ctx context.Context, spec TaskSpec) (Task, error)
	// Reattach finds a task started earlier, perhaps by another agent process, from its spec's
	// StateDir. It returns ErrNotFound when no such task was ever started there.
	Reattach(ctx context.Context, spec TaskSpec) (Task, error)
}

// ErrNotFound means Reattach found no task.
var ErrNotFound = errors.New("driver: task not found")

// AwaitExit is a Task's Wait for implementations that close done once *exit is set: *exit
// when done is closed (even if ctx has ended too), else ctx's error when ctx ends first.
func AwaitExit(ctx context.Context, done <-chan struct{}, exit *Exit) (Exit, error) {
	select {
	case <-done:
		return *exit, nil
	default:
	}
	select {
	case <-done:
		return *exit, nil
	case <-ctx.Done():
		return Exit{}, ctx.Err()
	}
}
