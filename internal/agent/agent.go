// Package agent is the program on every node: it registers with the server, syncs (heartbeat
// and lease in one call), runs the jobs placed on its node through a driver, streams their logs,
// uploads their outputs and reports how they ended. It keeps running its work while the server
// is away, and picks its tasks up again after its own restart.
//
// It speaks to the server only through package api; it must not import the store.
package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/trainyard/trainyard/api"
	"github.com/trainyard/trainyard/internal/driver"
)

// Config is what an agent needs.
type Config struct {
	ServerURL string
	NodeID    string
	// JoinToken is presented once, at the first start; the node token it earns is kept in
	// WorkDir, so a restarted agent does not need it again.
	JoinToken string
	// NodeToken skips registration (the server's own agent for the local target).
	NodeToken string
	WorkDir   string
	// JobsDir holds one folder per job; default WorkDir/jobs. Jobs running as another user
	// must be able to reach it, so it may lie outside a private WorkDir.
	JobsDir string
	Address string
	Driver  driver.Driver // runs jobs as processes
	// Containers runs jobs whose assignment names an image; nil when the node has no
	// Docker engine, and such jobs then fail saying so.
	Containers driver.Driver
	// HelperDir holds the Python helper put on the jobs' PYTHONPATH; empty for none.
	HelperDir string
	// Binary is the trainyard binary as the node's processes see it, and HostBinary as the
	// engine's host does (the path container jobs mount it from); jobs reach it as
	// $TRAINYARD_BIN, for the MPI relay.
	Binary, HostBinary string
	// User is the account jobs run as; nil runs them as the agent's own. See RunAs.
	User *driver.User
	// StopGrace is how long a stopped job gets between SIGTERM and SIGKILL.
	StopGrace time.Duration
	// GiveUpAfter is how long an idle agent keeps trying to reach a server that does not
	// answer before it exits, so a node whose server is gone for good does not linger. An
	// agent with running work never gives up. Zero means never.
	GiveUpAfter time.Duration
	Log         *slog.Logger
}

// Agent runs one node's work.
type Agent struct {
	cfg    Config
	client *api.Client
	log    *slog.Logger

	mu      sync.Mutex
	running map[int64]*run // by job ID
	wg      sync.WaitGroup
	ended   chan struct{} // capacity 1: a run's end reached the server
	ending  chan struct{} // capacity 1: a run started reporting its end
}

// New returns an agent; Run starts it.
func New(cfg Config) *Agent {
	if cfg.StopGrace == 0 {
		cfg.StopGrace = 10 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.JobsDir == "" {
		cfg.JobsDir = filepath.Join(cfg.WorkDir, "jobs")
	}
	return &Agent{cfg: cfg, client: api.NewClient(cfg.ServerURL, cfg.NodeToken), log: cfg.Log.With("node_id", cfg.NodeID),
		running: map[int64]*run{}, ended: make(chan struct{}, 1), ending: make(chan struct{}, 1)}
}

// ErrReleased means the server no longer knows this node: it was released or deleted.
var ErrReleased = errors.New("agent: the server no longer knows this node")

// Run registers if needed, re-attaches the tasks it was running, then syncs until ctx ends.
// Running tasks are not stopped when ctx ends: they belong to the node, not to this process.
func (a *Agent) Run(ctx context.Context) error {
	// Jobs running as another user must reach their folders: the way is open (0711), the
	// files of the agent itself are not (0600).
	if err := os.MkdirAll(a.cfg.WorkDir, 0o700); err != nil {
		return err
	}
	if err := os.MkdirAll(a.cfg.JobsDir, 0o711); err != nil {
		return err
	}
	if err := a.authenticate(ctx); err != nil {
		return err
	}
	a.reattach(ctx)
	defer a.wg.Wait()
	var b backoff
	lastContact := time.Now()
	var lostAfter time.Duration // the server's heartbeat timeout, as it last said
	warned := false
	for {
		running := a.runningIDs()
		resp, again, err := a.sync(ctx, running)
		switch {
		case again:
			continue
		case ctx.Err() != nil:
			return nil
		case api.HasCode(err, "unauthenticated"):
			a.log.Info("the server no longer knows this node; stopping")
			return ErrReleased
		case err != nil && a.cfg.GiveUpAfter > 0 && len(running) == 0 && time.Since(lastContact) > a.cfg.GiveUpAfter:
			a.log.Warn("no contact with the server; giving up", "since", lastContact, "err", err)
			return fmt.Errorf("agent: no contact with the server for %s: %w", a.cfg.GiveUpAfter, err)
		case err != nil:
			d := b.next()
			a.log.Warn("sync failed; retrying", "err", err, "in", d)
			if lostAfter > 0 && len(running) > 0 && time.Since(lastContact) > lostAfter && !warned {
				warned = true
				a.log.Warn("out of contact for longer than the server's heartbeat timeout: unless the server itself was down, it has declared this node lost and runs its jobs again elsewhere, and will refuse this node's reports on them",
					"since", lastContact, "heartbeat_timeout", lostAfter)
			}
			sleep(ctx, d)
			continue
		}
		b.reset()
		lastContact, warned = time.Now(), false
		lostAfter = time.Duration(resp.HeartbeatTimeoutMS) * time.Millisecond
		fresh := false
		for _, id := range resp.Stop {
			fresh = a.stop(id) || fresh
		}
		if as := resp.Assignment; as != nil {
			a.start(ctx, *as, nil)
		}
		wait := time.Duration(resp.IntervalMS) * time.Millisecond
		if len(resp.Stop) > 0 && !fresh && resp.Assignment == nil {
			// The server says again what is being stopped already: sync again when a run's
			// end has reached it, or after a while.
			t := time.NewTimer(max(wait, stoppingPoll))
			select {
			case <-ctx.Done():
			case <-t.C:
			case <-a.ended:
			}
			t.Stop()
			continue
		}
		sleep(ctx, wait)
	}
}

// sync holds a sync open until the server answers, or until a run it lists starts reporting
// its end: again is then true, and the caller syncs at once without it, so that the answer
// comes as soon as the node is free, with its next job.
func (a *Agent) sync(ctx context.Context, running []int64) (resp api.SyncResponse, again bool, err error) {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	asked := make(chan struct{})
	go func() {
		select {
		case <-a.ending:
			cancel()
		case <-asked:
		}
	}()
	resp, err = a.client.Sync(sctx, api.SyncRequest{Running: running, WaitMS: 10000})
	close(asked)
	if err != nil && ctx.Err() == nil && sctx.Err() != nil {
		return resp, true, nil
	}
	return resp, false, err
}

// authenticate finds the node token: given, kept from an earlier start, or earned now with
// the join token.
func (a *Agent) authenticate(ctx context.Context) error {
	if a.cfg.NodeToken != "" {
		return nil
	}
	path := filepath.Join(a.cfg.WorkDir, "node.token")
	if b, err := os.ReadFile(path); err == nil {
		a.client.Token = string(b)
		return nil
	}
	if a.cfg.JoinToken == "" {
		return errors.New("agent: no node token in the work dir and no join token given")
	}
	reg := api.NewClient(a.cfg.ServerURL, a.cfg.JoinToken)
	var b backoff
	for {
		var resp api.RegisterResponse
		err := reg.Do(ctx, "POST", "/v1/agent/register", api.RegisterRequest{NodeID: a.cfg.NodeID, Address: a.cfg.Address}, &resp)
		if err == nil {
			a.client.Token = resp.NodeToken
			a.log.Info("registered")
			return os.WriteFile(path, []byte(resp.NodeToken), 0o600)
		}
		if _, ok := errors.AsType[*api.Error](err); ok {
			return err // the server answered no: retrying will not help
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		d := b.next()
		a.log.Warn("cannot register yet; retrying", "err", err, "in", d)
		sleep(ctx, d)
	}
}

func (a *Agent) runningIDs() []int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	ids := make([]int64, 0, len(a.running))
	for id, r := range a.running {
		if !r.ending.Load() { // a run whose end is reported is no work of the node's
			ids = append(ids, id)
		}
	}
	return ids
}

// stoppingPoll is how soon the agent syncs again while its jobs are stopping.
const stoppingPoll = 500 * time.Millisecond

// stop asks run id to stop and reports whether this was news to it: false only for a run
// that is stopping already, whose end the next sync need not hurry for. A run that has ended
// meanwhile is news (the node is free for work at once).
func (a *Agent) stop(id int64) bool {
	a.mu.Lock()
	r := a.running[id]
	a.mu.Unlock()
	return r == nil || r.requestStop()
}

// start runs an assignment in its own goroutine; task is non-nil when re-attaching.
func (a *Agent) start(ctx context.Context, as api.Assignment, task driver.Task) {
	a.mu.Lock()
	if _, ok := a.running[as.JobID]; ok {
		a.mu.Unlock()
		return
	}
	r := newRun(a, as, task)
	a.running[as.JobID] = r
	a.mu.Unlock()
	a.wg.Go(func() {
		r.execute(ctx)
		a.mu.Lock()
		delete(a.running, as.JobID)
		a.mu.Unlock()
	})
}

// reattach resumes the jobs an earlier agent process left running on this node.
func (a *Agent) reattach(ctx context.Context) {
	dirs, _ := filepath.Glob(filepath.Join(a.cfg.JobsDir, "*", "assignment.json"))
	for _, p := range dirs {
		var as api.Assignment
		b, err := os.ReadFile(p)
		if err != nil || json.Unmarshal(b, &as) != nil {
			continue
		}
		r := &run{a: a, as: as, dir: filepath.Dir(p)}
		d, err := r.driver()
		if err != nil {
			a.log.Warn("cannot re-attach job", "job_id", as.JobID, "err", err)
			continue
		}
		task, err := d.Reattach(ctx, r.taskSpec())
		if err != nil && !errors.Is(err, driver.ErrNotFound) {
			a.log.Warn("cannot re-attach job", "job_id", as.JobID, "err", err)
			continue
		}
		a.log.Info("re-attaching job", "job_id", as.JobID, "found_task", task != nil)
		a.start(ctx, as, task)
	}
}

func jobDirName(id int64) string { return strconv.FormatInt(id, 10) }

// backoff grows a retry delay from 100 ms to 5 s.
type backoff struct{ d time.Duration }

func (b *backoff) next() time.Duration {
	b.d = min(max(b.d*2, 100*time.Millisecond), 5*time.Second)
	return b.d
}

func (b *backoff) reset() { b.d = 0 }

func sleep(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
