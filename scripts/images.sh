#!/usr/bin/env bash
# `make images`: the base images the tests and docker-provider clusters use, made from local
# material only (Debian's mirror, through debootstrap), never pulled from a registry. An image
# that exists is kept: the tag carries the recipe's version, so a changed recipe makes a new one.
#
#   trainyard/base:bookworm-1   Debian bookworm minbase with bash, coreutils and python3 (~120 MB)
set -euo pipefail
base=trainyard/base:bookworm-1
if docker image inspect "$base" >/dev/null 2>&1; then
	echo "$base: present"
	exit 0
fi
command -v debootstrap >/dev/null || { echo "debootstrap is missing (as root: apt-get install -y debootstrap)" >&2; exit 1; }
mirror=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
mirror=${mirror:-$(awk '/^deb /{print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)}
mirror=${mirror:-http://deb.debian.org/debian}
root=$(mktemp -d "${TMPDIR:-/tmp}/trainyard-rootfs.XXXXXX")
trap 'rm -rf "$root"' EXIT
echo "$base: debootstrap bookworm from $mirror (about a minute)"
debootstrap --variant=minbase --include=python3 bookworm "$root" "$mirror" >"$root.log" 2>&1 || {
	tail -20 "$root.log" >&2; exit 1; }
rm -f "$root.log"
rm -rf "$root"/var/cache/apt/* "$root"/var/lib/apt/lists/* "$root"/usr/share/{doc,man,locale,info}/*
tar -C "$root" -c . | docker import \
	-c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
	-c 'ENV LANG=C.UTF-8' -c 'CMD ["/bin/bash"]' - "$base" >/dev/null
echo "$base: built"
