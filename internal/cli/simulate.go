package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/trainyard/trainyard/internal/simulate"
)

// simulateFlags are the keys of a setting that are flags of their own, with their help.
var simulateFlags = []struct{ key, kind, usage string }{
	{"size", "name", "VM size of the nodes (trainyard compute list-sizes); a Philly trace needs one with GPUs"},
	{"min", "int", "min_instances: nodes kept even when idle"},
	{"max", "int", "max_instances: most nodes; a job wanting more is refused, as the server refuses it"},
	{"idle", "duration", "idle_time_before_scale_down: seconds or a duration (120s, 30m, 2d, PT30M)"},
	{"boot", "duration", "how long a node takes from launch until its agent registers"},
	{"boot-timeout", "duration", "the server's: a node not registered by then is released"},
	{"tier", "tier", "dedicated or low_priority"},
	{"preemption-rate", "rate", "low_priority only: preemptions per node-hour, e.g. 0.05/h (or per node-day, 1.2/d)"},
	{"max-retries", "int", "restarts of a preempted job before it is lost (the server's default, 3); 0 fails it at its first preemption"},
	{"seed", "int", "seeds the preemptions, so a replay repeats"},
	{"interval", "duration", "the server's autoscaler interval between passes nothing kicks"},
}

// keyFlag is a flag whose value a setting's Set reads; its kind is what help calls it.
type keyFlag struct{ value, kind string }

func (k *keyFlag) String() string     { return k.value }
func (k *keyFlag) Set(v string) error { k.value = v; return nil }
func (k *keyFlag) Type() string       { return k.kind }

func newSimulateCmd(g *globals) *cobra.Command {
	def := simulate.DefaultSetting()
	values := map[string]*keyFlag{}
	var compares []string
	var plot string
	cmd := &cobra.Command{
		Use:   "simulate TRACE.csv",
		Short: "Replay a job trace against cluster settings, offline, to compare their cost and waits",
		Long: `Replay a job trace against one or more cluster settings on a virtual clock, through the
server's own placement (oldest job first, multi-node jobs all or none, no younger job overtaking
a waiting one) and its own autoscaler decisions, and report for each setting: node-hours
billed, idle and boot node-hours, the oracle bound (node-hours if nodes existed exactly while
their jobs ran), queueing delay p50/p95/p99, nodes preempted and jobs restarted, and cost at the
size's list price (estimates; low priority 80% off). Needs no server.

The columns: NODE-H node-hours billed, of which IDLE-H idle (registered with no job, or lost
and not yet replaced) and BOOT-H booting; the rest ran jobs. ORACLE-H is the lower bound.
DONE is the share of the trace's work (duration times nodes) that finished: below 100%, jobs
were refused, lost or left unfinished, and the other columns are of less work. WAIT
is each job's time queued, restarts included. PREEMPTED counts nodes taken away; RESTARTS
the jobs run again from zero; JOBS LOST those that ran out of --max-retries; LOST-H the
node-hours of work those restarts and losses threw away (part of the hours that ran jobs).

A trace is a CSV file with a header line, in one of two formats:
  timestamp,duration,num_gpus,gpu_time,cluster   the Philly trace: wall-clock submit times
  submit,duration,nodes                          submit in seconds from the start
Durations are in seconds. Rows that are not jobs (malformed, empty or zero duration, a
Philly timestamp more than 50 years from the others, a repeated header) are
skipped, and the first five listed with their line numbers (all of them with -o json).
TRACE.csv "-" reads the trace from standard input.

A job's duration is the trace's, whatever --size: a larger size makes a Philly job take
fewer nodes, never run faster. Durations in flags and --compare are seconds (120), Go
durations (120s, 30m, 1h30m), days (2d, 1d12h) or ISO-8601 (PT30M, P1DT12H). A low_priority
setting whose nodes would be preempted, on average, before they boot is refused.

A node runs one job at a time, as the server's nodes do, so a Philly job takes
ceil(num_gpus / GPUs of --size) nodes together: a 1-GPU job holds a whole 4-GPU node.

The flags set the base setting. Each --compare is one row of the table: the base setting
with the changes it lists, as comma-separated key=value pairs whose keys are the flags'
names (idle=1800s,max=20), plus name=LABEL to name the row. Without --compare the table has
one row, the base. Low priority nodes are preempted at --preemption-rate per node-hour from
--seed; a preempted job is queued again in its old place and restarts from zero, up to
--max-retries times, and is lost (fails) at the next preemption. --plot draws nodes and
queue length over time as SVG.

As on the server, the autoscaler passes on every submit, node registration and job end, and
every --interval besides; an idle node takes work at once; a job wanting more nodes than --max
is refused and listed. Quotas are not replayed. The replay ends when the last job has ended
and the cluster has scaled back to --min (nothing is preempted after the last job), or 30
days after the last submit and the longest job, or when jobs have waited a day with none
running (the oldest one's nodes are preempted faster than they all come up), with the jobs
not ended by then counted. The oracle counts every replayed job, so a setting that lost jobs
may bill less. A setting has at most 100,000 nodes.`,
		Example: `  trainyard simulate jobs.csv --size STANDARD_D2_V2 --max 8
  trainyard simulate philly_jobs.csv --size STANDARD_NC24 --max 400 \
      --compare idle=120s --compare idle=1800s --plot philly.svg
  trainyard simulate philly_jobs.csv --size STANDARD_NC24 --max 400 \
      --compare name=dedicated --compare 'name=spot,tier=low_priority,preemption-rate=0.05/h'`,
		Args:        cobra.ExactArgs(1),
		Annotations: map[string]string{argsAnnotation: "the trace file to replay (a CSV)"},
		RunE: func(cmd *cobra.Command, args []string) error {
			settings, err := simulateSettings(cmd, def, values, compares)
			if err != nil {
				return err
			}
			t, err := readTrace(args[0])
			if err != nil {
				return err
			}
			for _, s := range settings {
				if err := s.Check(t); err != nil {
					return UsageError{fmt.Errorf("setting %s: %w", s.Name, err)}
				}
			}
			var plotFile *os.File
			if cmd.Flags().Changed("plot") { // a path that cannot be written is said before the replay, not after
				if plotFile, err = createPlot(plot, args[0]); err != nil {
					return err
				}
				defer plotFile.Close()
			}
			start := time.Now()
			results, err := runSettings(cmd.Context(), t, settings, plot != "")
			if err != nil {
				if plotFile != nil {
					os.Remove(plot)
				}
				if cmd.Context().Err() != nil {
					return errors.New("interrupted: nothing was replayed to the end")
				}
				return err
			}
			took := time.Since(start)
			if plotFile != nil {
				if err := writePlot(plotFile, filepath.Base(args[0]), results); err != nil {
					return err
				}
			}
			rows := make([]simulate.Row, len(results))
			for i, r := range results {
				rows[i] = r.Row()
				rows[i].SkippedRows = t.Skipped
			}
			if g.output != "" && g.output != "table" { // what was read and refused, beside the rows
				simulate.WriteTrace(g.stderr, traceName(args[0]), t)
			}
			return g.print(rows, func(w io.Writer) { printSimulation(w, args[0], t, results, took, plot) })
		},
	}
	f := cmd.Flags()
	defaults := map[string]string{"size": def.Size.Name, "min": strconv.Itoa(def.Min), "max": strconv.Itoa(def.Max),
		"idle": def.Idle.String(), "boot": def.Boot.String(), "boot-timeout": def.BootTimeout.String(), "tier": string(def.Tier),
		"preemption-rate": "0/h", "max-retries": strconv.Itoa(def.MaxRetries), "seed": strconv.FormatUint(def.Seed, 10), "interval": def.Interval.String()}
	for _, fl := range simulateFlags {
		values[fl.key] = &keyFlag{defaults[fl.key], fl.kind}
		f.Var(values[fl.key], fl.key, fl.usage)
	}
	f.StringArrayVar(&compares, "compare", nil, "a row of the table: the base setting with key=value changes, e.g. idle=1800s,max=20 (repeat it)")
	f.StringVar(&plot, "plot", "", "write an SVG of nodes and queue length over time to this file (FILE.svg)")
	return cmd
}

// simulateSettings are the rows to replay: the base setting (def with the flags given), or
// one per --compare.
func simulateSettings(cmd *cobra.Command, def simulate.Setting, values map[string]*keyFlag, compares []string) ([]simulate.Setting, error) {
	base := def
	for _, f := range simulateFlags {
		if cmd.Flags().Changed(f.key) {
			if err := base.Set(f.key, values[f.key].value); err != nil {
				return nil, UsageError{fmt.Errorf("--%w", err)}
			}
		}
	}
	if len(compares) == 0 {
		base.Name = "base"
		return []simulate.Setting{base}, nil
	}
	var out []simulate.Setting
	for _, c := range compares {
		s := base
		s.Name = ""
		if err := s.Apply(c); err != nil {
			return nil, UsageError{fmt.Errorf("--compare %q: %w", c, err)}
		}
		if s.Name == "" {
			s.Name = strings.TrimSpace(c)
		}
		if s.Name == "" {
			s.Name = "base"
		}
		for _, o := range out {
			if o.Name == s.Name {
				return nil, UsageError{fmt.Errorf("--compare %q: a row named %s is given already; name each row apart with name=LABEL", c, s.Name)}
			}
		}
		out = append(out, s)
	}
	return out, nil
}

// createPlot creates the --plot file: an .svg, and never the trace itself, which a slip of
// the shell's completion would overwrite.
func createPlot(plot, trace string) (*os.File, error) {
	if !strings.EqualFold(filepath.Ext(plot), ".svg") {
		return nil, UsageError{fmt.Errorf("--plot %q: the plot is an SVG drawing; name the file FILE.svg", plot)}
	}
	if a, err := os.Stat(plot); err == nil {
		if b, err := os.Stat(trace); err == nil && os.SameFile(a, b) {
			return nil, UsageError{fmt.Errorf("--plot %s is the trace being replayed; name another file", plot)}
		}
	}
	f, err := os.Create(plot)
	if err != nil {
		return nil, fmt.Errorf("--plot: %w", err)
	}
	return f, nil
}

// traceName is how the report names the trace: its file's name, or standard input.
func traceName(path string) string {
	if path == "-" {
		return "from standard input"
	}
	return filepath.Base(path)
}

// readTrace reads the trace at path, or standard input for "-".
func readTrace(path string) (simulate.Trace, error) {
	in, name := os.Stdin, "standard input"
	if path != "-" {
		if fi, err := os.Stat(path); err == nil && fi.IsDir() {
			return simulate.Trace{}, fmt.Errorf("%s is a folder; give the trace's CSV file", path)
		}
		f, err := os.Open(path)
		if err != nil {
			return simulate.Trace{}, fmt.Errorf("trace: %w", err)
		}
		defer f.Close()
		in, name = f, path
	}
	t, err := simulate.ReadTrace(in)
	if err != nil {
		return t, fmt.Errorf("%s: %w", name, err)
	}
	if len(t.Jobs) == 0 && len(t.Skipped) == 0 {
		return t, fmt.Errorf("%s: no jobs to replay: the trace has its header and no rows; add one row per job", name)
	}
	if len(t.Jobs) == 0 {
		var why strings.Builder
		for i, sk := range t.Skipped {
			if i == 3 {
				fmt.Fprintf(&why, "; and %d more", len(t.Skipped)-i)
				break
			}
			fmt.Fprintf(&why, "; %s", sk)
		}
		return t, fmt.Errorf("%s: no jobs to replay: every row was skipped%s", name, why.String())
	}
	return t, nil
}

// runSettings replays every setting, as many at once as there are CPUs.
func runSettings(ctx context.Context, t simulate.Trace, settings []simulate.Setting, series bool) ([]simulate.Result, error) {
	// A replay allocates much and keeps little: collecting less often makes it faster.
	defer debug.SetGCPercent(debug.SetGCPercent(400))
	results := make([]simulate.Result, len(settings))
	eg, ctx := errgroup.WithContext(ctx)
	eg.SetLimit(runtime.GOMAXPROCS(0))
	for i, s := range settings {
		eg.Go(func() error {
			r, err := simulate.Run(ctx, t, s, simulate.Options{Series: series})
			if err != nil {
				return fmt.Errorf("setting %s: %w", s.Name, err)
			}
			results[i] = r
			return nil
		})
	}
	return results, eg.Wait()
}

func writePlot(f *os.File, title string, results []simulate.Result) error {
	if err := simulate.Plot(f, "trainyard simulate "+title, results); err != nil {
		return fmt.Errorf("--plot %s: %w", f.Name(), err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("--plot %s: %w", f.Name(), err)
	}
	return nil
}

func printSimulation(w io.Writer, path string, t simulate.Trace, results []simulate.Result, took time.Duration, plot string) {
	simulate.WriteTrace(w, traceName(path), t)
	if t.Format == simulate.Philly {
		said := map[string]bool{}
		for _, r := range results {
			if size := r.Setting.Size; !said[size.Name] {
				said[size.Name] = true
				fmt.Fprintf(w, "a job takes ceil(num_gpus / %d) nodes of %s: a node runs one job at a time\n", size.GPUs, size.Name)
			}
		}
	}
	for _, r := range results {
		fmt.Fprintf(w, "%s: %s\n", r.Setting.Name, r.Setting.Describe())
	}
	fmt.Fprintf(w, "replayed in %s on %d CPUs; hours are node-hours, ORACLE-H is the node-hours if nodes existed exactly while busy\n\n",
		max(took.Round(time.Millisecond), time.Millisecond), runtime.GOMAXPROCS(0))
	simulate.WriteTable(w, results)
	if plot != "" {
		fmt.Fprintf(w, "\nplot written to %s\n", plot)
	}
}
