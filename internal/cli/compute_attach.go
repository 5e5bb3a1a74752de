package cli

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/api"
	"github.com/trainyard/trainyard/internal/manifest"
)

// attachFlags are the flags of `compute attach` (SPEC §2.4) and the v1 `computetarget attach`.
type attachFlags struct {
	file, name, typ        string
	sets, tags, identities []string
	resourceID, address    string
	port                   int
	user, password         string
	keyFile, passphrase    string
	accessToken, namespace string
	kubeconfig, restURL    string
	description, identity  string
	noWait                 bool
}

func newComputeAttachCmd(g *globals) *cobra.Command {
	var fl attachFlags
	cmd := &cobra.Command{
		Use:   "attach",
		Short: "Attach a machine or service you run elsewhere (virtualmachine, kubernetes, slurm, …)",
		Long: `Attach a target that exists elsewhere: trainyard records where it is and how to reach it, and
never creates or deletes it (remove the record with 'compute detach'). Give an Azure ML v2
compute YAML (-f) or flags; flags override the file.

Each type takes exactly one way to say where it is:
  virtualmachine (remote), hdinsight (spark): address, or resource_id, or
      subscription_id + resource_group + vm_name|cluster_name; with ssh_settings:
      admin_username, and admin_password or ssh_private_key_file (+ passphrase), ssh_port (22)
  batch, datalakeanalytics (adla): resource_id, or resource_group + account_name
  databricks: resource_id, or resource_group + workspace_name; and access_token
  kubernetes: resource_id or kubeconfig_file (--kubeconfig); namespace (default "default")
  slurm: address with ssh_settings (sbatch over SSH), or slurmrestd_url with access_token

Credentials are sent to the server, which keeps them encrypted and never shows them again:
'compute show' says only which are set. A private key file is read here and its content sent;
the server checks that it parses. Running jobs on attached targets comes later.`,
		Example: `  trainyard compute attach --name myvm --type virtualmachine --address 10.0.0.5 \
      --admin-username azureuser --ssh-private-key-file ~/.ssh/id_ed25519
  trainyard compute attach -f vm-attach.yml
  trainyard compute attach --name k8s --type kubernetes --kubeconfig ~/.kube/config --namespace ml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return runAttach(cmd, g, fl, "") },
	}
	f := cmd.Flags()
	f.StringVarP(&fl.file, "file", "f", "", "Azure ML v2 compute YAML")
	f.StringArrayVar(&fl.sets, "set", nil, "override a key of the file: --set ssh_settings.ssh_port=2222")
	f.StringVarP(&fl.name, "name", "n", "", "name: "+trainyard.ComputeNameRule)
	f.StringVarP(&fl.typ, "type", "t", "", "virtualmachine (remote), hdinsight (spark), batch, databricks, datalakeanalytics (adla), kubernetes or slurm")
	addAttachFlags(f, &fl, false)
	f.StringVar(&fl.description, "description", "", "free text")
	f.StringArrayVar(&fl.tags, "tags", nil, "key=value tags")
	f.StringVar(&fl.identity, "identity-type", "", "managed identity (not supported yet)")
	f.StringArrayVar(&fl.identities, "user-assigned-identities", nil, "user-assigned identities (not supported yet)")
	f.BoolVar(&fl.noWait, "no-wait", false, "print the operation's ID instead of waiting (attaching is done at once)")
	return cmd
}

// addAttachFlags adds the flags that say where a target is and how to reach it. v1 names the
// SSH flags --username, --password, --private-key-file and --private-key-passphrase.
func addAttachFlags(f flagSet, fl *attachFlags, v1 bool) {
	user, pw, key, pass := "admin-username", "admin-password", "ssh-private-key-file", "ssh-private-key-passphrase"
	if v1 {
		user, pw, key, pass = "username", "password", "private-key-file", "private-key-passphrase"
	}
	f.StringVar(&fl.resourceID, "resource-id", "", "/subscriptions/…/resourceGroups/…/providers/{namespace}/{type}/{name}")
	f.StringVar(&fl.address, "address", "", "host name or IP address reached over SSH")
	f.IntVar(&fl.port, "ssh-port", trainyard.DefaultSSHPort, "SSH port")
	f.StringVar(&fl.user, user, "", "the account trainyard logs in as")
	f.StringVar(&fl.password, pw, "", "its password (or give a private key file)")
	f.StringVar(&fl.keyFile, key, "", "its private key file, read here and sent to the server (sealed there)")
	f.StringVar(&fl.passphrase, pass, "", "the passphrase of an encrypted private key")
	f.StringVar(&fl.accessToken, "access-token", "", "databricks: personal access token; slurm: slurmrestd JWT")
	f.StringVar(&fl.namespace, "namespace", "", "kubernetes namespace (default \"default\")")
	f.StringVar(&fl.kubeconfig, "kubeconfig", "", "kubernetes: kubeconfig file, read here and sent to the server (sealed there)")
	f.StringVar(&fl.restURL, "slurmrestd-url", "", "slurm: http(s)://host:port of slurmrestd")
}

// flagSet is the part of *pflag.FlagSet addAttachFlags uses.
type flagSet interface {
	StringVar(p *string, name, value, usage string)
	IntVar(p *int, name string, value int, usage string)
}

// runAttach attaches what the flags and the file say; typ, when not empty, is the type (the v1
// dialect names it in the command).
func runAttach(cmd *cobra.Command, g *globals, fl attachFlags, typ string) error {
	var spec api.ComputeSpec
	if fl.file != "" {
		data, err := os.ReadFile(fl.file)
		if err != nil {
			return err
		}
		if len(fl.sets) > 0 {
			if data, err = manifest.Set(data, fl.sets); err != nil {
				return fmt.Errorf("%s: --set: %w", fl.file, err)
			}
		}
		if err := manifest.Decode(data, &spec); err != nil {
			return fmt.Errorf("%s: %w", fl.file, err)
		}
	} else if len(fl.sets) > 0 {
		return UsageError{errors.New("--set needs a file (-f) to change")}
	}
	f := cmd.Flags()
	str := func(flag string, dst *string, v string) {
		if f.Changed(flag) {
			*dst = v
		}
	}
	str("name", &spec.Name, fl.name)
	str("type", &spec.Type, fl.typ)
	if typ != "" {
		spec.Type = typ
	}
	str("resource-id", &spec.ResourceID, fl.resourceID)
	str("address", &spec.Address, fl.address)
	str("access-token", &spec.AccessToken, fl.accessToken)
	str("namespace", &spec.Namespace, fl.namespace)
	str("kubeconfig", &spec.KubeconfigFile, absPath(fl.kubeconfig))
	str("slurmrestd-url", &spec.SlurmrestdURL, fl.restURL)
	str("description", &spec.Description, fl.description)
	ssh := spec.SSHSettings
	if ssh == nil {
		ssh = &api.SSHSettings{}
	}
	for _, n := range []string{"admin-username", "username"} {
		str(n, &ssh.AdminUsername, fl.user)
	}
	for _, n := range []string{"admin-password", "password"} {
		str(n, &ssh.AdminPassword, fl.password)
	}
	for _, n := range []string{"ssh-private-key-file", "private-key-file"} {
		str(n, &ssh.SSHPrivateKeyFile, absPath(fl.keyFile))
	}
	for _, n := range []string{"ssh-private-key-passphrase", "private-key-passphrase"} {
		str(n, &ssh.SSHPrivateKeyPassphrase, fl.passphrase)
	}
	if f.Changed("ssh-port") {
		ssh.SSHPort = &fl.port
	}
	if *ssh != (api.SSHSettings{}) {
		spec.SSHSettings = ssh
	}
	if fl.identity != "" || len(fl.identities) > 0 {
		spec.Identity = &api.Identity{Type: fl.identity}
	}
	if len(fl.tags) > 0 {
		t, err := keyValues("--tags", fl.tags)
		if err != nil {
			return err
		}
		spec.Tags = t
	}
	if spec.Name == "" || spec.Type == "" {
		return UsageError{errors.New("--name and --type are required (or name: and type: in the file given with -f)")}
	}
	t, err := trainyard.ParseComputeType(spec.Type)
	if err != nil {
		return err
	}
	if !t.Attached() {
		return fmt.Errorf("type %s is created, not attached: create it with: trainyard compute create --name %s --type %s", t, spec.Name, t)
	}
	if err := trainyard.ValidateComputeName(t, spec.Name); err != nil {
		return errors.New(trainyard.ErrorMessage(err))
	}
	if err := readClientFiles(&spec, fl.file); err != nil {
		return err
	}
	c, err := g.client()
	if err != nil {
		return err
	}
	out, err := c.AttachCompute(cmd.Context(), g.ws(), spec)
	if err != nil {
		return err
	}
	if !fl.noWait {
		// Attaching is done at once; this prints its operation's end.
		if out, err = g.wait(cmd.Context(), c, waitFor{compute: out.Name, op: out.Operation}); err != nil {
			return err
		}
	}
	return g.print(out, func(w io.Writer) {
		fmt.Fprintf(w, "compute %s attached: %s\n", out.Name, summary(out))
		if fl.noWait {
			printFollow(w, out.Operation)
		}
	})
}

// readClientFiles reads the files a spec names on this machine (a private key, a kubeconfig)
// and puts their content in the spec: the server never reads client paths. A relative path in
// a YAML file is relative to that file's folder; ~ is the home folder.
func readClientFiles(spec *api.ComputeSpec, yamlFile string) error {
	read := func(key, path string) (string, error) {
		p := path
		if rest, ok := strings.CutPrefix(p, "~/"); ok {
			if home, err := os.UserHomeDir(); err == nil {
				p = filepath.Join(home, rest)
			}
		} else if !filepath.IsAbs(p) && yamlFile != "" {
			p = filepath.Join(filepath.Dir(yamlFile), p)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return "", fmt.Errorf("%s %s: cannot read it: %w", key, path, unwrapPath(err))
		}
		if len(b) == 0 {
			return "", fmt.Errorf("%s %s: the file is empty", key, path)
		}
		return string(b), nil
	}
	var err error
	if ssh := spec.SSHSettings; ssh != nil && ssh.SSHPrivateKeyFile != "" {
		if ssh.SSHPrivateKey != "" {
			return errors.New("ssh_settings: give ssh_private_key_file or ssh_private_key, not both")
		}
		if ssh.SSHPrivateKey, err = read("ssh_settings.ssh_private_key_file", ssh.SSHPrivateKeyFile); err != nil {
			return err
		}
		ssh.SSHPrivateKeyFile = ""
	}
	if spec.KubeconfigFile != "" {
		if spec.Kubeconfig != "" {
			return errors.New("give kubeconfig_file (--kubeconfig) or kubeconfig, not both")
		}
		if spec.Kubeconfig, err = read("kubeconfig_file", spec.KubeconfigFile); err != nil {
			return err
		}
		spec.KubeconfigFile = ""
	}
	return nil
}

// absPath makes a path given on the command line absolute, so that it is not read relative to
// a YAML file; "" stays "".
func absPath(p string) string {
	if p == "" {
		return ""
	}
	if rest, ok := strings.CutPrefix(p, "~/"); ok {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, rest)
		}
	}
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// unwrapPath drops the path from an *os.PathError; the message names it already.
func unwrapPath(err error) error {
	if pe, ok := errors.AsType[*os.PathError](err); ok {
		return pe.Err
	}
	return err
}

func newComputeDetachCmd(g *globals) *cobra.Command {
	var name string
	var yes bool
	cmd := &cobra.Command{
		Use:   "detach",
		Short: "Remove the record of an attached target (the machine or service is not touched)",
		Long: `Remove the record of an attached target, its stored credentials included. The machine or service
it names is not touched. Managed targets (amlcompute, computeinstance) are deleted instead:
'trainyard compute delete'. A target with unfinished jobs is not detached.`,
		Example: "  trainyard compute detach --name myvm",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if name == "" {
				return UsageError{errors.New("--name is required")}
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			if err := c.DetachCompute(cmd.Context(), g.ws(), name); err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "compute %s detached; the machine or service itself was not touched\n", name)
			return nil
		},
	}
	cmd.Flags().StringVarP(&name, "name", "n", "", "compute name")
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation (detaching never asks today)")
	return cmd
}

// newComputePowerCmd is `compute start|stop|restart` of a compute instance.
func newComputePowerCmd(g *globals, action trainyard.InstanceAction) *cobra.Command {
	var name string
	var noWait bool
	var timeout time.Duration
	want := map[trainyard.InstanceAction]string{trainyard.ActionStart: "Running", trainyard.ActionStop: "Stopped", trainyard.ActionRestart: "Running"}[action]
	short := map[trainyard.InstanceAction]string{
		trainyard.ActionStart:   "Start a stopped compute instance: its node starts and queued jobs run",
		trainyard.ActionStop:    "Stop a compute instance: its node is released; jobs sent to it wait until it starts",
		trainyard.ActionRestart: "Restart a compute instance on a fresh node",
	}[action]
	cmd := &cobra.Command{
		Use:     string(action),
		Short:   short,
		Example: fmt.Sprintf("  trainyard compute %s --name my-instance", action),
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if name == "" {
				return UsageError{errors.New("--name is required")}
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			out, err := c.PowerCompute(cmd.Context(), g.ws(), name, string(action))
			if err != nil {
				return err
			}
			if !noWait {
				if out, err = g.wait(cmd.Context(), c, waitFor{compute: name, op: out.Operation, timeout: timeout}); err != nil {
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
	cmd.Flags().StringVarP(&name, "name", "n", "", "compute instance name")
	cmd.Flags().BoolVar(&noWait, "no-wait", false, "print the operation's ID instead of waiting until the instance is "+want)
	cmd.Flags().DurationVar(&timeout, "timeout", 10*time.Minute, "give up waiting after this long (0: never)")
	return cmd
}

// printAttached writes where an attached target is and which credentials it holds, never
// their values (the API has none to give).
func printAttached(w io.Writer, c api.Compute) {
	p := c.Properties
	for _, kv := range []struct{ k, v string }{
		{"resource id", p.ResourceID}, {"subscription id", p.SubscriptionID}, {"resource group", p.ResourceGroup},
		{"vm name", p.VMName}, {"cluster name", p.ClusterName}, {"account name", p.AccountName}, {"workspace name", p.WorkspaceName},
		{"address", p.Address}, {"slurmrestd url", p.SlurmrestdURL}, {"namespace", p.Namespace}, {"admin user", p.AdminUsername},
	} {
		if kv.v != "" {
			fmt.Fprintf(w, "%s:\t%s\n", kv.k, kv.v)
		}
	}
	if p.SSHPort != 0 {
		fmt.Fprintf(w, "ssh port:\t%d\n", p.SSHPort)
	}
	fmt.Fprintf(w, "credentials:\t%s\n", credentials(c))
	fmt.Fprintf(w, "jobs:\tnot yet supported on type %s\n", c.Type)
}

// credentials says which credentials a compute holds: "admin_password set", or "none".
func credentials(c api.Compute) string {
	if len(c.Properties.Credentials) == 0 {
		return "none"
	}
	return strings.Join(c.Properties.Credentials, ", ") + " set"
}

// where says in a few words where an attached target is.
func where(c api.Compute) string {
	p := c.Properties
	switch {
	case p.Address != "":
		return fmt.Sprintf("%s:%d", p.Address, p.SSHPort)
	case p.ResourceID != "":
		return p.ResourceID
	case p.SlurmrestdURL != "":
		return p.SlurmrestdURL
	case p.VMName+p.ClusterName+p.AccountName+p.WorkspaceName != "":
		return fmt.Sprintf("%s in resource group %s", p.VMName+p.ClusterName+p.AccountName+p.WorkspaceName, p.ResourceGroup)
	case slices.Contains(p.Credentials, "kubeconfig"):
		return "the cluster of its kubeconfig, namespace " + p.Namespace
	}
	return "?"
}

func joinTags(tags map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(tags)) {
		parts = append(parts, k+"="+tags[k])
	}
	return strings.Join(parts, ", ")
}
