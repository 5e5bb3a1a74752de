package trainyard

import "time"

// NodeState is the state of one node of a cluster (SPEC §3.2).
type NodeState string

const (
	NodePreparing NodeState = "preparing" // launched; its agent has not registered yet
	NodeIdle      NodeState = "idle"      // registered, no job: its idle clock runs
	NodeRunning   NodeState = "running"   // a job is placed on it
	NodeLeaving   NodeState = "leaving"   // being released
	NodeUnusable  NodeState = "unusable"  // broken or silent; it is replaced
	// NodePreempted: a low-priority node taken back; its job stops (a grace to checkpoint)
	// and runs again elsewhere, and the node is released.
	NodePreempted NodeState = "preempted"
)

// Node is one machine of a compute target, with the agent that runs on it.
type Node struct {
	ID        string
	Workspace string
	Compute   string
	State     NodeState
	Job       string // name of the job placed on it, empty when none
	Address   string
	Port      int
	Slots     int // jobs the node runs at once

	CreatedAt    time.Time
	RegisteredAt time.Time // zero until the agent registers
	LastSeen     time.Time // last contact from its agent
	// IdleSince is when the node last became idle. It changes only when work leaves this node,
	// never because of other demand (case C-02).
	IdleSince time.Time
	// PreemptedAt is when a preempted node was taken back; zero otherwise.
	PreemptedAt time.Time
}

// IdleFor reports how long n has been idle at now; zero unless n is idle.
func (n Node) IdleFor(now time.Time) time.Duration {
	if n.State != NodeIdle || n.IdleSince.IsZero() {
		return 0
	}
	return now.Sub(n.IdleSince)
}
