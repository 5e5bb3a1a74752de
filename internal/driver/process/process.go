// Package process is the driver that runs a task as a process group on the agent's own machine.
//
// It owns the layout of a task's StateDir and the small bash wrapper that leads the group:
//
//	StateDir/pid   "PID STARTTIME\n": the wrapper's pid and its start time (field 22 of
//	               /proc/PID/stat), written by Start; Reattach uses the start time to tell the
//	               wrapper from a later process that was given the same pid.
//	StateDir/exit  "STATUS\n": the command's exit status as bash reports it, written by the
//	               wrapper (tmp file + rename) just before it exits.
//
// The wrapper runs the command with bash -c as a foreground child, so the command sees the
// default signal dispositions, and it survives SIGTERM, SIGINT and SIGHUP itself so that it
// can record how the command ended. Output goes to the log file, never to a pipe, so a task
// keeps running, and its status stays recoverable, when the agent that started it dies.
//
// Limits: a command that leaves its process group (setsid, setpgid) escapes Stop; and bash
// reports death by signal N as status 128+N, so a command that itself exits with 129..192 is
// reported as killed by signal status-128 (exit 137 reads as SIGKILL).
//
// The package is Linux-only (it reads /proc) and imports nothing beyond the standard library and
// the driver contract.
package process

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"

	"github.com/trainyard/trainyard/internal/driver"
)

var _ driver.Driver = (*Driver)(nil)

// Driver starts tasks as process groups on this machine. The zero value is ready to use and is
// safe for concurrent use; it keeps no record of the tasks it started, so a new Driver in a new
// agent process finds them with Reattach.
type Driver struct {
	// Bash is the bash that runs the wrapper and the command. Empty means "bash" looked up in the
	// agent's PATH.
	Bash string
}

// New returns a Driver that finds bash in the agent's PATH.
func New() *Driver { return &Driver{} }

// Start runs spec.Command in a new process group. The task does not depend on ctx, which only
// bounds the start itself: cancelling it later neither stops nor detaches the task.
func (d *Driver) Start(ctx context.Context, spec driver.TaskSpec) (driver.Task, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("process: start %s: %w", spec.ID, err)
	}
	if spec.Image != "" {
		return nil, fmt.Errorf("process: start %s: the task asks for image %s, which runs on the docker driver", spec.ID, spec.Image)
	}
	cmd, stateDir, err := d.command(spec)
	if err != nil {
		return nil, fmt.Errorf("process: start %s: %w", spec.ID, err)
	}
	if err := prepareStateDir(stateDir); err != nil {
		return nil, fmt.Errorf("process: start %s: %w", spec.ID, err)
	}
	if u := spec.User; u != nil {
		// The wrapper, running as u, records the exit status in the state dir.
		if err := os.Chown(stateDir, int(u.UID), int(u.GID)); err != nil {
			return nil, fmt.Errorf("process: start %s: %w", spec.ID, err)
		}
	}
	log, err := openLog(spec.LogPath)
	if err != nil {
		return nil, fmt.Errorf("process: start %s: %w", spec.ID, err)
	}
	defer log.Close() // the wrapper holds its own copy
	cmd.Stdout, cmd.Stderr = log, log
	gate, open, err := os.Pipe() // the wrapper starts the command once told "go" here
	if err != nil {
		return nil, fmt.Errorf("process: start %s: %w", spec.ID, err)
	}
	defer open.Close()
	cmd.ExtraFiles = []*os.File{gate}
	err = cmd.Start()
	gate.Close()
	if err != nil {
		return nil, fmt.Errorf("process: start %s: %w", spec.ID, err)
	}

	pid := cmd.Process.Pid
	st, err := readProcStat(pid) // we have not reaped it, so it is in /proc even if it exited
	if err == nil {
		err = writePidFile(stateDir, pid, st.start)
	}
	if err == nil {
		_, err = open.Write([]byte("go\n"))
	}
	if err != nil {
		// A task that Reattach cannot find must not be left running.
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		_ = cmd.Wait()
		return nil, fmt.Errorf("process: start %s: record pid: %w", spec.ID, err)
	}

	t := newTask(spec.ID, stateDir, pid, st.start)
	go t.reap(cmd)
	return t, nil
}

// Reattach finds the task started in spec.StateDir, by this or an earlier agent process.
func (d *Driver) Reattach(ctx context.Context, spec driver.TaskSpec) (driver.Task, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("process: reattach %s: %w", spec.ID, err)
	}
	if spec.StateDir == "" {
		return nil, fmt.Errorf("process: reattach %s: state dir is required", spec.ID)
	}
	stateDir, err := filepath.Abs(spec.StateDir)
	if err != nil {
		return nil, fmt.Errorf("process: reattach %s: %w", spec.ID, err)
	}
	pid, start, err := readPidFile(stateDir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if _, ok := readExitFile(stateDir); ok {
			// Started, then the agent died before recording the pid: the status survives.
			t := newTask(spec.ID, stateDir, 0, 0)
			t.finish(t.recordedExit())
			return t, nil
		}
		return nil, fmt.Errorf("process: reattach %s: %w", spec.ID, driver.ErrNotFound)
	case err != nil:
		return nil, fmt.Errorf("process: reattach %s: %w", spec.ID, err)
	}
	t := newTask(spec.ID, stateDir, pid, start)
	if !t.alive() {
		t.finish(t.recordedExit())
		return t, nil
	}
	go t.poll()
	return t, nil
}

// command builds the wrapper's command for spec, checking what can be checked before it runs.
func (d *Driver) command(spec driver.TaskSpec) (*exec.Cmd, string, error) {
	switch {
	case spec.StateDir == "":
		return nil, "", errors.New("state dir is required")
	case spec.LogPath == "":
		return nil, "", errors.New("log path is required")
	case spec.Dir == "":
		return nil, "", errors.New("working dir is required")
	}
	// The wrapper runs in spec.Dir, so it must be given an absolute StateDir.
	stateDir, err := filepath.Abs(spec.StateDir)
	if err != nil {
		return nil, "", err
	}
	fi, err := os.Stat(spec.Dir)
	if err != nil {
		return nil, "", fmt.Errorf("working dir: %w", err)
	}
	if !fi.IsDir() {
		return nil, "", fmt.Errorf("working dir %s is not a directory", spec.Dir)
	}
	name := d.Bash
	if name == "" {
		name = "bash"
	}
	bash, err := exec.LookPath(name)
	if err != nil {
		return nil, "", fmt.Errorf("find bash: %w", err)
	}
	env, err := taskEnv(agentEnv, spec.Env)
	if err != nil {
		return nil, "", err
	}
	attr := &syscall.SysProcAttr{Setpgid: true}
	if u := spec.User; u != nil {
		attr.Credential = &syscall.Credential{Uid: u.UID, Gid: u.GID, Groups: []uint32{}}
	}
	return &exec.Cmd{
		Path:        bash,
		Args:        wrapperArgs(stateDir, spec.Command),
		Dir:         spec.Dir,
		Env:         env,
		SysProcAttr: attr,
	}, stateDir, nil
}

// openLog opens the task's log for appending, creating it and its directory if need be.
func openLog(path string) (*os.File, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("log: %w", err)
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("log: %w", err)
	}
	return f, nil
}
