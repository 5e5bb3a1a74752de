package simulate

import (
	"cmp"
	"context"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/internal/autoscale"
	"github.com/trainyard/trainyard/internal/schedule"
	"github.com/trainyard/trainyard/internal/server"
	"github.com/trainyard/trainyard/internal/store"
)

// storeControl is the server's side of a replay done by the real store, as the server does
// it: jobs are created with CreateJob, nodes with CreateNode and RegisterNode, work handed out
// by store.Place to each idle node that asks, jobs ended by FinishJob, nodes released by
// ReleaseNode and DeleteNode; the autoscaler reads Nodes and Demand, after every live agent
// has synced (Touch).
type storeControl struct {
	t       testing.TB
	db      *store.DB
	now     time.Time
	ids     map[int64]int64 // the replay's job ID → the store's
	replays map[int64]int64 // the store's → the replay's
}

func newStoreControl(t testing.TB) *storeControl {
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "trainyard.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	c := &storeControl{t: t, db: db, ids: map[int64]int64{}, replays: map[int64]int64{}}
	db.Now = func() time.Time { return c.now }
	return c
}

var _ control = (*storeControl)(nil)

const ws, compute = "default", "sim"

func (c *storeControl) check(what string, err error) {
	c.t.Helper()
	if err != nil {
		c.t.Fatalf("%s at %s: %v", what, c.now.Sub(Epoch), err)
	}
}

func (c *storeControl) submit(now time.Time, j schedule.Job) {
	c.now = now
	row, err := c.db.CreateJob(context.Background(), trainyard.Job{Workspace: ws, Name: fmt.Sprintf("job-%d", j.ID), Compute: compute,
		Command: "true", InstanceCount: j.Nodes}, "{}")
	c.check("CreateJob", err)
	c.ids[j.ID], c.replays[row.ID] = row.ID, j.ID
}

func (c *storeControl) requeue(time.Time, schedule.Job) {
	c.t.Fatal("the store fails the job of a lost node and has no requeue: replay through it with max-retries 0")
}

func (c *storeControl) launch(now time.Time, id string) {
	c.now = now
	_, err := c.db.CreateNode(context.Background(), trainyard.Node{ID: id, Workspace: ws, Compute: compute,
		State: trainyard.NodePreparing, Slots: 1, CreatedAt: now})
	c.check("CreateNode", err)
}

func (c *storeControl) register(now time.Time, id string) {
	c.now = now
	_, err := c.db.RegisterNode(context.Background(), id, "10.0.0.1", 7070)
	c.check("RegisterNode", err)
}

func (c *storeControl) finish(now time.Time, id string, job int64) {
	c.now = now
	zero := 0
	j, err := c.db.JobByID(context.Background(), c.ids[job])
	c.check("JobByID", err)
	_, err = c.db.FinishJob(context.Background(), id, c.ids[job], j.Attempt, store.Outcome{ExitCode: &zero})
	c.check("FinishJob", err)
}

func (c *storeControl) lost(now time.Time, id string) {
	c.now = now
	c.check("MarkNodeLost", c.db.MarkNodeLost(context.Background(), id, "its instance is gone"))
}

func (c *storeControl) release(now time.Time, id string) bool {
	c.now = now
	ok, err := c.db.ReleaseNode(context.Background(), id)
	c.check("ReleaseNode", err)
	if ok {
		c.check("DeleteNode", c.db.DeleteNode(context.Background(), id))
	}
	return ok
}

// place lets each idle node ask for work, longest idle first, as their agents' syncs do.
func (c *storeControl) place(now time.Time, asking func(string) bool) []schedule.Placement {
	c.now = now
	ctx := context.Background()
	nodes, err := c.db.Nodes(ctx, ws, compute)
	c.check("Nodes", err)
	nodes = slices.DeleteFunc(nodes, func(n trainyard.Node) bool { return n.State != trainyard.NodeIdle || !asking(n.ID) })
	slices.SortFunc(nodes, func(a, b trainyard.Node) int {
		return cmp.Or(a.IdleSince.Compare(b.IdleSince), strings.Compare(a.ID, b.ID))
	})
	taken := map[string]bool{}
	var out []schedule.Placement
	for _, n := range nodes {
		if taken[n.ID] {
			continue
		}
		a, ok, err := c.db.Place(ctx, n.ID, nil)
		c.check("Place", err)
		if !ok {
			continue
		}
		p := schedule.Placement{Job: c.replays[a.Job.ID], Nodes: []string{n.ID}}
		if a.Gang.Nodes > 1 {
			ranks, err := c.db.Ranks(ctx, a.Job.ID)
			c.check("Ranks", err)
			p.Nodes = nil
			for _, r := range ranks {
				p.Nodes = append(p.Nodes, r.Node)
			}
		}
		for _, id := range p.Nodes {
			taken[id] = true
		}
		out = append(out, p)
	}
	return out
}

func (c *storeControl) observe(now time.Time) ([]trainyard.Node, int) {
	c.now = now
	ctx := context.Background()
	nodes, err := c.db.Nodes(ctx, ws, compute)
	c.check("Nodes", err)
	for _, n := range nodes {
		if !n.RegisteredAt.IsZero() {
			c.check("Touch", c.db.Touch(ctx, n.ID))
		}
	}
	nodes, err = c.db.Nodes(ctx, ws, compute)
	c.check("Nodes", err)
	demand, err := c.db.Demand(ctx, ws, compute)
	c.check("Demand", err)
	return nodes, demand
}

func (c *storeControl) queued() int {
	rows, err := c.db.Jobs(context.Background(), ws, store.JobFilter{Compute: compute, Status: trainyard.JobQueued, Limit: 1 << 20})
	c.check("Jobs", err)
	return len(rows)
}

// replay runs a replay through ctl and returns every step it took, in words, and its result.
// Every job must have ended.
func replay(tb testing.TB, t Trace, s Setting, ctl control, everyPass bool) ([]string, Result) {
	tb.Helper()
	r := newSim(t, s, ctl, Options{Series: true})
	r.everyPass = everyPass
	var steps []string
	r.log = func(l string) { steps = append(steps, l) }
	r.run()
	if r.left != 0 {
		tb.Errorf("%d jobs left after the replay, want 0", r.left)
	}
	return steps, r.result()
}

// randomTrace is n jobs of 1 to wide nodes, submitted in bursts.
func randomTrace(seed uint64, n, wide int) Trace {
	rng := rand.New(rand.NewPCG(seed, 1))
	var tr Trace
	tr.Format = Nodes
	at := time.Duration(0)
	for i := range n {
		if rng.IntN(3) == 0 {
			at += time.Duration(rng.IntN(1200)) * time.Second
		}
		tr.Jobs = append(tr.Jobs, Job{Line: i + 2, Submit: at, Duration: time.Duration(1+rng.IntN(900)) * time.Second, Nodes: 1 + rng.IntN(wide)})
	}
	return tr
}

// The replay and the server decide alike: the same trace replayed through the replay's own
// control and through the real store takes the same steps at the same times (every
// submit, registration, placement on the same nodes, job end, and every plan of
// autoscale.Decide with its reason), and measures the same. This is what keeps the
// simulator's placement (schedule.Queue) and demand from drifting from store.Place and
// store.Demand.
func TestSimulatorAndServerAgree(t *testing.T) {
	tests := []struct {
		name string
		tr   Trace
		keys string
	}{
		{"head of line", trace(t, "0 1000 1", "1 200 2", "2 10 1"), "max=2"},
		{"gangs and singles, max 4", randomTrace(1, 30, 4), ""},
		{"min 2 and a long idle time", randomTrace(2, 30, 3), "min=2,idle=30m"},
		{"idle 0 and a slow boot", randomTrace(3, 30, 2), "idle=0,boot=4m,max=3"},
		// The store fails the job of a lost node: max-retries 0 is what it does.
		{"low priority, preempted", randomTrace(9, 30, 3), "tier=low_priority,preemption-rate=1/h,max-retries=0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := setting(t, tt.keys)
			memSteps, memRes := replay(t, tt.tr, s, newMem(s.Target()), false)
			storeSteps, storeRes := replay(t, tt.tr, s, newStoreControl(t), false)
			if diff := gocmp.Diff(memSteps, storeSteps); diff != "" {
				t.Errorf("steps of the replay and of the store differ (-replay +store):\n%s", diff)
			}
			if diff := gocmp.Diff(memRes, storeRes, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("results differ (-replay +store):\n%s", diff)
			}
			if len(memSteps) < 3*len(tt.tr.Jobs) {
				t.Errorf("only %d steps for %d jobs: the trace did not run", len(memSteps), len(tt.tr.Jobs))
			}
			if strings.Contains(tt.keys, "preemption") && (memRes.Preempted == 0 || memRes.Failed == 0) {
				t.Errorf("%d nodes preempted, %d jobs lost: the case tests neither", memRes.Preempted, memRes.Failed)
			}
		})
	}
}

// The replay skips ticks and passes that cannot change anything. Replaying with every pass
// decided, on every tick of the server's ticker as well as every kick, takes the same steps
// and measures the same, preemptions included.
func TestSkippedPassesChangeNothing(t *testing.T) {
	tests := []struct {
		name string
		tr   Trace
		keys string
	}{
		{"gangs and singles", randomTrace(4, 60, 4), ""},
		{"min 1, idle 0", randomTrace(5, 60, 2), "min=1,idle=0"},
		{"long idle, fast boot", randomTrace(6, 60, 3), "idle=45m,boot=10s,max=6"},
		{"low priority, preempted", randomTrace(7, 60, 3), "tier=low_priority,preemption-rate=2/h,seed=3"},
		{"low priority, min 2, off-tick idle", randomTrace(8, 60, 2), "tier=low_priority,preemption-rate=1/h,min=2,idle=61s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := setting(t, tt.keys)
			lazySteps, lazy := replay(t, tt.tr, s, newMem(s.Target()), false)
			fullSteps, full := replay(t, tt.tr, s, newMem(s.Target()), true)
			if diff := gocmp.Diff(fullSteps, lazySteps); diff != "" {
				t.Errorf("steps differ (-every pass +skipping):\n%s", diff)
			}
			if diff := gocmp.Diff(full, lazy, cmpopts.EquateEmpty(), cmpopts.IgnoreFields(Result{}, "Decisions")); diff != "" {
				t.Errorf("results differ (-every pass +skipping):\n%s", diff)
			}
			if lazy.Decisions >= full.Decisions {
				t.Errorf("skipping decided %d passes, every pass %d: nothing was skipped", lazy.Decisions, full.Decisions)
			}
		})
	}
}

// The replay's timings are the server's defaults.
func TestServerTimings(t *testing.T) {
	cfg := server.DefaultConfig()
	if DefaultInterval != cfg.AutoscaleInterval {
		t.Errorf("DefaultInterval = %s, want the server's AutoscaleInterval %s", DefaultInterval, cfg.AutoscaleInterval)
	}
	if HeartbeatTimeout != cfg.HeartbeatTimeout {
		t.Errorf("HeartbeatTimeout = %s, want the server's %s", HeartbeatTimeout, cfg.HeartbeatTimeout)
	}
	if got := DefaultSetting().BootTimeout; got != autoscale.DefaultBootTimeout {
		t.Errorf("default boot timeout = %s, want the autoscaler's %s", got, autoscale.DefaultBootTimeout)
	}
}

// The package decides with the server's functions and has none of its own: it calls
// autoscale.Decide and autoscale.PolicyOf, places with schedule.Queue, and declares no
// function named like a decision (which would mean a copy to drift).
func TestUsesTheServersDecisions(t *testing.T) {
	fset := token.NewFileSet()
	names, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	calls := map[string]bool{}
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.SelectorExpr:
				if x, ok := n.X.(*ast.Ident); ok {
					calls[x.Name+"."+n.Sel.Name] = true
				}
			case *ast.FuncDecl:
				if name := strings.ToLower(n.Name.Name); n.Recv == nil && (name == "decide" || name == "place" || name == "demand") {
					t.Errorf("%s declares func %s: decisions belong to autoscale and schedule", fset.Position(n.Pos()), n.Name.Name)
				}
			}
			return true
		})
	}
	for _, want := range []string{"autoscale.Decide", "autoscale.PolicyOf", "schedule.Queue"} {
		if !calls[want] {
			t.Errorf("package simulate does not use %s", want)
		}
	}
}
