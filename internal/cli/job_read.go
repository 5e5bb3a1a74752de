package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/trainyard/trainyard/api"
	"github.com/trainyard/trainyard/internal/snapshot"
)

func nameFlag(cmd *cobra.Command, name *string) {
	cmd.Flags().StringVarP(name, "name", "n", "", "job name")
}

// named makes the RunE of a command that acts on one job: it checks --name and makes a client.
func (g *globals) named(name *string, fn func(ctx context.Context, c *api.Client, name string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		if err := needName(*name); err != nil {
			return err
		}
		c, err := g.client()
		if err != nil {
			return err
		}
		return fn(cmd.Context(), c, *name)
	}
}

func needName(name string) error {
	if name == "" {
		return UsageError{errors.New("--name is required (list jobs with: trainyard job list)")}
	}
	return nil
}

func newJobListCmd(g *globals) *cobra.Command {
	var compute, status string
	var max int
	cmd := &cobra.Command{
		Use: "list", Short: "List jobs, newest first", Example: "  trainyard job list --compute cpu-cluster --status Running", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if max < 1 || max > 10000 {
				return UsageError{fmt.Errorf("--max-results %d: give 1 to 10000", max)}
			}
			if status != "" {
				i := slices.IndexFunc(jobStatuses, func(s string) bool { return strings.EqualFold(s, status) })
				if i < 0 {
					return UsageError{fmt.Errorf("--status %q: choose one of %s", status, strings.Join(jobStatuses, ", "))}
				}
				status = jobStatuses[i]
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			jobs, err := c.Jobs(cmd.Context(), g.ws(), compute, status, max)
			if err != nil {
				return err
			}
			return g.print(jobs, func(w io.Writer) {
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "NAME\tCOMPUTE\tSTATUS\tCREATED\tWAIT REASON / ERROR")
				for _, j := range jobs {
					note := j.WaitReason
					if j.Error != nil {
						note = j.Error.Code + ": " + j.Error.Message
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", j.Name, j.Compute, j.Status, j.CreatedAt.Local().Format("2006-01-02 15:04:05"), note)
				}
				tw.Flush()
			})
		},
	}
	cmd.Flags().StringVar(&compute, "compute", "", "only jobs of this compute")
	cmd.Flags().StringVar(&status, "status", "", "only jobs in this status, e.g. Queued")
	cmd.Flags().IntVar(&max, "max-results", 100, "at most this many jobs")
	return cmd
}

// jobStatuses are the statuses a job can be in (SPEC §3.4).
var jobStatuses = []string{"Queued", "Preparing", "Running", "Finalizing", "CancelRequested", "Completed", "Failed", "Canceled"}

func newJobShowCmd(g *globals) *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use: "show", Short: "Show a job, its status, wait reason and latest metrics", Example: "  trainyard job show --name keen_otter_4fa1c2", Args: cobra.NoArgs,
		RunE: g.named(&name, func(ctx context.Context, c *api.Client, name string) error {
			j, err := c.Job(ctx, g.ws(), name)
			if err != nil {
				return err
			}
			return g.print(j, func(w io.Writer) { printJob(w, j) })
		}),
	}
	nameFlag(cmd, &name)
	return cmd
}

func printJob(w io.Writer, j api.Job) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	compute := j.Compute
	if j.RunBased {
		compute += " (run-based: created for this job, deleted when it ends)"
	}
	fmt.Fprintf(tw, "name:\t%s\ndisplay name:\t%s\nexperiment:\t%s\ncompute:\t%s\nstatus:\t%s\n", j.Name, j.DisplayName, j.ExperimentName, compute, j.Status)
	if j.WaitReason != "" {
		fmt.Fprintf(tw, "wait reason:\t%s\n", j.WaitReason)
	}
	if j.Node != "" && len(j.Ranks) == 0 {
		fmt.Fprintf(tw, "node:\t%s\n", j.Node)
	}
	if j.InstanceCount > 1 {
		fmt.Fprintf(tw, "nodes:\t%d, taken together\n", j.InstanceCount)
	}
	if j.Distribution != "" {
		fmt.Fprintf(tw, "distribution:\t%s\n", j.Distribution)
	}
	for _, r := range j.Ranks {
		exit := ""
		if r.ExitCode != nil {
			exit = fmt.Sprintf(", exit %d", *r.ExitCode)
		}
		if p := j.ProcessesPerNode; p > 1 {
			fmt.Fprintf(tw, "node rank %d (ranks %d-%d):\t%s (%s%s)\n", r.Rank, r.Rank*p, r.Rank*p+p-1, r.Node, r.State, exit)
			continue
		}
		fmt.Fprintf(tw, "rank %d:\t%s (%s%s)\n", r.Rank, r.Node, r.State, exit)
	}
	if j.Attempt > 1 || len(j.Attempts) > 1 {
		fmt.Fprintf(tw, "attempt:\t%d of at most %d (max_retries %d)\n", j.Attempt, j.MaxRetries+1, j.MaxRetries)
		for _, a := range j.Attempts {
			end := "running"
			if a.Ended != nil {
				end = "ended " + a.Ended.Local().Format(time.RFC3339)
			}
			if a.Message != "" {
				end += ": " + a.Message
			}
			fmt.Fprintf(tw, "attempt %d:\t%s, started %s, %s\n", a.Attempt, strings.Join(a.Nodes, ", "), a.Started.Local().Format(time.RFC3339), end)
		}
	}
	fmt.Fprintf(tw, "command:\t%s\n", j.Command)
	if len(j.EnvironmentVariables) > 0 {
		fmt.Fprintf(tw, "environment variables:\t%v (values are not shown)\n", j.EnvironmentVariables)
	}
	if j.Image != "" {
		fmt.Fprintf(tw, "environment:\t%s\nimage:\t%s\nshm size:\t%s\n", j.Environment, j.Image, j.ShmSize)
		if j.DockerArgs != "" {
			fmt.Fprintf(tw, "docker args:\t%s\n", j.DockerArgs)
		}
	}
	if j.Timeout != "" {
		fmt.Fprintf(tw, "timeout:\t%s\n", j.Timeout)
	}
	fmt.Fprintf(tw, "created:\t%s\n", j.CreatedAt.Local().Format(time.RFC3339))
	if j.StartedAt != nil {
		fmt.Fprintf(tw, "started:\t%s\n", j.StartedAt.Local().Format(time.RFC3339))
	}
	if j.EndedAt != nil {
		fmt.Fprintf(tw, "ended:\t%s\n", j.EndedAt.Local().Format(time.RFC3339))
	}
	if j.ExitCode != nil {
		fmt.Fprintf(tw, "exit code:\t%d\n", *j.ExitCode)
	}
	if j.Error != nil {
		fmt.Fprintf(tw, "error:\t%s: %s\n", j.Error.Code, j.Error.Message)
	}
	for _, k := range slices.Sorted(maps.Keys(j.Metrics)) {
		fmt.Fprintf(tw, "metric %s:\t%g\n", k, j.Metrics[k])
	}
	tw.Flush()
}

func newJobStreamCmd(g *globals) *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use:     "stream",
		Short:   "Follow a job's logs until it ends",
		Long:    "Print the job's user_logs/std_log.txt as it grows, then its final status and metrics. Exits 1 if the job did not complete.",
		Example: "  trainyard job stream --name keen_otter_4fa1c2",
		Args:    cobra.NoArgs,
		RunE: g.named(&name, func(ctx context.Context, c *api.Client, name string) error {
			return streamJob(ctx, c, g, name)
		}),
	}
	nameFlag(cmd, &name)
	return cmd
}

// streamJob prints a job's log until the job ends, then its summary. While the job waits it
// shows the wait reason whenever it changes, so nothing waits silently.
func streamJob(ctx context.Context, c *api.Client, g *globals, name string) error {
	var off int64
	lastStatus, lastReason := "", ""
	for {
		chunk, err := c.Logs(ctx, g.ws(), name, off, 5*time.Second)
		if err != nil {
			if ctx.Err() != nil {
				fmt.Fprintf(g.stderr, "\nstopped following; job %s goes on. Follow it again with: trainyard job stream --name %s\n", name, name)
				return nil
			}
			if _, ok := errors.AsType[*api.Error](err); ok {
				return err
			}
			fmt.Fprintf(g.stderr, "(lost the server: %v; retrying)\n", err)
			time.Sleep(time.Second)
			continue
		}
		g.stdout.Write(chunk.Data)
		off = chunk.Next
		if chunk.Status != lastStatus || chunk.Status == "Queued" {
			j, err := c.Job(ctx, g.ws(), name)
			if err == nil && (j.Status != lastStatus || j.WaitReason != lastReason) {
				line := "status: " + j.Status
				if j.WaitReason != "" {
					line += " (" + j.WaitReason + ")"
				}
				fmt.Fprintln(g.stderr, line)
				lastStatus, lastReason = j.Status, j.WaitReason
			}
		}
		if len(chunk.Data) == 0 && isTerminal(chunk.Status) {
			break
		}
	}
	j, err := c.Job(ctx, g.ws(), name)
	if err != nil {
		return err
	}
	fmt.Fprintln(g.stderr)
	printJob(g.stderr, j)
	if j.Status != "Completed" {
		msg := fmt.Sprintf("job %s ended %s", j.Name, j.Status)
		if j.Error != nil {
			msg += ": " + j.Error.Message
		}
		return errors.New(msg)
	}
	return nil
}

func isTerminal(status string) bool {
	return status == "Completed" || status == "Failed" || status == "Canceled"
}

func newJobCancelCmd(g *globals) *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use: "cancel", Short: "Cancel a job", Example: "  trainyard job cancel --name keen_otter_4fa1c2", Args: cobra.NoArgs,
		RunE: g.named(&name, func(ctx context.Context, c *api.Client, name string) error {
			j, err := c.CancelJob(ctx, g.ws(), name)
			if err != nil {
				return err
			}
			return g.print(j, func(w io.Writer) { fmt.Fprintf(w, "job %s: %s\n", j.Name, j.Status) })
		}),
	}
	nameFlag(cmd, &name)
	return cmd
}

func newJobMetricsCmd(g *globals) *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use: "metrics", Short: "Print the metric series a job logged", Example: "  trainyard job metrics --name keen_otter_4fa1c2 -o json", Args: cobra.NoArgs,
		RunE: g.named(&name, func(ctx context.Context, c *api.Client, name string) error {
			ms, err := c.Metrics(ctx, g.ws(), name)
			if err != nil {
				return err
			}
			return g.print(ms, func(w io.Writer) {
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "NAME\tSTEP\tVALUE")
				for _, m := range ms {
					step := "-"
					if m.Step != nil {
						step = fmt.Sprint(*m.Step)
					}
					fmt.Fprintf(tw, "%s\t%s\t%g\n", m.Name, step, m.Value)
				}
				tw.Flush()
			})
		}),
	}
	nameFlag(cmd, &name)
	return cmd
}

// unpack returns what extracts a tar.gz the server sent (or the error it sent) into dir,
// replacing what dir held.
func unpack(body io.ReadCloser, err error) func(dir string) error {
	return func(dir string) error {
		if err != nil {
			return err
		}
		defer body.Close()
		os.RemoveAll(dir)
		_, err := snapshot.Extract(body, dir, snapshot.Limits{MaxFiles: 1 << 20, MaxBytes: 1 << 40})
		return err
	}
}

func newJobDownloadCmd(g *globals) *cobra.Command {
	var name, path string
	cmd := &cobra.Command{
		Use:   "download",
		Short: "Download a job's outputs and logs",
		Long: "Download a job's outputs to PATH/NAME/outputs/ and its log to PATH/NAME/user_logs/std_log.txt; " +
			"of a multi-node job, also each rank's own log, user_logs/std_log_process_N.txt; of a job that ran more than once, " +
			"each attempt's own log, user_logs/attempt_N/std_log.txt; and the last checkpoint the job saved in " +
			"$TRAINYARD_CHECKPOINT_DIR, to PATH/NAME/checkpoint/.",
		Example: "  trainyard job download --name keen_otter_4fa1c2 --download-path ./results",
		Args:    cobra.NoArgs,
		RunE: g.named(&name, func(ctx context.Context, c *api.Client, name string) error {
			dir := filepath.Join(path, name)
			logs := filepath.Join(dir, "user_logs")
			if err := os.MkdirAll(logs, 0o755); err != nil {
				return err
			}
			j, err := c.Job(ctx, g.ws(), name)
			if err != nil {
				return err
			}
			type logFile struct{ attempt, rank int }
			files := map[logFile]string{{0, -1}: "std_log.txt"}
			for r := range len(j.Ranks) * max(1, j.ProcessesPerNode) {
				files[logFile{0, r}] = fmt.Sprintf("std_log_process_%d.txt", r)
			}
			if len(j.Attempts) > 1 { // each attempt's own log too
				for _, a := range j.Attempts {
					files[logFile{a.Attempt, -1}] = filepath.Join(fmt.Sprintf("attempt_%d", a.Attempt), "std_log.txt")
				}
			}
			for f, file := range files {
				var log []byte
				for {
					chunk, err := c.AttemptLogs(ctx, g.ws(), name, f.attempt, f.rank, int64(len(log)), 0)
					if err != nil {
						return err
					}
					if len(chunk.Data) == 0 {
						break
					}
					log = append(log, chunk.Data...)
				}
				path := filepath.Join(logs, file)
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					return err
				}
				if err := os.WriteFile(path, log, 0o644); err != nil {
					return err
				}
			}
			if err := unpack(c.Outputs(ctx, g.ws(), name))(filepath.Join(dir, "outputs")); api.IsNotFound(err) {
				fmt.Fprintf(g.stderr, "job %s has no outputs\n", name)
			} else if err != nil {
				return fmt.Errorf("outputs: %w", err)
			}
			if err := unpack(c.Checkpoint(ctx, g.ws(), name))(filepath.Join(dir, "checkpoint")); err != nil && !api.IsNotFound(err) {
				return fmt.Errorf("checkpoint: %w", err)
			}
			fmt.Fprintf(g.stdout, "downloaded job %s to %s\n", name, dir)
			return nil
		}),
	}
	nameFlag(cmd, &name)
	cmd.Flags().StringVarP(&path, "download-path", "p", ".", "folder to download into")
	return cmd
}
