package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// The wait- commands of the scripts: each polls the system until what it names is true.

// poll calls check every 200 ms until it reports done, and fails the script with what check
// last said, and the server's log, once timeout passes or check reports a failure.
func poll(ts *testscript.TestScript, timeout time.Duration, check func() (done bool, failure, last string)) {
	deadline := time.Now().Add(timeout)
	for {
		done, failure, last := check()
		if done {
			return
		}
		if failure != "" {
			ts.Fatalf("%s\n%s", failure, diagnostics(ts))
		}
		if time.Now().After(deadline) {
			ts.Fatalf("timed out after %s; last seen:\n%s\n%s", timeout, last, diagnostics(ts))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// diagnostics is the tail of the server's log and of each node agent's log.
func diagnostics(ts *testscript.TestScript) string {
	st := getState(ts)
	var b strings.Builder
	b.WriteString(tail(filepath.Join(st.work, "server.log"), 40))
	logs, _ := filepath.Glob(filepath.Join(st.work, "data", "nodes", "*", "agent.log"))
	for _, l := range logs {
		b.WriteString(tail(l, 15))
	}
	return b.String()
}

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(%v)\n", err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	lines = lines[max(0, len(lines)-n):]
	return fmt.Sprintf("--- last lines of %s:\n%s\n", path, strings.Join(lines, "\n"))
}

// timeoutArg parses the optional timeout argument at args[i].
func timeoutArg(ts *testscript.TestScript, args []string, i int) time.Duration {
	if len(args) <= i {
		return defaultTimeout
	}
	d, err := time.ParseDuration(args[i])
	if err != nil {
		ts.Fatalf("timeout %q: %v", args[i], err)
	}
	return d
}

// cmdWaitJob waits until job NAME has STATUS; it fails at once if the job ends otherwise.
func cmdWaitJob(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 || len(args) > 3 {
		ts.Fatalf("usage: wait-job NAME STATUS [TIMEOUT]")
	}
	name, want := args[0], args[1]
	poll(ts, timeoutArg(ts, args, 2), func() (bool, string, string) {
		out, err := cli(ts, "job", "show", "--name", name, "-o", "json")
		if err != nil {
			return false, "", err.Error()
		}
		var j struct{ Status string }
		if err := json.Unmarshal([]byte(out), &j); err != nil {
			return false, fmt.Sprintf("job show printed no JSON: %v\n%s", err, out), ""
		}
		switch {
		case j.Status == want:
			return true, "", ""
		case j.Status == "Completed" || j.Status == "Failed" || j.Status == "Canceled":
			return false, fmt.Sprintf("job %s ended %s, want %s:\n%s", name, j.Status, want, out), ""
		}
		return false, "", out
	})
}

func cmdWaitNodes(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 || len(args) > 3 {
		ts.Fatalf("usage: wait-nodes COMPUTE N [TIMEOUT]")
	}
	want, err := strconv.Atoi(args[1])
	ts.Check(err)
	poll(ts, timeoutArg(ts, args, 2), func() (bool, string, string) {
		out, err := cli(ts, "compute", "list-nodes", "--name", args[0], "-o", "json")
		if err != nil {
			return false, "", err.Error()
		}
		var nodes []json.RawMessage
		if err := json.Unmarshal([]byte(out), &nodes); err != nil {
			return false, fmt.Sprintf("list-nodes printed no JSON list: %v\n%s", err, out), ""
		}
		return len(nodes) == want, "", out
	})
}

func cmdWaitComputes(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 || len(args) > 2 {
		ts.Fatalf("usage: wait-computes N [TIMEOUT]")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	poll(ts, timeoutArg(ts, args, 1), func() (bool, string, string) {
		out, err := cli(ts, "compute", "list", "-o", "json")
		if err != nil {
			return false, "", err.Error()
		}
		var computes []json.RawMessage
		if err := json.Unmarshal([]byte(out), &computes); err != nil {
			return false, fmt.Sprintf("compute list printed no JSON list: %v\n%s", err, out), ""
		}
		return len(computes) == want, "", out
	})
}

func cmdWaitLog(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 || len(args) > 3 {
		ts.Fatalf("usage: wait-log NAME REGEXP [TIMEOUT]")
	}
	re, err := regexp.Compile(args[1])
	ts.Check(err)
	poll(ts, timeoutArg(ts, args, 2), func() (bool, string, string) {
		status, body, err := callAPI(ts, "GET", "/v1/workspaces/default/jobs/"+args[0]+"/logs", "")
		if err != nil {
			return false, "", err.Error()
		}
		return status == http.StatusOK && re.MatchString(body), "", body
	})
}

func cmdProcGone(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 || len(args) > 2 {
		ts.Fatalf("usage: proc-gone PIDFILE [TIMEOUT]")
	}
	pid, err := strconv.Atoi(strings.TrimSpace(ts.ReadFile(args[0])))
	ts.Check(err)
	poll(ts, timeoutArg(ts, args, 1), func() (bool, string, string) {
		return !alive(pid), "", fmt.Sprintf("process %d still runs", pid)
	})
}
