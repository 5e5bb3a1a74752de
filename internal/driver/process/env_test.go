package process

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestTaskEnv(t *testing.T) {
	full := map[string]string{
		"PATH": "/agent/bin", "HOME": "/home/agent", "LANG": "de_DE.UTF-8", "USER": "agent",
		"TMPDIR": "/scratch", "AWS_SECRET_ACCESS_KEY": "secret", "TERM": "xterm",
	}
	tests := []struct {
		name    string
		agent   map[string]string
		extra   map[string]string
		want    []string
		wantErr bool
	}{
		{
			name:  "base only from a full agent env",
			agent: full,
			want: []string{"HOME=/home/agent", "LANG=de_DE.UTF-8", "PATH=/agent/bin",
				"TMPDIR=/scratch", "USER=agent"},
		},
		{
			name: "defaults for an empty agent env",
			want: []string{"LANG=C.UTF-8", "PATH=" + defaultPath},
		},
		{
			name:  "empty values count as unset",
			agent: map[string]string{"PATH": "", "LANG": ""},
			want:  []string{"LANG=C.UTF-8", "PATH=" + defaultPath},
		},
		{
			name:  "spec wins",
			agent: full,
			extra: map[string]string{"PATH": "/venv/bin:/usr/bin", "CUDA_VISIBLE_DEVICES": "0,1", "EMPTY": ""},
			want: []string{"CUDA_VISIBLE_DEVICES=0,1", "EMPTY=", "HOME=/home/agent", "LANG=de_DE.UTF-8",
				"PATH=/venv/bin:/usr/bin", "TMPDIR=/scratch", "USER=agent"},
		},
		{name: "empty name", extra: map[string]string{"": "x"}, wantErr: true},
		{name: "name with =", extra: map[string]string{"A=B": "x"}, wantErr: true},
		{name: "NUL in value", extra: map[string]string{"A": "x\x00y"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lookup := func(k string) (string, bool) { v, ok := tt.agent[k]; return v, ok }
			got, err := taskEnv(lookup, tt.extra)
			if (err != nil) != tt.wantErr {
				t.Fatalf("taskEnv() error = %v, want error: %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("taskEnv() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}
