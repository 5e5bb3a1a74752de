package apiserver_test

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/api"
	"github.com/trainyard/trainyard/internal/apiserver"
	"github.com/trainyard/trainyard/internal/keytest"
)

// canary is planted as every credential; no response, event or log line may ever hold it.
const canary = "canary-Pw-5150!"

const kubeconfig = `apiVersion: v1
kind: Config
clusters:
- name: lab
  cluster:
    server: https://10.0.0.9:6443
users:
- name: ml
  user:
    token: ` + canary + `
contexts:
- name: lab
  context: {cluster: lab, user: ml}
current-context: lab
`

func sshWith(user, pw string) *api.SSHSettings {
	return &api.SSHSettings{AdminUsername: user, AdminPassword: pw}
}

func port(n int) *int { return &n }

// logged is an env whose server logs at debug level into the returned buffer.
func loggedEnv(t *testing.T) (*env, *lockedBuffer) {
	var log lockedBuffer
	e := newEnvWith(t, func(s *apiserver.Server) {
		s.Log = slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	return e, &log
}

func TestAttachEveryKind(t *testing.T) {
	e, log := loggedEnv(t)
	key := keytest.OpenSSH(false)
	tests := []struct {
		spec  api.ComputeSpec
		check func(p api.ComputeProperties) bool
		creds []string
	}{
		{spec: api.ComputeSpec{Name: "vm-pw", Type: "virtualmachine", Address: "10.0.0.5", SSHSettings: &api.SSHSettings{AdminUsername: "azureuser", AdminPassword: canary, SSHPort: port(2222)}},
			check: func(p api.ComputeProperties) bool {
				return p.Address == "10.0.0.5" && p.SSHPort == 2222 && p.AdminUsername == "azureuser"
			},
			creds: []string{"admin_password"}},
		{spec: api.ComputeSpec{Name: "vm-key", Type: "remote", Address: "gpu-box.example.org", SSHSettings: &api.SSHSettings{AdminUsername: "me", SSHPrivateKey: key}},
			check: func(p api.ComputeProperties) bool { return p.Address == "gpu-box.example.org" && p.SSHPort == 22 },
			creds: []string{"ssh_private_key"}},
		{spec: api.ComputeSpec{Name: "vm-enc", Type: "virtualmachine", Address: "10.0.0.6",
			SSHSettings: &api.SSHSettings{AdminUsername: "me", SSHPrivateKey: keytest.OpenSSH(true), SSHPrivateKeyPassphrase: canary}},
			creds: []string{"ssh_private_key", "ssh_private_key_passphrase"}},
		{spec: api.ComputeSpec{Name: "vm-id", Type: "virtualmachine", ResourceID: "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1",
			SSHSettings: sshWith("me", canary)},
			check: func(p api.ComputeProperties) bool {
				return strings.HasSuffix(p.ResourceID, "/virtualMachines/vm1") && p.Address == ""
			},
			creds: []string{"admin_password"}},
		{spec: api.ComputeSpec{Name: "vm-triple", Type: "virtualmachine", SubscriptionID: "s1", ResourceGroup: "rg", VMName: "vm1", SSHSettings: sshWith("me", canary)},
			check: func(p api.ComputeProperties) bool {
				return p.SubscriptionID == "s1" && p.ResourceGroup == "rg" && p.VMName == "vm1"
			},
			creds: []string{"admin_password"}},
		{spec: api.ComputeSpec{Name: "spark", Type: "spark", Address: "mycluster-ssh.azurehdinsight.net", SSHSettings: sshWith("sshuser", canary)},
			check: func(p api.ComputeProperties) bool { return p.Address == "mycluster-ssh.azurehdinsight.net" }, creds: []string{"admin_password"}},
		{spec: api.ComputeSpec{Name: "hdi-triple", Type: "hdinsight", SubscriptionID: "s1", ResourceGroup: "rg", ClusterName: "c1", SSHSettings: sshWith("sshuser", canary)},
			check: func(p api.ComputeProperties) bool { return p.ClusterName == "c1" }, creds: []string{"admin_password"}},
		{spec: api.ComputeSpec{Name: "batch", Type: "batch", ResourceGroup: "rg", AccountName: "mybatch"},
			check: func(p api.ComputeProperties) bool { return p.AccountName == "mybatch" && p.ResourceGroup == "rg" }},
		{spec: api.ComputeSpec{Name: "dbx", Type: "databricks", ResourceID: "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Databricks/workspaces/w1", AccessToken: canary},
			check: func(p api.ComputeProperties) bool { return strings.HasSuffix(p.ResourceID, "/w1") }, creds: []string{"access_token"}},
		{spec: api.ComputeSpec{Name: "dbx-group", Type: "databricks", ResourceGroup: "rg", WorkspaceName: "w1", AccessToken: canary},
			check: func(p api.ComputeProperties) bool { return p.WorkspaceName == "w1" }, creds: []string{"access_token"}},
		{spec: api.ComputeSpec{Name: "lake", Type: "adla", ResourceID: "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.DataLakeAnalytics/accounts/a1"},
			check: func(p api.ComputeProperties) bool { return strings.HasSuffix(p.ResourceID, "/a1") }},
		{spec: api.ComputeSpec{Name: "aks", Type: "kubernetes", ResourceID: "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/k1"},
			check: func(p api.ComputeProperties) bool { return p.Namespace == "default" }},
		{spec: api.ComputeSpec{Name: "k8s", Type: "kubernetes", Kubeconfig: kubeconfig, Namespace: "ml-jobs"},
			check: func(p api.ComputeProperties) bool { return p.Namespace == "ml-jobs" }, creds: []string{"kubeconfig"}},
		{spec: api.ComputeSpec{Name: "hpc", Type: "slurm", Address: "login.hpc.example.org", SSHSettings: &api.SSHSettings{AdminUsername: "me", SSHPrivateKey: key}},
			check: func(p api.ComputeProperties) bool { return p.Address == "login.hpc.example.org" && p.SSHPort == 22 }, creds: []string{"ssh_private_key"}},
		{spec: api.ComputeSpec{Name: "hpc-rest", Type: "slurm", SlurmrestdURL: "https://slurm.example.org:6820", AccessToken: canary},
			check: func(p api.ComputeProperties) bool {
				return p.SlurmrestdURL == "https://slurm.example.org:6820" && p.SSHPort == 0
			},
			creds: []string{"access_token"}},
	}
	for _, tt := range tests {
		t.Run(tt.spec.Name, func(t *testing.T) {
			tt.spec.Description, tt.spec.Tags = "attached in a test", map[string]string{"team": "vision"}
			status, body := e.call(t, "POST", "/v1/workspaces/default/computes", e.admin, mustJSON(t, tt.spec))
			if status != http.StatusCreated {
				t.Fatalf("attach = %d %s, want 201", status, body)
			}
			for _, path := range []string{"", "/events"} {
				if path == "" {
					_, body = e.call(t, "GET", "/v1/workspaces/default/computes/"+tt.spec.Name, e.admin, "")
				} else {
					_, body = e.call(t, "GET", "/v1/workspaces/default/computes/"+tt.spec.Name+path, e.admin, "")
				}
				noSecret(t, body, key)
			}
			c, err := e.c.Compute(t.Context(), "default", tt.spec.Name)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := trainyard.ParseComputeType(tt.spec.Type)
			if !c.IsAttached || c.Type != string(want) || c.ProvisioningState != "Succeeded" || c.Location != "" ||
				c.Description != "attached in a test" || c.Tags["team"] != "vision" {
				t.Errorf("shown %+v; want an attached %s, Succeeded at once, no location, description and tags echoed", c, want)
			}
			p := c.Properties
			if tt.check != nil && !tt.check(p) {
				t.Errorf("properties %+v do not echo the spec", p)
			}
			if !slices.Equal(p.Credentials, tt.creds) {
				t.Errorf("credentials = %v, want %v", p.Credentials, tt.creds)
			}
			if p.VMSize != "" || p.VMPriority != "" || p.ScaleSettings != (api.ScaleSettings{}) {
				t.Errorf("an attached target shows cluster settings: %+v", p)
			}
		})
	}
	_, body := e.call(t, "GET", "/v1/workspaces/default/computes", e.admin, "")
	noSecret(t, body, key)
	if strings.Count(string(body), `"isAttachedCompute":true`) != len(tests) {
		t.Errorf("list = %s, want %d attached targets", body, len(tests))
	}
	noSecret(t, []byte(log.String()), key)
}

// noSecret fails if body holds the canary or a run of the key.
func noSecret(t *testing.T, body []byte, key string) {
	t.Helper()
	if strings.Contains(string(body), canary) {
		t.Errorf("the canary leaked: %s", body)
	}
	if run := key[50:90]; strings.Contains(string(body), run) {
		t.Errorf("the private key leaked: %s", body)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestAttachRejectsBadInput(t *testing.T) {
	e, log := loggedEnv(t)
	vm := func(f func(*api.ComputeSpec)) api.ComputeSpec {
		s := api.ComputeSpec{Name: "myvm", Type: "virtualmachine", Address: "10.0.0.5", SSHSettings: sshWith("azureuser", canary)}
		f(&s)
		return s
	}
	tests := []struct {
		name     string
		spec     api.ComputeSpec
		mentions []string
	}{
		{"no address", vm(func(s *api.ComputeSpec) { s.Address = "" }), []string{"type virtualmachine needs to know where the target is"}},
		{"two addressing modes", vm(func(s *api.ComputeSpec) {
			s.ResourceID = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/v"
		}), []string{"takes exactly one of", "resource_id and address"}},
		{"partial triple", vm(func(s *api.ComputeSpec) { s.Address, s.VMName = "", "v" }), []string{"subscription_id is required when vm_name is given"}},
		{"bad resource id", vm(func(s *api.ComputeSpec) { s.Address, s.ResourceID = "", "/subscriptions/s/vm" }),
			[]string{`resource_id "/subscriptions/s/vm"`, "9 starting with '/'"}},
		{"wrong provider", vm(func(s *api.ComputeSpec) {
			s.Address, s.ResourceID = "", "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Batch/batchAccounts/b"
		}), []string{"want Microsoft.Compute/virtualMachines"}},
		{"password and key", vm(func(s *api.ComputeSpec) { s.SSHSettings.SSHPrivateKey = keytest.PKCS8() }), []string{"not both"}},
		{"neither password nor key", vm(func(s *api.ComputeSpec) { s.SSHSettings.AdminPassword = "" }), []string{"needs admin_password or a private key"}},
		{"no user", vm(func(s *api.ComputeSpec) { s.SSHSettings.AdminUsername = "" }), []string{"ssh_settings.admin_username is required"}},
		{"no ssh settings", vm(func(s *api.ComputeSpec) { s.SSHSettings = nil }), []string{"ssh_settings.admin_username is required"}},
		{"port 0", vm(func(s *api.ComputeSpec) { s.SSHSettings.SSHPort = port(0) }), []string{"ssh_settings.ssh_port 0", "1 to 65535"}},
		{"port 65536", vm(func(s *api.ComputeSpec) { s.SSHSettings.SSHPort = port(65536) }), []string{"ssh_settings.ssh_port 65536"}},
		{"key does not parse", vm(func(s *api.ComputeSpec) { s.SSHSettings.AdminPassword, s.SSHSettings.SSHPrivateKey = "", canary }),
			[]string{"the private key (not shown) is not PEM text"}},
		{"public key as private key", vm(func(s *api.ComputeSpec) {
			s.SSHSettings.AdminPassword, s.SSHSettings.SSHPrivateKey = "", keytest.PublicLine()
		}),
			[]string{"is a public key"}},
		{"encrypted key without passphrase", vm(func(s *api.ComputeSpec) {
			s.SSHSettings.AdminPassword, s.SSHSettings.SSHPrivateKey = "", keytest.OpenSSH(true)
		}),
			[]string{"the private key is encrypted"}},
		{"key file path sent to the server", vm(func(s *api.ComputeSpec) {
			s.SSHSettings.AdminPassword, s.SSHSettings.SSHPrivateKeyFile = "", "/home/me/.ssh/id_rsa"
		}),
			[]string{"ssh_settings.ssh_private_key_file: is a path on your machine", "ssh_settings.ssh_private_key"}},
		{"address with a user part", vm(func(s *api.ComputeSpec) { s.Address = "me:" + canary + "@host" }), []string{"address (not shown) has a user part"}},
		{"address with a port", vm(func(s *api.ComputeSpec) { s.Address = "host:2222" }), []string{"--ssh-port 2222"}},
		{"size on an attached type", vm(func(s *api.ComputeSpec) { s.Size = "STANDARD_D2_V2" }),
			[]string{"size does not apply to type virtualmachine", "amlcompute, computeinstance"}},
		{"location on an attached type", vm(func(s *api.ComputeSpec) { s.Location = "local" }), []string{"location does not apply to type virtualmachine"}},
		{"max_instances on an attached type", vm(func(s *api.ComputeSpec) { s.MaxInstances = intp(2) }), []string{"max_instances does not apply to type virtualmachine"}},
		{"a public key on an attached vm", vm(func(s *api.ComputeSpec) { s.SSHSettings.SSHKeyValue = keytest.PublicLine() }),
			[]string{"ssh_settings.ssh_key_value does not apply to type virtualmachine"}},
		{"namespace on a vm", vm(func(s *api.ComputeSpec) { s.Namespace = "ml" }), []string{"namespace does not apply to type virtualmachine", "kubernetes"}},
		{"cluster_name on a vm", vm(func(s *api.ComputeSpec) { s.ClusterName = "c" }), []string{"cluster_name does not apply to type virtualmachine"}},
		{"identity", vm(func(s *api.ComputeSpec) { s.Identity = &api.Identity{Type: "system_assigned"} }), []string{"identity: this server does not support it yet"}},
		{"databricks without token", api.ComputeSpec{Name: "dbx", Type: "databricks", ResourceGroup: "rg", WorkspaceName: "w"},
			[]string{"access_token is required for type databricks"}},
		{"batch without account", api.ComputeSpec{Name: "bat", Type: "batch", ResourceGroup: "rg"}, []string{"account_name is required"}},
		{"batch with a token", api.ComputeSpec{Name: "bat", Type: "batch", ResourceGroup: "rg", AccountName: "a", AccessToken: canary},
			[]string{"access_token does not apply to type batch"}},
		{"kubernetes bad namespace", api.ComputeSpec{Name: "k8s", Type: "kubernetes", Kubeconfig: kubeconfig, Namespace: "ML"},
			[]string{`namespace "ML"`, trainyard.NamespaceRule}},
		{"kubeconfig that does not parse", api.ComputeSpec{Name: "k8s", Type: "kubernetes", Kubeconfig: "{" + canary},
			[]string{"kubeconfig: the file (not shown) is not a kubeconfig"}},
		{"kubeconfig without a cluster", api.ComputeSpec{Name: "k8s", Type: "kubernetes", Kubeconfig: "users: [{name: " + canary + "}]"},
			[]string{"names no cluster with a server URL"}},
		{"kubeconfig_file sent to the server", api.ComputeSpec{Name: "k8s", Type: "kubernetes", KubeconfigFile: "~/.kube/config"},
			[]string{"kubeconfig_file: is a path on your machine"}},
		{"slurm both modes", api.ComputeSpec{Name: "hpc", Type: "slurm", Address: "login", SlurmrestdURL: "http://slurm:6820", AccessToken: canary},
			[]string{"takes exactly one of address (+ ssh_settings), or slurmrestd_url"}},
		{"slurm url with a password", api.ComputeSpec{Name: "hpc", Type: "slurm", SlurmrestdURL: "https://me:" + canary + "@slurm:6820", AccessToken: canary},
			[]string{"credentials do not belong in the URL"}},
		{"synapse", api.ComputeSpec{Name: "pool", Type: "synapsespark"}, []string{`type "synapsespark" is not supported`}},
		{"name rule", vm(func(s *api.ComputeSpec) { s.Name = "my-vm-1" }), []string{`"my-vm-1" is not valid for type virtualmachine`, trainyard.ComputeNameRule}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := e.call(t, "POST", "/v1/workspaces/default/computes", e.admin, mustJSON(t, tt.spec))
			if status != http.StatusBadRequest {
				t.Errorf("attach = %d %s, want 400", status, body)
			}
			for _, m := range tt.mentions {
				if !strings.Contains(string(body), jsonEscape(m)) {
					t.Errorf("answer %s does not mention %q", body, m)
				}
			}
			noSecret(t, body, keytest.PKCS8())
		})
	}
	if list, err := e.c.Computes(t.Context(), "default"); err != nil || len(list) != 0 {
		t.Errorf("after refused attaches: %d computes, %v; want none", len(list), err)
	}
	noSecret(t, []byte(log.String()), keytest.PKCS8())
}

// jsonEscape writes s as it appears inside a JSON string.
func jsonEscape(s string) string {
	b, _ := json.Marshal(s)
	return string(b[1 : len(b)-1])
}

// Managed targets are deleted, attached ones detached; the wrong verb names the right one.
func TestDeleteOrDetach(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	mustCompute(t, e, api.ComputeSpec{Name: "cpu-cluster"})
	if _, err := e.c.AttachCompute(ctx, "default", api.ComputeSpec{Name: "myvm", Type: "virtualmachine", Address: "10.0.0.5", SSHSettings: sshWith("me", canary)}); err != nil {
		t.Fatal(err)
	}
	_, err := e.c.DeleteCompute(ctx, "default", "myvm")
	wantError(t, err, http.StatusBadRequest, trainyard.Invalid, `"myvm" is an attached virtualmachine`, "trainyard compute detach --name myvm")
	status, body := e.call(t, "DELETE", "/v1/workspaces/default/computes/myvm", e.admin, "") // no action: Delete
	if status != http.StatusBadRequest || !strings.Contains(string(body), "compute detach --name myvm") {
		t.Errorf("DELETE without action = %d %s, want 400 pointing at detach", status, body)
	}
	err = e.c.DetachCompute(ctx, "default", "cpu-cluster")
	wantError(t, err, http.StatusBadRequest, trainyard.Invalid, `"cpu-cluster" is a managed amlcompute`, "trainyard compute delete --name cpu-cluster")
	status, body = e.call(t, "DELETE", "/v1/workspaces/default/computes/myvm?action=Remove", e.admin, "")
	if status != http.StatusBadRequest || !strings.Contains(string(body), "use Delete") {
		t.Errorf("action=Remove = %d %s, want 400 naming Delete and Detach", status, body)
	}

	// The reference system's parameter name works too; detach is done when it answers.
	status, body = e.call(t, "DELETE", "/v1/workspaces/default/computes/myvm?underlyingResourceAction=detach", e.admin, "")
	if status != http.StatusNoContent {
		t.Fatalf("detach = %d %s, want 204", status, body)
	}
	if _, err := e.c.Compute(ctx, "default", "myvm"); !api.IsNotFound(err) {
		t.Errorf("show after detach = %v, want not found", err)
	}
	if _, err := e.c.AttachCompute(ctx, "default", api.ComputeSpec{Name: "myvm", Type: "virtualmachine", Address: "10.0.0.6", SSHSettings: sshWith("me", canary)}); err != nil {
		t.Errorf("attach again after detach: %v, want the name free", err)
	}
	err = e.c.DetachCompute(ctx, "default", "nope")
	wantError(t, err, http.StatusNotFound, trainyard.NotFound, `"nope"`)

	// A taken name points at the right verb.
	_, err = e.c.AttachCompute(ctx, "default", api.ComputeSpec{Name: "myvm", Type: "virtualmachine", Address: "10.0.0.7", SSHSettings: sshWith("me", canary)})
	wantError(t, err, http.StatusConflict, trainyard.Conflict, "trainyard compute detach --name myvm")
	evs, _ := e.c.Events(ctx, "default", "myvm", 0)
	for _, ev := range evs {
		if strings.Contains(ev.Message, canary) {
			t.Errorf("event %q holds the password", ev.Message)
		}
	}
	if len(evs) == 0 || !strings.Contains(evs[0].Message, "attached: virtualmachine, address 10.0.0.5 port 22, user me, admin_password set") {
		t.Errorf("events = %+v, want the attach first, without the password", evs)
	}
}

func TestJobsToAttachedTargetsRefused(t *testing.T) {
	e := newEnv(t)
	if _, err := e.c.AttachCompute(t.Context(), "default", api.ComputeSpec{Name: "k8s", Type: "kubernetes", Kubeconfig: kubeconfig}); err != nil {
		t.Fatal(err)
	}
	_, err := e.c.CreateJob(t.Context(), "default", api.JobSpec{Command: "python train.py", Compute: api.Named("azureml:k8s")})
	wantError(t, err, http.StatusBadRequest, trainyard.Invalid, `"k8s" is an attached kubernetes target`, "type kubernetes is not yet supported")
	if jobs, _ := e.c.Jobs(t.Context(), "default", "", "", 0); len(jobs) != 0 {
		t.Errorf("jobs after a refused submit = %d, want 0", len(jobs))
	}
}

func TestUpdateAttached(t *testing.T) {
	e := newEnv(t)
	if _, err := e.c.AttachCompute(t.Context(), "default", api.ComputeSpec{Name: "myvm", Type: "virtualmachine", Address: "10.0.0.5", SSHSettings: sshWith("me", canary)}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		body     string
		status   int
		mentions []string
	}{
		{`{"max_instances": 3}`, 400, []string{"max_instances does not apply", "only tags and description can change"}},
		{`{"address": "10.0.0.9"}`, 400, []string{"address cannot be changed", "detach the compute and attach it again"}},
		{`{"ssh_settings": {"admin_password": "x"}}`, 400, []string{"ssh_settings cannot be changed"}},
		{`{"description": "the GPU box", "tags": {"team": "vision"}}`, 200, []string{`"description":"the GPU box"`, `"admin_password"`}},
	}
	for _, tt := range tests {
		status, body := e.call(t, "PATCH", "/v1/workspaces/default/computes/myvm", e.admin, tt.body)
		if status != tt.status {
			t.Errorf("PATCH %s = %d %s, want %d", tt.body, status, body, tt.status)
		}
		for _, m := range tt.mentions {
			if !strings.Contains(string(body), m) {
				t.Errorf("PATCH %s = %s, want it to mention %q", tt.body, body, m)
			}
		}
		noSecret(t, body, keytest.PKCS8())
	}
	// The event says what changed; an attached target has no scale settings to speak of.
	evs, err := e.c.Events(t.Context(), "default", "myvm", 0)
	if err != nil || len(evs) == 0 {
		t.Fatalf("events = %+v, %v", evs, err)
	}
	if got, want := evs[len(evs)-1].Message, `updated: description "the GPU box"; tags team=vision`; got != want {
		t.Errorf("last event = %q, want %q", got, want)
	}
}

// ssh_settings of a cluster (SPEC §1.2 rules 1–2): stored sealed, shown as set.
func TestClusterSSHSettings(t *testing.T) {
	e := newEnv(t)
	pub := keytest.PublicLine()
	c := mustCompute(t, e, api.ComputeSpec{Name: "ssh-cluster", SSHSettings: &api.SSHSettings{AdminUsername: "azureuser", AdminPassword: "Str0ng-" + canary, SSHKeyValue: pub}})
	if p := c.Properties; p.AdminUsername != "azureuser" || p.SSHPublicKey != pub || !slices.Equal(p.Credentials, []string{"admin_password"}) || c.IsAttached {
		t.Errorf("created %+v, want the user, the public key and admin_password set", p)
	}
	_, body := e.call(t, "GET", "/v1/workspaces/default/computes/ssh-cluster", e.admin, "")
	noSecret(t, body, keytest.PKCS8())
	for _, tt := range []struct {
		ssh      *api.SSHSettings
		mentions string
	}{
		{&api.SSHSettings{AdminUsername: "u", AdminPassword: "example-password"}, "3 of these 4 classes"},
		{&api.SSHSettings{AdminPassword: "Str0ng!pw"}, "ssh_settings.admin_username is required"},
		{&api.SSHSettings{AdminUsername: "u"}, `user "u" needs admin_password or ssh_key_value`},
		{&api.SSHSettings{AdminUsername: "u", SSHKeyValue: "not a key"}, "ssh_settings.ssh_key_value"},
		{&api.SSHSettings{AdminUsername: "u", AdminPassword: "Str0ng!pw", SSHPort: port(22)}, "ssh_settings.ssh_port does not apply to type amlcompute"},
	} {
		_, err := e.c.CreateCompute(t.Context(), "default", api.ComputeSpec{Name: "bad-cluster", Type: "amlcompute", SSHSettings: tt.ssh})
		wantError(t, err, http.StatusBadRequest, trainyard.Invalid, tt.mentions)
	}
}
