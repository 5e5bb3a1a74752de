package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/api"
	"github.com/trainyard/trainyard/internal/manifest"
)

func newComputeCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "compute",
		Short: "Create, attach, inspect, start, stop, delete and detach compute targets",
		Example: `  trainyard compute create --name cpu-cluster --type amlcompute --size STANDARD_D2_V2 --max-instances 2
  trainyard compute attach --name myvm --type virtualmachine --address 10.0.0.5 --admin-username me --ssh-private-key-file ~/.ssh/id_ed25519
  trainyard compute show --name cpu-cluster`,
	}
	cmd.AddCommand(newComputeCreateCmd(g), newComputeAttachCmd(g), newComputeListCmd(g), newComputeShowCmd(g),
		newComputeDeleteCmd(g), newComputeDetachCmd(g),
		newComputePowerCmd(g, trainyard.ActionStart), newComputePowerCmd(g, trainyard.ActionStop), newComputePowerCmd(g, trainyard.ActionRestart),
		newComputeListNodesCmd(g), newComputeListSizesCmd(g),
		newComputeUpdateCmd(g), newComputeEventsCmd(g), newComputeWaitCmd(g),
		newUsageCmd(g, "list-usage", "Show core usage and quota limits by VM family", "  trainyard compute list-usage --location local"))
	return cmd
}

func newComputeCreateCmd(g *globals) *cobra.Command {
	var file string
	var scale scaleFlags
	var sets, tags []string
	var idleShutdown int
	var noWait bool
	spec := api.ComputeSpec{}
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Create a managed compute target: an autoscaling cluster or a compute instance",
		Long: `Create a managed compute target from flags or from an Azure ML v2 compute YAML file (-f);
flags override the file. A cluster (amlcompute) starts at min-instances nodes and grows with
queued jobs up to max-instances; nodes idle longer than idle-time-before-scale-down are
released. A compute instance (computeinstance) is one node that runs until you stop it
('trainyard compute stop'); jobs sent to it queue and run there one at a time. Attach a machine
or service you run elsewhere with 'trainyard compute attach'. The command waits for the create
operation ("cpu-cluster: Creating… Succeeded") and then, for a cluster, until its min-instances
nodes are ready ("2 of 4 nodes ready"); a failed create exits 1 with its error code and message.
--no-wait prints the operation's ID instead: follow it with 'trainyard operation show ID'.`,
		Example: `  trainyard compute create --name cpu-cluster --type amlcompute --size STANDARD_D2_V2 \
      --min-instances 0 --max-instances 4 --idle-time-before-scale-down 120
  trainyard compute create --name my-instance --type computeinstance --idle-time-before-shutdown-minutes 60
  trainyard compute create -f compute.yml --set max_instances=8`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if file != "" {
				data, err := os.ReadFile(file)
				if err != nil {
					return err
				}
				if len(sets) > 0 {
					// Line numbers in later errors are then of the changed document.
					if data, err = manifest.Set(data, sets); err != nil {
						return fmt.Errorf("%s: --set: %w", file, err)
					}
				}
				if err := manifest.Decode(data, &spec); err != nil {
					return fmt.Errorf("%s: %w", file, err)
				}
			} else if len(sets) > 0 {
				return UsageError{errors.New("--set needs a file (-f) to change")}
			}
			f := cmd.Flags()
			if f.Changed("name") {
				spec.Name = flagString(f, "name")
			}
			if f.Changed("type") {
				spec.Type = flagString(f, "type")
			}
			for _, k := range []string{"size", "location", "description"} {
				if f.Changed(k) {
					*map[string]*string{"size": &spec.Size, "location": &spec.Location, "description": &spec.Description}[k] = flagString(f, k)
				}
			}
			if f.Changed("tier") && f.Changed("vm-priority") {
				return UsageError{fmt.Errorf("give --tier or --vm-priority, not both: they set the same thing, the tier (--tier %s, --vm-priority %s); "+
					"--tier is the v2 spelling, --vm-priority the v1 one", flagString(f, "tier"), flagString(f, "vm-priority"))}
			}
			for _, k := range []string{"tier", "vm-priority"} {
				if f.Changed(k) {
					t, err := tierFlag("--"+k, flagString(f, k))
					if err != nil {
						return err
					}
					spec.Tier = string(t)
				}
			}
			if err := scale.apply(f, &spec.MinInstances, &spec.MaxInstances, &spec.IdleTimeBeforeScaleDown); err != nil {
				return err
			}
			if f.Changed("idle-time-before-shutdown-minutes") {
				spec.IdleTimeBeforeShutdownMinutes = &idleShutdown
			}
			if f.Changed("admin-username") || f.Changed("admin-password") || f.Changed("ssh-key-value") {
				if spec.SSHSettings == nil {
					spec.SSHSettings = &api.SSHSettings{}
				}
				for k, dst := range map[string]*string{"admin-username": &spec.SSHSettings.AdminUsername,
					"admin-password": &spec.SSHSettings.AdminPassword, "ssh-key-value": &spec.SSHSettings.SSHKeyValue} {
					if f.Changed(k) {
						*dst = flagString(f, k)
					}
				}
			}
			if len(tags) > 0 {
				t, err := keyValues("--tags", tags)
				if err != nil {
					return err
				}
				spec.Tags = t
			}
			if spec.Name == "" || spec.Type == "" {
				return UsageError{errors.New("--name and --type are required (or name: and type: in the file given with -f)")}
			}
			// The same rule the server applies, checked before anything is sent (case C-07).
			t, err := trainyard.ParseComputeType(spec.Type)
			if err != nil {
				return err
			}
			if t.Attached() {
				how := "trainyard compute attach --name " + spec.Name + " --type " + string(t) + " …"
				if file != "" {
					how = "trainyard compute attach -f " + file
				}
				return fmt.Errorf("type %q is an attached type: trainyard records where it is and never creates it; attach it with: %s (compute create makes amlcompute and computeinstance targets)", spec.Type, how)
			}
			if err := trainyard.ValidateComputeName(t, spec.Name); err != nil {
				return errors.New(trainyard.ErrorMessage(err))
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			out, err := c.CreateCompute(cmd.Context(), g.ws(), spec)
			if err != nil {
				return err
			}
			return g.created(cmd.Context(), c, out, noWait)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&file, "file", "f", "", "Azure ML v2 compute YAML")
	f.StringArrayVar(&sets, "set", nil, "override a key of the file: --set max_instances=4")
	f.StringP("name", "n", "", "name: "+trainyard.ComputeNameRule)
	f.StringP("type", "t", "", "amlcompute (alias: cluster) or computeinstance (alias: instance)")
	f.String("size", "", "VM size, see 'trainyard compute list-sizes' (default "+trainyard.DefaultSize+")")
	scale.register(f, trainyard.DefaultMaxNodes, " (default 120)")
	f.String("tier", "", "dedicated or low_priority")
	f.String("vm-priority", "", "dedicated or lowpriority (v1 spelling of --tier; give one of them)")
	f.String("location", "", "a location of the server's config (default: local)")
	f.String("description", "", "free text")
	f.StringArrayVar(&tags, "tags", nil, "key=value tags")
	f.IntVar(&idleShutdown, "idle-time-before-shutdown-minutes", 0, "computeinstance: stop after this many idle minutes (15 to 4320; stored, acted on later)")
	f.String("admin-username", "", "amlcompute: admin user on the nodes")
	f.String("admin-password", "", "amlcompute: its password (3 of: lowercase, uppercase, digit, special); stored sealed")
	f.String("ssh-key-value", "", "the admin's SSH public key (a line of a .pub file)")
	f.BoolVar(&noWait, "no-wait", false, "print the operation's ID instead of waiting for it")
	return cmd
}

// created waits for the create (or attach) that answered out, unless noWait, and prints the
// compute; without waiting, it says how to follow the operation.
func (g *globals) created(ctx context.Context, c *api.Client, out api.Compute, noWait bool) error {
	if noWait {
		return g.print(out, func(w io.Writer) {
			fmt.Fprintf(w, "compute %s: %s\n", out.Name, summary(out))
			printFollow(w, out.Operation)
		})
	}
	out, err := g.wait(ctx, c, waitFor{compute: out.Name, op: out.Operation, minNodes: clusterMin(out), timeout: defaultWait})
	if err != nil {
		return err
	}
	return g.print(out, func(w io.Writer) { fmt.Fprintf(w, "compute %s: %s\n", out.Name, summary(out)) })
}

func summary(c api.Compute) string {
	p := c.Properties
	switch {
	case c.IsAttached:
		s := fmt.Sprintf("%s, %s at %s", c.ProvisioningState, c.Type, where(c))
		if p.AdminUsername != "" {
			s += ", user " + p.AdminUsername
		}
		return s + "; credentials: " + credentials(c)
	case c.Type == string(trainyard.TypeComputeInstance):
		return fmt.Sprintf("%s, instance %s, size %s", c.ProvisioningState, p.State, p.VMSize)
	}
	return fmt.Sprintf("%s, %d of %d nodes ready (min %d, max %d), %s", c.ProvisioningState,
		p.NodeStateCounts.Idle+p.NodeStateCounts.Running, p.TargetNodeCount, p.ScaleSettings.MinNodeCount, p.ScaleSettings.MaxNodeCount, p.AllocationState)
}

func newComputeListCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use: "list", Short: "List compute targets", Example: "  trainyard compute list -o json", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			list, err := c.Computes(cmd.Context(), g.ws())
			if err != nil {
				return err
			}
			return g.print(list, func(w io.Writer) {
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "NAME\tTYPE\tSIZE\tSTATE\tNODES\tMIN\tMAX\tIDLE\tNOTE")
				for _, c := range list {
					p := c.Properties
					note := ""
					if c.RunBasedFor != "" {
						note = "run-based, for job " + c.RunBasedFor
					}
					switch {
					case c.IsAttached:
						fmt.Fprintf(tw, "%s\t%s\t-\t%s\t-\t-\t-\t-\t%s\n", c.Name, c.Type, c.ProvisioningState, note)
					case c.Type == string(trainyard.TypeComputeInstance):
						st := c.ProvisioningState
						if st == string(trainyard.Succeeded) {
							st = p.State
						}
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t-\t-\t%s\t%s\n", c.Name, c.Type, p.VMSize, st, p.CurrentNodeCount, firstOf(p.IdleTimeBeforeShutdown, "-"), note)
					default:
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s\t%s\n", c.Name, c.Type, p.VMSize, c.ProvisioningState,
							p.CurrentNodeCount, p.ScaleSettings.MinNodeCount, p.ScaleSettings.MaxNodeCount, p.ScaleSettings.NodeIdleTimeBeforeScaleDown, note)
					}
				}
				tw.Flush()
			})
		},
	}
}

func newComputeShowCmd(g *globals) *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use: "show", Short: "Show a compute target, its nodes and recent events", Example: "  trainyard compute show --name cpu-cluster", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if name == "" {
				return UsageError{errors.New("--name is required")}
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			out, err := c.Compute(cmd.Context(), g.ws(), name)
			if err != nil {
				return err
			}
			return g.print(out, func(w io.Writer) { printCompute(w, out) })
		},
	}
	cmd.Flags().StringVarP(&name, "name", "n", "", "compute name")
	return cmd
}

func printCompute(w io.Writer, c api.Compute) {
	p := c.Properties
	n := p.NodeStateCounts
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "name:\t%s\ntype:\t%s\n", c.Name, c.Type)
	if c.IsAttached {
		fmt.Fprintf(tw, "attached:\tyes (detach with: trainyard compute detach --name %s)\n", c.Name)
	} else {
		fmt.Fprintf(tw, "location:\t%s\n", c.Location)
	}
	switch c.Type {
	case string(trainyard.TypeAmlCompute):
		fmt.Fprintf(tw, "size:\t%s (%s)\n", p.VMSize, p.VMPriority)
	case string(trainyard.TypeComputeInstance):
		fmt.Fprintf(tw, "size:\t%s\n", p.VMSize)
	}
	fmt.Fprintf(tw, "provisioning state:\t%s\n", c.ProvisioningState)
	for _, e := range c.ProvisioningErrors {
		fmt.Fprintf(tw, "error:\t%s\n", e)
	}
	if op := c.Operation; op != nil {
		fmt.Fprintf(tw, "last operation:\t%s %s (trainyard operation show %s)\n", op.Kind, op.Status, op.ID)
	}
	if c.RunBasedFor != "" {
		fmt.Fprintf(tw, "run-based:\tcreated for job %s; deleted when it ends\n", c.RunBasedFor)
	}
	if c.Description != "" {
		fmt.Fprintf(tw, "description:\t%s\n", c.Description)
	}
	if len(c.Tags) > 0 {
		fmt.Fprintf(tw, "tags:\t%s\n", joinTags(c.Tags))
	}
	switch {
	case c.IsAttached:
		printAttached(tw, c)
	case c.Type == string(trainyard.TypeComputeInstance):
		fmt.Fprintf(tw, "state:\t%s\n", p.State)
		fmt.Fprintf(tw, "idle time before shutdown:\t%s\n", firstOf(p.IdleTimeBeforeShutdown, "none (never shut down when idle)"))
		fmt.Fprintf(tw, "nodes:\t%d idle, %d running, %d preparing, %d leaving, %d unusable, %d preempted\n", n.Idle, n.Running, n.Preparing, n.Leaving, n.Unusable, n.Preempted)
	default:
		fmt.Fprintf(tw, "allocation:\t%s, %d current, %d target\n", p.AllocationState, p.CurrentNodeCount, p.TargetNodeCount)
		fmt.Fprintf(tw, "nodes:\t%d idle, %d running, %d preparing, %d leaving, %d unusable, %d preempted\n", n.Idle, n.Running, n.Preparing, n.Leaving, n.Unusable, n.Preempted)
		fmt.Fprintf(tw, "scale settings:\tmin %d, max %d, idle time before scale down %s\n", p.ScaleSettings.MinNodeCount, p.ScaleSettings.MaxNodeCount, p.ScaleSettings.NodeIdleTimeBeforeScaleDown)
	}
	if !c.IsAttached {
		if p.AdminUsername != "" {
			fmt.Fprintf(tw, "admin user:\t%s\n", p.AdminUsername)
		}
		if p.SSHPublicKey != "" {
			fmt.Fprintf(tw, "admin public key:\t%s\n", p.SSHPublicKey)
		}
		if len(p.Credentials) > 0 {
			fmt.Fprintf(tw, "credentials:\t%s\n", credentials(c))
		}
	}
	tw.Flush()
	if len(p.Nodes) > 0 {
		fmt.Fprintln(w)
		printNodes(w, p.Nodes)
	}
	if len(p.RecentEvents) > 0 {
		fmt.Fprintln(w, "\nrecent events:")
		for _, e := range p.RecentEvents {
			fmt.Fprintf(w, "  %s  %-9s %s\n", e.Time.Local().Format("15:04:05"), e.Kind, e.Message)
		}
	}
}

func printNodes(w io.Writer, nodes []api.Node) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tADDRESS\tPORT\tSTATE\tJOB\tIDLE")
	for _, n := range nodes {
		idle := "-"
		if n.State == string(trainyard.NodeIdle) {
			idle = (time.Duration(n.IdleSeconds) * time.Second).String()
		}
		port := "-"
		if n.Port > 0 {
			port = strconv.Itoa(n.Port)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", n.ID, firstOf(n.Address, "-"), port, n.State, firstOf(n.RunID, "-"), idle)
	}
	tw.Flush()
}

func newComputeDeleteCmd(g *globals) *cobra.Command {
	var name string
	var noWait, yes bool
	cmd := &cobra.Command{
		Use: "delete", Short: "Delete a compute target and release its nodes",
		Long:    "Delete a compute target and release its nodes. A target with unfinished jobs is not deleted: cancel them first.",
		Example: "  trainyard compute delete --name cpu-cluster --yes", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if name == "" {
				return UsageError{errors.New("--name is required")}
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			out, err := c.DeleteCompute(cmd.Context(), g.ws(), name)
			if err != nil {
				return err
			}
			if noWait {
				fmt.Fprintf(g.stdout, "deleting compute %s\n", name)
				printFollow(g.stdout, out.Operation)
				return nil
			}
			if _, err := g.wait(cmd.Context(), c, waitFor{compute: name, op: out.Operation}); err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "compute %s deleted\n", name)
			return nil
		},
	}
	cmd.Flags().StringVarP(&name, "name", "n", "", "compute name")
	cmd.Flags().BoolVar(&noWait, "no-wait", false, "print the operation's ID instead of waiting until the compute is gone")
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation (deletion never asks today)")
	return cmd
}

func newComputeListNodesCmd(g *globals) *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use: "list-nodes", Short: "List the nodes of a cluster", Example: "  trainyard compute list-nodes --name cpu-cluster", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if name == "" {
				return UsageError{errors.New("--name is required")}
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			nodes, err := c.Nodes(cmd.Context(), g.ws(), name)
			if err != nil {
				return err
			}
			return g.print(nodes, func(w io.Writer) {
				if len(nodes) == 0 {
					fmt.Fprintf(w, "compute %s has no nodes\n", name)
					return
				}
				printNodes(w, nodes)
			})
		},
	}
	cmd.Flags().StringVarP(&name, "name", "n", "", "compute name")
	return cmd
}

func newComputeListSizesCmd(g *globals) *cobra.Command {
	var location string
	cmd := &cobra.Command{
		Use: "list-sizes", Short: "List the VM sizes a location offers", Example: "  trainyard compute list-sizes --location local", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			sizes, err := c.Sizes(cmd.Context(), location)
			if err != nil {
				return err
			}
			return g.print(sizes, func(w io.Writer) {
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "NAME\tFAMILY\tVCPUS\tMEMORY_GB\tGPUS")
				for _, s := range sizes {
					fmt.Fprintf(tw, "%s\t%s\t%d\t%g\t%d\n", s.Name, s.Family, s.VCPUs, s.MemoryGB, s.GPUs)
				}
				tw.Flush()
			})
		},
	}
	cmd.Flags().StringVar(&location, "location", "", "location (default: the server's default)")
	return cmd
}
