package cli

import (
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
needs the capacity. The node becomes preempted; its job gets SIGTERM and a grace to save
$TRAINYARD_CHECKPOINT_DIR, then runs again on another node as its next attempt (up to the job's
max_retries), restoring that checkpoint first. The node is then released. List a cluster's nodes
with: trainyard compute list-nodes --name CLUSTER`,
		Example: `  trainyard node preempt spot-cluster-3f2a91c0
  trainyard node preempt spot-cluster-3f2a91c0 --reason "capacity for a dedicated cluster"`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			n, err := c.PreemptNode(cmd.Context(), args[0], reason)
			if err != nil {
				return err
			}
			return g.print(n, func(w io.Writer) {
				if n.RunID == "" {
					fmt.Fprintf(w, "node %s preempted; it held no job and is released\n", n.ID)
					return
				}
				fmt.Fprintf(w, "node %s preempted; job %s stops there and runs again elsewhere (follow it: trainyard job stream --name %s)\n", n.ID, n.RunID, n.RunID)
			})
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why, for the cluster's events")
	return cmd
}
