package autoscale_test

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/internal/autoscale"
)

// fakeQuota lets room more nodes start.
type fakeQuota struct {
	mu   sync.Mutex
	room int
}

func (q *fakeQuota) Headroom(ctx context.Context, t trainyard.ComputeTarget) (int, string, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.room == 0 {
		return 0, "QuotaExceeded: VM family standardDv2Family needs 2 more cores", nil
	}
	return q.room, "", nil
}

func (q *fakeQuota) set(n int) {
	q.mu.Lock()
	q.room = n
	q.mu.Unlock()
}

// Launches stop at the quota, queued jobs say so, and raising the quota lets them start.
func TestLaunchesHeldByQuota(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st, p := newFakeState(), newFakeProvider()
		st.addCompute(cluster("cpu"))
		q := &fakeQuota{room: 1}
		a := autoscale.New(autoscale.Config{
			State: st, Quota: q, Interval: 5 * time.Second,
			Locations: map[string]autoscale.Location{"local": {Provider: p, Sizes: trainyard.BuiltinSizes}},
			ServerURL: func() string { return "http://127.0.0.1:8080" },
		})
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go a.Run(ctx)

		st.setDemand("ws/cpu", 3)
		a.Kick()
		synctest.Wait()
		if got := p.count("ws/cpu"); got != 1 {
			t.Fatalf("instances = %d, want 1: the quota has room for one node", got)
		}
		q.set(0)
		time.Sleep(6 * time.Second)
		synctest.Wait()
		if got := p.count("ws/cpu"); got != 1 {
			t.Errorf("instances with no room = %d, want still 1", got)
		}
		if got := st.waitReason("ws/cpu"); got != "QuotaExceeded: VM family standardDv2Family needs 2 more cores" {
			t.Errorf("wait reason = %q, want the quota's", got)
		}
		q.set(5)
		a.Kick()
		synctest.Wait()
		if got := p.count("ws/cpu"); got != 3 {
			t.Errorf("instances after raising the quota = %d, want 3", got)
		}
	})
}
