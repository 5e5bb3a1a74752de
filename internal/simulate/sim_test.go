package simulate

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/trainyard/trainyard"
)

// trace reads a submit,duration,nodes trace from rows of "submit duration nodes".
func trace(t *testing.T, rows ...string) Trace {
	t.Helper()
	csv := "submit,duration,nodes\n"
	for _, r := range rows {
		csv += strings.ReplaceAll(strings.TrimSpace(r), " ", ",") + "\n"
	}
	tr, err := ReadTrace(strings.NewReader(csv))
	if err != nil || len(tr.Skipped) > 0 {
		t.Fatalf("ReadTrace: %v, skipped %v", err, tr.Skipped)
	}
	return tr
}

// setting is STANDARD_NC24, 0 to 4 nodes, idle 120 s, boot 3 min, dedicated, with keys on top.
func setting(t *testing.T, keys string) Setting {
	t.Helper()
	s := DefaultSetting()
	if err := s.Apply("size=STANDARD_NC24,max=4,idle=120s,boot=3m"); err != nil {
		t.Fatal(err)
	}
	if keys != "" {
		if err := s.Apply(keys); err != nil {
			t.Fatal(err)
		}
	}
	s.Name = keys
	return s
}

func mustRun(t *testing.T, tr Trace, s Setting) Result {
	t.Helper()
	res, err := Run(t.Context(), tr, s, Options{})
	if err != nil {
		t.Fatalf("Run(%s) error: %v", s.Name, err)
	}
	checkHours(t, res)
	return res
}

// checkHours holds the identity of the hours: every billed hour was spent booting, idle or
// busy.
func checkHours(t *testing.T, r Result) {
	t.Helper()
	if sum := r.BootHours + r.IdleHours + r.BusyHours; math.Abs(sum-r.NodeHours) > 1e-6 {
		t.Errorf("%s: boot %v + idle %v + busy %v = %v node-hours, want NodeHours %v", r.Setting.Name,
			r.BootHours, r.IdleHours, r.BusyHours, sum, r.NodeHours)
	}
	if r.Failed == 0 && r.NodeHours+1e-9 < r.OracleHours {
		t.Errorf("%s: %v node-hours, below the oracle bound %v", r.Setting.Name, r.NodeHours, r.OracleHours)
	}
}

// want is the part of a Result the hand-computed cases check, in seconds.
type want struct {
	node, boot, idle, busy, oracle, lost   float64
	p50, p99                               time.Duration
	preempted, restarted, failed, launched int
}

func got(r Result) want {
	s := func(h float64) float64 { return math.Round(h*3600*1000) / 1000 }
	return want{node: s(r.NodeHours), boot: s(r.BootHours), idle: s(r.IdleHours), busy: s(r.BusyHours),
		oracle: s(r.OracleHours), lost: s(r.LostHours), p50: r.WaitP50, p99: r.WaitP99,
		preempted: r.Preempted, restarted: r.Restarted, failed: r.Failed, launched: r.Launched}
}

// Tiny traces whose answers are worked out by hand in each case's comment. Passes run on a 2 s
// ticker and on every submit, registration and job end; a node boots in 180 s.
func TestRunByHand(t *testing.T) {
	tests := []struct {
		name    string
		rows    []string
		keys    string
		preempt []time.Duration // lifetimes of the low-priority machines, in launch order
		want    want
		end     time.Duration // when the replay ends, if checked
	}{
		{
			// Launched at 0, registers at 180, runs 180-3780, idle until 3780+120 = 3900,
			// a tick: released. 1 h + boot + idle time.
			name: "one job of an hour, min 0, idle 120 s",
			rows: []string{"0 3600 1"},
			want: want{node: 3900, boot: 180, idle: 120, busy: 3600, oracle: 3600, p50: 3 * time.Minute, p99: 3 * time.Minute, launched: 1},
			end:  3900 * time.Second,
		},
		{
			// Idle until 3780+121 = 3901, which is no tick: released at the tick 3902.
			name: "an idle time off the ticker waits for the next tick",
			rows: []string{"0 3600 1"}, keys: "idle=121s",
			want: want{node: 3902, boot: 180, idle: 122, busy: 3600, oracle: 3600, p50: 3 * time.Minute, p99: 3 * time.Minute, launched: 1},
		},
		{
			// min 1 keeps the node after the job; the replay ends at the job's end, 3780.
			name: "min 1 keeps its node",
			rows: []string{"0 3600 1"}, keys: "min=1",
			want: want{node: 3780, boot: 180, busy: 3600, oracle: 3600, p50: 3 * time.Minute, p99: 3 * time.Minute, launched: 1},
		},
		{
			// Job 1 runs 180-780 on node 1. Job 2 comes at 700: running 1 + demand 1 > 1
			// active, so node 2 launches at 700 (the autoscaler does not know job 1 ends soon).
			// Job 1 ends at 780 and job 2 takes node 1 at once (waited 80 s), running to 1380;
			// node 2 registers at 880, is idle, and goes at 1000; node 1 goes at 1500.
			// Nodes: 1500 + 300 s; idle 120 + (1000-880).
			name: "a queued job launches a node even when one will free soon",
			rows: []string{"0 600 1", "700 600 1"},
			want: want{node: 1800, boot: 360, idle: 240, busy: 1200, oracle: 1200, p50: 80 * time.Second, p99: 3 * time.Minute, launched: 2},
		},
		{
			// Job 1 (1 node) launches node 1 at 0, job 2 (2 nodes) node 2 at 1: max 2. Node 1
			// registers at 180 and takes job 1; node 2 at 181, but job 2 needs 2 and waits 1/2,
			// and job 3 (1 node, at 2) waits behind it although node 2 is idle: head of line.
			// Job 1 ends at 1180: job 2 takes both, until 1380 (waited 1179); job 3 then takes
			// node 1 (both idle since 1380, ID order) until 1390 (waited 1378). Node 2 goes at
			// 1500, node 1 at 1510. Nodes: 1510 + 1499 s.
			name: "a waiting gang blocks a younger job: head of line",
			rows: []string{"0 1000 1", "1 200 2", "2 10 1"}, keys: "max=2",
			want: want{node: 3009, boot: 360, idle: 1239, busy: 1410, oracle: 1410, p50: 1179 * time.Second, p99: 1378 * time.Second, launched: 2},
		},
		{
			// Node 1 takes the job at 180 and is preempted at 1000 (820 s of work lost). The
			// tick at 1002 finds it lost and queues the job again; the next tick, 1004,
			// recycles node 1's record and launches node 2 for the job. Node 2 registers at
			// 1184 and runs the job from the start until 4784, then idles until 4904.
			// Nodes: 1000 + 3900 s; the job waited 180 + 182 s.
			name: "a preempted job restarts from zero on a new node",
			rows: []string{"0 3600 1"}, keys: "tier=low_priority,preemption-rate=1", preempt: []time.Duration{1000 * time.Second},
			want: want{node: 4900, boot: 360, idle: 120, busy: 4420, oracle: 3600, lost: 820, p50: 362 * time.Second, p99: 362 * time.Second,
				preempted: 1, restarted: 1, launched: 2},
		},
		{
			// As above, but with no retries the job is lost at 1002, and node 1's record
			// goes at 1004: the replay ends there, billing less than the oracle.
			name: "a preempted job past its retries is lost",
			rows: []string{"0 3600 1"}, keys: "tier=low_priority,preemption-rate=1,max-retries=0", preempt: []time.Duration{1000 * time.Second},
			want: want{node: 1000, boot: 180, busy: 820, oracle: 3600, lost: 820, p50: 3 * time.Minute, p99: 3 * time.Minute,
				preempted: 1, failed: 1, launched: 1},
			end: 1004 * time.Second,
		},
		{
			// Node 1 runs the first job 180-240 and is preempted at 300 while idle: lost at
			// the tick 302, recycled at 304. The job at 600 launches node 2, which registers
			// at 780, runs it until 840 and idles its hour. Nodes: 300 + 3840 s; idle
			// 60 + 3600 s.
			name: "a preempted idle node is replaced when work comes",
			rows: []string{"0 60 1", "600 60 1"}, keys: "tier=low_priority,preemption-rate=1,idle=1h",
			preempt: []time.Duration{300 * time.Second},
			want: want{node: 4140, boot: 360, idle: 3660, busy: 120, oracle: 120,
				p50: 3 * time.Minute, p99: 3 * time.Minute, preempted: 1, launched: 2},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := setting(t, tt.keys)
			r := newSim(trace(t, tt.rows...), s, newMem(s.Target()), Options{})
			lifetimes := tt.preempt
			r.preemptAfter = func() time.Duration {
				if len(lifetimes) == 0 {
					return 1000 * time.Hour
				}
				d := lifetimes[0]
				lifetimes = lifetimes[1:]
				return d
			}
			var steps []string
			r.log = func(l string) { steps = append(steps, l) }
			r.run()
			res := r.result()
			checkHours(t, res)
			if r.left != 0 {
				t.Errorf("%d jobs left after the replay, want 0", r.left)
			}
			if tt.end != 0 && res.End != tt.end {
				t.Errorf("End = %s, want %s", res.End, tt.end)
			}
			if diff := cmp.Diff(tt.want, got(res), cmp.AllowUnexported(want{})); diff != "" {
				t.Errorf("Run mismatch (-want +got):\n%s\nsteps:\n%s", diff, strings.Join(steps, "\n"))
			}
		})
	}
}

// The price of a node-hour is the size's, 80% off for low priority.
func TestCost(t *testing.T) {
	tr := trace(t, "0 3600 1")
	dedicated := mustRun(t, tr, setting(t, ""))
	if want := 3900.0 / 3600 * 3.60; math.Abs(dedicated.Cost-want) > 1e-9 {
		t.Errorf("dedicated cost = %v, want %v (3,900 s of STANDARD_NC24 at 3.60 $/h)", dedicated.Cost, want)
	}
	low := mustRun(t, tr, setting(t, "tier=low_priority"))
	if want := 3900.0 / 3600 * 3.60 * 0.2; math.Abs(low.Cost-want) > 1e-9 {
		t.Errorf("low-priority cost = %v, want %v", low.Cost, want)
	}
}

// A job wider than max is refused, as the server refuses it at submit, and named by its line;
// the others still run.
func TestRunRefusesWideJobs(t *testing.T) {
	res := mustRun(t, trace(t, "0 60 1", "0 60 5", "10 60 4"), setting(t, ""))
	wantRefused := []Skip{{3, "wants 5 nodes together, more than max 4"}}
	if diff := cmp.Diff(wantRefused, res.Refused); diff != "" {
		t.Errorf("Refused mismatch (-want +got):\n%s", diff)
	}
	if res.Jobs != 2 || res.OracleHours*3600 != 300 {
		t.Errorf("jobs = %d, oracle = %v s; want 2 jobs and 60 + 4*60 s", res.Jobs, res.OracleHours*3600)
	}
}

func TestRunRefusesSettings(t *testing.T) {
	philly := Trace{Format: Philly, Jobs: []Job{{Line: 2, Duration: time.Minute, GPUs: 1}}}
	tests := []struct {
		keys string
		tr   Trace
		want string
	}{
		{"size=STANDARD_D2_V2", philly, "size STANDARD_D2_V2 has no GPUs, and a Philly trace counts GPUs per job; choose a GPU size"},
		{"boot=5m", Trace{}, "boot 5m0s is not shorter than boot-timeout 5m0s"},
		{"min=5", Trace{}, "min 5 is above max 4"},
		{"max=100001", Trace{}, "max 100001: a replay holds at most 100000 nodes"},
		{"tier=low_priority,preemption-rate=20/h", Trace{}, "preemption-rate 20/h: a node would live 3m0s on average, no longer than the 3m0s it takes to boot"},
		{"preemption-rate=0.1/h", Trace{}, "preemption-rate 0.1/h applies to tier low_priority only"},
		{"max=2", Trace{Jobs: []Job{{Line: 2, Duration: time.Minute, Nodes: 3}, {Line: 3, Duration: time.Minute, Nodes: 5}}},
			"max 2: every job of the trace wants more nodes together, the narrowest 3, so none would run; raise max to 3"},
	}
	for _, tt := range tests {
		_, err := Run(t.Context(), tt.tr, setting(t, tt.keys), Options{})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Run(%s) error = %v, want %q", tt.keys, err, tt.want)
		}
	}
}

// The same seed gives the same preemptions; another seed other ones.
func TestPreemptionSeeded(t *testing.T) {
	var rows []string
	for i := range 40 {
		rows = append(rows, fmt.Sprintf("%d %d %d", i*600, 3600+i*100, 1+i%3))
	}
	tr := trace(t, rows...)
	a := mustRun(t, tr, setting(t, "tier=low_priority,preemption-rate=0.5,seed=7"))
	b := mustRun(t, tr, setting(t, "tier=low_priority,preemption-rate=0.5,seed=7"))
	c := mustRun(t, tr, setting(t, "tier=low_priority,preemption-rate=0.5,seed=8"))
	if diff := cmp.Diff(a, b, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("two replays with seed 7 differ (-first +second):\n%s", diff)
	}
	if a.Preempted == 0 || a.Restarted == 0 || a.LostHours == 0 {
		t.Errorf("seed 7: %d preempted, %d restarted, %v h lost; want some of each at 0.5 per node-hour", a.Preempted, a.Restarted, a.LostHours)
	}
	if a.Preempted == c.Preempted && a.NodeHours == c.NodeHours {
		t.Errorf("seeds 7 and 8 preempted alike (%d nodes, %v node-hours); want other draws", a.Preempted, a.NodeHours)
	}
}

// Settings are written as key=value lists, and their errors name the key and the value.
func TestSettingApply(t *testing.T) {
	s := DefaultSetting()
	if err := s.Apply("size=standard_nc24, min=1,max=8,idle=1800,boot=90s,boot-timeout=10m,tier=lowpriority,preemption-rate=0.05/h,max-retries=1,seed=3,interval=5s,name=x"); err != nil {
		t.Fatal(err)
	}
	want := Setting{Name: "x", Min: 1, Max: 8, Idle: 30 * time.Minute, Boot: 90 * time.Second, BootTimeout: 10 * time.Minute,
		Tier: trainyard.LowPriority, PreemptionRate: 0.05, MaxRetries: 1, Seed: 3, Interval: 5 * time.Second}
	want.Size, _ = trainyard.LookupSize(trainyard.BuiltinSizes, "STANDARD_NC24")
	if diff := cmp.Diff(want, s); diff != "" {
		t.Errorf("Apply mismatch (-want +got):\n%s", diff)
	}
	for in, msg := range map[string]string{
		"idle=soon":                `idle "soon": want seconds (120), a duration like 120s, 30m, 1h30m or 2d, or ISO-8601 like PT30M`,
		"idle=PT":                  `idle "PT": want seconds (120)`,
		"idle=P1X":                 `idle "P1X": want seconds (120)`,
		"idle=PT5":                 `idle "PT5": want seconds (120)`,
		"idle=40000d":              `idle "40000d": want seconds (120)`,
		"preemption-rate=1/w":      `preemption-rate "1/w": write it per node-hour (0.05/h) or per node-day (1.2/d)`,
		"max=99999999999999999999": `max "99999999999999999999": too large for a whole number`,
		"size=NC24":                `size "NC24" is not in the catalog; did you mean STANDARD_NC24?`,
		"max=many":                 `max "many": want a whole number`,
		"size=STANDARD_X":          `size "STANDARD_X" is not in the catalog; choose one of: STANDARD_D2_V2`,
		"idel=120s":                `unknown key "idel"; the keys are: name, size, min, max, idle`,
		"idle":                     `"idle": want key=value`,
		"tier=spot":                `tier "spot": must be dedicated or low_priority`,
		"preemption-rate=-1/h":     `preemption-rate "-1/h": want preemptions per node-hour`,
		"preemption-rate=NaN":      `preemption-rate "NaN": want preemptions per node-hour, 0 to 3600`,
		"idle=NaN":                 `idle "NaN": want seconds (120), a duration`,
		"idle=1s,IDLE=2s":          `idle is given twice; give each key once`,
		" , ":                      `no key=value changes`,
		"name=":                    `name is empty; write name=LABEL`,
		"idle=1dsoon":              `idle "1dsoon": want seconds (120)`,
	} {
		s := DefaultSetting()
		if err := s.Apply(in); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("Apply(%q) error = %v, want %q", in, err, msg)
		}
	}
}

// Durations are written as compute YAMLs and people write them; rates per hour or per day.
func TestSettingForms(t *testing.T) {
	tests := []struct {
		keys string
		want func(Setting) any
		is   any
	}{
		{"idle=120", func(s Setting) any { return s.Idle }, 2 * time.Minute},
		{"idle=1h30m", func(s Setting) any { return s.Idle }, 90 * time.Minute},
		{"idle=2d", func(s Setting) any { return s.Idle }, 48 * time.Hour},
		{"idle=PT30M", func(s Setting) any { return s.Idle }, 30 * time.Minute},
		{"idle=pt120s", func(s Setting) any { return s.Idle }, 2 * time.Minute},
		{"idle=P1DT12H", func(s Setting) any { return s.Idle }, 36 * time.Hour},
		{"idle=P1W", func(s Setting) any { return s.Idle }, 7 * 24 * time.Hour},
		{"idle=2D", func(s Setting) any { return s.Idle }, 48 * time.Hour},
		{"idle=1d12h", func(s Setting) any { return s.Idle }, 36 * time.Hour},
		{"preemption-rate=0.05", func(s Setting) any { return s.PreemptionRate }, 0.05},
		{"preemption-rate=0.05/hour", func(s Setting) any { return s.PreemptionRate }, 0.05},
		{"preemption-rate=12/d", func(s Setting) any { return s.PreemptionRate }, 0.5},
		{"tier=low-priority", func(s Setting) any { return s.Tier }, trainyard.LowPriority},
	}
	for _, tt := range tests {
		s := DefaultSetting()
		if err := s.Apply(tt.keys); err != nil {
			t.Errorf("Apply(%q) error: %v", tt.keys, err)
			continue
		}
		if got := tt.want(s); got != tt.is {
			t.Errorf("Apply(%q) = %v, want %v", tt.keys, got, tt.is)
		}
	}
}

// A setting that refused jobs did less work: the report says how much of the trace finished
// and what a finished node-hour cost, so a cheap row is not mistaken for a good one.
func TestReportSaysWorkDone(t *testing.T) {
	tr := trace(t, "0 3600 1", "0 600 6")
	all := mustRun(t, tr, setting(t, "max=6"))
	part := mustRun(t, tr, setting(t, "max=4"))
	if all.WorkHours != 2 || all.DoneHours != 2 || part.WorkHours != 2 || part.DoneHours != 1 {
		t.Errorf("work/done hours: max=6 %v/%v, max=4 %v/%v; want 2/2 and 2/1 (the 6-node job refused)",
			all.WorkHours, all.DoneHours, part.WorkHours, part.DoneHours)
	}
	var b strings.Builder
	WriteTable(&b, []Result{all, part})
	out := b.String()
	for _, w := range []string{" DONE ", " 100% ", " 50.0% ", "max=4: finished 50.0% of the trace's work (1.00 of 2.00 node-hours)"} {
		if !strings.Contains(out, w) {
			t.Errorf("table lacks %q:\n%s", w, out)
		}
	}
	if strings.Contains(out, "max=6: finished") {
		t.Errorf("the row that did all the work has a note:\n%s", out)
	}
}

// Sums of many jobs' hours round: a replay that finished every job says 100%, with no note;
// one that finished none says so, not a price per finished node-hour divided by zero.
func TestReportDoneEdges(t *testing.T) {
	s := setting(t, "")
	all := Result{Setting: s, WorkHours: 1.0000000000002, DoneHours: 1}
	none := Result{Setting: s, WorkHours: 2, Cost: 7.2}
	none.Setting.Name = "none"
	var b strings.Builder
	WriteTable(&b, []Result{all, none})
	out := b.String()
	for _, w := range []string{" 100% ", " 0.0% ", "none: none of the trace's work finished (2.00 node-hours); $7.20 spent for nothing"} {
		if !strings.Contains(out, w) {
			t.Errorf("table lacks %q:\n%s", w, out)
		}
	}
	if strings.Contains(out, "per finished node-hour") {
		t.Errorf("table prices a finished node-hour:\n%s", out)
	}
}

// Prices show the digits the cost is computed with, and at least cents.
func TestDollars(t *testing.T) {
	for p, want := range map[float64]string{3.6: "3.60", 0.293: "0.293", 0.146 * 0.2: "0.0292", 0.526 * 0.2: "0.1052", 12.24: "12.24", 1: "1.00"} {
		if got := dollars(p); got != want {
			t.Errorf("dollars(%v) = %q, want %q", p, got, want)
		}
	}
}

// A replay stops when its context ends, as a command stops on Ctrl-C.
func TestRunStopsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := Run(ctx, trace(t, "0 60 1"), setting(t, ""), Options{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Run with a canceled context = %v, want context.Canceled", err)
	}
}

// Ctrl-C stops a replay at the step it comes in, not thousands of steps later: one step of a
// cluster of many thousand nodes can take milliseconds.
func TestRunStopsMidReplay(t *testing.T) {
	s := setting(t, "")
	r := newSim(trace(t, "0 60 1", "3600 60 1"), s, newMem(s.Target()), Options{})
	ctx, cancel := context.WithCancel(t.Context())
	r.ctx = ctx
	r.log = func(line string) {
		if strings.Contains(line, "job 1 finished") {
			cancel()
		}
	}
	if err := r.run(); !errors.Is(err, context.Canceled) {
		t.Errorf("run = %v, want context.Canceled", err)
	}
	if res := r.result(); res.DoneHours*3600 != 60 {
		t.Errorf("%v s of work done, want 60: the replay went on past the cancel", res.DoneHours*3600)
	}
}

// Nodes preempted faster than they boot run nothing: the replay stops at its horizon instead
// of replaying for ever, and counts the jobs left. Their waits run up to the horizon; a job
// not submitted by then counts in none. The report says why.
func TestReplayStopsAtHorizon(t *testing.T) {
	s := setting(t, "tier=low_priority,preemption-rate=60")
	tr := trace(t, "0 60 1", "600 30 1", "10800 10 1")
	r := newSim(tr, s, newMem(s.Target()), Options{})
	if want := 10860*time.Second + Horizon; r.horizon != want {
		t.Errorf("horizon %s, want %s: the last submit, plus the longest job, plus Horizon", r.horizon, want)
	}
	r.horizon = 2 * time.Hour                                    // before the last submit, to replay quickly
	r.preemptAfter = func() time.Duration { return time.Minute } // shorter than the 3 min boot
	done := make(chan struct{})
	go func() { r.run(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the replay did not stop at its horizon")
	}
	res := r.result()
	checkHours(t, res)
	if res.Unfinished != 3 || res.Failed != 0 || res.End != 2*time.Hour {
		t.Errorf("Unfinished %d, Failed %d, End %s; want 3 jobs unfinished, none lost, the end at the horizon 2h", res.Unfinished, res.Failed, res.End)
	}
	if res.WaitP50 != 2*time.Hour-600*time.Second || res.WaitMax != 2*time.Hour {
		t.Errorf("waits p50 %s, max %s; want 1h50m and 2h: queued from 600 s and from 0 to the horizon", res.WaitP50, res.WaitMax)
	}
	var b strings.Builder
	WriteTable(&b, []Result{res})
	for _, w := range []string{"3 jobs had not ended", "a node lives 1m0s on average, and a node takes 3m0s to boot"} {
		if !strings.Contains(b.String(), w) {
			t.Errorf("report lacks %q:\n%s", w, b.String())
		}
	}
}

// Jobs that wait with none running for a Stall stop the replay there, not at its horizon a
// month on: the oldest waiting job's nodes never all come up, and no younger job overtakes it.
// The report names that job and why.
func TestReplayStopsWhenStalled(t *testing.T) {
	s := setting(t, "tier=low_priority,preemption-rate=0.1")
	tr := trace(t, "0 60 2", "3600 60 1", "200000 60 1")
	r := newSim(tr, s, newMem(s.Target()), Options{})
	r.preemptAfter = func() time.Duration { return time.Minute } // shorter than the 3 min boot
	if err := r.run(); err != nil {
		t.Fatal(err)
	}
	res := r.result()
	checkHours(t, res)
	if res.End != Stall || res.Stalled != 0 || res.StalledOn != 2 || res.StalledNodes != 2 || res.Unfinished != 3 {
		t.Errorf("End %s, Stalled %s, StalledOn line %d of %d nodes, Unfinished %d; want the stop a day on, stalled from 0 on line 2 of 2 nodes, 3 jobs unfinished",
			res.End, res.Stalled, res.StalledOn, res.StalledNodes, res.Unfinished)
	}
	if res.WaitMax != Stall || res.WaitP50 != Stall-time.Hour {
		t.Errorf("waits max %s, p50 %s; want 24h and 23h: from each submit up to the stop", res.WaitMax, res.WaitP50)
	}
	var b strings.Builder
	WriteTable(&b, []Result{res})
	for _, w := range []string{"from 0s after the first submit, jobs waited and none ran for a day, where the replay stopped with 3 jobs not ended",
		"The oldest waiting job (line 2) wants 2 nodes together"} {
		if !strings.Contains(b.String(), w) {
			t.Errorf("report lacks %q:\n%s", w, b.String())
		}
	}
}
