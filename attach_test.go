package trainyard_test

import (
	"strings"
	"testing"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/internal/keytest"
)

func TestParseComputeType(t *testing.T) {
	tests := []struct {
		in      string
		want    trainyard.ComputeType
		wantErr []string
	}{
		{in: "amlcompute", want: trainyard.TypeAmlCompute},
		{in: "AmlCompute", want: trainyard.TypeAmlCompute},
		{in: "cluster", want: trainyard.TypeAmlCompute},
		{in: "computeinstance", want: trainyard.TypeComputeInstance},
		{in: "ComputeInstance", want: trainyard.TypeComputeInstance},
		{in: "instance", want: trainyard.TypeComputeInstance},
		{in: "virtualmachine", want: trainyard.TypeVirtualMachine},
		{in: "VirtualMachine", want: trainyard.TypeVirtualMachine},
		{in: "remote", want: trainyard.TypeVirtualMachine},
		{in: "hdinsight", want: trainyard.TypeHDInsight},
		{in: "HDInsight", want: trainyard.TypeHDInsight},
		{in: "spark", want: trainyard.TypeHDInsight},
		{in: "batch", want: trainyard.TypeBatch},
		{in: "databricks", want: trainyard.TypeDatabricks},
		{in: "datalakeanalytics", want: trainyard.TypeDataLakeAnalytics},
		{in: "DataLakeAnalytics", want: trainyard.TypeDataLakeAnalytics},
		{in: "adla", want: trainyard.TypeDataLakeAnalytics},
		{in: "kubernetes", want: trainyard.TypeKubernetes},
		{in: "Kubernetes", want: trainyard.TypeKubernetes},
		{in: "slurm", want: trainyard.TypeSlurm},
		{in: "local", wantErr: []string{`type "local"`, "--compute local"}},
		{in: "aks", wantErr: []string{`type "aks"`, "kubernetes"}},
		{in: "synapsespark", wantErr: []string{`type "synapsespark" is not supported`, "hdinsight (alias spark)"}},
		{in: "gpu", wantErr: []string{`type "gpu" is not a compute type`, "amlcompute (alias cluster)", "slurm"}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := trainyard.ParseComputeType(tt.in)
			if tt.wantErr == nil {
				if err != nil || got != tt.want {
					t.Errorf("ParseComputeType(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
				}
				return
			}
			wantInvalid(t, err, tt.wantErr...)
		})
	}
}

func TestAttachedFamily(t *testing.T) {
	for _, ty := range trainyard.ComputeTypes {
		managed := ty == trainyard.TypeAmlCompute || ty == trainyard.TypeComputeInstance
		if ty.Attached() == managed {
			t.Errorf("%s.Attached() = %v, want %v", ty, ty.Attached(), !managed)
		}
		if _, ok := trainyard.AttachRules[ty]; ok != ty.Attached() {
			t.Errorf("AttachRules[%s] present = %v, want %v", ty, ok, ty.Attached())
		}
	}
}

// wantInvalid checks that err is an Invalid error whose message has every fragment.
func wantInvalid(t *testing.T, err error, fragments ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("error = nil, want one mentioning %q", fragments)
	}
	if c := trainyard.ErrorCode(err); c != trainyard.Invalid {
		t.Errorf("code = %s, want invalid (%v)", c, err)
	}
	msg := trainyard.ErrorMessage(err)
	for _, f := range fragments {
		if !strings.Contains(msg, f) {
			t.Errorf("message %q does not mention %q", msg, f)
		}
	}
}

const (
	vmID   = "/subscriptions/0000-1111/resourceGroups/rg-ml/providers/Microsoft.Compute/virtualMachines/gpu-vm"
	canary = "canary-Pw-4711!"
)

func secret(v string) trainyard.Secret { return trainyard.NewSecret(v) }

func TestAttachConfigValidate(t *testing.T) {
	pw := secret(canary)
	key := secret(keytest.OpenSSH(false))
	vmAddr := trainyard.AttachConfig{Address: "10.0.0.5", SSHPort: 22, Username: "azureuser", Password: pw}
	with := func(a trainyard.AttachConfig, f func(*trainyard.AttachConfig)) trainyard.AttachConfig {
		f(&a)
		return a
	}
	tests := []struct {
		name    string
		typ     trainyard.ComputeType
		a       trainyard.AttachConfig
		wantErr []string // nil: valid
	}{
		// virtualmachine (SPEC §1.4): one addressing mode, a user, password xor key.
		{name: "vm by address and password", typ: trainyard.TypeVirtualMachine, a: vmAddr},
		{name: "vm by address and key", typ: trainyard.TypeVirtualMachine,
			a: with(vmAddr, func(a *trainyard.AttachConfig) { a.Password, a.PrivateKey = trainyard.Secret{}, key })},
		{name: "vm by encrypted key and passphrase", typ: trainyard.TypeVirtualMachine,
			a: with(vmAddr, func(a *trainyard.AttachConfig) {
				a.Password, a.PrivateKey, a.Passphrase = trainyard.Secret{}, secret(keytest.OpenSSH(true)), secret("pass")
			})},
		{name: "vm by resource id", typ: trainyard.TypeVirtualMachine,
			a: with(vmAddr, func(a *trainyard.AttachConfig) { a.Address, a.ResourceID = "", vmID })},
		{name: "vm by triple", typ: trainyard.TypeVirtualMachine,
			a: with(vmAddr, func(a *trainyard.AttachConfig) {
				a.Address, a.SubscriptionID, a.ResourceGroup, a.ResourceName = "", "0000-1111", "rg-ml", "gpu-vm"
			})},
		{name: "vm with no address", typ: trainyard.TypeVirtualMachine,
			a:       with(vmAddr, func(a *trainyard.AttachConfig) { a.Address = "" }),
			wantErr: []string{"type virtualmachine needs to know where the target is", "resource_id", "subscription_id + resource_group + vm_name", "address"}},
		{name: "vm with two modes", typ: trainyard.TypeVirtualMachine,
			a:       with(vmAddr, func(a *trainyard.AttachConfig) { a.ResourceID = vmID }),
			wantErr: []string{"takes exactly one of", "gives resource_id and address (+ ssh_settings)", "remove all but one"}},
		{name: "vm with a partial triple", typ: trainyard.TypeVirtualMachine,
			a:       with(vmAddr, func(a *trainyard.AttachConfig) { a.Address, a.ResourceGroup, a.ResourceName = "", "rg-ml", "gpu-vm" }),
			wantErr: []string{"subscription_id is required when resource_group and vm_name is given"}},
		{name: "vm without user", typ: trainyard.TypeVirtualMachine,
			a:       with(vmAddr, func(a *trainyard.AttachConfig) { a.Username = "" }),
			wantErr: []string{"ssh_settings.admin_username is required for type virtualmachine"}},
		{name: "vm user with a space", typ: trainyard.TypeVirtualMachine,
			a:       with(vmAddr, func(a *trainyard.AttachConfig) { a.Username = "azure user" }),
			wantErr: []string{`ssh_settings.admin_username "azure user"`, "no white space"}},
		{name: "vm password and key", typ: trainyard.TypeVirtualMachine,
			a:       with(vmAddr, func(a *trainyard.AttachConfig) { a.PrivateKey = key }),
			wantErr: []string{"give admin_password or a private key", "not both"}},
		{name: "vm neither password nor key", typ: trainyard.TypeVirtualMachine,
			a:       with(vmAddr, func(a *trainyard.AttachConfig) { a.Password = trainyard.Secret{} }),
			wantErr: []string{"needs admin_password or a private key", `user "azureuser"`}},
		{name: "vm passphrase without key", typ: trainyard.TypeVirtualMachine,
			a:       with(vmAddr, func(a *trainyard.AttachConfig) { a.Passphrase = secret("x") }),
			wantErr: []string{"ssh_private_key_passphrase is set without a private key"}},
		{name: "vm encrypted key without passphrase", typ: trainyard.TypeVirtualMachine,
			a: with(vmAddr, func(a *trainyard.AttachConfig) {
				a.Password, a.PrivateKey = trainyard.Secret{}, secret(keytest.OpenSSH(true))
			}),
			wantErr: []string{"the private key is encrypted", "ssh_private_key_passphrase"}},
		{name: "vm key that does not parse", typ: trainyard.TypeVirtualMachine,
			a:       with(vmAddr, func(a *trainyard.AttachConfig) { a.Password, a.PrivateKey = trainyard.Secret{}, secret("hello") }),
			wantErr: []string{"ssh_settings.ssh_private_key_file", "not PEM text", `(user "azureuser" at 10.0.0.5 port 22)`}},
		{name: "vm port 0", typ: trainyard.TypeVirtualMachine,
			a:       with(vmAddr, func(a *trainyard.AttachConfig) { a.SSHPort = 0 }),
			wantErr: []string{"ssh_settings.ssh_port 0", "1 to 65535"}},
		{name: "vm port too high", typ: trainyard.TypeVirtualMachine,
			a:       with(vmAddr, func(a *trainyard.AttachConfig) { a.SSHPort = 70000 }),
			wantErr: []string{"ssh_settings.ssh_port 70000", "1 to 65535"}},
		{name: "vm bad address", typ: trainyard.TypeVirtualMachine,
			a:       with(vmAddr, func(a *trainyard.AttachConfig) { a.Address = "my_host" }),
			wantErr: []string{`address "my_host"`, "host name"}},
		{name: "vm with a namespace", typ: trainyard.TypeVirtualMachine,
			a:       with(vmAddr, func(a *trainyard.AttachConfig) { a.Namespace = "ml" }),
			wantErr: []string{"namespace does not apply to type virtualmachine", "kubernetes"}},
		{name: "vm with an access token", typ: trainyard.TypeVirtualMachine,
			a:       with(vmAddr, func(a *trainyard.AttachConfig) { a.AccessToken = secret("t") }),
			wantErr: []string{"access_token does not apply to type virtualmachine"}},
		{name: "vm resource id of another provider", typ: trainyard.TypeVirtualMachine,
			a: with(vmAddr, func(a *trainyard.AttachConfig) {
				a.Address, a.ResourceID = "", "/subscriptions/s/resourceGroups/rg/providers/Microsoft.HDInsight/clusters/c"
			}),
			wantErr: []string{"its provider is Microsoft.HDInsight/clusters, want Microsoft.Compute/virtualMachines"}},

		// hdinsight (SPEC §1.5): the rules of a VM, its own provider.
		{name: "hdinsight by resource id", typ: trainyard.TypeHDInsight,
			a: with(vmAddr, func(a *trainyard.AttachConfig) {
				a.Address, a.ResourceID = "", "/subscriptions/s/resourceGroups/rg/providers/Microsoft.HDInsight/clusters/c"
			})},
		{name: "hdinsight by address", typ: trainyard.TypeHDInsight,
			a: with(vmAddr, func(a *trainyard.AttachConfig) { a.Address = "mycluster-ssh.azurehdinsight.net" })},
		{name: "hdinsight with a vm id", typ: trainyard.TypeHDInsight,
			a:       with(vmAddr, func(a *trainyard.AttachConfig) { a.Address, a.ResourceID = "", vmID }),
			wantErr: []string{"want Microsoft.HDInsight/clusters"}},

		// batch, databricks, datalakeanalytics (SPEC §1.6–§1.8): resource id xor group + name.
		{name: "batch by resource id", typ: trainyard.TypeBatch,
			a: trainyard.AttachConfig{ResourceID: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Batch/batchAccounts/b"}},
		{name: "batch by group and account", typ: trainyard.TypeBatch, a: trainyard.AttachConfig{ResourceGroup: "rg", ResourceName: "b"}},
		{name: "batch without account", typ: trainyard.TypeBatch, a: trainyard.AttachConfig{ResourceGroup: "rg"},
			wantErr: []string{"account_name is required when resource_group is given"}},
		{name: "batch with both", typ: trainyard.TypeBatch,
			a: trainyard.AttachConfig{ResourceGroup: "rg", ResourceName: "b",
				ResourceID: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Batch/batchAccounts/b"},
			wantErr: []string{"takes exactly one of"}},
		{name: "batch by address", typ: trainyard.TypeBatch, a: trainyard.AttachConfig{Address: "h"},
			wantErr: []string{"address does not apply to type batch"}},
		{name: "batch with ssh settings", typ: trainyard.TypeBatch, a: trainyard.AttachConfig{ResourceGroup: "rg", ResourceName: "b", Username: "u"},
			wantErr: []string{"ssh_settings does not apply to type batch"}},
		{name: "databricks with token", typ: trainyard.TypeDatabricks,
			a: trainyard.AttachConfig{ResourceGroup: "rg", ResourceName: "ws", AccessToken: secret("dapi-canary")}},
		{name: "databricks without token", typ: trainyard.TypeDatabricks, a: trainyard.AttachConfig{ResourceGroup: "rg", ResourceName: "ws"},
			wantErr: []string{"access_token is required for type databricks"}},
		{name: "databricks token with space", typ: trainyard.TypeDatabricks,
			a:       trainyard.AttachConfig{ResourceGroup: "rg", ResourceName: "ws", AccessToken: secret("dapi canary")},
			wantErr: []string{"access_token: the token (not shown) contains white space"}},
		{name: "databricks resource id", typ: trainyard.TypeDatabricks,
			a: trainyard.AttachConfig{AccessToken: secret("t"), ResourceID: "/subscriptions/s/resourceGroups/rg/providers/microsoft.databricks/WORKSPACES/ws"}},
		{name: "adla by resource id", typ: trainyard.TypeDataLakeAnalytics,
			a: trainyard.AttachConfig{ResourceID: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.DataLakeAnalytics/accounts/a"}},
		{name: "adla resource id too long", typ: trainyard.TypeDataLakeAnalytics,
			a:       trainyard.AttachConfig{ResourceID: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.DataLakeAnalytics/accounts/a/x"},
			wantErr: []string{"it has 10 '/'-separated parts, want 9"}},

		// kubernetes: resource id xor kubeconfig; the namespace rule.
		{name: "kubernetes by arc id", typ: trainyard.TypeKubernetes,
			a: trainyard.AttachConfig{Namespace: "default", ResourceID: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Kubernetes/connectedClusters/k"}},
		{name: "kubernetes by aks id", typ: trainyard.TypeKubernetes,
			a: trainyard.AttachConfig{Namespace: "ml-jobs", ResourceID: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/k"}},
		{name: "kubernetes by kubeconfig", typ: trainyard.TypeKubernetes, a: trainyard.AttachConfig{Namespace: "default", Kubeconfig: secret("clusters: []")}},
		{name: "kubernetes bad namespace", typ: trainyard.TypeKubernetes, a: trainyard.AttachConfig{Namespace: "ML_Jobs", Kubeconfig: secret("x")},
			wantErr: []string{`namespace "ML_Jobs"`, trainyard.NamespaceRule}},
		{name: "kubernetes namespace ending in -", typ: trainyard.TypeKubernetes, a: trainyard.AttachConfig{Namespace: "ml-", Kubeconfig: secret("x")},
			wantErr: []string{`namespace "ml-"`}},
		{name: "kubernetes both", typ: trainyard.TypeKubernetes,
			a: trainyard.AttachConfig{Namespace: "default", Kubeconfig: secret("x"),
				ResourceID: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Kubernetes/connectedClusters/k"},
			wantErr: []string{"takes exactly one of resource_id, or kubeconfig"}},
		{name: "kubernetes by group", typ: trainyard.TypeKubernetes, a: trainyard.AttachConfig{Namespace: "default", ResourceGroup: "rg"},
			wantErr: []string{"resource_group does not apply to type kubernetes"}},

		// slurm: address with an SSH account xor slurmrestd with a token.
		{name: "slurm over ssh", typ: trainyard.TypeSlurm, a: trainyard.AttachConfig{Address: "login.hpc.example.org", SSHPort: 22, Username: "me", PrivateKey: key}},
		{name: "slurm over rest", typ: trainyard.TypeSlurm, a: trainyard.AttachConfig{SlurmrestdURL: "https://slurm.example.org:6820", AccessToken: secret("jwt")}},
		{name: "slurm rest without token", typ: trainyard.TypeSlurm, a: trainyard.AttachConfig{SlurmrestdURL: "https://slurm.example.org:6820"},
			wantErr: []string{"access_token is required for type slurm", "scontrol token"}},
		{name: "slurm ssh with token", typ: trainyard.TypeSlurm,
			a:       trainyard.AttachConfig{Address: "login", SSHPort: 22, Username: "me", Password: pw, AccessToken: secret("jwt")},
			wantErr: []string{"access_token does not apply to type slurm reached by address"}},
		{name: "slurm rest with ssh settings", typ: trainyard.TypeSlurm,
			a:       trainyard.AttachConfig{SlurmrestdURL: "http://slurm:6820", AccessToken: secret("jwt"), Username: "me"},
			wantErr: []string{"ssh_settings does not apply to type slurm reached by slurmrestd_url"}},
		{name: "slurm rest url with a password", typ: trainyard.TypeSlurm,
			a:       trainyard.AttachConfig{SlurmrestdURL: "https://me:" + canary + "@slurm:6820", AccessToken: secret("jwt")},
			wantErr: []string{`slurmrestd_url "https://slurm:6820"`, "credentials do not belong in the URL"}},
		{name: "slurm rest url without scheme", typ: trainyard.TypeSlurm,
			a:       trainyard.AttachConfig{SlurmrestdURL: "slurm:6820", AccessToken: secret("jwt")},
			wantErr: []string{`slurmrestd_url "slurm:6820"`, "http(s)://host:port"}},
		{name: "slurm by resource id", typ: trainyard.TypeSlurm, a: trainyard.AttachConfig{ResourceID: vmID},
			wantErr: []string{"resource_id does not apply to type slurm"}},

		{name: "not an attached type", typ: trainyard.TypeAmlCompute, a: vmAddr, wantErr: []string{"not an attached type"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.a.Validate(tt.typ)
			if tt.wantErr == nil {
				if err != nil {
					t.Errorf("Validate() = %v, want nil", err)
				}
				return
			}
			wantInvalid(t, err, tt.wantErr...)
			msg := err.Error()
			for _, s := range []trainyard.Secret{tt.a.Password, tt.a.PrivateKey, tt.a.Passphrase, tt.a.AccessToken, tt.a.Kubeconfig} {
				if v := s.Reveal(); len(v) > 3 && strings.Contains(msg, v) || strings.Contains(msg, canary) {
					t.Errorf("the message %q repeats a secret", msg)
				}
			}
		})
	}
}

func TestCheckResourceID(t *testing.T) {
	tests := []struct {
		id      string
		wantErr string
	}{
		{vmID, ""},
		{strings.ToLower(vmID), ""}, // ARM compares keywords, namespace and type without case
		{"subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm", "want 9 starting with '/'"},
		{"/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines", "it has 8 '/'-separated parts"},
		{"/subscription/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm", `part 1 is "subscription", want "subscriptions"`},
		{"/subscriptions/s/resourcegroup/rg/providers/Microsoft.Compute/virtualMachines/vm", `part 3 is "resourcegroup"`},
		{"/subscriptions/s/resourceGroups/rg/provider/Microsoft.Compute/virtualMachines/vm", `part 5 is "provider"`},
		{"/subscriptions//resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm", "a part is empty"},
		{"/subscriptions/s/resourceGroups/r g/providers/Microsoft.Compute/virtualMachines/vm", "white space"},
		{"/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/disks/vm", "its provider is Microsoft.Compute/disks"},
	}
	for _, tt := range tests {
		err := trainyard.CheckResourceID(trainyard.TypeVirtualMachine, tt.id)
		if tt.wantErr == "" {
			if err != nil {
				t.Errorf("CheckResourceID(%q) = %v, want nil", tt.id, err)
			}
			continue
		}
		wantInvalid(t, err, tt.wantErr, "/subscriptions/{subscription}/resourceGroups/{group}/providers/Microsoft.Compute/virtualMachines/{name}")
	}
}

func TestCheckAddress(t *testing.T) {
	tests := []struct {
		addr    string
		wantErr string
	}{
		{"10.0.0.5", ""},
		{"fe80::1", ""},
		{"gpu-box.example.org", ""},
		{"gpu-box.example.org.", ""},
		{"localhost", ""},
		{"gpu-box:2222", "give the port in ssh_settings.ssh_port (--ssh-port 2222)"},
		{"ssh://gpu-box", "without a scheme"},
		{"-gpu", "not starting or ending in '-'"},
		{"a..b", "label 1 to 63"},
		{strings.Repeat("a", 64) + ".org", "label 1 to 63"},
		{"gpu box", "must be a host name"},
	}
	for _, tt := range tests {
		err := trainyard.CheckAddress(tt.addr)
		if tt.wantErr == "" {
			if err != nil {
				t.Errorf("CheckAddress(%q) = %v, want nil", tt.addr, err)
			}
			continue
		}
		wantInvalid(t, err, tt.wantErr)
	}
	// A user part may carry a password: the value is never repeated.
	err := trainyard.CheckAddress("me:" + canary + "@gpu-box")
	wantInvalid(t, err, "address (not shown) has a user part", "ssh_settings.admin_username")
	if strings.Contains(err.Error(), canary) {
		t.Errorf("CheckAddress() = %v: repeats the password", err)
	}
}

func TestCheckNamespace(t *testing.T) {
	for _, ok := range []string{"default", "ml", "a", "ml-jobs-2", strings.Repeat("a", 63)} {
		if err := trainyard.CheckNamespace(ok); err != nil {
			t.Errorf("CheckNamespace(%q) = %v, want nil", ok, err)
		}
	}
	for _, bad := range []string{"", "ML", "-ml", "ml-", "ml_jobs", "ml.jobs", strings.Repeat("a", 64)} {
		wantInvalid(t, trainyard.CheckNamespace(bad), "namespace", trainyard.NamespaceRule)
	}
}

func TestCredentialNames(t *testing.T) {
	a := trainyard.AttachConfig{Password: secret("p"), PrivateKey: secret("k"), Passphrase: secret("x"), AccessToken: secret("t"), Kubeconfig: secret("c")}
	got := strings.Join(a.CredentialNames(), ",")
	if want := "admin_password,ssh_private_key,ssh_private_key_passphrase,access_token,kubeconfig"; got != want {
		t.Errorf("CredentialNames() = %s, want %s", got, want)
	}
	if got := (trainyard.AttachConfig{Username: "me"}).CredentialNames(); got != nil {
		t.Errorf("CredentialNames() of none = %v, want nil", got)
	}
}
