// Package autoscale keeps the nodes of every managed target between its min and max (an
// amlcompute cluster; a compute instance is a cluster of one node while it runs): it
// launches nodes for queued work, releases nodes idle past their idle time, recycles broken and
// silent nodes, deletes instances nobody tracks, and says why on every queued job.
//
// decide.go is the pure core (Decide); autoscaler.go is the thin loop around it (observe,
// decide, act, wait). The package uses the domain and the provider contract; it never imports
// the store or the API server, which reach it through the State interface.
package autoscale

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/internal/provider"
)

// Policy is what Decide steers one target toward.
type Policy struct {
	Min, Max int // bounds of the active node count (min_instances, max_instances)
	// IdleTimeout is idle_time_before_scale_down; zero releases surplus idle nodes at once.
	IdleTimeout time.Duration
	// BootTimeout is how long a launched node may take for its agent to register; zero waits
	// forever.
	BootTimeout time.Duration
	// HeartbeatTimeout is the silence after which a registered node is lost; zero never loses
	// a node for silence.
	HeartbeatTimeout time.Duration
	// PreemptGrace is how long a preempted node's job may take to stop before the node is
	// lost anyway; zero waits for ever.
	PreemptGrace time.Duration
}

// PolicyOf is the policy of target t. A cluster follows its scale settings. A compute
// instance keeps exactly one node while its owner has it running and none once stopped
// (min = max), so its idle time never releases the node and a stop releases it as soon as it
// is idle.
func PolicyOf(t trainyard.ComputeTarget, boot, heartbeat time.Duration) Policy {
	p := Policy{Min: t.Scale.MinNodes, Max: t.Scale.MaxNodes, IdleTimeout: t.Scale.IdleTimeBeforeScaleDown,
		BootTimeout: boot, HeartbeatTimeout: heartbeat, PreemptGrace: DefaultPreemptGrace}
	if t.Type == trainyard.TypeComputeInstance {
		n := 1
		if t.Instance == nil || t.Instance.Power == trainyard.PowerStopped {
			n = 0
		}
		p.Min, p.Max, p.IdleTimeout = n, n, 0
	}
	return p
}

// Observed is everything Decide may look at, gathered fresh on each pass.
type Observed struct {
	Nodes     []trainyard.Node    // node records of the target, in any state
	Instances []provider.Instance // what the provider holds for the target (Provider.List)
	Demand    int                 // nodes wanted by the target's queued jobs
	Deleting  bool                // the target is being deleted: release everything
}

// Plan is what one pass should change. The zero Plan changes nothing; every ID list is sorted.
type Plan struct {
	Launch int
	// Release lists node IDs to release: move to leaving, delete the instance, drop the record.
	Release []string
	// Lost lists node IDs whose agent went silent or whose instance is gone: they become
	// unusable and their job fails with NodeLost.
	Lost []string
	// Orphans lists instance IDs that have no node record: delete them.
	Orphans []string
	// Reason says in words what the plan does and why, for logs and the target's events.
	Reason string
	// Keep says, by node ID, why an idle node past its idle time stays (case C-01).
	Keep map[string]string
}

// Changes reports whether carrying out p changes anything. Keep alone changes nothing.
func (p Plan) Changes() bool {
	return p.Launch > 0 || len(p.Release) > 0 || len(p.Lost) > 0 || len(p.Orphans) > 0
}

// Decide returns the changes that move one target toward policy p. It does no I/O, reads no
// clock but now, and returns the same Plan for the same inputs. Its rules, each held by a case
// of TestDecide:
//
//  1. Active nodes are the preparing, idle and running ones; leaving, unusable and lost nodes
//     are not. Desired is running + Demand clamped to [Min, Max] (Max wins if Min > Max), and
//     Launch is Desired - active, never negative, so the active count never passes Max.
//  2. A preparing node younger than BootTimeout is capacity whatever its instance shows, so
//     nothing is launched twice. One older than BootTimeout whose agent never registered is
//     released, and rule 1 replaces it in the same plan.
//  3. An idle or running node is Lost when its instance is missing or Gone, or when its agent
//     was last heard from (LastSeen, else RegisteredAt) more than HeartbeatTimeout ago; so is a
//     registered preparing node past BootTimeout whose instance is missing or Gone. Lost nodes
//     are not active, so rule 1 replaces them when work needs it.
//  4. While more nodes are active than Max (max lowered), idle nodes are released, longest idle
//     first, then preparing ones, newest first. Running nodes are never released for it.
//  5. An idle node whose own idle time (Node.IdleFor) reaches IdleTimeout is released, longest
//     idle first, while more nodes stay active than Desired: never below Min, never a node that
//     queued work wants. Demand never resets a node's idle clock (case C-02); it only makes
//     fewer idle nodes surplus. Every idle node past its idle time that stays gets its reason
//     in Keep (case C-01). A node idle for less than IdleTimeout, or with no IdleSince, is never
//     released by this rule.
//  6. Unusable nodes are released (recycled), and so are preempted nodes once their job is
//     off them; a preempted node whose job has not stopped after PreemptGrace is Lost. Leaving nodes stay in Release until their record
//     is gone, so a failed delete is retried.
//  7. Instances without a node record are Orphans.
//  8. Deleting releases every node that is not running, launches nothing and keeps nothing;
//     running nodes are released once idle. Rule 3 still applies to running nodes.
func Decide(p Policy, o Observed, now time.Time) Plan {
	var (
		plan    Plan
		reasons []string
	)
	release := func(id, format string, args ...any) {
		plan.Release = append(plan.Release, id)
		reasons = append(reasons, fmt.Sprintf("node %s "+format, append([]any{id}, args...)...))
	}

	instances := make(map[string]provider.Instance, len(o.Instances))
	for _, in := range o.Instances {
		instances[in.ID] = in
	}
	nodes := slices.Clone(o.Nodes)
	slices.SortFunc(nodes, func(a, b trainyard.Node) int { return strings.Compare(a.ID, b.ID) })
	recorded := make(map[string]bool, len(nodes))

	var running, idle, preparing []trainyard.Node // the active nodes
	for _, n := range nodes {
		recorded[n.ID] = true
		in, ok := instances[n.ID]
		if why := lostWhy(p, n, in, ok, now); why != "" && !(o.Deleting && n.State != trainyard.NodeRunning) {
			plan.Lost = append(plan.Lost, n.ID)
			reasons = append(reasons, fmt.Sprintf("node %s lost: %s", n.ID, why))
			continue
		}
		switch {
		case n.State == trainyard.NodeLeaving:
			release(n.ID, "leaving: deleting its instance")
		case n.State == trainyard.NodeUnusable:
			release(n.ID, "unusable: recycling")
		case n.State == trainyard.NodePreempted && n.Job == "":
			release(n.ID, "preempted: releasing")
		case n.State == trainyard.NodePreempted:
			// Its job is stopping, with a grace to checkpoint; then the node goes.
		case o.Deleting && n.State != trainyard.NodeRunning:
			release(n.ID, "%s, compute being deleted: releasing", n.State)
		case n.State == trainyard.NodePreparing && !booting(p, n, now) && n.RegisteredAt.IsZero():
			release(n.ID, "not registered after %s: releasing", round(p.BootTimeout))
		case n.State == trainyard.NodePreparing:
			preparing = append(preparing, n)
		case n.State == trainyard.NodeIdle:
			idle = append(idle, n)
		case n.State == trainyard.NodeRunning:
			running = append(running, n)
		}
	}
	var launch string // the launch clause of the reason, said last
	if !o.Deleting {
		maxN := max(p.Max, 0)
		need := len(running) + o.Demand
		desired := min(max(need, p.Min), maxN)
		active := len(running) + len(idle) + len(preparing)

		// Longest idle first; nodes were sorted by ID, so ties stay in ID order.
		slices.SortStableFunc(idle, func(a, b trainyard.Node) int { return cmp.Compare(b.IdleFor(now), a.IdleFor(now)) })
		// Newest first: the least boot work is lost.
		slices.SortStableFunc(preparing, func(a, b trainyard.Node) int { return b.CreatedAt.Compare(a.CreatedAt) })

		// Rule 4: above max.
		for active > maxN && len(idle) > 0 {
			release(idle[0].ID, "idle with %d nodes active > max_instances %d: releasing", active, maxN)
			idle, active = idle[1:], active-1
		}
		for active > maxN && len(preparing) > 0 {
			release(preparing[0].ID, "starting with %d nodes active > max_instances %d: releasing", active, maxN)
			preparing, active = preparing[1:], active-1
		}

		// Rule 5: idle past the idle time.
		for _, n := range idle {
			f := n.IdleFor(now)
			if f < p.IdleTimeout || f == 0 && n.IdleSince.IsZero() {
				break // sorted: every later node has idled for less
			}
			if active > desired {
				release(n.ID, "idle %s >= %s: releasing (min %d)", round(f), round(p.IdleTimeout), p.Min)
				active--
				continue
			}
			if plan.Keep == nil {
				plan.Keep = make(map[string]string)
			}
			if need < p.Min {
				plan.Keep[n.ID] = fmt.Sprintf("min_instances is %d", p.Min)
			} else {
				plan.Keep[n.ID] = fmt.Sprintf("queued jobs want %s", plural(o.Demand, "node"))
			}
		}

		if plan.Launch = max(0, desired-active); plan.Launch > 0 {
			limit := fmt.Sprintf("max %d", maxN)
			if need > maxN {
				limit = fmt.Sprintf("capped at max %d", maxN)
			}
			if need < p.Min {
				launch = fmt.Sprintf("min_instances is %d, %s active: launching %d (%s)",
					p.Min, plural(active, "node"), plan.Launch, limit)
			} else {
				launch = fmt.Sprintf("%s wanted by queued jobs, %d running, %d idle, %d starting: launching %d (%s)",
					plural(o.Demand, "node"), len(running), len(idle), len(preparing), plan.Launch, limit)
			}
		}
	}

	for _, in := range o.Instances {
		if !recorded[in.ID] {
			plan.Orphans = append(plan.Orphans, in.ID)
		}
	}
	slices.Sort(plan.Orphans)
	for _, id := range plan.Orphans {
		reasons = append(reasons, fmt.Sprintf("instance %s has no node record: deleting", id))
	}
	if launch != "" {
		reasons = append(reasons, launch)
	}

	slices.Sort(plan.Release)
	slices.Sort(plan.Lost)
	plan.Reason = strings.Join(reasons, "; ")
	return plan
}

// booting reports whether n is a preparing node still within its boot time.
func booting(p Policy, n trainyard.Node, now time.Time) bool {
	return n.State == trainyard.NodePreparing && (p.BootTimeout <= 0 || now.Sub(n.CreatedAt) < p.BootTimeout)
}

// lostWhy says why n is lost (rule 3), or returns "" when it is not. in and ok are n's
// instance as the provider lists it.
func lostWhy(p Policy, n trainyard.Node, in provider.Instance, ok bool, now time.Time) string {
	switch n.State {
	case trainyard.NodePreempted:
		if since := now.Sub(n.PreemptedAt); n.Job != "" && p.PreemptGrace > 0 && since > p.PreemptGrace {
			return fmt.Sprintf("preempted %s ago and its job has not stopped (grace %s)", round(since), round(p.PreemptGrace))
		}
		return ""
	case trainyard.NodeIdle, trainyard.NodeRunning:
	case trainyard.NodePreparing:
		if booting(p, n, now) || n.RegisteredAt.IsZero() {
			return ""
		}
	default:
		return ""
	}
	switch {
	case !ok:
		return "its instance is missing"
	case in.State == provider.Gone:
		return "its instance is gone"
	case n.State == trainyard.NodePreparing || p.HeartbeatTimeout <= 0:
		return ""
	}
	heard := n.LastSeen
	if heard.IsZero() {
		heard = n.RegisteredAt
	}
	if silent := now.Sub(heard); !heard.IsZero() && silent > p.HeartbeatTimeout {
		return fmt.Sprintf("agent silent for %s > %s", round(silent), round(p.HeartbeatTimeout))
	}
	return ""
}

func round(d time.Duration) time.Duration { return d.Round(time.Second) }

// plural returns "1 node", "2 nodes".
func plural(n int, noun string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, noun)
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
