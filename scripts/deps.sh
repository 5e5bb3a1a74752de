#!/usr/bin/env bash
# Installs what the tests need and the machine lacks, from Debian's packages.
set -euo pipefail
need=()
command -v python3 >/dev/null || need+=(python3)
command -v bash >/dev/null || need+=(bash)
if [ ${#need[@]} -gt 0 ]; then
	if [ "$(id -u)" != 0 ]; then echo "missing: ${need[*]}; install them (as root: apt-get install -y ${need[*]})"; exit 1; fi
	apt-get update -q
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}"
fi
