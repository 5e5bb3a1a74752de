package apiserver

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/api"
	"github.com/trainyard/trainyard/internal/manifest"
	"github.com/trainyard/trainyard/internal/store"
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

// Every real compute file (clusters, instances, attached targets) goes through the API as the
// CLI sends it, over a real store: it creates or attaches a target whose show echoes every key
// the file set (a credential only as set, its value nowhere), or it is refused with a message
// that starts with the key or the type at fault: never a generic parse error.
func TestCorpusComputes(t *testing.T) {
	db, err := store.Open(t.Context(), filepath.Join(t.TempDir(), "trainyard.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	admin := store.NewToken("tya")
	if err := db.ReplaceAdmin(t.Context(), admin); err != nil {
		t.Fatal(err)
	}
	s := &Server{Store: db, DataDir: t.TempDir(), DefaultLocation: "local", Log: slog.New(slog.DiscardHandler),
		Sizes: func(loc string) ([]trainyard.VMSize, bool) { return trainyard.BuiltinSizes, loc == "local" }}
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(hs.Close)
	c := api.NewClient(hs.URL, admin)

	// The refusals we expect of today's files; any other file must be accepted or refused by
	// the general rule below.
	refused := map[string]string{
		"cluster-location.yml":               `^location "westus" is not configured on this server`,
		"cluster-ssh-password.yml":           `^ssh_settings\.admin_password: the password \(not shown\) has characters of 1 of the 4 classes`,
		"cluster-system-identity.yml":        `^identity: this server does not support it yet`,
		"cluster-user-identity.yml":          `^identity: this server does not support it yet`,
		"instance-schedule.yml":              `^schedules: start/stop schedules are not supported yet`,
		"attached-spark.yml":                 `^type "synapsespark" is not supported`,
		"attached-spark-system-identity.yml": `^type "synapsespark" is not supported`,
		"attached-spark-user-identity.yml":   `^type "synapsespark" is not supported`,
	}
	accepted := 0
	for _, path := range corpusFiles(t, "azureml/compute") {
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			data, _ := os.ReadFile(path)
			var spec api.ComputeSpec
			if err := manifest.Decode(data, &spec); err != nil {
				t.Fatalf("documented keys must decode: %v", err)
			}
			var raw map[string]any
			if err := yaml.Unmarshal(data, &raw); err != nil {
				t.Fatal(err)
			}
			out, err := c.CreateCompute(t.Context(), "default", spec)
			if err != nil {
				msg := err.Error()
				want, ok := refused[name]
				if !ok {
					want = `^(type "[^"]+"|[a-z_.]+)\b`
				}
				if !regexp.MustCompile(want).MatchString(msg) || strings.Contains(msg, "invalid JSON body") {
					t.Errorf("refused with %q, want a message matching %s", msg, want)
				}
				for _, secret := range secretsOf(raw) {
					if strings.Contains(msg, secret) {
						t.Errorf("the message %q repeats a credential", msg)
					}
				}
				return
			}
			if want, ok := refused[name]; ok {
				t.Fatalf("accepted %s; want it refused with %s", out.Name, want)
			}
			accepted++
			resp, err := c.Stream(t.Context(), "GET", "/v1/workspaces/default/computes/"+spec.Name, nil)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var shown api.Compute
			if err := json.Unmarshal(body, &shown); err != nil {
				t.Fatal(err)
			}
			for key, val := range flatten("", raw) {
				check, ok := echoes[key]
				if !ok {
					t.Errorf("the file sets %s, and this test has no check that show echoes it: add one", key)
					continue
				}
				if !check(shown, val) {
					t.Errorf("show does not echo %s: %v\n%s", key, val, body)
				}
			}
			for _, secret := range secretsOf(raw) {
				escaped, _ := json.Marshal(secret) // "<" is \u003c in JSON
				if strings.Contains(string(body), secret) || strings.Contains(string(body), string(escaped[1:len(escaped)-1])) {
					t.Errorf("show holds the value of a credential: %s", body)
				}
			}
		})
	}
	if accepted == 0 {
		t.Errorf("no corpus file was accepted")
	}
}

// secretKeys are the keys of credentials, in dotted form.
var secretKeys = []string{"ssh_settings.admin_password", "access_token", "kubeconfig"}

// secretsOf returns the credential values a compute file sets.
func secretsOf(raw map[string]any) []string {
	var out []string
	for k, v := range flatten("", raw) {
		if s, ok := v.(string); ok && slices.Contains(secretKeys, k) {
			out = append(out, s)
		}
	}
	return out
}

// flatten turns nested maps into dotted keys; lists stay values.
func flatten(prefix string, m map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		if sub, ok := v.(map[string]any); ok && k != "tags" {
			maps.Copy(out, flatten(prefix+k+".", sub))
			continue
		}
		out[prefix+k] = v
	}
	return out
}

// echoes says, for each key a compute file may set, whether show echoes its value.
var echoes = map[string]func(c api.Compute, v any) bool{
	"$schema": func(api.Compute, any) bool { return true }, // which schema the file follows: not a setting
	"name":    func(c api.Compute, v any) bool { return c.Name == v },
	"type": func(c api.Compute, v any) bool {
		t, _ := trainyard.ParseComputeType(v.(string))
		return c.Type == string(t)
	},
	"description": func(c api.Compute, v any) bool { return c.Description == v },
	"tags":        func(c api.Compute, v any) bool { return fmt.Sprint(c.Tags) == fmt.Sprint(v) },
	"location":    func(c api.Compute, v any) bool { return c.Location == v },
	"size":        func(c api.Compute, v any) bool { return strings.EqualFold(c.Properties.VMSize, v.(string)) },
	"tier": func(c api.Compute, v any) bool {
		t, _ := trainyard.ParseTier(v.(string))
		return (t == trainyard.LowPriority) == (c.Properties.VMPriority == "LowPriority")
	},
	"min_instances": func(c api.Compute, v any) bool {
		return fmt.Sprint(c.Properties.ScaleSettings.MinNodeCount) == fmt.Sprint(v)
	},
	"max_instances": func(c api.Compute, v any) bool {
		return fmt.Sprint(c.Properties.ScaleSettings.MaxNodeCount) == fmt.Sprint(v)
	},
	"idle_time_before_scale_down": func(c api.Compute, v any) bool {
		return c.Properties.ScaleSettings.NodeIdleTimeBeforeScaleDown == fmt.Sprintf("PT%vS", v)
	},
	"idle_time_before_shutdown_minutes": func(c api.Compute, v any) bool {
		return c.Properties.IdleTimeBeforeShutdown == fmt.Sprintf("PT%vM", v)
	},
	"resource_id":                 func(c api.Compute, v any) bool { return c.Properties.ResourceID == v },
	"address":                     func(c api.Compute, v any) bool { return c.Properties.Address == v },
	"namespace":                   func(c api.Compute, v any) bool { return c.Properties.Namespace == v },
	"ssh_settings.admin_username": func(c api.Compute, v any) bool { return c.Properties.AdminUsername == v },
	"ssh_settings.ssh_key_value":  func(c api.Compute, v any) bool { return c.Properties.SSHPublicKey == v },
	"ssh_settings.ssh_port":       func(c api.Compute, v any) bool { return fmt.Sprint(c.Properties.SSHPort) == fmt.Sprint(v) },
	"ssh_settings.admin_password": func(c api.Compute, v any) bool { return slices.Contains(c.Properties.Credentials, "admin_password") },
	"access_token":                func(c api.Compute, v any) bool { return slices.Contains(c.Properties.Credentials, "access_token") },
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
