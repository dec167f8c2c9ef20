#!/usr/bin/env bash
# Rebuilds images/demo.img, the infected disk the README's first command scans:
# GPT, one ext4 partition, the planted tree of plant-infection.sh, three files immutable.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tree=$(mktemp -d)
trap 'rm -rf "$tree"' EXIT
"$here/plant-infection.sh" "$tree/root"
# The intrusion's date, so the report's times read like a real case.
find "$tree/root" -exec touch -h -d '2026-11-03 01:02:03 UTC' {} +
export E2FSPROGS_FAKE_TIME=1793667723
"$here/build-image.sh" "$tree/root" "$here/demo.img" --table gpt --size-mib 8 --immutable "$here/infected-immutable.list"
echo "wrote $here/demo.img"
