package store

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/internal/keytest"
)

const canary = "canary-Pw-8842!"

func attachedVM(ws, name string, key string) trainyard.ComputeTarget {
	return trainyard.ComputeTarget{Workspace: ws, Name: name, Type: trainyard.TypeVirtualMachine, State: trainyard.Succeeded,
		Attach: &trainyard.AttachConfig{Address: "10.0.0.5", SSHPort: 2222, Username: "azureuser",
			Password: trainyard.NewSecret(canary), PrivateKey: trainyard.NewSecret(key), Passphrase: trainyard.NewSecret(canary + "-phrase")}}
}

// grepFiles fails the test if any of the files holds needle.
func grepFiles(t *testing.T, needle string, paths ...string) {
	t.Helper()
	found := 0
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		found++
		if bytes.Contains(b, []byte(needle)) {
			t.Errorf("%s holds %q in plain text", filepath.Base(p), needle)
		}
	}
	if found == 0 {
		t.Fatalf("none of %v exists", paths)
	}
}

// Credentials are sealed at rest: neither the database nor its WAL holds them in plain text,
// and they read back whole after a restart.
func TestComputeCredentialsSealed(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "trainyard.db")
	db, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	key := keytest.OpenSSH(false)
	if _, _, err := db.CreateCompute(t.Context(), attachedVM("default", "myvm", key)); err != nil {
		t.Fatalf("CreateCompute() error: %v", err)
	}
	cl := cluster("default", "cpu-cluster")
	cl.SSH = &trainyard.SSHSettings{AdminUsername: "azureuser", AdminPassword: trainyard.NewSecret(canary + "-cluster"), PublicKey: "ssh-ed25519 AAAA me"}
	if _, _, err := db.CreateCompute(t.Context(), cl); err != nil {
		t.Fatal(err)
	}
	keyBody := key[40:80] // a run of the key's base64, no header
	files := []string{path, path + "-wal"}
	grepFiles(t, canary, files...)
	grepFiles(t, keyBody, files...)

	// After a restart, with the same key file beside the database.
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	grepFiles(t, canary, files...)
	db, err = Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	got, err := db.Compute(t.Context(), "default", "myvm")
	if err != nil {
		t.Fatal(err)
	}
	a := got.Attach
	if a == nil || a.Password.Reveal() != canary || a.PrivateKey.Reveal() != key || a.Passphrase.Reveal() != canary+"-phrase" ||
		a.Address != "10.0.0.5" || a.SSHPort != 2222 || a.Username != "azureuser" || got.State != trainyard.Succeeded {
		t.Errorf("Compute() = %+v with %+v; want every field back", got, a)
	}
	c, err := db.Compute(t.Context(), "default", "cpu-cluster")
	if err != nil || c.SSH == nil || c.SSH.AdminPassword.Reveal() != canary+"-cluster" || c.SSH.AdminUsername != "azureuser" || c.SSH.PublicKey != "ssh-ed25519 AAAA me" {
		t.Errorf("Compute(cpu-cluster) = %+v, %v; want its ssh settings back", c.SSH, err)
	}
	if c.State != trainyard.Creating {
		t.Errorf("a cluster is recorded %s, want Creating", c.State)
	}

	// An update of other fields keeps the credentials.
	if _, _, err := db.UpdateCompute(t.Context(), "default", "myvm", trainyard.OpUpdate, func(c *trainyard.ComputeTarget) error {
		c.Description = "the GPU box"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.Compute(t.Context(), "default", "myvm"); got.Attach.Password.Reveal() != canary || got.Description != "the GPU box" {
		t.Errorf("after UpdateCompute: password kept %v, description %q", got.Attach.Password.Reveal() == canary, got.Description)
	}

	// Another key cannot open them, and says so rather than returning garbage.
	db.Close()
	os.Rename(filepath.Join(dir, "secret.key"), filepath.Join(dir, "secret.key.old"))
	other, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.Compute(t.Context(), "default", "myvm"); err == nil || bytes.Contains([]byte(err.Error()), []byte(canary)) {
		t.Errorf("Compute() with another key = %v, want an error without the secret", err)
	}
}

func TestDetachCompute(t *testing.T) {
	db := mustOpen(t)
	ctx := t.Context()
	if _, _, err := db.CreateCompute(ctx, attachedVM("default", "myvm", keytest.OpenSSH(false))); err != nil {
		t.Fatal(err)
	}
	mustJob(t, db, "default", "j1", "myvm")
	if _, err := db.DetachCompute(ctx, "default", "myvm"); codeOf(err) != trainyard.Conflict {
		t.Errorf("DetachCompute() with a queued job = %v, want Conflict", err)
	}
	if _, err := db.CancelJob(ctx, "default", "j1"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.DetachCompute(ctx, "default", "MYVM"); err != nil {
		t.Fatalf("DetachCompute() error: %v", err)
	}
	if _, err := db.Compute(ctx, "default", "myvm"); codeOf(err) != trainyard.NotFound {
		t.Errorf("Compute() after detach = %v, want NotFound", err)
	}
	// The name is free at once.
	if _, _, err := db.CreateCompute(ctx, attachedVM("default", "myvm", keytest.OpenSSH(false))); err != nil {
		t.Errorf("CreateCompute() after detach = %v, want the name free", err)
	}
	if _, err := db.DetachCompute(ctx, "default", "nope"); codeOf(err) != trainyard.NotFound {
		t.Errorf("DetachCompute(nope) = %v, want NotFound", err)
	}
}

// A stopped instance's idle node gets no new work; started again, it does.
func TestPlaceSkipsStoppedInstance(t *testing.T) {
	db := mustOpen(t)
	ctx := t.Context()
	useClock(db, t0)
	in := trainyard.ComputeTarget{Workspace: "default", Name: "my-instance", Type: trainyard.TypeComputeInstance, Size: "STANDARD_DS3_V2",
		Tier: trainyard.Dedicated, Scale: trainyard.ScaleSettings{MaxNodes: 1},
		Instance: &trainyard.InstanceSettings{Power: trainyard.PowerRunning, IdleTimeBeforeShutdown: 30 * time.Minute}}
	if _, _, err := db.CreateCompute(ctx, in); err != nil {
		t.Fatal(err)
	}
	got, err := db.Compute(ctx, "default", "my-instance")
	if err != nil || got.Instance == nil || *got.Instance != *in.Instance {
		t.Fatalf("Compute() = %+v, %v; want the instance settings back", got.Instance, err)
	}
	id := "n-1"
	mustNode(t, db, id, "default", "my-instance")
	mustJob(t, db, "default", "j1", "my-instance")
	power := func(p trainyard.PowerState) {
		t.Helper()
		if _, _, err := db.UpdateCompute(ctx, "default", "my-instance", trainyard.OpUpdate, func(c *trainyard.ComputeTarget) error {
			c.Instance.Power = p
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	power(trainyard.PowerStopped)
	if _, ok, err := db.Place(ctx, id, nil); ok || err != nil {
		t.Errorf("Place() on a stopped instance = %v, %v; want nothing", ok, err)
	}
	power(trainyard.PowerRunning)
	if a, ok, err := db.Place(ctx, id, nil); !ok || err != nil || a.Job.Name != "j1" {
		t.Errorf("Place() on a running instance = %+v, %v, %v; want j1", a.Job.Name, ok, err)
	}
}
