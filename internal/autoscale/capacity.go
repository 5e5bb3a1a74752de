package autoscale

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"github.com/trainyard/trainyard"
)

// capacity returns how many of want new nodes of target t fit in the cores its location has
// (Location.CapacityCores; every node record of the location holds its size's cores until it
// is gone), and why not all do. A dedicated target that finds the location full takes the room
// from low-priority nodes, as the platform does: it preempts enough of them (idle ones first,
// then the newest running ones, whose jobs lose the least work) and launches once they are
// released. A low-priority target waits.
func (a *Autoscaler) capacity(ctx context.Context, log *slog.Logger, t trainyard.ComputeTarget, loc Location, want int) (fit int, reason string) {
	key := t.Workspace + "/" + t.Name
	if loc.CapacityCores <= 0 || want <= 0 {
		a.room.hold(locationName(t), key, 0)
		return want, ""
	}
	per := coresOf(loc, t.Size)
	targets, err := a.state.Computes(ctx)
	if err != nil {
		return 0, fmt.Sprintf("%s: could not count the cores in use in location %s: %v", WaitNoCapacity, locationName(t), err)
	}
	used, coming := 0, 0      // coming: cores of nodes on their way out
	var spot []trainyard.Node // low-priority nodes the location could take back
	for _, o := range targets {
		if locationName(o) != locationName(t) || !managed(o) {
			continue
		}
		nodes, err := a.state.Nodes(ctx, o.Workspace, o.Name)
		if err != nil {
			return 0, fmt.Sprintf("%s: could not count the cores in use in location %s: %v", WaitNoCapacity, locationName(t), err)
		}
		used += len(nodes) * coresOf(loc, o.Size)
		for _, n := range nodes {
			if n.State == trainyard.NodePreempted || n.State == trainyard.NodeLeaving {
				coming += coresOf(loc, o.Size)
			}
		}
		if o.Tier != trainyard.LowPriority {
			continue
		}
		for _, n := range nodes {
			if n.State == trainyard.NodeIdle || n.State == trainyard.NodeRunning {
				spot = append(spot, n)
			}
		}
	}
	free := loc.CapacityCores - used
	if t.Tier == trainyard.LowPriority {
		free -= a.room.heldFor(locationName(t), key) // the room dedicated targets wait for
	}
	fit = min(want, max(0, free)/max(per, 1))
	if t.Tier != trainyard.LowPriority {
		a.room.hold(locationName(t), key, (min(want, loc.CapacityCores/max(per, 1))-fit)*per)
	}
	if fit == want {
		return want, ""
	}
	full := fmt.Sprintf("location %s has %d of its %d cores in use", locationName(t), used, loc.CapacityCores)
	// Room is taken only for nodes that can ever fit: never for more than the location holds.
	canFit := min(want, loc.CapacityCores/max(per, 1))
	if t.Tier == trainyard.LowPriority || len(spot) == 0 || canFit <= fit {
		return fit, fmt.Sprintf("%s: %s; waiting for room for %d more node(s) of %s", WaitNoCapacity, full, want-fit, t.Size)
	}
	slices.SortStableFunc(spot, func(x, y trainyard.Node) int {
		if (x.State == trainyard.NodeIdle) != (y.State == trainyard.NodeIdle) {
			return map[bool]int{true: -1, false: 1}[x.State == trainyard.NodeIdle]
		}
		return cmp.Compare(y.CreatedAt.UnixNano(), x.CreatedAt.UnixNano())
	})
	need := (canFit-fit)*per - (free - fit*per) - coming
	taken := 0
	for _, n := range spot {
		if need <= 0 {
			break
		}
		why := fmt.Sprintf("the location's capacity is wanted by dedicated cluster %s", t.Name)
		if err := a.state.ReclaimNode(ctx, n.ID, why); err != nil {
			log.Warn("could not preempt a low-priority node", "node_id", n.ID, "err", err)
			continue
		}
		log.Info("low-priority node preempted for a dedicated cluster", "node_id", n.ID, "compute", n.Compute)
		need -= coresOf(loc, sizeOfNode(targets, n))
		taken++
	}
	if taken == 0 {
		return fit, fmt.Sprintf("%s: %s; waiting for the low-priority nodes preempted for room to be released", WaitNoCapacity, full)
	}
	return fit, fmt.Sprintf("%s: %s; preempted %d low-priority node(s) to make room", WaitNoCapacity, full, taken)
}

// coresOf is the cores of a node of size in loc's catalog; 1 for a size it lacks.
func coresOf(loc Location, size string) int {
	if s, ok := trainyard.LookupSize(loc.Sizes, size); ok && s.VCPUs > 0 {
		return s.VCPUs
	}
	return 1
}

// sizeOfNode is the size of node n's target.
func sizeOfNode(targets []trainyard.ComputeTarget, n trainyard.Node) string {
	for _, t := range targets {
		if t.Workspace == n.Workspace && t.Name == n.Compute {
			return t.Size
		}
	}
	return ""
}

// managed reports whether the autoscaler keeps the nodes of t.
func managed(t trainyard.ComputeTarget) bool {
	return t.Type == "" || t.Type == trainyard.TypeAmlCompute || t.Type == trainyard.TypeComputeInstance
}

// roomBook records the cores each dedicated target waits for in a full location.
type roomBook struct {
	mu    sync.Mutex
	cores map[string]map[string]int // by location, then target
}

// hold records that target waits for cores in location (0: none).
func (b *roomBook) hold(location, target string, cores int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cores == nil {
		b.cores = map[string]map[string]int{}
	}
	if b.cores[location] == nil {
		b.cores[location] = map[string]int{}
	}
	if cores <= 0 {
		delete(b.cores[location], target)
		return
	}
	b.cores[location][target] = cores
}

// heldFor is the cores other targets than target wait for in location.
func (b *roomBook) heldFor(location, target string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for t, c := range b.cores[location] {
		if t != target {
			n += c
		}
	}
	return n
}
