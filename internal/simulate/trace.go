// Package simulate replays a job trace against cluster settings on a virtual clock, through
// the server's own decisions: schedule.Place puts queued jobs on idle nodes, as store.Place
// does, and autoscale.Decide, built by autoscale.PolicyOf, scales the cluster, as the
// autoscaler loop does. It reports node-hours, idle node-hours, the oracle bound, queueing
// delays, preemptions and cost.
//
// trace.go reads traces, setting.go holds what one replay steers by, control.go is the server's
// side of a replay (node records, queue, placement), sim.go the machines and the clock (with
// events.go), and report.go and plot.go the output. It runs offline: it must not import the
// store, the API server or any provider but the contract (agree_test.go uses the store to
// prove the replay decides as the server does).
package simulate

import (
	"cmp"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/trainyard/trainyard"
)

// Format is the kind of a trace file, told by its header line.
type Format string

const (
	// Philly is the Microsoft Philly trace: timestamp,duration,num_gpus,gpu_time,cluster, with
	// wall-clock submit times and GPUs per job.
	Philly Format = "philly"
	// Nodes is a plain trace: submit,duration,nodes, with submit in seconds from its start.
	Nodes Format = "nodes"
)

// Job is one job of a trace.
type Job struct {
	Line     int           // line of the trace file, for messages
	Submit   time.Duration // from the trace's first submit
	Duration time.Duration // how long it runs once placed
	GPUs     int           // GPUs it wants (Philly); 0 in a Nodes trace
	Nodes    int           // nodes it wants (Nodes trace); 0 in a Philly trace
}

// NodesOn is how many nodes of size s job j takes together. A node runs one job at a time,
// as the server's nodes do, so a Philly job takes ceil(GPUs / GPUs of s) nodes: a 1-GPU job
// holds a whole 4-GPU node. s must have GPUs for a Philly job (Setting.Check says so).
func (j Job) NodesOn(s trainyard.VMSize) int {
	if j.GPUs == 0 || s.GPUs == 0 {
		return max(j.Nodes, 1)
	}
	return (j.GPUs + s.GPUs - 1) / s.GPUs
}

// Skip is a row of a trace that was not replayed, and why.
type Skip struct {
	Line   int    `json:"line"`
	Reason string `json:"reason"`
}

func (s Skip) String() string { return fmt.Sprintf("line %d: %s", s.Line, s.Reason) }

// Trace is a job trace, its jobs in submit order.
type Trace struct {
	Format  Format
	Jobs    []Job
	Skipped []Skip    // rows that are not jobs: malformed, empty or zero durations
	Start   time.Time // wall time of the first submit (Philly); zero for a Nodes trace
}

// Span is the time from the first submit to the last.
func (t Trace) Span() time.Duration {
	if len(t.Jobs) == 0 {
		return 0
	}
	return t.Jobs[len(t.Jobs)-1].Submit
}

// The header names each format needs, and how it writes its times.
var (
	phillyCols   = []string{"timestamp", "duration", "num_gpus"}
	nodesCols    = []string{"submit", "duration", "nodes"}
	phillyLayout = "2006-01-02 15:04:05"
)

// ReadTrace reads a trace in either format, told by its header line. A row that is not a job
// (a wrong field count, a number that does not parse, an empty or zero duration, no GPUs or
// nodes) is skipped and listed in Skipped with its line; only a header that is neither format,
// or a read failure, is an error.
func ReadTrace(r io.Reader) (Trace, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	cr.LazyQuotes = true
	header, err := cr.Read()
	header = slices.Clone(header) // the reader reuses its record
	if errors.Is(err, io.EOF) {
		return Trace{}, errors.New("line 1: the trace is empty; want a header line, timestamp,duration,num_gpus,gpu_time,cluster (Philly) or submit,duration,nodes")
	}
	if err != nil {
		return Trace{}, fmt.Errorf("line 1: %w", err)
	}
	t, cols, err := formatOf(header)
	if err != nil {
		return Trace{}, err
	}
	var wall []time.Time // Philly submit times, until they are made relative
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		line, _ := cr.FieldPos(0)
		if pe, ok := errors.AsType[*csv.ParseError](err); ok {
			t.Skipped = append(t.Skipped, Skip{pe.StartLine, "not CSV: " + pe.Err.Error()})
			continue
		}
		if err != nil {
			return Trace{}, fmt.Errorf("line %d: %w", line, err)
		}
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue // a blank line
		}
		if slices.EqualFunc(rec, header, func(a, b string) bool { return strings.EqualFold(strings.TrimSpace(a), strings.TrimSpace(b)) }) {
			t.Skipped = append(t.Skipped, Skip{line, "the header again, as where two traces were joined; only the first line is a header"})
			continue
		}
		if len(rec) != len(header) {
			t.Skipped = append(t.Skipped, Skip{line, fmt.Sprintf("%d fields, but the header has %d", len(rec), len(header))})
			continue
		}
		j, at, why := parseRow(t.Format, rec, cols)
		if why != "" {
			t.Skipped = append(t.Skipped, Skip{line, why})
			continue
		}
		j.Line = line
		t.Jobs = append(t.Jobs, j)
		wall = append(wall, at)
	}
	if t.Format == Philly {
		relative(&t, wall)
	}
	slices.SortStableFunc(t.Jobs, func(a, b Job) int { return cmp.Compare(a.Submit, b.Submit) })
	return t, nil
}

// formatOf tells the format from the header and returns where its columns are.
func formatOf(header []string) (Trace, []int, error) {
	index := map[string]int{}
	for i, h := range header {
		index[strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))] = i
	}
	for _, f := range []struct {
		format Format
		cols   []string
	}{{Philly, phillyCols}, {Nodes, nodesCols}} {
		cols := make([]int, len(f.cols))
		ok := true
		for i, c := range f.cols {
			cols[i], ok = index[c]
			if !ok {
				break
			}
		}
		if ok {
			return Trace{Format: f.format}, cols, nil
		}
	}
	shown := strings.Join(header, ",")
	if len(shown) > 80 { // a binary file, say: its start is enough to recognise it
		shown = shown[:80] + "…"
	}
	return Trace{}, nil, fmt.Errorf("line 1: header %q is not a trace header; put one of these first: timestamp,duration,num_gpus,gpu_time,cluster (Philly) or submit,duration,nodes (submit in seconds from the start)",
		shown)
}

// parseRow reads one row; why says what is wrong with it, or is "".
func parseRow(f Format, rec []string, cols []int) (j Job, at time.Time, why string) {
	field := func(i int) string { return strings.TrimSpace(rec[cols[i]]) }
	var err error
	if j.Duration, why = seconds("duration", field(1), false); why != "" {
		return j, at, why
	}
	if f == Philly {
		if at, err = time.Parse(phillyLayout, field(0)); err != nil {
			return j, at, fmt.Sprintf("timestamp %q: want a time like 2017-10-09 07:01:55", field(0))
		}
		j.GPUs, why = count("num_gpus", field(2))
		return j, at, why
	}
	if j.Submit, why = seconds("submit", field(0), true); why != "" {
		return j, at, why
	}
	j.Nodes, why = count("nodes", field(2))
	return j, at, why
}

// seconds reads a number of seconds, to the millisecond; zero is allowed only when zeroOK.
func seconds(name, v string, zeroOK bool) (time.Duration, string) {
	if v == "" {
		return 0, name + " is empty"
	}
	f, err := strconv.ParseFloat(v, 64)
	switch {
	case err != nil || math.IsNaN(f) || math.IsInf(f, 0):
		return 0, fmt.Sprintf("%s %q: want a number of seconds", name, v)
	case f < 0:
		return 0, fmt.Sprintf("%s %s: must not be negative", name, v)
	case f > 100*365*24*3600:
		return 0, fmt.Sprintf("%s %s: longer than a century of seconds", name, v)
	}
	d := time.Duration(math.Round(f*1000)) * time.Millisecond
	if d == 0 && !zeroOK {
		return 0, fmt.Sprintf("%s %s: a job must run for at least a millisecond", name, v)
	}
	return d, ""
}

// count reads a whole number of 1 or more ("4" or "4.0").
func count(name, v string) (int, string) {
	if v == "" {
		return 0, name + " is empty"
	}
	f, err := strconv.ParseFloat(v, 64)
	switch {
	case err != nil && !errors.Is(err, strconv.ErrRange) || math.IsNaN(f) || f != math.Trunc(f):
		return 0, fmt.Sprintf("%s %q: want a whole number", name, v)
	case f > 1e6:
		return 0, fmt.Sprintf("%s %s: more than a million; no cluster has that many", name, v)
	case f < 1:
		return 0, fmt.Sprintf("%s %s: a job takes at least 1", name, v)
	}
	return int(f), ""
}

// relative makes Philly's wall-clock submit times relative to the first. A row more than
// half a century from the trace's median time is a slip (a year typed 2917), and is skipped:
// it would stretch the replay over centuries of empty time.
func relative(t *Trace, wall []time.Time) {
	if len(wall) == 0 {
		return
	}
	sorted := slices.SortedFunc(slices.Values(wall), time.Time.Compare)
	median := sorted[len(sorted)/2]
	from, to := median.AddDate(-50, 0, 0), median.AddDate(50, 0, 0)
	jobs, times := t.Jobs[:0], wall[:0]
	for i, j := range t.Jobs {
		if wall[i].Before(from) || wall[i].After(to) {
			t.Skipped = append(t.Skipped, Skip{j.Line, fmt.Sprintf("timestamp %s: more than 50 years from the trace's other jobs (median %s)",
				wall[i].Format(phillyLayout), median.Format("2006-01-02"))})
			continue
		}
		jobs, times = append(jobs, j), append(times, wall[i])
	}
	t.Jobs = jobs
	slices.SortFunc(t.Skipped, func(a, b Skip) int { return cmp.Compare(a.Line, b.Line) })
	if len(times) == 0 {
		return
	}
	t.Start = slices.MinFunc(times, time.Time.Compare)
	for i := range t.Jobs {
		t.Jobs[i].Submit = times[i].Sub(t.Start)
	}
}
