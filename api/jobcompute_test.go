package api

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestJobComputeJSON(t *testing.T) {
	var s JobSpec
	if err := json.Unmarshal([]byte(`{"command": "x", "compute": "azureml:cpu-cluster"}`), &s); err != nil || s.Compute.Name != "azureml:cpu-cluster" || s.Compute.Spec != nil {
		t.Errorf("a name: %+v, %v", s.Compute, err)
	}
	s = JobSpec{}
	err := json.Unmarshal([]byte(`{"command": "x", "compute": {"type": "amlcompute", "size": "STANDARD_D2_V2", "max_instances": 2, "idle_time_before_scale_down": "PT5M"}}`), &s)
	if err != nil || s.Compute.Spec == nil || s.Compute.Spec.Size != "STANDARD_D2_V2" || *s.Compute.Spec.MaxInstances != 2 || s.Compute.Name != "" {
		t.Fatalf("an inline spec: %+v, %v", s.Compute, err)
	}
	b, _ := json.Marshal(s)
	if !strings.Contains(string(b), `"compute":{"name":"","type":"amlcompute","size":"STANDARD_D2_V2","max_instances":2,"idle_time_before_scale_down":300}`) {
		t.Errorf("Marshal(inline) = %s", b)
	}
	b, _ = json.Marshal(JobSpec{Command: "x", Compute: Named("local")})
	if !strings.Contains(string(b), `"compute":"local"`) {
		t.Errorf("Marshal(name) = %s", b)
	}
	b, _ = json.Marshal(JobSpec{Command: "x"})
	if strings.Contains(string(b), "compute") {
		t.Errorf("Marshal(no compute) = %s, want the key left out", b)
	}

	for in, want := range map[string]string{
		`{"compute": {"sise": "x"}}`:              `unknown key "sise" in the inline compute spec; known keys: $schema,`,
		`{"compute": {"max_instances": "two"}}`:   `max_instances: cannot use a string here (want a number)`,
		`{"compute": 3}`:                          `want the name of a compute, or an inline compute spec`,
		`{"compute": {"ssh_settings": {"x": 1}}}`: `unknown field "x"`,
	} {
		var s JobSpec
		err := json.Unmarshal([]byte(in), &s)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Unmarshal(%s) = %v, want an error with %q", in, err, want)
		}
	}
}
