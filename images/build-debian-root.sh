#!/usr/bin/env bash
# Builds a clean Debian bookworm root with debootstrap: minbase plus what a server
# has (openssh-server, cron, systemd, curl, wget, sudo, rsyslog, logrotate). The
# clean-root tests scan it and expect no finding of medium severity or more.
#
#   images/build-debian-root.sh DIR [MIRROR]
#
# DIR is reused when DIR.complete says an earlier run finished it.
set -euo pipefail
dir=${1:?usage: build-debian-root.sh DIR [MIRROR]}
mirror=${2:-${DEBIAN_MIRROR:-http://deb.debian.org/debian}}
if [ -f "$dir.complete" ]; then exit 0; fi
rm -rf "$dir"
mkdir -p "$dir"
debootstrap --variant=minbase \
  --include=openssh-server,cron,systemd,systemd-sysv,curl,wget,sudo,rsyslog,logrotate,ca-certificates \
  bookworm "$dir" "$mirror" >"$dir.log" 2>&1 || { tail -20 "$dir.log" >&2; exit 1; }
# debootstrap leaves the host's resolv.conf and apt lists behind: a real server would not have them.
rm -rf "$dir/var/cache/apt/archives/"*.deb "$dir/var/lib/apt/lists/"*_Packages
touch "$dir.complete"
