//go:build slurmbench

package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestBenchSlurm measures trainyard and a one-host Slurm side by side, in the same run, on
// three workloads at the same sizes, and prints one table (make bench-slurm runs it beside
// scripts/slurm.sh, which starts Slurm and sets SLURM_CONF):
//
//   - submit throughput: TRAINYARD_BENCH_SUBMITS submissions from 8 parallel CLI processes
//     (`trainyard job submit`, `sbatch`), acknowledged jobs/s; the jobs run `true` meanwhile,
//     and what is left of them is cancelled before the next workload;
//   - submit → running on an idle node: TRAINYARD_BENCH_LATENCY jobs one at a time, each
//     writing its own start time to a file, from just before the CLI process starts; p50, p99;
//   - end to end: TRAINYARD_BENCH_E2E jobs running `true`, submitted by 8 parallel clients,
//     from the first submit to the last finish, jobs/s.
//
// Both have room for two jobs at once: Slurm's node has 2 CPUs and a job takes one; trainyard's
// cluster has two warm local nodes (min = max = 2) and a node runs one job. Each workload runs
// on trainyard, then on Slurm, so a change in the machine's load hits both alike.
func TestBenchSlurm(t *testing.T) {
	if os.Getenv("SLURM_CONF") == "" {
		t.Fatal("SLURM_CONF is not set: run this through make bench-slurm (scripts/slurm.sh starts Slurm)")
	}
	submits := envInt(t, "TRAINYARD_BENCH_SUBMITS", 500)
	samples := envInt(t, "TRAINYARD_BENCH_LATENCY", 50)
	e2eJobs := envInt(t, "TRAINYARD_BENCH_E2E", 200)
	header := machine(t)
	load0 := loadavg()

	c := newChaos(t, "127.0.0.1", "", nil)
	// The throughput jobs, cancelled at the end, get a cluster of their own: a job cancelled
	// the moment it is placed can leave its node busy for good (see trainyardBench.stuck), and
	// that must not take a node from the workloads after it.
	for _, name := range []string{"bench-tp", "bench"} {
		c.cli("compute", "create", "--name", name, "--type", "amlcompute", "--size", "STANDARD_D2_V2",
			"--min-instances", "2", "--max-instances", "2", "--idle-time-before-scale-down", "3600")
	}
	c.cluster = "bench"
	t.Cleanup(func() { c.run("compute", "delete", "--name", "bench-tp", "--yes", "--no-wait") })
	ty := &trainyardBench{c: c, compute: "bench-tp"}
	sl := &slurmBench{t: t, out: os.Getenv("TRAINYARD_SLURM_OUT"), jobcomp: os.Getenv("TRAINYARD_SLURM_JOBCOMP")}
	systems := []benchSystem{ty, sl}

	var rows [][4]string
	tput := map[string]float64{}
	for _, s := range systems {
		tput[s.name()] = benchThroughput(t, s, submits)
	}
	rows = append(rows, row(fmt.Sprintf("submit throughput, %d jobs, 8 clients (jobs/s)", submits),
		tput, "%.0f", false))

	if stuck := ty.stuck("bench-tp"); len(stuck) > 0 {
		t.Logf("trainyard: after cancelling the throughput jobs, node(s) of bench-tp stay busy with a cancelled job: %s", strings.Join(stuck, ", "))
	}
	ty.compute = "bench"

	p50, p99 := map[string]float64{}, map[string]float64{}
	for _, s := range systems {
		lat := benchLatency(t, s, c.ledgerDir, samples)
		p50[s.name()], p99[s.name()] = quantile(lat, 0.50), quantile(lat, 0.99)
	}
	rows = append(rows,
		row(fmt.Sprintf("submit → running, idle node, p50 of %d (s)", samples), p50, "%.3f", true),
		row(fmt.Sprintf("submit → running, idle node, p99 of %d (s)", samples), p99, "%.3f", true))

	if stuck := ty.stuck("bench"); len(stuck) > 0 {
		t.Fatalf("trainyard: node(s) of bench stay busy with an ended job, so it has fewer nodes than Slurm has CPUs: %s", strings.Join(stuck, ", "))
	}
	e2e, e2eSecs := map[string]float64{}, map[string]float64{}
	for _, s := range systems {
		secs := benchEndToEnd(t, s, e2eJobs)
		e2eSecs[s.name()], e2e[s.name()] = secs, float64(e2eJobs)/secs
	}
	rows = append(rows,
		row(fmt.Sprintf("%d jobs running true, first submit → last finish (s)", e2eJobs), e2eSecs, "%.1f", true),
		row(fmt.Sprintf("%d jobs running true, end to end (jobs/s)", e2eJobs), e2e, "%.2f", false))

	var b strings.Builder
	fmt.Fprintf(&b, "\n%s\nload average at start: %s; at end: %s\n", header, load0, loadavg())
	fmt.Fprintf(&b, "sizes: %d submissions, %d latency samples, %d end-to-end jobs\n\n", submits, samples, e2eJobs)
	fmt.Fprintf(&b, "| workload | trainyard | Slurm | trainyard vs Slurm |\n|---|---:|---:|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", r[0], r[1], r[2], r[3])
	}
	fmt.Print(b.String())
}

// row formats one workload; lowerIsBetter says the figure is a time, so the ratio is
// Slurm/trainyard.
func row(what string, v map[string]float64, format string, lowerIsBetter bool) [4]string {
	ty, sl := v["trainyard"], v["Slurm"]
	x := ty / sl
	if lowerIsBetter {
		x = sl / ty
	}
	ratio := fmt.Sprintf("%.1fx faster", x)
	if x < 1 {
		ratio = fmt.Sprintf("%.1fx slower", 1/x)
	}
	return [4]string{what, fmt.Sprintf(format, ty), fmt.Sprintf(format, sl), ratio}
}

// A benchSystem is what the workloads drive: a scheduler reached through its own CLI.
type benchSystem interface {
	name() string
	// submit runs one CLI process that submits command as a job called name.
	submit(name, command string) error
	// unfinished counts the jobs whose names start with prefix and have not ended.
	unfinished(prefix string) int
	// completed counts the jobs whose names start with prefix and completed.
	completed(prefix string) int
	// cancel ends every unfinished job whose name starts with prefix.
	cancel(prefix string)
}

// submitAll submits n jobs named prefix-NNNN running command from 8 parallel clients, and
// returns when each was acknowledged, or fails the test.
func submitAll(t *testing.T, s benchSystem, prefix, command string, n int) {
	t.Helper()
	next := make(chan int)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i := range next {
				if err := s.submit(fmt.Sprintf("%s-%04d", prefix, i), command); err != nil {
					errs <- err
				}
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("%s: %v", s.name(), err)
	}
}

func waitDone(t *testing.T, s benchSystem, prefix string, timeout, poll time.Duration) {
	t.Helper()
	for deadline := time.Now().Add(timeout); s.unfinished(prefix) > 0; time.Sleep(poll) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d jobs %s-* still unfinished after %s", s.name(), s.unfinished(prefix), prefix, timeout)
		}
	}
}

func benchThroughput(t *testing.T, s benchSystem, n int) float64 {
	t.Logf("%s: submit throughput, load average %s", s.name(), loadavg())
	start := time.Now()
	submitAll(t, s, "tp", "true", n)
	secs := time.Since(start).Seconds()
	t.Logf("%s: %d submissions acknowledged in %.2f s (%.0f/s)", s.name(), n, secs, float64(n)/secs)
	s.cancel("tp")
	waitDone(t, s, "tp", 5*time.Minute, 500*time.Millisecond)
	return float64(n) / secs
}

// benchLatency runs n jobs one at a time; each writes the time it started to a file in dir,
// read against the time just before its submitting CLI process started.
func benchLatency(t *testing.T, s benchSystem, dir string, n int) []float64 {
	t.Logf("%s: submit → running, load average %s", s.name(), loadavg())
	var lat []float64
	for i := range n {
		name := fmt.Sprintf("lat%s-%03d", strings.ToLower(s.name()[:1]), i)
		f := filepath.Join(dir, name)
		cmd := fmt.Sprintf("date +%%s%%N > %s.tmp && mv %s.tmp %s", f, f, f)
		start := time.Now()
		if err := s.submit(name, cmd); err != nil {
			t.Fatalf("%s: %v", s.name(), err)
		}
		var started int64
		for deadline := start.Add(2 * time.Minute); ; time.Sleep(5 * time.Millisecond) {
			if b, err := os.ReadFile(f); err == nil {
				if started, err = strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil {
					break
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: job %s did not start in 2 minutes", s.name(), name)
			}
		}
		lat = append(lat, time.Unix(0, started).Sub(start).Seconds())
		waitDone(t, s, name, 2*time.Minute, 20*time.Millisecond) // so the next finds the node idle
	}
	t.Logf("%s: submit → running p50 %.3f s, p99 %.3f s, min %.3f s over %d jobs", s.name(),
		quantile(lat, 0.5), quantile(lat, 0.99), slices.Min(lat), n)
	return lat
}

func benchEndToEnd(t *testing.T, s benchSystem, n int) float64 {
	t.Logf("%s: end to end, load average %s", s.name(), loadavg())
	start := time.Now()
	submitAll(t, s, "e2e", "true", n)
	waitDone(t, s, "e2e", time.Duration(n)*3*time.Second+time.Minute, 200*time.Millisecond)
	secs := time.Since(start).Seconds()
	if got := s.completed("e2e"); got != n {
		t.Errorf("%s: %d of %d end-to-end jobs completed", s.name(), got, n)
	}
	t.Logf("%s: %d jobs from first submit to last finish in %.1f s (%.2f jobs/s)", s.name(), n, secs, float64(n)/secs)
	return secs
}

// quantile is the p-quantile (0 < p <= 1) of xs, nearest rank.
func quantile(xs []float64, p float64) float64 {
	s := slices.Sorted(slices.Values(xs))
	return s[max(0, int(math.Ceil(p*float64(len(s))))-1)]
}

type trainyardBench struct {
	c       *chaos
	compute string // where jobs go
}

func (b *trainyardBench) name() string { return "trainyard" }

func (b *trainyardBench) submit(name, command string) error {
	if out, err := b.c.run("job", "submit", "--compute", b.compute, "--name", name, "--", command); err != nil {
		return fmt.Errorf("job submit %s: %v\n%s", name, err, out)
	}
	return nil
}

func (b *trainyardBench) count(prefix string, match func(status string) bool) int {
	n := 0
	for name, st := range b.c.statuses() {
		if strings.HasPrefix(name, prefix) && match(st) {
			n++
		}
	}
	return n
}

func terminal(status string) bool {
	return status == "Completed" || status == "Failed" || status == "Canceled"
}

func (b *trainyardBench) unfinished(prefix string) int {
	return b.count(prefix, func(st string) bool { return !terminal(st) })
}

func (b *trainyardBench) completed(prefix string) int {
	return b.count(prefix, func(st string) bool { return st == "Completed" })
}

// stuck lists the nodes of compute that are not idle although the job they hold has ended,
// as "node (job status)". The jobs must all have ended.
func (b *trainyardBench) stuck(compute string) []string {
	out := b.c.cli("compute", "list-nodes", "--name", compute, "-o", "json")
	var nodes []struct{ NodeID, NodeState, RunID string }
	if err := json.Unmarshal([]byte(out), &nodes); err != nil {
		b.c.t.Fatalf("compute list-nodes: %v\n%s", err, out)
	}
	statuses := b.c.statuses()
	var stuck []string
	for _, n := range nodes {
		if n.NodeState != "idle" && terminal(statuses[n.RunID]) {
			stuck = append(stuck, fmt.Sprintf("%s %s (job %s %s)", n.NodeID, n.NodeState, n.RunID, statuses[n.RunID]))
		}
	}
	return stuck
}

func (b *trainyardBench) cancel(prefix string) {
	var names []string
	for name, st := range b.c.statuses() {
		if strings.HasPrefix(name, prefix) && !terminal(st) {
			names = append(names, name)
		}
	}
	next := make(chan string)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for name := range next {
				b.c.run("job", "cancel", "--name", name) // one that ended meanwhile refuses: fine
			}
		})
	}
	for _, n := range names {
		next <- n
	}
	close(next)
	wg.Wait()
}

type slurmBench struct {
	t       *testing.T
	out     string // where jobs start, writable by all
	jobcomp string // jobcomp/filetxt: a line per finished job
}

func (b *slurmBench) name() string { return "Slurm" }

func (b *slurmBench) submit(name, command string) error {
	cmd := exec.Command("sbatch", "--parsable", "-J", name, "-D", b.out, "-o", "/dev/null", "--wrap", command)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("sbatch %s: %v\n%s", name, err, out)
	}
	return nil
}

func (b *slurmBench) unfinished(prefix string) int {
	out, err := exec.Command("squeue", "-h", "-o", "%j").Output()
	if err != nil {
		b.t.Fatalf("squeue: %v", err)
	}
	n := 0
	for _, name := range strings.Fields(string(out)) {
		if strings.HasPrefix(name, prefix) {
			n++
		}
	}
	return n
}

func (b *slurmBench) completed(prefix string) int {
	data, err := os.ReadFile(b.jobcomp)
	if err != nil {
		b.t.Fatalf("slurm jobcomp: %v", err)
	}
	n := 0
	for _, line := range strings.Split(string(data), "\n") {
		if strings.Contains(line, " Name="+prefix) && strings.Contains(line, " JobState=COMPLETED ") {
			n++
		}
	}
	return n
}

func (b *slurmBench) cancel(prefix string) {
	out, err := exec.Command("squeue", "-h", "-o", "%i %j").Output()
	if err != nil {
		b.t.Fatalf("squeue: %v", err)
	}
	var ids []string
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) == 2 && strings.HasPrefix(f[1], prefix) {
			ids = append(ids, f[0])
		}
	}
	if len(ids) > 0 {
		if out, err := exec.Command("scancel", ids...).CombinedOutput(); err != nil {
			b.t.Logf("scancel: %v\n%s", err, out)
		}
	}
}

// machine names what the figures were measured on.
func machine(t *testing.T) string {
	cpu := "?"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	mem := "?"
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb float64
		if _, err := fmt.Sscanf(string(b), "MemTotal: %f kB", &kb); err == nil {
			mem = fmt.Sprintf("%.1f GiB", kb/(1<<20))
		}
	}
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	slurm, err := exec.Command("sbatch", "--version").Output()
	if err != nil {
		t.Fatalf("sbatch --version: %v", err)
	}
	return fmt.Sprintf("machine: %s, %d cores, %s memory, Linux %s; %s; %s (one host, default scheduler settings)",
		cpu, runtime.NumCPU(), mem, bytes.TrimSpace(kernel), runtime.Version(), bytes.TrimSpace(slurm))
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:3], " ")
}
