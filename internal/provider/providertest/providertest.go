// Package providertest is the conformance suite for the provider contract: every
// provider.Provider implementation runs Run in its tests and must pass it.
//
// It must only be imported by tests.
package providertest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/trainyard/trainyard/internal/provider"
)

// Timeouts for things a provider should do quickly; generous, for loaded machines and
// emulators.
const (
	callTimeout = 30 * time.Second // one Create, List or Delete
	goneTimeout = 30 * time.Second // a deleted instance leaves List or shows Gone
	// cancelTimeout bounds a call whose context has already ended.
	cancelTimeout = 10 * time.Second
)

// Run checks that the providers newProvider makes meet the provider contract. newProvider is
// called once per test, and each call must return a provider that holds no instances of the
// template's target yet. tmpl is called once per instance the suite creates: each call must
// return a template with a NodeID no earlier call returned, and the same Target. The suite
// uses another target, the template's with "-other" appended, to check that List keeps targets
// apart. The tests run in parallel; every instance they create is deleted when they end.
func Run(t *testing.T, newProvider func(t *testing.T) provider.Provider, tmpl func(t *testing.T) provider.Template) {
	tests := []struct {
		name string
		run  func(t *testing.T, p provider.Provider, tmpl func(t *testing.T) provider.Template)
	}{
		{"CreateList", testCreateList},
		{"ListEmpty", testListEmpty},
		{"ListOtherTarget", testListOtherTarget},
		{"TwoInstances", testTwoInstances},
		{"Delete", testDelete},
		{"DeleteIdempotent", testDeleteIdempotent},
		{"CreateCanceled", testCreateCanceled},
		{"DeleteCanceled", testDeleteCanceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.run(t, newProvider(t), tmpl)
		})
	}
}

// otherTarget is a target the suite never creates instances for.
func otherTarget(tmpl provider.Template) string { return tmpl.Target + "-other" }

func callCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), callTimeout)
	t.Cleanup(cancel)
	return ctx
}

// create creates an instance from a fresh template and deletes it when the test ends.
func create(t *testing.T, p provider.Provider, tmpl func(t *testing.T) provider.Template) (provider.Template, provider.Instance) {
	t.Helper()
	tp := tmpl(t)
	if tp.NodeID == "" || tp.Target == "" {
		t.Fatalf("the test's template has NodeID %q and Target %q; both are required", tp.NodeID, tp.Target)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		defer cancel()
		if err := p.Delete(ctx, tp.NodeID); err != nil {
			t.Errorf("cleanup: Delete(%s) = %v", tp.NodeID, err)
		}
	})
	inst, err := p.Create(callCtx(t), tp)
	if err != nil {
		t.Fatalf("Create(%s) = %v", tp.NodeID, err)
	}
	return tp, inst
}

// list calls List and fails the test on an error.
func list(t *testing.T, p provider.Provider, target string) []provider.Instance {
	t.Helper()
	got, err := p.List(callCtx(t), target)
	if err != nil {
		t.Fatalf("List(%q) = %v", target, err)
	}
	return got
}

// find returns the instance with id, if listed.
func find(insts []provider.Instance, id string) (provider.Instance, bool) {
	i := slices.IndexFunc(insts, func(in provider.Instance) bool { return in.ID == id })
	if i < 0 {
		return provider.Instance{}, false
	}
	return insts[i], true
}

func ids(insts []provider.Instance) []string {
	out := make([]string, len(insts))
	for i, in := range insts {
		out[i] = fmt.Sprintf("%s (%s, %s)", in.ID, in.Target, in.State)
	}
	return out
}

// live reports whether a state is one of a held instance: Pending or Running.
func live(s provider.State) bool { return s == provider.Pending || s == provider.Running }

// waitGone polls List until the instance is absent or Gone.
func waitGone(t *testing.T, p provider.Provider, target, id string) {
	t.Helper()
	deadline := time.Now().Add(goneTimeout)
	for {
		insts := list(t, p, target)
		in, ok := find(insts, id)
		if !ok || in.State == provider.Gone {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("instance %s is still listed as %s %s after Delete", id, in.State, goneTimeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func testCreateList(t *testing.T, p provider.Provider, tmpl func(t *testing.T) provider.Template) {
	before := time.Now()
	tp, inst := create(t, p, tmpl)
	if inst.ID != tp.NodeID {
		t.Errorf("Create returned ID %q, want the template's NodeID %q", inst.ID, tp.NodeID)
	}
	if inst.Target != tp.Target {
		t.Errorf("Create returned Target %q, want %q", inst.Target, tp.Target)
	}
	if !live(inst.State) {
		t.Errorf("Create returned state %q, want %q or %q", inst.State, provider.Pending, provider.Running)
	}
	if inst.CreatedAt.IsZero() || inst.CreatedAt.Before(before.Add(-time.Minute)) || inst.CreatedAt.After(time.Now().Add(time.Minute)) {
		t.Errorf("Create returned CreatedAt %v, want about %v", inst.CreatedAt, before)
	}

	insts := list(t, p, tp.Target)
	got, ok := find(insts, tp.NodeID)
	if !ok {
		t.Fatalf("List(%q) = %v, want it to hold %s", tp.Target, ids(insts), tp.NodeID)
	}
	if got.Target != tp.Target {
		t.Errorf("List reports Target %q for %s, want %q", got.Target, got.ID, tp.Target)
	}
	if !live(got.State) {
		t.Errorf("List reports state %q for a new instance, want %q or %q", got.State, provider.Pending, provider.Running)
	}
	for _, in := range insts {
		if in.Target != tp.Target {
			t.Errorf("List(%q) reports %s of target %q", tp.Target, in.ID, in.Target)
		}
	}
}

func testListEmpty(t *testing.T, p provider.Provider, tmpl func(t *testing.T) provider.Template) {
	tp := tmpl(t)
	if insts := list(t, p, tp.Target); len(insts) != 0 {
		t.Errorf("List(%q) of a new provider = %v, want none", tp.Target, ids(insts))
	}
}

func testListOtherTarget(t *testing.T, p provider.Provider, tmpl func(t *testing.T) provider.Template) {
	tp, _ := create(t, p, tmpl)
	if insts := list(t, p, otherTarget(tp)); len(insts) != 0 {
		t.Errorf("List(%q) = %v, want none: the only instance is of %q", otherTarget(tp), ids(insts), tp.Target)
	}
}

func testTwoInstances(t *testing.T, p provider.Provider, tmpl func(t *testing.T) provider.Template) {
	a, _ := create(t, p, tmpl)
	b, _ := create(t, p, tmpl)
	if a.NodeID == b.NodeID {
		t.Fatalf("tmpl returned NodeID %q twice; it must return a new one each call", a.NodeID)
	}
	insts := list(t, p, a.Target)
	for _, id := range []string{a.NodeID, b.NodeID} {
		if in, ok := find(insts, id); !ok || !live(in.State) {
			t.Errorf("List(%q) = %v, want %s held", a.Target, ids(insts), id)
		}
	}

	if err := p.Delete(callCtx(t), a.NodeID); err != nil {
		t.Fatalf("Delete(%s) = %v", a.NodeID, err)
	}
	waitGone(t, p, a.Target, a.NodeID)
	insts = list(t, p, a.Target)
	if in, ok := find(insts, b.NodeID); !ok || !live(in.State) {
		t.Errorf("after deleting %s, List(%q) = %v, want %s still held", a.NodeID, a.Target, ids(insts), b.NodeID)
	}
}

func testDelete(t *testing.T, p provider.Provider, tmpl func(t *testing.T) provider.Template) {
	tp, _ := create(t, p, tmpl)
	if err := p.Delete(callCtx(t), tp.NodeID); err != nil {
		t.Fatalf("Delete(%s) = %v", tp.NodeID, err)
	}
	waitGone(t, p, tp.Target, tp.NodeID)
}

func testDeleteIdempotent(t *testing.T, p provider.Provider, tmpl func(t *testing.T) provider.Template) {
	tp, _ := create(t, p, tmpl)
	for i := range 2 {
		if err := p.Delete(callCtx(t), tp.NodeID); err != nil {
			t.Fatalf("Delete(%s) #%d = %v, want nil: deleting an instance that is gone is not an error", tp.NodeID, i+1, err)
		}
	}
	waitGone(t, p, tp.Target, tp.NodeID)
	if err := p.Delete(callCtx(t), tp.NodeID); err != nil {
		t.Errorf("Delete(%s) once it is gone = %v, want nil", tp.NodeID, err)
	}
	unknown := tmpl(t).NodeID
	if err := p.Delete(callCtx(t), unknown); err != nil {
		t.Errorf("Delete(%s) of an ID never created = %v, want nil", unknown, err)
	}
	if err := p.Delete(callCtx(t)); err != nil {
		t.Errorf("Delete() of no IDs = %v, want nil", err)
	}
}

// testCreateCanceled: a Create whose context has ended fails with the context's error and
// leaves no instance held.
func testCreateCanceled(t *testing.T, p provider.Provider, tmpl func(t *testing.T) provider.Template) {
	tp := tmpl(t)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		defer cancel()
		p.Delete(ctx, tp.NodeID)
	})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := p.Create(ctx, tp); !errors.Is(err, context.Canceled) {
		t.Errorf("Create with a canceled context = %v, want an error wrapping context.Canceled", err)
	}
	if in, ok := find(list(t, p, tp.Target), tp.NodeID); ok && live(in.State) {
		t.Errorf("Create with a canceled context left %s %s", in.ID, in.State)
	}
}

// testDeleteCanceled: a Delete whose context has ended returns promptly, whatever it managed;
// a later Delete still releases the instance.
func testDeleteCanceled(t *testing.T, p provider.Provider, tmpl func(t *testing.T) provider.Template) {
	tp, _ := create(t, p, tmpl)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	done := make(chan error, 1)
	go func() { done <- p.Delete(ctx, tp.NodeID) }()
	select {
	case err := <-done:
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("Delete with a canceled context = %v, want nil or an error wrapping context.Canceled", err)
		}
	case <-time.After(cancelTimeout):
		t.Fatalf("Delete with a canceled context did not return within %s", cancelTimeout)
	}
	if err := p.Delete(callCtx(t), tp.NodeID); err != nil {
		t.Fatalf("Delete(%s) after a canceled Delete = %v", tp.NodeID, err)
	}
	waitGone(t, p, tp.Target, tp.NodeID)
}
