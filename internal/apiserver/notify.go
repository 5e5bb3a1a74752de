package apiserver

import "sync"

// signal wakes every waiter when something they may be waiting for changed (a job queued or
// canceled, a log grew, a job ended). Waiters re-check their own condition, so spurious wakes
// are harmless.
type signal struct {
	mu sync.Mutex
	ch chan struct{}
}

func newSignal() *signal { return &signal{ch: make(chan struct{})} }

// C returns a channel closed at the next Broadcast.
func (s *signal) C() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ch
}

// Broadcast wakes every current waiter.
func (s *signal) Broadcast() {
	s.mu.Lock()
	close(s.ch)
	s.ch = make(chan struct{})
	s.mu.Unlock()
}
