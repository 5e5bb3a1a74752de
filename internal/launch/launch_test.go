package launch_test

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trainyard/trainyard/internal/launch"
)

func TestRun(t *testing.T) {
	tests := []struct {
		name       string
		command    string
		procs      int
		first      int
		wantStatus int
		wantLines  []string
	}{
		{name: "each process its ranks, each line tagged", command: `echo "hi $LOCAL_RANK $RANK"`, procs: 2, first: 4,
			wantLines: []string{"[process 4] hi 0 4", "[process 5] hi 1 5"}},
		// Process 1 fails once process 0 is ready for the TERM that ends it.
		{name: "the first failure ends the others and is the status",
			command: `if [ "$RANK" = 1 ]; then while [ ! -e "$READY" ]; do sleep 0.01; done; exit 3; fi; ` +
				`trap 'echo stopped; exit 0' TERM; : > "$READY"; sleep 30 & wait`, procs: 2,
			wantStatus: 3, wantLines: []string{"[process 0] stopped", "trainyard: process 1 exited with code 3; stopping this node's other processes"}},
		{name: "a signal is 128+N", command: `kill -9 $$`, procs: 1, wantStatus: 137},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("READY", filepath.Join(t.TempDir(), "ready"))
			var out bytes.Buffer
			status := launch.Run(tt.command, tt.procs, tt.first, &out)
			if status != tt.wantStatus {
				t.Errorf("status = %d, want %d; output:\n%s", status, tt.wantStatus, out.String())
			}
			lines := strings.Split(out.String(), "\n")
			for _, w := range tt.wantLines {
				found := false
				for _, l := range lines {
					found = found || l == w
				}
				if !found {
					t.Errorf("output lacks the line %q:\n%s", w, out.String())
				}
			}
		})
	}
}
