package apiserver

import (
	"slices"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/api"
)

// computeFromSpec validates a create or attach request and fills its defaults. A managed type
// becomes a record in state Creating, which the autoscaler provisions; an attached type is
// recorded Succeeded at once (connection checks come with the connectors).
func (s *Server) computeFromSpec(workspace string, spec api.ComputeSpec) (trainyard.ComputeTarget, error) {
	c := trainyard.ComputeTarget{Workspace: workspace, Name: spec.Name, Description: spec.Description, Tags: spec.Tags}
	if spec.Name == "" {
		return c, trainyard.Errorf(trainyard.Invalid, "name is required: give --name or a name: key")
	}
	if spec.Type == "" {
		return c, trainyard.Errorf(trainyard.Invalid, "type is required: use --type amlcompute, computeinstance, or an attached type (%s)", trainyard.TypeList())
	}
	t, err := trainyard.ParseComputeType(spec.Type)
	if err != nil {
		return c, err
	}
	c.Type = t
	if err := trainyard.ValidateComputeName(t, spec.Name); err != nil {
		return c, err
	}
	if err := checkSpecKeys(t, spec); err != nil {
		return c, err
	}
	if err := trainyard.CheckTags(spec.Tags); err != nil {
		return c, err
	}
	if t.Attached() {
		return attachFromSpec(c, spec)
	}
	return s.managedFromSpec(c, spec)
}

var (
	managedTypes  = []trainyard.ComputeType{trainyard.TypeAmlCompute, trainyard.TypeComputeInstance}
	clusterOnly   = []trainyard.ComputeType{trainyard.TypeAmlCompute}
	instanceOnly  = []trainyard.ComputeType{trainyard.TypeComputeInstance}
	sshAttached   = []trainyard.ComputeType{trainyard.TypeVirtualMachine, trainyard.TypeHDInsight, trainyard.TypeSlurm}
	armAttached   = []trainyard.ComputeType{trainyard.TypeVirtualMachine, trainyard.TypeHDInsight, trainyard.TypeBatch, trainyard.TypeDatabricks, trainyard.TypeDataLakeAnalytics}
	notYet        = "this server does not support it yet (local nodes are reached through their agent and have no managed identity); remove the key"
	clientPathWhy = "is a path on your machine: the CLI reads the file and sends its content (%s); the server never reads client files. Use the CLI, or send the content"
)

// specKeys are the keys not every type takes: the types that do, or why none does yet. A key
// set for a type that does not take it is refused by name, never ignored.
var specKeys = []struct {
	key   string
	set   func(api.ComputeSpec) bool
	types []trainyard.ComputeType
	why   string // when no type takes it
}{
	{key: "identity", set: func(s api.ComputeSpec) bool { return s.Identity != nil }, why: notYet},
	{key: "network_settings", set: func(s api.ComputeSpec) bool { return s.NetworkSettings != nil }, why: notYet},
	{key: "ssh_public_access_enabled", set: func(s api.ComputeSpec) bool { return s.SSHPublicAccessEnabled != nil }, why: notYet},
	{key: "enable_node_public_ip", set: func(s api.ComputeSpec) bool { return s.EnableNodePublicIP != nil }, why: notYet},
	{key: "schedules", set: func(s api.ComputeSpec) bool { return s.Schedules != nil },
		why: "start/stop schedules are not supported yet; remove the key, and start or stop the instance with: trainyard compute start|stop --name NAME"},
	{key: "create_on_behalf_of", set: func(s api.ComputeSpec) bool { return s.CreateOnBehalfOf != nil }, why: "not supported yet: an instance belongs to whoever creates it; remove the key"},
	{key: "setup_scripts", set: func(s api.ComputeSpec) bool { return s.SetupScripts != nil }, why: "not supported yet; remove the key"},
	{key: "custom_applications", set: func(s api.ComputeSpec) bool { return s.CustomApplications != nil }, why: "not supported yet; remove the key"},
	{key: "enable_sso", set: func(s api.ComputeSpec) bool { return s.EnableSSO != nil }, why: "not supported yet; remove the key"},
	{key: "enable_root_access", set: func(s api.ComputeSpec) bool { return s.EnableRootAccess != nil }, why: "not supported yet; remove the key"},
	{key: "release_quota_on_stop", set: func(s api.ComputeSpec) bool { return s.ReleaseQuotaOnStop != nil }, why: "not supported yet; remove the key"},
	{key: "enable_os_patching", set: func(s api.ComputeSpec) bool { return s.EnableOSPatching != nil }, why: "not supported yet; remove the key"},
	{key: "ssh_settings.ssh_private_key_file", set: func(s api.ComputeSpec) bool { return s.SSHSettings != nil && s.SSHSettings.SSHPrivateKeyFile != "" },
		why: strings.Replace(clientPathWhy, "%s", "ssh_settings.ssh_private_key", 1)},
	{key: "kubeconfig_file", set: func(s api.ComputeSpec) bool { return s.KubeconfigFile != "" },
		why: strings.Replace(clientPathWhy, "%s", "kubeconfig", 1)},

	{key: "location", set: func(s api.ComputeSpec) bool { return s.Location != "" }, types: managedTypes},
	{key: "size", set: func(s api.ComputeSpec) bool { return s.Size != "" }, types: managedTypes},
	{key: "tier", set: func(s api.ComputeSpec) bool { return s.Tier != "" }, types: clusterOnly},
	{key: "min_instances", set: func(s api.ComputeSpec) bool { return s.MinInstances != nil }, types: clusterOnly},
	{key: "max_instances", set: func(s api.ComputeSpec) bool { return s.MaxInstances != nil }, types: clusterOnly},
	{key: "idle_time_before_scale_down", set: func(s api.ComputeSpec) bool { return s.IdleTimeBeforeScaleDown != nil }, types: clusterOnly},
	{key: "idle_time_before_shutdown_minutes", set: func(s api.ComputeSpec) bool { return s.IdleTimeBeforeShutdownMinutes != nil }, types: instanceOnly},
	{key: "idle_time_before_shutdown", set: func(s api.ComputeSpec) bool { return s.IdleTimeBeforeShutdown != "" }, types: instanceOnly},

	{key: "ssh_settings", set: func(s api.ComputeSpec) bool { return s.SSHSettings != nil },
		types: slices.Concat(managedTypes, sshAttached)},
	{key: "ssh_settings.admin_username", set: func(s api.ComputeSpec) bool { return s.SSHSettings != nil && s.SSHSettings.AdminUsername != "" },
		types: slices.Concat(clusterOnly, sshAttached)},
	{key: "ssh_settings.admin_password", set: func(s api.ComputeSpec) bool { return s.SSHSettings != nil && s.SSHSettings.AdminPassword != "" },
		types: slices.Concat(clusterOnly, sshAttached)},
	{key: "ssh_settings.ssh_key_value", set: func(s api.ComputeSpec) bool { return s.SSHSettings != nil && s.SSHSettings.SSHKeyValue != "" },
		types: managedTypes},
	{key: "ssh_settings.ssh_port", set: func(s api.ComputeSpec) bool { return s.SSHSettings != nil && s.SSHSettings.SSHPort != nil }, types: sshAttached},
	{key: "ssh_settings.ssh_private_key", set: func(s api.ComputeSpec) bool { return s.SSHSettings != nil && s.SSHSettings.SSHPrivateKey != "" }, types: sshAttached},
	{key: "ssh_settings.ssh_private_key_passphrase", set: func(s api.ComputeSpec) bool {
		return s.SSHSettings != nil && s.SSHSettings.SSHPrivateKeyPassphrase != ""
	}, types: sshAttached},

	{key: "resource_id", set: func(s api.ComputeSpec) bool { return s.ResourceID != "" },
		types: append(slices.Clone(armAttached), trainyard.TypeKubernetes)},
	{key: "subscription_id", set: func(s api.ComputeSpec) bool { return s.SubscriptionID != "" }, types: armAttached},
	{key: "resource_group", set: func(s api.ComputeSpec) bool { return s.ResourceGroup != "" }, types: armAttached},
	{key: "vm_name", set: func(s api.ComputeSpec) bool { return s.VMName != "" }, types: []trainyard.ComputeType{trainyard.TypeVirtualMachine}},
	{key: "cluster_name", set: func(s api.ComputeSpec) bool { return s.ClusterName != "" }, types: []trainyard.ComputeType{trainyard.TypeHDInsight}},
	{key: "account_name", set: func(s api.ComputeSpec) bool { return s.AccountName != "" },
		types: []trainyard.ComputeType{trainyard.TypeBatch, trainyard.TypeDataLakeAnalytics}},
	{key: "workspace_name", set: func(s api.ComputeSpec) bool { return s.WorkspaceName != "" }, types: []trainyard.ComputeType{trainyard.TypeDatabricks}},
	{key: "address", set: func(s api.ComputeSpec) bool { return s.Address != "" }, types: sshAttached},
	{key: "access_token", set: func(s api.ComputeSpec) bool { return s.AccessToken != "" },
		types: []trainyard.ComputeType{trainyard.TypeDatabricks, trainyard.TypeSlurm}},
	{key: "namespace", set: func(s api.ComputeSpec) bool { return s.Namespace != "" }, types: []trainyard.ComputeType{trainyard.TypeKubernetes}},
	{key: "kubeconfig", set: func(s api.ComputeSpec) bool { return s.Kubeconfig != "" }, types: []trainyard.ComputeType{trainyard.TypeKubernetes}},
	{key: "slurmrestd_url", set: func(s api.ComputeSpec) bool { return s.SlurmrestdURL != "" }, types: []trainyard.ComputeType{trainyard.TypeSlurm}},
}

// checkSpecKeys refuses, by name, a key that type t does not take.
func checkSpecKeys(t trainyard.ComputeType, spec api.ComputeSpec) error {
	for _, k := range specKeys {
		if !k.set(spec) {
			continue
		}
		if k.types == nil {
			return trainyard.Errorf(trainyard.Invalid, "%s: %s", k.key, k.why)
		}
		if !slices.Contains(k.types, t) {
			names := make([]string, len(k.types))
			for i, kt := range k.types {
				names[i] = string(kt)
			}
			return trainyard.Errorf(trainyard.Invalid, "%s does not apply to type %s; only %s take it. Remove the key", k.key, t, strings.Join(names, ", "))
		}
	}
	return nil
}

// managedFromSpec fills a cluster or an instance: its location and size, and its own settings.
func (s *Server) managedFromSpec(c trainyard.ComputeTarget, spec api.ComputeSpec) (trainyard.ComputeTarget, error) {
	var err error
	if c.Tier, err = trainyard.ParseTier(spec.Tier); err != nil {
		return c, err
	}
	c.Location = spec.Location
	if c.Location == "" {
		c.Location = s.DefaultLocation
	}
	sizes, ok := s.Sizes(c.Location)
	if !ok {
		return c, trainyard.Errorf(trainyard.Invalid, "location %q is not configured on this server; leave location out to use %q", c.Location, s.DefaultLocation)
	}
	size := spec.Size
	if size == "" {
		size = trainyard.DefaultSize
	}
	vm, ok := trainyard.LookupSize(sizes, size)
	if !ok {
		return c, trainyard.Errorf(trainyard.Invalid, "size %q is not offered in location %q; choose one of: %s (trainyard compute list-sizes)",
			size, c.Location, strings.Join(trainyard.SizeNames(sizes), ", "))
	}
	c.Size = vm.Name
	if ssh := spec.SSHSettings; ssh != nil {
		c.SSH = &trainyard.SSHSettings{AdminUsername: ssh.AdminUsername, AdminPassword: trainyard.NewSecret(ssh.AdminPassword), PublicKey: strings.TrimSpace(ssh.SSHKeyValue)}
		if err := c.SSH.Validate(c.Type); err != nil {
			return c, err
		}
	}
	if c.Type == trainyard.TypeComputeInstance {
		return instanceFromSpec(c, spec)
	}
	c.Scale = trainyard.ScaleSettings{MaxNodes: trainyard.DefaultMaxNodes, IdleTimeBeforeScaleDown: trainyard.DefaultIdleTimeBeforeScaleDown}
	if spec.MinInstances != nil {
		c.Scale.MinNodes = *spec.MinInstances
	}
	if spec.MaxInstances != nil {
		c.Scale.MaxNodes = *spec.MaxInstances
	}
	if spec.IdleTimeBeforeScaleDown != nil {
		c.Scale.IdleTimeBeforeScaleDown = spec.IdleTimeBeforeScaleDown.Duration
	}
	return c, c.Scale.Validate()
}

// instanceFromSpec fills a compute instance: one node, running from the start, at most one
// job at a time, and its idle shutdown.
func instanceFromSpec(c trainyard.ComputeTarget, spec api.ComputeSpec) (trainyard.ComputeTarget, error) {
	c.Tier = trainyard.Dedicated
	c.Scale = trainyard.ScaleSettings{MaxNodes: 1}
	c.Instance = &trainyard.InstanceSettings{Power: trainyard.PowerRunning}
	switch {
	case spec.IdleTimeBeforeShutdownMinutes != nil && spec.IdleTimeBeforeShutdown != "":
		return c, trainyard.Errorf(trainyard.Invalid, "idle_time_before_shutdown_minutes and idle_time_before_shutdown say the same thing; give one (minutes preferred)")
	case spec.IdleTimeBeforeShutdownMinutes != nil:
		c.Instance.IdleTimeBeforeShutdown = time.Duration(*spec.IdleTimeBeforeShutdownMinutes) * time.Minute
		if *spec.IdleTimeBeforeShutdownMinutes == 0 {
			return c, trainyard.Errorf(trainyard.Invalid, "idle_time_before_shutdown_minutes 0: must be 15 to 4320 minutes, or left out to never shut down when idle")
		}
	case spec.IdleTimeBeforeShutdown != "":
		d, err := api.ParseDuration(spec.IdleTimeBeforeShutdown)
		if err != nil {
			return c, trainyard.Errorf(trainyard.Invalid, "idle_time_before_shutdown: %v", err)
		}
		if d <= 0 {
			return c, trainyard.Errorf(trainyard.Invalid, "idle_time_before_shutdown %q: must be 15 minutes to 3 days, e.g. PT30M", spec.IdleTimeBeforeShutdown)
		}
		c.Instance.IdleTimeBeforeShutdown = d
	}
	return c, c.Instance.Validate()
}

// attachFromSpec fills an attached target from its keys and validates it (SPEC §1.4–§1.8).
func attachFromSpec(c trainyard.ComputeTarget, spec api.ComputeSpec) (trainyard.ComputeTarget, error) {
	t := c.Type
	a := &trainyard.AttachConfig{
		ResourceID: spec.ResourceID, SubscriptionID: spec.SubscriptionID, ResourceGroup: spec.ResourceGroup,
		ResourceName: firstSet(spec.VMName, spec.ClusterName, spec.AccountName, spec.WorkspaceName),
		Address:      spec.Address, Namespace: spec.Namespace, SlurmrestdURL: spec.SlurmrestdURL,
		AccessToken: trainyard.NewSecret(spec.AccessToken), Kubeconfig: trainyard.NewSecret(spec.Kubeconfig),
	}
	if ssh := spec.SSHSettings; ssh != nil {
		a.Username = ssh.AdminUsername
		a.Password = trainyard.NewSecret(ssh.AdminPassword)
		a.PrivateKey = trainyard.NewSecret(ssh.SSHPrivateKey)
		a.Passphrase = trainyard.NewSecret(ssh.SSHPrivateKeyPassphrase)
		if ssh.SSHPort != nil {
			a.SSHPort = *ssh.SSHPort
			if a.SSHPort == 0 {
				return c, trainyard.Errorf(trainyard.Invalid, "ssh_settings.ssh_port 0: must be 1 to 65535 (default %d)", trainyard.DefaultSSHPort)
			}
		}
	}
	// Defaults: an SSH port for what is reached over SSH, the default namespace.
	if trainyard.AttachRules[t].SSH && a.SSHPort == 0 && (t != trainyard.TypeSlurm || a.Address != "") && a.Username != "" {
		a.SSHPort = trainyard.DefaultSSHPort
	}
	if t == trainyard.TypeKubernetes && a.Namespace == "" {
		a.Namespace = trainyard.DefaultNamespace
	}
	if err := a.Validate(t); err != nil {
		return c, err
	}
	if a.Kubeconfig.IsSet() {
		if err := checkKubeconfig(a.Kubeconfig); err != nil {
			return c, err
		}
	}
	c.Attach = a
	c.State = trainyard.Succeeded
	return c, nil
}

func firstSet(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// checkKubeconfig checks that a kubeconfig parses and names a cluster with a server. Its
// errors never repeat the content, which holds credentials.
func checkKubeconfig(k trainyard.Secret) error {
	var kc struct {
		Clusters []struct {
			Name    string `json:"name"`
			Cluster struct {
				Server string `json:"server"`
			} `json:"cluster"`
		} `json:"clusters"`
	}
	if err := yaml.Unmarshal([]byte(k.Reveal()), &kc); err != nil {
		return trainyard.Errorf(trainyard.Invalid, "kubeconfig: the file (not shown) is not a kubeconfig: it does not parse as YAML; give the file kubectl uses, e.g. ~/.kube/config")
	}
	if len(kc.Clusters) == 0 || kc.Clusters[0].Cluster.Server == "" {
		return trainyard.Errorf(trainyard.Invalid, "kubeconfig: the file (not shown) names no cluster with a server URL (clusters[].cluster.server); give the file kubectl uses, e.g. ~/.kube/config")
	}
	return nil
}
