package process_test

import (
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

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
