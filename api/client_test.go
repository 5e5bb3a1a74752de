package api

import (
	"strings"
	"testing"
)

// ReadSized reads a body of the announced length into one buffer, and refuses one that is
// shorter or longer than announced: a cut or garbled log chunk must not pass for whole.
func TestReadSized(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		size    int64
		wantErr bool
	}{
		{name: "length known", body: "hello\n", size: 6},
		{name: "length unknown", body: "hello\n", size: -1},
		{name: "empty", body: "", size: 0},
		{name: "shorter than announced", body: "hel", size: 6, wantErr: true},
		{name: "longer than announced", body: "hello\nmore", size: 6, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadSized(strings.NewReader(tt.body), tt.size)
			if tt.wantErr {
				if err == nil {
					t.Errorf("ReadSized(%q, %d) = %q, want an error", tt.body, tt.size, got)
				}
				return
			}
			if err != nil || string(got) != tt.body {
				t.Errorf("ReadSized(%q, %d) = %q, %v; want the body", tt.body, tt.size, got, err)
			}
		})
	}
}
