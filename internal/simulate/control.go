package simulate

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/internal/schedule"
)

// control is the server's side of a replay: the node records and the queue it keeps, and the
// placements it makes. Each method is one thing the server does, named after the store call
// that does it there. mem is the replay's own, in memory; the tests also replay through the
// real store (storeControl), to prove that the two agree step by step.
type control interface {
	submit(now time.Time, job schedule.Job)  // CreateJob: the job is queued
	requeue(now time.Time, job schedule.Job) // a preempted job is queued again, in its old place
	launch(now time.Time, id string)         // CreateNode: a preparing node
	register(now time.Time, id string)       // RegisterNode: the node's agent is up, idle
	finish(now time.Time, id string, job int64)
	lost(now time.Time, id string)         // MarkNodeLost: the node is unusable
	release(now time.Time, id string) bool // ReleaseNode, then DeleteNode
	// place hands work to every idle node whose agent is up (asking says which), longest
	// idle first, as their agents ask for it: a preempted node's agent asks for nothing.
	place(now time.Time, asking func(id string) bool) []schedule.Placement
	// observe is what the autoscaler reads: the node records, after every live agent has
	// synced, and the demand of the queue.
	observe(now time.Time) (nodes []trainyard.Node, demand int)
	queued() int
}

// mem is the replay's control: node records and a queue in memory, decisions by
// schedule.Queue (schedule.Place and schedule.Demand).
type mem struct {
	target trainyard.ComputeTarget
	queue  schedule.Queue
	// nodes are the node records in ID order, which is launch order: Decide sorts its copy
	// by ID, and a sorted slice costs it least.
	nodes []trainyard.Node
	index map[string]int // node ID → position in nodes
	idle  int            // nodes in state idle
	// leaving counts released records still in nodes: a pass may release a million nodes,
	// and they are dropped together (compact), not each with a shift of the rest.
	leaving int
	buf     []string
}

func newMem(t trainyard.ComputeTarget) *mem {
	return &mem{target: t, index: map[string]int{}}
}

var _ control = (*mem)(nil)

func (m *mem) submit(_ time.Time, j schedule.Job)  { m.queue.Add(j) }
func (m *mem) requeue(_ time.Time, j schedule.Job) { m.queue.Add(j) }
func (m *mem) queued() int                         { return m.queue.Len() }

// launch records a preparing node; IDs come in increasing order.
func (m *mem) launch(now time.Time, id string) {
	m.compact()
	m.index[id] = len(m.nodes)
	m.nodes = append(m.nodes, trainyard.Node{ID: id, Workspace: m.target.Workspace, Compute: m.target.Name,
		State: trainyard.NodePreparing, Slots: 1, CreatedAt: now})
}

func (m *mem) register(now time.Time, id string) {
	n := m.node(id)
	if n == nil || n.State != trainyard.NodePreparing {
		return
	}
	m.setState(n, trainyard.NodeIdle)
	n.RegisteredAt, n.LastSeen, n.IdleSince = now, now, now
}

func (m *mem) finish(now time.Time, id string, _ int64) {
	if n := m.node(id); n != nil && n.State == trainyard.NodeRunning {
		m.setState(n, trainyard.NodeIdle)
		n.Job, n.IdleSince, n.LastSeen = "", now, now
	}
}

func (m *mem) lost(_ time.Time, id string) {
	if n := m.node(id); n != nil {
		m.setState(n, trainyard.NodeUnusable)
		n.Job = ""
	}
}

// release drops the record of an idle, unusable or preparing node; never a running one.
func (m *mem) release(_ time.Time, id string) bool {
	i, ok := m.index[id]
	if !ok || m.nodes[i].State == trainyard.NodeRunning {
		return false
	}
	m.setState(&m.nodes[i], trainyard.NodeLeaving)
	delete(m.index, id)
	m.leaving++
	return true
}

// compact drops the released records, keeping the others in ID order.
func (m *mem) compact() {
	if m.leaving == 0 {
		return
	}
	m.nodes = slices.DeleteFunc(m.nodes, func(n trainyard.Node) bool { return n.State == trainyard.NodeLeaving })
	for i, n := range m.nodes {
		m.index[n.ID] = i
	}
	m.leaving = 0
}

func (m *mem) place(now time.Time, asking func(string) bool) []schedule.Placement {
	if m.idle == 0 || m.queue.Len() == 0 {
		return nil
	}
	idle := m.idleNodes(asking)
	d := m.queue.Place(idle)
	for _, p := range d.Placed {
		for _, id := range p.Nodes {
			n := m.node(id)
			m.setState(n, trainyard.NodeRunning)
			n.LastSeen = now
		}
	}
	return d.Placed
}

// idleNodes lists the idle nodes that ask for work, longest idle first, ties by ID: the
// order in which the store picks a gang's nodes.
func (m *mem) idleNodes(asking func(string) bool) []string {
	idle := m.buf[:0]
	for _, n := range m.nodes {
		if n.State == trainyard.NodeIdle && asking(n.ID) {
			idle = append(idle, n.ID)
		}
	}
	slices.SortFunc(idle, func(a, b string) int {
		na, nb := m.node(a), m.node(b)
		return cmp.Or(na.IdleSince.Compare(nb.IdleSince), strings.Compare(a, b))
	})
	m.buf = idle
	return idle
}

// observe returns the records themselves (Decide copies what it sorts).
func (m *mem) observe(now time.Time) ([]trainyard.Node, int) {
	m.compact()
	for i := range m.nodes {
		if !m.nodes[i].RegisteredAt.IsZero() {
			m.nodes[i].LastSeen = now
		}
	}
	return m.nodes, m.queue.Demand()
}

func (m *mem) node(id string) *trainyard.Node {
	i, ok := m.index[id]
	if !ok {
		return nil
	}
	return &m.nodes[i]
}

func (m *mem) setState(n *trainyard.Node, s trainyard.NodeState) {
	if n.State == trainyard.NodeIdle {
		m.idle--
	}
	if s == trainyard.NodeIdle {
		m.idle++
	}
	n.State = s
}
