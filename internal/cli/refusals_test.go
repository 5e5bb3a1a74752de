package cli_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/api"
)

// refusal is a command line the CLI must refuse, or take, with what it says.
type refusal struct {
	name       string
	args       []string
	token      string // default: the admin token
	wantCode   int
	wantOut    []string
	wantErr    []string
	notErr     []string // must not be in stderr
	noRequests bool     // refused before anything is sent
	within     time.Duration
	// check, when set, looks further at what the command printed.
	check func(t *testing.T, stdout, stderr string)
}

func runRefusals(t *testing.T, s *server, tests []refusal) {
	t.Helper()
	f := s.front()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := tt.token
			if tok == "" {
				tok = s.token
			}
			before, start := f.requests(), time.Now()
			code, stdout, stderr := run(t, append([]string{"--server", f.URL, "--token", tok}, tt.args...)...)
			if code != tt.wantCode {
				t.Errorf("exit code = %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.wantCode, stdout, stderr)
			}
			for _, w := range tt.wantOut {
				if !strings.Contains(stdout, w) {
					t.Errorf("stdout lacks %q:\n%s", w, stdout)
				}
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
			for _, w := range tt.notErr {
				if strings.Contains(stderr, w) {
					t.Errorf("stderr has %q:\n%s", w, stderr)
				}
			}
			if n := f.requests() - before; tt.noRequests && n > 0 {
				t.Errorf("the CLI sent %d request(s); it should have refused before sending any", n)
			}
			if tt.within > 0 && time.Since(start) > tt.within {
				t.Errorf("took %s, want at most %s", time.Since(start), tt.within)
			}
			if tt.check != nil {
				tt.check(t, stdout, stderr)
			}
		})
	}
}

// A missing or extra argument says what is missing, with the usage line and an example, not
// cobra's "requires at least 1 arg(s), only received 0".
func TestArgumentErrors(t *testing.T) {
	isolate(t)
	runRefusals(t, newServer(t), []refusal{
		{name: "a number flag that is no number", args: []string{"job", "submit", "--max-retries", "x", "--", "true"}, wantCode: 2, noRequests: true,
			wantErr: []string{`--max-retries "x": want a whole number`, "run 'trainyard job submit --help' for usage"}, notErr: []string{"strconv"}},
		{name: "node preempt without a node", args: []string{"node", "preempt", ""}, wantCode: 2, noRequests: true,
			wantErr: []string{"NODE is empty: give a node ID"}},
		{name: "job submit without a command", args: []string{"job", "submit", "--compute", "local"}, wantCode: 2, noRequests: true,
			wantErr: []string{"job submit needs the command to run after --: trainyard job submit --compute cpu-cluster --code examples/digits --stream -- python3",
				"usage: trainyard job submit [flags] -- COMMAND [ARG...]", "run 'trainyard job submit --help' for more"},
			notErr: []string{"arg(s)"}},
		{name: "job submit does not repeat variables", args: []string{"job", "submit", "-e", "API_KEY=hush-1234", "--name", "x"}, wantCode: 2, noRequests: true,
			wantErr: []string{"job submit needs the command to run after --"}, notErr: []string{"hush-1234"}},
		{name: "operation show without an ID", args: []string{"operation", "show"}, wantCode: 2, noRequests: true,
			wantErr: []string{"operation show needs the ID of the operation to show", "--no-wait", "trainyard operation show op-",
				"usage: trainyard operation show ID [flags]"},
			notErr: []string{"arg(s)"}},
		{name: "operation show with two IDs", args: []string{"operation", "show", "op-1", "op-2"}, wantCode: 2, noRequests: true,
			wantErr: []string{`operation show takes ID only, but got 2 arguments: "op-1" "op-2"`}},
		{name: "an argument to a command of flags", args: []string{"compute", "show", "cpu-cluster"}, wantCode: 2, noRequests: true,
			wantErr: []string{`compute show takes no arguments, but got "cpu-cluster"; give everything with flags, e.g. trainyard compute show --name cpu-cluster`}},
	})
}

// --tier and --vm-priority say the same thing: one of them, named in its errors.
func TestComputeCreateTier(t *testing.T) {
	isolate(t)
	s := newServer(t)
	runRefusals(t, s, []refusal{
		{name: "both", args: []string{"compute", "create", "--name", "x-cluster", "--type", "amlcompute", "--vm-priority", "lowpriority", "--tier", "dedicated", "--no-wait"},
			wantCode: 2, noRequests: true, wantErr: []string{"give --tier or --vm-priority, not both"}},
		{name: "both agreeing", args: []string{"compute", "create", "--name", "x-cluster", "--type", "amlcompute", "--vm-priority", "lowpriority", "--tier", "low_priority", "--no-wait"},
			wantCode: 2, noRequests: true, wantErr: []string{"give --tier or --vm-priority, not both"}},
		{name: "bad vm-priority", args: []string{"compute", "create", "--name", "x-cluster", "--type", "amlcompute", "--vm-priority", "bogus", "--no-wait"},
			wantCode: 2, noRequests: true, wantErr: []string{`--vm-priority "bogus": must be dedicated or lowpriority (low_priority also accepted)`},
			notErr: []string{`tier "bogus"`}},
		{name: "bad tier", args: []string{"compute", "create", "--name", "x-cluster", "--type", "amlcompute", "--tier", "bogus", "--no-wait"},
			wantCode: 2, noRequests: true, wantErr: []string{`--tier "bogus": must be dedicated or low_priority (lowpriority also accepted)`}},
		{name: "vm-priority alone", args: []string{"compute", "create", "--name", "lp-cluster", "--type", "amlcompute", "--vm-priority", "lowpriority", "--no-wait", "-o", "json"},
			wantOut: []string{`"vmPriority": "LowPriority"`}},
	})
}

// The v1 dialect takes the seed's flags, maps them onto ssh_settings, tags and description,
// refuses the ones of unsupported settings by name, and names its own flags in errors.
func TestComputeTargetCreateV1(t *testing.T) {
	isolate(t)
	s := newServer(t)
	const pw = "v1-Secret-pw9"
	v1 := func(args ...string) []string {
		return append([]string{"computetarget", "create", "amlcompute", "--name", "v1cl2", "--vm-size", "STANDARD_D2_V2", "--max-nodes", "2", "--no-wait"}, args...)
	}
	runRefusals(t, s, []refusal{
		{name: "negative idle seconds", args: v1("--idle-seconds-before-scaledown", "-3"), wantCode: 2, noRequests: true,
			wantErr: []string{"--idle-seconds-before-scaledown -3: must be 0 or more seconds"}, notErr: []string{"idle_time_before_scale_down"}},
		{name: "max below min", args: v1("--min-nodes", "3"), wantCode: 2, noRequests: true,
			wantErr: []string{"--max-nodes 2 is below --min-nodes 3"}, notErr: []string{"max_instances"}},
		{name: "negative min", args: v1("--min-nodes", "-1"), wantCode: 2, noRequests: true, wantErr: []string{"--min-nodes -1: must be 0 or more"}},
		{name: "bad vm-priority", args: v1("--vm-priority", "bogus"), wantCode: 2, noRequests: true,
			wantErr: []string{`--vm-priority "bogus": must be dedicated or lowpriority`}},
		{name: "a vnet", args: v1("--vnet-name", "net", "--subnet-name", "default"), wantCode: 2, noRequests: true,
			wantErr: []string{"--vnet-name (network_settings) is not supported", "remove --vnet-name"}, notErr: []string{"unknown flag"}},
		{name: "an identity", args: v1("--assign-identity", "[system]"), wantCode: 2, noRequests: true,
			wantErr: []string{"--assign-identity (identity) is not supported"}},
		{name: "a password without a user", args: v1("--admin-user-password", pw), wantCode: 2, noRequests: true,
			wantErr: []string{"--admin-username is required with --admin-user-password"}, notErr: []string{pw}},
		{name: "a weak password", args: v1("--admin-username", "me", "--admin-user-password", "weak"), wantCode: 1, noRequests: true,
			wantErr: []string{"--admin-user-password: the password (not shown)"}},
		{name: "a bad tag", args: v1("--tag", "novalue"), wantCode: 2, noRequests: true, wantErr: []string{`--tag "novalue": want key=value`}},
		// QA: "unknown flag: --admin-username".
		{name: "the seed's flags", args: v1("--admin-username", "me", "--admin-user-password", pw, "--tag", "team=vision", "--tag", "cost=ml",
			"--description", "v1 cluster"), wantOut: []string{"compute v1cl2: Creating"}, notErr: []string{pw}},
	})
	code, stdout, stderr := run(t, "--server", s.front().URL, "--token", s.token, "compute", "show", "--name", "v1cl2", "-o", "json")
	if code != 0 {
		t.Fatalf("show: exit %d\n%s", code, stderr)
	}
	var c api.Compute
	if err := json.Unmarshal([]byte(stdout), &c); err != nil {
		t.Fatal(err)
	}
	if c.Properties.AdminUsername != "me" || strings.Join(c.Properties.Credentials, ",") != "admin_password" ||
		c.Tags["team"] != "vision" || c.Tags["cost"] != "ml" || c.Description != "v1 cluster" || c.Properties.ScaleSettings.MaxNodeCount != 2 {
		t.Errorf("v1 cluster = %+v, want user me, admin_password set, two tags, the description and max 2", c)
	}
	if strings.Contains(stdout, pw) {
		t.Errorf("show repeats the password:\n%s", stdout)
	}
}

// compute wait refuses at once a --min-nodes the compute can never have, rather than sitting
// out its timeout.
func TestComputeWaitUnreachable(t *testing.T) {
	isolate(t)
	s := newServer(t)
	base := []string{"--server", s.front().URL, "--token", s.token}
	for _, args := range [][]string{
		{"compute", "create", "--name", "cpu-cluster", "--type", "amlcompute", "--max-instances", "2", "--no-wait"},
		{"compute", "attach", "--name", "vm1", "--type", "virtualmachine", "--address", "10.0.0.5", "--admin-username", "me", "--admin-password", "Str0ng!pw"},
	} {
		if code, stdout, stderr := run(t, append(base, args...)...); code != 0 {
			t.Fatalf("%v: exit %d\n%s%s", args, code, stdout, stderr)
		}
	}
	if err := s.db.SetComputeState(t.Context(), "default", "cpu-cluster", trainyard.Succeeded, ""); err != nil {
		t.Fatal(err)
	}
	runRefusals(t, s, []refusal{
		{name: "more than max", args: []string{"compute", "wait", "--name", "cpu-cluster", "--min-nodes", "5", "--timeout", "30s"}, wantCode: 1, within: 10 * time.Second,
			wantErr: []string{"--min-nodes 5: compute cpu-cluster has max_instances 2", "trainyard compute update --name cpu-cluster --max-instances 5"}},
		{name: "an attached target", args: []string{"compute", "wait", "--name", "vm1", "--min-nodes", "1", "--timeout", "30s"}, wantCode: 1, within: 10 * time.Second,
			wantErr: []string{"compute vm1 is an attached virtualmachine target, which has no nodes"}},
		{name: "negative", args: []string{"compute", "wait", "--name", "cpu-cluster", "--min-nodes", "-1"}, wantCode: 2, noRequests: true,
			wantErr: []string{"--min-nodes -1: must be 0 or more"}},
		{name: "an attached target's operation", args: []string{"compute", "wait", "--name", "vm1"}, wantOut: []string{"compute vm1"}},
	})
}
