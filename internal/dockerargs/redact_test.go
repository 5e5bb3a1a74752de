package dockerargs_test

import (
	"testing"

	"github.com/trainyard/trainyard/internal/dockerargs"
)

func TestRedact(t *testing.T) {
	tests := []struct{ in, want string }{
		{"--ipc host --shm-size 8g", "--ipc host --shm-size 8g"},
		{"-e API_KEY=s3cret --env TOKEN=two", "-e API_KEY=(hidden) --env TOKEN=(hidden)"},
		{"-eAPI_KEY=s3cret -e=B=x --env=C=y=z", "-eAPI_KEY=(hidden) -eB=(hidden) --env=C=(hidden)"},
		{`--env 'GREETING=hello there' --init`, "--env GREETING=(hidden) --init"},
		{"--tmpfs '/scratch dir:size=1g'", "--tmpfs '/scratch dir:size=1g'"},
		{"-e 'OPEN=never closed", "(hidden)"},
		{"-e", "-e"},
	}
	for _, tt := range tests {
		if got := dockerargs.Redact(tt.in); got != tt.want {
			t.Errorf("Redact(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
