package process

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseProcStat(t *testing.T) {
	// Fields 3..22 after the name; the start time (22) is 4242.
	const rest = " S 1 2 3 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 4242 1000 10"
	tests := []struct {
		name    string
		stat    string
		want    procStat
		wantErr bool
	}{
		{name: "plain", stat: "123 (bash)" + rest, want: procStat{state: 'S', start: 4242}},
		{name: "name with spaces and parens", stat: "123 (a (b) c)" + rest,
			want: procStat{state: 'S', start: 4242}},
		{name: "zombie", stat: "123 (sleep) Z 1 2 3 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 7 0 0",
			want: procStat{state: 'Z', start: 7}},
		{name: "no name", stat: "123 bash S 1", wantErr: true},
		{name: "too short", stat: "123 (bash) S 1 2 3", wantErr: true},
		{name: "bad start", stat: "123 (bash) S 1 2 3 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 x 0 0",
			wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseProcStat([]byte(tt.stat))
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseProcStat() error = %v, want error: %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("parseProcStat() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestReadProcStatSelf(t *testing.T) {
	st, err := readProcStat(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if st.gone() || st.start == 0 {
		t.Errorf("readProcStat(self) = %+v, want a running process with a start time", st)
	}
}

func TestPidFile(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := readPidFile(dir); !os.IsNotExist(err) {
		t.Errorf("readPidFile(empty dir) error = %v, want not-exist", err)
	}
	if err := writePidFile(dir, 4321, 987654); err != nil {
		t.Fatal(err)
	}
	pid, start, err := readPidFile(dir)
	if err != nil || pid != 4321 || start != 987654 {
		t.Errorf("readPidFile() = %d, %d, %v; want 4321, 987654, nil", pid, start, err)
	}
	for _, bad := range []string{"", "12\n", "x 1\n", "0 1\n", "12 y\n", "1 2 3\n"} {
		if err := os.WriteFile(filepath.Join(dir, pidFile), []byte(bad), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, _, err := readPidFile(dir); err == nil {
			t.Errorf("readPidFile(%q): no error", bad)
		}
	}
}

func TestReadExitFile(t *testing.T) {
	tests := []struct {
		content string // "" for no file
		status  int
		ok      bool
	}{
		{content: "", ok: false},
		{content: "0\n", status: 0, ok: true},
		{content: "143\n", status: 143, ok: true},
		{content: "garbage", ok: false},
		{content: "300\n", ok: false},
	}
	for _, tt := range tests {
		dir := t.TempDir()
		if tt.content != "" {
			if err := os.WriteFile(filepath.Join(dir, exitFile), []byte(tt.content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		status, ok := readExitFile(dir)
		if diff := cmp.Diff([]any{tt.status, tt.ok}, []any{status, ok}); diff != "" {
			t.Errorf("readExitFile(%q) mismatch (-want +got):\n%s", tt.content, diff)
		}
	}
}
