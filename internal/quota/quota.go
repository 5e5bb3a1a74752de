// Package quota decides whether cores can be had: dedicated cores per VM family and one
// low-priority pool, per workspace and location (SPEC §3.7). It is pure: callers gather limits
// and usage, and get back a verdict whose message names the pool, the cores requested, used
// and allowed, and the command that raises the limit (case C-04).
package quota

import (
	"fmt"
	"strconv"
)

// LowPriorityPool is the name of the one pool every low-priority core comes from.
const LowPriorityPool = "lowPriority"

// DefaultCores is the limit of a pool that neither the server's config nor the workspace sets.
const DefaultCores = 100

// Limits are the core limits of one workspace in one location.
type Limits struct {
	Dedicated   map[string]int // by VM family; a family not listed has DefaultCores
	LowPriority *int           // nil: DefaultCores
}

// Of returns the limit of a pool: a VM family, or LowPriorityPool.
func (l Limits) Of(pool string) int {
	if pool == LowPriorityPool {
		if l.LowPriority != nil {
			return *l.LowPriority
		}
		return DefaultCores
	}
	if v, ok := l.Dedicated[pool]; ok {
		return v
	}
	return DefaultCores
}

// Pool names the pool a node of family draws from.
func Pool(family string, lowPriority bool) string {
	if lowPriority {
		return LowPriorityPool
	}
	return family
}

// Exceeded says that a request does not fit a pool.
type Exceeded struct {
	Code      string // JobNodeCountExceedsCoreQuota, ClusterMinNodesExceedCoreQuota or QuotaExceeded
	Workspace string
	Location  string
	Pool      string
	Requested int
	Used      int
	Limit     int
	// Alone: the request does not fit the limit even with none of the pool in use, so it is
	// refused rather than left to wait; Used is still what is in use now.
	Alone bool
}

// Message is the sentence users read: what, how much, and how to raise it.
func (e *Exceeded) Message() string {
	what := "VM family " + e.Pool
	if e.Pool == LowPriorityPool {
		what = "the low-priority pool"
	}
	alone := ""
	if e.Alone {
		alone = ", more than its limit even with none in use;"
	}
	return fmt.Sprintf("%s: %s needs %d more cores in location %s%s %d of its %d are in use in workspace %s; raise the limit with: trainyard quota set -w %s --location %s %s --limit %d",
		e.Code, what, e.Requested, e.Location, firstOf(alone, ","), e.Used, e.Limit, e.Workspace, e.Workspace, e.Location, poolFlag(e.Pool), e.Used+e.Requested)
}

func firstOf(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func poolFlag(pool string) string {
	if pool == LowPriorityPool {
		return "--low-priority"
	}
	return "--family " + strconv.Quote(pool)
}

// Check returns nil when requested more cores fit next to used under limit, else why not.
func Check(code, workspace, location, pool string, requested, used, limit int) *Exceeded {
	if used+requested <= limit {
		return nil
	}
	return &Exceeded{Code: code, Workspace: workspace, Location: location, Pool: pool, Requested: requested, Used: used, Limit: limit}
}

// Headroom is how many more nodes of cores each fit in a pool.
func Headroom(cores, used, limit int) int {
	if cores <= 0 {
		return 1 << 30
	}
	return max(0, (limit-used)/cores)
}
