#!/usr/bin/env bash
# Fetches Debian packages with `apt-get download` (nothing installed, nothing run) into
# a cache directory, once: the detection corpus puts real packaged files, with the
# dpkg records dpkg would write for them, on its provisioned server, so that rules are
# held against what distributions really ship.
#
#   images/fetch-debs.sh DIR PACKAGE...
#
# Prints the path of each package's .deb, one a line, in the order asked. Runs under
# flock DIR.lock, so two builders on one machine do not download into DIR at once.
set -euo pipefail
dir=${1:?usage: fetch-debs.sh DIR PACKAGE...}
shift
mkdir -p "$dir"
exec 9>"$dir.lock"
flock 9
cd "$dir"
missing=()
for p in "$@"; do
  compgen -G "${p}_*.deb" >/dev/null || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if ! apt-get download "${missing[@]}" >"$dir/download.log" 2>&1; then
    # A fresh machine may not have the package lists yet.
    apt-get update -qq >>"$dir/download.log" 2>&1
    apt-get download "${missing[@]}" >>"$dir/download.log" 2>&1 || { tail -5 "$dir/download.log" >&2; exit 1; }
  fi
fi
for p in "$@"; do
  debs=("$dir/${p}"_*.deb)
  echo "${debs[0]}"
done
