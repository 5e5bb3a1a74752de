package docker_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/trainyard/trainyard/api"
	"github.com/trainyard/trainyard/internal/engine"
	"github.com/trainyard/trainyard/internal/engine/enginetest"
	"github.com/trainyard/trainyard/internal/provider"
	"github.com/trainyard/trainyard/internal/provider/docker"
	"github.com/trainyard/trainyard/internal/provider/providertest"
)

const (
	image  = "trainyard/base:bookworm-1"
	target = "default/docker-cluster"
	// noServer is a loopback URL where nothing listens: the agents keep retrying to register.
	noServer = "http://127.0.0.1:1"
)

// binary is the real trainyard binary, built once by TestMain, static so that it runs in the
// node image.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "trainyard-docker-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "trainyard")
	build := exec.Command("go", "build", "-o", binary, "github.com/trainyard/trainyard/cmd/trainyard")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build ./cmd/trainyard: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// runID keeps the node IDs, and so the container names, of this run apart from those of any
// other run on the same engine.
var runID = func() string {
	b := make([]byte, 3)
	rand.Read(b)
	return hex.EncodeToString(b)
}()

var nodeSeq atomic.Int64

func newTemplate(t *testing.T) provider.Template {
	n := nodeSeq.Add(1)
	return provider.Template{
		NodeID: fmt.Sprintf("dt%s-%04x", runID, n), Target: target, ServerURL: noServer,
		JoinToken: fmt.Sprintf("tyj_secret%s%08d", runID, n), VCPUs: 1, MemoryGiB: 0.5,
	}
}

func newProvider(t *testing.T) *docker.Provider {
	c := enginetest.Client(t)
	enginetest.Image(t, image)
	return &docker.Provider{Client: c, Image: image, Binary: binary, Dir: t.TempDir(), Log: slog.New(slog.DiscardHandler)}
}

func TestConformance(t *testing.T) {
	providertest.Run(t, func(t *testing.T) provider.Provider { return newProvider(t) }, newTemplate)
}

// create creates a node from tmpl and deletes it when the test ends.
func create(t *testing.T, p *docker.Provider, tmpl provider.Template) provider.Instance {
	t.Helper()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := p.Delete(ctx, tmpl.NodeID); err != nil {
			t.Errorf("cleanup: Delete(%s): %v", tmpl.NodeID, err)
		}
	})
	inst, err := p.Create(t.Context(), tmpl)
	if err != nil {
		t.Fatalf("Create(%s): %v", tmpl.NodeID, err)
	}
	return inst
}

func inspect(t *testing.T, p *docker.Provider, id string) container.InspectResponse {
	t.Helper()
	res, err := p.Client.ContainerInspect(t.Context(), docker.ContainerName(id), client.ContainerInspectOptions{})
	if err != nil {
		t.Fatalf("inspect the container of node %s: %v", id, err)
	}
	return res.Container
}

// listed returns the instance id as List reports it, or ok false.
func listed(t *testing.T, p provider.Provider, id string) (provider.Instance, bool) {
	t.Helper()
	insts, err := p.List(t.Context(), target)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	i := slices.IndexFunc(insts, func(in provider.Instance) bool { return in.ID == id })
	if i < 0 {
		return provider.Instance{}, false
	}
	return insts[i], true
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// fakeServer answers agents' register calls with a node token, records who registered from
// which address with which token, and tells them to sync again in a minute.
type fakeServer struct {
	URL string
	mu  sync.Mutex
	reg map[string]registration // by node ID
}

type registration struct{ address, auth string }

func newFakeServer(t *testing.T) *fakeServer {
	s := &fakeServer{reg: map[string]registration{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/v1/agent/register":
			var req api.RegisterRequest
			json.NewDecoder(r.Body).Decode(&req)
			s.mu.Lock()
			s.reg[req.NodeID] = registration{address: req.Address, auth: r.Header.Get("Authorization")}
			s.mu.Unlock()
			json.NewEncoder(w).Encode(api.RegisterResponse{NodeToken: "tyn_" + req.NodeID})
		default:
			json.NewEncoder(w).Encode(api.SyncResponse{IntervalMS: 60_000})
		}
	}))
	t.Cleanup(srv.Close) // after the nodes' cleanups, which run first
	s.URL = srv.URL
	return s
}

func (s *fakeServer) registered(id string) (registration, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.reg[id]
	return r, ok
}

// TestNodesGetTheirOwnAddresses: each node has a loopback address of its own, List reports
// it, and the agent in the node registers with it, using the join token from its environment.
func TestNodesGetTheirOwnAddresses(t *testing.T) {
	t.Parallel()
	srv := newFakeServer(t)
	p := newProvider(t)
	a, b := newTemplate(t), newTemplate(t)
	a.ServerURL, b.ServerURL = srv.URL, srv.URL
	ia, ib := create(t, p, a), create(t, p, b)

	for _, in := range []provider.Instance{ia, ib} {
		n, err := strconv.Atoi(strings.TrimPrefix(in.Address, "127.0.0."))
		if !strings.HasPrefix(in.Address, "127.0.0.") || err != nil || n < 2 || n > 254 {
			t.Errorf("node %s has address %q, want 127.0.0.N with N from 2 to 254", in.ID, in.Address)
		}
	}
	if ia.Address == ib.Address {
		t.Errorf("both nodes have address %s", ia.Address)
	}
	for _, in := range []provider.Instance{ia, ib} {
		got, ok := listed(t, p, in.ID)
		if !ok || got.Address != in.Address || got.Target != target {
			t.Errorf("List reports %+v (listed: %v), want %s of %s at %s", got, ok, in.ID, target, in.Address)
		}
	}

	for _, tmpl := range []provider.Template{a, b} {
		var r registration
		waitFor(t, "node "+tmpl.NodeID+" to register", func() (ok bool) { r, ok = srv.registered(tmpl.NodeID); return ok })
		want := ia.Address
		if tmpl.NodeID == b.NodeID {
			want = ib.Address
		}
		if r.address != want {
			t.Errorf("node %s registered with address %q, want %q", tmpl.NodeID, r.address, want)
		}
		if r.auth != "Bearer "+tmpl.JoinToken {
			t.Errorf("node %s registered with Authorization %q, want its join token", tmpl.NodeID, r.auth)
		}
		// The node's folder is mounted at its host path: the agent's token lies there.
		token := filepath.Join(p.Dir, tmpl.NodeID, "work", "node.token")
		waitFor(t, token+" on the host", func() bool {
			b, err := os.ReadFile(token)
			return err == nil && string(b) == "tyn_"+tmpl.NodeID
		})
	}
}

// TestLimits: the template's vCPUs and memory are the container's limits; a zero template has
// none.
func TestLimits(t *testing.T) {
	t.Parallel()
	p := newProvider(t)
	tmpl := newTemplate(t)
	tmpl.VCPUs, tmpl.MemoryGiB = 1, 0.25
	create(t, p, tmpl)
	hc := inspect(t, p, tmpl.NodeID).HostConfig
	if hc.NanoCPUs != 1e9 || hc.Memory != 256<<20 {
		t.Errorf("container limits: NanoCPUs %d, Memory %d; want 1e9 (1 vCPU) and %d (0.25 GiB)", hc.NanoCPUs, hc.Memory, 256<<20)
	}
	if hc.NetworkMode != "host" || !hc.RestartPolicy.IsNone() {
		t.Errorf("container network %q, restart policy %q; want host and none", hc.NetworkMode, hc.RestartPolicy.Name)
	}

	free := newTemplate(t)
	free.VCPUs, free.MemoryGiB = 0, 0
	create(t, p, free)
	hc = inspect(t, p, free.NodeID).HostConfig
	if hc.NanoCPUs != 0 || hc.Memory != 0 {
		t.Errorf("a template without limits gave NanoCPUs %d, Memory %d; want none", hc.NanoCPUs, hc.Memory)
	}
}

// TestKilledNodeIsGone: a node whose container dies is listed Gone, so the autoscaler replaces
// it, and Delete removes it.
func TestKilledNodeIsGone(t *testing.T) {
	t.Parallel()
	p := newProvider(t)
	tmpl := newTemplate(t)
	create(t, p, tmpl)
	// The agent keeps trying to reach the server rather than exiting.
	time.Sleep(time.Second)
	if in, ok := listed(t, p, tmpl.NodeID); !ok || in.State != provider.Running {
		t.Fatalf("a second after Create, List reports %+v (listed: %v), want running", in, ok)
	}
	if _, err := p.Client.ContainerKill(t.Context(), docker.ContainerName(tmpl.NodeID), client.ContainerKillOptions{Signal: "SIGKILL"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the killed node to be listed as gone", func() bool {
		in, ok := listed(t, p, tmpl.NodeID)
		return ok && in.State == provider.Gone
	})
	if err := p.Delete(t.Context(), tmpl.NodeID); err != nil {
		t.Fatalf("Delete of a gone node: %v", err)
	}
	if in, ok := listed(t, p, tmpl.NodeID); ok {
		t.Errorf("after Delete, List still reports %+v", in)
	}
	if _, err := p.Client.ContainerInspect(t.Context(), docker.ContainerName(tmpl.NodeID), client.ContainerInspectOptions{}); !engine.IsNotFound(err) {
		t.Errorf("after Delete, inspecting the node's container gives %v, want not found", err)
	}
}

// TestDeleteRemovesNodeFolder: Delete removes the node's folder, with what the agent wrote in
// it, also when the server may not remove the files itself.
func TestDeleteRemovesNodeFolder(t *testing.T) {
	t.Parallel()
	for _, denied := range []bool{false, true} {
		t.Run(fmt.Sprintf("denied=%v", denied), func(t *testing.T) {
			t.Parallel()
			p := newProvider(t)
			if denied {
				docker.SetRemoveAll(p, func(string) error { return &fs.PathError{Op: "unlinkat", Path: "x", Err: fs.ErrPermission} })
			}
			tmpl := newTemplate(t)
			create(t, p, tmpl)
			dir := filepath.Join(p.Dir, tmpl.NodeID)
			// The agent writes its Python helper into the jobs folder when it starts.
			helper := filepath.Join(dir, "jobs", ".python", "trainyard_run.py")
			waitFor(t, "the agent to write "+helper, func() bool { _, err := os.Stat(helper); return err == nil })
			if err := p.Delete(t.Context(), tmpl.NodeID); err != nil {
				t.Fatalf("Delete: %v", err)
			}
			if _, err := os.Stat(dir); !os.IsNotExist(err) {
				t.Errorf("the node's folder is still there after Delete (stat: %v)", err)
			}
			res, err := p.Client.ContainerList(t.Context(), client.ContainerListOptions{All: true,
				Filters: make(client.Filters).Add("label", "trainyard.cleanup="+tmpl.NodeID)})
			if err != nil || len(res.Items) != 0 {
				t.Errorf("containers left from cleaning up: %d (%v)", len(res.Items), err)
			}
		})
	}
}

// TestJoinTokenInEnvironmentNotArgs: the join token is in the node container's environment,
// not on its command line, which anyone who can list containers or processes sees.
func TestJoinTokenInEnvironmentNotArgs(t *testing.T) {
	t.Parallel()
	p := newProvider(t)
	tmpl := newTemplate(t)
	inst := create(t, p, tmpl)
	c := inspect(t, p, tmpl.NodeID)
	cmdline := append([]string{c.Path}, c.Args...)
	if strings.Contains(strings.Join(cmdline, " "), tmpl.JoinToken) {
		t.Errorf("the join token is on the node's command line: %q", cmdline)
	}
	dir := filepath.Join(p.Dir, tmpl.NodeID)
	want := []string{docker.BinaryPath, "agent", "--server", tmpl.ServerURL, "--node-id", tmpl.NodeID,
		"--work-dir", filepath.Join(dir, "work"), "--jobs-dir", filepath.Join(dir, "jobs"), "--address", inst.Address}
	if !slices.Equal(cmdline, want) {
		t.Errorf("node command line = %q, want %q", cmdline, want)
	}
	for _, kv := range []string{"TRAINYARD_JOIN_TOKEN=" + tmpl.JoinToken, "TRAINYARD_NODE_VCPUS=1", "TRAINYARD_NODE_MEMORY_GIB=0.5",
		"TRAINYARD_NODE_CONTAINER=" + docker.ContainerName(tmpl.NodeID), "DOCKER_HOST=unix://" + docker.DefaultSocket} {
		if !slices.Contains(c.Config.Env, kv) {
			t.Errorf("%s is not in the node's environment", kv)
		}
	}
}

// TestMissingImage: the node image is never pulled; its absence is an error that says how to
// make it, and leaves nothing behind.
func TestMissingImage(t *testing.T) {
	t.Parallel()
	p := newProvider(t)
	p.Image = "trainyard/no-such-image:0"
	tmpl := newTemplate(t)
	_, err := p.Create(t.Context(), tmpl)
	if err == nil {
		p.Delete(context.Background(), tmpl.NodeID)
		t.Fatal("Create with a missing image succeeded")
	}
	if !strings.Contains(err.Error(), p.Image) || !strings.Contains(err.Error(), "make images") {
		t.Errorf("Create with a missing image = %v; want it to name the image and say to run make images", err)
	}
	if _, ok := listed(t, p, tmpl.NodeID); ok {
		t.Error("a failed Create left a node listed")
	}
	if _, err := os.Stat(filepath.Join(p.Dir, tmpl.NodeID)); !os.IsNotExist(err) {
		t.Errorf("a failed Create left the node's folder (stat: %v)", err)
	}
}
