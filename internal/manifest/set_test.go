package manifest_test

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/internal/manifest"
)

func TestSet(t *testing.T) {
	const doc = `# A job.
command: echo hi # say hi
resources:
  instance_count: 1 # nodes
`
	tests := []struct {
		name string
		in   string
		sets []string
		want string
	}{
		{name: "replace keeps comments", in: doc, sets: []string{"resources.instance_count=2"},
			want: "# A job.\ncommand: echo hi # say hi\nresources:\n  instance_count: 2 # nodes\n"},
		{name: "new key and new maps", in: doc, sets: []string{"tags.team=vision", "a.b.c=x"},
			want: doc + "tags:\n  team: vision\na:\n  b:\n    c: x\n"},
		{name: "later assignment wins", in: doc, sets: []string{"command=a", "command=b"},
			want: "# A job.\ncommand: b # say hi\nresources:\n  instance_count: 1 # nodes\n"},
		{name: "scalar types", in: "inputs: {}\n", sets: []string{
			"inputs.epochs=5", "inputs.lr=0.01", "inputs.debug=true", "inputs.name=abc",
			"inputs.version='1'", "inputs.expr=a: b", "inputs.empty=", "inputs.none=null",
			"inputs.cmd=python train.py --lr=0.1",
		}, want: "inputs: {epochs: 5, lr: 0.01, debug: true, name: abc, version: '1', expr: 'a: b', " +
			"empty: \"\", none: null, cmd: python train.py --lr=0.1}\n"},
		{name: "null becomes a map", in: "outputs:\n  model:\n", sets: []string{"outputs.model.mode=rw_mount"},
			want: "outputs:\n  model:\n    mode: rw_mount\n"},
		{name: "list index", in: "services:\n  - name: a\n  - name: b\n", sets: []string{"services[1].name=c"},
			want: "services:\n  - name: a\n  - name: c\n"},
		{name: "replace a mapping with a name", in: "environment:\n  image: python\n",
			sets: []string{"environment=azureml:sklearn@latest"},
			want: "environment: azureml:sklearn@latest\n"},
		{name: "empty file", in: "", sets: []string{"resources.instance_count=2"},
			want: "resources:\n  instance_count: 2\n"},
		{name: "no assignments", in: doc, want: doc},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := manifest.Set([]byte(tt.in), tt.sets)
			if err != nil {
				t.Fatalf("Set() error = %v", err)
			}
			if diff := cmp.Diff(tt.want, string(got)); diff != "" {
				t.Errorf("Set() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestSetThenDecode checks that values set as YAML scalars decode with their types.
func TestSetThenDecode(t *testing.T) {
	out, err := manifest.Set([]byte("command: echo\n"), []string{
		"inputs.epochs=5", "inputs.debug=true", "inputs.name=abc", "inputs.version='1'",
		"resources.instance_count=3", "environment_variables.EPOCHS=10", "tags.team=vision",
	})
	if err != nil {
		t.Fatalf("Set() error = %v", err)
	}
	var got job
	if err := manifest.Decode(out, &got); err != nil {
		t.Fatalf("Decode() error = %v\n%s", err, out)
	}
	want := job{
		Command:              "echo",
		Inputs:               map[string]any{"epochs": json.Number("5"), "debug": true, "name": "abc", "version": "1"},
		Resources:            &resources{InstanceCount: 3},
		EnvironmentVariables: map[string]string{"EPOCHS": "10"},
		Tags:                 map[string]string{"team": "vision"},
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(job{})); diff != "" {
		t.Errorf("Decode(Set()) mismatch (-want +got):\n%s", diff)
	}
}

// TestSetKeepsMeaning checks that re-encoding keeps what a file says, anchors and merges included.
func TestSetKeepsMeaning(t *testing.T) {
	out, err := manifest.Set([]byte(fullJob), nil)
	if err != nil {
		t.Fatalf("Set() error = %v", err)
	}
	var want, got job
	if err := manifest.Decode([]byte(fullJob), &want); err != nil {
		t.Fatalf("Decode(in) error = %v", err)
	}
	if err := manifest.Decode(out, &got); err != nil {
		t.Fatalf("Decode(Set()) error = %v\n%s", err, out)
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(job{})); diff != "" {
		t.Errorf("Decode(Set()) mismatch (-want +got):\n%s", diff)
	}
}

func TestSetErrors(t *testing.T) {
	const doc = "command: echo\nservices:\n  - name: a\nbase: &b {x: 1}\nderived: *b\n"
	tests := []struct {
		name string
		in   string
		set  string
		want string
	}{
		{name: "no equals sign", in: doc, set: "resources.instance_count",
			want: `bad assignment "resources.instance_count": want key=value`},
		{name: "empty key", in: doc, set: "=5", want: `bad assignment "=5": empty key`},
		{name: "empty key segment", in: doc, set: "a..b=1", want: `bad assignment "a..b=1": empty key in "a..b"`},
		{name: "bad index", in: doc, set: "services[x].name=1",
			want: `bad assignment "services[x].name=1": bad list index in "services[x]": want name[N] with N >= 0`},
		{name: "below a scalar", in: doc, set: "command.run=x",
			want: `line 1: cannot set "command.run": "command" is "echo", not a mapping`},
		{name: "key below a list", in: doc, set: "services.name=x",
			want: `line 3: cannot set "services.name": "services" is a list, not a mapping`},
		{name: "index past the end", in: doc, set: "services[3].name=x",
			want: `line 3: cannot set "services[3].name": "services" has 1 items, no index 3`},
		{name: "index into a mapping", in: doc, set: "base[0]=x",
			want: `line 4: cannot set "base[0]": "base" is a mapping, not a list`},
		{name: "below an alias", in: doc, set: "derived.x=2",
			want: `line 5: cannot set "derived.x": "derived" is an alias (*b); set the keys in the anchored value instead`},
		{name: "top level not a mapping", in: "- a\n", set: "a=1",
			want: `line 1: the top level must be a mapping of keys, got a list`},
		{name: "malformed", in: "a: [\n", set: "a=1",
			want: `invalid YAML: line 1: did not find expected node content`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := manifest.Set([]byte(tt.in), []string{tt.set})
			if err == nil {
				t.Fatalf("Set() = nil error, want %q", tt.want)
			}
			if got := trainyard.ErrorCode(err); got != trainyard.Invalid {
				t.Errorf("ErrorCode() = %q, want %q (err %v)", got, trainyard.Invalid, err)
			}
			if diff := cmp.Diff(tt.want, trainyard.ErrorMessage(err)); diff != "" {
				t.Errorf("Set() message mismatch (-want +got):\n%s", diff)
			}
		})
	}
}
