package secret_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trainyard/trainyard/internal/secret"
)

func TestSealOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secret.key")
	box, err := secret.OpenKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, mode %v; want 0600", err, st.Mode())
	}
	sealed := box.Seal([]byte("canary-s3cr3t"))
	if strings.Contains(sealed, "canary") || sealed == box.Seal([]byte("canary-s3cr3t")) {
		t.Errorf("Seal() = %q: must hide the value and use a fresh nonce each time", sealed)
	}
	// The same key file opens it after a restart.
	again, err := secret.OpenKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := again.Open(sealed); err != nil || string(got) != "canary-s3cr3t" {
		t.Errorf("Open() = %q, %v; want the secret", got, err)
	}
	if got, err := again.Open(`{"A":"1"}`); err != nil || string(got) != `{"A":"1"}` {
		t.Errorf("Open(unsealed) = %q, %v; want it unchanged", got, err)
	}
	other, _ := secret.OpenKeyFile(filepath.Join(t.TempDir(), "other.key"))
	if _, err := other.Open(sealed); err == nil {
		t.Errorf("Open() with another key succeeded, want an error")
	}
	if _, err := box.Open(sealed[:len(sealed)-4] + "AAAA"); err == nil {
		t.Errorf("Open() of a tampered value succeeded, want an error")
	}
	os.WriteFile(path, []byte("short"), 0o600)
	if _, err := secret.OpenKeyFile(path); err == nil || !strings.Contains(err.Error(), "32") {
		t.Errorf("OpenKeyFile(bad key) = %v, want an error naming the size", err)
	}
}
