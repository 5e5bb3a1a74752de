// Package docker is the driver that runs each task in a container on the node's Docker engine.
//
// A task's container runs the task's command with bash (sh where the image has no bash) in
// spec.Dir, which is mounted at its own path; docker's init leads it and passes Stop's SIGTERM
// to the task's whole process group. The container's output is followed into spec.LogPath; its
// exit code is read from the engine, recorded, and only then is the container removed, so a
// task's status survives both the container and an agent restart. The driver never pulls an
// image: a task's image must exist on the node.
//
// The driver owns the layout of a task's StateDir:
//
//	StateDir/container  {"container": NAME, "log_offset": N}: the container's name, and the log's
//	                    size before the task wrote to it; written by Start before the container
//	                    is created.
//	StateDir/exit       "CODE\n": the container's exit code, written (tmp file + rename) once
//	                    the container has stopped and all its output is in the log.
//	StateDir/log.lock   locked by the one follower that appends the container's output to the log.
//
// Limits: docker reports death by signal N as exit code 128+N, so a command that itself exits
// with 129..192 is reported as killed by signal code-128, as with the process driver. The
// command's stdout and stderr reach the log as one stream. An image needs /bin/sh, and the
// engine needs its init (docker-init, which Debian's docker.io has).
//
// The package must not import the agent, the server or the providers.
package docker

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/moby/moby/client"

	"github.com/trainyard/trainyard/internal/driver"
	"github.com/trainyard/trainyard/internal/engine"
)

var _ driver.Driver = (*Driver)(nil)

// Driver runs tasks in containers. It is safe for concurrent use and keeps no record of the
// tasks it started, so a new Driver in a new agent process finds them with Reattach.
type Driver struct {
	// Client talks to the engine; engine.Connect makes one.
	Client *client.Client
	// Name makes container names unique per node, such as the node's ID: a task's container is
	// trainyard-NAME-TASKID. It is also the value of the containers' trainyard.driver label.
	Name string
	// Network is the containers' network mode: "host" when empty, or "container:ID" to join a
	// node container's network. Never the default bridge.
	Network string
	// GPUs, when above zero, passes all of the node's GPUs to every task.
	GPUs int
	// NanoCPUs and MemoryBytes limit every task container; 0 is no limit.
	NanoCPUs    int64
	MemoryBytes int64
	// DefaultImage is the image of tasks that name none.
	DefaultImage string
	// Log receives what the driver cannot return as an error; nil discards it.
	Log *slog.Logger
}

// Start creates and starts spec's container. The task does not depend on ctx, which only bounds
// the start itself.
func (d *Driver) Start(ctx context.Context, spec driver.TaskSpec) (driver.Task, error) {
	t, err := d.start(ctx, spec)
	if err != nil {
		return nil, fmt.Errorf("docker: start %s: %w", spec.ID, err)
	}
	go t.watch()
	return t, nil
}

func (d *Driver) start(ctx context.Context, spec driver.TaskSpec) (*task, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	switch {
	case d.Client == nil:
		return nil, errors.New("the driver has no engine client")
	case spec.ID == "":
		return nil, errors.New("task id is required")
	case spec.StateDir == "":
		return nil, errors.New("state dir is required")
	case spec.LogPath == "":
		return nil, errors.New("log path is required")
	case spec.Dir == "":
		return nil, errors.New("working dir is required")
	}
	image := spec.Image
	if image == "" {
		image = d.DefaultImage
	}
	if image == "" {
		return nil, errors.New("the task names no image, and the driver has no default image")
	}
	var err error
	if spec.Dir, err = filepath.Abs(spec.Dir); err != nil {
		return nil, err
	}
	if fi, err := os.Stat(spec.Dir); err != nil {
		return nil, fmt.Errorf("working dir: %w", err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("working dir %s is not a directory", spec.Dir)
	}
	stateDir, err := filepath.Abs(spec.StateDir)
	if err != nil {
		return nil, err
	}
	opts, err := d.createOptions(spec, image)
	if err != nil {
		return nil, err
	}
	if _, err := d.Client.ImageInspect(ctx, image); engine.IsNotFound(err) {
		return nil, fmt.Errorf("image %s does not exist locally, and trainyard never pulls images: build it with `make images` or an environment", image)
	} else if err != nil {
		return nil, fmt.Errorf("image %s: %w", image, err)
	}

	if err := prepareStateDir(stateDir); err != nil {
		return nil, err
	}
	offset, err := logSize(spec.LogPath)
	if err != nil {
		return nil, err
	}
	if err := writeState(stateDir, state{Container: opts.Name, LogOffset: offset}); err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	if err := d.create(ctx, opts); err != nil {
		return nil, err
	}
	if _, err := d.Client.ContainerStart(ctx, opts.Name, client.ContainerStartOptions{}); err != nil {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		_, _ = d.Client.ContainerRemove(rctx, opts.Name, client.ContainerRemoveOptions{Force: true})
		return nil, fmt.Errorf("start container %s: %w", opts.Name, err)
	}
	return d.newTask(spec.ID, opts.Name, stateDir, spec.LogPath, offset), nil
}

// create creates the container. A stopped container left by an earlier start of the same task
// is removed first; a running one is an error.
func (d *Driver) create(ctx context.Context, opts client.ContainerCreateOptions) error {
	_, err := d.Client.ContainerCreate(ctx, opts)
	if !engine.IsConflict(err) {
		if err != nil {
			return fmt.Errorf("create container %s: %w", opts.Name, err)
		}
		return nil
	}
	res, ierr := d.Client.ContainerInspect(ctx, opts.Name, client.ContainerInspectOptions{})
	if ierr == nil && res.Container.State != nil && res.Container.State.Running {
		return fmt.Errorf("container %s of an earlier start of this task still runs: stop that task first", opts.Name)
	}
	if _, err := d.Client.ContainerRemove(ctx, opts.Name, client.ContainerRemoveOptions{Force: true}); err != nil && !engine.IsNotFound(err) {
		return fmt.Errorf("remove the earlier container %s: %w", opts.Name, err)
	}
	if _, err := d.Client.ContainerCreate(ctx, opts); err != nil {
		return fmt.Errorf("create container %s: %w", opts.Name, err)
	}
	return nil
}

// Reattach finds the task started in spec.StateDir, by this or an earlier agent process: one
// whose container still runs resumes appending its output to the log.
func (d *Driver) Reattach(ctx context.Context, spec driver.TaskSpec) (driver.Task, error) {
	t, err := d.reattach(ctx, spec)
	if err != nil {
		return nil, fmt.Errorf("docker: reattach %s: %w", spec.ID, err)
	}
	return t, nil
}

func (d *Driver) reattach(ctx context.Context, spec driver.TaskSpec) (*task, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	switch {
	case d.Client == nil:
		return nil, errors.New("the driver has no engine client")
	case spec.StateDir == "":
		return nil, errors.New("state dir is required")
	}
	stateDir, err := filepath.Abs(spec.StateDir)
	if err != nil {
		return nil, err
	}
	st, err := readState(stateDir)
	if errors.Is(err, fs.ErrNotExist) {
		if code, ok := readExit(stateDir); ok {
			return d.newTask(spec.ID, "", stateDir, spec.LogPath, 0).finished(exitFromCode(code)), nil
		}
		return nil, driver.ErrNotFound
	} else if err != nil {
		return nil, err
	}
	t := d.newTask(spec.ID, st.Container, stateDir, spec.LogPath, st.LogOffset)
	if code, ok := readExit(stateDir); ok {
		t.remove(ctx) // the agent that recorded the exit may have died before removing it
		return t.finished(exitFromCode(code)), nil
	}
	res, err := d.Client.ContainerInspect(ctx, st.Container, client.ContainerInspectOptions{})
	switch {
	case engine.IsNotFound(err):
		return t.finished(driver.Exit{Lost: true}), nil
	case err != nil:
		return nil, fmt.Errorf("container %s: %w", st.Container, err)
	case res.Container.State != nil && res.Container.State.Status == "created":
		t.remove(ctx) // created, never started: the agent died in Start
		return t.finished(driver.Exit{Lost: true}), nil
	}
	go t.watch()
	return t, nil
}

// logSize creates the log if need be, and returns its size.
func logSize(path string) (int64, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return 0, fmt.Errorf("log: %w", err)
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return 0, fmt.Errorf("log: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("log: %w", err)
	}
	return fi.Size(), nil
}

func (d *Driver) logger() *slog.Logger {
	if d.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return d.Log
}
