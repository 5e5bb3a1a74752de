package simulate

import "time"

// kind is what an event is.
type kind uint8

const (
	evBoot    kind = iota // a machine's agent registers
	evFinish              // a job's command ends
	evPreempt             // the provider takes a low-priority machine away
)

// event is something that happens to a machine or a job at a time of the virtual clock.
type event struct {
	at      time.Duration
	seq     uint64 // ties go in the order events were made
	kind    kind
	m       *machine // evBoot, evPreempt
	job     int      // evFinish: trace index
	attempt int      // evFinish: the attempt that ends
}

func (e event) before(f event) bool { return e.at < f.at || e.at == f.at && e.seq < f.seq }

// events is a min-heap of events by time.
type events struct {
	h   []event
	seq uint64
}

func (q *events) len() int    { return len(q.h) }
func (q *events) peek() event { return q.h[0] }

func (q *events) push(e event) {
	q.seq++
	e.seq = q.seq
	q.h = append(q.h, e)
	for i := len(q.h) - 1; i > 0; {
		p := (i - 1) / 2
		if !q.h[i].before(q.h[p]) {
			break
		}
		q.h[i], q.h[p] = q.h[p], q.h[i]
		i = p
	}
}

func (q *events) pop() event {
	top := q.h[0]
	last := len(q.h) - 1
	q.h[0] = q.h[last]
	q.h = q.h[:last]
	for i := 0; ; {
		l, small := 2*i+1, i
		if l < len(q.h) && q.h[l].before(q.h[small]) {
			small = l
		}
		if l+1 < len(q.h) && q.h[l+1].before(q.h[small]) {
			small = l + 1
		}
		if small == i {
			break
		}
		q.h[i], q.h[small] = q.h[small], q.h[i]
		i = small
	}
	return top
}
