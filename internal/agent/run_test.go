package agent

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/trainyard/trainyard/api"
)

// A node finalizes (and reports Finalizing) only when it has outputs to upload: rank 0 with
// something in outputs/, a named output's folder included.
func TestHasOutputs(t *testing.T) {
	tests := []struct {
		name  string
		rank  int
		files []string // under outputs/; a trailing / makes a folder
		want  bool
	}{
		{name: "nothing written", want: false},
		{name: "a file", files: []string{"model.pt"}, want: true},
		{name: "a named output's folder, empty", files: []string{"model/"}, want: true},
		{name: "rank 1 with files: rank 0 uploads", rank: 1, files: []string{"model.pt"}, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := New(Config{WorkDir: t.TempDir()})
			r := newRun(a, api.Assignment{JobID: 7, Rank: tt.rank}, nil)
			if err := os.MkdirAll(r.outputsDir(), 0o755); err != nil {
				t.Fatal(err)
			}
			for _, f := range tt.files {
				p := filepath.Join(r.outputsDir(), f)
				if f[len(f)-1] == '/' {
					if err := os.MkdirAll(p, 0o755); err != nil {
						t.Fatal(err)
					}
				} else if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if got := r.hasOutputs(); got != tt.want {
				t.Errorf("hasOutputs() = %v, want %v", got, tt.want)
			}
		})
	}
}
