package apiserver

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/api"
	"github.com/trainyard/trainyard/internal/manifest"
)

// corpus returns the folder of real inputs written by other people (shared/corpus beside the
// repository). CI always has it; a missing corpus fails there rather than passing by skipping.
func corpus(t *testing.T) string {
	dir := os.Getenv("TRAINYARD_CORPUS")
	if dir == "" {
		dir = filepath.Join("..", "..", "..", "shared", "corpus")
	}
	if _, err := os.Stat(dir); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("corpus not found at %s (set TRAINYARD_CORPUS): %v", dir, err)
		}
		t.Skipf("corpus not found at %s (set TRAINYARD_CORPUS)", dir)
	}
	return dir
}

func corpusFiles(t *testing.T, sub string) []string {
	var files []string
	filepath.WalkDir(filepath.Join(corpus(t), sub), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".yml") {
			files = append(files, p)
		}
		return nil
	})
	if len(files) == 0 {
		t.Fatalf("no YAML files under %s", sub)
	}
	return files
}

// Every real compute file is accepted, or refused with a message that names the key at fault.
func TestCorpusComputes(t *testing.T) {
	s := &Server{DefaultLocation: "local", Sizes: func(loc string) ([]trainyard.VMSize, bool) {
		return trainyard.BuiltinSizes, loc == "local"
	}}
	accepted := map[string]bool{"cluster-basic.yml": true, "cluster-minimal.yml": true, "cluster-low-priority.yml": true}
	for _, path := range corpusFiles(t, "azureml/compute") {
		name := filepath.Base(path)
		if !strings.HasPrefix(name, "cluster-") {
			continue // instances and attached targets are other compute kinds
		}
		t.Run(name, func(t *testing.T) {
			data, _ := os.ReadFile(path)
			var spec api.ComputeSpec
			if err := manifest.Decode(data, &spec); err != nil {
				t.Fatalf("documented keys must decode: %v", err)
			}
			_, err := s.computeFromSpec("default", spec)
			if accepted[name] {
				if err != nil {
					t.Errorf("computeFromSpec() = %v, want accepted", err)
				}
				return
			}
			msg := trainyard.ErrorMessage(err)
			if err == nil || !regexp.MustCompile(`^(location|ssh_settings|identity|network_settings)\b`).MatchString(msg) {
				t.Errorf("computeFromSpec() = %v, want a refusal naming the unsupported key", err)
			}
			if strings.Contains(msg, "example-password") {
				t.Errorf("the message %q repeats the password", msg)
			}
		})
	}
}

// Every real job file decodes (no documented key is unknown, case C-03), and is accepted or
// refused with a message that names the key it cannot honour yet.
func TestCorpusJobs(t *testing.T) {
	for _, path := range corpusFiles(t, "azureml/jobs") {
		rel, _ := filepath.Rel(corpus(t), path)
		data, _ := os.ReadFile(path)
		var kind struct{ Type, Command any }
		yaml.Unmarshal(data, &kind)
		if kind.Command == nil || kind.Type != nil && kind.Type != "command" {
			continue // environments, conda files, sweeps: not command jobs (the CLI says so)
		}
		t.Run(rel, func(t *testing.T) {
			var spec api.JobSpec
			if err := manifest.Decode(data, &spec); err != nil {
				if strings.Contains(err.Error(), "unknown key") {
					t.Fatalf("a documented key is refused as unknown: %v", err)
				}
				// Older preview shapes, e.g. code: {local_path: ...}, are refused with the key and line.
				if !regexp.MustCompile(`line \d+: "[a-z_.]+": want`).MatchString(err.Error()) {
					t.Fatalf("Decode() = %v, want a message with the line and key", err)
				}
				return
			}
			if spec.Code != "" {
				spec.Code = strings.Repeat("0", 64)
			}
			_, err := jobFromSpec("default", spec)
			if err == nil {
				return
			}
			msg := trainyard.ErrorMessage(err)
			if !regexp.MustCompile(`^(environment|distribution|identity|queue_settings|services|resources\.[a-z_]+|inputs\.[\w-]+|outputs\.[\w-]+|type|command|limits\.timeout)\b`).MatchString(msg) {
				t.Errorf("refused with %q: the message must start with the key at fault", msg)
			}
		})
	}
}
