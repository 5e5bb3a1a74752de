#!/usr/bin/env bash
# `make images`: the base images the tests and docker-provider clusters use, made from local
# material only (Debian's mirror, through debootstrap), never pulled from a registry. An image
# that exists is kept: the tag carries the recipe's version, so a changed recipe makes a new one.
#
#   trainyard/base:bookworm-1   Debian bookworm minbase with bash, coreutils and python3 (~120 MB)
#   trainyard/ml:bookworm-1     the same with PyTorch, Open MPI, mpi4py and OpenSSH, for the
#                               distributed tests (~2 GB)
set -euo pipefail
mirror=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
mirror=${mirror:-$(awk '/^deb /{print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)}
mirror=${mirror:-http://deb.debian.org/debian}

# image TAG PACKAGES: debootstrap bookworm with PACKAGES into a folder and import it as TAG.
image() {
	local tag=$1 packages=$2
	if docker image inspect "$tag" >/dev/null 2>&1; then
		echo "$tag: present"
		return
	fi
	command -v debootstrap >/dev/null || { echo "debootstrap is missing (as root: apt-get install -y debootstrap)" >&2; exit 1; }
	local root
	root=$(mktemp -d "${TMPDIR:-/tmp}/trainyard-rootfs.XXXXXX")
	echo "$tag: debootstrap bookworm with $packages from $mirror (a minute or a few)"
	if ! debootstrap --variant=minbase --include="$packages" bookworm "$root" "$mirror" >"$root.log" 2>&1; then
		tail -20 "$root.log" >&2
		rm -rf "$root" "$root.log"
		exit 1
	fi
	rm -f "$root.log"
	rm -rf "$root"/var/cache/apt/* "$root"/var/lib/apt/lists/* "$root"/usr/share/{doc,man,locale,info}/*
	tar -C "$root" -c . | docker import \
		-c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
		-c 'ENV LANG=C.UTF-8' -c 'CMD ["/bin/bash"]' - "$tag" >/dev/null
	rm -rf "$root"
	echo "$tag: built"
}

image trainyard/base:bookworm-1 python3
image trainyard/ml:bookworm-1 python3,python3-torch,python3-mpi4py,openmpi-bin,openssh-server,openssh-client
