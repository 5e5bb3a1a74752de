package cli

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

func newNodeCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "node", Short: "Act on one node of a cluster, as its platform would",
		Example: "  trainyard node preempt spot-cluster-3f2a91c0"}
	cmd.AddCommand(newNodePreemptCmd(g))
	return cmd
}

func newNodePreemptCmd(g *globals) *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:   "preempt NODE",
		Short: "Take back a node of a low-priority cluster, as the platform does when it needs the capacity",
		Long: `Take back a node of a low-priority cluster (tier: low_priority), as the platform does when it
needs the capacity. The node becomes preempted; its job gets SIGTERM and a grace of 10 s to save
$TRAINYARD_CHECKPOINT_DIR, then runs again on another node as its next attempt (up to the job's
max_retries), restoring that checkpoint first. The node is then released. List a cluster's nodes
with: trainyard compute list-nodes --name CLUSTER`,
		Example: `  trainyard node preempt spot-cluster-3f2a91c0
  trainyard node preempt spot-cluster-3f2a91c0 --reason "capacity for a dedicated cluster"`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if args[0] == "" {
				return UsageError{errors.New("NODE is empty: give a node ID, as trainyard compute list-nodes --name CLUSTER lists them")}
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			p, err := c.PreemptNode(cmd.Context(), g.ws(), args[0], reason)
			if err != nil {
				return err
			}
			return g.print(p, func(w io.Writer) {
				switch {
				case p.Job == "":
					fmt.Fprintf(w, "node %s preempted; it held no job and is released\n", p.Node)
				case p.RunsAgain:
					fmt.Fprintf(w, "node %s preempted; job %s stops there (a grace of 10 s to save its checkpoint) and runs again elsewhere as attempt %d of %d (follow it: trainyard job stream --name %s)\n",
						p.Node, p.Job, p.Attempt+1, p.MaxAttempts, p.Job)
				default:
					fmt.Fprintf(w, "node %s preempted; job %s stops there and fails as Preempted: attempt %d was its last of %d (max_retries %d)\n",
						p.Node, p.Job, p.Attempt, p.MaxAttempts, p.MaxAttempts-1)
				}
			})
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why, for the cluster's events")
	return cmd
}
