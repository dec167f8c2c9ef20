#!/usr/bin/env bash
# Builds a disk image from a root tree with the real tools, the way a server's disk
# looks: an ext4 filesystem made by mkfs.ext4 -d, inside a GPT or MBR partition table
# (or bare), with chosen files made immutable through debugfs.
#
#   images/build-image.sh ROOT OUT [--table gpt|mbr|none] [--size-mib N]
#                         [--immutable LIST] [--mkfs-opts "..."]
#
# The partition starts at 1 MiB; the filesystem fills the rest of the disk.
set -euo pipefail

root=${1:?usage: build-image.sh ROOT OUT [--table gpt|mbr|none] [--size-mib N] [--immutable LIST]}
out=${2:?usage: build-image.sh ROOT OUT ...}
shift 2
table=gpt size_mib=16 immutable= mkfs_opts=
while [ $# -gt 0 ]; do
  case "$1" in
    --table) table=$2; shift 2 ;;
    --size-mib) size_mib=$2; shift 2 ;;
    --immutable) immutable=$2; shift 2 ;;
    --mkfs-opts) mkfs_opts=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fs="$work/fs.img"

if [ "$table" = none ]; then fs_mib=$size_mib; else fs_mib=$((size_mib - 2)); fi
# -E root_owner keeps the tree's owners; a fixed UUID and hash seed keep the demo reproducible.
# shellcheck disable=SC2086
mkfs.ext4 -q -F -L minescan-root -U 6b1d3c51-7c1a-4f59-9d1b-6a2b4f6c0d11 \
  -E hash_seed=0d5ccb1b-3c5e-4a55-b3f8-1b7a3f0e9a21 $mkfs_opts -d "$root" "$fs" "${fs_mib}M" >/dev/null

if [ -n "$immutable" ]; then
  while IFS= read -r path; do
    [ -n "$path" ] || continue
    # 0x10 is EXT4_IMMUTABLE_FL; keep the extents flag (0x80000) the inode already has.
    flags=$(debugfs -R "stat \"$path\"" "$fs" 2>/dev/null | sed -n 's/.*Flags: \(0x[0-9a-f]*\).*/\1/p' | head -1)
    debugfs -w -R "set_inode_field \"$path\" flags $(printf '0x%x' $(( ${flags:-0} | 0x10 )))" "$fs" >/dev/null 2>&1
  done < "$immutable"
fi

rm -f "$out"
case "$table" in
  none)
    cp "$fs" "$out" ;;
  gpt)
    truncate -s "${size_mib}M" "$out"
    sgdisk -o -n 1:2048:0 -t 1:8300 -c 1:root -U 5d2c0e7a-0c43-4a1e-8e5f-2f0b6c6d9a10 \
      -u 1:9a4b7c2e-3d5f-4e6a-8b1c-0d2e3f4a5b6c "$out" >/dev/null 2>&1
    dd if="$fs" of="$out" bs=1M seek=1 conv=notrunc,sparse status=none ;;
  mbr)
    truncate -s "${size_mib}M" "$out"
    printf 'label: dos\nlabel-id: 0x4d696e65\nstart=2048, type=83\n' | sfdisk -q "$out" >/dev/null 2>&1
    dd if="$fs" of="$out" bs=1M seek=1 conv=notrunc,sparse status=none ;;
  *) echo "unknown table $table" >&2; exit 2 ;;
esac
