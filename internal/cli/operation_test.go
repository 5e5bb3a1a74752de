package cli_test

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/api"
)

type result struct {
	code           int
	stdout, stderr string
}

// runAsync runs the CLI in the background; receive from the channel for its result.
func runAsync(t *testing.T, args ...string) <-chan result {
	done := make(chan result, 1)
	go func() {
		code, stdout, stderr := run(t, args...)
		done <- result{code, stdout, stderr}
	}()
	return done
}

// eventually polls cond every 20 ms for up to 10 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
	}
}

func TestOperationShow(t *testing.T) {
	isolate(t)
	s := newServer(t)
	base := []string{"--server", s.front().URL, "--token", s.token}

	code, stdout, stderr := run(t, append(base, "compute", "create", "--name", "cpu-cluster", "--type", "amlcompute", "--no-wait")...)
	m := regexp.MustCompile(`operation (op-[0-9a-f]+): Create InProgress; follow it with: trainyard operation show (op-[0-9a-f]+)`).FindStringSubmatch(stdout)
	if code != 0 || m == nil || m[1] != m[2] {
		t.Fatalf("create --no-wait: exit %d, want the operation and how to follow it\n%s%s", code, stdout, stderr)
	}
	id := m[1]
	code, stdout, _ = run(t, append(base, "compute", "show", "--name", "cpu-cluster")...)
	if code != 0 || !regexp.MustCompile(`last operation: +Create InProgress \(trainyard operation show `+id+`\)`).MatchString(stdout) {
		t.Errorf("compute show: exit %d, want its last operation\n%s", code, stdout)
	}
	code, stdout, stderr = run(t, append(base, "operation", "show", id)...)
	for _, want := range []string{"id: +" + id, "compute: +cpu-cluster", "kind: +Create", "status: +InProgress"} {
		if code != 0 || !regexp.MustCompile(want).MatchString(stdout) {
			t.Errorf("operation show: exit %d, want %q\n%s%s", code, want, stdout, stderr)
		}
	}

	// A failed create: show says why; --wait exits 1 with the code and message.
	if err := s.db.SetComputeState(t.Context(), "default", "cpu-cluster", trainyard.Failed, "size X is gone"); err != nil {
		t.Fatal(err)
	}
	code, stdout, _ = run(t, append(base, "operation", "show", id, "-o", "json")...)
	var op api.Operation
	if err := json.Unmarshal([]byte(stdout), &op); err != nil || code != 0 {
		t.Fatalf("operation show -o json: exit %d, %v\n%s", code, err, stdout)
	}
	if op.Status != "Failed" || op.Error == nil || op.Error.Code != trainyard.ErrProvisioningFailed || op.EndedAt == nil {
		t.Errorf("failed operation = %+v, want Failed with %s and an end time", op, trainyard.ErrProvisioningFailed)
	}
	code, stdout, stderr = run(t, append(base, "operation", "show", id, "--wait")...)
	if code != 1 || !strings.Contains(stdout, "error: ") || !strings.Contains(stderr, "Create failed: ProvisioningFailed: size X is gone") {
		t.Errorf("operation show --wait of a failed operation: exit %d, want 1 with its code and message\n%s%s", code, stdout, stderr)
	}

	code, _, stderr = run(t, append(base, "operation", "show", "op-nope")...)
	if code != 1 || !strings.Contains(stderr, `operation "op-nope" not found`) {
		t.Errorf("operation show op-nope: exit %d\n%s", code, stderr)
	}
	if code, _, _ := run(t, append(base, "operation", "show")...); code != 2 {
		t.Errorf("operation show without an ID: exit %d, want 2", code)
	}

	code, stdout, _ = run(t, append(base, "compute", "delete", "--name", "cpu-cluster", "--no-wait")...)
	if code != 0 || !regexp.MustCompile(`operation op-[0-9a-f]+: Delete InProgress; follow it with: trainyard operation show op-`).MatchString(stdout) {
		t.Errorf("delete --no-wait: exit %d\n%s", code, stdout)
	}
}

// The CLI follows a create as wait_for_completion(show_output=True) does: the operation to its
// end, then the cluster's min nodes.
func TestCreateWaitsForOperationAndNodes(t *testing.T) {
	isolate(t)
	s := newServer(t)
	base := []string{"--server", s.front().URL, "--token", s.token}
	ctx := t.Context()

	done := runAsync(t, append(base, "compute", "create", "--name", "cpu-cluster", "--type", "amlcompute", "--min-instances", "2", "--max-instances", "4")...)
	eventually(t, "the compute is recorded", func() bool { _, err := s.db.Compute(ctx, "default", "cpu-cluster"); return err == nil })
	// What the autoscaler does: provision, then launch nodes whose agents register.
	if err := s.db.SetComputeState(ctx, "default", "cpu-cluster", trainyard.Succeeded, ""); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"cpu-cluster-1", "cpu-cluster-2"} {
		time.Sleep(700 * time.Millisecond)
		if _, err := s.db.CreateNode(ctx, trainyard.Node{ID: id, Workspace: "default", Compute: "cpu-cluster"}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.db.RegisterNode(ctx, id, "127.0.0.1", 7000); err != nil {
			t.Fatal(err)
		}
	}
	r := <-done
	if r.code != 0 {
		t.Fatalf("create: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	if lines[0] != "cpu-cluster: Creating… Succeeded" || lines[len(lines)-1] != "cpu-cluster: 2 of 2 nodes ready" {
		t.Errorf("progress = %q, want it to start with the operation's end and finish with 2 of 2 nodes ready", lines)
	}
	for _, l := range lines[1:] {
		if !regexp.MustCompile(`^cpu-cluster: [0-2] of 2 nodes ready$`).MatchString(l) {
			t.Errorf("progress line %q, want \"cpu-cluster: N of 2 nodes ready\"", l)
		}
	}
	if !strings.Contains(r.stdout, "compute cpu-cluster: Succeeded, 2 of 2 nodes ready") {
		t.Errorf("create output:\n%s%s", r.stdout, r.stderr)
	}

	// A create that fails: exit 1 with the operation's code and message.
	done = runAsync(t, append(base, "compute", "create", "--name", "bad-cluster", "--type", "amlcompute")...)
	eventually(t, "the compute is recorded", func() bool { _, err := s.db.Compute(ctx, "default", "bad-cluster"); return err == nil })
	if err := s.db.SetComputeState(ctx, "default", "bad-cluster", trainyard.Failed, "size X is gone"); err != nil {
		t.Fatal(err)
	}
	r = <-done
	if r.code != 1 || !strings.Contains(r.stderr, "bad-cluster: Creating… Failed\n") ||
		!strings.Contains(r.stderr, "error: compute bad-cluster: Create failed: ProvisioningFailed: size X is gone; delete it and create it again") {
		t.Errorf("failed create: exit %d, want 1 with the code and message\n%s%s", r.code, r.stdout, r.stderr)
	}

	// compute wait follows the same way, and times out saying how to go on.
	code, _, stderr := run(t, append(base, "compute", "wait", "--name", "cpu-cluster", "--min-nodes", "3", "--timeout", "1s")...)
	if code != 1 || !strings.Contains(stderr, "cpu-cluster: 2 of 3 nodes ready") || !strings.Contains(stderr, "after 1s") ||
		!strings.Contains(stderr, "trainyard compute events --name cpu-cluster") {
		t.Errorf("compute wait past its timeout: exit %d\n%s", code, stderr)
	}
}
