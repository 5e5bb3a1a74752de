package schedule_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/trainyard/trainyard/internal/schedule"
)

// BenchmarkPlace measures the placement decision alone: 100,000 queued single-node jobs go
// onto 10,000 nodes, which come back idle after each round, until the queue is empty (ten
// rounds of schedule.Place through schedule.Queue). It reports placements/s for `make bench`.
func BenchmarkPlace(b *testing.B) {
	const nodes, jobs = 10_000, 100_000
	idle := make([]string, nodes)
	for i := range idle {
		idle[i] = fmt.Sprintf("node-%05d", i)
	}
	var placed int
	var spent time.Duration
	for b.Loop() {
		b.StopTimer()
		var q schedule.Queue
		for i := range jobs {
			q.Add(schedule.Job{ID: int64(i + 1), Nodes: 1})
		}
		b.StartTimer()
		start := time.Now()
		for q.Len() > 0 {
			d := q.Place(idle)
			if len(d.Placed) == 0 {
				b.Fatalf("nothing placed with %d jobs queued", q.Len())
			}
			placed += len(d.Placed)
		}
		spent += time.Since(start)
	}
	b.ReportMetric(float64(placed)/spent.Seconds(), "placements/s")
}
