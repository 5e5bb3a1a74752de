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
	if err != nil || e == nil || e.Requested != 10 || e.Used != 0 || e.Limit != 8 {
		t.Errorf("Check(alone) = %+v, %v; want 10 requested over a limit of 8", e, err)
	}
	// Two more nodes do not fit next to the three held; one does.
	if e, _ := l.Check(ctx, "QuotaExceeded", "default", "local", "STANDARD_D2_V2", false, 2, false); e == nil || e.Used != 6 {
		t.Errorf("Check(2 more) = %+v, want exceeded with 6 used", e)
	}
	if e, _ := l.Check(ctx, "QuotaExceeded", "default", "local", "STANDARD_D2_V2", false, 1, false); e != nil {
		t.Errorf("Check(1 more) = %+v, want nil", e)
	}
}
