// Package docker is the provider whose nodes are containers on a Docker engine, each running
// `trainyard agent` from the server's own binary, bind-mounted in. Node containers share the
// host's network, and each gets its own loopback address, 127.0.0.N, that it registers with.
//
// The engine is the provider's truth: a node is its container, found again by labels after a
// server restart. Each node's folder, Dir/NODE, is mounted at the same path inside its
// container, so that job containers the agent starts through the same engine (the engine
// socket is mounted too) can mount job folders by their host path.
package docker

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/client"

	dockerdriver "github.com/trainyard/trainyard/internal/driver/docker"
	"github.com/trainyard/trainyard/internal/engine"
	"github.com/trainyard/trainyard/internal/provider"
)

// Labels on every node container.
const (
	LabelTarget  = "trainyard.target"
	LabelNode    = "trainyard.node"
	LabelAddress = "trainyard.address" // 127.0.0.N
	LabelCreated = "trainyard.created" // RFC 3339, nanoseconds
	// LabelDir is the provider's Dir: it tells apart the nodes of two providers (two servers,
	// or parallel tests) on one engine.
	LabelDir = "trainyard.dir"
)

// BinaryPath is where the trainyard binary lies inside a node container.
const BinaryPath = "/usr/local/bin/trainyard"

// DefaultSocket is the engine's socket when Provider.Socket is empty.
const DefaultSocket = "/var/run/docker.sock"

// Node containers take loopback addresses 127.0.0.firstHost to 127.0.0.lastHost; 127.0.0.1 is
// the host's own.
const (
	firstHost = 2
	lastHost  = 254
)

// cleanupTimeout bounds the clean-up after a failed Create, which runs even when the caller's
// context has ended.
const cleanupTimeout = 30 * time.Second

// Provider starts node containers on one engine.
type Provider struct {
	Client *client.Client
	Image  string // the node image, e.g. trainyard/base:bookworm-1; never pulled
	Binary string // host path of the trainyard binary, mounted read-only at BinaryPath
	// Dir holds one folder per node, Dir/NODE, mounted at the same path in the node.
	Dir    string
	Socket string // host path of the engine socket, mounted at the same path; default DefaultSocket
	Log    *slog.Logger

	// removeAll removes a node's folder from the host; tests replace it.
	removeAll func(string) error
}

var _ provider.Provider = (*Provider)(nil)

// addrMu makes choosing an address and creating the container that holds it one step for
// every Provider in this process; they all share the host's loopback.
var addrMu sync.Mutex

// ContainerName is the name of node id's container.
func ContainerName(id string) string { return "trainyard-node-" + id }

// Create starts a node container for tmpl. The join token travels in the container's
// environment, never on its command line.
func (p *Provider) Create(ctx context.Context, tmpl provider.Template) (provider.Instance, error) {
	inst := provider.Instance{ID: tmpl.NodeID, Target: tmpl.Target, State: provider.Pending, CreatedAt: time.Now().UTC()}
	if !validID(tmpl.NodeID) {
		return inst, fmt.Errorf("node ID %q: want letters, digits, '-' and '_' only", tmpl.NodeID)
	}
	if err := ctx.Err(); err != nil {
		return inst, fmt.Errorf("create node %s: %w", tmpl.NodeID, err)
	}
	root, err := p.root()
	if err != nil {
		return inst, err
	}
	if p.Image == "" {
		return inst, errors.New("docker provider: no node image set")
	}
	if _, err := os.Stat(p.Binary); err != nil {
		return inst, fmt.Errorf("docker provider: the trainyard binary to mount in nodes: %w", err)
	}
	if _, err := p.Client.ImageInspect(ctx, p.Image); err != nil {
		if engine.IsNotFound(err) {
			return inst, fmt.Errorf("node image %s is not on the Docker engine, and nodes never pull it: run `make images` to build it", p.Image)
		}
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%v)", ctx.Err(), err)
		}
		return inst, fmt.Errorf("node image %s: %w", p.Image, err)
	}

	dir := filepath.Join(root, tmpl.NodeID)
	// A folder that is there already belongs to a node container of that ID, or to an
	// earlier Create that failed; either way, a failure now leaves it alone.
	_, statErr := os.Stat(dir)
	fresh := errors.Is(statErr, fs.ErrNotExist)
	// 0711: jobs running as another user in the node must reach their folders below it.
	if err := os.MkdirAll(dir, 0o711); err != nil {
		return inst, err
	}
	name := ContainerName(tmpl.NodeID)
	id, addr, err := p.createContainer(ctx, root, dir, name, tmpl, inst.CreatedAt)
	if err != nil {
		if fresh {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
			defer cancel()
			p.removeDir(cctx, root, tmpl.NodeID)
		}
		return inst, err
	}
	inst.Address = addr
	if _, err := p.Client.ContainerStart(ctx, id, client.ContainerStartOptions{}); err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%v)", ctx.Err(), err)
		}
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		defer cancel()
		p.Client.ContainerRemove(cctx, id, client.ContainerRemoveOptions{Force: true})
		p.removeDir(cctx, root, tmpl.NodeID)
		return inst, fmt.Errorf("start node container %s: %w", name, err)
	}
	p.log().Info("node container started", "node", tmpl.NodeID, "target", tmpl.Target, "container", name, "address", addr)
	return inst, nil
}

// createContainer picks the node's loopback address and creates its container, which holds
// the address from then on.
func (p *Provider) createContainer(ctx context.Context, root, dir, name string, tmpl provider.Template, created time.Time) (id, addr string, err error) {
	addrMu.Lock()
	defer addrMu.Unlock()
	addr, err = p.freeAddress(ctx)
	if err != nil {
		return "", "", fmt.Errorf("create node %s: %w", tmpl.NodeID, err)
	}
	socket := p.Socket
	if socket == "" {
		socket = DefaultSocket
	}
	cfg := &container.Config{
		Image:      p.Image,
		Entrypoint: []string{BinaryPath},
		Cmd: []string{"agent", "--server", tmpl.ServerURL, "--node-id", tmpl.NodeID,
			"--work-dir", filepath.Join(dir, "work"), "--jobs-dir", filepath.Join(dir, "jobs"), "--address", addr},
		Env: []string{
			"TRAINYARD_JOIN_TOKEN=" + tmpl.JoinToken,
			"TRAINYARD_NODE_VCPUS=" + strconv.Itoa(tmpl.VCPUs),
			"TRAINYARD_NODE_MEMORY_GIB=" + strconv.FormatFloat(tmpl.MemoryGiB, 'f', -1, 64),
			"TRAINYARD_NODE_GPUS=" + strconv.Itoa(tmpl.GPUs),
			"TRAINYARD_HOST_BINARY=" + p.Binary, // where job containers mount it from
			"TRAINYARD_NODE_CONTAINER=" + name,
			"DOCKER_HOST=unix://" + socket,
		},
		Labels: map[string]string{
			LabelTarget:  tmpl.Target,
			LabelNode:    tmpl.NodeID,
			LabelAddress: addr,
			LabelCreated: created.Format(time.RFC3339Nano),
			LabelDir:     root,
		},
	}
	withInit := true
	host := &container.HostConfig{
		NetworkMode:   "host",
		RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyDisabled},
		// An init reaps the tasks the agent orphans; the agent is not made to be PID 1.
		Init: &withInit,
		Mounts: []mount.Mount{
			{Type: mount.TypeBind, Source: p.Binary, Target: BinaryPath, ReadOnly: true},
			{Type: mount.TypeBind, Source: dir, Target: dir},
			{Type: mount.TypeBind, Source: socket, Target: socket},
		},
	}
	host.NanoCPUs = int64(tmpl.VCPUs) * 1e9
	if tmpl.MemoryGiB > 0 {
		host.Memory = int64(tmpl.MemoryGiB * (1 << 30))
		host.MemorySwap = host.Memory // no swap beyond the limit
	}
	res, err := p.Client.ContainerCreate(ctx, client.ContainerCreateOptions{Name: name, Config: cfg, HostConfig: host})
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%v)", ctx.Err(), err)
			// The engine may have created it all the same.
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
			defer cancel()
			p.Client.ContainerRemove(cctx, name, client.ContainerRemoveOptions{Force: true})
		}
		return "", "", fmt.Errorf("create node container %s: %w", name, err)
	}
	return res.ID, addr, nil
}

// freeAddress returns the lowest loopback address that no live node container on the engine
// holds, whichever provider or target made it.
func (p *Provider) freeAddress(ctx context.Context) (string, error) {
	res, err := p.Client.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: make(client.Filters).Add("label", LabelAddress)})
	if err != nil {
		return "", fmt.Errorf("list node containers: %w", err)
	}
	used := map[string]bool{}
	for _, c := range res.Items {
		if stateOf(c.State) != provider.Gone {
			used[c.Labels[LabelAddress]] = true
		}
	}
	for n := firstHost; n <= lastHost; n++ {
		if a := "127.0.0." + strconv.Itoa(n); !used[a] {
			return a, nil
		}
	}
	return "", fmt.Errorf("all loopback addresses 127.0.0.%d-%d are held by node containers: %w", firstHost, lastHost, provider.ErrCapacity)
}

// List reports the node containers of target that this provider made. A node whose container
// has exited is Gone until Delete removes it.
func (p *Provider) List(ctx context.Context, target string) ([]provider.Instance, error) {
	root, err := p.root()
	if err != nil {
		return nil, err
	}
	f := make(client.Filters).Add("label", LabelTarget+"="+target, LabelDir+"="+root)
	res, err := p.Client.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list node containers: %w", err)
	}
	out := make([]provider.Instance, 0, len(res.Items))
	for _, c := range res.Items {
		id := c.Labels[LabelNode]
		if id == "" {
			continue
		}
		created, err := time.Parse(time.RFC3339Nano, c.Labels[LabelCreated])
		if err != nil {
			created = time.Unix(c.Created, 0).UTC()
		}
		out = append(out, provider.Instance{ID: id, Target: target, State: stateOf(c.State), CreatedAt: created, Address: c.Labels[LabelAddress]})
	}
	slices.SortFunc(out, func(a, b provider.Instance) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return out, nil
}

// stateOf maps a container's state to an instance's.
func stateOf(s container.ContainerState) provider.State {
	switch s {
	case container.StateRunning, container.StatePaused:
		return provider.Running
	case container.StateCreated, container.StateRestarting:
		return provider.Pending
	default: // exited, dead, removing
		return provider.Gone
	}
}

// Delete force-removes the nodes' containers, killing their agents and the tasks in them, and
// removes their folders. Containers of another provider's Dir are left alone.
func (p *Provider) Delete(ctx context.Context, ids ...string) error {
	if len(ids) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("delete nodes: %w", err)
	}
	root, err := p.root()
	if err != nil {
		return err
	}
	res, err := p.Client.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: make(client.Filters).Add("label", LabelDir+"="+root)})
	if err != nil {
		return fmt.Errorf("list node containers: %w", err)
	}
	var errs []error
	for _, id := range ids {
		if !validID(id) {
			continue // never a container or folder of ours
		}
		// The node's job containers first: a node whose container died leaves them running.
		tasks, err := p.Client.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: make(client.Filters).Add("label", dockerdriver.LabelDriver+"="+id)})
		if err != nil {
			return fmt.Errorf("list the job containers of node %s: %w", id, err)
		}
		for _, c := range append(tasks.Items, res.Items...) {
			if c.Labels[LabelNode] != id && c.Labels[dockerdriver.LabelDriver] != id {
				continue
			}
			_, err := p.Client.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true})
			switch {
			case err == nil:
				p.log().Info("container removed", "node", id, "container", strings.TrimPrefix(firstOf(c.Names), "/"))
			case engine.IsNotFound(err), engine.IsConflict(err): // gone, or already being removed
			default:
				if ctx.Err() != nil {
					return fmt.Errorf("delete node %s: %w", id, ctx.Err())
				}
				errs = append(errs, fmt.Errorf("remove container %s of node %s: %w", firstOf(c.Names), id, err))
			}
		}
		if err := p.removeDir(ctx, root, id); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// removeDir removes the folder of node id. The agent ran as root in its container, and jobs
// as other users, so a server that is not root may be unable to; then a short-lived container
// of the node image removes it.
func (p *Provider) removeDir(ctx context.Context, root, id string) error {
	dir := filepath.Join(root, id)
	rm := p.removeAll
	if rm == nil {
		rm = os.RemoveAll
	}
	err := rm(dir)
	if err == nil || !errors.Is(err, fs.ErrPermission) {
		return err
	}
	p.log().Info("removing node folder from a container", "node", id, "dir", dir, "err", err)
	if err := p.removeInContainer(ctx, root, id); err != nil {
		return fmt.Errorf("remove node folder %s: %w", dir, err)
	}
	return nil
}

// removeInContainer runs rm -rf on root/id in a container of the node image that mounts root.
func (p *Provider) removeInContainer(ctx context.Context, root, id string) error {
	const at = "/trainyard-nodes"
	res, err := p.Client.ContainerCreate(ctx, client.ContainerCreateOptions{
		Config: &container.Config{
			Image:      p.Image,
			Entrypoint: []string{"rm", "-rf", "--", at + "/" + id},
			User:       "0:0",
			Labels:     map[string]string{"trainyard.cleanup": id},
		},
		HostConfig: &container.HostConfig{
			NetworkMode: "none", // it needs no network at all
			Mounts:      []mount.Mount{{Type: mount.TypeBind, Source: root, Target: at}},
		},
	})
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		defer cancel()
		p.Client.ContainerRemove(cctx, res.ID, client.ContainerRemoveOptions{Force: true})
	}()
	if _, err := p.Client.ContainerStart(ctx, res.ID, client.ContainerStartOptions{}); err != nil {
		return err
	}
	w := p.Client.ContainerWait(ctx, res.ID, client.ContainerWaitOptions{Condition: container.WaitConditionNotRunning})
	select {
	case r := <-w.Result:
		if r.StatusCode != 0 {
			return fmt.Errorf("rm -rf in a cleanup container exited %d", r.StatusCode)
		}
		return nil
	case err := <-w.Error:
		return err
	}
}

// root is the provider's Dir, absolute: labels and mounts need one spelling of it.
func (p *Provider) root() (string, error) {
	if p.Dir == "" {
		return "", errors.New("docker provider: no Dir set")
	}
	return filepath.Abs(p.Dir)
}

func (p *Provider) log() *slog.Logger {
	if p.Log != nil {
		return p.Log
	}
	return slog.Default()
}

func validID(id string) bool {
	return id != "" && strings.Trim(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") == ""
}

func firstOf(names []string) string {
	if len(names) == 0 {
		return ""
	}
	return names[0]
}
