package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestNetworkCut cuts a running job's node off from the server: the node's agent runs in a
// network namespace of its own, joined to the server's by a veth pair with IPv6 link-local
// addresses (no traffic leaves the pair), and the server's end goes down. The server declares
// the node lost after its heartbeat timeout, has its instance (agent and job processes)
// deleted, and only then queues the job again; once the link is back, a new node runs attempt
// 2. The job's ledger proves attempt 1 ended before attempt 2 began: a node cut off never
// leads to two attempts running at once.
func TestNetworkCut(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real servers; skipped in -short mode")
	}
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" || os.Getenv("TRAINYARD_REQUIRE_DOCKER") != "" {
			t.Fatal("the network-cut test creates network namespaces, which needs root")
		}
		t.Skip("needs root for network namespaces")
	}
	id := fmt.Sprintf("%d", os.Getpid()%100000)
	ns, hostIf, nodeIf := "tycut"+id, "tyca"+id, "tycb"+id
	sh := func(cmd string) {
		t.Helper()
		if out, err := exec.Command("sh", "-c", cmd).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", cmd, err, out)
		}
	}
	sh(fmt.Sprintf("ip netns add %s", ns))
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run(); exec.Command("ip", "link", "del", hostIf).Run() })
	sh(fmt.Sprintf("ip link add %s type veth peer name %s && ip link set %s netns %s", hostIf, nodeIf, nodeIf, ns))
	sh(fmt.Sprintf("ip -6 addr add fe80::a/64 dev %s nodad && ip link set %s up", hostIf, hostIf))
	sh(fmt.Sprintf("ip netns exec %s sh -c 'ip link set lo up && ip -6 addr add fe80::b/64 dev %s nodad && ip link set %s up'", ns, nodeIf, nodeIf))

	// The server listens on its end of the pair; the nodes reach it through theirs.
	cfg := filepath.Join(t.TempDir(), "server.yml")
	c := newChaos(t, "fe80::a", hostIf, func(c *chaos) {
		port := c.addr[strings.LastIndex(c.addr, ":")+1:]
		os.WriteFile(cfg, fmt.Appendf(nil, "locations:\n  - name: local\n    provider: local\n    netns: %s\n    server_url: http://[fe80::a%%25%s]:%s\n", ns, nodeIf, port), 0o644)
	}, "--config", cfg, "--heartbeat-timeout", "4s")
	c.cluster = "cut"
	c.cli("compute", "create", "--name", "cut", "--type", "amlcompute", "--size", "STANDARD_D2_V2",
		"--min-instances", "0", "--max-instances", "1", "--idle-time-before-scale-down", "60")

	// Attempt 1 runs for a minute, unless stopped; attempt 2 is short.
	cmd := fmt.Sprintf(`L=%s/ledger; a="$TRAINYARD_JOB_NAME $TRAINYARD_ATTEMPT"; echo "start $a $(date +%%s%%N)" >> $L; `+
		`n=600; [ "$TRAINYARD_ATTEMPT" = 1 ] || n=5; for i in $(seq $n); do sleep 0.1; echo "tick $a $(date +%%s%%N)" >> $L; done; echo "end $a $(date +%%s%%N)" >> $L`, c.ledgerDir)
	c.cli("job", "submit", "--compute", "cut", "--name", "cutoff", "--", cmd)
	waitFor(t, 90*time.Second, "attempt 1 to run", func() bool {
		b, _ := os.ReadFile(filepath.Join(c.ledgerDir, "ledger"))
		return strings.Contains(string(b), "tick cutoff 1 ")
	})

	// The node's end goes down: it hears nothing, while the server's own address stays up
	// for the CLI.
	sh(fmt.Sprintf("ip netns exec %s ip link set %s down", ns, nodeIf))
	waitFor(t, 60*time.Second, "the job to be queued again as attempt 2", func() bool {
		out, err := c.run("job", "show", "--name", "cutoff")
		return err == nil && strings.Contains(out, "attempt:") && strings.Contains(out, "was lost")
	})
	sh(fmt.Sprintf("ip netns exec %s ip link set %s up", ns, nodeIf))
	waitFor(t, 120*time.Second, "attempt 2 to complete", func() bool {
		return c.statuses()["cutoff"] == "Completed"
	})
	out := c.cli("job", "show", "--name", "cutoff")
	if !strings.Contains(out, "attempt:       2 of at most 4") || !strings.Contains(out, "agent silent") {
		t.Errorf("job show after the cut:\n%s\nwant attempt 2, attempt 1 ended by the silent agent", out)
	}
	duplicated, concurrent, rerun := c.checkLedger(t, map[string]bool{"cutoff": true})
	if duplicated != 0 || concurrent != 0 || rerun != 1 {
		t.Errorf("ledger: %d attempts started twice, %d ran at once, %d jobs ran again; want 0, 0, 1", duplicated, concurrent, rerun)
	}
}

func waitFor(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); !ok(); time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
	}
}
