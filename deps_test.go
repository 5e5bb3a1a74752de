package trainyard_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportBoundaries holds the package rules of DESIGN.md and STYLE.md: the domain and the
// public API use the standard library only, and the CLI and the agent never reach the store.
func TestImportBoundaries(t *testing.T) {
	tests := []struct {
		pkg       string
		forbidden func(dep string) bool
		rule      string
	}{
		{".", notStdlib, "the domain package imports the standard library only"},
		{"./api", notStdlib, "the api package imports the standard library only"},
		{"./internal/cli", isStore, "the CLI reaches the server only through the API"},
		{"./internal/agent", isStore, "the agent never touches the store"},
		{"./internal/simulate", isStore, "the simulator runs offline, on the server's decisions but not its store"},
	}
	for _, tt := range tests {
		t.Run(tt.pkg, func(t *testing.T) {
			out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", tt.pkg).CombinedOutput()
			if err != nil {
				t.Fatalf("go list -deps %s: %v\n%s", tt.pkg, err, out)
			}
			self := map[string]bool{"github.com/trainyard/trainyard": true, "github.com/trainyard/trainyard/api": tt.pkg == "./api"}
			for _, dep := range strings.Fields(string(out)) {
				if !self[dep] && tt.forbidden(dep) {
					t.Errorf("%s imports %s: %s", tt.pkg, dep, tt.rule)
				}
			}
		})
	}
}

func notStdlib(dep string) bool { return true }

func isStore(dep string) bool {
	return strings.HasSuffix(dep, "/internal/store") || strings.HasPrefix(dep, "modernc.org/sqlite")
}
