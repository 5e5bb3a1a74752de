package autoscale_test

import (
	"context"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/internal/autoscale"
	"github.com/trainyard/trainyard/internal/provider"
)

// RetireRunBased retires a run-based target with no queued job (demand) and no running node,
// as the store does with no unfinished job; a failed one's queued job fails first.
func (s *fakeState) RetireRunBased(ctx context.Context, ws, name string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := key(ws, name)
	c, ok := s.computes[k]
	if !ok || c.RunBasedFor() == "" || c.State == trainyard.Creating || c.State == trainyard.Deleting {
		return false, nil
	}
	if c.State == trainyard.Failed {
		s.demand[k] = 0
	}
	if s.demand[k] > 0 {
		return false, nil
	}
	for _, n := range s.nodes {
		if key(n.Workspace, n.Compute) == k && n.State == trainyard.NodeRunning {
			return false, nil
		}
	}
	c.State = trainyard.Deleting
	return true, nil
}

func runBased(name, job string) trainyard.ComputeTarget {
	c := cluster(name)
	c.Tags = map[string]string{trainyard.RunBasedTag: job}
	return c
}

func TestRunBasedClusterIsDeletedWhenItsJobEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st, p := newFakeState(), newFakeProvider()
		st.addCompute(runBased("run-train-kx3f9", "train"))
		st.addCompute(cluster("keep")) // persistent, idle, no jobs: it stays
		st.setDemand("ws/run-train-kx3f9", 1)
		p.onCreate = func(tmpl provider.Template) { st.register(tmpl.NodeID) }
		a, stop := start(t, st, p)
		defer stop()
		synctest.Wait()
		if got := p.count("ws/run-train-kx3f9"); got != 1 {
			t.Fatalf("instances for the queued job = %d, want 1", got)
		}

		// The job is placed on the node and runs: the cluster stays.
		var node string
		for id := range st.nodeStates("ws/run-train-kx3f9") {
			node = id
		}
		st.setDemand("ws/run-train-kx3f9", 0)
		st.setNodeState(node, trainyard.NodeRunning)
		a.Kick()
		synctest.Wait()
		if c, ok := st.compute("ws/run-train-kx3f9"); !ok || c.State != trainyard.Succeeded {
			t.Fatalf("run-based cluster while its job runs = %+v (present %v), want it Succeeded", c.State, ok)
		}

		// The job ends: within a pass the node goes, then the record.
		st.setNodeState(node, trainyard.NodeIdle)
		a.Kick()
		synctest.Wait()
		if _, ok := st.compute("ws/run-train-kx3f9"); ok {
			t.Errorf("run-based cluster still recorded after its job ended")
		}
		if got := p.count("ws/run-train-kx3f9"); got != 0 {
			t.Errorf("instances after the job ended = %d, want 0", got)
		}
		if got := st.eventsOf("ws/run-train-kx3f9", autoscale.EventLifecycle); len(got) != 1 || !strings.Contains(got[0], "job train ended") {
			t.Errorf("lifecycle events = %q, want one saying job train ended", got)
		}

		time.Sleep(time.Minute)
		synctest.Wait()
		if _, ok := st.compute("ws/keep"); !ok {
			t.Errorf("a persistent cluster with no jobs was deleted")
		}
	})
}

func TestFailedRunBasedClusterIsDeleted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st, p := newFakeState(), newFakeProvider()
		c := runBased("run-train-kx3f9", "train")
		c.State, c.Errors = trainyard.Failed, []string{"size X is not available"}
		st.addCompute(c)
		st.setDemand("ws/run-train-kx3f9", 1)
		_, stop := start(t, st, p)
		defer stop()
		synctest.Wait()
		if _, ok := st.compute("ws/run-train-kx3f9"); ok {
			t.Errorf("failed run-based cluster still recorded; its job can never run, so it should go")
		}
		if got := p.createCalls("ws/run-train-kx3f9"); got != 0 {
			t.Errorf("Create calls for a failed cluster = %d, want 0", got)
		}
		if got := st.eventsOf("ws/run-train-kx3f9", autoscale.EventLifecycle); len(got) != 1 || !strings.Contains(got[0], trainyard.ErrComputeFailed) {
			t.Errorf("lifecycle events = %q, want one naming %s", got, trainyard.ErrComputeFailed)
		}
	})
}
