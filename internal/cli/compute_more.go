package cli

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/trainyard/trainyard/api"
)

func newComputeUpdateCmd(g *globals) *cobra.Command {
	var name, idle, description string
	var min, max int
	var tags []string
	cmd := &cobra.Command{
		Use:   "update",
		Short: "Change a cluster's scale settings, tags or description",
		Long: `Change what may change on an existing compute: min and max instances, the idle time before
scale down, tags and description. Size, tier and location are fixed at creation: delete the
compute and create it again to change them.`,
		Example: "  trainyard compute update --name cpu-cluster --max-instances 8 --idle-time-before-scale-down PT10M",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if name == "" {
				return UsageError{errors.New("--name is required")}
			}
			f := cmd.Flags()
			var u api.ComputeUpdate
			if f.Changed("min-instances") {
				u.MinInstances = &min
			}
			if f.Changed("max-instances") {
				u.MaxInstances = &max
			}
			if f.Changed("idle-time-before-scale-down") {
				d, err := api.ParseDuration(idle)
				if err != nil {
					return UsageError{fmt.Errorf("--idle-time-before-scale-down: %w", err)}
				}
				u.IdleTimeBeforeScaleDown = &api.Seconds{Duration: d}
			}
			if f.Changed("description") {
				u.Description = &description
			}
			if f.Changed("tags") {
				t, err := keyValues("--tags", tags)
				if err != nil {
					return err
				}
				u.Tags = t
			}
			if u.MinInstances == nil && u.MaxInstances == nil && u.IdleTimeBeforeScaleDown == nil && u.Description == nil && u.Tags == nil {
				return UsageError{errors.New("nothing to change: give --min-instances, --max-instances, --idle-time-before-scale-down, --tags or --description")}
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			out, err := c.UpdateCompute(cmd.Context(), g.ws(), name, u)
			if err != nil {
				return err
			}
			return g.print(out, func(w io.Writer) { fmt.Fprintf(w, "compute %s: %s\n", out.Name, summary(out)) })
		},
	}
	f := cmd.Flags()
	f.StringVarP(&name, "name", "n", "", "compute name")
	f.IntVar(&min, "min-instances", 0, "nodes kept even when idle")
	f.IntVar(&max, "max-instances", 0, "most nodes the cluster grows to")
	f.StringVar(&idle, "idle-time-before-scale-down", "", "seconds (or ISO-8601 like PT2M) a node may sit idle before release")
	f.StringVar(&description, "description", "", "free text")
	f.StringArrayVar(&tags, "tags", nil, "key=value tags (replace all tags)")
	return cmd
}

func newComputeEventsCmd(g *globals) *cobra.Command {
	var name string
	var follow bool
	cmd := &cobra.Command{
		Use:   "events",
		Short: "Show a compute's history: scaling decisions with their reasons, node lifecycle, errors",
		Example: `  trainyard compute events --name cpu-cluster
  trainyard compute events --name cpu-cluster --follow`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if name == "" {
				return UsageError{errors.New("--name is required")}
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			var after int64
			var all []api.Event
			for {
				evs, err := c.Events(cmd.Context(), g.ws(), name, after)
				if err != nil {
					return err
				}
				all = append(all, evs...)
				if len(evs) > 0 {
					after = evs[len(evs)-1].ID
				}
				if !follow {
					return g.print(all, func(w io.Writer) { printEvents(w, all) })
				}
				printEvents(g.stdout, evs)
				select {
				case <-cmd.Context().Done():
					return nil
				case <-time.After(time.Second):
				}
			}
		},
	}
	cmd.Flags().StringVarP(&name, "name", "n", "", "compute name")
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new events until interrupted")
	return cmd
}

func printEvents(w io.Writer, evs []api.Event) {
	for _, e := range evs {
		fmt.Fprintf(w, "%s  %-9s %s\n", e.Time.Local().Format("2006-01-02 15:04:05"), e.Kind, e.Message)
	}
}

func newComputeWaitCmd(g *globals) *cobra.Command {
	var name string
	var minNodes int
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:     "wait",
		Short:   "Wait until a compute is provisioned and has at least --min-nodes nodes ready",
		Example: "  trainyard compute wait --name cpu-cluster --min-nodes 2 --timeout 10m",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if name == "" {
				return UsageError{errors.New("--name is required")}
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			deadline := time.Now().Add(timeout)
			last := ""
			for {
				out, err := waitCompute(cmd.Context(), c, g, name)
				if err != nil {
					return err
				}
				n := out.Properties.NodeStateCounts
				ready := n.Idle + n.Running
				if line := fmt.Sprintf("%d of %d nodes ready", ready, max(minNodes, out.Properties.TargetNodeCount)); line != last {
					fmt.Fprintf(g.stderr, "%s: %s\n", name, line)
					last = line
				}
				if ready >= minNodes {
					return g.print(out, func(w io.Writer) { fmt.Fprintf(w, "compute %s: %s\n", out.Name, summary(out)) })
				}
				if timeout > 0 && time.Now().After(deadline) {
					return fmt.Errorf("compute %s has %d of %d nodes ready after %s; see why with: trainyard compute events --name %s", name, ready, minNodes, timeout, name)
				}
				select {
				case <-cmd.Context().Done():
					return cmd.Context().Err()
				case <-time.After(time.Second):
				}
			}
		},
	}
	cmd.Flags().StringVarP(&name, "name", "n", "", "compute name")
	cmd.Flags().IntVar(&minNodes, "min-nodes", 0, "nodes that must be ready (idle or running)")
	cmd.Flags().DurationVar(&timeout, "timeout", 25*time.Minute, "give up after this long (0: never)")
	return cmd
}
