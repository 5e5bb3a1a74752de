package autoscale_test

import (
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/internal/autoscale"
	"github.com/trainyard/trainyard/internal/provider"
)

func TestPolicyOf(t *testing.T) {
	boot, hb := 5*time.Minute, 30*time.Second
	inst := func(p trainyard.PowerState) trainyard.ComputeTarget {
		return trainyard.ComputeTarget{Type: trainyard.TypeComputeInstance, Scale: trainyard.ScaleSettings{MaxNodes: 1},
			Instance: &trainyard.InstanceSettings{Power: p, IdleTimeBeforeShutdown: time.Hour}}
	}
	c := cluster("cpu")
	c.Scale.MinNodes = 1
	tests := []struct {
		name string
		t    trainyard.ComputeTarget
		want autoscale.Policy
	}{
		{"a cluster follows its scale settings", c,
			autoscale.Policy{Min: 1, Max: 4, IdleTimeout: 2 * time.Minute, BootTimeout: boot, HeartbeatTimeout: hb, PreemptGrace: autoscale.DefaultPreemptGrace}},
		{"a running instance keeps one node", inst(trainyard.PowerRunning),
			autoscale.Policy{Min: 1, Max: 1, BootTimeout: boot, HeartbeatTimeout: hb, PreemptGrace: autoscale.DefaultPreemptGrace}},
		{"a stopped instance keeps none", inst(trainyard.PowerStopped),
			autoscale.Policy{Min: 0, Max: 0, BootTimeout: boot, HeartbeatTimeout: hb, PreemptGrace: autoscale.DefaultPreemptGrace}},
		{"an instance without settings keeps none", trainyard.ComputeTarget{Type: trainyard.TypeComputeInstance},
			autoscale.Policy{BootTimeout: boot, HeartbeatTimeout: hb, PreemptGrace: autoscale.DefaultPreemptGrace}},
	}
	for _, tt := range tests {
		if got := autoscale.PolicyOf(tt.t, boot, hb); got != tt.want {
			t.Errorf("%s: PolicyOf() = %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

// The instance policy (min = max = 1 running, 0 stopped) through Decide.
func TestDecideInstance(t *testing.T) {
	on := autoscale.Policy{Min: 1, Max: 1, BootTimeout: 5 * time.Minute, HeartbeatTimeout: 30 * time.Second}
	off := autoscale.Policy{Min: 0, Max: 0, BootTimeout: 5 * time.Minute, HeartbeatTimeout: 30 * time.Second}
	tests := []struct {
		name   string
		policy autoscale.Policy
		obs    autoscale.Observed
		want   autoscale.Plan
		reason []string
	}{
		{name: "running with no node launches one", policy: on, want: autoscale.Plan{Launch: 1},
			reason: []string{"min_instances is 1, 0 nodes active: launching 1"}},
		{name: "running never idles out its node", policy: on, obs: observe(0, nodes(idle("n-1", 30*24*time.Hour))),
			want: autoscale.Plan{Keep: map[string]string{"n-1": "min_instances is 1"}}},
		{name: "running: queued jobs never add a node", policy: on, obs: observe(3, nodes(running("n-1")))},
		{name: "running: a booting node is enough", policy: on, obs: observe(1, nodes(starting("n-1", time.Minute)))},
		{name: "restart: the leaving node goes and a new one starts", policy: on, obs: observe(0, nodes(inState("n-1", trainyard.NodeLeaving))),
			want: autoscale.Plan{Launch: 1, Release: ids("n-1")}},
		{name: "running: a lost node is replaced", policy: on, obs: observe(0, nodes(silent(idle("n-1", time.Minute), time.Minute))),
			want: autoscale.Plan{Launch: 1, Lost: ids("n-1")}},
		{name: "stopped releases its idle node", policy: off, obs: observe(0, nodes(idle("n-1", time.Second))),
			want:   autoscale.Plan{Release: ids("n-1")},
			reason: []string{"node n-1 idle with 1 nodes active > max_instances 0: releasing"}},
		{name: "stopped releases a booting node", policy: off, obs: observe(0, nodes(starting("n-1", time.Minute))),
			want: autoscale.Plan{Release: ids("n-1")}},
		{name: "stopped keeps a running node until its job ends", policy: off, obs: observe(0, nodes(running("n-1")))},
		{name: "stopped launches nothing for queued jobs", policy: off, obs: observe(2, nil)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := autoscale.Decide(tt.policy, tt.obs, now)
			if diff := cmp.Diff(tt.want, got, cmpopts.IgnoreFields(autoscale.Plan{}, "Reason"), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Decide() mismatch (-want +got):\n%s", diff)
			}
			for _, r := range tt.reason {
				if !strings.Contains(got.Reason, r) {
					t.Errorf("Reason = %q, want it to contain %q", got.Reason, r)
				}
			}
		})
	}
}

func computeInstance(name string, p trainyard.PowerState) trainyard.ComputeTarget {
	return trainyard.ComputeTarget{Workspace: "ws", Name: name, Type: trainyard.TypeComputeInstance, Size: "STANDARD_DS3_V2",
		Tier: trainyard.Dedicated, Scale: trainyard.ScaleSettings{MaxNodes: 1}, State: trainyard.Succeeded,
		Instance: &trainyard.InstanceSettings{Power: p}}
}

// An instance gets its one node while running, loses it once stopped (queued jobs then say
// why they wait), and attached targets are left alone.
func TestInstanceStartStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st, p := newFakeState(), newFakeProvider()
		st.addCompute(computeInstance("dev-box", trainyard.PowerRunning))
		st.addCompute(trainyard.ComputeTarget{Workspace: "ws", Name: "myvm", Type: trainyard.TypeVirtualMachine, State: trainyard.Succeeded,
			Attach: &trainyard.AttachConfig{Address: "10.0.0.5", SSHPort: 22, Username: "me", Password: trainyard.NewSecret("pw")}})
		p.onCreate = func(tmpl provider.Template) { st.register(tmpl.NodeID) }
		a, stop := start(t, st, p)
		defer stop()
		synctest.Wait()
		if got := st.nodeStates("ws/dev-box"); len(got) != 1 {
			t.Fatalf("nodes of a running instance = %v, want one", got)
		}
		if got := p.createCalls("ws/myvm"); got != 0 {
			t.Errorf("launches for an attached target = %d, want none", got)
		}
		if got := st.eventsOf("ws/myvm", autoscale.EventProvisioned); len(got) != 0 {
			t.Errorf("provisioning events of an attached target = %q, want none", got)
		}

		// An hour idle: the node stays (an instance has no idle scale-down).
		time.Sleep(time.Hour)
		synctest.Wait()
		if got := st.nodeStates("ws/dev-box"); len(got) != 1 {
			t.Fatalf("nodes after an hour idle = %v, want the node kept", got)
		}

		st.setCompute("ws/dev-box", func(c *trainyard.ComputeTarget) { c.Instance.Power = trainyard.PowerStopped })
		st.setDemand("ws/dev-box", 1)
		a.Kick()
		synctest.Wait()
		if got := st.nodeStates("ws/dev-box"); len(got) != 0 {
			t.Errorf("nodes of a stopped instance = %v, want none", got)
		}
		if got := p.count("ws/dev-box"); got != 0 {
			t.Errorf("instances of a stopped instance = %d, want 0", got)
		}
		want := "InstanceStopped: compute instance dev-box is stopped; start it with: trainyard compute start --name dev-box"
		if got := st.waitReason("ws/dev-box"); got != want {
			t.Errorf("wait reason = %q, want %q", got, want)
		}

		st.setCompute("ws/dev-box", func(c *trainyard.ComputeTarget) { c.Instance.Power = trainyard.PowerRunning })
		a.Kick()
		synctest.Wait()
		if got := st.nodeStates("ws/dev-box"); len(got) != 1 {
			t.Errorf("nodes after start = %v, want one", got)
		}
	})
}
