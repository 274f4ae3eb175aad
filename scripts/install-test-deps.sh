#!/usr/bin/env bash
# Installs the system tools the integration tests and benchmarks need (Debian/Ubuntu, apt).
# Checks binaries first, so on a machine that already has everything it does nothing and exits
# fast. Run as root; as any other user it only reports what is missing.
set -euo pipefail

# dockerd and runc live in /usr/sbin, which is often not in a normal user's PATH.
export PATH="$PATH:/usr/sbin:/sbin"

missing=()   # apt package names to install
reasons=()   # human readable: package (what was not found)

need() { # need <package> <description>
  missing+=("$1")
  reasons+=("$1 ($2)")
}

# Docker engine: the CLI may come from elsewhere (e.g. /usr/local/bin), the daemon must be Debian's.
if ! command -v dockerd >/dev/null 2>&1 || ! command -v containerd >/dev/null 2>&1 \
  || ! command -v runc >/dev/null 2>&1; then
  need docker.io "dockerd, containerd, runc"
fi
if ! command -v docker >/dev/null 2>&1 && [[ ! " ${missing[*]-} " == *" docker.io "* ]]; then
  need docker.io "docker CLI"
fi

# PostgreSQL server binaries live outside PATH, under /usr/lib/postgresql/<version>/bin.
pg_ok=0
for d in /usr/lib/postgresql/*/bin; do
  if [[ -x "$d/postgres" && -x "$d/initdb" && -x "$d/pg_ctl" && -x "$d/pg_isready" \
    && -x "$d/psql" && -x "$d/pg_dump" ]]; then
    pg_ok=1
  fi
done
[[ $pg_ok == 1 ]] || need postgresql "/usr/lib/postgresql/<ver>/bin/{postgres,initdb,pg_ctl,psql,pg_dump}"
# runuser drops to the postgres system user, which the postgresql package creates.
command -v runuser >/dev/null 2>&1 || need util-linux "runuser"

# Test images are built from a statically linked busybox (no registry access). The dynamic
# busybox package also ships /bin/busybox, so check that it really is static.
if [[ ! -x /bin/busybox ]] || ldd /bin/busybox >/dev/null 2>&1; then
  need busybox-static "static /bin/busybox"
fi

command -v restic >/dev/null 2>&1 || need restic "restic"
command -v borg >/dev/null 2>&1 || need borgbackup "borg"
[[ -x /usr/bin/time ]] || need time "/usr/bin/time"
{ command -v getfattr >/dev/null 2>&1 && command -v setfattr >/dev/null 2>&1; } \
  || need attr "getfattr, setfattr"
{ command -v getfacl >/dev/null 2>&1 && command -v setfacl >/dev/null 2>&1; } \
  || need acl "getfacl, setfacl"
command -v script >/dev/null 2>&1 || need bsdutils "script"
# A file system with whole-second times (ext4 with 128-byte inodes), on a loop device.
command -v mkfs.ext4 >/dev/null 2>&1 || need e2fsprogs "mkfs.ext4"

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-test-deps: everything is present"
  exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
  echo "install-test-deps: missing:" >&2
  printf '  %s\n' "${reasons[@]}" >&2
  echo "install-test-deps: run this script as root (sudo $0) to install them with apt-get" >&2
  exit 1
fi

# Deduplicate package names.
mapfile -t pkgs < <(printf '%s\n' "${missing[@]}" | sort -u)
echo "install-test-deps: installing: ${pkgs[*]}"

export DEBIAN_FRONTEND=noninteractive

# Packages must not start system services (a system dockerd or the default postgres cluster):
# the tests start their own private instances. Use a policy-rc.d unless one is already there.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [[ ! -e $policy ]]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod 0755 "$policy"
  created_policy=1
fi
cleanup() { if [[ $created_policy == 1 ]]; then rm -f "$policy"; fi; }
trap cleanup EXIT

# Refresh the package lists before installing (stale lists give 404s on fresh machines); this only
# runs when something is missing, so a complete machine never touches the network.
apt-get update

apt-get install -y --no-install-recommends -o Dpkg::Options::=--force-confdef \
  -o Dpkg::Options::=--force-confold "${pkgs[@]}"

echo "install-test-deps: done"
