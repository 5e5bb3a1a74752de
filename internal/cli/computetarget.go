package cli

import (
	"errors"
	"time"

	"github.com/spf13/cobra"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/api"
)

// newComputeTargetCmd is the v1 dialect of the seed's CLI (az ml computetarget), kept verbatim so
// scripts written for it run unchanged; it maps onto the same API as `compute`.
func newComputeTargetCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "computetarget",
		Short: "Compute targets in the v1 CLI dialect (same as 'compute')",
		Example: `  trainyard computetarget create amlcompute --name lowpriocluster --vm-size Standard_NC6 --max-nodes 5 --vm-priority lowpriority
  trainyard computetarget list`,
	}
	create := &cobra.Command{Use: "create", Short: "Create a compute target (v1 dialect)",
		Example: "  trainyard computetarget create amlcompute --name cpucluster --vm-size STANDARD_D2_V2 --max-nodes 4"}
	create.AddCommand(newComputeTargetCreateAmlCmd(g))
	list := newComputeListCmd(g)
	list.Example = "  trainyard computetarget list"
	show := newComputeShowCmd(g)
	show.Example = "  trainyard computetarget show --name cpucluster"
	del := newComputeDeleteCmd(g)
	del.Example = "  trainyard computetarget delete --name cpucluster"
	attach := &cobra.Command{Use: "attach", Short: "Attach a machine or service (v1 dialect of 'compute attach')",
		Example: "  trainyard computetarget attach remote --name myvm --address 10.0.0.5 --ssh-port 22 --username me --private-key-file ~/.ssh/id_ed25519"}
	for _, k := range []struct{ use, typ, short string }{
		{"remote", "virtualmachine", "Attach a machine reached over SSH"},
		{"hdinsight", "hdinsight", "Attach a Spark cluster reached over SSH"},
		{"batch", "batch", "Attach a batch account"},
		{"databricks", "databricks", "Attach a Databricks workspace"},
		{"adla", "datalakeanalytics", "Attach a Data Lake Analytics account"},
		{"kubernetes", "kubernetes", "Attach a namespace of a Kubernetes cluster"},
		{"slurm", "slurm", "Attach a Slurm cluster"},
	} {
		attach.AddCommand(newComputeTargetAttachCmd(g, k.use, k.typ, k.short))
	}
	detach := newComputeDetachCmd(g)
	detach.Example = "  trainyard computetarget detach --name myvm"
	cmd.AddCommand(create, list, show, del, attach, detach)
	return cmd
}

func newComputeTargetCreateAmlCmd(g *globals) *cobra.Command {
	var spec api.ComputeSpec
	var min, max, idle int
	var noWait bool
	cmd := &cobra.Command{
		Use:     "amlcompute",
		Short:   "Create an autoscaling cluster (v1 dialect)",
		Example: "  trainyard computetarget create amlcompute --name lowpriocluster --vm-size Standard_NC6 --max-nodes 5 --vm-priority lowpriority",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			spec.Type = string(trainyard.TypeAmlCompute)
			if spec.Name == "" {
				return UsageError{errors.New("--name is required")}
			}
			if err := trainyard.ValidateComputeName(trainyard.TypeAmlCompute, spec.Name); err != nil {
				return err
			}
			// The v1 defaults (max 4 nodes, 1800 s idle) differ from v2's, so they are always sent.
			spec.MinInstances, spec.MaxInstances = &min, &max
			spec.IdleTimeBeforeScaleDown = &api.Seconds{Duration: time.Duration(idle) * time.Second}
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
	f.StringVarP(&spec.Name, "name", "n", "", "name: "+trainyard.ComputeNameRule)
	f.StringVarP(&spec.Size, "vm-size", "s", "", "VM size (default "+trainyard.DefaultSize+")")
	f.StringVar(&spec.Tier, "vm-priority", "", "dedicated or lowpriority")
	f.IntVar(&min, "min-nodes", 0, "nodes kept even when idle")
	f.IntVar(&max, "max-nodes", 4, "most nodes the cluster grows to")
	f.IntVar(&idle, "idle-seconds-before-scaledown", 1800, "seconds a node may sit idle before release")
	f.StringVar(&spec.Location, "location", "", "a location of the server's config")
	f.StringVar(&spec.Description, "description", "", "free text")
	f.BoolVar(&noWait, "no-wait", false, "print the operation's ID instead of waiting for it")
	return cmd
}

// newComputeTargetAttachCmd is `computetarget attach KIND` of the v1 dialect: the same request
// as `compute attach --type TYPE`, with v1's flag names (--username, --password,
// --private-key-file, --private-key-passphrase).
func newComputeTargetAttachCmd(g *globals, use, typ, short string) *cobra.Command {
	var fl attachFlags
	examples := map[string]string{
		"remote":     "--address 10.0.0.5 --username me --private-key-file ~/.ssh/id_ed25519",
		"hdinsight":  "--address mycluster-ssh.example.net --username sshuser --password '…'",
		"batch":      "--resource-id /subscriptions/SUB/resourceGroups/RG/providers/Microsoft.Batch/batchAccounts/mybatch",
		"databricks": "--resource-id /subscriptions/SUB/resourceGroups/RG/providers/Microsoft.Databricks/workspaces/ws --access-token dapi…",
		"adla":       "--resource-id /subscriptions/SUB/resourceGroups/RG/providers/Microsoft.DataLakeAnalytics/accounts/myadla",
		"kubernetes": "--kubeconfig ~/.kube/config --namespace ml",
		"slurm":      "--address login.hpc.example.org --username me --private-key-file ~/.ssh/id_ed25519",
	}
	cmd := &cobra.Command{
		Use:     use,
		Short:   short + " (v1 dialect; type " + typ + ")",
		Example: "  trainyard computetarget attach " + use + " --name my-" + use + " " + examples[use],
		Args:    cobra.NoArgs,
		RunE:    func(cmd *cobra.Command, args []string) error { return runAttach(cmd, g, fl, typ) },
	}
	f := cmd.Flags()
	f.StringVarP(&fl.name, "name", "n", "", "name: "+trainyard.ComputeNameRule)
	addAttachFlags(f, &fl, true)
	return cmd
}
