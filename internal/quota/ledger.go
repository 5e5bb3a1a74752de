package quota

import (
	"context"
	"fmt"
	"slices"

	"github.com/trainyard/trainyard"
)

// Allocation is a count of nodes of one size and tier held in a workspace and location.
type Allocation struct {
	Size        string
	LowPriority bool
	Nodes       int
}

// Source is where a Ledger reads what is set and what is held; the store implements it.
type Source interface {
	// QuotaOverrides returns the limits a workspace set for itself in a location, by pool.
	QuotaOverrides(ctx context.Context, workspace, location string) (map[string]int, error)
	// Allocations returns the nodes a workspace holds in a location (any state but leaving).
	Allocations(ctx context.Context, workspace, location string) ([]Allocation, error)
}

// Ledger answers quota questions for a workspace in a location from a Source, the server's
// default limits and its catalogs.
type Ledger struct {
	Source   Source
	Defaults func(location string) Limits
	Sizes    func(location string) []trainyard.VMSize
}

// Line is one pool's usage.
type Line struct {
	Pool  string `json:"pool"`
	Used  int    `json:"usedCores"`
	Limit int    `json:"limitCores"`
}

func (l *Ledger) limits(ctx context.Context, workspace, location string) (Limits, error) {
	lim := l.Defaults(location)
	over, err := l.Source.QuotaOverrides(ctx, workspace, location)
	if err != nil {
		return lim, err
	}
	ded := map[string]int{}
	for k, v := range lim.Dedicated {
		ded[k] = v
	}
	for pool, v := range over {
		if pool == LowPriorityPool {
			lim.LowPriority = &v
		} else {
			ded[pool] = v
		}
	}
	lim.Dedicated = ded
	return lim, nil
}

// used sums the cores held, by pool.
func (l *Ledger) used(ctx context.Context, workspace, location string) (map[string]int, error) {
	allocs, err := l.Source.Allocations(ctx, workspace, location)
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, a := range allocs {
		if s, ok := trainyard.LookupSize(l.Sizes(location), a.Size); ok {
			out[Pool(s.Family, a.LowPriority)] += a.Nodes * s.VCPUs
		}
	}
	return out, nil
}

// Report lists every pool of the location's catalog, and any other pool in use, with its
// usage and limit.
func (l *Ledger) Report(ctx context.Context, workspace, location string) ([]Line, error) {
	lim, err := l.limits(ctx, workspace, location)
	if err != nil {
		return nil, err
	}
	used, err := l.used(ctx, workspace, location)
	if err != nil {
		return nil, err
	}
	pools := []string{LowPriorityPool}
	for _, s := range l.Sizes(location) {
		pools = append(pools, s.Family)
	}
	for p := range used {
		pools = append(pools, p)
	}
	slices.Sort(pools)
	var out []Line
	for _, p := range slices.Compact(pools) {
		out = append(out, Line{Pool: p, Used: used[p], Limit: lim.Of(p)})
	}
	return out, nil
}

// Check reports whether nodes more nodes of size fit next to what the workspace holds, or, with
// alone, whether they could fit at all, whatever else is released.
func (l *Ledger) Check(ctx context.Context, code, workspace, location, size string, lowPriority bool, nodes int, alone bool) (*Exceeded, error) {
	s, ok := trainyard.LookupSize(l.Sizes(location), size)
	if !ok || nodes <= 0 {
		return nil, nil
	}
	lim, err := l.limits(ctx, workspace, location)
	if err != nil {
		return nil, err
	}
	pool := Pool(s.Family, lowPriority)
	u, err := l.used(ctx, workspace, location)
	if err != nil {
		return nil, err
	}
	if !alone {
		return Check(code, workspace, location, pool, nodes*s.VCPUs, u[pool], lim.Of(pool)), nil
	}
	// Alone decides as if nothing were in use, and tells what is.
	e := Check(code, workspace, location, pool, nodes*s.VCPUs, 0, lim.Of(pool))
	if e != nil {
		e.Used, e.Alone = u[pool], true
	}
	return e, nil
}

// Headroom returns how many more nodes of a compute fit now and, when none does, the wait
// reason its queued jobs show.
func (l *Ledger) Headroom(ctx context.Context, t trainyard.ComputeTarget) (int, string, error) {
	s, ok := trainyard.LookupSize(l.Sizes(t.Location), t.Size)
	if !ok {
		return 1 << 30, "", nil // an unknown size fails the compute elsewhere
	}
	lim, err := l.limits(ctx, t.Workspace, t.Location)
	if err != nil {
		return 0, "", err
	}
	used, err := l.used(ctx, t.Workspace, t.Location)
	if err != nil {
		return 0, "", err
	}
	pool := Pool(s.Family, t.Tier == trainyard.LowPriority)
	if n := Headroom(s.VCPUs, used[pool], lim.Of(pool)); n > 0 {
		return n, "", nil
	}
	return 0, Check("QuotaExceeded", t.Workspace, t.Location, pool, s.VCPUs, used[pool], lim.Of(pool)).Message(), nil
}

// String formats a line for logs.
func (ln Line) String() string { return fmt.Sprintf("%s %d/%d", ln.Pool, ln.Used, ln.Limit) }
