package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"
)

// JobCompute is the compute key of a job: the name of a compute target ("cpu-cluster",
// "azureml:cpu-cluster", "local"), or an inline compute spec in the shape of a compute YAML
// ({type: amlcompute, size: STANDARD_D2_V2, max_instances: 1}). An inline spec makes the job
// run-based (SPEC §1.2, "creation modes"): the server creates a cluster for the job alone and
// deletes it when the job ends. In JSON and YAML it is a string or a mapping.
type JobCompute struct {
	Name string       // a compute's name; "" with a nil Spec means the local target
	Spec *ComputeSpec // an inline cluster spec; its name is optional
}

// ObjectForm names the struct a mapping under compute is: YAML readers (internal/manifest)
// check such a mapping key by key against it, naming the line of a mistake.
func (JobCompute) ObjectForm() any { return new(ComputeSpec) }

// Named returns the JobCompute of a compute's name.
func Named(name string) JobCompute { return JobCompute{Name: name} }

func (c JobCompute) MarshalJSON() ([]byte, error) {
	if c.Spec != nil {
		return json.Marshal(c.Spec)
	}
	return json.Marshal(c.Name)
}

// UnmarshalJSON reads a name or an inline spec. Keys of the spec are checked as the server
// checks a compute create request: an unknown key is refused by name.
func (c *JobCompute) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	*c = JobCompute{}
	switch {
	case bytes.Equal(b, []byte("null")):
		return nil
	case len(b) > 0 && b[0] == '"':
		return json.Unmarshal(b, &c.Name)
	case len(b) == 0 || b[0] != '{':
		return errors.New("want the name of a compute, or an inline compute spec such as {type: amlcompute, size: STANDARD_D2_V2, max_instances: 1}")
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(b, &keys); err != nil {
		return err
	}
	known := computeSpecKeys()
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		if !slices.Contains(known, k) {
			return fmt.Errorf("unknown key %q in the inline compute spec; known keys: %s", k, strings.Join(known, ", "))
		}
	}
	var spec ComputeSpec
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&spec); err != nil {
		if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok && te.Field != "" {
			got := map[string]string{"array": "a list", "object": "a mapping", "bool": "true or false"}[te.Value]
			if got == "" {
				got = "a " + te.Value
			}
			return fmt.Errorf("%s: cannot use %s here (want %s)", te.Field, got, jsonKind(te.Type))
		}
		return fmt.Errorf("inline compute spec: %v", err)
	}
	c.Spec = &spec
	return nil
}

// jsonKind names a Go type as a user writing JSON or YAML knows it.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "a string"
	case reflect.Map, reflect.Struct:
		return "a mapping"
	case reflect.Slice, reflect.Array:
		return "a list"
	}
	return t.String()
}

// computeSpecKeys lists the keys of a compute spec, sorted.
var computeSpecKeys = sync.OnceValue(func() []string {
	var keys []string
	t := reflect.TypeFor[ComputeSpec]()
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name != "" && name != "-" {
			keys = append(keys, name)
		}
	}
	slices.Sort(keys)
	return keys
})
