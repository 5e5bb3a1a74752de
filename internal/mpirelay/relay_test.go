package mpirelay_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

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
	go mpirelay.Serve(t.Context(), ln, "job-secret", dir, time.Second)
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

// TestServeStopsDaemons holds that a stopped relay leaves nothing behind: Open MPI's orted
// daemonizes into a session of its own, out of reach of the job's process group.
func TestServeStopsDaemons(t *testing.T) {
	if err := mpirelay.BecomeSubreaper(); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	served := make(chan error, 1)
	dir := t.TempDir()
	go func() { served <- mpirelay.Serve(ctx, ln, "job-secret", dir, 2*time.Second) }()

	// Like orted --daemonize: a new session whose parent has exited, and a child that
	// ignores SIGTERM, as a stuck training process may.
	cmd := `setsid sh -c 'trap "" TERM; echo $$ > daemon.pid; sleep 300 & wait' >/dev/null 2>&1 &`
	if status, err := mpirelay.Dial(ln.Addr().String(), "job-secret", cmd, io.Discard, io.Discard); err != nil || status != 0 {
		t.Fatalf("Dial = %d, %v", status, err)
	}
	var pid int
	for deadline := time.Now().Add(5 * time.Second); pid == 0 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		b, _ := os.ReadFile(filepath.Join(dir, "daemon.pid"))
		pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	}
	if pid == 0 {
		t.Fatal("the daemon never started")
	}
	cancel()
	if err := <-served; err != nil {
		t.Fatalf("Serve after its job stopped = %v, want nil", err)
	}
	if err := syscall.Kill(pid, 0); err == nil {
		t.Errorf("daemon %d still runs after the relay stopped", pid)
	}
	if _, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		t.Error("the relay still listens after it stopped")
	}
}
