package manifest_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/internal/manifest"
)

// job is a command job as a user writes it, shaped like the wire types Decode serves.
type job struct {
	meta
	Schema               string             `json:"$schema"`
	Type                 string             `json:"type"`
	Command              string             `json:"command"`
	Code                 string             `json:"code"`
	Environment          any                `json:"environment"` // a name or an inline mapping
	Compute              string             `json:"compute"`
	EnvironmentVariables map[string]string  `json:"environment_variables"`
	Inputs               map[string]any     `json:"inputs"`
	Outputs              map[string]*output `json:"outputs"`
	Tags                 map[string]string  `json:"tags"`
	Resources            *resources         `json:"resources"`
	Limits               limits             `json:"limits"`
	Distribution         json.RawMessage    `json:"distribution"`
	Services             []service          `json:"services"`
	Submitted            string             `json:"-"`
}

// meta is embedded in job, so its fields are top-level keys.
type meta struct {
	Name           string `json:"name"`
	DisplayName    string `json:"display_name"`
	ExperimentName string `json:"experiment_name"`
	Description    string `json:"description"`
}

type output struct {
	Type string `json:"type"`
	Mode string `json:"mode"`
	Path string `json:"path"`
}

type resources struct {
	InstanceCount int    `json:"instance_count"`
	InstanceType  string `json:"instance_type"`
	ShmSize       string `json:"shm_size"`
	DockerArgs    string `json:"docker_args"`
}

type limits struct {
	Timeout seconds `json:"timeout"`
}

type service struct {
	Name  string `json:"name"`
	Type  string `json:"type"`
	Nodes *int   `json:"nodes"`
}

// compute is a compute target file.
type compute struct {
	Schema            string  `json:"$schema"`
	Name              string  `json:"name"`
	Type              string  `json:"type"`
	Size              string  `json:"size"`
	MinInstances      int     `json:"min_instances"`
	MaxInstances      int     `json:"max_instances"`
	IdleTimeBeforeEnd uint16  `json:"idle_time_before_scale_down"`
	PublicIP          bool    `json:"enable_node_public_ip"`
	Cost              float64 `json:"cost"`
	Priority          int     `json:"priority,string"` // written as a plain number all the same
}

// seconds is a duration written as whole seconds (3600) or as an ISO-8601 time ("PT1H30M").
type seconds time.Duration

var isoDuration = regexp.MustCompile(`^PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?$`)

func (s *seconds) UnmarshalJSON(b []byte) error {
	var n int64
	if err := json.Unmarshal(b, &n); err == nil {
		*s = seconds(time.Duration(n) * time.Second)
		return nil
	}
	var text string
	_ = json.Unmarshal(b, &text)
	m := isoDuration.FindStringSubmatch(text)
	if m == nil || text == "PT" {
		return errors.New("want seconds or an ISO-8601 duration like PT1H30M")
	}
	var d time.Duration
	for i, unit := range []time.Duration{time.Hour, time.Minute, time.Second} {
		if v, err := strconv.Atoi(m[i+1]); err == nil {
			d += time.Duration(v) * unit
		}
	}
	*s = seconds(d)
	return nil
}

func intp(i int) *int { return &i }

const fullJob = `# A realistic command job.
$schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json
type: command
name: train-42
display_name: Train ResNet
experiment_name: vision
description: |
  Trains a model.
command: >-
  python train.py
  --epochs ${{inputs.epochs}}
code: ./src
environment:
  image: mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04
  version: 1
compute: ~
environment_variables: &env
  EPOCHS: 10
  DEBUG: true
  RATE: 0.10
  NAME: plain
  EMPTY:
inputs:
  epochs: 5
  lr: 0.01
  big: 0x10
  flag: false
  when: 2024-05-01
  nothing: null
  data:
    type: uri_folder
    path: azureml:data@latest
  layers: [64, 128]
outputs:
  model:
    type: custom_model
    mode: rw_mount
  logs:
tags:
  team: vision
  <<: *env
  NAME: override
resources:
  instance_count: 2.0
  instance_type: gpu-large
  shm_size: 16g
limits:
  timeout: PT1H30M
distribution:
  type: pytorch
  process_count_per_instance: 8
services:
  - name: jupyter
    type: jupyter_lab
  - name: shell
    type: ssh
    nodes: 0x1
`

func TestDecode(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want job
	}{
		{name: "full job", in: fullJob, want: job{
			meta: meta{Name: "train-42", DisplayName: "Train ResNet", ExperimentName: "vision",
				Description: "Trains a model.\n"},
			Schema:  "https://azuremlschemas.azureedge.net/latest/commandJob.schema.json",
			Type:    "command",
			Command: "python train.py --epochs ${{inputs.epochs}}",
			Code:    "./src",
			Environment: map[string]any{
				"image":   "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04",
				"version": json.Number("1"),
			},
			EnvironmentVariables: map[string]string{
				"EPOCHS": "10", "DEBUG": "true", "RATE": "0.10", "NAME": "plain", "EMPTY": "",
			},
			Inputs: map[string]any{
				"epochs": json.Number("5"), "lr": json.Number("0.01"), "big": json.Number("16"), "flag": false,
				"when": "2024-05-01", "nothing": nil,
				"data":   map[string]any{"type": "uri_folder", "path": "azureml:data@latest"},
				"layers": []any{json.Number("64"), json.Number("128")},
			},
			Outputs: map[string]*output{
				"model": {Type: "custom_model", Mode: "rw_mount"},
				"logs":  nil,
			},
			Tags: map[string]string{
				"team": "vision", "EPOCHS": "10", "DEBUG": "true", "RATE": "0.10", "NAME": "override", "EMPTY": "",
			},
			Resources:    &resources{InstanceCount: 2, InstanceType: "gpu-large", ShmSize: "16g"},
			Limits:       limits{Timeout: seconds(90 * time.Minute)},
			Distribution: json.RawMessage(`{"process_count_per_instance":8,"type":"pytorch"}`),
			Services: []service{
				{Name: "jupyter", Type: "jupyter_lab"},
				{Name: "shell", Type: "ssh", Nodes: intp(1)},
			},
		}},
		{name: "environment by name", in: "environment: azureml:AzureML-sklearn-1.5@latest\n",
			want: job{Environment: "azureml:AzureML-sklearn-1.5@latest"}},
		{name: "timeout in seconds", in: "limits:\n  timeout: 900\n",
			want: job{Limits: limits{Timeout: seconds(15 * time.Minute)}}},
		{name: "null leaves fields zero", in: "command:\nresources: ~\nlimits: null\ninputs:\n",
			want: job{}},
		{name: "string values keep their text", in: "name: 007\ndescription: 1e3\ncode: yes\n",
			want: job{meta: meta{Name: "007", Description: "1e3"}, Code: "yes"}},
		{name: "aliases are expanded", in: "tags: &t {a: b}\nenvironment_variables: *t\nname: &n x\ncode: *n\n",
			want: job{meta: meta{Name: "x"}, Code: "x",
				Tags: map[string]string{"a": "b"}, EnvironmentVariables: map[string]string{"a": "b"}}},
		{name: "own keys beat merged ones, earlier sources beat later ones",
			in: "inputs:\n  a: &a {x: 1, y: 1}\n  b: &b {x: 2, y: 2, z: 2}\n" +
				"tags:\n  <<: [*a, *b]\n  y: own\n",
			want: job{
				Inputs: map[string]any{
					"a": map[string]any{"x": json.Number("1"), "y": json.Number("1")},
					"b": map[string]any{"x": json.Number("2"), "y": json.Number("2"), "z": json.Number("2")},
				},
				Tags: map[string]string{"x": "1", "y": "own", "z": "2"},
			}},
		{name: "trailing document marker", in: "name: x\n---\n", want: job{meta: meta{Name: "x"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got job
			if err := manifest.Decode([]byte(tt.in), &got); err != nil {
				t.Fatalf("Decode() error = %v", err)
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(job{})); diff != "" {
				t.Errorf("Decode() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodeCompute(t *testing.T) {
	in := `$schema: https://azuremlschemas.azureedge.net/latest/amlCompute.schema.json
name: gpu-cluster
type: amlcompute
size: STANDARD_NC6s_v3
min_instances: 0
max_instances: 4
idle_time_before_scale_down: 120
enable_node_public_ip: false
cost: 3
priority: 7
`
	want := compute{Schema: "https://azuremlschemas.azureedge.net/latest/amlCompute.schema.json",
		Name: "gpu-cluster", Type: "amlcompute", Size: "STANDARD_NC6s_v3", MaxInstances: 4,
		IdleTimeBeforeEnd: 120, Cost: 3, Priority: 7}
	var got compute
	if err := manifest.Decode([]byte(in), &got); err != nil {
		t.Fatalf("Decode() error = %v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Decode() mismatch (-want +got):\n%s", diff)
	}
}

// laughs is a "billion laughs" document: ten levels of ten aliases each.
func laughs() string {
	var b strings.Builder
	b.WriteString("inputs:\n  l0: &l0 lol\n")
	for i := 1; i <= 9; i++ {
		fmt.Fprintf(&b, "  l%d: &l%d [%s]\n", i, i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*l%d, ", i-1), 10), ", "))
	}
	return b.String()
}

func TestDecodeErrors(t *testing.T) {
	const jobKeys = "$schema, code, command, compute, description, display_name, distribution, " +
		"environment, environment_variables, experiment_name, inputs, limits, name, outputs, " +
		"resources, services, tags, type"
	tests := []struct {
		name string
		in   string
		into any
		want string
	}{
		{name: "unknown top-level key", into: new(job),
			in:   "command: echo\ncomand: echo\n",
			want: `line 2: unknown key "comand"; known top-level keys: ` + jobKeys},
		{name: "keys are case-sensitive", into: new(job),
			in:   "Command: echo\n",
			want: `line 1: unknown key "Command"; known top-level keys: ` + jobKeys},
		{name: "ignored field is unknown", into: new(job),
			in:   "Submitted: x\n",
			want: `line 1: unknown key "Submitted"; known top-level keys: ` + jobKeys},
		{name: "unknown nested key", into: new(job),
			in: "command: echo\n\nresources:\n  instance_count: 1\n  shm_sise: 8g\n",
			want: `line 5: unknown key "resources.shm_sise"; known keys under "resources": ` +
				"docker_args, instance_count, instance_type, shm_size"},
		{name: "unknown key in a map value", into: new(job),
			in:   "outputs:\n  model:\n    type: custom_model\n    mdoe: rw_mount\n",
			want: `line 4: unknown key "outputs.model.mdoe"; known keys under "outputs.model": mode, path, type`},
		{name: "unknown key in a list item", into: new(job),
			in:   "services:\n  - name: a\n  - nmae: b\n",
			want: `line 3: unknown key "services[1].nmae"; known keys under "services[1]": name, nodes, type`},
		{name: "word for an integer", into: new(compute),
			in:   "name: c\ntype: amlcompute\nsize: x\nmin_instances: 0\nmax_instances: four\n",
			want: `line 5: "max_instances": want an integer, got "four"`},
		{name: "quoted number for an integer", into: new(compute),
			in:   `min_instances: "0"`,
			want: `line 1: "min_instances": want an integer, got "0"`},
		{name: "fraction for an integer", into: new(job),
			in:   "resources:\n  instance_count: 1.5\n",
			want: `line 2: "resources.instance_count": want an integer, got 1.5`},
		{name: "integer out of range", into: new(compute),
			in:   "idle_time_before_scale_down: 70000\n",
			want: `line 1: "idle_time_before_scale_down": 70000 is out of range for uint16`},
		{name: "negative for an unsigned integer", into: new(compute),
			in:   "idle_time_before_scale_down: -1\n",
			want: `line 1: "idle_time_before_scale_down": want a non-negative integer, got -1`},
		{name: "yes is not a boolean", into: new(compute),
			in:   "enable_node_public_ip: yes\n",
			want: `line 1: "enable_node_public_ip": want true or false, got "yes"`},
		{name: "infinity for a number", into: new(compute),
			in:   "cost: .inf\n",
			want: `line 1: "cost": want a finite number, got .inf`},
		{name: "mapping for a string", into: new(job),
			in:   "command:\n  run: python\n",
			want: `line 2: "command": want a string, got a mapping`},
		{name: "list for a mapping", into: new(job),
			in:   "resources: [1, 2]\n",
			want: `line 1: "resources": want a mapping, got a list`},
		{name: "scalar for a list", into: new(job),
			in:   "services: jupyter\n",
			want: `line 1: "services": want a list, got "jupyter"`},
		{name: "mapping in a string map", into: new(job),
			in:   "environment_variables:\n  A: 1\n  B: {c: d}\n",
			want: `line 3: "environment_variables.B": want a string, got a mapping`},
		{name: "error from UnmarshalJSON", into: new(job),
			in:   "limits:\n  timeout: soon\n",
			want: `line 2: "limits.timeout": want seconds or an ISO-8601 duration like PT1H30M`},
		{name: "not a number for any", into: new(job),
			in:   "inputs:\n  x: .nan\n",
			want: `line 2: "inputs.x": want a finite number, got .nan`},
		{name: "unsupported tag", into: new(job),
			in:   "command: !shell echo\n",
			want: `line 1: "command": unsupported YAML tag !shell`},
		{name: "duplicate key", into: new(job),
			in:   "resources:\n  instance_count: 1\n  instance_count: 2\n",
			want: `line 3: duplicate key "resources.instance_count" (first at line 2)`},
		{name: "duplicate key under any", into: new(map[string]any),
			in:   "a:\n  b: 1\n  b: 2\n",
			want: `line 3: duplicate key "a.b" (first at line 2)`},
		{name: "non-string key", into: new(job),
			in:   "? [a]\n: 1\n",
			want: `line 1: the top level: keys must be strings, got a list`},
		{name: "bad merge", into: new(job),
			in:   "tags:\n  <<: 5\n",
			want: `line 2: "tags.<<": a merge key (<<) wants a mapping or a list of mappings, got 5`},
		{name: "anchor inside itself", into: new(map[string]any),
			in:   "a: &x {b: *x}\n",
			want: `line 1: values nested more than 256 levels deep (is an anchor used inside itself?)`},
		{name: "billion laughs", into: new(job), in: laughs(),
			want: `line 3: aliases expand the file to more than 16836 values`},
		{name: "malformed", into: new(job),
			in:   "command: [echo\n",
			want: `invalid YAML: line 1: did not find expected ',' or ']'`},
		{name: "tab indentation", into: new(job),
			in:   "resources:\n\tinstance_count: 1\n",
			want: `invalid YAML: line 2: found character that cannot start any token`},
		{name: "empty", into: new(job), in: "", want: "the file is empty"},
		{name: "only comments", into: new(job), in: "# nothing yet\n", want: "the file is empty"},
		{name: "only a document marker", into: new(map[string]any), in: "---\n", want: "the file is empty"},
		{name: "top level is a list", into: new(map[string]any),
			in:   "- a\n- b\n",
			want: `line 1: the top level must be a mapping of keys, got a list`},
		{name: "top level is a string", into: new(job),
			in:   "hello\n",
			want: `line 1: the top level must be a mapping of keys, got "hello"`},
		{name: "two documents", into: new(job),
			in:   "name: a\n---\nname: b\n",
			want: `line 2: a second YAML document starts here; want one document per file`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := manifest.Decode([]byte(tt.in), tt.into)
			if err == nil {
				t.Fatalf("Decode() = nil, want error %q", tt.want)
			}
			if got := trainyard.ErrorCode(err); got != trainyard.Invalid {
				t.Errorf("ErrorCode() = %q, want %q (err %v)", got, trainyard.Invalid, err)
			}
			if diff := cmp.Diff(tt.want, trainyard.ErrorMessage(err)); diff != "" {
				t.Errorf("Decode() message mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestDecodeLarge checks that the alias budget never stops a big file without aliases.
func TestDecodeLarge(t *testing.T) {
	var b strings.Builder
	b.WriteString("inputs:\n  items:\n")
	for i := range 5000 {
		fmt.Fprintf(&b, "    - {id: %d, name: n%d}\n", i, i)
	}
	var got job
	if err := manifest.Decode([]byte(b.String()), &got); err != nil {
		t.Fatalf("Decode() error = %v", err)
	}
	if n := len(got.Inputs["items"].([]any)); n != 5000 {
		t.Errorf("len(inputs.items) = %d, want 5000", n)
	}
}

func TestDecodeNeedsPointer(t *testing.T) {
	var j job
	for _, v := range []any{j, (*job)(nil), nil} {
		err := manifest.Decode([]byte("name: x\n"), v)
		if err == nil || trainyard.ErrorCode(err) != trainyard.Internal {
			t.Errorf("Decode(%T) error = %v, want a programming error", v, err)
		}
	}
}
