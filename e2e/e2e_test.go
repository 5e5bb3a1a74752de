// Package e2e runs the real trainyard binary end to end: each testdata/*.txtar script is one
// user story that starts `trainyard server` on 127.0.0.1:0 with the local provider and drives it
// with the CLI, as a user would (STYLE §4.9 point 8).
//
// Commands the scripts get on top of testscript's own:
//
//	start-server [ARG...]          start `trainyard server` on $WORK/data (log: $WORK/server.log), set
//	                               TRAINYARD_DATA_DIR and SERVER_URL; a restart reuses the address
//	kill-server                    kill -9 the server (its nodes and jobs go on)
//	wait-job NAME STATUS [TIMEOUT] poll `trainyard job show` until the job has STATUS
//	wait-nodes COMPUTE N [TIMEOUT] poll `trainyard compute list-nodes` until COMPUTE has N nodes
//	wait-computes N [TIMEOUT]      poll `trainyard compute list` until the workspace has N computes
//	wait-log NAME REGEXP [TIMEOUT] poll the job's log until it matches REGEXP
//	proc-gone PIDFILE [TIMEOUT]    wait until the process whose pid is in PIDFILE has exited
//	exits CODE PROG [ARG...]       run PROG like exec, and check its exit code is CODE
//	api METHOD PATH [BODY]         call the API with the admin token; stdout is "HTTP STATUS" and
//	                               the body; fails on a status >= 400 unless negated
//	json-get FILE PATH             print the value at PATH of the JSON in FILE (or stdout)
//	json-num FILE PATH OP NUMBER   check the number at PATH: OP is one of < <= == >= >
//	env-file NAME FILE             set $NAME to FILE's content, trimmed
//	grep-files REGEXP PATH...      like grep, over files and whole directory trees
//
// A JSON PATH is dot-separated: a key, a list index, "#" (a list's length) or "key=value" (the
// first list item whose key has that value), e.g. "name=final_test_accuracy.value".
//
// Every process a script starts is killed when it ends: the server, and every node agent and
// job under $WORK. The scripts run in parallel; `go test -short` skips them.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

var (
	binDir   string // holds the trainyard binary built for this run
	repoRoot string // the module root, $REPO in scripts
)

// defaultTimeout bounds every wait- command that is not given one: generous, for slow CI.
const defaultTimeout = 60 * time.Second

func TestMain(m *testing.M) { os.Exit(testMain(m)) }

func testMain(m *testing.M) int {
	flag.Parse()
	if testing.Short() {
		return m.Run() // TestScripts skips itself; no binary to build
	}
	root, err := filepath.Abs("..")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	dir, err := os.MkdirTemp("", "trainyard-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	// Jobs run as nobody reach the binary as $TRAINYARD_BIN (the MPI relay), as they would in
	// /usr/local/bin.
	if err := os.Chmod(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	build := exec.Command("go", "build", "-o", filepath.Join(dir, "trainyard"), "./cmd/trainyard")
	build.Dir = root
	// Static, so that docker-provider nodes run it in any image.
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: build trainyard:", err)
		return 1
	}
	binDir, repoRoot = dir, root
	return m.Run()
}

func TestScripts(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end scripts start real servers; skipped in -short mode")
	}
	testscript.Run(t, testscript.Params{
		Dir:   "testdata",
		Setup: setup,
		Condition: func(cond string) (bool, error) {
			switch cond {
			case "root":
				return os.Geteuid() == 0, nil
			case "docker":
				return dockerReady()
			}
			if prog, ok := strings.CutPrefix(cond, "have:"); ok {
				return installed(prog)
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"start-server":  cmdStartServer,
			"kill-server":   cmdKillServer,
			"wait-job":      cmdWaitJob,
			"wait-nodes":    cmdWaitNodes,
			"wait-computes": cmdWaitComputes,
			"wait-log":      cmdWaitLog,
			"proc-gone":     cmdProcGone,
			"exits":         cmdExits,
			"api":           cmdAPI,
			"json-get":      cmdJSONGet,
			"json-num":      cmdJSONNum,
			"env-file":      cmdEnvFile,
			"grep-files":    cmdGrepFiles,
		},
	})
}

type stateKey struct{}

// state is what one script's commands share.
type state struct {
	work   string
	server *exec.Cmd
	exited chan struct{} // closed when server has exited and been reaped
	addr   string        // host:port of the first server, reused on a restart
}

func setup(e *testscript.Env) error {
	e.Setenv("PATH", binDir+string(os.PathListSeparator)+e.Getenv("PATH"))
	e.Setenv("REPO", repoRoot)
	st := &state{work: e.WorkDir}
	e.Values[stateKey{}] = st
	// A server running as root runs jobs as nobody, with their folders under $TMPDIR: keep
	// those in $WORK too (so cleanup finds every process), and let nobody pass through.
	tmp := filepath.Join(e.WorkDir, "tmp")
	if err := os.MkdirAll(tmp, 0o711); err != nil {
		return err
	}
	e.Setenv("TMPDIR", tmp)
	for d := tmp; d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		os.Chmod(d, 0o711)
	}
	os.Chmod(e.WorkDir, 0o777) // scripts' jobs leave pid files there
	e.Defer(func() { killAll(st) })
	return nil
}

func getState(ts *testscript.TestScript) *state { return ts.Value(stateKey{}).(*state) }

func dataDir(ts *testscript.TestScript) string { return filepath.Join(getState(ts).work, "data") }

// cmdStartServer starts the server in the background and waits until it answers /healthz.
// Extra arguments go to `trainyard server`, e.g. --log-level debug.
func cmdStartServer(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! start-server")
	}
	st := getState(ts)
	if st.server != nil && !closed(st.exited) {
		ts.Fatalf("the server is already running")
	}
	dir := dataDir(ts)
	info := filepath.Join(dir, "server.json")
	os.Remove(info) // a killed server leaves its own behind
	addr := st.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	logf, err := os.OpenFile(filepath.Join(st.work, "server.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	ts.Check(err)
	defer logf.Close()
	cmd := exec.Command(filepath.Join(binDir, "trainyard"), append([]string{"server", "--data-dir", dir, "--listen", addr}, args...)...)
	// A clean environment: no TRAINYARD_TOKEN or such of the script leaks into the server.
	cmd.Env = []string{"PATH=" + ts.Getenv("PATH"), "HOME=" + ts.Getenv("HOME"), "TMPDIR=" + ts.Getenv("TMPDIR")}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	ts.Check(cmd.Start())
	st.server, st.exited = cmd, make(chan struct{})
	go func(done chan struct{}) { cmd.Wait(); close(done) }(st.exited)

	deadline := time.Now().Add(defaultTimeout)
	for {
		var i struct {
			URL string `json:"url"`
			PID int    `json:"pid"`
		}
		if b, err := os.ReadFile(info); err == nil && json.Unmarshal(b, &i) == nil && i.PID == cmd.Process.Pid {
			if resp, err := healthClient.Get(i.URL + "/healthz"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					st.addr = strings.TrimPrefix(i.URL, "http://")
					ts.Setenv("TRAINYARD_DATA_DIR", dir)
					ts.Setenv("SERVER_URL", i.URL)
					return
				}
			}
		}
		if closed(st.exited) {
			ts.Fatalf("the server exited: %v\n%s", cmd.ProcessState, tail(filepath.Join(st.work, "server.log"), 30))
		}
		if time.Now().After(deadline) {
			ts.Fatalf("the server did not become healthy in %s\n%s", defaultTimeout, tail(filepath.Join(st.work, "server.log"), 30))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var healthClient = &http.Client{Timeout: 5 * time.Second}

func cmdKillServer(ts *testscript.TestScript, neg bool, args []string) {
	st := getState(ts)
	if neg || len(args) != 0 || st.server == nil {
		ts.Fatalf("usage: kill-server, after start-server")
	}
	ts.Check(st.server.Process.Signal(syscall.SIGKILL))
	<-st.exited
}

// killAll kills the server and every process whose command line or working directory is under
// the script's $WORK: node agents and jobs run in sessions or process groups of their own, so
// they would outlive the server.
func killAll(st *state) {
	if st.server != nil && !closed(st.exited) {
		syscall.Kill(-st.server.Process.Pid, syscall.SIGKILL)
		<-st.exited
	}
	removeContainers(st.work)
	for range 3 { // again, in case something started while the others were killed
		pids := processesUnder(st.work)
		if len(pids) == 0 {
			return
		}
		for _, pid := range pids {
			syscall.Kill(-pid, syscall.SIGKILL) // fails harmlessly when pid leads no group
			syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// processesUnder lists the live processes that mention dir in their command line or run in it.
func processesUnder(dir string) []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() || !alive(pid) {
			continue
		}
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		cwd, _ := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
		if bytes.Contains(cmdline, []byte(dir+"/")) || cwd == dir || strings.HasPrefix(cwd, dir+"/") {
			pids = append(pids, pid)
		}
	}
	return pids
}

// alive reports whether pid runs: it exists and is not a zombie waiting for its parent.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	return i >= 0 && i+2 < len(b) && b[i+2] != 'Z'
}

func closed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// cli runs the trainyard CLI with the script's environment and returns its stdout.
func cli(ts *testscript.TestScript, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "trainyard"), args...)
	cmd.Env = []string{"HOME=" + ts.Getenv("HOME"), "TMPDIR=" + ts.Getenv("TMPDIR"), "PATH=" + ts.Getenv("PATH")}
	for _, k := range []string{"TRAINYARD_DATA_DIR", "TRAINYARD_SERVER", "TRAINYARD_TOKEN", "TRAINYARD_WORKSPACE"} {
		if v := ts.Getenv(k); v != "" {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		err = fmt.Errorf("trainyard %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(stderr.Bytes()))
	}
	return string(out), err
}

// cmdExits runs a program like exec does, so stdout and stderr can be checked after it, and
// checks its exit code.
func cmdExits(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exits CODE PROG [ARG...]")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	err = ts.Exec(args[1], args[2:]...)
	got := 0
	if ee, ok := err.(*exec.ExitError); ok {
		got = ee.ExitCode()
	} else if err != nil {
		ts.Fatalf("%s: %v", args[1], err)
	}
	if got != want {
		ts.Fatalf("%s exited %d, want %d", args[1], got, want)
	}
}

// callAPI sends a request to the server in server.json with the admin token.
func callAPI(ts *testscript.TestScript, method, path, body string) (int, string, error) {
	dir := dataDir(ts)
	b, err := os.ReadFile(filepath.Join(dir, "server.json"))
	if err != nil {
		return 0, "", err
	}
	var info struct{ URL string }
	if err := json.Unmarshal(b, &info); err != nil {
		return 0, "", err
	}
	tok, err := os.ReadFile(filepath.Join(dir, "admin.token"))
	if err != nil {
		return 0, "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, info.URL+path, strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out), err
}

func cmdAPI(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 2 || len(args) > 3 {
		ts.Fatalf("usage: api METHOD PATH [BODY]")
	}
	body := ""
	if len(args) == 3 {
		body = args[2]
	}
	status, out, err := callAPI(ts, args[0], args[1], body)
	ts.Check(err)
	fmt.Fprintf(ts.Stdout(), "HTTP %d\n%s\n", status, out)
	if failed := status >= 400; failed != neg {
		ts.Fatalf("%s %s: HTTP %d", args[0], args[1], status)
	}
}

// jsonAt returns the value at a dot-separated path of the JSON in file.
func jsonAt(ts *testscript.TestScript, file, path string) any {
	var v any
	if err := json.Unmarshal([]byte(ts.ReadFile(file)), &v); err != nil {
		ts.Fatalf("%s holds no JSON: %v", file, err)
	}
	if path == "." {
		return v
	}
	for _, seg := range strings.Split(path, ".") {
		switch x := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = x[seg]; !ok {
				ts.Fatalf("%s: no key %q in %s", file, seg, path)
			}
		case []any:
			if seg == "#" {
				v = float64(len(x))
				continue
			}
			if k, want, ok := strings.Cut(seg, "="); ok {
				v = nil
				for _, item := range x {
					if m, ok := item.(map[string]any); ok && fmt.Sprint(m[k]) == want {
						v = item
						break
					}
				}
				if v == nil {
					ts.Fatalf("%s: no item with %s in %s", file, seg, path)
				}
				continue
			}
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(x) {
				ts.Fatalf("%s: no item %q in %s", file, seg, path)
			}
			v = x[i]
		default:
			ts.Fatalf("%s: %s: %q is inside a %T", file, path, seg, v)
		}
	}
	return v
}

func cmdJSONGet(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: json-get FILE PATH")
	}
	v := jsonAt(ts, args[0], args[1])
	if s, ok := v.(string); ok {
		fmt.Fprintln(ts.Stdout(), s)
		return
	}
	b, err := json.Marshal(v)
	ts.Check(err)
	fmt.Fprintln(ts.Stdout(), string(b))
}

func cmdJSONNum(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 4 {
		ts.Fatalf("usage: json-num FILE PATH OP NUMBER")
	}
	got, ok := jsonAt(ts, args[0], args[1]).(float64)
	if !ok {
		ts.Fatalf("%s: %s is not a number", args[0], args[1])
	}
	want, err := strconv.ParseFloat(args[3], 64)
	ts.Check(err)
	var holds bool
	switch args[2] {
	case "<":
		holds = got < want
	case "<=":
		holds = got <= want
	case "==":
		holds = got == want
	case ">=":
		holds = got >= want
	case ">":
		holds = got > want
	default:
		ts.Fatalf("json-num: unknown operator %q", args[2])
	}
	if !holds {
		ts.Fatalf("%s: %s = %g, want %s %g", args[0], args[1], got, args[2], want)
	}
}

func cmdEnvFile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: env-file NAME FILE")
	}
	ts.Setenv(args[0], strings.TrimSpace(ts.ReadFile(args[1])))
}

// cmdGrepFiles searches files and directory trees; negated, it fails naming every match.
func cmdGrepFiles(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 2 {
		ts.Fatalf("usage: grep-files REGEXP PATH...")
	}
	re, err := regexp.Compile(args[0])
	ts.Check(err)
	var matches []string
	for _, root := range args[1:] {
		err := filepath.WalkDir(ts.MkAbs(root), func(path string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			if loc := re.FindIndex(b); loc != nil {
				line := bytes.Count(b[:loc[0]], []byte("\n")) + 1
				matches = append(matches, fmt.Sprintf("%s:%d", path, line))
			}
			return nil
		})
		ts.Check(err)
	}
	switch {
	case neg && len(matches) > 0:
		ts.Fatalf("%q found in:\n%s", args[0], strings.Join(matches, "\n"))
	case !neg && len(matches) == 0:
		ts.Fatalf("%q found in none of %s", args[0], strings.Join(args[1:], " "))
	}
}
