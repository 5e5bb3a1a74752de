#!/usr/bin/env bash
# make bench: runs the benchmarks of issue 7 once each (go test -bench -benchtime 1x), reads the
# figures they report with b.ReportMetric, and prints one table: figure, value, target, met.
set -uo pipefail
GO=${GO:-go}
out=$(mktemp)
trap 'rm -f "$out"' EXIT

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
mem=$(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)
echo "machine: ${cpu:-unknown CPU}, $(nproc) cores, $mem, $($GO env GOVERSION), $(uname -sr); load before: $(cut -d' ' -f1-3 /proc/loadavg)"

run() { # package, benchmark regexp
	$GO test -run '^$' -bench "$2" -benchtime 1x -timeout 30m "$1" 2>&1 | tee -a "$out" | grep -E '^(Benchmark|--- FAIL|FAIL|panic)' >&2
}
run ./internal/schedule/ '^BenchmarkPlace$'
run ./internal/apiserver/ '^BenchmarkSubmit$'
# Short jobs first, on a file system at rest: on ext4 without a journal (these machines) a new
# file skips every inode freed in the last minute, and the 1,000 jobs of SubmitToRunning leave
# 11,000 of them (88 jobs/s right after it, 123 alone).
run ./e2e/ '^BenchmarkShortJobs$'
run ./e2e/ '^Benchmark(SubmitToRunning|QueueToNodeRequested|LogStream|ServerMemory)$'

# metric BENCH UNIT: the value BENCH reported in UNIT, or empty.
metric() {
	awk -v b="$1" -v u="$2" '$1 ~ "^Benchmark" b "(-[0-9]+)?$" { for (i = 3; i < NF; i++) if ($(i+1) == u) print $i }' "$out" | tail -1
}
# readable N: N with commas between thousands, whole from 100 up, else to 3 significant digits.
readable() {
	awk -v v="$1" 'BEGIN {
		s = (v >= 100) ? sprintf("%.0f", v) : sprintf("%.3g", v)
		split(s, p, "."); w = p[1]; out = ""
		while (length(w) > 3) { out = "," substr(w, length(w) - 2) out; w = substr(w, 1, length(w) - 3) }
		printf "%s%s%s", w, out, (p[2] != "") ? "." p[2] : ""
	}'
}
failed=0
# row FIGURE HOW VALUE UNIT OP TARGET: OP is >= or <=. A figure its benchmark did not report
# is (failed), and makes the script exit 1; a figure that misses its target is a result.
row() {
	local met=MISSED value
	if [ -z "$3" ]; then value="(failed)"; failed=1
	else
		value=$(readable "$3")
		if awk -v v="$3" -v op="$5" -v t="$6" 'BEGIN { exit !((op == ">=") ? v >= t : v <= t) }'; then met=met; fi
	fi
	printf '| %s | %s | %s %s | %s %s %s | %s |\n' "$1" "$2" "$value" "$4" "$5" "$(readable "$6")" "$4" "$met"
}
echo
echo "| figure | how | value | target (2-core) | met? |"
echo "|---|---|---|---|---|"
row "placement throughput" "schedule.Place, 10,000 nodes, 100,000 queued single-node jobs" "$(metric Place placements/s)" placements/s '>=' 20000
row "durable submit throughput" "POST job, loopback HTTP, 64 clients, SQLite synchronous=FULL" "$(metric Submit jobs/s)" jobs/s '>=' 2000
row "submit → Running p50" "1 warm node, process driver, true; 1,000 jobs" "$(metric SubmitToRunning p50-ms)" ms '<=' 50
row "submit → Running p99" "as above" "$(metric SubmitToRunning p99-ms)" ms '<=' 200
row "queue → node requested" "autoscaler, 5 clusters at 0 nodes, worst of 5" "$(metric QueueToNodeRequested max-ms)" ms '<=' 1000
row "end-to-end short jobs" "2,000 jobs running true on 1 warm 2-core node, 8 clients" "$(metric ShortJobs jobs/s)" jobs/s '>=' 100
row "log streaming" "job writes $(readable "${TRAINYARD_BENCH_STREAM_BYTES:-1073741824}") bytes, read by the Logs loop of job stream" "$(metric LogStream MB/s)" MB/s '>=' 100
row "server memory" "10,000 node records, 100,000 queued jobs, peak RSS of the server" "$(metric ServerMemory MB-rss)" MB '<=' 200
echo
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
exit $failed
