#!/usr/bin/env bash
# Unpacks the PHP of real web applications and frameworks (Debian's wordpress,
# phpmyadmin, mediawiki, roundcube, Laravel, Twig, TCPDF and phpseclib packages) for
# the webshell tests, which require zero webshell findings over them:
# frameworks hold eval, exec( and base64_decode for good reasons, and a rule that fires
# on them would bury real shells in noise. The packages are fetched with
# `apt-get download` (no installation, nothing run) and unpacked with dpkg-deb -x.
#
#   images/build-php-corpus.sh DIR
#
# DIR/root receives the unpacked trees (DIR/root/usr/share/wordpress, ...) and an
# nginx site that serves each of them, the way a host would, so a scan of DIR/root
# reaches them through the configured web roots. DIR is reused when DIR/complete says
# an earlier run finished it.
set -euo pipefail
dir=${1:?usage: build-php-corpus.sh DIR}
packages=(wordpress phpmyadmin php-laravel-framework php-twig roundcube-core mediawiki php-tcpdf php-phpseclib3)
if [ -f "$dir/complete" ]; then exit 0; fi
rm -rf "$dir"
mkdir -p "$dir/debs" "$dir/root"
cd "$dir/debs"
if ! apt-get download "${packages[@]}" >"$dir/download.log" 2>&1; then
  # A fresh machine may not have the package lists yet.
  apt-get update -qq >>"$dir/download.log" 2>&1
  apt-get download "${packages[@]}" >>"$dir/download.log" 2>&1 || { tail -5 "$dir/download.log" >&2; exit 1; }
fi
for deb in "$dir"/debs/*.deb; do dpkg-deb -x "$deb" "$dir/root"; done
mkdir -p "$dir/root/etc/nginx/sites-enabled"
{
  for app in wordpress phpmyadmin mediawiki roundcube php; do
    printf 'server {\n    server_name %s.example.test;\n    root /usr/share/%s;\n}\n' "$app" "$app"
  done
  printf 'server {\n    server_name data.example.test;\n    location / { alias "/var/lib/mediawiki/"; }\n}\n'
} >"$dir/root/etc/nginx/sites-enabled/apps"
touch "$dir/complete"
