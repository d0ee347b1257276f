#!/bin/sh
# keepalived survives `systemctl restart fulcrum-worker` on a fresh Debian 12 host with systemd.
#
#   tests/deploy/debian_host_restart.sh [WORKDIR]     (root; several minutes: debootstrap, apt, pip)
#
# Builds a debootstrap Debian 12 (../shared/netlab/debian-host.sh), installs Fulcrum with
# deploy/install.sh in the chroot, then boots it in User-Mode Linux with systemd as PID 1. A probe
# unit pairs the appliance with an absent peer on a dummy interface (so its keepalived becomes MASTER
# and holds a floating IP), then restarts and kills the kernel worker for real and checks that
# keepalived keeps its pid, logs no VRRP state change and still holds the address.
# Prints "DEBIAN-HOST RESULT: PASS" or "... FAIL <why>"; exit 0 only on PASS. Everything is under
# WORKDIR (default: a new temp dir), nothing is cached elsewhere. FULCRUM_WHEELS=DIR: install the Python
# packages offline from wheels built on the host (when the chroot cannot reach PyPI).
#
# STATUS (2026-11-29): not passing yet, and not part of the suite. Run with FULCRUM_WHEELS, it builds,
# installs (install.sh in the chroot) and boots with systemd; fulcrum-keepalived starts as its own
# unit. The probe never runs because, in this UML guest on hostfs: (1) files on the hostfs root do not
# take the guest's ownership, so the units' `fulcrum` user gets EACCES in /var/lib/fulcrum (beat) and
# Celery finds no usable temp dir (tasks); (2) Debian's default iptables is nf_tables, which this UML
# kernel lacks, so the worker's ExecStartPre (mgmt_firewall) fails. Next steps: boot from an ext4
# ubd image instead of hostfs, and switch the guest to iptables-legacy before booting.
set -eu
here=$(cd "$(dirname "$0")/../.." && pwd)
host=${FULCRUM_DEBIAN_HOST:-/work/shared/netlab/debian-host.sh}
work=${1:-$(mktemp -d /tmp/fulcrum-debian-host.XXXXXX)}
root=$work/root
mkdir -p "$work"
echo "== build $root"
[ -x "$root/usr/bin/python3" ] || "$host" build "$root" >"$work/build.log" 2>&1
echo "== copy the app and install it in the chroot"
mkdir -p "$root/root/src"
tar -C "$here" --exclude=.git --exclude=.venv --exclude=./var --exclude='__pycache__' -cf - . | tar -C "$root/root/src" -xf -
if [ -n "${FULCRUM_WHEELS:-}" ]; then
  # No PyPI from the chroot (e.g. TLS interception): the pinned packages as wheels built on this host
  # (`pip wheel -w DIR .`), installed offline; install.sh keeps a venv that is already there.
  echo "== virtualenv from the wheels in $FULCRUM_WHEELS"
  rm -rf "$root/root/wheels"; cp -a "$FULCRUM_WHEELS" "$root/root/wheels"
  "$host" chroot "$root" /bin/sh -c 'python3 -m venv /opt/fulcrum/venv &&
    /opt/fulcrum/venv/bin/pip install -q --no-index --find-links /root/wheels fulcrum' >"$work/wheels.log" 2>&1 \
    || { tail -30 "$work/wheels.log"; exit 1; }
fi
"$host" chroot "$root" /root/src/deploy/install.sh >"$work/install.log" 2>&1 || { tail -30 "$work/install.log"; exit 1; }

"$host" probe-unit "$root" "/usr/local/sbin/fulcrum-probe"
cat >"$root/usr/local/sbin/fulcrum-probe" <<'PROBE'
#!/bin/sh
# Runs once in the booted guest (labprobe.service).
fail() { echo "DEBIAN-HOST RESULT: FAIL $*"; journalctl -u fulcrum-keepalived -u fulcrum-worker --no-pager | tail -40; exit 0; }
as_fulcrum() {
  runuser -u fulcrum -- sh -c 'set -a; . /etc/fulcrum/fulcrum.env; set +a; cd /opt/fulcrum/app; exec "$@"' _ "$@"
}
entering() { journalctl -u fulcrum-keepalived --no-pager | grep -c 'Entering .* STATE' || true; }
ka_pid() { cat /var/lib/fulcrum/keepalived/keepalived.pid 2>/dev/null; }
holds() { ip -o addr show dev dum0 | grep -q ' 192.0.2.50/24'; }
wait_until() { n=0; while ! eval "$1"; do n=$((n+1)); [ $n -gt "$2" ] && return 1; sleep 1; done; }

modprobe dummy 2>/dev/null; ip link add dum0 type dummy && ip link set dum0 up && ip addr add 198.51.100.2/24 dev dum0
wait_until 'systemctl is-active -q fulcrum-worker fulcrum-keepalived fulcrum-tasks' 120 || fail "units not active"
as_fulcrum /opt/fulcrum/venv/bin/python manage.py shell -c "
from cluster.models import ClusterSettings, FloatingIP
from ha.models import Link, Peer
s = ClusterSettings.load(); s.vip_interface = 'dum0'; s.save()
FloatingIP.objects.create(address='192.0.2.50', prefixlen=24, interface='dum0')
Peer.objects.create(address='198.51.100.3', role='master', secret='00' * 32, node_name='lb1')
Link.objects.create(interface='dum0', peer_address='198.51.100.3')
from cluster.tasks import start_apply
print('queued apply', start_apply().pk)
" || fail "could not configure"
wait_until holds 120 || fail "keepalived never took 192.0.2.50 (config: $(ls -l /var/lib/fulcrum/keepalived/ 2>&1))"
sleep 3
pid=$(ka_pid); before=$(entering)
echo "keepalived pid $pid holds 192.0.2.50; VRRP state changes so far: $before"
systemctl restart fulcrum-worker || fail "restart failed"
wait_until 'systemctl is-active -q fulcrum-worker' 60 || fail "worker did not come back"
sleep 3
systemctl kill -s KILL fulcrum-worker
sleep 5
wait_until 'systemctl is-active -q fulcrum-worker' 60 || fail "worker did not come back after the kill"
sleep 3
holds || fail "192.0.2.50 lost"
[ "$(ka_pid)" = "$pid" ] || fail "keepalived restarted: pid $pid -> $(ka_pid)"
kill -0 "$pid" || fail "keepalived $pid is gone"
[ "$(entering)" = "$before" ] || fail "VRRP state changed: $(journalctl -u fulcrum-keepalived --no-pager | grep 'Entering')"
echo "DEBIAN-HOST RESULT: PASS (keepalived pid $pid, 192.0.2.50 held through a restart and a kill of fulcrum-worker)"
PROBE
chmod 0755 "$root/usr/local/sbin/fulcrum-probe"
echo "== boot"
"$host" boot "$root" "${FULCRUM_DEBIAN_BOOT_SECS:-400}" >"$work/boot.log" 2>&1 || true
grep -a "DEBIAN-HOST RESULT\|keepalived pid" "$work/boot.log" || { tail -40 "$work/boot.log"; exit 1; }
grep -aq "DEBIAN-HOST RESULT: PASS" "$work/boot.log"
