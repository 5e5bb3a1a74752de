package simulate

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/trainyard/trainyard"
)

// Result is what one replay measured.
type Result struct {
	Setting Setting
	Jobs    int    // jobs replayed
	Refused []Skip // jobs the server would refuse at submit: more nodes than max

	// Node-hours billed, and how they were spent: NodeHours = BusyHours + IdleHours +
	// BootHours. Idle counts nodes registered with no job, and lost nodes not yet recycled.
	NodeHours, BusyHours, IdleHours, BootHours float64
	// OracleHours is the lower bound: the node-hours if nodes existed exactly while their
	// jobs ran (each job's duration times its nodes). Only a replay that lost jobs may bill
	// less.
	OracleHours float64
	// Queueing delay of the jobs (all their time queued, restarts included), by percentile.
	WaitP50, WaitP95, WaitP99, WaitMax time.Duration

	Preempted int // nodes preempted
	Restarted int // restarts from the beginning of jobs that lost a node
	Failed    int // jobs lost: a node lost after MaxRetries restarts
	// WorkHours is the work of every job of the trace, refused ones included (duration times
	// nodes); DoneHours that of the jobs that completed. A setting that refused or lost jobs
	// did less work, and its node-hours, waits and cost are of that work alone.
	WorkHours, DoneHours float64
	// Unfinished counts the jobs that had not ended when the replay stopped, at its horizon or
	// stalled; Stopped says it stopped so, jobs left or not.
	Unfinished int
	Stopped    bool
	// Stalled, when StalledOn is not 0, is when jobs began to wait with none running, a Stall
	// before the replay stopped; StalledOn is the trace line of the oldest waiting job, and
	// StalledNodes the nodes it wants together.
	Stalled                 time.Duration
	StalledOn, StalledNodes int
	LostHours               float64 // node-hours of work thrown away by those restarts
	Cost                    float64 // NodeHours at the size's hourly price on the tier, USD

	End       time.Duration // when the last job had ended and the cluster settled
	Decisions int           // autoscale.Decide calls
	Launched  int           // nodes launched
	PeakNodes int           // most nodes billed at once
	Series    []Sample      // with Options.Series
}

// Sample is the cluster at one time of a replay: nodes billed (starting, idle or busy) and
// jobs queued.
type Sample struct {
	At     time.Duration
	Nodes  int
	Queued int
}

func (r *sim) result() Result {
	res := r.res
	res.BootHours = r.hours[booting]
	res.IdleHours = r.hours[idle] + r.hours[unusable]
	res.BusyHours = r.hours[busy]
	res.NodeHours = res.BootHours + res.IdleHours + res.BusyHours
	res.Cost = res.NodeHours * r.set.Size.HourlyPrice(r.set.Tier)
	waits := make([]time.Duration, 0, len(r.due))
	for _, i := range r.due {
		if !r.runs[i].unborn {
			waits = append(waits, r.runs[i].waited)
		}
	}
	slices.Sort(waits)
	res.WaitP50, res.WaitP95, res.WaitP99 = percentile(waits, 50), percentile(waits, 95), percentile(waits, 99)
	if len(waits) > 0 {
		res.WaitMax = waits[len(waits)-1]
	}
	return res
}

// finishedAll reports whether the whole work of the trace finished, sums' rounding aside.
func (r Result) finishedAll() bool { return r.DoneHours >= r.WorkHours*(1-1e-9) }

// done is the share of the trace's work that finished, as a percentage: "100%", "27.6%".
func (r Result) done() string {
	if r.finishedAll() {
		return "100%"
	}
	pct := 100 * r.DoneHours / r.WorkHours
	if pct < 0.1 && r.DoneHours > 0 {
		return "<0.1%"
	}
	return fmt.Sprintf("%.1f%%", min(99.9, pct))
}

// preemptionHint says why nodes preempted this often run little: on average one of a job's
// nodes is lost before they have all booted.
func (r Result) preemptionHint(w io.Writer, nodes int) {
	s := r.Setting
	if s.Tier != trainyard.LowPriority || s.PreemptionRate <= 0 {
		return
	}
	life := time.Duration(float64(time.Hour) / (s.PreemptionRate * float64(nodes)))
	if life >= 2*s.Boot {
		return
	}
	of := "a node lives"
	if nodes > 1 {
		of = fmt.Sprintf("one of %s nodes is lost every", number(nodes))
	}
	fmt.Fprintf(w, "  at %.4g preemptions per node-hour %s %s on average, and a node takes %s to boot: most are preempted before they run anything; lower preemption-rate or boot\n",
		s.PreemptionRate, of, life.Round(time.Second), s.Boot)
}

// percentile is the nearest-rank percentile p of sorted values; 0 for none.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

// Row is a result as JSON and YAML show it: hours, seconds and dollars.
type Row struct {
	Setting     string  `json:"setting"`
	Describe    string  `json:"describe"`
	Size        string  `json:"size"`
	Tier        string  `json:"tier"`
	Min         int     `json:"min"`
	Max         int     `json:"max"`
	IdleSeconds float64 `json:"idleSeconds"`
	Price       float64 `json:"pricePerNodeHour"`
	Jobs        int     `json:"jobs"`
	Refused     int     `json:"refused"`
	NodeHours   float64 `json:"nodeHours"`
	BusyHours   float64 `json:"busyNodeHours"`
	IdleHours   float64 `json:"idleNodeHours"`
	BootHours   float64 `json:"bootNodeHours"`
	OracleHours float64 `json:"oracleNodeHours"`
	WorkHours   float64 `json:"workNodeHours"`
	DoneHours   float64 `json:"doneNodeHours"`
	WaitP50     float64 `json:"waitP50Seconds"`
	WaitP95     float64 `json:"waitP95Seconds"`
	WaitP99     float64 `json:"waitP99Seconds"`
	WaitMax     float64 `json:"waitMaxSeconds"`
	Preempted   int     `json:"preemptedNodes"`
	Restarted   int     `json:"restarts"`
	Failed      int     `json:"lostJobs"`
	Unfinished  int     `json:"unfinishedJobs"`
	Stopped     bool    `json:"stopped"`                 // at the horizon, or stalled
	StalledOn   int     `json:"stalledOnLine,omitempty"` // the oldest waiting job, when no job ran for a day
	RefusedRows []Skip  `json:"refusedRows,omitempty"`
	SkippedRows []Skip  `json:"skippedRows,omitempty"` // the trace's, the same in every row
	LostHours   float64 `json:"lostNodeHours"`
	CostUSD     float64 `json:"costUSD"`
	EndSeconds  float64 `json:"endSeconds"`
	Decisions   int     `json:"decisions"`
	Launched    int     `json:"nodesLaunched"`
	PeakNodes   int     `json:"peakNodes"`
}

// Row is r as JSON shows it.
func (r Result) Row() Row {
	s := r.Setting
	return Row{Setting: s.Name, Describe: s.Describe(), Size: s.Size.Name, Tier: string(s.Tier), Min: s.Min, Max: s.Max,
		IdleSeconds: s.Idle.Seconds(), Price: s.Size.HourlyPrice(s.Tier), Jobs: r.Jobs, Refused: len(r.Refused), StalledOn: r.StalledOn,
		NodeHours: r.NodeHours, BusyHours: r.BusyHours, IdleHours: r.IdleHours, BootHours: r.BootHours, OracleHours: r.OracleHours,
		WorkHours: r.WorkHours, DoneHours: r.DoneHours, Stopped: r.Stopped, RefusedRows: r.Refused,
		WaitP50: r.WaitP50.Seconds(), WaitP95: r.WaitP95.Seconds(), WaitP99: r.WaitP99.Seconds(), WaitMax: r.WaitMax.Seconds(),
		Preempted: r.Preempted, Restarted: r.Restarted, Failed: r.Failed, Unfinished: r.Unfinished, LostHours: r.LostHours, CostUSD: r.Cost,
		EndSeconds: r.End.Seconds(), Decisions: r.Decisions, Launched: r.Launched, PeakNodes: r.PeakNodes}
}

// WriteTrace says what was read from a trace: its format, jobs, span and every row skipped
// (the first few by line, then how many more).
func WriteTrace(w io.Writer, name string, t Trace) {
	fmt.Fprintf(w, "trace %s: %s format, %s submitted over %s", name, t.Format, plural(len(t.Jobs), "job"), span(t.Span()))
	if !t.Start.IsZero() {
		fmt.Fprintf(w, " from %s", t.Start.Format("2006-01-02 15:04"))
	}
	fmt.Fprintf(w, "; %s skipped\n", plural(len(t.Skipped), "row"))
	writeSkips(w, "  skipped", t.Skipped)
}

// WriteTable writes one row per result, and under it the jobs each setting refused.
func WriteTable(w io.Writer, results []Result) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "SETTING\tNODE-H\tIDLE-H\tBOOT-H\tORACLE-H\tDONE\tWAIT P50\tP95\tP99\tPREEMPTED\tRESTARTS\tJOBS LOST\tLOST-H\tCOST\t")
	for _, r := range results {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t$%s\t\n", r.Setting.Name,
			amount(r.NodeHours), amount(r.IdleHours), amount(r.BootHours), amount(r.OracleHours), r.done(),
			Wait(r.WaitP50), Wait(r.WaitP95), Wait(r.WaitP99), number(r.Preempted), number(r.Restarted), number(r.Failed),
			amount(r.LostHours), amount(r.Cost))
	}
	tw.Flush()
	for _, r := range results {
		switch {
		case r.DoneHours <= 0:
			fmt.Fprintf(w, "%s: none of the trace's work finished (%s node-hours); $%s spent for nothing\n",
				r.Setting.Name, amount(r.WorkHours), amount(r.Cost))
		case !r.finishedAll():
			fmt.Fprintf(w, "%s: finished %s of the trace's work (%s of %s node-hours): its node-hours, waits and cost are of that work alone; $%s per finished node-hour\n",
				r.Setting.Name, r.done(), amount(r.DoneHours), amount(r.WorkHours), amount(r.Cost/r.DoneHours))
		}
		if r.Stopped && r.Unfinished == 0 {
			fmt.Fprintf(w, "%s: every job ended, but nodes were still up %s after the last submit and the longest job, where the replay stopped; they are billed up to then (idle %s, interval %s)\n",
				r.Setting.Name, span(Horizon), r.Setting.Idle, r.Setting.Interval)
		}
		switch {
		case r.StalledOn != 0:
			fmt.Fprintf(w, "%s: from %s after the first submit, jobs waited and none ran for a day, where the replay stopped with %s not ended; waits count up to then. "+
				"The oldest waiting job (line %d) wants %s nodes together, and no younger job overtakes it\n",
				r.Setting.Name, span(r.Stalled), plural(r.Unfinished, "job"), r.StalledOn, number(r.StalledNodes))
			r.preemptionHint(w, r.StalledNodes)
		case r.Unfinished > 0:
			fmt.Fprintf(w, "%s: %s had not ended %s after the last submit and the longest job, where the replay stopped; waits count up to then\n",
				r.Setting.Name, plural(r.Unfinished, "job"), span(Horizon))
			r.preemptionHint(w, 1)
		}
		if len(r.Refused) > 0 {
			fmt.Fprintf(w, "%s: %s not replayed: wanting more nodes than max %d, as the server refuses at submit\n",
				r.Setting.Name, plural(len(r.Refused), "job"), r.Setting.Max)
			writeSkips(w, "  refused", r.Refused)
		}
	}
}

func writeSkips(w io.Writer, what string, skips []Skip) {
	const shown = 5
	for _, s := range skips[:min(len(skips), shown)] {
		fmt.Fprintf(w, "%s %s\n", what, s)
	}
	if len(skips) > shown {
		fmt.Fprintf(w, "%s: %s more, every one listed with -o json\n", what, thousands(float64(len(skips)-shown), 0))
	}
}

// plural writes "1 job", "82,247 jobs".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return thousands(float64(n), 0) + " " + noun + "s"
}

// Wait writes a queueing delay shortly: 0s, 45s, 12.5m, 3.2h, 2.1d.
func Wait(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%.0fs", d.Seconds())
	case d < time.Hour:
		return fmt.Sprintf("%.1fm", d.Minutes())
	case d < 48*time.Hour:
		return fmt.Sprintf("%.1fh", d.Hours())
	}
	return fmt.Sprintf("%.1fd", d.Hours()/24)
}

func span(d time.Duration) string {
	if d >= 48*time.Hour {
		return fmt.Sprintf("%.1f days", d.Hours()/24)
	}
	return d.Round(time.Second).String()
}

// number writes a count with commas between thousands: 14,421.
func number(n int) string { return thousands(float64(n), 0) }

// amount writes hours or dollars: whole above 1,000 (12,345), else to the hundredth (3.90).
func amount(v float64) string {
	if math.Abs(v) >= 1000 {
		return thousands(v, 0)
	}
	return thousands(v, 2)
}

// thousands writes v with the given decimals and commas between thousands: 12,345.6.
func thousands(v float64, decimals int) string {
	s := strconv.FormatFloat(v, 'f', decimals, 64)
	sign := ""
	if strings.HasPrefix(s, "-") {
		sign, s = "-", s[1:]
	}
	whole, frac, _ := strings.Cut(s, ".")
	var b strings.Builder
	for i, c := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if frac != "" {
		b.WriteString("." + frac)
	}
	return sign + b.String()
}
