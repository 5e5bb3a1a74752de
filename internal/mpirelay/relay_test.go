package mpirelay_test

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trainyard/trainyard/internal/mpirelay"
)

func TestRelay(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "marker"), []byte("in the code folder"), 0o644); err != nil {
		t.Fatal(err)
	}
	go mpirelay.Serve(ln, "job-secret", dir)
	addr := ln.Addr().String()

	tests := []struct {
		name, secret, command string
		wantStatus            int
		wantOut, wantErr      string
		wantDialErr           bool
	}{
		{name: "output, error and status come back; it runs in the folder", secret: "job-secret",
			command: "cat marker; echo oops >&2; exit 3", wantStatus: 3, wantOut: "in the code folder", wantErr: "oops\n"},
		{name: "success", secret: "job-secret", command: "true"},
		{name: "a signal is 128+N", secret: "job-secret", command: "kill -9 $$", wantStatus: 137},
		{name: "a wrong secret gets nothing run", secret: "guess", command: "touch ran", wantDialErr: true},
		{name: "no secret gets nothing run", secret: "", command: "touch ran", wantDialErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			status, err := mpirelay.Dial(addr, tt.secret, tt.command, &out, &errOut)
			if tt.wantDialErr {
				if err == nil {
					t.Fatalf("Dial with secret %q = %d, nil; want an error", tt.secret, status)
				}
				if _, serr := os.Stat(filepath.Join(dir, "ran")); serr == nil {
					t.Fatal("the command ran without the job's secret")
				}
				return
			}
			if err != nil || status != tt.wantStatus || !strings.Contains(out.String(), tt.wantOut) || errOut.String() != tt.wantErr {
				t.Errorf("Dial = %d, %v; stdout %q stderr %q; want %d, stdout with %q, stderr %q",
					status, err, out.String(), errOut.String(), tt.wantStatus, tt.wantOut, tt.wantErr)
			}
		})
	}
}
