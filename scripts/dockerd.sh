#!/usr/bin/env bash
# Starts a Docker engine for the tests when none answers: Debian's docker.io, installed by
# scripts/deps.sh. It runs without the default bridge and without iptables rules, so no
# container can reach a private range; containers use the host's loopback or no network.
set -euo pipefail
if docker info >/dev/null 2>&1; then exit 0; fi
if ! command -v dockerd >/dev/null; then
	echo "no Docker engine: dockerd is not installed (as root: apt-get install -y docker.io)" >&2
	exit 1
fi
if [ "$(id -u)" != 0 ]; then
	echo "no Docker engine answers, and starting dockerd needs root: sudo $0" >&2
	exit 1
fi
log=${TMPDIR:-/tmp}/trainyard-dockerd.log
echo "starting dockerd --bridge=none --iptables=false (log: $log)"
setsid dockerd --bridge=none --iptables=false --ip-forward=false --ip-masq=false >"$log" 2>&1 </dev/null &
for _ in $(seq 1 300); do
	if docker info >/dev/null 2>&1; then exit 0; fi
	sleep 0.1
done
echo "dockerd did not answer within 30 s; its log:" >&2
tail -20 "$log" >&2
exit 1
