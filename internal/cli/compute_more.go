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
	var name, description string
	var scale scaleFlags
	var tags []string
	var noWait bool
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
			if err := scale.apply(f, &u.MinInstances, &u.MaxInstances, &u.IdleTimeBeforeScaleDown); err != nil {
				return err
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
			if !noWait {
				// An update is done at once; its nodes follow the new settings in the background.
				if out, err = g.wait(cmd.Context(), c, waitFor{compute: name, op: out.Operation}); err != nil {
					return err
				}
			}
			return g.print(out, func(w io.Writer) {
				fmt.Fprintf(w, "compute %s: %s\n", out.Name, summary(out))
				if noWait {
					printFollow(w, out.Operation)
				}
			})
		},
	}
	f := cmd.Flags()
	f.StringVarP(&name, "name", "n", "", "compute name")
	scale.register(f, 0, "")
	f.StringVar(&description, "description", "", "free text")
	f.StringArrayVar(&tags, "tags", nil, "key=value tags (replace all tags)")
	f.BoolVar(&noWait, "no-wait", false, "print the operation's ID instead of waiting for it")
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
		Use:   "wait",
		Short: "Wait until a compute's operation ends and at least --min-nodes nodes are ready",
		Long: `Wait until the compute's operation in progress, if any, ends (a create, update, start, stop or
restart), then until at least --min-nodes of its nodes are ready (idle or running), printing
progress. A Failed operation or compute makes it exit 1 with the error's code and message.
A --min-nodes the compute can never have is refused at once: more than a cluster's
max_instances, more than the one node of a compute instance, or any for an attached target.`,
		Example: "  trainyard compute wait --name cpu-cluster --min-nodes 2 --timeout 10m",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if name == "" {
				return UsageError{errors.New("--name is required")}
			}
			if minNodes < 0 {
				return UsageError{fmt.Errorf("--min-nodes %d: must be 0 or more; 0 (the default) waits only for the compute's operation", minNodes)}
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			out, err := c.Compute(cmd.Context(), g.ws(), name)
			if err != nil {
				return err
			}
			if err := reachable(out, minNodes); err != nil {
				return err
			}
			w := waitFor{compute: out.Name, minNodes: minNodes, timeout: timeout}
			if op := out.Operation; op != nil && !op.Ended() && op.Kind != "Delete" {
				w.op = op
			}
			if out, err = g.wait(cmd.Context(), c, w); err != nil {
				return err
			}
			return g.print(out, func(w io.Writer) { fmt.Fprintf(w, "compute %s: %s\n", out.Name, summary(out)) })
		},
	}
	cmd.Flags().StringVarP(&name, "name", "n", "", "compute name")
	cmd.Flags().IntVar(&minNodes, "min-nodes", 0, "nodes that must be ready (idle or running)")
	cmd.Flags().DurationVar(&timeout, "timeout", defaultWait, "give up after this long (0: never)")
	return cmd
}
