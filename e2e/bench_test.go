package e2e

// The whole-server figures of `make bench` (issue 7): each benchmark starts the real
// `trainyard server` binary (built by TestMain) with the local provider and drives it through
// the api client, as the CLI does. They report their figure with b.ReportMetric; run them with
// -benchtime 1x, one sample each.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/api"
	"github.com/trainyard/trainyard/internal/store"
)

// benchServer is one `trainyard server` process of a benchmark.
type benchServer struct {
	work, data string
	cmd        *exec.Cmd
	exited     chan struct{}
	c          *api.Client
}

// startBenchServer starts the server on data (created under work) and waits until it answers.
// Every process under work is killed when the benchmark ends.
func startBenchServer(b *testing.B, work string) *benchServer {
	b.Helper()
	if binDir == "" {
		b.Skip("no trainyard binary (-short)")
	}
	s := &benchServer{work: work, data: filepath.Join(work, "data")}
	os.MkdirAll(s.data, 0o700)
	// A server running as root runs jobs as nobody, with their folders under $TMPDIR: keep
	// those under work, and let nobody pass through, as setup does for the scripts.
	tmp := filepath.Join(work, "tmp")
	os.MkdirAll(tmp, 0o711)
	for d := tmp; d != os.TempDir() && d != "/" && d != "/dev/shm"; d = filepath.Dir(d) {
		os.Chmod(d, 0o711)
	}
	os.Remove(filepath.Join(s.data, "server.json"))
	logf, err := os.OpenFile(filepath.Join(work, "server.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		b.Fatal(err)
	}
	defer logf.Close()
	s.cmd = exec.Command(filepath.Join(binDir, "trainyard"), "server", "--data-dir", s.data, "--listen", "127.0.0.1:0",
		"--log-level", "warn", "--heartbeat-timeout", "10m")
	s.cmd.Env = []string{"PATH=" + binDir + ":" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TMPDIR=" + tmp}
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		b.Fatal(err)
	}
	s.exited = make(chan struct{})
	go func() { s.cmd.Wait(); close(s.exited) }()
	b.Cleanup(s.kill)
	deadline := time.Now().Add(defaultTimeout)
	for {
		var info api.ServerInfo
		if data, err := os.ReadFile(filepath.Join(s.data, api.ServerInfoFile)); err == nil && json.Unmarshal(data, &info) == nil && info.PID == s.cmd.Process.Pid {
			if resp, err := healthClient.Get(info.URL + "/healthz"); err == nil {
				resp.Body.Close()
				tok, err := os.ReadFile(filepath.Join(s.data, api.AdminTokenFile))
				if err == nil {
					s.c = api.NewClient(info.URL, strings.TrimSpace(string(tok)))
					return s
				}
			}
		}
		if closed(s.exited) || time.Now().After(deadline) {
			b.Fatalf("the server did not start\n%s", tail(filepath.Join(work, "server.log"), 30))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop ends the server alone; its nodes go on.
func (s *benchServer) stop() {
	if !closed(s.exited) {
		s.cmd.Process.Signal(syscall.SIGTERM)
		<-s.exited
	}
}

// kill ends the server and every node agent and job under its work folder.
func (s *benchServer) kill() { killAll(&state{work: s.work, server: s.cmd, exited: s.exited}) }

// warmCompute creates cluster name of one STANDARD_D2_V2 node (2 cores) and waits for its node
// to be idle.
func (s *benchServer) warmCompute(b *testing.B, name string) {
	b.Helper()
	one := 1
	idle := api.Seconds{Duration: time.Hour}
	_, err := s.c.CreateCompute(b.Context(), "default", api.ComputeSpec{Name: name, Type: "amlcompute", Size: "STANDARD_D2_V2",
		MinInstances: &one, MaxInstances: &one, IdleTimeBeforeScaleDown: &idle})
	if err != nil {
		b.Fatal(err)
	}
	deadline := time.Now().Add(defaultTimeout)
	for time.Now().Before(deadline) {
		ns, err := s.c.Nodes(b.Context(), "default", name)
		if err == nil && len(ns) == 1 && ns[0].State == string(trainyard.NodeIdle) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.Fatalf("compute %s has no idle node after %s\n%s", name, defaultTimeout, tail(filepath.Join(s.work, "server.log"), 30))
}

// submit queues command on compute.
func (s *benchServer) submit(ctx context.Context, compute, command string) (api.Job, error) {
	return s.c.CreateJob(ctx, "default", api.JobSpec{Command: command, Compute: api.Named(compute)})
}

// waitEnded polls job name every millisecond until it has ended, and returns it.
func (s *benchServer) waitEnded(b *testing.B, name string) api.Job {
	b.Helper()
	deadline := time.Now().Add(defaultTimeout)
	for time.Now().Before(deadline) {
		j, err := s.c.Job(b.Context(), "default", name)
		if err != nil {
			b.Fatal(err)
		}
		switch j.Status {
		case "Completed":
			return j
		case "Failed", "Canceled":
			b.Fatalf("job %s ended %s: %+v", name, j.Status, j.Error)
		}
		time.Sleep(time.Millisecond)
	}
	b.Fatalf("job %s did not end in %s", name, defaultTimeout)
	return api.Job{}
}

// percentile is the p-th percentile (0 < p <= 100) of sorted ds, nearest rank.
func percentile(ds []time.Duration, p float64) time.Duration {
	i := int(float64(len(ds))*p/100+0.999999) - 1
	return ds[min(max(i, 0), len(ds)-1)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// BenchmarkSubmitToRunning: one idle warm node, the process driver, `true` as the command;
// jobs one at a time, from just before the POST to the server's startedAt (ms resolution).
func BenchmarkSubmitToRunning(b *testing.B) {
	const jobs = 1000
	s := startBenchServer(b, b.TempDir())
	s.warmCompute(b, "warm")
	var lat []time.Duration
	for b.Loop() {
		for range jobs {
			t0 := time.Now()
			j, err := s.submit(b.Context(), "warm", "true")
			if err != nil {
				b.Fatal(err)
			}
			j = s.waitEnded(b, j.Name)
			lat = append(lat, j.StartedAt.Sub(t0.Truncate(time.Millisecond)))
		}
	}
	slices.Sort(lat)
	b.ReportMetric(ms(percentile(lat, 50)), "p50-ms")
	b.ReportMetric(ms(percentile(lat, 99)), "p99-ms")
}

// BenchmarkQueueToNodeRequested: clusters at 0 nodes (min 0), one job each; the time from
// just before the POST until the autoscaler's node record (preparing) is listed.
func BenchmarkQueueToNodeRequested(b *testing.B) {
	const clusters = 5
	s := startBenchServer(b, b.TempDir())
	var lat []time.Duration
	for b.Loop() {
		for i := range clusters {
			name := fmt.Sprintf("cold%d-n%d", len(lat), i)
			one := 1
			if _, err := s.c.CreateCompute(b.Context(), "default", api.ComputeSpec{Name: name, Type: "amlcompute", Size: "STANDARD_D2_V2", MaxInstances: &one}); err != nil {
				b.Fatal(err)
			}
			time.Sleep(300 * time.Millisecond) // let the create settle, as a user's later submit would
			t0 := time.Now()
			if _, err := s.submit(b.Context(), name, "true"); err != nil {
				b.Fatal(err)
			}
			for {
				ns, err := s.c.Nodes(b.Context(), "default", name)
				if err != nil {
					b.Fatal(err)
				}
				if len(ns) > 0 {
					lat = append(lat, time.Since(t0))
					break
				}
				if time.Since(t0) > defaultTimeout {
					b.Fatalf("no node requested for %s in %s", name, defaultTimeout)
				}
				time.Sleep(time.Millisecond)
			}
		}
	}
	slices.Sort(lat)
	b.ReportMetric(ms(lat[len(lat)-1]), "max-ms")
	b.ReportMetric(ms(percentile(lat, 50)), "p50-ms")
}

// BenchmarkShortJobs: 2,000 jobs running `true` on one warm 2-core node, submitted by 8
// clients at once; from the first submit to the last job's endedAt.
func BenchmarkShortJobs(b *testing.B) {
	const jobs, clients = 2000, 8
	s := startBenchServer(b, b.TempDir())
	s.warmCompute(b, "warm")
	var total int
	var spent time.Duration
	for b.Loop() {
		names := make([][]string, clients)
		t0 := time.Now()
		var wg sync.WaitGroup
		for c := range clients {
			wg.Go(func() {
				for range jobs / clients {
					j, err := s.submit(b.Context(), "warm", "true")
					if err != nil {
						b.Error(err)
						return
					}
					names[c] = append(names[c], j.Name)
				}
			})
		}
		wg.Wait()
		var last time.Time
		for _, ns := range names {
			for _, n := range ns {
				for {
					j, err := s.c.Job(b.Context(), "default", n)
					if err != nil {
						b.Fatal(err)
					}
					if j.Status == "Completed" {
						last = later(last, *j.EndedAt)
						total++
						break
					}
					if j.Status == "Failed" || j.Status == "Canceled" {
						b.Fatalf("job %s ended %s", n, j.Status)
					}
					time.Sleep(50 * time.Millisecond)
				}
			}
		}
		spent += last.Sub(t0)
	}
	b.ReportMetric(float64(total)/spent.Seconds(), "jobs/s")
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// BenchmarkLogStream: a job writing streamBytes of 100-character lines to stdout on a warm
// node, read as `job stream` reads it (the Logs loop) from submit to the last byte. The job
// writes with yes, which takes 0.2 s of CPU for 1 GiB; head | tr | fold took 5.6 s of the
// two cores that trainyard's agent, server and reader share with it.
func BenchmarkLogStream(b *testing.B) {
	streamBytes := int64(1 << 30) // TRAINYARD_BENCH_STREAM_BYTES sets another size
	if v, err := strconv.ParseInt(os.Getenv("TRAINYARD_BENCH_STREAM_BYTES"), 10, 64); err == nil && v > 0 {
		streamBytes = v
	}
	s := startBenchServer(b, b.TempDir())
	s.warmCompute(b, "warm")
	var read int64
	var spent time.Duration
	for b.Loop() {
		t0 := time.Now()
		j, err := s.submit(b.Context(), "warm", fmt.Sprintf(`yes %s | head -c %d`, strings.Repeat("a", 99), streamBytes))
		if err != nil {
			b.Fatal(err)
		}
		var off int64
		for {
			ch, err := s.c.Logs(b.Context(), "default", j.Name, off, 5*time.Second)
			if err != nil {
				b.Fatal(err)
			}
			off = ch.Next
			if len(ch.Data) == 0 && (ch.Status == "Completed" || ch.Status == "Failed" || ch.Status == "Canceled") {
				break
			}
		}
		spent += time.Since(t0)
		read += off
	}
	b.ReportMetric(float64(read)/1e6/spent.Seconds(), "MB/s")
	b.ReportMetric(float64(read)/1e6, "MB")
}

// BenchmarkServerMemory: the resident memory of a server whose store holds 10,000 registered
// node records and 100,000 queued jobs. The records are written with the store's own code
// while the server is stopped (on tmpfs, to be quick), then the server starts on them, serves
// a listing of each compute and runs for a while; the figure is its peak RSS (VmHWM). The
// nodes have no agents: the autoscaler declares them lost as it would any silent node. The
// jobs' compute has max_instances 0, so no node is launched for them.
func BenchmarkServerMemory(b *testing.B) {
	const nodes, jobs = 10_000, 100_000
	work, err := os.MkdirTemp("/dev/shm", "trainyard-bench-")
	if err != nil {
		work = b.TempDir()
	}
	defer os.RemoveAll(work)
	for b.Loop() {
		s := startBenchServer(b, work)
		ctx := b.Context()
		maxNodes, zero := nodes, 0
		if _, err := s.c.CreateCompute(ctx, "default", api.ComputeSpec{Name: "many", Type: "amlcompute", Size: "STANDARD_D2_V2", MaxInstances: &maxNodes}); err != nil {
			b.Fatal(err)
		}
		if _, err := s.c.CreateCompute(ctx, "default", api.ComputeSpec{Name: "queue", Type: "amlcompute", Size: "STANDARD_D2_V2", MaxInstances: &zero}); err != nil {
			b.Fatal(err)
		}
		s.stop()
		db, err := store.Open(ctx, filepath.Join(s.data, "trainyard.db"))
		if err != nil {
			b.Fatal(err)
		}
		for i := range nodes {
			id := fmt.Sprintf("many-%05d", i)
			if _, err := db.CreateNode(ctx, trainyard.Node{ID: id, Workspace: "default", Compute: "many"}); err != nil {
				b.Fatal(err)
			}
			if _, err := db.RegisterNode(ctx, id, "127.0.0.1", 20000+i%40000); err != nil {
				b.Fatal(err)
			}
		}
		for i := range jobs {
			j := trainyard.Job{Workspace: "default", Name: fmt.Sprintf("queued-%06d", i), Compute: "queue", Command: "python train.py --epochs 10",
				InstanceCount: 1, Status: trainyard.JobQueued, Retry: trainyard.Retry{Max: 3}}
			if _, err := db.CreateJob(ctx, j, `{"command":"python train.py --epochs 10","compute":"queue"}`); err != nil {
				b.Fatal(err)
			}
		}
		db.Close()
		b.ResetTimer()
		s = startBenchServer(b, work)
		if ns, err := s.c.Nodes(ctx, "default", "many"); err != nil || len(ns) < nodes {
			b.Fatalf("nodes: %d, %v", len(ns), err)
		}
		if js, err := s.c.Jobs(ctx, "default", "queue", "Queued", 100); err != nil || len(js) == 0 {
			b.Fatalf("jobs: %d, %v", len(js), err)
		}
		time.Sleep(10 * time.Second) // autoscale passes (every 2 s) over both computes
		rss, err := peakRSS(s.cmd.Process.Pid)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(rss)/(1<<20), "MB-rss")
		s.kill()
	}
}

// peakRSS reads VmHWM, the peak resident set of process pid, in bytes.
func peakRSS(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/%d/status", pid)
}
