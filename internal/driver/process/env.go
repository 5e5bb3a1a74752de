package process

import (
	"fmt"
	"maps"
	"os"
	"os/user"
	"slices"
	"strings"
)

// defaultPath is the task's PATH when the agent has none.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// taskEnv is a task's whole environment: a minimal base taken from the agent (looked up with
// lookup) plus extra, which wins. The agent's environment is never passed on wholesale: it may
// hold secrets.
func taskEnv(lookup func(string) (string, bool), extra map[string]string) ([]string, error) {
	env := map[string]string{"PATH": defaultPath, "LANG": "C.UTF-8"}
	for _, k := range []string{"PATH", "HOME", "LANG", "USER", "TMPDIR"} {
		if v, ok := lookup(k); ok && v != "" {
			env[k] = v
		}
	}
	for k, v := range extra {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			return nil, fmt.Errorf("env: bad variable name %q", k)
		}
		if strings.ContainsRune(v, 0) {
			return nil, fmt.Errorf("env: %s: value holds a NUL byte", k)
		}
		env[k] = v
	}
	out := make([]string, 0, len(env))
	for _, k := range slices.Sorted(maps.Keys(env)) {
		out = append(out, k+"="+env[k])
	}
	return out, nil
}

// agentEnv looks a variable up in the agent's environment; HOME and USER fall back to the
// agent's user, since service managers often leave them unset.
func agentEnv(key string) (string, bool) {
	if v, ok := os.LookupEnv(key); ok && v != "" {
		return v, true
	}
	if key != "HOME" && key != "USER" {
		return "", false
	}
	u, err := user.Current()
	if err != nil {
		return "", false
	}
	if key == "HOME" {
		return u.HomeDir, u.HomeDir != ""
	}
	return u.Username, u.Username != ""
}
