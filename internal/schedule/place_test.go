package schedule

import (
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestPlace(t *testing.T) {
	tests := []struct {
		name  string
		queue []Job
		idle  []string
		want  Decision
	}{
		{name: "nothing queued", idle: []string{"a"}, want: Decision{}},
		{name: "no idle node", queue: []Job{{ID: 1, Nodes: 1}},
			want: Decision{Waiting: &Wait{Job: 1, Ready: 0, Wanted: 1}}},
		{name: "oldest first, in the order nodes are handed out", queue: []Job{{ID: 1, Nodes: 1}, {ID: 2, Nodes: 1}, {ID: 3, Nodes: 1}},
			idle: []string{"b", "a"},
			want: Decision{Placed: []Placement{{Job: 1, Nodes: []string{"b"}}, {Job: 2, Nodes: []string{"a"}}},
				Waiting: &Wait{Job: 3, Ready: 0, Wanted: 1}}},
		{name: "a gang takes its nodes together, the first as rank 0", queue: []Job{{ID: 7, Nodes: 3}},
			idle: []string{"c", "a", "b", "d"},
			want: Decision{Placed: []Placement{{Job: 7, Nodes: []string{"c", "a", "b"}}}}},
		{name: "a gang short of nodes takes none and says k/N", queue: []Job{{ID: 7, Nodes: 3}},
			idle: []string{"a", "b"},
			want: Decision{Waiting: &Wait{Job: 7, Ready: 2, Wanted: 3}}},
		{name: "a waiting gang blocks a younger job that would fit", queue: []Job{{ID: 1, Nodes: 4}, {ID: 2, Nodes: 1}},
			idle: []string{"a", "b"},
			want: Decision{Waiting: &Wait{Job: 1, Ready: 2, Wanted: 4}}},
		{name: "a job behind a placed one waits with the nodes left", queue: []Job{{ID: 1, Nodes: 1}, {ID: 2, Nodes: 2}, {ID: 3, Nodes: 1}},
			idle: []string{"a", "b"},
			want: Decision{Placed: []Placement{{Job: 1, Nodes: []string{"a"}}}, Waiting: &Wait{Job: 2, Ready: 1, Wanted: 2}}},
		{name: "instance count 0 takes one node", queue: []Job{{ID: 1}}, idle: []string{"a"},
			want: Decision{Placed: []Placement{{Job: 1, Nodes: []string{"a"}}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Place(tt.queue, tt.idle)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Place(%v, %v) mismatch (-want +got):\n%s", tt.queue, tt.idle, diff)
			}
		})
	}
}

// Placements are copies: changing one changes neither the idle list nor another placement.
func TestPlaceCopiesNodes(t *testing.T) {
	idle := []string{"a", "b"}
	d := Place([]Job{{ID: 1, Nodes: 1}, {ID: 2, Nodes: 1}}, idle)
	d.Placed[0].Nodes = append(d.Placed[0].Nodes, "x")
	if idle[1] != "b" || d.Placed[1].Nodes[0] != "b" {
		t.Errorf("after appending to a placement: idle = %v, second placement = %v; want them untouched", idle, d.Placed[1].Nodes)
	}
}

func TestDemand(t *testing.T) {
	if got := Demand([]Job{{ID: 1, Nodes: 1}, {ID: 2, Nodes: 4}, {ID: 3}}); got != 6 {
		t.Errorf("Demand = %d, want 6 (1 + 4 + 1 for instance count 0)", got)
	}
	if got := Demand(nil); got != 0 {
		t.Errorf("Demand(nil) = %d, want 0", got)
	}
}

// A Queue decides as Place does over its jobs, and its Demand stays Demand of its jobs, through
// any mix of new jobs, jobs queued again and placements.
func TestQueueMatchesPlace(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var q Queue
	var next int64
	for step := range 2000 {
		switch k := r.IntN(4); {
		case k < 2:
			next++
			q.Add(Job{ID: next, Nodes: r.IntN(4)})
		case k == 2 && next > 0:
			q.Add(Job{ID: 1 + r.Int64N(next), Nodes: 1 + r.IntN(3)}) // queued again, or already queued
		default:
			idle := []string{"a", "b", "c", "d", "e"}[:r.IntN(6)]
			jobs := append([]Job(nil), q.Jobs()...)
			want := Place(jobs, idle)
			got := q.Place(idle)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("step %d: Queue.Place mismatch with Place (-want +got):\n%s", step, diff)
			}
			if q.Len() != len(jobs)-len(got.Placed) {
				t.Fatalf("step %d: %d jobs left, want %d", step, q.Len(), len(jobs)-len(got.Placed))
			}
		}
		if got, want := q.Demand(), Demand(q.Jobs()); got != want {
			t.Fatalf("step %d: Queue.Demand = %d, want Demand(Jobs) = %d", step, got, want)
		}
		for i := 1; i < q.Len(); i++ {
			if q.Jobs()[i-1].ID >= q.Jobs()[i].ID {
				t.Fatalf("step %d: queue not in ID order: %v", step, q.Jobs())
			}
		}
	}
}
