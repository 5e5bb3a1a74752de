package autoscale_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/internal/autoscale"
	"github.com/trainyard/trainyard/internal/provider"
)

var now = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// pol is the policy of most cases: idle 2 min, boot 5 min, heartbeat 30 s.
func pol(min, max int) autoscale.Policy {
	return autoscale.Policy{Min: min, Max: max, IdleTimeout: 2 * time.Minute, BootTimeout: 5 * time.Minute, HeartbeatTimeout: 30 * time.Second}
}

// registered returns a node whose agent registered an hour ago and was heard from 5 s ago.
func registered(id string, s trainyard.NodeState) trainyard.Node {
	return trainyard.Node{ID: id, State: s, Slots: 1, CreatedAt: now.Add(-time.Hour),
		RegisteredAt: now.Add(-time.Hour), LastSeen: now.Add(-5 * time.Second)}
}

func idle(id string, for_ time.Duration) trainyard.Node {
	n := registered(id, trainyard.NodeIdle)
	n.IdleSince = now.Add(-for_)
	return n
}

func running(id string) trainyard.Node { return registered(id, trainyard.NodeRunning) }

// starting returns a preparing node launched age ago whose agent has not registered.
func starting(id string, age time.Duration) trainyard.Node {
	return trainyard.Node{ID: id, State: trainyard.NodePreparing, Slots: 1, CreatedAt: now.Add(-age)}
}

func silent(n trainyard.Node, d time.Duration) trainyard.Node {
	n.LastSeen = now.Add(-d)
	return n
}

func inState(id string, s trainyard.NodeState) trainyard.Node { return registered(id, s) }

// observe returns the nodes with a running instance each, plus extra instances.
func observe(demand int, nodes []trainyard.Node, extra ...provider.Instance) autoscale.Observed {
	o := autoscale.Observed{Nodes: nodes, Demand: demand}
	for _, n := range nodes {
		o.Instances = append(o.Instances, provider.Instance{ID: n.ID, State: provider.Running, CreatedAt: n.CreatedAt})
	}
	o.Instances = append(o.Instances, extra...)
	return o
}

func nodes(ns ...trainyard.Node) []trainyard.Node { return ns }

func ids(s ...string) []string { return s }

func TestDecide(t *testing.T) {
	tests := []struct {
		name   string
		policy autoscale.Policy
		obs    autoscale.Observed
		want   autoscale.Plan
		reason []string // substrings autoscale.Plan.Reason must contain
	}{
		{name: "nothing to do", policy: pol(0, 4), want: autoscale.Plan{}},
		{
			name: "demand launches", policy: pol(0, 4), obs: observe(2, nil),
			want:   autoscale.Plan{Launch: 2},
			reason: []string{"2 nodes wanted by queued jobs, 0 running, 0 idle, 0 starting: launching 2 (max 4)"},
		},
		{
			name: "booting nodes count as capacity", policy: pol(0, 4),
			obs:  observe(3, nodes(starting("n-1", time.Minute), starting("n-2", 4*time.Minute))),
			want: autoscale.Plan{Launch: 1},
		},
		{
			name: "booting node counts before its instance is listed", policy: pol(0, 4),
			obs:  autoscale.Observed{Demand: 1, Nodes: nodes(starting("n-1", time.Second))},
			want: autoscale.Plan{},
		},
		{
			name: "idle nodes serve demand", policy: pol(0, 4),
			obs:  observe(2, nodes(idle("n-1", time.Second))),
			want: autoscale.Plan{Launch: 1},
		},
		{
			name: "capped at max", policy: pol(0, 4), obs: observe(9, nil),
			want: autoscale.Plan{Launch: 4}, reason: []string{"launching 4 (capped at max 4)"},
		},
		{
			name: "running nodes count toward max", policy: pol(0, 4),
			obs:  observe(3, nodes(running("n-1"), running("n-2"), running("n-3"))),
			want: autoscale.Plan{Launch: 1},
		},
		{
			name: "max 0 launches nothing", policy: pol(0, 0), obs: observe(2, nil),
			want: autoscale.Plan{},
		},
		{
			name: "min launches without demand", policy: pol(2, 4), obs: observe(0, nil),
			want: autoscale.Plan{Launch: 2}, reason: []string{"min_instances is 2, 0 nodes active: launching 2"},
		},
		{
			name: "min kept with Keep reason", policy: pol(1, 4),
			obs:  observe(0, nodes(idle("n-1", 10*time.Minute))),
			want: autoscale.Plan{Keep: map[string]string{"n-1": "min_instances is 1"}},
		},
		{
			name: "idle past timeout released longest idle first", policy: pol(1, 4),
			obs:    observe(0, nodes(idle("n-a", 5*time.Minute), idle("n-b", 10*time.Minute), idle("n-c", 3*time.Minute))),
			want:   autoscale.Plan{Release: ids("n-a", "n-b"), Keep: map[string]string{"n-c": "min_instances is 1"}},
			reason: []string{"node n-b idle 10m0s >= 2m0s: releasing (min 1); node n-a idle 5m0s >= 2m0s"},
		},
		{
			name: "idle under timeout kept", policy: pol(0, 4),
			obs:  observe(0, nodes(idle("n-1", 119*time.Second))),
			want: autoscale.Plan{},
		},
		{
			name: "idle exactly the timeout released", policy: pol(0, 4),
			obs:  observe(0, nodes(idle("n-1", 2*time.Minute))),
			want: autoscale.Plan{Release: ids("n-1")},
		},
		{
			name: "C-01 four nodes idle 3 min with idle 120 s and min 0 are all released", policy: pol(0, 4),
			obs: observe(0, nodes(idle("n-1", 3*time.Minute), idle("n-2", 3*time.Minute),
				idle("n-3", 3*time.Minute), idle("n-4", 3*time.Minute))),
			want:   autoscale.Plan{Release: ids("n-1", "n-2", "n-3", "n-4")},
			reason: []string{"node n-1 idle 3m0s >= 2m0s: releasing (min 0)", "node n-4 idle 3m0s"},
		},
		{
			name: "C-02 demand keeps young idle nodes and releases none", policy: pol(0, 4),
			obs:  observe(3, nodes(idle("n-1", 10*time.Second), idle("n-2", 30*time.Second), idle("n-3", time.Minute))),
			want: autoscale.Plan{},
		},
		{
			name: "C-02 demand does not reset idle clocks, only fewer nodes are surplus", policy: pol(0, 4),
			obs:  observe(1, nodes(idle("n-1", 3*time.Minute), idle("n-2", 4*time.Minute), idle("n-3", 5*time.Minute))),
			want: autoscale.Plan{Release: ids("n-2", "n-3"), Keep: map[string]string{"n-1": "queued jobs want 1 node"}},
		},
		{
			name: "C-02 without demand the old idle node goes and the young stays", policy: pol(0, 4),
			obs:  observe(0, nodes(idle("n-old", 3*time.Minute), idle("n-young", 30*time.Second))),
			want: autoscale.Plan{Release: ids("n-old")},
		},
		{
			name: "max lowered releases idle nodes, longest idle first, never running ones", policy: pol(0, 2),
			obs: observe(0, nodes(running("r-1"), idle("i-1", 10*time.Second), idle("i-2", 20*time.Second),
				idle("i-3", 5*time.Second), starting("p-1", time.Minute))),
			want:   autoscale.Plan{Release: ids("i-1", "i-2", "i-3")},
			reason: []string{"node i-2 idle with 5 nodes active > max_instances 2: releasing"},
		},
		{
			name: "max lowered then releases the newest starting node", policy: pol(0, 1),
			obs:  observe(2, nodes(running("r-1"), starting("p-old", 3*time.Minute), starting("p-new", time.Minute))),
			want: autoscale.Plan{Release: ids("p-new", "p-old")},
		},
		{
			name: "max lowered below running nodes releases none of them", policy: pol(0, 1),
			obs:  observe(1, nodes(running("r-1"), running("r-2"), running("r-3"))),
			want: autoscale.Plan{},
		},
		{
			name: "boot timeout releases an unregistered node and replaces it", policy: pol(0, 4),
			obs:    observe(1, nodes(starting("p-1", 5*time.Minute))),
			want:   autoscale.Plan{Release: ids("p-1"), Launch: 1},
			reason: []string{"node p-1 not registered after 5m0s: releasing", "launching 1"},
		},
		{
			name: "registered node still preparing after boot timeout stays", policy: pol(0, 4),
			obs:  observe(1, nodes(inState("p-1", trainyard.NodePreparing))),
			want: autoscale.Plan{},
		},
		{
			name: "silent heartbeat loses the node and launches a replacement for demand", policy: pol(0, 4),
			obs:    observe(1, nodes(silent(idle("n-1", time.Second), 45*time.Second))),
			want:   autoscale.Plan{Lost: ids("n-1"), Launch: 1},
			reason: []string{"node n-1 lost: agent silent for 45s > 30s"},
		},
		{
			name: "silent running node lost, no demand no launch", policy: pol(0, 4),
			obs:  observe(0, nodes(silent(running("n-1"), time.Minute), running("n-2"))),
			want: autoscale.Plan{Lost: ids("n-1")},
		},
		{
			name: "silent for exactly the timeout is not yet lost", policy: pol(0, 4),
			obs:  observe(0, nodes(silent(running("n-1"), 30*time.Second))),
			want: autoscale.Plan{},
		},
		{
			name: "never seen falls back to registration time", policy: pol(0, 4),
			obs: observe(0, nodes(func() trainyard.Node {
				n := running("n-1")
				n.LastSeen = time.Time{}
				return n
			}())),
			want: autoscale.Plan{Lost: ids("n-1")}, reason: []string{"agent silent for 1h0m0s > 30s"},
		},
		{
			name: "instance gone loses the node", policy: pol(0, 4),
			obs: autoscale.Observed{Nodes: nodes(running("n-1")),
				Instances: []provider.Instance{{ID: "n-1", State: provider.Gone}}},
			want: autoscale.Plan{Lost: ids("n-1")}, reason: []string{"node n-1 lost: its instance is gone"},
		},
		{
			name: "instance missing loses the node", policy: pol(0, 4),
			obs:  autoscale.Observed{Nodes: nodes(idle("n-1", time.Second))},
			want: autoscale.Plan{Lost: ids("n-1")}, reason: []string{"its instance is missing"},
		},
		{
			name: "young preparing node with gone instance waits for the boot timeout", policy: pol(0, 4),
			obs: autoscale.Observed{Nodes: nodes(starting("p-1", time.Minute)),
				Instances: []provider.Instance{{ID: "p-1", State: provider.Gone}}},
			want: autoscale.Plan{},
		},
		{
			name: "orphan instance deleted", policy: pol(0, 4),
			obs:    observe(0, nodes(running("n-1")), provider.Instance{ID: "i-9", State: provider.Running}, provider.Instance{ID: "i-8", State: provider.Gone}),
			want:   autoscale.Plan{Orphans: ids("i-8", "i-9")},
			reason: []string{"instance i-9 has no node record: deleting"},
		},
		{
			name: "unusable node recycled and replaced for demand", policy: pol(0, 4),
			obs:  observe(1, nodes(inState("u-1", trainyard.NodeUnusable))),
			want: autoscale.Plan{Release: ids("u-1"), Launch: 1},
		},
		{
			name: "leaving node stays in Release until its record is gone", policy: pol(0, 4),
			obs:  autoscale.Observed{Nodes: nodes(inState("l-1", trainyard.NodeLeaving))},
			want: autoscale.Plan{Release: ids("l-1")},
		},
		{
			name: "deleting releases every node but running ones and launches nothing", policy: pol(2, 4),
			obs: func() autoscale.Observed {
				o := observe(5, nodes(running("r-1"), idle("i-1", time.Second), starting("p-1", time.Minute),
					inState("u-1", trainyard.NodeUnusable), inState("l-1", trainyard.NodeLeaving)),
					provider.Instance{ID: "i-9"})
				o.Deleting = true
				return o
			}(),
			want: autoscale.Plan{Release: ids("i-1", "l-1", "p-1", "u-1"), Orphans: ids("i-9")},
		},
		{
			name: "deleting still loses a silent running node and releases a silent idle one", policy: pol(0, 4),
			obs: autoscale.Observed{Deleting: true, Nodes: nodes(silent(running("r-1"), time.Hour), silent(idle("i-1", time.Hour), time.Hour)),
				Instances: []provider.Instance{{ID: "r-1"}, {ID: "i-1"}}},
			want: autoscale.Plan{Lost: ids("r-1"), Release: ids("i-1")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := autoscale.Decide(tt.policy, tt.obs, now)
			if diff := cmp.Diff(tt.want, got, cmpopts.IgnoreFields(autoscale.Plan{}, "Reason"), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Decide() mismatch (-want +got):\n%s", diff)
			}
			for _, s := range tt.reason {
				if !strings.Contains(got.Reason, s) {
					t.Errorf("Decide().Reason = %q, want it to contain %q", got.Reason, s)
				}
			}
			if got.Changes() != (got.Reason != "") {
				t.Errorf("Decide().Reason = %q with Changes() = %v: a plan has a reason exactly when it changes something", got.Reason, got.Changes())
			}
		})
	}
}

// TestDecideIsDeterministic holds that the order of the observations does not matter and that
// the input is not modified.
func TestDecideIsDeterministic(t *testing.T) {
	o := observe(2, nodes(idle("n-c", 3*time.Minute), idle("n-a", 4*time.Minute), idle("n-b", 5*time.Minute),
		running("n-d"), silent(running("n-e"), time.Hour), starting("n-f", 6*time.Minute)),
		provider.Instance{ID: "i-2"}, provider.Instance{ID: "i-1"})
	orig := slices.Clone(o.Nodes)
	want := autoscale.Decide(pol(0, 4), o, now)

	r := autoscale.Observed{Nodes: slices.Clone(o.Nodes), Instances: slices.Clone(o.Instances), Demand: o.Demand}
	slices.Reverse(r.Nodes)
	slices.Reverse(r.Instances)
	if diff := cmp.Diff(want, autoscale.Decide(pol(0, 4), r, now)); diff != "" {
		t.Errorf("Decide() with reversed inputs mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(orig, o.Nodes); diff != "" {
		t.Errorf("Decide() modified its input (-want +got):\n%s", diff)
	}
}
