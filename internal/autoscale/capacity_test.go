package autoscale_test

import (
	"context"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/internal/autoscale"
)

// A location with room for two nodes holds a low-priority cluster's two; a dedicated cluster
// that wants a node takes the room: one low-priority node is preempted (an idle one before a
// busy one), released, and the dedicated node starts, while the low-priority cluster waits
// for room rather than taking it back.
func TestDedicatedDemandPreemptsLowPriority(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st, p := newFakeState(), newFakeProvider()
		spot := cluster("spot")
		spot.Tier, spot.Scale.MinNodes = trainyard.LowPriority, 2
		st.addCompute(spot)
		st.addCompute(cluster("ded"))
		a := autoscale.New(autoscale.Config{
			State: st, Interval: 5 * time.Second,
			Locations: map[string]autoscale.Location{"local": {Provider: p, Sizes: trainyard.BuiltinSizes, CapacityCores: 4}},
			ServerURL: func() string { return "http://127.0.0.1:8080" },
		})
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go a.Run(ctx)

		a.Kick()
		synctest.Wait()
		if got := p.count("ws/spot"); got != 2 {
			t.Fatalf("low-priority instances = %d, want its min of 2", got)
		}
		var busy, idle string
		for id := range st.nodeStates("ws/spot") {
			st.register(id)
			if busy == "" {
				busy = id
				st.setNodeState(id, trainyard.NodeRunning)
			} else {
				idle = id
			}
		}

		st.setDemand("ws/ded", 1)
		a.Kick()
		synctest.Wait()
		states := st.nodeStates("ws/spot")
		if states[busy] != trainyard.NodeRunning {
			t.Errorf("the busy low-priority node is %s, want running: the idle one goes first", states[busy])
		}
		if s, ok := states[idle]; ok && s != trainyard.NodePreempted && s != trainyard.NodeLeaving {
			t.Errorf("the idle low-priority node is %s, want it preempted (or released already)", s)
		}
		if ev := st.eventsOf("ws/ded", "scale"); len(ev) == 0 || !strings.Contains(ev[len(ev)-1], "held back: NoCapacity") {
			t.Errorf("dedicated events = %q, want the held launch", ev)
		}
		if w := st.waitReason("ws/ded"); !strings.HasPrefix(w, autoscale.WaitNoCapacity+": location local has 4 of its 4 cores in use") || !strings.Contains(w, "preempted 1 low-priority node") {
			t.Errorf("dedicated wait reason = %q, want NoCapacity naming the cores and the preemption", w)
		}

		for range 3 { // the preempted node is released; the dedicated node takes its room
			time.Sleep(6 * time.Second)
			synctest.Wait()
		}
		if got := p.count("ws/ded"); got != 1 {
			t.Errorf("dedicated instances = %d, want 1 once the room is free", got)
		}
		if got := p.count("ws/spot"); got != 1 {
			t.Errorf("low-priority instances = %d, want 1: it waits for room below its min", got)
		}
		if w := st.waitReason("ws/spot"); w != "" && !strings.HasPrefix(w, autoscale.WaitNoCapacity) {
			t.Errorf("low-priority wait reason = %q", w)
		}
	})
}

// Queued work on a cluster whose idle nodes suffice waits for their agents to ask for it, as
// just after a server restart; the wait reason says so rather than "2 ready of 1 wanted".
func TestWaitReasonWithIdleNodes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st, p := newFakeState(), newFakeProvider()
		c := cluster("gpu")
		c.Scale.MinNodes = 2
		st.addCompute(c)
		a, stop := start(t, st, p)
		defer stop()
		synctest.Wait()
		for id := range st.nodeStates("ws/gpu") {
			st.register(id)
		}
		st.setDemand("ws/gpu", 1)
		a.Kick()
		synctest.Wait()
		if got, want := st.waitReason("ws/gpu"), "WaitingForNodes: (2 nodes idle, taking the work at their agents' next contact)"; got != want {
			t.Errorf("wait reason = %q, want %q", got, want)
		}
	})
}
