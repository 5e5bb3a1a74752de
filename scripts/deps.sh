#!/usr/bin/env bash
# Installs what the tests need and the machine lacks, from Debian's packages: Python, a Docker
# engine (a fresh machine has only the CLI), debootstrap, which makes the base image, PyTorch,
# Open MPI, mpi4py and iproute2.
set -euo pipefail
need=()
command -v python3 >/dev/null || need+=(python3)
command -v bash >/dev/null || need+=(bash)
command -v dockerd >/dev/null || need+=(docker.io)
command -v debootstrap >/dev/null || need+=(debootstrap)
# PyTorch for the distributed tests: Debian's, in the system Python (/usr/bin/python3).
/usr/bin/python3 -c 'import torch' 2>/dev/null || need+=(python3-torch)
# Open MPI and mpi4py for the mpi tests.
command -v mpirun >/dev/null || need+=(openmpi-bin)
/usr/bin/python3 -c 'import mpi4py' 2>/dev/null || need+=(python3-mpi4py)
# ip, for the network namespace that cuts a node off in the tests.
command -v ip >/dev/null || need+=(iproute2)
if [ ${#need[@]} -gt 0 ]; then
	if [ "$(id -u)" != 0 ]; then echo "missing: ${need[*]}; install them (as root: apt-get install -y ${need[*]})"; exit 1; fi
	apt-get update -q
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}"
fi
