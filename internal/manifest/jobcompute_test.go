package manifest_test

import (
	"strings"
	"testing"

	"github.com/trainyard/trainyard/api"
	"github.com/trainyard/trainyard/internal/manifest"
)

// A job's compute is a name or an inline compute spec (api.JobCompute, a json.Unmarshaler
// with an ObjectForm): both decode from YAML, and a mistake in the spec names its line and key.
func TestDecodeJobCompute(t *testing.T) {
	var s api.JobSpec
	if err := manifest.Decode([]byte("command: echo\ncompute: azureml:cpu-cluster\n"), &s); err != nil || s.Compute.Name != "azureml:cpu-cluster" {
		t.Errorf("a name: %+v, %v", s.Compute, err)
	}
	s = api.JobSpec{}
	in := "command: echo\ncompute:\n  type: amlcompute\n  size: STANDARD_D2_V2\n  max_instances: 1\n  idle_time_before_scale_down: PT2M\n"
	if err := manifest.Decode([]byte(in), &s); err != nil || s.Compute.Spec == nil || s.Compute.Spec.Size != "STANDARD_D2_V2" ||
		*s.Compute.Spec.MaxInstances != 1 || s.Compute.Spec.IdleTimeBeforeScaleDown.Seconds() != 120 {
		t.Fatalf("an inline spec: %+v, %v", s.Compute.Spec, err)
	}
	set, err := manifest.Set([]byte(in), []string{"compute.max_instances=3"})
	if err != nil {
		t.Fatal(err)
	}
	s = api.JobSpec{}
	if err := manifest.Decode(set, &s); err != nil || *s.Compute.Spec.MaxInstances != 3 {
		t.Errorf("--set compute.max_instances=3: %+v, %v", s.Compute.Spec, err)
	}
	for in, want := range map[string]string{
		"command: echo\ncompute:\n  type: amlcompute\n  sise: X\n": `line 4: unknown key "compute.sise"; known keys under "compute": $schema,`,
		"command: echo\ncompute:\n  max_instances: [1]\n":          `line 3: "compute.max_instances": want an integer, got a list`,
		"command: echo\ncompute: [a]\n":                            `line 2: "compute": want the name of a compute, or an inline compute spec`,
	} {
		err := manifest.Decode([]byte(in), new(api.JobSpec))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Decode(%q) = %v, want an error with %q", in, err, want)
		}
	}
	// As in a compute file, a number where a string is wanted is its text.
	s = api.JobSpec{}
	if err := manifest.Decode([]byte("command: echo\ncompute:\n  description: 42\n"), &s); err != nil || s.Compute.Spec.Description != "42" {
		t.Errorf("a number as a description: %+v, %v", s.Compute.Spec, err)
	}
}
