package process_test

import (
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trainyard/trainyard/internal/driver"
)

// An agent running as root runs a task as an unprivileged user, who cannot read root's files.
func TestStartAsUser(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("CI runs as root; this test needs it")
		}
		t.Skip("needs root to switch users")
	}
	u, err := user.Lookup("nobody")
	if err != nil {
		t.Fatalf("look up nobody: %v", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	secret := filepath.Join(t.TempDir(), "admin.token")
	os.WriteFile(secret, []byte("tya_canary"), 0o600)

	spec := newSpec(t, "id -u; cat "+secret+" || echo cannot read")
	// The user must be able to reach its working dir; the test's temp dirs are root's alone.
	for d := spec.Dir; d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		os.Chmod(d, 0o755)
	}
	os.Chmod(spec.Dir, 0o777)
	spec.User = &driver.User{Name: "nobody", UID: uint32(uid), GID: uint32(gid)}
	task := start(t, spec)
	if exit := wait(t, task); exit.Code != 0 {
		t.Fatalf("exit = %+v, want 0", exit)
	}
	out := readLog(t, spec)
	if !strings.HasPrefix(out, u.Uid+"\n") || strings.Contains(out, "tya_canary") || !strings.Contains(out, "cannot read") {
		t.Errorf("log = %q, want uid %s and no access to root's file", out, u.Uid)
	}
}

// What a command leaves running in its process group ends with it.
func TestBackgroundChildrenEndWithTheTask(t *testing.T) {
	spec := newSpec(t, `sleep 300 & echo $! > child.pid; echo started`)
	task := start(t, spec)
	if exit := wait(t, task); exit.Code != 0 {
		t.Fatalf("exit = %+v, want 0", exit)
	}
	b, err := os.ReadFile(filepath.Join(spec.Dir, "child.pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	deadline := time.Now().Add(5 * time.Second)
	for {
		stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil || strings.Contains(string(stat), ") Z ") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("background child %d still runs after its task ended", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
