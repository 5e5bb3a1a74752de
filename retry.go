package trainyard

import "fmt"

// DefaultMaxRetries is how many times a job runs again, by default, after its node was
// preempted or lost.
const DefaultMaxRetries = 3

// MaxRetriesLimit bounds max_retries: a job that fails a hundred times will not pass the next.
const MaxRetriesLimit = 100

// Retry is when a job runs again: after a preemption or the loss of a node, up to Max more
// attempts, and after a non-zero exit of its command only when OnFailure is set.
type Retry struct {
	Max       int
	OnFailure bool
}

// CheckRetry checks a job's max_retries.
func CheckRetry(max int) error {
	if max < 0 || max > MaxRetriesLimit {
		return Errorf(Invalid, "max_retries %d: a job runs again 0 to %d times after its node is preempted or lost (default %d); set 0 to never retry", max, MaxRetriesLimit, DefaultMaxRetries)
	}
	return nil
}

// Retries reports whether an attempt that ended with error code cause runs again: causes
// outside the user's code (Preempted, NodeLost) always do, a failure of the command
// (UserError) only with OnFailure, and a cancel or timeout never; all while attempts remain.
func (r Retry) Retries(attempt int, cause string) bool {
	if attempt > r.Max {
		return false
	}
	switch cause {
	case ErrPreempted, ErrNodeLost:
		return true
	case ErrUserError:
		return r.OnFailure
	}
	return false
}

// Attempt is one run of a job, on its nodes.
type Attempt struct {
	N     int
	Nodes []string // rank 0 first
	// Started and Ended are Unix milliseconds; Ended is 0 while the attempt runs.
	Started, Ended int64
	// Cause is the error code that ended it (Preempted, NodeLost, UserError...), empty for
	// the attempt that is running or that completed.
	Cause, Message string
}

// RequeueReason is the wait reason of a job whose attempt next-1 ended as message says, of
// max retries.
func RequeueReason(next, max int, message string) string {
	return fmt.Sprintf("%s: attempt %d of %d, after attempt %d ended: %s", WaitRequeued, next, max+1, next-1, message)
}
