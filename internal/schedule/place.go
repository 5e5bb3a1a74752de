// Package schedule decides which queued jobs of one compute go onto which of its idle nodes.
// It is the placement rule of the server, which the store applies in Place, and of the
// simulator, which replays traces through it, so the two cannot disagree.
//
// It is pure: no I/O, no clock, nothing of trainyard's imported. Loading the queue and the
// nodes and saving the placements belong to its callers.
package schedule

import "slices"

// Job is a queued job of a compute: its ID, which orders the queue (oldest first), and how
// many nodes it takes together (resources.instance_count; less than 1 counts as 1).
type Job struct {
	ID    int64
	Nodes int
}

// want is how many nodes j takes.
func (j Job) want() int { return max(j.Nodes, 1) }

// Placement is a job put onto nodes, the first of them as rank 0.
type Placement struct {
	Job   int64
	Nodes []string
}

// Wait is the oldest job left in the queue: it has Ready of the Wanted nodes it takes
// together, and every younger job waits behind it.
type Wait struct {
	Job           int64
	Ready, Wanted int
}

// Decision is what Place decides. Placed is in queue order; Waiting is nil when every job of
// the queue was placed.
type Decision struct {
	Placed  []Placement
	Waiting *Wait
}

// Place decides which jobs of queue go onto which idle nodes now. queue is in submit order,
// oldest first; idle lists the idle node IDs in the order they are handed out. Its rules,
// each held by a case of TestPlace:
//
//  1. First in, first out: jobs are placed oldest first.
//  2. All or none: a job of N nodes takes the next N idle nodes at once, the first as rank 0,
//     or none of them; a gang never holds part of its nodes, so two gangs cannot each wait
//     for the nodes the other holds.
//  3. Head of line: the first job that finds too few idle nodes stops placement. No younger
//     job overtakes it, not even one that would fit, or a wide job could wait for ever. It
//     is reported in Waiting with the idle nodes left as Ready.
func Place(queue []Job, idle []string) Decision {
	var d Decision
	for _, j := range queue {
		n := j.want()
		if len(idle) < n {
			d.Waiting = &Wait{Job: j.ID, Ready: len(idle), Wanted: n}
			return d
		}
		d.Placed = append(d.Placed, Placement{Job: j.ID, Nodes: slices.Clone(idle[:n])})
		idle = idle[n:]
	}
	return d
}

// Demand is how many nodes the jobs of queue want in all: what the autoscaler scales for.
func Demand(queue []Job) int {
	n := 0
	for _, j := range queue {
		n += j.want()
	}
	return n
}
