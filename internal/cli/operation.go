package cli

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/trainyard/trainyard/api"
)

func newOperationCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "operation",
		Short: "Follow the long-running operations of compute targets",
		Long: `Creating, updating, deleting, attaching and detaching a compute, and starting, stopping or
restarting a compute instance, are long-running operations. Their commands wait for them unless
--no-wait, which prints the operation's ID; follow it here.`,
		Example: `  trainyard compute create --name cpu-cluster --type amlcompute --max-instances 2 --no-wait
  trainyard operation show op-5f2c9a0e41d7b3c8`,
	}
	cmd.AddCommand(newOperationShowCmd(g))
	return cmd
}

func newOperationShowCmd(g *globals) *cobra.Command {
	var follow bool
	cmd := &cobra.Command{
		Use:   "show ID",
		Short: "Show a long-running operation: its kind, status and, when it failed, why",
		Long: `Show an operation: its compute, kind (Create, Update, Delete, Attach, Detach, Start, Stop,
Restart), status (InProgress, Succeeded, Failed, Canceled), error code and message, and times.
With --wait, follow it until it ends first; the command then exits 1 unless it Succeeded.`,
		Example: `  trainyard operation show op-5f2c9a0e41d7b3c8
  trainyard operation show op-5f2c9a0e41d7b3c8 --wait
  trainyard operation show op-5f2c9a0e41d7b3c8 -o json`,
		Args:        cobra.ExactArgs(1),
		Annotations: map[string]string{argsAnnotation: "the ID of the operation to show (a command run with --no-wait prints it)"},
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			op, err := c.Operation(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if follow && !op.Ended() {
				if _, err := g.wait(cmd.Context(), c, waitFor{compute: op.Compute, op: &op}); err != nil && cmd.Context().Err() != nil {
					return err
				}
				if op, err = c.Operation(cmd.Context(), op.ID); err != nil {
					return err
				}
			}
			if err := g.print(op, func(w io.Writer) { printOperation(w, op) }); err != nil {
				return err
			}
			if follow {
				return opError(op)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&follow, "wait", false, "follow the operation until it ends")
	return cmd
}

func printOperation(w io.Writer, op api.Operation) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "id:\t%s\nworkspace:\t%s\ncompute:\t%s\nkind:\t%s\nstatus:\t%s\n", op.ID, op.Workspace, op.Compute, op.Kind, op.Status)
	if op.Error != nil {
		fmt.Fprintf(tw, "error:\t%s: %s\n", op.Error.Code, op.Error.Message)
	}
	fmt.Fprintf(tw, "created:\t%s\n", op.CreatedAt.Local().Format(time.RFC3339))
	if op.EndedAt != nil {
		fmt.Fprintf(tw, "ended:\t%s (after %s)\n", op.EndedAt.Local().Format(time.RFC3339), op.EndedAt.Sub(op.CreatedAt).Round(time.Millisecond))
	}
	tw.Flush()
}
