#!/usr/bin/env bash
# The main job, end to end: a server on a temporary data dir, an autoscaling cluster that starts
# at 0 nodes, the digits training job with live logs and metrics, its model downloaded, and the
# cluster back at 0 nodes. Exits non-zero if any of that does not happen.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$PWD/bin/trainyard
data=$(mktemp -d /tmp/trainyard-demo.XXXXXX)
export TRAINYARD_DATA_DIR=$data
unset TRAINYARD_SERVER TRAINYARD_TOKEN TRAINYARD_WORKSPACE

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

cleanup() {
	[ -n "${server_pid:-}" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
	# Nodes of the local provider are processes of their own; stop any the demo left.
	for f in "$data"/nodes/*/pid; do [ -f "$f" ] && kill -9 -- "-$(cut -d' ' -f1 "$f")" 2>/dev/null || true; done
	rm -rf "$data"
}
trap cleanup EXIT

step "start a server on $data (SQLite, local node provider)"
"$bin" server --data-dir "$data" --listen 127.0.0.1:0 >"$data.log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do [ -f "$data/server.json" ] && break; sleep 0.1; done
[ -f "$data/server.json" ] || { cat "$data.log"; echo "the server did not start"; exit 1; }
cat "$data/server.json"; echo

step "create cpu-cluster: 0 to 2 nodes, released after 15 s idle"
"$bin" compute create --name cpu-cluster --type amlcompute --size STANDARD_D2_V2 \
	--min-instances 0 --max-instances 2 --idle-time-before-scale-down 15

step "run the digits training job on it, with live logs"
"$bin" job create -f examples/digits/job.yml --name digits-demo --stream

step "metrics the job logged"
"$bin" job metrics --name digits-demo | grep -E 'NAME|final_test_accuracy|test_accuracy +15'
acc=$("$bin" job show --name digits-demo -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["metrics"]["final_test_accuracy"])')
printf 'test accuracy: %.4f\n' "$acc"
python3 -c "import sys; sys.exit(0 if $acc >= 0.90 else 'test accuracy $acc is below 0.90')"

step "download the trained model"
out=$(mktemp -d)
"$bin" job download --name digits-demo --download-path "$out"
ls -l "$out/digits-demo/outputs/model.json"
rm -rf "$out"

step "watch the cluster scale back to 0 nodes"
for _ in $(seq 120); do
	nodes=$("$bin" compute show --name cpu-cluster -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["properties"]["currentNodeCount"])')
	echo "cpu-cluster: $nodes node(s)"
	[ "$nodes" = 0 ] && break
	sleep 2
done
[ "$nodes" = 0 ] || { echo "the cluster did not scale down"; exit 1; }
"$bin" compute show --name cpu-cluster | sed -n '/recent events/,$p'

step "done: the job Completed with test accuracy $acc, and cpu-cluster is back at 0 nodes"
