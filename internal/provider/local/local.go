// Package local is the provider whose nodes are `trainyard agent` processes on the server's
// own machine, each with its own work directory. A node's process runs in its own session, so
// it outlives a crash of the server and is found again by List after a restart: the provider
// keeps its truth in files under Dir, not in memory.
package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/trainyard/trainyard/internal/provider"
)

// Provider starts and stops local agent processes.
type Provider struct {
	Dir    string   // one folder per node: meta.json, pid, agent.log, work/
	Binary string   // the trainyard binary
	Args   []string // before the agent flags; default ["agent"]
	// JobsRoot, when set, holds each node's job folders (JobsRoot/NODE), outside its Dir.
	JobsRoot string
	Log      *slog.Logger
}

var _ provider.Provider = (*Provider)(nil)

type meta struct {
	Target    string    `json:"target"`
	CreatedAt time.Time `json:"created_at"`
	VCPUs     int       `json:"vcpus"`
	MemoryGiB float64   `json:"memory_gib"`
}

// Create starts an agent for tmpl.NodeID. The join token travels in the environment, never
// on the command line, where any user of the machine could read it.
func (p *Provider) Create(ctx context.Context, tmpl provider.Template) (provider.Instance, error) {
	if !validID(tmpl.NodeID) {
		return provider.Instance{}, fmt.Errorf("node ID %q: want letters, digits, '-' and '_' only", tmpl.NodeID)
	}
	dir := filepath.Join(p.Dir, tmpl.NodeID)
	inst := provider.Instance{ID: tmpl.NodeID, Target: tmpl.Target, State: provider.Pending, CreatedAt: time.Now().UTC(), Address: "127.0.0.1"}
	if err := ctx.Err(); err != nil {
		return inst, fmt.Errorf("start agent for node %s: %w", tmpl.NodeID, err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "work"), 0o700); err != nil {
		return inst, err
	}
	m, _ := json.Marshal(meta{Target: tmpl.Target, CreatedAt: inst.CreatedAt, VCPUs: tmpl.VCPUs, MemoryGiB: tmpl.MemoryGiB})
	if err := os.WriteFile(filepath.Join(dir, "meta.json"), m, 0o600); err != nil {
		return inst, err
	}
	logf, err := os.OpenFile(filepath.Join(dir, "agent.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return inst, err
	}
	defer logf.Close()
	args := p.Args
	if args == nil {
		args = []string{"agent"}
	}
	args = append(append([]string{}, args...), "--server", tmpl.ServerURL, "--node-id", tmpl.NodeID, "--work-dir", filepath.Join(dir, "work"))
	if p.JobsRoot != "" {
		args = append(args, "--jobs-dir", filepath.Join(p.JobsRoot, tmpl.NodeID))
	}
	cmd := exec.Command(p.Binary, args...)
	cmd.Env = append(os.Environ(), "TRAINYARD_JOIN_TOKEN="+tmpl.JoinToken, "TRAINYARD_NODE_VCPUS="+strconv.Itoa(tmpl.VCPUs),
		"TRAINYARD_NODE_MEMORY_GIB="+strconv.FormatFloat(tmpl.MemoryGiB, 'f', -1, 64), "TRAINYARD_NODE_GPUS="+strconv.Itoa(tmpl.GPUs))
	cmd.Env = slicesWithout(cmd.Env, "TRAINYARD_TOKEN=")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return inst, fmt.Errorf("start agent for node %s: %w", tmpl.NodeID, err)
	}
	pid := cmd.Process.Pid
	if err := os.WriteFile(filepath.Join(dir, "pid"), []byte(fmt.Sprintf("%d %d", pid, startTime(pid))), 0o600); err != nil {
		cmd.Process.Kill()
		return inst, err
	}
	go cmd.Wait() // reap it when it exits while we are its parent
	return inst, nil
}

// List reports the nodes of target from their folders; a node whose process is gone is Gone.
func (p *Provider) List(ctx context.Context, target string) ([]provider.Instance, error) {
	entries, err := os.ReadDir(p.Dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []provider.Instance
	for _, e := range entries {
		dir := filepath.Join(p.Dir, e.Name())
		b, err := os.ReadFile(filepath.Join(dir, "meta.json"))
		if err != nil {
			continue
		}
		var m meta
		if json.Unmarshal(b, &m) != nil || m.Target != target {
			continue
		}
		st := provider.Gone
		if pid := alivePID(dir); pid > 0 {
			st = provider.Running
		}
		out = append(out, provider.Instance{ID: e.Name(), Target: m.Target, State: st, CreatedAt: m.CreatedAt, Address: "127.0.0.1"})
	}
	return out, nil
}

// Delete stops each node's agent and any task it left, then removes its folder.
func (p *Provider) Delete(ctx context.Context, ids ...string) error {
	var errs []error
	for _, id := range ids {
		if !validID(id) {
			continue // never a folder of ours
		}
		dir := filepath.Join(p.Dir, id)
		if pid := alivePID(dir); pid > 0 {
			stopGroup(ctx, pid)
		}
		// Tasks run in process groups of their own; stop them too.
		jobs := filepath.Join(dir, "work", "jobs")
		if p.JobsRoot != "" {
			jobs = filepath.Join(p.JobsRoot, id)
		}
		pids, _ := filepath.Glob(filepath.Join(jobs, "*", "task", "pid"))
		for _, f := range pids {
			if pid := alivePIDFile(f); pid > 0 {
				stopGroup(ctx, pid)
			}
		}
		if err := os.RemoveAll(dir); err != nil {
			errs = append(errs, err)
		}
		if p.JobsRoot != "" {
			os.RemoveAll(jobs)
		}
	}
	return errors.Join(errs...)
}

// stopGroup sends SIGTERM to a process group, waits up to 5 s, then SIGKILL.
func stopGroup(ctx context.Context, pid int) {
	syscall.Kill(-pid, syscall.SIGTERM)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if syscall.Kill(pid, 0) != nil || isZombie(pid) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	syscall.Kill(-pid, syscall.SIGKILL)
}

func alivePID(dir string) int { return alivePIDFile(filepath.Join(dir, "pid")) }

// alivePIDFile reads "PID STARTTIME" and returns PID if that very process still runs: the
// start time guards against a reused PID.
func alivePIDFile(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	var pid int
	var start int64
	fmt.Sscan(string(b), &pid, &start)
	if pid <= 0 || isZombie(pid) || syscall.Kill(pid, 0) != nil {
		return 0
	}
	if start != 0 && startTime(pid) != start {
		return 0
	}
	return pid
}

// startTime reads field 22 of /proc/PID/stat: when the process started, in clock ticks.
func startTime(pid int) int64 {
	f := procStat(pid)
	if len(f) < 20 {
		return 0
	}
	v, _ := strconv.ParseInt(f[19], 10, 64)
	return v
}

func isZombie(pid int) bool {
	f := procStat(pid)
	return len(f) > 0 && f[0] == "Z"
}

// procStat returns the fields of /proc/PID/stat after the command name, starting at state.
func procStat(pid int) []string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(s[i+1:])
}

func slicesWithout(env []string, prefix string) []string {
	out := env[:0:0]
	for _, e := range env {
		if !strings.HasPrefix(e, prefix) {
			out = append(out, e)
		}
	}
	return out
}

func validID(id string) bool {
	return id != "" && strings.Trim(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") == ""
}
