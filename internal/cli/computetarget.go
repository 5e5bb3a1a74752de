package cli

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

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
	var priority, user, password, sshKey string
	var tags []string
	var noWait bool
	cmd := &cobra.Command{
		Use:   "amlcompute",
		Short: "Create an autoscaling cluster (v1 dialect)",
		Long: `Create an autoscaling cluster with the flags of the v1 CLI (az ml computetarget create
amlcompute). They map onto the same settings as 'compute create': --vm-size is size,
--vm-priority is tier, --min-nodes and --max-nodes are min and max instances,
--idle-seconds-before-scaledown is the idle time before scale down (v1 default 1800 s), and
--admin-username, --admin-user-password and --admin-user-ssh-key are ssh_settings (the
password is stored sealed). The v1 flags of settings trainyard does not support yet
(--vnet-name, --vnet-resourcegroup-name, --subnet-name, --assign-identity,
--remote-login-port-public-access) are refused by name.`,
		Example: `  trainyard computetarget create amlcompute --name lowpriocluster --vm-size Standard_NC6 --max-nodes 5 --vm-priority lowpriority
  trainyard computetarget create amlcompute --name cpucluster --vm-size STANDARD_D2_V2 --max-nodes 2 \
      --admin-username azureuser --admin-user-ssh-key "$(cat ~/.ssh/id_ed25519.pub)" --tag team=vision`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			spec.Type = string(trainyard.TypeAmlCompute)
			if spec.Name == "" {
				return UsageError{errors.New("--name is required")}
			}
			f := cmd.Flags()
			if err := refuseUnsupported(f, v1Unsupported); err != nil {
				return err
			}
			if err := trainyard.ValidateComputeName(trainyard.TypeAmlCompute, spec.Name); err != nil {
				return err
			}
			if err := checkV1Scale(min, max, idle); err != nil {
				return err
			}
			if f.Changed("vm-priority") {
				t, err := tierFlag("--vm-priority", priority)
				if err != nil {
					return err
				}
				spec.Tier = string(t)
			}
			// The v1 defaults (max 4 nodes, 1800 s idle) differ from v2's, so they are always sent.
			spec.MinInstances, spec.MaxInstances = &min, &max
			spec.IdleTimeBeforeScaleDown = &api.Seconds{Duration: time.Duration(idle) * time.Second}
			if err := checkV1SSH(user, password, sshKey); err != nil {
				return err
			}
			if user != "" {
				spec.SSHSettings = &api.SSHSettings{AdminUsername: user, AdminPassword: password, SSHKeyValue: sshKey}
			}
			if len(tags) > 0 {
				t, err := keyValues("--tag", tags)
				if err != nil {
					return err
				}
				spec.Tags = t
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
	f.StringVarP(&spec.Name, "name", "n", "", "name: "+trainyard.ComputeNameRule)
	f.StringVarP(&spec.Size, "vm-size", "s", "", "VM size (default "+trainyard.DefaultSize+")")
	f.StringVar(&priority, "vm-priority", "", "dedicated or lowpriority (low_priority also accepted)")
	f.IntVar(&min, "min-nodes", 0, "nodes kept even when idle")
	f.IntVar(&max, "max-nodes", 4, "most nodes the cluster grows to")
	f.IntVar(&idle, "idle-seconds-before-scaledown", 1800, "seconds a node may sit idle before release")
	f.StringVar(&spec.Location, "location", "", "a location of the server's config")
	f.StringVar(&spec.Description, "description", "", "free text")
	f.StringArrayVar(&tags, "tag", nil, "key=value tag (repeat for more)")
	f.StringVar(&user, "admin-username", "", "admin user on the nodes (ssh_settings.admin_username)")
	f.StringVar(&password, "admin-user-password", "", "its password (3 of: lowercase, uppercase, digit, special); stored sealed")
	f.StringVar(&sshKey, "admin-user-ssh-key", "", "its SSH public key (the content of a .pub file)")
	for _, u := range v1Unsupported {
		f.String(u.flag, "", "not supported yet ("+u.key+")")
	}
	f.BoolVar(&noWait, "no-wait", false, "print the operation's ID instead of waiting for it")
	return cmd
}

// unsupportedFlag is a flag of the reference CLI whose setting trainyard does not support yet:
// it is refused by name rather than as an unknown flag.
type unsupportedFlag struct {
	flag string
	key  string // the compute YAML key it maps to
	why  string
}

// v1Unsupported are the flags of az ml computetarget create amlcompute that map to settings
// this server does not support yet.
var v1Unsupported = []unsupportedFlag{
	{"vnet-name", "network_settings", "virtual networks are not supported yet: nodes are reached through their agent"},
	{"vnet-resourcegroup-name", "network_settings", "virtual networks are not supported yet: nodes are reached through their agent"},
	{"subnet-name", "network_settings", "virtual networks are not supported yet: nodes are reached through their agent"},
	{"assign-identity", "identity", "managed identities are not supported yet"},
	{"remote-login-port-public-access", "ssh_public_access_enabled", "the SSH port of nodes is not managed yet"},
}

// refuseUnsupported refuses the first unsupported flag given, naming it.
func refuseUnsupported(f *pflag.FlagSet, flags []unsupportedFlag) error {
	for _, u := range flags {
		if f.Changed(u.flag) {
			return UsageError{fmt.Errorf("--%s (%s) is not supported: %s; remove --%s", u.flag, u.key, u.why, u.flag)}
		}
	}
	return nil
}

// checkV1Scale checks the scale flags of the v1 dialect, naming them as the user typed them.
func checkV1Scale(min, max, idle int) error {
	switch {
	case min < 0:
		return UsageError{fmt.Errorf("--min-nodes %d: must be 0 or more (default 0)", min)}
	case max < 0:
		return UsageError{fmt.Errorf("--max-nodes %d: must be 0 or more (default 4)", max)}
	case max < min:
		return UsageError{fmt.Errorf("--max-nodes %d is below --min-nodes %d: give --max-nodes %d or more, or a lower --min-nodes", max, min, min)}
	case idle < 0:
		return UsageError{fmt.Errorf("--idle-seconds-before-scaledown %d: must be 0 or more seconds (default 1800)", idle)}
	}
	return nil
}

// checkV1SSH applies the rules of ssh_settings to the v1 flags, naming them: a password or a
// key needs the user, the user needs one of them, and each must be well formed.
func checkV1SSH(user, password, key string) error {
	switch {
	case user == "" && (password != "" || key != ""):
		return UsageError{errors.New("--admin-username is required with --admin-user-password or --admin-user-ssh-key: they are the credentials of that user on the nodes")}
	case user != "" && password == "" && key == "":
		return UsageError{fmt.Errorf("--admin-username %q needs --admin-user-password or --admin-user-ssh-key (or both): how that user logs in", user)}
	case user == "":
		return nil
	}
	if err := trainyard.CheckUsername("--admin-username", user, trainyard.TypeAmlCompute); err != nil {
		return err
	}
	if password != "" {
		if err := trainyard.CheckAdminPassword("--admin-user-password", trainyard.NewSecret(password)); err != nil {
			return err
		}
	}
	if key != "" {
		return trainyard.CheckPublicKey("--admin-user-ssh-key", strings.TrimSpace(key))
	}
	return nil
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
