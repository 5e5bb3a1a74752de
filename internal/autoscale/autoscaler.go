package autoscale

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/internal/provider"
)

// State is what the autoscaler reads and writes; *store.DB implements it.
type State interface {
	// Computes lists the compute records of every workspace, in any provisioning state; the
	// autoscaler acts on the managed ones (amlcompute, computeinstance).
	Computes(ctx context.Context) ([]trainyard.ComputeTarget, error)
	Nodes(ctx context.Context, workspace, compute string) ([]trainyard.Node, error)
	// Demand reports the nodes the target's queued jobs want.
	Demand(ctx context.Context, workspace, compute string) (int, error)
	// CreateNode records n in state preparing and returns the one-time join token of its agent.
	CreateNode(ctx context.Context, n trainyard.Node) (joinToken string, err error)
	// ReleaseNode moves a node to leaving only if it is idle, unusable or preparing (never
	// running: a job may have just been placed) and reports whether it did.
	ReleaseNode(ctx context.Context, id string) (bool, error)
	// DeleteNode drops a node record, once its instance is gone.
	DeleteNode(ctx context.Context, id string) error
	// MarkNodeLost makes a node unusable once its instance is gone; its job runs again as its
	// next attempt, or fails with code NodeLost (Preempted) when out of retries.
	MarkNodeLost(ctx context.Context, id, reason string) error
	SetComputeState(ctx context.Context, workspace, name string, s trainyard.ProvisioningState, errMsg string) error
	// DeleteCompute drops a compute record whose deletion is complete.
	DeleteCompute(ctx context.Context, workspace, name string) error
	// SetWaitReason sets the wait reason of every queued job of the target.
	SetWaitReason(ctx context.Context, workspace, compute, reason string) error
	// AddEvent appends to the target's event list: scaling decisions, node lifecycle, errors.
	AddEvent(ctx context.Context, workspace, compute, kind, message string) error
	// ReclaimNode preempts a node of a low-priority target: its job stops and runs again
	// elsewhere, and the node is released.
	ReclaimNode(ctx context.Context, id, reason string) error
	// RetireRunBased starts deleting a run-based target whose job has ended (failing that job
	// first if the target failed to provision) and reports whether it did.
	RetireRunBased(ctx context.Context, workspace, name string) (bool, error)
}

// Location is one place nodes come from: a provider and its catalog of sizes.
type Location struct {
	Provider provider.Provider
	Sizes    []trainyard.VMSize
	// CapacityCores is how many cores the location has for the nodes of every target; 0 has
	// no bound. A dedicated target that finds it full preempts low-priority nodes.
	CapacityCores int
	// ServerURL is where the location's nodes reach the server, when not at Config.ServerURL.
	ServerURL string
}

// LocalLocation is the location of a target whose Location is empty.
const LocalLocation = "local"

// Defaults of Config.
const (
	DefaultInterval         = 5 * time.Second
	DefaultBootTimeout      = 5 * time.Minute
	DefaultHeartbeatTimeout = 30 * time.Second
	// DefaultPreemptGrace leaves a preempted node's job its agent's grace (10 s between
	// SIGTERM and SIGKILL) and the time to send its checkpoint.
	DefaultPreemptGrace = time.Minute
)

// Config is what New needs. State and Locations are required.
type Config struct {
	State     State
	Locations map[string]Location // by location name; a target's Location "" means "local"
	ServerURL func() string       // the URL agents reach the server at, known only after listen
	Interval  time.Duration       // between passes; DefaultInterval when zero
	// BootTimeout and HeartbeatTimeout feed Policy; the defaults apply when zero.
	BootTimeout, HeartbeatTimeout time.Duration
	// Quota, when set, bounds launches by the cores the target's workspace may still use.
	Quota Quota
	Log   *slog.Logger // nil discards
}

// Quota says how many more nodes of a target fit its workspace's core quota and, when none
// does, the wait reason its queued jobs show.
type Quota interface {
	Headroom(ctx context.Context, t trainyard.ComputeTarget) (nodes int, waitReason string, err error)
}

// Event kinds recorded with State.AddEvent.
const (
	EventProvisioned = "provisioned" // a Creating target passed its checks
	EventFailed      = "failed"      // a Creating target failed its checks
	EventScale       = "scale"       // a plan that changes something: Plan.Reason
	EventNode        = "node"        // a node launched, released, lost, or kept past its idle time
	EventError       = "error"       // an action failed; repeats are rate-limited
	EventLifecycle   = "lifecycle"   // a run-based target's job ended: it is being deleted
)

// WaitNoCapacity begins the wait reason of queued jobs while the provider has no capacity.
const WaitNoCapacity = "NoCapacity"

// Autoscaler reconciles the node count of every managed target (amlcompute and
// computeinstance). Create it with New and
// call Run once.
type Autoscaler struct {
	state     State
	locations map[string]Location
	quota     Quota
	serverURL func() string
	interval  time.Duration
	boot      time.Duration
	heartbeat time.Duration
	log       *slog.Logger
	kick      chan struct{} // capacity 1: many kicks collapse into one

	// room holds, by location and target, the cores dedicated targets are waiting for in a
	// full location, which low-priority targets leave to them.
	room roomBook

	// Used by the Run goroutine only.
	targets    map[string]*target // by "workspace/compute"
	computeErr errLog
	passes     sync.WaitGroup
}

// target is what the autoscaler remembers about one compute target between passes.
type target struct {
	busy atomic.Bool // a pass is running; at most one per target

	// The fields below belong to the goroutine that set busy.
	retryAt     time.Time // observing failed: no pass before this
	fails       int
	launchAt    time.Time // launching failed: no launch before this
	launchFails int
	launchErr   error  // the last launch failure, until a launch succeeds
	observeLog  errLog // rate limits, one per kind of failure
	actLog      errLog
	launchLog   errLog
	lastReason  string            // Reason of the previous pass's plan, to record each plan once
	lastHeld    string            // why the location's capacity last held launches back, recorded once
	keep        map[string]string // Keep of the previous pass, to record each reason once
	waitSet     string            // the wait reason last given to the queued jobs, and when
	waitAt      time.Time
}

// waitRefresh is how often a pass gives the queued jobs again a wait reason of the same kind
// as their last (its counts changed, or jobs came with their admission's reason). Giving it
// on every pass rewrote every queued job on every submit and every job's end: 1.8 million
// rows while 2,000 short jobs ran on one node.
const waitRefresh = 2 * time.Second

// New returns an autoscaler for cfg, with defaults filled in.
func New(cfg Config) *Autoscaler {
	a := &Autoscaler{
		state:     cfg.State,
		locations: cfg.Locations,
		quota:     cfg.Quota,
		serverURL: cfg.ServerURL,
		interval:  orDefault(cfg.Interval, DefaultInterval),
		boot:      orDefault(cfg.BootTimeout, DefaultBootTimeout),
		heartbeat: orDefault(cfg.HeartbeatTimeout, DefaultHeartbeatTimeout),
		log:       cfg.Log,
		kick:      make(chan struct{}, 1),
		targets:   make(map[string]*target),
	}
	if a.serverURL == nil {
		a.serverURL = func() string { return "" }
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	a.log = a.log.With("component", "autoscale")
	return a
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// Run reconciles every target each Interval, or sooner after Kick, until ctx ends; then it
// waits for the passes in flight and returns nil. Targets are reconciled concurrently and a
// target whose pass is still running is skipped, so one slow or failing target stalls no other.
func (a *Autoscaler) Run(ctx context.Context) error {
	defer a.passes.Wait()
	tick := time.NewTicker(a.interval)
	defer tick.Stop()
	for {
		a.reconcileAll(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		case <-a.kick:
		}
	}
}

// Kick asks for a pass soon, e.g. when a job is queued or a compute created. It never blocks;
// many kicks collapse into one.
func (a *Autoscaler) Kick() {
	select {
	case a.kick <- struct{}{}:
	default:
	}
}

// reconcileAll starts a pass for every target that has none running.
func (a *Autoscaler) reconcileAll(ctx context.Context) {
	computes, err := a.state.Computes(ctx)
	if err != nil {
		if ctx.Err() == nil {
			a.computeErr.report(a.log, time.Now(), "list computes", err)
		}
		return
	}
	a.computeErr.recover(a.log, "list computes")
	seen := make(map[string]bool, len(computes))
	for _, t := range computes {
		if !managed(t) {
			continue // attached targets have no nodes of ours
		}
		key := t.Workspace + "/" + t.Name
		seen[key] = true
		ts := a.targets[key]
		if ts == nil {
			ts = &target{}
			a.targets[key] = ts
		}
		if !ts.busy.CompareAndSwap(false, true) {
			continue // its previous pass still runs; the next tick or kick catches up
		}
		a.passes.Go(func() {
			defer ts.busy.Store(false)
			a.reconcile(ctx, ts, t)
		})
	}
	for key, ts := range a.targets {
		if !seen[key] && !ts.busy.Load() {
			delete(a.targets, key) // a compute deleted and created again starts afresh
		}
	}
}

// reconcile runs one pass for t unless t is backing off, and handles its outcome.
func (a *Autoscaler) reconcile(ctx context.Context, ts *target, t trainyard.ComputeTarget) {
	now := time.Now()
	if now.Before(ts.retryAt) {
		return
	}
	log := a.log.With("target", t.Workspace+"/"+t.Name)
	err := a.pass(ctx, log, ts, t, now)
	switch {
	case ctx.Err() != nil || errors.Is(err, context.Canceled):
		// Shutting down: not a failure.
	case err != nil:
		ts.fails++
		delay := backoff(a.interval, ts.fails)
		ts.retryAt = now.Add(delay)
		if ts.observeLog.report(log, now, "reconcile", err, "retry_in", delay) {
			a.event(ctx, log, t, EventError, fmt.Sprintf("%v; retrying in %s", err, delay))
		}
	default:
		ts.fails, ts.retryAt = 0, time.Time{}
	}
}

// pass observes t, decides and acts. It returns an error when it could not observe or check
// the target; failed actions are reported inside and retried by the next pass.
func (a *Autoscaler) pass(ctx context.Context, log *slog.Logger, ts *target, t trainyard.ComputeTarget, now time.Time) error {
	if t.RunBasedFor() != "" {
		var err error
		if t, err = a.retire(ctx, log, t); err != nil {
			return err
		}
	}
	switch t.State {
	case trainyard.Creating:
		if msg := a.check(t); msg != "" {
			if err := a.state.SetComputeState(ctx, t.Workspace, t.Name, trainyard.Failed, msg); err != nil {
				return fmt.Errorf("set state Failed: %w", err)
			}
			log.Warn("provisioning failed", "err", msg)
			a.event(ctx, log, t, EventFailed, msg)
			a.setWait(ctx, log, ts, t, trainyard.WaitComputeFailed+": "+msg, now)
			return nil
		}
		if err := a.state.SetComputeState(ctx, t.Workspace, t.Name, trainyard.Succeeded, ""); err != nil {
			return fmt.Errorf("set state Succeeded: %w", err)
		}
		log.Info("provisioned")
		msg := fmt.Sprintf("size %s in location %s, %d to %d nodes", t.Size, locationName(t), t.Scale.MinNodes, t.Scale.MaxNodes)
		if t.Type == trainyard.TypeComputeInstance {
			msg = fmt.Sprintf("compute instance of size %s in location %s, one node", t.Size, locationName(t))
		}
		a.event(ctx, log, t, EventProvisioned, msg)
		t.State = trainyard.Succeeded
	case trainyard.Failed, trainyard.Canceled:
		msg := "provisioning " + strings.ToLower(string(t.State))
		if len(t.Errors) > 0 {
			msg = t.Errors[len(t.Errors)-1]
		}
		a.setWait(ctx, log, ts, t, trainyard.WaitComputeFailed+": "+msg, now)
		return nil
	case trainyard.Succeeded, trainyard.Updating, trainyard.Deleting:
	default:
		return nil
	}

	loc, ok := a.locations[locationName(t)]
	if !ok {
		return fmt.Errorf("location %q is not configured on this server", locationName(t))
	}
	o, err := a.observe(ctx, loc, t)
	if err != nil {
		return err
	}
	ts.observeLog.recover(log, "reconcile")

	p := PolicyOf(t, a.boot, a.heartbeat)
	plan := Decide(p, o, now)
	if plan.Changes() && plan.Reason != ts.lastReason {
		log.Info("scaling", "launch", plan.Launch, "release", len(plan.Release),
			"lost", len(plan.Lost), "orphans", len(plan.Orphans), "reason", plan.Reason)
		a.event(ctx, log, t, EventScale, plan.Reason)
	}
	ts.lastReason = ""
	if plan.Changes() {
		ts.lastReason = plan.Reason
	}
	a.recordKeep(ctx, log, ts, t, o, plan, now)

	nodes := make(map[string]trainyard.Node, len(o.Nodes))
	for _, n := range o.Nodes {
		nodes[n.ID] = n
	}
	var failed []error

	// 1. Lost nodes: their instance goes first, so that nothing of their job still runs when
	// it runs again elsewhere (a node cut off from the network is alive); then they become
	// unusable, their job is requeued, and the next pass recycles them.
	for _, id := range plan.Lost {
		in, ok := instanceOf(o.Instances, id)
		why := lostWhy(p, nodes[id], in, ok, now)
		if err := loc.Provider.Delete(ctx, id); err != nil {
			failed = append(failed, fmt.Errorf("delete the instance of lost node %s: %w", id, err))
			continue
		}
		if err := a.state.MarkNodeLost(ctx, id, why); err != nil {
			failed = append(failed, fmt.Errorf("mark node %s lost: %w", id, err))
			continue
		}
		log.Warn("node lost", "node_id", id, "why", why)
		a.event(ctx, log, t, EventNode, fmt.Sprintf("node %s lost: %s", id, why))
	}

	// 2. Released nodes: leaving, then their instance goes, then their record.
	gone := 0
	for _, id := range plan.Release {
		if nodes[id].State != trainyard.NodeLeaving {
			ok, err := a.state.ReleaseNode(ctx, id)
			if err != nil {
				failed = append(failed, fmt.Errorf("release node %s: %w", id, err))
				continue
			}
			if !ok {
				log.Debug("node not released: its state changed", "node_id", id)
				continue
			}
		}
		if err := loc.Provider.Delete(ctx, id); err != nil {
			failed = append(failed, fmt.Errorf("delete instance %s: %w", id, err))
			continue
		}
		if err := a.state.DeleteNode(ctx, id); err != nil {
			failed = append(failed, fmt.Errorf("delete node record %s: %w", id, err))
			continue
		}
		gone++
		log.Info("node released", "node_id", id)
		a.event(ctx, log, t, EventNode, fmt.Sprintf("node %s released", id))
	}

	// 3. Instances nobody tracks.
	orphansLeft := len(plan.Orphans) > 0
	if orphansLeft {
		if err := loc.Provider.Delete(ctx, plan.Orphans...); err != nil {
			failed = append(failed, fmt.Errorf("delete orphan instances %s: %w", strings.Join(plan.Orphans, ", "), err))
		} else {
			orphansLeft = false
			log.Info("orphan instances deleted", "instances", plan.Orphans)
		}
	}

	// 4. New nodes, as many as the quota allows, unless launching is backing off.
	toLaunch, quotaWait := plan.Launch, ""
	if a.quota != nil && toLaunch > 0 {
		room, reason, err := a.quota.Headroom(ctx, t)
		if err != nil {
			failed = append(failed, fmt.Errorf("check quota: %w", err))
			room = 0
		}
		if room < toLaunch {
			log.Info("launch held by quota", "wanted", toLaunch, "fit", room)
			toLaunch, quotaWait = room, reason
		}
	}
	held := ""
	if fit, reason := a.capacity(ctx, log, t, loc, toLaunch); fit < toLaunch {
		log.Info("launch held by the location's capacity", "wanted", toLaunch, "fit", fit, "reason", reason)
		if reason != ts.lastHeld {
			a.event(ctx, log, t, EventScale, fmt.Sprintf("%d of the %d nodes to launch held back: %s", toLaunch-fit, toLaunch, reason))
		}
		toLaunch, quotaWait, held = fit, reason, reason
	}
	ts.lastHeld = held
	launched := a.launchAll(ctx, log, ts, t, loc, toLaunch, now)

	switch {
	case len(failed) == 0:
		ts.actLog.recover(log, "act")
	case ctx.Err() == nil:
		err := errors.Join(failed...)
		if ts.actLog.report(log, now, "act", err) {
			a.event(ctx, log, t, EventError, err.Error())
		}
	}

	if o.Deleting {
		if gone == len(o.Nodes) && !orphansLeft {
			if err := a.state.DeleteCompute(ctx, t.Workspace, t.Name); err != nil {
				return fmt.Errorf("delete compute: %w", err)
			}
			log.Info("compute deleted")
		}
		return nil
	}
	if o.Demand > 0 {
		reason := a.waitReason(ts, t, p, o, plan, launched)
		if quotaWait != "" && launched == 0 {
			reason = quotaWait // nodes are wanted and the quota holds them back
		}
		a.setWait(ctx, log, ts, t, reason, now)
	}
	return nil
}

// check validates a Creating target against the server's locations and their catalogs and
// returns what is wrong, or "".
func (a *Autoscaler) check(t trainyard.ComputeTarget) string {
	name := locationName(t)
	loc, ok := a.locations[name]
	if !ok {
		return fmt.Sprintf("location %q is not configured on this server; choose one of: %s",
			name, strings.Join(slices.Sorted(maps.Keys(a.locations)), ", "))
	}
	size, ok := trainyard.LookupSize(loc.Sizes, t.Size)
	if !ok {
		return fmt.Sprintf("size %q is not available in location %q; choose one of: %s",
			t.Size, name, strings.Join(trainyard.SizeNames(loc.Sizes), ", "))
	}
	if t.Tier == trainyard.LowPriority && !size.LowPriorityCapable {
		return fmt.Sprintf("size %s in location %q has no low_priority tier; use tier dedicated", size.Name, name)
	}
	return ""
}

// observe gathers what Decide looks at.
func (a *Autoscaler) observe(ctx context.Context, loc Location, t trainyard.ComputeTarget) (Observed, error) {
	o := Observed{Deleting: t.State == trainyard.Deleting}
	var err error
	if o.Instances, err = loc.Provider.List(ctx, t.Workspace+"/"+t.Name); err != nil {
		return o, fmt.Errorf("list instances: %w", err)
	}
	if o.Nodes, err = a.state.Nodes(ctx, t.Workspace, t.Name); err != nil {
		return o, fmt.Errorf("list nodes: %w", err)
	}
	if !o.Deleting {
		if o.Demand, err = a.state.Demand(ctx, t.Workspace, t.Name); err != nil {
			return o, fmt.Errorf("read demand: %w", err)
		}
	}
	return o, nil
}

// recordKeep records, once per reason, why an idle node past its idle time stays (case C-01).
func (a *Autoscaler) recordKeep(ctx context.Context, log *slog.Logger, ts *target, t trainyard.ComputeTarget, o Observed, plan Plan, now time.Time) {
	for _, n := range o.Nodes {
		why, ok := plan.Keep[n.ID]
		if !ok || ts.keep[n.ID] == why {
			continue
		}
		msg := fmt.Sprintf("node %s idle %s, past idle_time_before_scale_down %s, kept: %s",
			n.ID, round(n.IdleFor(now)), round(t.Scale.IdleTimeBeforeScaleDown), why)
		log.Debug("node kept", "node_id", n.ID, "why", why)
		a.event(ctx, log, t, EventNode, msg)
	}
	ts.keep = plan.Keep
}

// waitReason says why the target's queued jobs wait, after this pass launched launched nodes.
// It begins with one of the wait constants.
func (a *Autoscaler) waitReason(ts *target, t trainyard.ComputeTarget, p Policy, o Observed, plan Plan, launched int) string {
	gone := make(map[string]bool)
	for _, id := range slices.Concat(plan.Release, plan.Lost) {
		gone[id] = true
	}
	var ready, starting, busy int
	for _, n := range o.Nodes {
		switch {
		case gone[n.ID]:
		case n.State == trainyard.NodeIdle:
			ready++
		case n.State == trainyard.NodePreparing:
			starting++
		case n.State == trainyard.NodeRunning:
			busy++
		}
	}
	starting += launched
	progress := fmt.Sprintf("(%d ready of %d wanted)", ready, o.Demand)
	if ready >= o.Demand && ready > 0 {
		// Enough nodes are idle: they take the work when their agents next ask for it (just
		// after a server restart, say).
		progress = fmt.Sprintf("(%s idle, taking the work at their agents' next contact)", plural(ready, "node"))
	}
	switch {
	case t.Type == trainyard.TypeComputeInstance && p.Max <= 0:
		return fmt.Sprintf("%s: compute instance %s is stopped; start it with: trainyard compute start --name %s",
			trainyard.WaitInstanceStopped, t.Name, t.Name)
	case p.Max <= 0:
		return trainyard.WaitNodesBusy + ": max_instances is 0, so no node can start; raise max_instances"
	case starting > 0:
		return fmt.Sprintf("%s: %s starting %s", trainyard.WaitWaitingForNodes, plural(starting, "node"), progress)
	case ts.launchErr != nil && errors.Is(ts.launchErr, provider.ErrCapacity):
		return fmt.Sprintf("%s: location %s has no capacity for size %s; retrying %s",
			WaitNoCapacity, locationName(t), t.Size, progress)
	case ts.launchErr != nil:
		return fmt.Sprintf("%s: starting a node failed; retrying %s", trainyard.WaitWaitingForNodes, progress)
	case ready < o.Demand && busy+ready >= p.Max:
		// An idle node takes the next job at its agent's next contact; the others wait for
		// busy nodes.
		return fmt.Sprintf("%s: all %s busy, max_instances %d", trainyard.WaitNodesBusy, plural(busy+ready, "node"), p.Max)
	}
	return fmt.Sprintf("%s: %s", trainyard.WaitWaitingForNodes, progress)
}

// setWait gives the target's queued jobs reason: at once when its kind (NodesBusy,
// WaitingForNodes, …) differs from the last one given, else at most every waitRefresh.
func (a *Autoscaler) setWait(ctx context.Context, log *slog.Logger, ts *target, t trainyard.ComputeTarget, reason string, now time.Time) {
	kind := func(r string) string { k, _, _ := strings.Cut(r, ":"); return k }
	if ts.waitSet != "" && kind(reason) == kind(ts.waitSet) && now.Sub(ts.waitAt) < waitRefresh {
		return
	}
	if err := a.state.SetWaitReason(ctx, t.Workspace, t.Name, reason); err != nil {
		if ctx.Err() == nil {
			log.Warn("set wait reason", "err", err)
		}
		return
	}
	ts.waitSet, ts.waitAt = reason, now
}

// event records an event; failing to is logged, not fatal.
func (a *Autoscaler) event(ctx context.Context, log *slog.Logger, t trainyard.ComputeTarget, kind, msg string) {
	if err := a.state.AddEvent(ctx, t.Workspace, t.Name, kind, msg); err != nil && ctx.Err() == nil {
		log.Warn("add event", "kind", kind, "err", err)
	}
}

func locationName(t trainyard.ComputeTarget) string {
	if t.Location == "" {
		return LocalLocation
	}
	return t.Location
}

func instanceOf(ins []provider.Instance, id string) (provider.Instance, bool) {
	i := slices.IndexFunc(ins, func(in provider.Instance) bool { return in.ID == id })
	if i < 0 {
		return provider.Instance{}, false
	}
	return ins[i], true
}
