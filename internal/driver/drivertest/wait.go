package drivertest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/trainyard/trainyard/internal/driver"
)

func testWaitContext(t *testing.T, newDriver func(*testing.T) driver.Driver) {
	spec := newSpec(t, awaitFile("release")+"; echo released; exit 6")
	task := start(t, newDriver(t), spec)

	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if _, err := task.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Wait(ctx past its deadline) error = %v, want %v", err, context.DeadlineExceeded)
	}
	ctx, cancel = context.WithCancel(t.Context())
	cancel()
	if _, err := task.Wait(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Wait(cancelled ctx) error = %v, want %v", err, context.Canceled)
	}

	// The task outlives the abandoned waits.
	touch(t, spec, "release")
	if got, want := wait(t, task), (driver.Exit{Code: 6}); got != want {
		t.Errorf("Wait() = %+v, want %+v", got, want)
	}
	if log := readLog(t, spec); log != "released\n" {
		t.Errorf("log = %q, want %q", log, "released\n")
	}
}

func testWaitConcurrentWithStop(t *testing.T, newDriver func(*testing.T) driver.Driver) {
	spec := newSpec(t, "echo ready; sleep 60")
	task := start(t, newDriver(t), spec)
	waitForLog(t, spec, "ready")

	// Several goroutines wait while two stop: none may see a different exit, or race.
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	const waiters = 4
	exits := make([]driver.Exit, waiters)
	errs := make([]error, waiters+2)
	var wg sync.WaitGroup
	for i := range waiters {
		wg.Go(func() { exits[i], errs[i] = task.Wait(ctx) })
	}
	for i := range 2 {
		wg.Go(func() { errs[waiters+i] = task.Stop(ctx, 5*time.Second) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("call %d (Wait, then Stop): error %v", i, err)
		}
	}
	want := driver.Exit{Code: -1, Signal: 15}
	for i, got := range exits {
		if got != want {
			t.Errorf("waiter %d: Wait() = %+v, want %+v", i, got, want)
		}
	}
}
