package schedule

import (
	"cmp"
	"slices"
)

// Queue is the queue of one compute held in memory, oldest job first, for a caller that keeps
// it from one decision to the next (the simulator). Its Place is the package's Place over
// Jobs, and its Demand equals Demand(Jobs()); Demand is kept as jobs come and go, so it costs
// nothing on a queue of thousands. The zero Queue is empty and ready to use.
type Queue struct {
	jobs   []Job
	demand int
}

// Add queues j in ID order: a new job goes last, and a job queued again (restarted after its
// node was lost) goes back to its place among the older ones. A job already queued is left
// as it is.
func (q *Queue) Add(j Job) {
	i, found := slices.BinarySearchFunc(q.jobs, j.ID, func(a Job, id int64) int { return cmp.Compare(a.ID, id) })
	if found {
		return
	}
	q.jobs = slices.Insert(q.jobs, i, j)
	q.demand += j.want()
}

// Place decides as Place does for the queue and idle, and takes the jobs it placed off the
// queue.
func (q *Queue) Place(idle []string) Decision {
	d := Place(q.jobs, idle)
	for _, j := range q.jobs[:len(d.Placed)] {
		q.demand -= j.want()
	}
	q.jobs = q.jobs[len(d.Placed):]
	return d
}

// Jobs lists the queued jobs, oldest first. The slice is the queue's own: read it only.
func (q *Queue) Jobs() []Job { return q.jobs }

// Len is the number of queued jobs.
func (q *Queue) Len() int { return len(q.jobs) }

// Demand is Demand(q.Jobs()).
func (q *Queue) Demand() int { return q.demand }
