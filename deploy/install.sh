#!/usr/bin/env bash
# Install Fulcrum on a plain Debian host (12 "bookworm") as systemd services:
#   fulcrum-web (gunicorn, HTTPS, unprivileged); fulcrum-worker (the kernel worker: Celery queue
#   "kernel"), fulcrum-keepalived (VRRP, supervised apart from the worker) and fulcrum-healthcheckd,
#   with only CAP_NET_ADMIN + CAP_NET_RAW; fulcrum-tasks (Celery default queue: peer sync, stats,
#   mail) and fulcrum-beat, with no capabilities; Redis from Debian; SQLite by default (set
#   DATABASE_URL in /etc/fulcrum/fulcrum.env for PostgreSQL).
#
#   sudo deploy/install.sh
#
# Environment:
#   DESTDIR   install into this root instead of / (packaging, tests): no apt-get, useradd, chown,
#             migrate or systemctl; everything else is written under it
#   PREFIX    /opt/fulcrum   (app in PREFIX/app, virtualenv in PREFIX/venv)
#   ETC       /etc/fulcrum   (fulcrum.env, tls/cert.pem, tls/key.pem)
#   DATA      /var/lib/fulcrum
#   UNITDIR   /etc/systemd/system
#   FULCRUM_VENV_FROM  use this existing virtualenv (symlinked) instead of building one
#   FULCRUM_TLS_CN     the certificate's name (default: this host's FQDN)
set -euo pipefail

SRC="$(cd "$(dirname "$0")/.." && pwd)"
DESTDIR="${DESTDIR:-}"
PREFIX="${PREFIX:-/opt/fulcrum}"
ETC="${ETC:-/etc/fulcrum}"
DATA="${DATA:-/var/lib/fulcrum}"
UNITDIR="${UNITDIR:-/etc/systemd/system}"
USER_NAME=fulcrum
UNITS=(fulcrum-network fulcrum-web fulcrum-worker fulcrum-tasks fulcrum-keepalived fulcrum-healthcheckd fulcrum-beat)
say() { echo "== $*"; }

if [ -z "$DESTDIR" ] && [ "$(id -u)" != 0 ]; then
  echo "run as root (or set DESTDIR to install into a staging root)" >&2
  exit 1
fi

if [ -z "$DESTDIR" ]; then
  say "Debian packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  # chrony: the default time daemon System settings configures (NTP servers); tzdata: the zones its
  # time zone links /etc/localtime to. Neither is on a minimal Debian.
  apt-get install -y -q --no-install-recommends python3 python3-venv python3-dev build-essential \
    redis-server ipvsadm iptables keepalived iproute2 kmod openssl ca-certificates rsync frr frr-pythontools \
    chrony tzdata
  say "system user $USER_NAME"
  id -u "$USER_NAME" >/dev/null 2>&1 || useradd --system --home-dir "$DATA" --shell /usr/sbin/nologin "$USER_NAME"
  # Active-active: the kernel worker loads bgpd's configuration through vtysh (frr-reload.py).
  usermod -aG frrvty "$USER_NAME"
fi

say "application into $DESTDIR$PREFIX/app"
install -d -m 0755 "$DESTDIR$PREFIX/app" "$DESTDIR$ETC" "$DESTDIR$UNITDIR" "$DESTDIR/etc/modules-load.d"
install -d -m 0750 "$DESTDIR$DATA" "$DESTDIR$ETC/tls"
if command -v rsync >/dev/null; then
  rsync -a --delete --exclude .git --exclude .venv --exclude var --exclude test-output --exclude '__pycache__' \
    --exclude '*.egg-info' "$SRC/" "$DESTDIR$PREFIX/app/"
else
  (cd "$SRC" && tar --exclude=.git --exclude=.venv --exclude=./var --exclude=test-output --exclude='__pycache__' \
     --exclude='*.egg-info' -cf - .) | (cd "$DESTDIR$PREFIX/app" && tar -xf -)
fi

if [ -n "${FULCRUM_VENV_FROM:-}" ]; then
  say "virtualenv: linking $FULCRUM_VENV_FROM"
  ln -sfn "$FULCRUM_VENV_FROM" "$DESTDIR$PREFIX/venv"
elif [ ! -x "$DESTDIR$PREFIX/venv/bin/python" ]; then
  say "virtualenv in $DESTDIR$PREFIX/venv"
  python3 -m venv "$DESTDIR$PREFIX/venv"
  "$DESTDIR$PREFIX/venv/bin/pip" install -q --upgrade pip
  "$DESTDIR$PREFIX/venv/bin/pip" install -q "$DESTDIR$PREFIX/app"
fi

env_file="$DESTDIR$ETC/fulcrum.env"
if [ ! -f "$env_file" ]; then
  say "settings in $ETC/fulcrum.env"
  umask 077
  cat >"$env_file" <<ENV
# Fulcrum settings (see appliance/settings.py and README.md). Restart the fulcrum-* units after a change.
DJANGO_SETTINGS_MODULE=appliance.settings
DJANGO_SECRET_KEY=$(openssl rand -hex 32)
FULCRUM_DATA_DIR=$DATA
FULCRUM_HTTPS=1
FULCRUM_LISTEN=[::]:443
FULCRUM_MGMT_PORTS=443
FULCRUM_TLS_DIR=$ETC/tls
REDIS_URL=redis://127.0.0.1:6379/0
# DATABASE_URL=postgres://fulcrum:secret@127.0.0.1:5432/fulcrum
# FULCRUM_SYSLOG=syslog.example.net:514
# FULCRUM_SMTP_HOST=mail.example.net
# FULCRUM_SMTP_PORT=587
# FULCRUM_SMTP_STARTTLS=1
# FULCRUM_SMTP_USER=
# FULCRUM_SMTP_PASSWORD=
# FULCRUM_SMTP_FROM=fulcrum@example.net
# FULCRUM_ALERT_EMAILS=noc@example.net
ENV
  umask 022
fi

if [ ! -f "$DESTDIR$ETC/tls/cert.pem" ]; then
  cn="${FULCRUM_TLS_CN:-$(hostname -f 2>/dev/null || hostname)}"
  say "self-signed certificate for $cn (replace $ETC/tls/cert.pem and key.pem with your own)"
  openssl req -x509 -newkey rsa:2048 -sha256 -nodes -days 825 -subj "/CN=$cn" \
    -addext "subjectAltName=DNS:$cn" -addext "extendedKeyUsage=serverAuth" \
    -keyout "$DESTDIR$ETC/tls/key.pem" -out "$DESTDIR$ETC/tls/cert.pem" 2>/dev/null
  chmod 0640 "$DESTDIR$ETC/tls/key.pem"
  chmod 0644 "$DESTDIR$ETC/tls/cert.pem"
fi

say "kernel modules at boot (the worker may not load modules itself)"
# ip_tables/ip6_tables: with the iptables-legacy backend, iptables-restore modprobes the core itself, which
# the worker's ProtectKernelModules forbids (the kernel loads tables and matches on its own, not the core).
printf '%s\n' ip_vs ip_vs_rr ip_vs_wrr ip_vs_lc ip_vs_wlc ip_vs_sh ip_vs_mh nf_conntrack ipip 8021q bonding \
  ip_tables ip6_tables \
  >"$DESTDIR/etc/modules-load.d/fulcrum.conf"

say "the xtables lock, shared with the unprivileged kernel worker"
# iptables-legacy takes /run/xtables.lock; the kernel worker (user fulcrum, CAP_NET_ADMIN) cannot create
# a file in /run, nor open one root made 0600. Made at boot, group fulcrum, so every iptables caller shares it.
install -d -m 0755 "$DESTDIR/etc/tmpfiles.d"
printf 'f /run/xtables.lock 0660 root %s -\nz /run/xtables.lock 0660 root %s -\n' "$USER_NAME" "$USER_NAME" \
  >"$DESTDIR/etc/tmpfiles.d/fulcrum.conf"

say "systemd units into $UNITDIR"
for unit in "${UNITS[@]}"; do
  sed -e "s|@PREFIX@|$PREFIX|g" -e "s|@ETC@|$ETC|g" -e "s|@DATA@|$DATA|g" \
    "$SRC/deploy/systemd/$unit.service" >"$DESTDIR$UNITDIR/$unit.service"
  chmod 0644 "$DESTDIR$UNITDIR/$unit.service"
done
# System settings (hostname, DNS, time) and System Control: root one-shots their path units start on request.
for unit in fulcrum-system.service fulcrum-system.path fulcrum-control.service fulcrum-control.path; do
  sed -e "s|@PREFIX@|$PREFIX|g" -e "s|@ETC@|$ETC|g" -e "s|@DATA@|$DATA|g" \
    "$SRC/deploy/systemd/$unit" >"$DESTDIR$UNITDIR/$unit"
  chmod 0644 "$DESTDIR$UNITDIR/$unit"
done

if [ -n "$DESTDIR" ]; then
  say "staged into $DESTDIR (no users, database or services touched)"
  exit 0
fi

chown -R "$USER_NAME:$USER_NAME" "$DATA"
chown root:"$USER_NAME" "$ETC" "$ETC/tls" "$ETC/tls/key.pem" "$env_file"
chmod 0640 "$env_file"
systemctl restart systemd-modules-load.service || true
systemd-tmpfiles --create /etc/tmpfiles.d/fulcrum.conf 2>/dev/null || true

say "database and first admin"
run_py() {
  runuser -u "$USER_NAME" -- bash -c 'set -a; . "$1"; set +a; shift; exec "$@"' _ "$env_file" \
    "$PREFIX/venv/bin/python" "$@"
}
(cd "$PREFIX/app" && run_py manage.py migrate --noinput && run_py manage.py collectstatic --noinput -v0 \
  && run_py manage.py firstrun)

say "services"
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload
  systemctl enable --now redis-server
  systemctl enable --now "${UNITS[@]}" fulcrum-system.path fulcrum-control.path
else  # a chroot or an image build: systemd is not running here; the units start at the next boot
  systemctl enable redis-server "${UNITS[@]}" fulcrum-system.path fulcrum-control.path
  say "systemd is not running: services enabled, they start at boot"
fi
say "Fulcrum is at https://$(hostname -f 2>/dev/null || hostname)/ (self-signed certificate)"
