package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestChaos submits jobs while it kills the server (kill -9, then a restart on the same
// address) and node agents (kill -9, so the local provider's node is lost and its job runs
// again elsewhere) at points a fixed seed picks, and proves at the end that every job the
// server acknowledged completed, none is lost, no attempt of a job started twice, and no two
// attempts of a job ever ran at the same time. TRAINYARD_CHAOS_JOBS sets how many jobs
// (make soak runs 1,000); the seed is TRAINYARD_CHAOS_SEED, 3 by default.
func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real servers; skipped in -short mode")
	}
	jobs := envInt(t, "TRAINYARD_CHAOS_JOBS", 30)
	seed := envInt(t, "TRAINYARD_CHAOS_SEED", 3)
	rng := rand.New(rand.NewPCG(uint64(seed), 0))
	c := newChaos(t, "127.0.0.1", "", nil)
	c.cli("compute", "create", "--name", "chaos", "--type", "amlcompute", "--size", "STANDARD_D2_V2",
		"--min-instances", "0", "--max-instances", "3", "--idle-time-before-scale-down", "60")

	acked := map[string]bool{}
	var serverKills, agentKills int
	for i := range jobs {
		name := fmt.Sprintf("c-%04d", i)
		// A job writes, to a ledger outside trainyard, when each attempt starts, that it is
		// still alive every tenth of a second, and when it ends.
		cmd := fmt.Sprintf(`L=%s/ledger; a="$TRAINYARD_JOB_NAME $TRAINYARD_ATTEMPT"; echo "start $a $(date +%%s%%N)" >> $L; `+
			`for i in $(seq %d); do sleep 0.1; echo "tick $a $(date +%%s%%N)" >> $L; done; echo "end $a $(date +%%s%%N)" >> $L`,
			c.ledgerDir, 2+rng.IntN(10))
		for try := 0; ; try++ {
			out, err := c.run("job", "submit", "--compute", "chaos", "--name", name, "--max-retries", "20", "--", cmd)
			if err == nil || strings.Contains(out, "already exists") {
				acked[name] = true // a conflict: the server took it, and its answer was lost
				break
			}
			if try > 60 {
				t.Fatalf("job submit %s kept failing: %v\n%s", name, err, out)
			}
			time.Sleep(500 * time.Millisecond) // the server is restarting
		}
		switch p := rng.Float64(); {
		case p < 0.08:
			c.killServer()
			time.Sleep(time.Duration(rng.IntN(1500)) * time.Millisecond)
			c.startServer()
			serverKills++
		case p < 0.2:
			if c.killAgent(rng) {
				agentKills++
			}
		}
		time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond)
	}

	// Every acknowledged job reaches a terminal state.
	statuses := map[string]string{}
	deadline := time.Now().Add(time.Duration(60+jobs) * time.Second)
	for {
		statuses = c.statuses()
		done := 0
		for name := range acked {
			if s := statuses[name]; s == "Completed" || s == "Failed" || s == "Canceled" {
				done++
			}
		}
		if done == len(acked) {
			break
		}
		if time.Now().After(deadline) {
			out, _ := c.run("job", "list")
			t.Fatalf("%d of %d acknowledged jobs ended before the deadline:\n%s", done, len(acked), out)
		}
		time.Sleep(time.Second)
	}
	lost, notCompleted := 0, 0
	for name := range acked {
		switch s, ok := statuses[name]; {
		case !ok:
			lost++
			t.Errorf("job %s was acknowledged and is gone", name)
		case s != "Completed":
			notCompleted++
			t.Errorf("job %s ended %s", name, s)
		}
	}
	duplicated, concurrent, rerun := c.checkLedger(t, acked)
	fmt.Printf("lost=%d duplicated=%d (jobs %d, acknowledged %d, completed %d, run again after a lost node %d, concurrent attempts %d, server kills %d, agent kills %d, seed %d)\n",
		lost, duplicated, jobs, len(acked), len(acked)-lost-notCompleted, rerun, concurrent, serverKills, agentKills, seed)
}

type chaos struct {
	t         *testing.T
	data      string // the server's data dir
	ledgerDir string // where jobs, run as nobody, write their ledger
	addr      string // host:port the server listens on
	url       string // where the CLI reaches it
	args      []string
	cluster   string // the test's cluster, deleted at the end
	server    *exec.Cmd
	exited    chan struct{}
}

// newChaos starts a server on a free port of host (zone, if set, is the interface of an IPv6
// link-local host), with args, after calling before (if set) with the address; it deletes its
// cluster and nodes at the end.
func newChaos(t *testing.T, host, zone string, before func(c *chaos), args ...string) *chaos {
	ledger, err := os.MkdirTemp("", "trainyard-chaos-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(ledger, 0o777) // the jobs' account writes here
	t.Cleanup(func() { os.RemoveAll(ledger) })
	ip := host
	if zone != "" {
		ip += "%" + zone
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort(ip, strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))
	ln.Close()
	u := "http://" + addr
	if zone != "" {
		u = "http://" + strings.Replace(addr, "%", "%25", 1)
	}
	c := &chaos{t: t, data: t.TempDir(), ledgerDir: ledger, addr: addr, url: u, args: args, cluster: "chaos"}
	if before != nil {
		before(c)
	}
	c.startServer()
	t.Cleanup(func() {
		c.run("compute", "delete", "--name", c.cluster, "--yes") // its nodes go with it
		time.Sleep(time.Second)
		c.killServer()
		killNodes(c.data)
	})
	return c
}

func (c *chaos) startServer() {
	c.t.Helper()
	logf, err := os.OpenFile(filepath.Join(c.data, "..", "server.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		c.t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(filepath.Join(binDir, "trainyard"), append([]string{"server", "--data-dir", c.data, "--listen", c.addr}, c.args...)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	c.server, c.exited = cmd, make(chan struct{})
	go func(done chan struct{}) { cmd.Wait(); close(done) }(c.exited)
	for deadline := time.Now().Add(defaultTimeout); ; time.Sleep(50 * time.Millisecond) {
		if _, err := c.run("workspace", "list"); err == nil {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("the server did not come up on %s", c.url)
		}
	}
}

// killServer kills the server alone, with SIGKILL: its nodes' agents run on.
func (c *chaos) killServer() {
	if c.server == nil {
		return
	}
	c.server.Process.Kill()
	<-c.exited
	c.server = nil
}

// killAgent kills, with SIGKILL, the agent of a node that runs a job, or else of any node.
func (c *chaos) killAgent(rng *rand.Rand) bool {
	pids := agentPIDs(c.data)
	if busy := busyAgents(pids, c.ledgerDir); len(busy) > 0 {
		pids = busy
	}
	if len(pids) == 0 {
		return false
	}
	return syscall.Kill(pids[rng.IntN(len(pids))], syscall.SIGKILL) == nil
}

// busyAgents are the agents among pids that a running job's process descends from: a process
// whose command line names the ledger.
func busyAgents(pids []int, ledger string) []int {
	agents := map[int]bool{}
	for _, p := range pids {
		agents[p] = true
	}
	var busy []int
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, f := range procs {
		if b, _ := os.ReadFile(f); !strings.Contains(string(b), ledger) {
			continue
		}
		pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(f)))
		for range 8 { // up the parents, to the agent that started it
			if pid = parentOf(pid); pid <= 1 {
				break
			}
			if agents[pid] {
				busy = append(busy, pid)
				break
			}
		}
	}
	return busy
}

func parentOf(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 2 {
		return 0
	}
	ppid, _ := strconv.Atoi(f[1])
	return ppid
}

// agentPIDs lists the agents of the local nodes under data, by the pid files the local
// provider keeps.
func agentPIDs(data string) []int {
	files, _ := filepath.Glob(filepath.Join(data, "nodes", "*", "pid"))
	var pids []int
	for _, f := range files {
		b, _ := os.ReadFile(f) // "PID STARTTIME"
		fields := strings.Fields(string(b))
		if len(fields) == 0 {
			continue
		}
		if pid, err := strconv.Atoi(fields[0]); err == nil && syscall.Kill(pid, 0) == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

func killNodes(data string) {
	for _, pid := range agentPIDs(data) {
		syscall.Kill(-pid, syscall.SIGKILL)
	}
}

func (c *chaos) run(args ...string) (string, error) {
	cmd := exec.Command(filepath.Join(binDir, "trainyard"), args...)
	cmd.Env = append(os.Environ(), "TRAINYARD_DATA_DIR="+c.data, "TRAINYARD_SERVER="+c.url)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (c *chaos) cli(args ...string) string {
	c.t.Helper()
	out, err := c.run(args...)
	if err != nil {
		c.t.Fatalf("trainyard %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// statuses returns the status of every job of the workspace, by name.
func (c *chaos) statuses() map[string]string {
	out, err := c.run("job", "list", "--max-results", "10000", "-o", "json")
	if err != nil {
		c.t.Logf("job list (the server may be restarting): %v\n%s", err, out)
		return nil
	}
	var jobs []struct{ Name, Status string }
	if err := json.Unmarshal([]byte(out), &jobs); err != nil {
		c.t.Fatalf("job list: %v\n%s", err, out)
	}
	m := map[string]string{}
	for _, j := range jobs {
		m[j.Name] = j.Status
	}
	return m
}

// checkLedger reads what the jobs wrote and counts attempts that started twice (duplicated)
// and attempts of a job that ran while another of its attempts did (concurrent): an attempt
// runs from its start line to its last line, and the next may start only after that.
func (c *chaos) checkLedger(t *testing.T, acked map[string]bool) (duplicated, concurrent, rerun int) {
	f, err := os.Open(filepath.Join(c.ledgerDir, "ledger"))
	if err != nil {
		t.Fatalf("no ledger: %v", err)
	}
	defer f.Close()
	type span struct{ first, last int64 }
	spans := map[string]map[int]*span{}
	starts := map[string]int{}
	ended := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var kind, job string
		var attempt int
		var ts int64
		if _, err := fmt.Sscanf(sc.Text(), "%s %s %d %d", &kind, &job, &attempt, &ts); err != nil {
			continue // a line torn by a kill
		}
		if spans[job] == nil {
			spans[job] = map[int]*span{}
		}
		s := spans[job][attempt]
		if s == nil {
			s = &span{first: ts, last: ts}
			spans[job][attempt] = s
		}
		s.first, s.last = min(s.first, ts), max(s.last, ts)
		key := fmt.Sprintf("%s %d", job, attempt)
		if kind == "start" {
			if starts[key]++; starts[key] == 2 {
				duplicated++
				t.Errorf("attempt %d of job %s started twice", attempt, job)
			}
		}
		if kind == "end" {
			ended[job] = true
		}
	}
	for job, attempts := range spans {
		if len(attempts) > 1 {
			rerun++
		}
		for a, s := range attempts {
			for b, o := range attempts {
				if a < b && o.first < s.last {
					concurrent++
					t.Errorf("job %s: attempt %d started while attempt %d still ran", job, b, a)
				}
			}
		}
	}
	for job := range acked {
		if !ended[job] {
			t.Errorf("job %s completed, but no attempt of it ran to its end", job)
		}
	}
	return duplicated, concurrent, rerun
}

func envInt(t *testing.T, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("$%s %q: want a whole number, 1 or more", name, v)
	}
	return n
}
