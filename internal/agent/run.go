package agent

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/api"
	"github.com/trainyard/trainyard/internal/driver"
	"github.com/trainyard/trainyard/internal/snapshot"
)

// run is one job on this node, from preparation to its last report.
type run struct {
	a    *Agent
	as   api.Assignment
	dir  string // the job's folder on the node: assignment.json, code/, task/, std_log.txt
	task driver.Task

	shipped int64  // log offset the server held when shipping stopped
	logBuf  []byte // shipFrom's, kept between ticks

	ending   atomic.Bool // the run's end is reported, or being reported: only that and clean-up are left
	stopOnce sync.Once
	stopReq  chan struct{}
}

func newRun(a *Agent, as api.Assignment, task driver.Task) *run {
	return &run{a: a, as: as, task: task, stopReq: make(chan struct{}),
		dir: filepath.Join(a.cfg.JobsDir, jobDirName(as.JobID))}
}

// requestStop asks the run to stop and reports whether it had not been asked before.
func (r *run) requestStop() bool {
	fresh := false
	r.stopOnce.Do(func() { close(r.stopReq); fresh = true })
	return fresh
}

func (r *run) codeDir() string    { return filepath.Join(r.dir, "code") }
func (r *run) outputsDir() string { return filepath.Join(r.codeDir(), "outputs") }
func (r *run) logPath() string    { return filepath.Join(r.dir, "std_log.txt") }

// jobPath is the API path of one of the job's agent routes, naming the attempt this node runs;
// query, when set, starts with "&".
func (r *run) jobPath(what, query string) string {
	return fmt.Sprintf("/v1/agent/jobs/%d/%s?attempt=%d%s", r.as.JobID, what, max(r.as.Attempt, 1), query)
}

func (r *run) taskSpec() driver.TaskSpec {
	env := map[string]string{}
	for k, v := range r.as.Env {
		env[k] = v
	}
	env["TRAINYARD_JOB_NAME"] = r.as.Name
	env["TRAINYARD_WORKSPACE"] = r.as.Workspace
	env["TRAINYARD_API"] = r.a.cfg.ServerURL
	env["TRAINYARD_RUN_TOKEN"] = r.as.RunToken
	env["TRAINYARD_OUTPUTS_DIR"] = r.outputsDir()
	env["TRAINYARD_CHECKPOINT_DIR"] = r.checkpointDir()
	env["TRAINYARD_ATTEMPT"] = strconv.Itoa(max(r.as.Attempt, 1))
	env["AZUREML_RUN_ID"] = r.as.Name
	if u := r.a.cfg.User; u != nil {
		env["USER"], env["HOME"] = u.Name, r.codeDir()
	}
	if h := r.a.cfg.HelperDir; h != "" {
		if p := env["PYTHONPATH"]; p != "" {
			h += ":" + p
		}
		env["PYTHONPATH"] = h
	}
	spec := driver.TaskSpec{ID: jobDirName(r.as.JobID), Command: r.as.Command, Dir: r.codeDir(), Env: env,
		LogPath: r.logPath(), StateDir: filepath.Join(r.dir, "task"), User: r.a.cfg.User,
		Image: r.as.Image, ShmSize: r.as.ShmSize, DockerArgs: r.as.DockerArgs}
	if h := r.a.cfg.HelperDir; h != "" && spec.Image != "" {
		spec.ReadOnly = []string{h}
	}
	switch bin := cmp.Or(r.a.cfg.HostBinary, r.a.cfg.Binary); {
	case spec.Image != "" && bin != "":
		spec.ReadOnly = append(spec.ReadOnly, bin) // at the same path inside the container
		env["TRAINYARD_BIN"] = bin
	case r.a.cfg.Binary != "":
		env["TRAINYARD_BIN"] = r.a.cfg.Binary
	}
	return spec
}

// driver is the driver of the job: containers for a job with an image, else processes.
func (r *run) driver() (driver.Driver, error) {
	if r.as.Image == "" {
		return r.a.cfg.Driver, nil
	}
	if r.a.cfg.Containers == nil {
		return nil, fmt.Errorf("node %s has no Docker engine, so it cannot run the job's image %s; run dockerd on the node, or submit the job without an environment", r.a.cfg.NodeID, r.as.Image)
	}
	return r.a.cfg.Containers, nil
}

// execute runs the job to its end and reports it. When ctx ends first (the agent is stopping),
// it returns without touching the task, which goes on and is re-attached by the next agent.
func (r *run) execute(ctx context.Context) {
	log := r.a.log.With("job", r.as.Name, "job_id", r.as.JobID)
	defer func() {
		// Unless the agent is stopping (the task goes on and is re-attached later), the job is
		// over for this node: reported, or no longer its own.
		if ctx.Err() == nil {
			os.RemoveAll(r.dir)
		}
	}()
	if r.task == nil {
		task, err := r.prepareAndStart(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			log.Warn("job could not start", "err", err)
			r.report(ctx, "finish", api.FinishRequest{Error: &api.JobError{Code: trainyard.ErrSystem, Message: err.Error()}})
			return
		}
		r.task = task
	}
	if !r.report(ctx, "status", api.StatusRequest{Status: string(trainyard.JobRunning)}) {
		if ctx.Err() == nil {
			// Refused: the attempt was superseded, and report stopped the task. Once it has
			// stopped, the finish lets the server free this node.
			r.task.Wait(ctx)
			r.report(ctx, "finish", api.FinishRequest{Canceled: true})
		}
		return
	}
	log.Info("job running")

	shipCtx, stopShipping := context.WithCancel(ctx)
	shipped := make(chan struct{})
	saved, _ := fingerprint(r.checkpointDir()) // what the server has: the restored checkpoint
	go func() { r.shipLogs(shipCtx); close(shipped) }()
	kept := make(chan struct{})
	go func() { r.keepCheckpoints(shipCtx, &saved); close(kept) }()
	exit, how, err := r.wait(ctx)
	stopShipping()
	<-shipped
	<-kept
	if ctx.Err() != nil {
		return
	}
	r.flushLogs(ctx)
	// What the command saved last (a preempted job's SIGTERM handler, say) counts too.
	if err := r.saveCheckpoint(ctx, &saved); err != nil && ctx.Err() == nil {
		log.Warn("saving the last checkpoint failed", "err", err)
	}

	req := api.FinishRequest{}
	switch {
	case err != nil:
		req.Error = &api.JobError{Code: trainyard.ErrSystem, Message: "lost track of the job's process: " + err.Error()}
	case how == "timeout":
		req.Error = &api.JobError{Code: trainyard.ErrJobTimeout, Message: fmt.Sprintf("the job ran past limits.timeout (%s) and was stopped", time.Duration(r.as.TimeoutMS)*time.Millisecond)}
	case how == "stop":
		req.Canceled = true
	case exit.Lost:
		req.Error = &api.JobError{Code: trainyard.ErrSystem, Message: "the job's process ended while the agent was away and its exit code was lost"}
	default:
		code := exit.Code
		req.ExitCode = &code
		if exit.Signal != 0 {
			req.Error = &api.JobError{Code: trainyard.ErrUserError, Message: fmt.Sprintf("the command was killed by signal %d; see user_logs/std_log.txt", exit.Signal)}
		}
	}
	// Finalizing is the upload of the outputs, and of a gang the wait for its last ranks: a
	// job with neither goes from Running to its end. A refused report (the attempt was
	// superseded) still ends with the finish, which lets the server free this node.
	if r.as.Nodes > 0 || r.hasOutputs() {
		if r.report(ctx, "status", api.StatusRequest{Status: string(trainyard.JobFinalizing)}) {
			if err := r.uploadOutputs(ctx); err != nil && req.Error == nil {
				req.Error = &api.JobError{Code: trainyard.ErrSystem, Message: "uploading outputs failed: " + err.Error()}
			}
		} else if ctx.Err() != nil {
			return
		}
	}
	// From here the run is no work of the node's: a sync that comes before the server has the
	// end gets nothing new (the node is not free yet), and is held until it is.
	r.ending.Store(true)
	select {
	case r.a.ending <- struct{}{}:
	default:
	}
	if r.report(ctx, "finish", req) {
		select {
		case r.a.ended <- struct{}{}:
		default:
		}
		log.Info("job ended", "exit", exitText(req.ExitCode), "canceled", req.Canceled)
	}
}

// prepareAndStart unpacks the code and starts the task. The assignment is written first, so a
// restarted agent knows about the job even if it dies half way.
func (r *run) prepareAndStart(ctx context.Context) (driver.Task, error) {
	os.RemoveAll(r.dir)
	if err := os.MkdirAll(r.codeDir(), 0o700); err != nil {
		return nil, err
	}
	os.Chmod(r.dir, 0o711)
	b, _ := json.Marshal(r.as)
	if err := os.WriteFile(filepath.Join(r.dir, "assignment.json"), b, 0o600); err != nil {
		return nil, err
	}
	if r.as.HasSnapshot {
		if err := r.fetchCode(ctx); err != nil {
			return nil, fmt.Errorf("fetch code snapshot: %w", err)
		}
	}
	if err := r.restoreCheckpoint(ctx); err != nil {
		return nil, fmt.Errorf("restore the checkpoint of the attempts before: %w", err)
	}
	// What the code folder brought in outputs/ is not an output of this job.
	os.RemoveAll(r.outputsDir())
	for _, name := range append([]string{""}, r.as.Outputs...) {
		if err := os.MkdirAll(filepath.Join(r.outputsDir(), name), 0o755); err != nil {
			return nil, err
		}
	}
	if u := r.a.cfg.User; u != nil {
		if err := chownTree(r.codeDir(), u); err != nil {
			return nil, fmt.Errorf("give the code folder to %s: %w", u.Name, err)
		}
	}
	d, err := r.driver()
	if err != nil {
		return nil, err
	}
	return d.Start(ctx, r.taskSpec())
}

func (r *run) fetchCode(ctx context.Context) error {
	var b backoff
	for {
		resp, err := r.a.client.Stream(ctx, "GET", fmt.Sprintf("/v1/agent/jobs/%d/snapshot", r.as.JobID), nil)
		if err == nil {
			_, err = snapshot.Extract(resp.Body, r.codeDir(), snapshot.DefaultLimits)
			resp.Body.Close()
			return err
		}
		if _, ok := errors.AsType[*api.Error](err); ok || ctx.Err() != nil {
			return err
		}
		sleep(ctx, b.next())
	}
}

// wait waits for the task to end, stopping it on cancel or timeout; how says which.
func (r *run) wait(ctx context.Context) (driver.Exit, string, error) {
	type result struct {
		exit driver.Exit
		err  error
	}
	done := make(chan result, 1)
	go func() {
		e, err := r.task.Wait(ctx)
		done <- result{e, err}
	}()
	var timeout <-chan time.Time
	if r.as.TimeoutMS > 0 {
		// The job started when its assignment was written, also for an agent that re-attached
		// it: the file's time saves a file of its own on every job.
		started := time.Now()
		if fi, err := os.Stat(filepath.Join(r.dir, "assignment.json")); err == nil {
			started = fi.ModTime()
		}
		t := time.NewTimer(time.Until(started.Add(time.Duration(r.as.TimeoutMS) * time.Millisecond)))
		defer t.Stop()
		timeout = t.C
	}
	how := ""
	stopReq := r.stopReq
	for {
		select {
		case res := <-done:
			return res.exit, how, res.err
		case <-stopReq:
			how, stopReq, timeout = "stop", nil, nil
			go r.task.Stop(ctx, r.a.cfg.StopGrace)
		case <-timeout:
			how, stopReq, timeout = "timeout", nil, nil
			go r.task.Stop(ctx, r.a.cfg.StopGrace)
		}
	}
}

// report sends a progress report, retrying while the server is away. It returns false when
// the job is no longer this node's (or ctx ended): the caller then stops caring about it.
func (r *run) report(ctx context.Context, what string, body any) bool {
	path := r.jobPath(what, "")
	var b backoff
	for {
		err := r.a.client.Do(ctx, "POST", path, body, nil)
		if err == nil {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		if _, ok := errors.AsType[*api.Error](err); ok {
			r.a.log.Warn("server refused a report", "job_id", r.as.JobID, "report", what, "err", err)
			r.requestStop()
			if r.task != nil {
				r.task.Stop(ctx, r.a.cfg.StopGrace)
			}
			return false
		}
		sleep(ctx, b.next())
	}
}

// hasOutputs reports whether this node has outputs to upload: of a multi-node job, rank 0
// alone uploads.
func (r *run) hasOutputs() bool {
	if r.as.Rank > 0 {
		return false
	}
	entries, err := os.ReadDir(r.outputsDir())
	return err == nil && len(entries) > 0
}

// uploadOutputs sends outputs/ to the server, if there are any.
func (r *run) uploadOutputs(ctx context.Context) error {
	if !r.hasOutputs() {
		return nil
	}
	return r.uploadDir(ctx, r.outputsDir(), "outputs")
}

var outputLimits = snapshot.Limits{MaxFiles: 100000, MaxBytes: 10 << 30}

// shipLogs sends what the task writes to the server until ctx ends.
func (r *run) shipLogs(ctx context.Context) {
	var off int64
	for {
		off, _ = r.shipFrom(ctx, off) // on an error, try again on the next tick
		select {
		case <-ctx.Done():
			r.shipped = off
			return
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// flushLogs sends the rest of the log after the task ended, retrying while the server is
// away: the tail of a job that ends during an outage must not be lost.
func (r *run) flushLogs(ctx context.Context) {
	off := r.shipped
	var b backoff
	for {
		next, err := r.shipFrom(ctx, off)
		switch _, refused := errors.AsType[*api.Error](err); {
		case ctx.Err() != nil, refused, err == nil && next == off:
			return
		case err != nil: // the server is away: go on from what it holds
			off = next
			sleep(ctx, b.next())
		default:
			off = next
			b.reset()
		}
	}
}

// logChunk is the most a log post carries: few posts (each synced by the server) for a job
// that writes fast, well under the server's 16 MB.
const logChunk = 4 << 20

// shipFrom sends the log from off, one chunk at a time, and returns the offset the server
// holds, with the error of a post that failed. A retry of a chunk the server has is harmless:
// it answers with its size.
func (r *run) shipFrom(ctx context.Context, off int64) (int64, error) {
	f, err := os.Open(r.logPath())
	if err != nil {
		return off, nil
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || fi.Size() <= off {
		return off, nil
	}
	// The buffer grows to what is pending, up to a chunk: a job that logs a line now and then
	// is not given 4 MB.
	if pending := fi.Size() - off; int64(len(r.logBuf)) < min(pending, logChunk) {
		r.logBuf = make([]byte, min(pending, logChunk))
	}
	buf := r.logBuf
	for {
		n, err := f.ReadAt(buf, off)
		if n == 0 {
			return off, nil
		}
		var resp api.LogAppendResponse
		perr := r.a.client.Do(ctx, "POST", r.jobPath("logs", fmt.Sprintf("&offset=%d", off)), bytes.NewReader(buf[:n]), &resp)
		if perr != nil {
			return off, perr
		}
		off = resp.Size
		if err == io.EOF || n < len(buf) {
			return off, nil
		}
	}
}

// chownTree gives a folder and everything in it to u; links are changed, not followed.
func chownTree(dir string, u *driver.User) error {
	return filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, int(u.UID), int(u.GID))
	})
}

func exitText(code *int) string {
	if code == nil {
		return "none"
	}
	return strconv.Itoa(*code)
}
