package simulate

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/internal/autoscale"
	"github.com/trainyard/trainyard/internal/provider"
	"github.com/trainyard/trainyard/internal/schedule"
)

// Options say what a replay records besides its totals.
type Options struct {
	Series bool // nodes and queue length over time, for Plot
}

// Epoch is the virtual wall time at which every replay starts; the clock is whole
// milliseconds from it, as the store keeps times.
var Epoch = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// Run replays trace t against setting s on a virtual clock that jumps from event to event:
// a submit, a node's agent registering, a job's end, a preemption, and the autoscaler's
// passes. The server kicks a pass on every submit, registration and job end; between them
// it ticks every Interval. The replay visits only the ticks at which a pass can change
// something (an idle node reaching its idle time, a booting node its boot timeout, the
// follow-up of a pass that changed something), and decides only the passes that can
// (mayChange); TestSkippedPassesChangeNothing holds that this changes no result.
//
// Placement is immediate: an idle agent holds a sync open and gets work at once. A job of
// more nodes than s.Max is refused, as the server refuses it at submit. After the last job
// ends nothing is preempted any more, and the replay ends once the cluster has settled. A
// setting under which jobs barely start (low-priority nodes preempted faster than they boot)
// would replay for ever: the replay stops at the Horizon, and counts the jobs left Unfinished.
// It returns early with ctx's error when ctx ends.
func Run(ctx context.Context, t Trace, s Setting, o Options) (Result, error) {
	if err := s.Check(t); err != nil {
		return Result{}, err
	}
	r := newSim(t, s, newMem(s.Target()), o)
	r.ctx = ctx
	if err := r.run(); err != nil {
		return Result{}, err
	}
	return r.result(), nil
}

// phase is what a machine is doing, for the hours it is billed.
type phase uint8

const (
	booting  phase = iota // launched, its agent not registered yet
	idle                  // registered, no job
	busy                  // a job is placed on it
	unusable              // lost while the provider still had it (billed, no work)
	gone                  // preempted: no longer billed
)

// machine is one instance of the provider: what the node record of the control stands for.
type machine struct {
	id         string
	launched   time.Duration
	since      time.Duration // start of the current phase
	phase      phase
	registered bool
	removed    bool // released: its instance is deleted
	job        int  // trace index of the job placed on it, or -1
}

// run is a trace job as the replay follows it.
type run struct {
	nodes    int
	refused  bool
	queuedAt time.Duration // when it last entered the queue
	waited   time.Duration // all its time in the queue
	placedAt time.Duration
	on       []string // its nodes while placed, rank 0 first
	attempt  int      // counts restarts; a finish of an earlier attempt is stale
	broken   bool     // a node of its attempt was preempted: it will not finish
	done     bool
	unborn   bool // not submitted when the replay stopped at its horizon
}

// Horizon is how long after the last submit and the longest job's duration a replay goes on
// before it stops with jobs unfinished.
const Horizon = 30 * 24 * time.Hour

// Stall is how long a replay goes on while jobs wait and none runs before it stops: the
// oldest waiting job's nodes are preempted faster than they all come up, and, no younger job
// overtaking it, nothing would ever run again. The report calls it a day.
const Stall = 24 * time.Hour

type sim struct {
	ctx    context.Context // nil never ends
	set    Setting
	policy autoscale.Policy
	ctl    control
	opts   Options
	trace  []Job
	runs   []run
	due    []int // trace indexes to submit, in submit order
	next   int   // into due
	events events
	rng    *rand.Rand

	machines []*machine
	index    map[string]int // machine ID → position in machines
	active   int            // machines billed now
	launched int
	left     int // jobs not done
	running  int // jobs placed and not ended

	// stalledSince is when jobs last began to wait with none running, or none.
	stalledSince time.Duration

	now        time.Duration
	horizon    time.Duration // where the replay stops, ended or not
	wake       time.Duration // the next tick with a pass to run, or none
	lastChange time.Duration
	insts      []provider.Instance
	hours      [gone]float64 // billed hours by phase
	res        Result

	// For tests: log, when set, is told every step in words; everyPass decides every pass,
	// on every tick as the server does, instead of only those that can change something.
	// preemptAfter, when set, stands in for the random lifetime of low-priority machines.
	log          func(string)
	everyPass    bool
	preemptAfter func() time.Duration
}

// none is a time that never comes.
const none = time.Duration(-1)

func newSim(t Trace, s Setting, ctl control, o Options) *sim {
	r := &sim{set: s, policy: s.Policy(), ctl: ctl, opts: o, trace: t.Jobs, runs: make([]run, len(t.Jobs)), stalledSince: none,
		rng: rand.New(rand.NewPCG(s.Seed, s.Seed^0x9e3779b97f4a7c15)), index: map[string]int{}}
	r.res.Setting = s
	var longest time.Duration
	for i, j := range t.Jobs {
		r.runs[i] = run{nodes: j.NodesOn(s.Size)}
		r.res.WorkHours += hoursOf(j.Duration) * float64(r.runs[i].nodes)
		if r.runs[i].nodes > s.Max {
			r.runs[i].refused = true
			r.res.Refused = append(r.res.Refused, Skip{j.Line, fmt.Sprintf("wants %d nodes together, more than max %d", r.runs[i].nodes, s.Max)})
			continue
		}
		r.due = append(r.due, i)
		r.res.OracleHours += hoursOf(j.Duration) * float64(r.runs[i].nodes)
		r.horizon = max(r.horizon, j.Submit)
		longest = max(longest, j.Duration)
	}
	r.horizon += longest + Horizon
	slices.SortFunc(r.res.Refused, func(a, b Skip) int { return a.Line - b.Line })
	r.left = len(r.due)
	r.res.Jobs = len(r.due)
	return r
}

func (r *sim) run() error {
	r.wake = 0 // the server's first pass, when it starts
	var done <-chan struct{}
	if r.ctx != nil {
		done = r.ctx.Done()
	}
	for {
		// Every step: one step of a cluster of many thousand nodes can take milliseconds.
		select {
		case <-done:
			return r.ctx.Err()
		default:
		}
		at, ok := r.nextAt()
		if !ok {
			break
		}
		if limit := r.stopAt(); at > limit {
			r.stop(limit)
			break
		}
		r.now = at
		kicked := r.submitDue()
		kicked = r.handleEvents() || kicked
		r.place()
		if kicked || r.wake == at {
			r.pass()
		}
		r.sample()
		if r.running > 0 || r.ctl.queued() == 0 {
			r.stalledSince = none
		} else if r.stalledSince == none {
			r.stalledSince = r.now
		}
	}
	r.settle()
	return nil
}

// nextAt is the time of the next submit, event or pass; ok is false when there is none.
func (r *sim) nextAt() (time.Duration, bool) {
	at := r.wake
	if r.next < len(r.due) {
		at = earliest(at, r.trace[r.due[r.next]].Submit)
	}
	for r.events.len() > 0 && r.stale(r.events.peek()) {
		r.events.pop()
	}
	if r.events.len() > 0 {
		at = earliest(at, r.events.peek().at)
	}
	return at, at != none
}

func earliest(a, b time.Duration) time.Duration {
	if a == none || b != none && b < a {
		return b
	}
	return a
}

func (r *sim) submitDue() bool {
	kicked := false
	for ; r.next < len(r.due) && r.trace[r.due[r.next]].Submit == r.now; r.next++ {
		i := r.due[r.next]
		r.runs[i].queuedAt = r.now
		r.ctl.submit(r.at(), r.job(i))
		r.logf("submit job %d (%d nodes)", i+1, r.runs[i].nodes)
		kicked = true
	}
	r.changed(kicked)
	return kicked
}

func (r *sim) job(i int) schedule.Job { return schedule.Job{ID: int64(i + 1), Nodes: r.runs[i].nodes} }

// handleEvents handles every event due now and reports whether one kicks the autoscaler.
func (r *sim) handleEvents() bool {
	kicked := false
	for r.events.len() > 0 && r.events.peek().at == r.now {
		e := r.events.pop()
		if r.stale(e) {
			continue
		}
		switch e.kind {
		case evBoot:
			r.ctl.register(r.at(), e.m.id)
			e.m.registered = true
			r.enter(e.m, idle)
			r.logf("node %s registered", e.m.id)
			kicked = true
		case evFinish:
			r.finish(e.job)
			kicked = true
		case evPreempt:
			r.preempt(e.m)
		}
		r.changed(true)
	}
	return kicked
}

// stale reports whether e no longer happens: its machine was released or preempted, or its
// job restarted. After the last job ends, nothing is preempted.
func (r *sim) stale(e event) bool {
	switch e.kind {
	case evFinish:
		ru := r.runs[e.job]
		return e.attempt != ru.attempt || ru.broken || ru.done
	case evPreempt:
		return e.m.removed || e.m.phase == gone || r.left == 0
	}
	return e.m.removed || e.m.phase == gone
}

func (r *sim) finish(i int) {
	ru := &r.runs[i]
	for _, id := range ru.on {
		m := r.machine(id)
		r.ctl.finish(r.at(), id, int64(i+1))
		r.enter(m, idle)
		m.job = -1
	}
	r.logf("job %d finished on %v", i+1, ru.on)
	ru.on, ru.done = nil, true
	r.left--
	r.running--
	r.res.DoneHours += hoursOf(r.trace[i].Duration) * float64(ru.nodes)
}

// preempt takes a low-priority machine away: it is no longer billed, the provider lists its
// instance Gone, and the job on it will not finish. The next tick's pass finds it lost.
func (r *sim) preempt(m *machine) {
	r.enter(m, gone)
	r.res.Preempted++
	if m.job >= 0 {
		r.runs[m.job].broken = true
	}
	r.logf("node %s preempted", m.id)
	r.wake = earliest(r.wake, r.tickAfter(r.now))
}

// place hands work to the idle nodes, as the control decides.
func (r *sim) place() {
	for _, p := range r.ctl.place(r.at(), r.asking) {
		i := int(p.Job - 1)
		ru := &r.runs[i]
		ru.waited += r.now - ru.queuedAt
		ru.placedAt, ru.on = r.now, p.Nodes
		for _, id := range p.Nodes {
			m := r.machine(id)
			r.enter(m, busy)
			m.job = i
		}
		r.running++
		r.events.push(event{at: r.now + r.trace[i].Duration, kind: evFinish, job: i, attempt: ru.attempt})
		r.logf("place job %d on %v", p.Job, p.Nodes)
		r.changed(true)
	}
}

// asking reports whether the agent of node id is up to ask for work: not once preempted.
func (r *sim) asking(id string) bool {
	i, ok := r.index[id]
	return ok && r.machines[i].phase != gone
}

// pass is one pass of the autoscaler: observe, autoscale.Decide, act, in the order the
// server's loop acts (lost nodes, then releases, then launches), and hand out the work that
// frees. A pass that cannot change anything (mayChange) is not decided.
func (r *sim) pass() {
	at := r.at()
	nodes, demand := r.ctl.observe(at)
	if !r.everyPass && !r.mayChange(demand) {
		r.wake = r.nextWake(autoscale.Plan{})
		return
	}
	plan := autoscale.Decide(r.policy, autoscale.Observed{Nodes: nodes, Instances: r.instances(at), Demand: demand}, at)
	r.res.Decisions++
	if plan.Changes() {
		r.logf("pass: demand %d, %d nodes: launch %d, release %v, lost %v: %s", demand, len(nodes), plan.Launch, plan.Release, plan.Lost, plan.Reason)
		r.changed(true)
	}
	for _, id := range plan.Lost {
		r.lose(id)
	}
	for _, id := range plan.Release {
		r.release(id)
	}
	for range plan.Launch {
		r.launch()
	}
	r.wake = r.nextWake(plan)
	if r.everyPass && (r.wake != none || r.next < len(r.due) || r.events.len() > 0) {
		r.wake = r.tickAfter(r.now)
	}
	r.place()
}

// mayChange reports whether autoscale.Decide could change anything now, from the rules of
// Decide in words: a node lost (its instance gone) or to recycle, a booting node past its boot
// timeout, an idle node past its idle time, more nodes than max, or fewer active nodes than
// running + demand wants (clamped to min and max). When it says no, the plan would be the
// zero Plan, so the replay skips Decide; TestSkippedPassesChangeNothing replays traces with
// every pass decided to hold this.
func (r *sim) mayChange(demand int) bool {
	running := 0
	for _, m := range r.machines {
		switch {
		case m.phase == gone || m.phase == unusable,
			!m.registered && r.now-m.launched >= r.set.BootTimeout,
			m.phase == idle && r.now-m.since >= r.set.Idle:
			return true
		case m.phase == busy:
			running++
		}
	}
	active := len(r.machines)
	return active > r.set.Max || min(max(running+demand, r.set.Min), r.set.Max) > active
}

// instances is what the provider lists for the target.
func (r *sim) instances(at time.Time) []provider.Instance {
	r.insts = r.insts[:0]
	for _, m := range r.machines {
		st := provider.Running
		switch {
		case m.phase == gone:
			st = provider.Gone
		case !m.registered:
			st = provider.Pending
		}
		r.insts = append(r.insts, provider.Instance{ID: m.id, Target: "default/sim", State: st, CreatedAt: Epoch.Add(m.launched)})
	}
	return r.insts
}

// lose handles a node the plan found lost: its record becomes unusable and its job, if any,
// is queued again to restart from the beginning; the job's other nodes stop it and are idle.
func (r *sim) lose(id string) {
	m := r.machine(id)
	r.ctl.lost(r.at(), id)
	if m.phase != gone {
		r.enter(m, unusable)
	}
	if m.job >= 0 {
		r.restart(m.job)
	}
}

// restart ends the attempt of job i that lost a node: its other nodes stop it and are idle.
// The job is queued again to run from the beginning, or, past MaxRetries restarts, lost.
func (r *sim) restart(i int) {
	ru := &r.runs[i]
	for _, id := range ru.on {
		m := r.machine(id)
		lostUntil := r.now
		if m.phase == gone {
			lostUntil = m.since
		} else if m.phase == busy {
			r.ctl.finish(r.at(), id, int64(i+1))
			r.enter(m, idle)
		}
		r.res.LostHours += hoursOf(lostUntil - ru.placedAt)
		m.job = -1
	}
	on := ru.on
	ru.on, ru.broken, ru.queuedAt = nil, false, r.now
	r.running--
	if ru.attempt >= r.set.MaxRetries {
		r.logf("job %d lost: a node of %v was lost, and it restarted %d times already", i+1, on, ru.attempt)
		ru.done = true
		r.left--
		r.res.Failed++
		return
	}
	r.logf("job %d restarts: a node of %v was lost", i+1, on)
	ru.attempt++
	r.res.Restarted++
	r.ctl.requeue(r.at(), r.job(i))
}

func (r *sim) release(id string) {
	if !r.ctl.release(r.at(), id) {
		return
	}
	m := r.machine(id)
	r.enter(m, gone)
	m.removed = true
	i := r.index[id]
	last := len(r.machines) - 1
	r.machines[i] = r.machines[last]
	r.index[r.machines[i].id] = i
	r.machines = r.machines[:last]
	delete(r.index, id)
}

func (r *sim) launch() {
	r.launched++
	id := fmt.Sprintf("node-%07d", r.launched)
	r.ctl.launch(r.at(), id)
	m := &machine{id: id, launched: r.now, since: r.now, phase: booting, job: -1}
	r.index[id] = len(r.machines)
	r.machines = append(r.machines, m)
	r.active++
	r.res.PeakNodes = max(r.res.PeakNodes, r.active)
	r.events.push(event{at: r.now + r.set.Boot, kind: evBoot, m: m})
	if r.set.Tier == trainyard.LowPriority && r.set.PreemptionRate > 0 {
		r.events.push(event{at: r.now + r.lifetime().Truncate(time.Millisecond), kind: evPreempt, m: m})
	}
}

// lifetime is how long a new low-priority machine lives before it is preempted: exponential,
// so that machines are preempted at PreemptionRate per node-hour.
func (r *sim) lifetime() time.Duration {
	if r.preemptAfter != nil {
		return r.preemptAfter()
	}
	return time.Duration(r.rng.ExpFloat64() / r.set.PreemptionRate * float64(time.Hour))
}

// nextWake is the first tick at which a pass can change something, given the plan just
// carried out; none when only an event can.
func (r *sim) nextWake(plan autoscale.Plan) time.Duration {
	w := none
	if plan.Changes() {
		w = r.tickAfter(r.now)
	}
	for _, m := range r.machines {
		due := none
		switch {
		case m.phase == idle && plan.Keep[m.id] == "":
			due = m.since + r.set.Idle // its idle time is up
		case !m.registered:
			due = m.launched + r.set.BootTimeout // released if its agent never came up
		case m.phase == gone || m.phase == unusable:
			due = r.now // found lost, or recycled, by the next pass
		}
		if due != none {
			w = earliest(w, max(r.tickAt(due), r.tickAfter(r.now)))
		}
	}
	return w
}

// tickAt is the first tick of the autoscaler's ticker at or after d; tickAfter the first
// after d.
func (r *sim) tickAt(d time.Duration) time.Duration {
	return (d + r.set.Interval - 1) / r.set.Interval * r.set.Interval
}

func (r *sim) tickAfter(d time.Duration) time.Duration {
	return (d/r.set.Interval + 1) * r.set.Interval
}

// enter moves m to phase p, billing the hours of the phase it leaves.
func (r *sim) enter(m *machine, p phase) {
	if m.phase != gone {
		r.hours[m.phase] += hoursOf(r.now - m.since)
		if p == gone {
			r.active--
		}
	}
	m.phase, m.since = p, r.now
}

func (r *sim) sample() {
	if !r.opts.Series {
		return
	}
	s := Sample{At: r.now, Nodes: r.active, Queued: r.ctl.queued()}
	if n := len(r.res.Series); n > 0 && r.res.Series[n-1].Nodes == s.Nodes && r.res.Series[n-1].Queued == s.Queued {
		return
	}
	r.res.Series = append(r.res.Series, s)
}

func (r *sim) changed(yes bool) {
	if yes {
		r.lastChange = r.now
	}
}

func (r *sim) at() time.Time { return Epoch.Add(r.now) }

func (r *sim) machine(id string) *machine { return r.machines[r.index[id]] }

func (r *sim) logf(format string, args ...any) {
	if r.log != nil {
		r.log(fmt.Sprintf("%s ", r.now) + fmt.Sprintf(format, args...))
	}
}

func hoursOf(d time.Duration) float64 { return d.Hours() }
