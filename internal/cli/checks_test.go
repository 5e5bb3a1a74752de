package cli

import (
	"errors"
	"strings"
	"testing"

	"github.com/trainyard/trainyard/api"
	"github.com/trainyard/trainyard/internal/keytest"
)

// wantErr checks err against want: nil for none, else every part must be in its message, and
// usage tells whether it must be a UsageError (exit 2).
func wantErr(t *testing.T, what string, err error, usage bool, want ...string) {
	t.Helper()
	if len(want) == 0 {
		if err != nil {
			t.Errorf("%s = %v, want nil", what, err)
		}
		return
	}
	if err == nil {
		t.Fatalf("%s = nil, want an error mentioning %q", what, want)
	}
	for _, w := range want {
		if !strings.Contains(message(err), w) {
			t.Errorf("%s = %q, want it to mention %q", what, message(err), w)
		}
	}
	if _, ok := errors.AsType[UsageError](err); ok != usage {
		t.Errorf("%s: usage error = %v, want %v", what, ok, usage)
	}
}

func TestTierFlag(t *testing.T) {
	tests := []struct {
		flag, value string
		want        string   // the tier
		wantErr     []string // nil: valid
	}{
		{flag: "--tier", value: "dedicated", want: "dedicated"},
		{flag: "--tier", value: "low_priority", want: "low_priority"},
		{flag: "--tier", value: "LowPriority", want: "low_priority"},
		{flag: "--vm-priority", value: "lowpriority", want: "low_priority"},
		{flag: "--vm-priority", value: "low_priority", want: "low_priority"},
		{flag: "--vm-priority", value: "Dedicated", want: "dedicated"},
		// QA: the error said `tier "bogus"` for --vm-priority bogus.
		{flag: "--vm-priority", value: "bogus", wantErr: []string{`--vm-priority "bogus": must be dedicated or lowpriority (low_priority also accepted)`}},
		{flag: "--tier", value: "spot", wantErr: []string{`--tier "spot": must be dedicated or low_priority (lowpriority also accepted)`}},
	}
	for _, tt := range tests {
		got, err := tierFlag(tt.flag, tt.value)
		wantErr(t, "tierFlag("+tt.flag+" "+tt.value+")", err, true, tt.wantErr...)
		if err == nil && string(got) != tt.want {
			t.Errorf("tierFlag(%s %s) = %q, want %q", tt.flag, tt.value, got, tt.want)
		}
	}
}

func TestCheckV1Scale(t *testing.T) {
	tests := []struct {
		name           string
		min, max, idle int
		wantErr        []string
	}{
		{name: "v1 defaults", min: 0, max: 4, idle: 1800},
		{name: "min equals max", min: 2, max: 2, idle: 0},
		// QA: said "idle_time_before_scale_down -3s: must be 0 or more seconds".
		{name: "negative idle", max: 4, idle: -3, wantErr: []string{"--idle-seconds-before-scaledown -3: must be 0 or more seconds"}},
		{name: "negative min", min: -1, max: 4, idle: 1800, wantErr: []string{"--min-nodes -1: must be 0 or more"}},
		{name: "negative max", max: -2, idle: 1800, wantErr: []string{"--max-nodes -2: must be 0 or more"}},
		{name: "max below min", min: 3, max: 2, idle: 1800, wantErr: []string{"--max-nodes 2 is below --min-nodes 3", "--max-nodes 3 or more"}},
	}
	for _, tt := range tests {
		wantErr(t, tt.name, checkV1Scale(tt.min, tt.max, tt.idle), true, tt.wantErr...)
	}
}

func TestCheckV1SSH(t *testing.T) {
	pub := keytest.PublicLine()
	tests := []struct {
		name                string
		user, password, key string
		usage               bool
		wantErr             []string
	}{
		{name: "none"},
		{name: "user and password", user: "me", password: "Str0ng!pw"},
		{name: "user and key", user: "me", key: pub + "\n"},
		{name: "password without user", password: "Str0ng!pw", usage: true,
			wantErr: []string{"--admin-username is required with --admin-user-password or --admin-user-ssh-key"}},
		{name: "user alone", user: "me", usage: true, wantErr: []string{`--admin-username "me" needs --admin-user-password or --admin-user-ssh-key`}},
		{name: "weak password", user: "me", password: "weakpw", wantErr: []string{"--admin-user-password: the password (not shown) has characters of 1 of the 4 classes"}},
		{name: "private key for a public key", user: "me", key: keytest.PKCS8(), wantErr: []string{"--admin-user-ssh-key: this is a private key"}},
		{name: "user with a space", user: "m e", password: "Str0ng!pw", wantErr: []string{`--admin-username "m e"`}},
	}
	for _, tt := range tests {
		err := checkV1SSH(tt.user, tt.password, tt.key)
		wantErr(t, tt.name, err, tt.usage, tt.wantErr...)
		if err != nil && tt.password != "" && strings.Contains(err.Error(), tt.password) {
			t.Errorf("%s: %v repeats the password", tt.name, err)
		}
	}
}

func TestReachable(t *testing.T) {
	cluster := api.Compute{Name: "cpu-cluster", Type: "amlcompute", Properties: api.ComputeProperties{ScaleSettings: api.ScaleSettings{MaxNodeCount: 2}}}
	empty := api.Compute{Name: "empty", Type: "amlcompute"}
	instance := api.Compute{Name: "my-instance", Type: "computeinstance"}
	vm := api.Compute{Name: "vm1", Type: "virtualmachine", IsAttached: true}
	tests := []struct {
		name     string
		c        api.Compute
		minNodes int
		wantErr  []string
	}{
		{name: "no nodes asked of a cluster", c: cluster},
		{name: "up to max", c: cluster, minNodes: 2},
		// QA: waited its whole timeout.
		{name: "over max", c: cluster, minNodes: 5, wantErr: []string{"--min-nodes 5: compute cpu-cluster has max_instances 2",
			"give --min-nodes 2 or less", "trainyard compute update --name cpu-cluster --max-instances 5"}},
		{name: "a cluster of max 0", c: empty, minNodes: 1, wantErr: []string{"max_instances 0", "leave --min-nodes out"}},
		{name: "the one node of an instance", c: instance, minNodes: 1},
		{name: "two nodes of an instance", c: instance, minNodes: 2, wantErr: []string{"--min-nodes 2: compute my-instance is a compute instance, a single node", "--min-nodes 1"}},
		{name: "nodes of an attached target", c: vm, minNodes: 1, wantErr: []string{"--min-nodes 1: compute vm1 is an attached virtualmachine target", "no nodes", "leave --min-nodes out"}},
		{name: "an attached target's operation", c: vm},
	}
	for _, tt := range tests {
		wantErr(t, tt.name, reachable(tt.c, tt.minNodes), false, tt.wantErr...)
	}
}

func TestArgsOfUse(t *testing.T) {
	tests := []struct {
		use          string
		placeholders string
		afterDashes  bool
	}{
		{"show ID", "ID", false},
		{"submit [flags] -- COMMAND [ARG...]", "COMMAND [ARG...]", true},
		{"list", "", false},
		{"show [NAME:VERSION | NAME@latest]", "[NAME:VERSION | NAME@latest]", false},
	}
	for _, tt := range tests {
		p, d := argsOfUse(tt.use)
		if strings.Join(p, " ") != tt.placeholders || d != tt.afterDashes {
			t.Errorf("argsOfUse(%q) = %q, %v; want %q, %v", tt.use, p, d, tt.placeholders, tt.afterDashes)
		}
	}
}
