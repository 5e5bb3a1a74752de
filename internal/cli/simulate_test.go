package cli_test

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeTrace writes a trace file into a temporary folder and returns its path.
func writeTrace(t *testing.T, name, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// simulate runs offline: it needs no server, prints one row per setting, names the rows it
// skipped by line, and refuses wrong flags saying which flag, value and rule.
func TestSimulate(t *testing.T) {
	isolate(t)
	jobs := writeTrace(t, "jobs.csv", "submit,duration,nodes\n0,3600,1\n60,,1\n120,600,2\n")
	philly := writeTrace(t, "philly.csv", "timestamp,duration,num_gpus,gpu_time,cluster\n2017-10-09 06:13:03,600,8,4800,x\n")
	svg := filepath.Join(t.TempDir(), "out.svg")
	svgTrace := writeTrace(t, "trace.svg", "submit,duration,nodes\n0,60,1\n")
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  []string
		wantErr  []string
	}{
		{name: "one setting", args: []string{"simulate", jobs, "--size", "STANDARD_D2_V2", "--max", "2"},
			wantOut: []string{"trace jobs.csv: nodes format, 2 jobs submitted over 2m0s; 1 row skipped",
				"skipped line 3: duration is empty", "base: STANDARD_D2_V2, 0 to 2 nodes, idle 2m0s, boot 3m0s, dedicated at $0.146 a node-hour\n",
				"SETTING", "ORACLE-H", "base"}},
		{name: "compare and plot", args: []string{"simulate", jobs, "--max", "2", "--compare", "idle=120s", "--compare", "name=long,idle=30m", "--plot", svg},
			wantOut: []string{"idle=120s: STANDARD_DS3_V2, 0 to 2 nodes, idle 2m0s", "long: STANDARD_DS3_V2, 0 to 2 nodes, idle 30m0s", "plot written to " + svg}},
		{name: "philly on a GPU size", args: []string{"simulate", philly, "--size", "STANDARD_NC24", "--max", "2"},
			wantOut: []string{"philly format, 1 job submitted", "a job takes ceil(num_gpus / 4) nodes of STANDARD_NC24"}},
		{name: "a job wider than max is listed", args: []string{"simulate", jobs, "--max", "1"},
			wantOut: []string{"base: finished 75.0% of the trace's work (1.00 of 1.33 node-hours)",
				"base: 1 job not replayed: wanting more nodes than max 1, as the server refuses at submit", "refused line 4: wants 2 nodes together, more than max 1"}},
		{name: "philly on a CPU size", args: []string{"simulate", philly}, wantCode: 2,
			wantErr: []string{"setting base: size STANDARD_DS3_V2 has no GPUs, and a Philly trace counts GPUs per job; choose a GPU size"}},
		{name: "bad flag value", args: []string{"simulate", jobs, "--idle", "soon"}, wantCode: 2,
			wantErr: []string{`--idle "soon": want seconds (120), a duration like 120s, 30m, 1h30m or 2d, or ISO-8601 like PT30M`}},
		{name: "plot not an svg", args: []string{"simulate", jobs, "--plot", jobs}, wantCode: 2,
			wantErr: []string{`--plot "` + jobs + `": the plot is an SVG drawing; name the file FILE.svg`}},
		{name: "plot over the trace", args: []string{"simulate", svgTrace, "--plot", svgTrace}, wantCode: 2,
			wantErr: []string{"--plot " + svgTrace + " is the trace being replayed; name another file"}},
		{name: "plot named empty", args: []string{"simulate", jobs, "--plot", ""}, wantCode: 2,
			wantErr: []string{`--plot "": the plot is an SVG drawing`}},
		{name: "header only", args: []string{"simulate", writeTrace(t, "h.csv", "submit,duration,nodes\n")}, wantCode: 1,
			wantErr: []string{"h.csv: no jobs to replay: the trace has its header and no rows; add one row per job"}},
		{name: "preempted before booting", args: []string{"simulate", jobs, "--tier", "low_priority", "--preemption-rate", "1000/h"}, wantCode: 2,
			wantErr: []string{"preemption-rate 1000/h: a node would live 4s on average, no longer than the 3m0s it takes to boot", "lower preemption-rate below 20/h or boot"}},
		{name: "a dedicated row beside low priority", args: []string{"simulate", jobs, "--tier", "low_priority", "--preemption-rate", "0.05/h", "--compare", "name=spot", "--compare", "tier=dedicated"},
			wantOut: []string{"tier=dedicated: STANDARD_DS3_V2, 0 to 10 nodes, idle 2m0s, boot 3m0s, dedicated at $0.293 a node-hour\n"}},
		{name: "a folder for a trace", args: []string{"simulate", t.TempDir()}, wantCode: 1,
			wantErr: []string{"is a folder; give the trace's CSV file"}},
		{name: "bad compare key", args: []string{"simulate", jobs, "--compare", "idel=120s"}, wantCode: 2,
			wantErr: []string{`--compare "idel=120s": unknown key "idel"; the keys are: name, size, min, max, idle`}},
		{name: "boot past its timeout", args: []string{"simulate", jobs, "--boot", "5m"}, wantCode: 2,
			wantErr: []string{"setting base: boot 5m0s is not shorter than boot-timeout 5m0s", "raise boot-timeout (to 10m0s, say)"}},
		{name: "not a trace", args: []string{"simulate", writeTrace(t, "x.csv", "a,b\n1,2\n")}, wantCode: 1,
			wantErr: []string{"x.csv: line 1: header \"a,b\" is not a trace header"}},
		{name: "every row skipped", args: []string{"simulate", writeTrace(t, "bad.csv", "submit,duration,nodes\nabc,60,1\n0,1e18,1\n")}, wantCode: 1,
			wantErr: []string{`bad.csv: no jobs to replay: every row was skipped; line 2: submit "abc": want a number of seconds; line 3: duration 1e18: longer than a century of seconds`}},
		{name: "two rows of one name", args: []string{"simulate", jobs, "--compare", "name=a,idle=1s", "--compare", "name=a,idle=2s"}, wantCode: 2,
			wantErr: []string{`--compare "name=a,idle=2s": a row named a is given already; name each row apart with name=LABEL`}},
		{name: "plot to a folder that is not there", args: []string{"simulate", jobs, "--plot", "/nonexistent/dir/x.svg"}, wantCode: 1,
			wantErr: []string{"--plot: open /nonexistent/dir/x.svg: no such file or directory"}},
		{name: "no trace", args: []string{"simulate"}, wantCode: 2,
			wantErr: []string{"simulate needs the trace file to replay (a CSV): trainyard simulate jobs.csv"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := run(t, append([]string{"--server", deadURL(t)}, tt.args...)...)
			if code != tt.wantCode {
				t.Errorf("exit code = %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.wantCode, stdout, stderr)
			}
			for _, w := range tt.wantOut {
				if !strings.Contains(stdout, w) {
					t.Errorf("stdout lacks %q:\n%s", w, stdout)
				}
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
		})
	}
	if b, err := os.ReadFile(svgTrace); err != nil || !strings.HasPrefix(string(b), "submit,duration,nodes") {
		t.Errorf("the trace named for --plot now holds %.80q, %v; want it untouched", b, err)
	}
	if b, err := os.ReadFile(svg); err != nil || !strings.HasPrefix(string(b), "<svg ") || !strings.Contains(string(b), "<polyline") {
		t.Errorf("--plot wrote %.80q, %v; want an SVG with lines", b, err)
	}
}

// "-" reads the trace from standard input, as from a pipe.
func TestSimulateStdin(t *testing.T) {
	isolate(t)
	in, err := os.Open(writeTrace(t, "jobs.csv", "submit,duration,nodes\n0,600,1\n60,600,1\n"))
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	stdin := os.Stdin
	os.Stdin = in
	t.Cleanup(func() { os.Stdin = stdin })
	code, stdout, stderr := run(t, "simulate", "-", "--max", "2")
	if code != 0 || !strings.Contains(stdout, "trace from standard input: nodes format, 2 jobs submitted over 1m0s") {
		t.Errorf("exit code %d\nstdout:\n%s\nstderr:\n%s\nwant the two jobs read from standard input", code, stdout, stderr)
	}
}

// -o json gives one object per setting, in hours, seconds and dollars.
func TestSimulateJSON(t *testing.T) {
	isolate(t)
	jobs := writeTrace(t, "jobs.csv", "submit,duration,nodes\n0,3600,1\n5,,1\n")
	code, stdout, stderr := run(t, "-o", "json", "simulate", jobs, "--size", "STANDARD_NC24", "--compare", "idle=120s")
	if code != 0 {
		t.Fatalf("exit code %d: %s", code, stderr)
	}
	var rows []map[string]any
	if err := json.Unmarshal([]byte(stdout), &rows); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, stdout)
	}
	// One hour of work, 3 minutes of boot, 2 minutes idle; 3.60 $/h.
	near := func(v any, want float64) bool { f, ok := v.(float64); return ok && math.Abs(f-want) < 1e-9 }
	if len(rows) != 1 || rows[0]["setting"] != "idle=120s" || !near(rows[0]["nodeHours"], 3900.0/3600) ||
		!near(rows[0]["oracleNodeHours"], 1) || !near(rows[0]["waitP50Seconds"], 180) || !near(rows[0]["costUSD"], 3900.0/3600*3.60) {
		t.Errorf("rows = %v, want one for idle=120s of 1.0833 node-hours, oracle 1, wait 180 s, $3.90", rows)
	}
	if skipped, _ := json.Marshal(rows[0]["skippedRows"]); string(skipped) != `[{"line":3,"reason":"duration is empty"}]` {
		t.Errorf("skippedRows = %s, want line 3's empty duration", skipped)
	}
	if !strings.Contains(stderr, "1 row skipped") {
		t.Errorf("stderr lacks the trace summary:\n%s", stderr)
	}
	// A format that is not one is refused before the replay, which writes nothing.
	svg := filepath.Join(t.TempDir(), "p.svg")
	code, stdout, stderr = run(t, "-o", "csv", "simulate", jobs, "--plot", svg)
	if _, err := os.Stat(svg); code != 2 || stdout != "" || !strings.Contains(stderr, `--output "csv": choose table, json or yaml`) || err == nil {
		t.Errorf("-o csv: exit code %d, stdout %q, stderr %q, plot written: %v; want a refusal before anything is replayed or written", code, stdout, stderr, err == nil)
	}
}
