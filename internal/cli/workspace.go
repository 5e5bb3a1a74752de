package cli

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

func newWorkspaceCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "workspace", Short: "Create and list workspaces", Example: "  trainyard workspace create vision\n  trainyard -w vision compute list"}
	cmd.AddCommand(&cobra.Command{
		Use: "create NAME", Short: "Create a workspace", Example: "  trainyard workspace create vision", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			if err := c.Do(cmd.Context(), "POST", "/v1/workspaces", map[string]string{"name": args[0]}, nil); err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "workspace %s created\n", args[0])
			return nil
		},
	}, &cobra.Command{
		Use: "list", Short: "List workspaces", Example: "  trainyard workspace list", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			var out struct{ Value []string }
			if err := c.Do(cmd.Context(), "GET", "/v1/workspaces", nil, &out); err != nil {
				return err
			}
			return g.print(out.Value, func(w io.Writer) {
				for _, n := range out.Value {
					fmt.Fprintln(w, n)
				}
			})
		},
	})
	return cmd
}
