package autoscale_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/internal/autoscale"
	"github.com/trainyard/trainyard/internal/provider"
)

// fakeState is an in-memory autoscale.State. Node agents are simulated: a node marked alive
// is reported as heard from at every read.
type fakeState struct {
	mu         sync.Mutex
	computes   map[string]*trainyard.ComputeTarget // by "ws/name"
	nodes      map[string]*trainyard.Node
	alive      map[string]bool
	demand     map[string]int
	wait       map[string]string
	waitWrites int
	events     map[string][]string // "kind: message"
	tokens     int
}

var _ autoscale.State = (*fakeState)(nil)

func newFakeState() *fakeState {
	return &fakeState{
		computes: make(map[string]*trainyard.ComputeTarget),
		nodes:    make(map[string]*trainyard.Node),
		alive:    make(map[string]bool),
		demand:   make(map[string]int),
		wait:     make(map[string]string),
		events:   make(map[string][]string),
	}
}

func key(ws, name string) string { return ws + "/" + name }

func (s *fakeState) Computes(ctx context.Context) ([]trainyard.ComputeTarget, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []trainyard.ComputeTarget
	for _, k := range slices.Sorted(maps.Keys(s.computes)) {
		out = append(out, *s.computes[k])
	}
	return out, nil
}

func (s *fakeState) Nodes(ctx context.Context, ws, compute string) ([]trainyard.Node, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []trainyard.Node
	for _, n := range s.nodes {
		if n.Workspace == ws && n.Compute == compute {
			if s.alive[n.ID] {
				n.LastSeen = time.Now()
			}
			out = append(out, *n)
		}
	}
	return out, nil
}

func (s *fakeState) Demand(ctx context.Context, ws, compute string) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.demand[key(ws, compute)], nil
}

func (s *fakeState) CreateNode(ctx context.Context, n trainyard.Node) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.nodes[n.ID]; ok {
		return "", fmt.Errorf("node %s exists", n.ID)
	}
	if n.State != trainyard.NodePreparing {
		return "", fmt.Errorf("node %s created in state %s", n.ID, n.State)
	}
	s.nodes[n.ID] = &n
	s.tokens++
	return fmt.Sprintf("token-%d", s.tokens), nil
}

func (s *fakeState) ReleaseNode(ctx context.Context, id string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.nodes[id]
	if !ok {
		return false, fmt.Errorf("node %s not found", id)
	}
	switch n.State {
	case trainyard.NodeIdle, trainyard.NodeUnusable, trainyard.NodePreparing:
		n.State = trainyard.NodeLeaving
		return true, nil
	case trainyard.NodePreempted:
		if n.Job == "" {
			n.State = trainyard.NodeLeaving
			return true, nil
		}
	}
	return false, nil
}

func (s *fakeState) DeleteNode(ctx context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.nodes, id)
	delete(s.alive, id)
	return nil
}

func (s *fakeState) MarkNodeLost(ctx context.Context, id, reason string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.nodes[id]
	if !ok {
		return fmt.Errorf("node %s not found", id)
	}
	n.State, n.Job = trainyard.NodeUnusable, ""
	s.alive[id] = false
	return nil
}

func (s *fakeState) ReclaimNode(ctx context.Context, id, reason string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.nodes[id]
	if !ok {
		return fmt.Errorf("node %s not found", id)
	}
	n.State, n.PreemptedAt = trainyard.NodePreempted, time.Now()
	return nil
}

func (s *fakeState) SetComputeState(ctx context.Context, ws, name string, st trainyard.ProvisioningState, msg string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.computes[key(ws, name)]
	if !ok {
		return fmt.Errorf("compute %s not found", key(ws, name))
	}
	c.State = st
	if msg != "" {
		c.Errors = append(c.Errors, msg)
	}
	return nil
}

func (s *fakeState) DeleteCompute(ctx context.Context, ws, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.computes, key(ws, name))
	return nil
}

func (s *fakeState) SetWaitReason(ctx context.Context, ws, compute, reason string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.wait[key(ws, compute)] = reason
	s.waitWrites++
	return nil
}

func (s *fakeState) AddEvent(ctx context.Context, ws, compute, kind, msg string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events[key(ws, compute)] = append(s.events[key(ws, compute)], kind+": "+msg)
	return nil
}

// Helpers for tests.

func (s *fakeState) addCompute(c trainyard.ComputeTarget) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.computes[key(c.Workspace, c.Name)] = &c
}

func (s *fakeState) compute(k string) (trainyard.ComputeTarget, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.computes[k]
	if !ok {
		return trainyard.ComputeTarget{}, false
	}
	return *c, true
}

func (s *fakeState) setCompute(k string, f func(*trainyard.ComputeTarget)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s.computes[k])
}

func (s *fakeState) setDemand(k string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.demand[k] = n
}

// addNode records n; alive nodes heartbeat.
func (s *fakeState) addNode(n trainyard.Node, alive bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nodes[n.ID] = &n
	s.alive[n.ID] = alive
}

// register simulates a node's agent registering: the node is idle from now and heartbeats.
func (s *fakeState) register(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.nodes[id]
	n.State, n.RegisteredAt, n.IdleSince = trainyard.NodeIdle, time.Now(), time.Now()
	s.alive[id] = true
}

func (s *fakeState) setNodeState(id string, st trainyard.NodeState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.nodes[id]
	n.State = st
	if st == trainyard.NodeIdle {
		n.IdleSince = time.Now()
	}
}

func (s *fakeState) nodeStates(k string) map[string]trainyard.NodeState {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]trainyard.NodeState)
	for _, n := range s.nodes {
		if key(n.Workspace, n.Compute) == k {
			out[n.ID] = n.State
		}
	}
	return out
}

func (s *fakeState) waitReason(k string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.wait[k]
}

// writes is how many times the queued jobs were given a wait reason.
func (s *fakeState) writes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.waitWrites
}

// eventsOf returns the events of target k whose kind is kind.
func (s *fakeState) eventsOf(k, kind string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, e := range s.events[k] {
		if strings.HasPrefix(e, kind+": ") {
			out = append(out, e)
		}
	}
	return out
}

// fakeProvider is an in-memory provider.Provider.
type fakeProvider struct {
	mu        sync.Mutex
	instances map[string]provider.Instance
	creates   map[string]int   // Create calls by target
	createErr map[string]error // by target: Create fails with it
	block     map[string]bool  // by target: Create blocks until its context ends
	templates []provider.Template
	onCreate  func(provider.Template) // called after a successful Create, e.g. to register the agent
}

var _ provider.Provider = (*fakeProvider)(nil)

func newFakeProvider() *fakeProvider {
	return &fakeProvider{
		instances: make(map[string]provider.Instance),
		creates:   make(map[string]int),
		createErr: make(map[string]error),
		block:     make(map[string]bool),
	}
}

func (p *fakeProvider) List(ctx context.Context, target string) ([]provider.Instance, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []provider.Instance
	for _, in := range p.instances {
		if in.Target == target {
			out = append(out, in)
		}
	}
	return out, nil
}

func (p *fakeProvider) Create(ctx context.Context, tmpl provider.Template) (provider.Instance, error) {
	p.mu.Lock()
	p.creates[tmpl.Target]++
	err, block := p.createErr[tmpl.Target], p.block[tmpl.Target]
	p.mu.Unlock()
	if block {
		<-ctx.Done()
		return provider.Instance{}, ctx.Err()
	}
	if err != nil {
		return provider.Instance{}, err
	}
	in := provider.Instance{ID: tmpl.NodeID, Target: tmpl.Target, State: provider.Running, CreatedAt: time.Now()}
	p.mu.Lock()
	p.instances[in.ID] = in
	p.templates = append(p.templates, tmpl)
	onCreate := p.onCreate
	p.mu.Unlock()
	if onCreate != nil {
		onCreate(tmpl)
	}
	return in, nil
}

func (p *fakeProvider) Delete(ctx context.Context, ids ...string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, id := range ids {
		delete(p.instances, id)
	}
	return nil
}

func (p *fakeProvider) add(in provider.Instance) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.instances[in.ID] = in
}

func (p *fakeProvider) count(target string) int {
	in, _ := p.List(context.Background(), target)
	return len(in)
}

func (p *fakeProvider) createCalls(target string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.creates[target]
}

// cluster returns a provisioned cluster of workspace ws: size STANDARD_D2_V2, 0 to 4 nodes,
// idle 2 min.
func cluster(name string) trainyard.ComputeTarget {
	return trainyard.ComputeTarget{
		Workspace: "ws", Name: name, Type: trainyard.TypeAmlCompute, Size: "STANDARD_D2_V2",
		Scale: trainyard.ScaleSettings{MaxNodes: 4, IdleTimeBeforeScaleDown: 2 * time.Minute},
		State: trainyard.Succeeded,
	}
}

// start runs an autoscaler over st and p in the local location and returns it with a stop
// function that cancels Run and checks that it returned nil. Call it inside a bubble.
func start(t *testing.T, st *fakeState, p *fakeProvider) (*autoscale.Autoscaler, func()) {
	t.Helper()
	a := autoscale.New(autoscale.Config{
		State:     st,
		Locations: map[string]autoscale.Location{"local": {Provider: p, Sizes: trainyard.BuiltinSizes}},
		ServerURL: func() string { return "http://127.0.0.1:8080" },
		Interval:  5 * time.Second,
	})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	return a, func() {
		t.Helper()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run() = %v after cancel, want nil", err)
		}
	}
}

func TestKickLaunchesNodesForDemand(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st, p := newFakeState(), newFakeProvider()
		st.addCompute(cluster("gpu"))
		a, stop := start(t, st, p)
		defer stop()
		synctest.Wait()
		if got := p.count("ws/gpu"); got != 0 {
			t.Fatalf("instances before demand = %d, want 0", got)
		}

		began := time.Now()
		st.setDemand("ws/gpu", 2)
		for range 3 {
			a.Kick() // never blocks; kicks collapse
		}
		synctest.Wait()
		if d := time.Since(began); d != 0 {
			t.Errorf("launch waited %s of (fake) time, want 0: Kick should start a pass at once", d)
		}
		if got := p.count("ws/gpu"); got != 2 {
			t.Errorf("instances after Kick = %d, want 2", got)
		}
		for id, s := range st.nodeStates("ws/gpu") {
			if s != trainyard.NodePreparing || !strings.HasPrefix(id, "gpu-") || len(id) != len("gpu-")+8 {
				t.Errorf("node %s in state %s, want an ID gpu-<8 hex> in state preparing", id, s)
			}
		}
		for _, tmpl := range p.templates {
			if tmpl.Target != "ws/gpu" || tmpl.ServerURL != "http://127.0.0.1:8080" || tmpl.JoinToken == "" || tmpl.VCPUs != 2 || tmpl.MemoryGiB != 7 {
				t.Errorf("Create template = %+v, want target ws/gpu, the server URL, a join token and the size of STANDARD_D2_V2", tmpl)
			}
		}
		if got, want := st.waitReason("ws/gpu"), "WaitingForNodes: 2 nodes starting (0 ready of 2 wanted)"; got != want {
			t.Errorf("wait reason = %q, want %q", got, want)
		}
		if got := st.eventsOf("ws/gpu", autoscale.EventScale); len(got) != 1 || !strings.Contains(got[0], "launching 2") {
			t.Errorf("scale events = %q, want one saying launching 2", got)
		}

		// Booting nodes count: later passes launch nothing more.
		time.Sleep(time.Minute)
		synctest.Wait()
		if got := p.createCalls("ws/gpu"); got != 2 {
			t.Errorf("Create calls after a minute of booting = %d, want 2", got)
		}
	})
}

func TestIdleNodeReleasedAfterIdleTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st, p := newFakeState(), newFakeProvider()
		st.addCompute(cluster("cpu"))
		p.onCreate = func(tmpl provider.Template) { st.register(tmpl.NodeID) } // agents register at once
		st.setDemand("ws/cpu", 1)
		a, stop := start(t, st, p)
		defer stop()
		synctest.Wait()

		// The job runs on the new node, ends, and nothing else is queued.
		var id string
		for id = range st.nodeStates("ws/cpu") {
		}
		st.setNodeState(id, trainyard.NodeRunning)
		st.setDemand("ws/cpu", 0)
		time.Sleep(10 * time.Minute) // running nodes are never released
		if got := st.nodeStates("ws/cpu"); got[id] != trainyard.NodeRunning {
			t.Fatalf("nodes after 10 min running = %v, want %s running", got, id)
		}
		st.setNodeState(id, trainyard.NodeIdle)
		a.Kick()
		time.Sleep(119 * time.Second)
		synctest.Wait()
		if got := st.nodeStates("ws/cpu"); len(got) != 1 {
			t.Fatalf("nodes after 119 s idle = %v, want %s kept (idle time 2 min)", got, id)
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if got := st.nodeStates("ws/cpu"); len(got) != 0 {
			t.Errorf("nodes after 121 s idle = %v, want none", got)
		}
		if got := p.count("ws/cpu"); got != 0 {
			t.Errorf("instances after 121 s idle = %d, want 0", got)
		}
		if got := st.eventsOf("ws/cpu", autoscale.EventScale); len(got) == 0 || !strings.Contains(got[len(got)-1], "idle 2m0s >= 2m0s: releasing (min 0)") {
			t.Errorf("scale events = %q, want the last to say the node idled 2m0s", got)
		}
	})
}

func TestNodeKeptByMinSaysWhy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st, p := newFakeState(), newFakeProvider()
		c := cluster("cpu")
		c.Scale.MinNodes = 1
		st.addCompute(c)
		p.onCreate = func(tmpl provider.Template) { st.register(tmpl.NodeID) }
		_, stop := start(t, st, p)
		defer stop()

		time.Sleep(10 * time.Minute)
		synctest.Wait()
		if got := st.nodeStates("ws/cpu"); len(got) != 1 {
			t.Errorf("nodes after 10 min with min 1 = %v, want one idle node", got)
		}
		kept := st.eventsOf("ws/cpu", autoscale.EventNode)
		kept = slices.DeleteFunc(kept, func(e string) bool { return !strings.Contains(e, "kept") })
		if len(kept) != 1 || !strings.Contains(kept[0], "kept: min_instances is 1") {
			t.Errorf("keep events = %q, want exactly one saying min_instances is 1", kept)
		}
	})
}

func TestProvisioning(t *testing.T) {
	tests := []struct {
		name      string
		location  string
		size      string
		wantState trainyard.ProvisioningState
		wantMsg   []string
	}{
		{name: "valid", size: "Standard_D2_v2", wantState: trainyard.Succeeded},
		{name: "unknown size", size: "STANDARD_XL", wantState: trainyard.Failed,
			wantMsg: []string{`size "STANDARD_XL"`, `location "local"`, "STANDARD_D2_V2, STANDARD_D3_V2"}},
		{name: "unknown location", location: "mars", size: "STANDARD_D2_V2", wantState: trainyard.Failed,
			wantMsg: []string{`location "mars" is not configured`, "choose one of: local"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				st, p := newFakeState(), newFakeProvider()
				c := cluster("cpu")
				c.State, c.Location, c.Size, c.Scale.MinNodes = trainyard.Creating, tt.location, tt.size, 1
				st.addCompute(c)
				st.setDemand("ws/cpu", 1)
				_, stop := start(t, st, p)
				defer stop()
				synctest.Wait()

				got, _ := st.compute("ws/cpu")
				if got.State != tt.wantState {
					t.Fatalf("state = %s (errors %q), want %s", got.State, got.Errors, tt.wantState)
				}
				if tt.wantState == trainyard.Succeeded {
					if e := st.eventsOf("ws/cpu", autoscale.EventProvisioned); len(e) != 1 {
						t.Errorf("provisioned events = %q, want one", e)
					}
					if n := p.count("ws/cpu"); n != 1 {
						t.Errorf("instances = %d, want 1 launched in the same pass", n)
					}
					return
				}
				msg := strings.Join(got.Errors, "\n")
				for _, s := range tt.wantMsg {
					if !strings.Contains(msg, s) {
						t.Errorf("errors = %q, want them to contain %q", got.Errors, s)
					}
				}
				if w := st.waitReason("ws/cpu"); !strings.HasPrefix(w, trainyard.WaitComputeFailed+": ") || !strings.Contains(w, tt.wantMsg[0]) {
					t.Errorf("wait reason = %q, want ComputeFailed with the message", w)
				}
				time.Sleep(time.Minute)
				if n := p.createCalls("ws/cpu"); n != 0 {
					t.Errorf("Create calls on a failed target = %d, want 0", n)
				}
			})
		})
	}
}

func TestFailingCreateBacksOffAndSparesOtherTargets(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st, p := newFakeState(), newFakeProvider()
		st.addCompute(cluster("full"))
		st.addCompute(cluster("ok"))
		p.createErr["ws/full"] = fmt.Errorf("pool exhausted: %w", provider.ErrCapacity)
		st.setDemand("ws/full", 1)
		st.setDemand("ws/ok", 1)
		_, stop := start(t, st, p)
		defer stop()

		time.Sleep(10 * time.Minute) // 120 passes at 5 s
		synctest.Wait()
		// Backoff 5 s, 10 s, 20 s ... 5 min: tries at 0, 5, 15, 35, 75, 155, 315 s.
		if got := p.createCalls("ws/full"); got < 5 || got > 8 {
			t.Errorf("Create calls in 10 min for a target without capacity = %d, want 5 to 8 (backing off)", got)
		}
		if got := st.nodeStates("ws/full"); len(got) != 0 {
			t.Errorf("node records of the failing target = %v, want none left behind", got)
		}
		if got := st.waitReason("ws/full"); !strings.HasPrefix(got, autoscale.WaitNoCapacity+": ") {
			t.Errorf("wait reason = %q, want it to begin with NoCapacity", got)
		}
		if got := len(st.eventsOf("ws/full", autoscale.EventError)); got < 1 || got > 8 {
			t.Errorf("error events = %d, want 1 to 8", got)
		}
		if got := p.count("ws/ok"); got != 1 {
			t.Errorf("instances of the healthy target = %d, want 1", got)
		}

		// Capacity comes back: the next try succeeds.
		p.mu.Lock()
		delete(p.createErr, "ws/full")
		p.mu.Unlock()
		time.Sleep(maxBackoff)
		synctest.Wait()
		if got := p.count("ws/full"); got != 1 {
			t.Errorf("instances after capacity returned = %d, want 1", got)
		}
		if got := st.waitReason("ws/full"); !strings.HasPrefix(got, trainyard.WaitWaitingForNodes+": 1 node starting") {
			t.Errorf("wait reason = %q, want WaitingForNodes: 1 node starting", got)
		}
	})
}

const maxBackoff = 5 * time.Minute

func TestHangingCreateDoesNotBlockOtherTargets(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st, p := newFakeState(), newFakeProvider()
		st.addCompute(cluster("stuck"))
		st.addCompute(cluster("ok"))
		p.block["ws/stuck"] = true
		st.setDemand("ws/stuck", 1)
		st.setDemand("ws/ok", 1)
		_, stop := start(t, st, p)

		synctest.Wait()
		if got := p.count("ws/ok"); got != 1 {
			t.Errorf("instances of the healthy target = %d, want 1", got)
		}
		st.setDemand("ws/ok", 3)
		time.Sleep(time.Minute)
		synctest.Wait()
		if got := p.count("ws/ok"); got != 3 {
			t.Errorf("instances of the healthy target a minute later = %d, want 3", got)
		}
		if got := p.createCalls("ws/stuck"); got != 1 {
			t.Errorf("Create calls of the hanging target = %d, want 1 (no second pass while one runs)", got)
		}
		stop() // Run returns once the hanging Create sees its context end
	})
}

func TestLostNodeIsReplaced(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st, p := newFakeState(), newFakeProvider()
		st.addCompute(cluster("cpu"))
		now := time.Now()
		st.addNode(trainyard.Node{ID: "cpu-00000001", Workspace: "ws", Compute: "cpu", State: trainyard.NodeRunning,
			Job: "j-1", Slots: 1, CreatedAt: now, RegisteredAt: now, LastSeen: now}, false) // its agent is silent
		p.add(provider.Instance{ID: "cpu-00000001", Target: "ws/cpu", State: provider.Running})
		st.setDemand("ws/cpu", 1) // the job is queued again
		_, stop := start(t, st, p)
		defer stop()

		time.Sleep(45 * time.Second)
		synctest.Wait()
		got := st.nodeStates("ws/cpu")
		if _, ok := got["cpu-00000001"]; ok || len(got) != 1 {
			t.Errorf("nodes 45 s after the agent went silent = %v, want the lost node recycled and one new node", got)
		}
		if e := st.eventsOf("ws/cpu", autoscale.EventNode); !slices.ContainsFunc(e, func(s string) bool {
			return strings.Contains(s, "node cpu-00000001 lost: agent silent")
		}) {
			t.Errorf("node events = %q, want one saying cpu-00000001 was lost", e)
		}
	})
}

func TestDeletingRemovesNodesThenCompute(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st, p := newFakeState(), newFakeProvider()
		c := cluster("cpu")
		c.State = trainyard.Deleting
		st.addCompute(c)
		now := time.Now()
		for _, n := range []trainyard.Node{
			{ID: "cpu-idle", State: trainyard.NodeIdle, IdleSince: now},
			{ID: "cpu-boot", State: trainyard.NodePreparing},
			{ID: "cpu-run", State: trainyard.NodeRunning, Job: "j-1"},
		} {
			n.Workspace, n.Compute, n.CreatedAt, n.RegisteredAt = "ws", "cpu", now, now
			st.addNode(n, true)
			p.add(provider.Instance{ID: n.ID, Target: "ws/cpu", State: provider.Running})
		}
		p.add(provider.Instance{ID: "stray", Target: "ws/cpu", State: provider.Running})
		a, stop := start(t, st, p)
		defer stop()
		synctest.Wait()

		if got := st.nodeStates("ws/cpu"); len(got) != 1 || got["cpu-run"] != trainyard.NodeRunning {
			t.Errorf("nodes after a pass = %v, want only the running one", got)
		}
		if got := p.count("ws/cpu"); got != 1 {
			t.Errorf("instances after a pass = %d, want 1 (the running node's)", got)
		}
		if _, ok := st.compute("ws/cpu"); !ok {
			t.Fatalf("compute deleted while a node still runs")
		}

		st.setNodeState("cpu-run", trainyard.NodeIdle) // the caller canceled its job
		a.Kick()
		synctest.Wait()
		if got := p.count("ws/cpu"); got != 0 {
			t.Errorf("instances at the end = %d, want 0", got)
		}
		if _, ok := st.compute("ws/cpu"); ok {
			t.Errorf("compute still recorded after its last node went")
		}
	})
}

func TestRunReturnsWhenContextEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st, p := newFakeState(), newFakeProvider()
		st.addCompute(cluster("cpu"))
		a := autoscale.New(autoscale.Config{
			State:     st,
			Locations: map[string]autoscale.Location{"local": {Provider: p, Sizes: trainyard.BuiltinSizes}},
		})
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- a.Run(ctx) }()
		time.Sleep(time.Minute)
		cancel()
		synctest.Wait()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run() = %v, want nil", err)
			}
		default:
			t.Errorf("Run did not return after its context ended")
		}
	})
}

// A failure to read state is retried with backoff, not every pass.
func TestStateErrorsBackOff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st, p := newFakeState(), newFakeProvider()
		st.addCompute(cluster("cpu"))
		lp := &listFailer{fakeProvider: p, err: errors.New("provider down")}
		a := autoscale.New(autoscale.Config{
			State:     st,
			Locations: map[string]autoscale.Location{"local": {Provider: lp, Sizes: trainyard.BuiltinSizes}},
			ServerURL: func() string { return "http://x" },
		})
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go a.Run(ctx)
		time.Sleep(10 * time.Minute)
		synctest.Wait()
		if got := lp.calls(); got < 5 || got > 8 {
			t.Errorf("List calls in 10 min while it fails = %d, want 5 to 8", got)
		}
		if got := len(st.eventsOf("ws/cpu", autoscale.EventError)); got < 1 || got > 8 {
			t.Errorf("error events = %d, want 1 to 8", got)
		}
	})
}

type listFailer struct {
	*fakeProvider
	err error
	n   int
}

func (l *listFailer) List(ctx context.Context, target string) ([]provider.Instance, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n++
	return nil, l.err
}

func (l *listFailer) calls() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n
}

// Queued jobs are given a wait reason at once when its kind changes, and one of the same kind
// (new counts) at most every 2 s: passes come on every submit and every job's end, and each
// write touches every queued job. A cluster at max whose node is between two jobs says its
// nodes are busy, not that it waits for nodes.
func TestWaitReasonWrites(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st, p := newFakeState(), newFakeProvider()
		c := cluster("one")
		c.Scale.MaxNodes = 1
		st.addCompute(c)
		now := time.Now()
		st.addNode(trainyard.Node{ID: "one-00000001", Workspace: "ws", Compute: "one", State: trainyard.NodeRunning,
			Job: "j-1", Slots: 1, CreatedAt: now, RegisteredAt: now, LastSeen: now}, true)
		p.add(provider.Instance{ID: "one-00000001", Target: "ws/one", State: provider.Running})
		st.setDemand("ws/one", 500)
		a, stop := start(t, st, p)
		defer stop()
		synctest.Wait()
		busy := "NodesBusy: all 1 node busy, max_instances 1"
		if got := st.waitReason("ws/one"); got != busy || st.writes() != 1 {
			t.Fatalf("wait reason %q after %d writes, want %q after 1", got, st.writes(), busy)
		}
		for i := range 20 { // jobs end and start, and the node is idle between two of them
			st.setDemand("ws/one", 499-i)
			if i%2 == 0 {
				st.setNodeState("one-00000001", trainyard.NodeIdle)
			} else {
				st.setNodeState("one-00000001", trainyard.NodeRunning)
			}
			a.Kick()
			synctest.Wait()
			time.Sleep(50 * time.Millisecond)
		}
		if got := st.waitReason("ws/one"); got != busy || st.writes() != 1 {
			t.Errorf("wait reason %q after %d writes in 1 s of passes, want %q still from 1", got, st.writes(), busy)
		}
		time.Sleep(2 * time.Second)
		st.setNodeState("one-00000001", trainyard.NodeRunning)
		a.Kick()
		synctest.Wait()
		if st.writes() != 2 {
			t.Errorf("%d writes after 2 s more, want 2: a reason of the same kind is given again every 2 s", st.writes())
		}
		st.setCompute("ws/one", func(c *trainyard.ComputeTarget) { c.Scale.MaxNodes = 2 })
		a.Kick()
		synctest.Wait()
		if got := st.waitReason("ws/one"); !strings.HasPrefix(got, "WaitingForNodes: 1 node starting") || st.writes() != 3 {
			t.Errorf("wait reason %q after %d writes, want WaitingForNodes at once (3 writes) when max grows", got, st.writes())
		}
	})
}
