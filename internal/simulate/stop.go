package simulate

import "time"

// stopAt is where the replay stops if nothing ends it before: its horizon, or a Stall after
// jobs began to wait with none running.
func (r *sim) stopAt() time.Duration {
	if r.stalledSince != none {
		return min(r.horizon, r.stalledSince+Stall)
	}
	return r.horizon
}

// stop ends a replay at at, its horizon or a stall, with jobs left: their waits count up to
// it, but for those not submitted yet, and the machines are billed up to it.
func (r *sim) stop(at time.Duration) {
	r.now = at
	stalled := at != r.horizon
	for n, i := range r.due {
		ru := &r.runs[i]
		switch {
		case ru.done:
			continue
		case n >= r.next:
			ru.unborn = true
		case ru.on == nil:
			ru.waited += r.now - ru.queuedAt
			if stalled && r.res.StalledOn == 0 {
				r.res.StalledOn = r.trace[i].Line // the oldest waiting job, which all the others wait behind
				r.res.StalledNodes = ru.nodes
			}
		}
		r.res.Unfinished++
	}
	r.lastChange, r.res.Stopped = r.now, true
	if stalled {
		r.res.Stalled = r.stalledSince
	}
	r.logf("stopped, %d jobs unfinished", r.res.Unfinished)
}

// settle bills the machines left, up to the last change.
func (r *sim) settle() {
	r.now = r.lastChange
	for _, m := range r.machines {
		r.enter(m, gone)
	}
	r.res.End = r.lastChange
	r.res.Launched = r.launched
}
