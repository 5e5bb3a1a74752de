package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// insertWS is a write that adds workspace name, then fails with err when err is not nil.
func insertWS(name string, err error) func(tx *Tx) error {
	return func(tx *Tx) error {
		if _, e := tx.Exec(`INSERT INTO workspaces (name, created_at) VALUES (?, 0)`, name); e != nil {
			return e
		}
		return err
	}
}

// A group shares one transaction, but each write succeeds or fails alone: a failed, panicking
// or cancelled write leaves nothing behind, and the others in its group still commit.
func TestCommitGroupIsolatesWrites(t *testing.T) {
	db := mustOpen(t)
	ctx := t.Context()
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	refused := errors.New("refused by the caller")
	tests := []struct {
		name    string
		ctx     context.Context
		fn      func(tx *Tx) error
		wantErr string // "" for success
		kept    string // the workspace the write leaves, if any
	}{
		{name: "ok", ctx: ctx, fn: insertWS("a", nil), kept: "a"},
		{name: "fails after writing", ctx: ctx, fn: insertWS("b", refused), wantErr: "refused by the caller"},
		{name: "panics after writing", ctx: ctx, fn: func(tx *Tx) error { insertWS("c", nil)(tx); panic("boom") }, wantErr: "write panicked: boom"},
		{name: "ok after the failures", ctx: ctx, fn: insertWS("d", nil), kept: "d"},
		{name: "caller gone before its turn", ctx: canceled, fn: insertWS("e", nil), wantErr: "context canceled"},
		{name: "duplicate of an earlier write in the group", ctx: ctx, fn: insertWS("a", nil), wantErr: "UNIQUE"},
		{name: "reads the group's earlier writes", ctx: ctx, fn: func(tx *Tx) error {
			var n int
			if err := tx.QueryRow(`SELECT count(*) FROM workspaces WHERE name IN ('a', 'b', 'c', 'd')`).Scan(&n); err != nil {
				return err
			}
			return insertWS(fmt.Sprintf("saw-%d", n), nil)(tx)
		}, kept: "saw-2"},
	}
	group := make([]write, len(tests))
	for i, tt := range tests {
		group[i] = write{ctx: tt.ctx, fn: tt.fn, done: make(chan error, 1)}
	}
	before, err := db.Workspaces(ctx)
	if err != nil {
		t.Fatal(err)
	}
	db.commitGroup(group)
	var want []string
	for i, tt := range tests {
		err := <-group[i].done
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("%s: error %v, want none", tt.name, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("%s: error %v, want one containing %q", tt.name, err, tt.wantErr)
		}
		if tt.kept != "" {
			want = append(want, tt.kept)
		}
	}
	got, err := db.Workspaces(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got = slices.DeleteFunc(got, func(n string) bool { return slices.Contains(before, n) })
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("workspaces after the group = %v, want %v", got, want)
	}
}

// Many concurrent writers are all answered, each with its own result, and what was
// acknowledged is there after the store is closed and opened again.
func TestConcurrentWritesAllDurable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "trainyard.db")
	db, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	const writers = 64
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for i := range writers {
		wg.Go(func() {
			// Every eighth writer asks for a name another has: exactly one of them wins.
			name := fmt.Sprintf("w%d", i)
			if i%8 == 7 {
				name = fmt.Sprintf("w%d", i-1)
			}
			errs[i] = db.CreateWorkspace(t.Context(), name)
		})
	}
	wg.Wait()
	acked := map[string]bool{}
	conflicts := 0
	for i, err := range errs {
		name := fmt.Sprintf("w%d", i)
		if i%8 == 7 {
			name = fmt.Sprintf("w%d", i-1)
		}
		switch {
		case err == nil:
			acked[name] = true
		case strings.Contains(err.Error(), "already exists"):
			conflicts++
		default:
			t.Errorf("writer %d: %v", i, err)
		}
	}
	if conflicts != writers/8 {
		t.Errorf("%d writers got a conflict, want %d (one per shared name)", conflicts, writers/8)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateWorkspace(t.Context(), "late"); !errors.Is(err, errClosed) {
		t.Errorf("write after Close: %v, want %v", err, errClosed)
	}
	db = mustOpenAt(t, path)
	names, err := db.Workspaces(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for name := range acked {
		if !slices.Contains(names, name) {
			t.Errorf("acknowledged workspace %s missing after reopening", name)
		}
	}
}

// A write's statement is prepared once its first transaction has committed, and the writes
// after it run prepared, with the same results and errors: a taken name is still a Conflict.
func TestPreparedWrites(t *testing.T) {
	db := mustOpen(t)
	ctx := t.Context()
	insert := `INSERT INTO workspaces (name, created_at) VALUES (?, ?)`
	if err := db.CreateWorkspace(ctx, "first"); err != nil {
		t.Fatal(err)
	}
	// The committer prepares after answering; the next write it takes waits for that.
	if _, err := db.exec(ctx, `UPDATE workspaces SET created_at = created_at WHERE name = ?`, "none"); err != nil {
		t.Fatal(err)
	}
	if db.wstmts.get(insert) == nil {
		t.Fatalf("the insert was not prepared after its commit")
	}
	if err := db.CreateWorkspace(ctx, "second"); err != nil {
		t.Errorf("prepared insert: %v", err)
	}
	if err := db.CreateWorkspace(ctx, "second"); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("prepared insert of a taken name: %v, want a conflict", err)
	}
	names, err := db.Workspaces(ctx)
	if err != nil || !slices.Contains(names, "first") || !slices.Contains(names, "second") {
		t.Errorf("workspaces %v, %v; want first and second among them", names, err)
	}
}
