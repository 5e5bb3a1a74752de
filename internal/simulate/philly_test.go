package simulate

import (
	"os"
	"path/filepath"
	"testing"
)

// phillyTrace reads the Philly trace of the corpus of real inputs ($TRAINYARD_CORPUS, default
// /work/shared/corpus). CI always has it: there a missing corpus fails rather than skips.
func phillyTrace(tb testing.TB) Trace {
	tb.Helper()
	dir := os.Getenv("TRAINYARD_CORPUS")
	if dir == "" {
		dir = "/work/shared/corpus"
	}
	path := filepath.Join(dir, "traces", "philly", "philly_jobs.csv")
	f, err := os.Open(path)
	if err != nil {
		if os.Getenv("CI") != "" {
			tb.Fatalf("Philly trace not found (set TRAINYARD_CORPUS): %v", err)
		}
		tb.Skipf("Philly trace not found (set TRAINYARD_CORPUS; CI fails here): %v", err)
	}
	defer f.Close()
	t, err := ReadTrace(f)
	if err != nil {
		tb.Fatalf("ReadTrace(%s) error: %v", path, err)
	}
	return t
}

// Every row of the Philly trace is a job.
func TestPhillyTrace(t *testing.T) {
	tr := phillyTrace(t)
	if len(tr.Jobs) != 82247 || len(tr.Skipped) != 0 || tr.Format != Philly {
		t.Errorf("Philly trace: %s format, %d jobs, %d skipped (%v); want philly, 82247 jobs, none skipped",
			tr.Format, len(tr.Jobs), len(tr.Skipped), tr.Skipped[:min(3, len(tr.Skipped))])
	}
	if days := tr.Span().Hours() / 24; days < 100 || days > 120 {
		t.Errorf("Philly trace spans %.1f days, want about 109", days)
	}
}

// BenchmarkPhilly replays the whole Philly trace on STANDARD_NC24 nodes, 0 to 400 of them,
// with the two idle times of the seed system, 120 s (v2) and 1,800 s (v1), one after the
// other. It reports their node-hours and the oracle bound.
func BenchmarkPhilly(b *testing.B) {
	tr := phillyTrace(b)
	var short, long Result
	for b.Loop() {
		for _, idle := range []string{"120s", "1800s"} {
			s := DefaultSetting()
			if err := s.Apply("size=STANDARD_NC24,max=400,idle=" + idle); err != nil {
				b.Fatal(err)
			}
			r, err := Run(b.Context(), tr, s, Options{})
			if err != nil {
				b.Fatal(err)
			}
			if idle == "120s" {
				short = r
			} else {
				long = r
			}
		}
	}
	b.ReportMetric(short.NodeHours, "node-h@idle120s")
	b.ReportMetric(long.NodeHours, "node-h@idle1800s")
	b.ReportMetric(short.OracleHours, "oracle-node-h")
	b.ReportMetric(short.WaitP50.Seconds(), "p50-wait-s@idle120s")
	b.ReportMetric(long.WaitP50.Seconds(), "p50-wait-s@idle1800s")
}
