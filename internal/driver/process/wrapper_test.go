package process

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/trainyard/trainyard/internal/driver"
)

func TestExitFromStatus(t *testing.T) {
	tests := []struct {
		status int
		want   driver.Exit
	}{
		{status: 0, want: driver.Exit{Code: 0}},
		{status: 3, want: driver.Exit{Code: 3}},
		{status: 127, want: driver.Exit{Code: 127}}, // command not found
		{status: 128, want: driver.Exit{Code: 128}},
		{status: 129, want: driver.Exit{Code: -1, Signal: 1}},
		{status: 137, want: driver.Exit{Code: -1, Signal: 9}}, // also what "exit 137" gives
		{status: 143, want: driver.Exit{Code: -1, Signal: 15}},
		{status: 192, want: driver.Exit{Code: -1, Signal: 64}},
		{status: 193, want: driver.Exit{Code: 193}},
		{status: 255, want: driver.Exit{Code: 255}},
	}
	for _, tt := range tests {
		if got := exitFromStatus(tt.status); got != tt.want {
			t.Errorf("exitFromStatus(%d) = %+v, want %+v", tt.status, got, tt.want)
		}
	}
}

// The wrapper runs the command only once told "go": an agent that dies between starting the
// wrapper and recording its pid closes the pipe, and nothing runs unrecorded.
func TestWrapperWaitsForGo(t *testing.T) {
	for _, tt := range []struct {
		name   string
		say    string
		wantRC int
		ran    bool
	}{
		{"told go", "go\n", 0, true},
		{"the pipe closed first", "", 125, false},
		{"something else", "no\n", 125, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			args := wrapperArgs(dir, "touch "+filepath.Join(dir, "ran"))
			cmd := exec.Command(args[0], args[1:]...)
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			cmd.ExtraFiles = []*os.File{r}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			r.Close()
			w.Write([]byte(tt.say))
			w.Close()
			err = cmd.Wait()
			rc := 0
			if ee, ok := err.(*exec.ExitError); ok {
				rc = ee.ExitCode()
			}
			_, statErr := os.Stat(filepath.Join(dir, "ran"))
			if rc != tt.wantRC || (statErr == nil) != tt.ran {
				t.Errorf("wrapper exit %d, command ran %v; want %d, %v", rc, statErr == nil, tt.wantRC, tt.ran)
			}
		})
	}
}
