package quota

import (
	"context"
	"strings"
	"testing"

	"github.com/trainyard/trainyard"
)

type fakeSource struct {
	over   map[string]int
	allocs []Allocation
}

func (f fakeSource) QuotaOverrides(context.Context, string, string) (map[string]int, error) {
	return f.over, nil
}
func (f fakeSource) Allocations(context.Context, string, string) ([]Allocation, error) {
	return f.allocs, nil
}

func newLedger(src fakeSource) *Ledger {
	zero := 0
	return &Ledger{Source: src,
		Defaults: func(string) Limits {
			return Limits{Dedicated: map[string]int{"standardNCFamily": 0}, LowPriority: &zero}
		},
		Sizes: func(string) []trainyard.VMSize { return trainyard.BuiltinSizes }}
}

func TestLedger(t *testing.T) {
	ctx := context.Background()
	// 3 D2_V2 nodes (2 cores each) and 1 low-priority DS3_V2 node held; the workspace raised
	// its low-priority pool to 8 and lowered Dv2 to 8.
	l := newLedger(fakeSource{over: map[string]int{"lowPriority": 8, "standardDv2Family": 8},
		allocs: []Allocation{{Size: "STANDARD_D2_V2", Nodes: 3}, {Size: "STANDARD_DS3_V2", LowPriority: true, Nodes: 1}}})

	lines, err := l.Report(ctx, "default", "local")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Line{}
	for _, ln := range lines {
		got[ln.Pool] = ln
	}
	for pool, want := range map[string]Line{
		"standardDv2Family": {"standardDv2Family", 6, 8}, "lowPriority": {"lowPriority", 4, 8},
		"standardNCFamily": {"standardNCFamily", 0, 0}, "standardDSv2Family": {"standardDSv2Family", 0, DefaultCores},
	} {
		if got[pool] != want {
			t.Errorf("Report()[%s] = %+v, want %+v", pool, got[pool], want)
		}
	}

	tests := []struct {
		name   string
		t      trainyard.ComputeTarget
		want   int
		reason string
	}{
		{"one more Dv2 node fits", trainyard.ComputeTarget{Size: "STANDARD_D2_V2", Location: "local"}, 1, ""},
		{"low priority has room for one DS3", trainyard.ComputeTarget{Size: "STANDARD_DS3_V2", Tier: trainyard.LowPriority, Location: "local"}, 1, ""},
		{"GPU family at 0", trainyard.ComputeTarget{Workspace: "default", Size: "STANDARD_NC6", Location: "local"}, 0, "QuotaExceeded: VM family standardNCFamily needs 6 more cores"},
	}
	for _, tt := range tests {
		n, reason, err := l.Headroom(ctx, tt.t)
		if err != nil || n != tt.want || !strings.HasPrefix(reason, tt.reason) {
			t.Errorf("%s: Headroom() = %d, %q, %v; want %d, %q", tt.name, n, reason, err, tt.want, tt.reason)
		}
	}

	// A job of 5 Dv2 nodes can never fit a limit of 8, whatever is released.
	e, err := l.Check(ctx, "JobNodeCountExceedsCoreQuota", "default", "local", "STANDARD_D2_V2", false, 5, true)
	if err != nil || e == nil || e.Requested != 10 || e.Used != 6 || e.Limit != 8 {
		t.Errorf("Check(alone) = %+v, %v; want 10 requested over a limit of 8, with the 6 in use", e, err)
	}
	// Two more nodes do not fit next to the three held; one does.
	if e, _ := l.Check(ctx, "QuotaExceeded", "default", "local", "STANDARD_D2_V2", false, 2, false); e == nil || e.Used != 6 {
		t.Errorf("Check(2 more) = %+v, want exceeded with 6 used", e)
	}
	if e, _ := l.Check(ctx, "QuotaExceeded", "default", "local", "STANDARD_D2_V2", false, 1, false); e != nil {
		t.Errorf("Check(1 more) = %+v, want nil", e)
	}
}

// A request refused because it could never fit (alone) reports the cores really in use, as
// quota show does: QA saw "0 of its 1 are in use" while 2 were.
func TestCheckAloneReportsUsage(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name        string
		over        map[string]int
		allocs      []Allocation
		size        string
		lowPriority bool
		nodes       int
		want        *Exceeded // nil: fits
		mentions    []string
	}{
		{name: "QA: a job of one D2 node over a lowered limit, one node held",
			over: map[string]int{"standardDv2Family": 1}, allocs: []Allocation{{Size: "STANDARD_D2_V2", Nodes: 1}},
			size: "STANDARD_D2_V2", nodes: 1,
			want: &Exceeded{Code: "JobNodeCountExceedsCoreQuota", Workspace: "default", Location: "local", Pool: "standardDv2Family",
				Requested: 2, Used: 2, Limit: 1, Alone: true},
			mentions: []string{"needs 2 more cores", "more than its limit even with none in use", "2 of its 1 are in use", "--limit 4"}},
		{name: "nothing held", over: map[string]int{"standardDv2Family": 2}, size: "STANDARD_D2_V2", nodes: 2,
			want: &Exceeded{Code: "JobNodeCountExceedsCoreQuota", Workspace: "default", Location: "local", Pool: "standardDv2Family",
				Requested: 4, Used: 0, Limit: 2, Alone: true},
			mentions: []string{"0 of its 2 are in use", "--limit 4"}},
		{name: "only the pool asked counts", over: map[string]int{"lowPriority": 4},
			allocs: []Allocation{{Size: "STANDARD_D2_V2", Nodes: 3}, {Size: "STANDARD_DS3_V2", LowPriority: true, Nodes: 1}},
			size:   "STANDARD_DS3_V2", lowPriority: true, nodes: 2,
			want: &Exceeded{Code: "JobNodeCountExceedsCoreQuota", Workspace: "default", Location: "local", Pool: "lowPriority",
				Requested: 8, Used: 4, Limit: 4, Alone: true},
			mentions: []string{"the low-priority pool needs 8 more cores", "4 of its 4 are in use", "--low-priority --limit 12"}},
		{name: "fits alone though the pool is full now: it waits, not refused",
			over: map[string]int{"standardDv2Family": 2}, allocs: []Allocation{{Size: "STANDARD_D2_V2", Nodes: 1}},
			size: "STANDARD_D2_V2", nodes: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLedger(fakeSource{over: tt.over, allocs: tt.allocs})
			got, err := l.Check(ctx, "JobNodeCountExceedsCoreQuota", "default", "local", tt.size, tt.lowPriority, tt.nodes, true)
			if err != nil {
				t.Fatal(err)
			}
			if (got == nil) != (tt.want == nil) || got != nil && *got != *tt.want {
				t.Fatalf("Check(alone) = %+v, want %+v", got, tt.want)
			}
			for _, m := range tt.mentions {
				if !strings.Contains(got.Message(), m) {
					t.Errorf("Message() = %q, want it to mention %q", got.Message(), m)
				}
			}
		})
	}
}
