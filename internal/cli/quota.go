package cli

import (
	"errors"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/trainyard/trainyard/api"
)

func newQuotaCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "quota",
		Short: "Show and set a workspace's core quotas",
		Long: `Each workspace has, in each location, a limit of dedicated cores per VM family and one limit
for all low-priority cores. Clusters, jobs and scaling are checked against them.`,
		Example: `  trainyard quota show
  trainyard quota set --family standardNCFamily --limit 24
  trainyard -w vision quota set --low-priority --limit 200`,
	}
	cmd.AddCommand(newUsageCmd(g, "show", "Show the quotas and what is in use", "  trainyard quota show --location local"))
	var q api.QuotaUpdate
	var location string
	var low bool
	set := &cobra.Command{
		Use:     "set",
		Short:   "Set the core limit of a VM family or of the low-priority pool",
		Example: "  trainyard quota set --family standardNCFamily --limit 24\n  trainyard quota set --low-priority --limit 200",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if (q.Pool == "") == !low || !cmd.Flags().Changed("limit") {
				return UsageError{errors.New("give --limit and either --family NAME or --low-priority")}
			}
			if low {
				q.Pool = "lowPriority"
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			lines, err := c.SetQuota(cmd.Context(), g.ws(), location, q)
			if err != nil {
				return err
			}
			return g.print(lines, func(w io.Writer) { printUsage(w, lines) })
		},
	}
	set.Flags().StringVar(&q.Pool, "family", "", "VM family, as compute list-sizes shows it")
	set.Flags().BoolVar(&low, "low-priority", false, "the pool of all low-priority cores")
	set.Flags().IntVar(&q.Limit, "limit", 0, "cores")
	set.Flags().StringVar(&location, "location", "default", "location (default: the server's default)")
	cmd.AddCommand(set)
	return cmd
}

// newUsageCmd is `quota show` and `compute list-usage`: the same table.
func newUsageCmd(g *globals, use, short, example string) *cobra.Command {
	var location string
	cmd := &cobra.Command{
		Use: use, Short: short, Example: example, Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			lines, err := c.Usage(cmd.Context(), g.ws(), location)
			if err != nil {
				return err
			}
			return g.print(lines, func(w io.Writer) { printUsage(w, lines) })
		},
	}
	cmd.Flags().StringVar(&location, "location", "default", "location (default: the server's default)")
	return cmd
}

func printUsage(w io.Writer, lines []api.Usage) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "POOL\tUSED CORES\tLIMIT\tLOCATION")
	for _, l := range lines {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\n", l.Pool, l.UsedCores, l.LimitCores, l.Location)
	}
	tw.Flush()
}
