package cli_test

import (
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/api"
	"github.com/trainyard/trainyard/internal/keytest"
)

const canary = "canary-Pw-7319!"

// TestAttachDetach drives attach and detach through the CLI: flags, a YAML file, key files read
// here, the v1 dialect, the wrong verbs; and checks that no output, in any format, holds a
// credential.
func TestAttachDetach(t *testing.T) {
	isolate(t)
	s := newServer(t)
	dir := t.TempDir()
	key := keytest.OpenSSH(false)
	writeFile(t, filepath.Join(dir, "keys", "id_ed25519"), key)
	writeFile(t, filepath.Join(dir, "vm.yml"), `$schema: https://azuremlschemas.azureedge.net/latest/vmCompute.schema.json
name: file-vm
type: virtualmachine
address: gpu-box.example.org
ssh_settings:
  admin_username: azureuser
  ssh_private_key_file: keys/id_ed25519
  ssh_port: 2200
`)
	writeFile(t, filepath.Join(dir, "kubeconfig"), "clusters:\n- name: lab\n  cluster: {server: 'https://10.0.0.9:6443'}\nusers:\n- name: ml\n  user: {token: "+canary+"}\n")
	tests := []refusal{
		{
			name: "attach with flags and a password",
			args: []string{"compute", "attach", "--name", "myvm", "--type", "virtualmachine", "--address", "10.0.0.5", "--ssh-port", "2222",
				"--admin-username", "me", "--admin-password", canary, "--description", "the GPU box", "--tags", "team=vision"},
			wantOut: []string{"compute myvm attached: Succeeded, virtualmachine at 10.0.0.5:2222, user me; credentials: admin_password set"},
		},
		{
			name:    "attach a file whose key path is relative to it",
			args:    []string{"compute", "attach", "-f", filepath.Join(dir, "vm.yml")},
			wantOut: []string{"compute file-vm attached: Succeeded, virtualmachine at gpu-box.example.org:2200, user azureuser; credentials: ssh_private_key set"},
		},
		{
			name:    "attach kubernetes with a kubeconfig file",
			args:    []string{"compute", "attach", "--name", "k8s", "--type", "kubernetes", "--kubeconfig", filepath.Join(dir, "kubeconfig"), "--namespace", "ml"},
			wantOut: []string{"compute k8s attached", "credentials: kubeconfig set"},
		},
		{
			name:     "a key that does not parse is refused by the server",
			args:     []string{"compute", "attach", "--name", "vm3", "--type", "remote", "--address", "10.0.0.7", "--admin-username", "me", "--ssh-private-key-file", filepath.Join(dir, "vm.yml")},
			wantCode: 1, wantErr: []string{"the private key (not shown) is not PEM text"},
		},
		{
			name: "the v1 dialect",
			args: []string{"computetarget", "attach", "remote", "--name", "v1vm", "--address", "10.0.0.6", "--username", "me",
				"--private-key-file", filepath.Join(dir, "keys", "id_ed25519")},
			wantOut: []string{"compute v1vm attached", "credentials: ssh_private_key set"},
		},
		{
			name: "a missing key file is named before anything is sent",
			args: []string{"compute", "attach", "--name", "vm2", "--type", "remote", "--address", "10.0.0.7", "--admin-username", "me",
				"--ssh-private-key-file", filepath.Join(dir, "nope")},
			wantCode: 1, wantErr: []string{"ssh_settings.ssh_private_key_file " + filepath.Join(dir, "nope") + ": cannot read it: no such file"}, noRequests: true,
		},
		{
			name:     "attach of a managed type points at create",
			args:     []string{"compute", "attach", "--name", "cpu-cluster", "--type", "amlcompute"},
			wantCode: 1, wantErr: []string{"type amlcompute is created, not attached", "trainyard compute create --name cpu-cluster --type amlcompute"}, noRequests: true,
		},
		{
			name:     "create of an attached type points at attach",
			args:     []string{"compute", "create", "-f", filepath.Join(dir, "vm.yml")},
			wantCode: 1, wantErr: []string{`type "virtualmachine" is an attached type`, "trainyard compute attach -f " + filepath.Join(dir, "vm.yml")}, noRequests: true,
		},
		{
			name:     "the name rule is checked here",
			args:     []string{"compute", "attach", "--name", "vm-1", "--type", "virtualmachine", "--address", "h"},
			wantCode: 1, wantErr: []string{`"vm-1" is not valid for type virtualmachine`}, noRequests: true,
		},
		{
			name:    "show says a credential is set",
			args:    []string{"compute", "show", "--name", "myvm"},
			wantOut: []string{"attached:", "address:", "10.0.0.5", "ssh port:", "2222", "credentials:", "admin_password set", "description:", "the GPU box", "team=vision"},
		},
		{
			name:    "list",
			args:    []string{"compute", "list"},
			wantOut: []string{"myvm", "virtualmachine", "Succeeded", "k8s", "kubernetes"},
		},
		{
			name:     "delete of an attached target points at detach",
			args:     []string{"compute", "delete", "--name", "myvm"},
			wantCode: 1, wantErr: []string{"trainyard compute detach --name myvm"},
		},
		{
			name:    "detach",
			args:    []string{"compute", "detach", "--name", "myvm"},
			wantOut: []string{"compute myvm detached"},
		},
		{
			name:     "gone after detach",
			args:     []string{"compute", "show", "--name", "myvm"},
			wantCode: 1, wantErr: []string{`compute "myvm" not found`},
		},
		{
			name:    "v1 detach",
			args:    []string{"computetarget", "detach", "--name", "v1vm"},
			wantOut: []string{"compute v1vm detached"},
		},
	}
	for i := range tests {
		tests[i].check = func(t *testing.T, stdout, stderr string) { noCredentials(t, stdout+stderr, key) }
	}
	runRefusals(t, s, tests)
	// The key file was read here and its content sent; its path never was.
	var sent api.ComputeSpec
	if err := json.Unmarshal(s.body("POST /v1/workspaces/default/computes"), &sent); err != nil {
		t.Fatal(err)
	}
	if sent.SSHSettings == nil || sent.SSHSettings.SSHPrivateKey != key || sent.SSHSettings.SSHPrivateKeyFile != "" {
		t.Errorf("last attach sent ssh_settings %+v; want the key's content and no path", sent.SSHSettings)
	}
}

// noCredentials fails if out holds the canary or a run of the key.
func noCredentials(t *testing.T, out, key string) {
	t.Helper()
	if strings.Contains(out, canary) || strings.Contains(out, key[50:90]) {
		t.Errorf("output holds a credential:\n%s", out)
	}
}

// Every output format of every read command shows which credentials are set, never their values.
func TestCredentialsNeverPrinted(t *testing.T) {
	isolate(t)
	s := newServer(t)
	f := s.front()
	base := []string{"--server", f.URL, "--token", s.token}
	key := keytest.OpenSSH(true)
	keyFile := filepath.Join(t.TempDir(), "id_ed25519")
	writeFile(t, keyFile, key)
	for _, args := range [][]string{
		{"compute", "attach", "--name", "myvm", "--type", "virtualmachine", "--address", "10.0.0.5", "--admin-username", "me",
			"--ssh-private-key-file", keyFile, "--ssh-private-key-passphrase", canary},
		{"compute", "attach", "--name", "dbx", "--type", "databricks", "--resource-id",
			"/subscriptions/s/resourceGroups/rg/providers/Microsoft.Databricks/workspaces/w", "--access-token", canary},
		{"compute", "create", "--name", "ssh-cluster", "--type", "amlcompute", "--admin-username", "me", "--admin-password", "Str0ng-" + canary, "--no-wait"},
	} {
		if code, stdout, stderr := run(t, append(base, args...)...); code != 0 {
			t.Fatalf("%v: exit %d\n%s%s", args, code, stdout, stderr)
		}
	}
	for _, name := range []string{"myvm", "dbx", "ssh-cluster"} {
		for _, format := range []string{"table", "json", "yaml"} {
			code, stdout, stderr := run(t, append(base, "compute", "show", "--name", name, "-o", format)...)
			if code != 0 {
				t.Fatalf("show %s -o %s: exit %d\n%s", name, format, code, stderr)
			}
			noCredentials(t, stdout+stderr, key)
			var c api.Compute
			switch format {
			case "json":
				if err := json.Unmarshal([]byte(stdout), &c); err != nil {
					t.Fatal(err)
				}
			case "yaml":
				if err := yaml.Unmarshal([]byte(stdout), &c); err != nil {
					t.Fatal(err)
				}
			default:
				if !strings.Contains(stdout, "credentials:") || !strings.Contains(stdout, " set") {
					t.Errorf("show %s: %s\nwant a credentials line", name, stdout)
				}
				continue
			}
			if len(c.Properties.Credentials) == 0 {
				t.Errorf("show %s -o %s: no credentials named", name, format)
			}
		}
	}
	for _, format := range []string{"table", "json", "yaml"} {
		_, stdout, stderr := run(t, append(base, "compute", "list", "-o", format)...)
		noCredentials(t, stdout+stderr, key)
	}
}

func TestComputeInstanceCommands(t *testing.T) {
	isolate(t)
	s := newServer(t)
	f := s.front()
	base := []string{"--server", f.URL, "--token", s.token}
	code, stdout, stderr := run(t, append(base, "compute", "create", "--name", "dev-box", "--type", "instance",
		"--idle-time-before-shutdown-minutes", "45", "--no-wait")...)
	if code != 0 || !strings.Contains(stdout, "compute dev-box: Creating, instance Creating") {
		t.Fatalf("create: exit %d\n%s%s", code, stdout, stderr)
	}
	code, _, stderr = run(t, append(base, "compute", "stop", "--name", "dev-box", "--no-wait")...)
	if code != 1 || !strings.Contains(stderr, "is Creating; wait") {
		t.Errorf("stop while creating: exit %d, %s", code, stderr)
	}
	if err := s.db.SetComputeState(t.Context(), "default", "dev-box", trainyard.Succeeded, ""); err != nil {
		t.Fatal(err)
	}
	// No node is up, so a stop is done at once, and waiting for Stopped ends.
	code, stdout, stderr = run(t, append(base, "compute", "stop", "--name", "dev-box")...)
	if code != 0 || !strings.Contains(stdout, "instance Stopped") || !strings.Contains(stderr, "dev-box: Stopping… Succeeded") {
		t.Errorf("stop: exit %d\n%s%s", code, stdout, stderr)
	}
	code, stdout, _ = run(t, append(base, "compute", "list")...)
	if code != 0 || !regexpMatch(`dev-box +computeinstance +STANDARD_DS3_V2 +Stopped +0 +- +- +PT45M`, stdout) {
		t.Errorf("list: exit %d\n%s", code, stdout)
	}
	code, stdout, _ = run(t, append(base, "compute", "show", "--name", "dev-box")...)
	if code != 0 || !regexpMatch(`state: +Stopped`, stdout) || !regexpMatch(`idle time before shutdown: +PT45M`, stdout) {
		t.Errorf("show: exit %d\n%s", code, stdout)
	}
	code, stdout, stderr = run(t, append(base, "compute", "start", "--name", "dev-box", "--no-wait")...)
	if code != 0 || !strings.Contains(stdout, "instance Starting") {
		t.Errorf("start: exit %d\n%s%s", code, stdout, stderr)
	}
	code, _, stderr = run(t, append(base, "compute", "start", "--name", "dev-box", "--no-wait")...)
	if code != 1 || !strings.Contains(stderr, "already running") {
		t.Errorf("start twice: exit %d, %s", code, stderr)
	}
	code, _, stderr = run(t, append(base, "compute", "stop", "--name", "nope")...)
	if code != 1 || !strings.Contains(stderr, `"nope" not found`) {
		t.Errorf("stop nope: exit %d, %s", code, stderr)
	}
}

func regexpMatch(pattern, s string) bool { return regexp.MustCompile(pattern).MatchString(s) }
