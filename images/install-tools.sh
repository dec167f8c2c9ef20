#!/usr/bin/env bash
# Installs the tools minescan's tests build images with (Debian/Ubuntu, as root):
# e2fsprogs (mkfs.ext4, debugfs), gdisk (sgdisk), fdisk (sfdisk), Sleuth Kit (fls),
# debootstrap (the clean Debian root), openssh-client (ssh-keygen fingerprints),
# util-linux (losetup), strace (the hostile-disk tests trace what a scan opens), rpm and db-util (RPM databases, sqlite and Berkeley DB), gcc and
# libc6-dev (real ELF programs for the miner-binary tests), ntfs-3g (mkntfs, ntfscp: NTFS
# volumes), libhivex-bin and libwin-hivex-perl (hivexsh, hivexregedit: registry hives) for
# Windows disks, liblnk-utils (lnkinfo: shell links), python3 (os.setxattr: ntfs-3g's named streams, reparse points and DOS names).
# minescan itself needs none of them.
set -euo pipefail
packages=(e2fsprogs gdisk fdisk util-linux sleuthkit debootstrap openssh-client zip unzip zstd xz-utils qemu-utils xfsprogs lvm2 dosfstools btrfs-progs squashfs-tools time strace rpm db-util gcc libc6-dev ntfs-3g libhivex-bin libwin-hivex-perl liblnk-utils python3)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo_cmd=(); [ "$(id -u)" = 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi
