package apiserver

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"math/big"
	"regexp"
	"slices"
	"strings"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/api"
)

var (
	jobNameRE  = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9\-_]*$`) // and at most 255 bytes
	envNameRE  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	snapshotRE = regexp.MustCompile(`^[0-9a-f]{64}$`)
	bindingRE  = regexp.MustCompile(`\$\{\{\s*([^}]*?)\s*\}\}`)
)

// jobFromSpec validates a submitted job spec and turns it into a job. It checks everything that
// does not need the store; compute existence is checked by the caller.
func jobFromSpec(workspace string, spec api.JobSpec) (trainyard.Job, error) {
	j := trainyard.Job{Workspace: workspace, Name: spec.Name, DisplayName: spec.DisplayName, ExperimentName: spec.ExperimentName,
		Description: spec.Description, Tags: spec.Tags, Environment: spec.EnvironmentVariables, InstanceCount: 1}
	if spec.Type != "" && spec.Type != "command" {
		return j, trainyard.Errorf(trainyard.Invalid, "type %q: only command jobs are supported; use type: command", spec.Type)
	}
	if strings.TrimSpace(spec.Command) == "" {
		return j, trainyard.Errorf(trainyard.Invalid, "command is required: the shell command the job runs, e.g. command: python train.py")
	}
	if j.Name == "" {
		j.Name = generatedName()
	} else if len(j.Name) > 255 || !jobNameRE.MatchString(j.Name) {
		return j, trainyard.Errorf(trainyard.Invalid, "job name %q is not valid: 1 to 255 letters, digits, '-' and '_', starting with a letter or digit", j.Name)
	}
	if j.DisplayName == "" {
		j.DisplayName = j.Name
	}
	if j.ExperimentName == "" {
		j.ExperimentName = "Default"
	}
	// An inline compute spec (a run-based job) gets its cluster's name from the caller.
	if spec.Compute.Spec == nil {
		j.Compute = strings.TrimPrefix(spec.Compute.Name, "azureml:")
		if j.Compute == "" {
			j.Compute = string(trainyard.TypeLocal)
		}
	}
	for _, k := range []struct {
		key string
		set bool
	}{{"identity", spec.Identity != nil}, {"queue_settings", spec.QueueSettings != nil}, {"services", len(spec.Services) > 0}} {
		if k.set {
			return j, trainyard.Errorf(trainyard.Invalid, "%s: this server does not support it yet; remove the key", k.key)
		}
	}
	if spec.Distribution != nil {
		m, ok := spec.Distribution.(map[string]any)
		if !ok {
			return j, trainyard.Errorf(trainyard.Invalid, "distribution: want a mapping with type (pytorch, mpi or tensorflow)")
		}
		d, err := trainyard.ParseDistribution(m)
		if err != nil {
			return j, err
		}
		j.Distribution = d
	}
	if res := spec.Resources; res != nil {
		if n := res.InstanceCount; n != nil && *n < 1 {
			return j, trainyard.Errorf(trainyard.Invalid, "resources.instance_count %d: the number of nodes the job takes is 1 or more; leave it out for one node", *n)
		}
		if n := res.InstanceCount; n != nil {
			j.InstanceCount = *n
		}
	}
	if err := j.Distribution.CheckNodes(j.InstanceCount); err != nil {
		return j, err
	}
	if res := spec.Resources; res != nil {
		if res.InstanceType != "" {
			return j, trainyard.Errorf(trainyard.Invalid, "resources.instance_type applies to Kubernetes targets, which are not supported yet; remove it")
		}
	}
	j.Retry = trainyard.Retry{Max: trainyard.DefaultMaxRetries, OnFailure: spec.RetryOnFailure}
	if spec.MaxRetries != nil {
		if err := trainyard.CheckRetry(*spec.MaxRetries); err != nil {
			return j, err
		}
		j.Retry.Max = *spec.MaxRetries
	}
	if spec.Limits != nil && spec.Limits.Timeout != nil {
		if spec.Limits.Timeout.Duration < 0 {
			return j, trainyard.Errorf(trainyard.Invalid, "limits.timeout %s: must be 0 (none) or more seconds", spec.Limits.Timeout.Duration)
		}
		j.Timeout = spec.Limits.Timeout.Duration
	}
	for _, k := range slices.Sorted(maps.Keys(spec.EnvironmentVariables)) {
		if !envNameRE.MatchString(k) || strings.HasPrefix(k, "TRAINYARD_") {
			return j, trainyard.Errorf(trainyard.Invalid, "environment_variables: %q is not a valid name: letters, digits and '_', not starting with a digit, and not starting with TRAINYARD_", k)
		}
	}
	if spec.Code != "" && !snapshotRE.MatchString(spec.Code) {
		return j, trainyard.Errorf(trainyard.Invalid, "code %q: the API takes the ID of an uploaded snapshot; the CLI uploads a folder for you", spec.Code)
	}
	j.Snapshot = spec.Code
	cmd, err := bindCommand(spec)
	j.Command = cmd
	return j, err
}

// bindCommand substitutes ${{inputs.x}} with literal inputs and ${{outputs.x}} with the output's
// folder, and refuses any other binding.
func bindCommand(spec api.JobSpec) (string, error) {
	for name, v := range spec.Inputs {
		switch v.(type) {
		case string, json.Number, float64, bool, int, int64:
		default:
			return "", trainyard.Errorf(trainyard.Invalid, "inputs.%s: only literal inputs (a string, number or boolean) are supported for now; data inputs with type and path are not", name)
		}
	}
	for name, v := range spec.Outputs {
		if m, ok := v.(map[string]any); v != nil && (!ok || len(m) > 0 && !onlyKeys(m, "type", "mode")) {
			return "", trainyard.Errorf(trainyard.Invalid, "outputs.%s: outputs are folders under ./outputs; give {} or type/mode only", name)
		}
		if !envNameRE.MatchString(name) {
			return "", trainyard.Errorf(trainyard.Invalid, "outputs.%s: an output name is letters, digits and '_'", name)
		}
	}
	var bad error
	cmd := bindingRE.ReplaceAllStringFunc(spec.Command, func(m string) string {
		ref := bindingRE.FindStringSubmatch(m)[1]
		kind, name, _ := strings.Cut(ref, ".")
		switch kind {
		case "inputs":
			if v, ok := spec.Inputs[name]; ok {
				return literal(v)
			}
		case "outputs":
			if _, ok := spec.Outputs[name]; ok {
				return "outputs/" + name
			}
		}
		if bad == nil {
			bad = trainyard.Errorf(trainyard.Invalid, "command refers to %s, which the job does not declare; declare it under %s: or fix the name", m, kind)
		}
		return m
	})
	return cmd, bad
}

func onlyKeys(m map[string]any, keys ...string) bool {
	for k := range m {
		if !slices.Contains(keys, k) {
			return false
		}
	}
	return true
}

func literal(v any) string {
	switch x := v.(type) {
	case float64:
		if x == float64(int64(x)) {
			return fmt.Sprint(int64(x))
		}
	}
	return fmt.Sprint(v)
}

var (
	adjectives = []string{"amber", "brave", "calm", "eager", "gentle", "jolly", "keen", "lucid", "mellow", "nimble", "quiet", "swift", "tidy", "vivid", "witty"}
	nouns      = []string{"badger", "comet", "falcon", "garden", "harbor", "lemon", "maple", "otter", "pepper", "river", "spoon", "tiger", "violin", "walrus", "yak"}
)

// generatedName returns a readable unique-enough job name, e.g. "keen_otter_4fa1c2".
func generatedName() string {
	pick := func(list []string) string {
		n, _ := rand.Int(rand.Reader, big.NewInt(int64(len(list))))
		return list[n.Int64()]
	}
	b := make([]byte, 3)
	rand.Read(b)
	return pick(adjectives) + "_" + pick(nouns) + "_" + hex.EncodeToString(b)
}
