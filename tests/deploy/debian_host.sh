#!/bin/sh
# Fulcrum on a fresh Debian 12 host, for real: debootstrap, deploy/install.sh in a chroot, then two
# boots in User-Mode Linux with systemd as PID 1 from an ext4 disk image.
#
#   tests/deploy/debian_host.sh WORKDIR     (root; ~5 min: debootstrap, apt, pip, two boots)
#
# Run by tests/netlab/test_debian_host.py. Everything lives under WORKDIR (the caller removes it);
# nothing is cached elsewhere. The probe (tests/deploy/debian_host_probe.py) runs in the guest as a
# oneshot unit and prints "PROBE first PASS" (first boot: units, HTTPS login, API apply → IPVS,
# network change, keepalived through `systemctl restart fulcrum-worker`, System Control) and
# "PROBE second PASS" (second boot: the saved network and IPVS are back) into /root/probe.log, which
# this script reads back from the image (debugfs); it exits 0 only when both appear. Logs:
# WORKDIR/{build,install,boot1,boot2,probe}.log. FULCRUM_UML: the UML
# kernel; FULCRUM_UML_PRELOAD: the AMX shim to preload into it (tests/netlab/README.md).
#
# Why an ext4 image and not hostfs (as ../shared/netlab/debian-host.sh boots): on hostfs every file
# keeps the host's owner whatever the guest chowns, so the `fulcrum` user of the units could not write
# /var/lib/fulcrum (beat's schedule) nor find a temp dir for Celery. `mkfs.ext4 -d` copies the built
# tree with its real owners and modes into an image UML boots as its ubd disk.
#
# IPVS after a reboot: the kernel forgets IPVS; fulcrum-network (manage.py network_boot) puts the last
# applied state back before the services start, with the defaults (the drift lock off). The probe
# checks it at once, without waiting for a drift check.
set -eu
here=$(cd "$(dirname "$0")/../.." && pwd)
work=${1:?WORKDIR}
root=$work/root
image=$work/disk.ext4
uml=${FULCRUM_UML:-linux.uml}
kver=$("$uml" --version 2>/dev/null | awk '{print $NF}' || true)
[ -n "$kver" ] || kver=$(ls /usr/lib/uml/modules | head -1)
mkdir -p "$work"

in_root() {  # run a command in the chroot, with the host's /proc, /sys, /dev and a clean environment
  for m in proc sys dev; do mountpoint -q "$root/$m" || mount --bind "/$m" "$root/$m"; done
  rc=0
  chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root DEBIAN_FRONTEND=noninteractive \
    "$@" || rc=$?
  for m in dev sys proc; do umount "$root/$m" 2>/dev/null || true; done
  return $rc
}

echo "== debootstrap Debian 12 into $root"
mirror=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
[ -n "$mirror" ] || mirror=$(awk '/^deb /{print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
debootstrap --variant=minbase \
  --include=systemd,systemd-sysv,dbus,iproute2,kmod,python3,python3-venv,ca-certificates,openssl \
  bookworm "$root" "${mirror:-http://deb.debian.org/debian}" >"$work/build.log" 2>&1 \
  || { tail -20 "$work/build.log"; exit 1; }
mkdir -p "$root/lib/modules"; cp -a "/usr/lib/uml/modules/$kver" "$root/lib/modules/"
echo fresh-debian >"$root/etc/hostname"
cp /etc/resolv.conf "$root/etc/resolv.conf"
# An environment fact of the machine running the test, not of the product: if it reaches PyPI through
# a TLS-inspecting proxy, its extra CAs must be trusted in the chroot too (apt's own mirror is plain http).
if ls /usr/local/share/ca-certificates/*.crt >/dev/null 2>&1; then
  cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
  in_root update-ca-certificates >>"$work/build.log" 2>&1
  printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' >"$root/etc/pip.conf"  # pip's own certifi
fi

echo "== deploy/install.sh in the chroot"
mkdir -p "$root/root/src"
tar -C "$here" --exclude=.git --exclude=.venv --exclude=./var --exclude=test-output --exclude='__pycache__' \
  -cf - . | tar -C "$root/root/src" -xf -
# This UML kernel has no nf_tables (Debian's default iptables backend): as an admin on such a kernel
# does before installing anything, switch to the legacy backend. The appliance just runs `iptables`.
in_root sh -c 'apt-get update -q && apt-get install -y -q --no-install-recommends iptables &&
  update-alternatives --set iptables /usr/sbin/iptables-legacy &&
  update-alternatives --set ip6tables /usr/sbin/ip6tables-legacy' >"$work/install.log" 2>&1 \
  || { tail -30 "$work/install.log"; exit 1; }
in_root /root/src/deploy/install.sh >>"$work/install.log" 2>&1 || { tail -30 "$work/install.log"; exit 1; }
password=$(sed -n 's/.*log in as  admin \/ \([^ ]*\).*/\1/p' "$work/install.log")
[ -n "$password" ] || { echo "install.sh printed no first admin password"; tail -30 "$work/install.log"; exit 1; }
printf '%s\n' "$password" >"$root/root/admin.password"; chmod 0600 "$root/root/admin.password"

echo "== the lab's NICs and the probe unit"
# The guest has no network: two dummy links stand in for the host's NICs, made before fulcrum-network
# (lan0: Fulcrum configures it; ha0: the HA link, addressed as an installer would).
cat >"$root/etc/systemd/system/labnics.service" <<'UNIT'
[Unit]
Description=lab: dummy NICs lan0 and ha0 (the guest has no network)
Before=fulcrum-network.service fulcrum-worker.service fulcrum-keepalived.service
After=systemd-modules-load.service
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/sbin/modprobe dummy
ExecStart=/sbin/ip link add lan0 type dummy
ExecStart=/sbin/ip link set lan0 up
ExecStart=/sbin/ip link add ha0 type dummy
ExecStart=/sbin/ip link set ha0 up
ExecStart=/sbin/ip addr add 198.51.100.2/24 dev ha0
[Install]
WantedBy=multi-user.target
UNIT
cp "$here/tests/deploy/debian_host_probe.py" "$root/usr/local/sbin/fulcrum-probe.py"
cat >"$root/usr/local/sbin/fulcrum-probe" <<'PROBE'
#!/bin/sh
# First boot: the install checks; the boot after: what must survive a reboot. Then power off.
py=/opt/fulcrum/venv/bin/python
# Its report goes to the console and to /root/probe.log (the host reads it from the image afterwards).
if [ -e /root/probe.first-passed ]; then
  $py /usr/local/sbin/fulcrum-probe.py second >>/root/probe.log 2>&1
else
  $py /usr/local/sbin/fulcrum-probe.py first "$(cat /root/admin.password)" >>/root/probe.log 2>&1 \
    && touch /root/probe.first-passed
fi
cat /root/probe.log
sync
systemctl poweroff
PROBE
chmod 0755 "$root/usr/local/sbin/fulcrum-probe"
cat >"$root/etc/systemd/system/labprobe.service" <<'UNIT'
[Unit]
Description=lab probe
After=multi-user.target
[Service]
Type=oneshot
StandardOutput=tty
StandardError=tty
TTYPath=/dev/console
ExecStart=/usr/local/sbin/fulcrum-probe
[Install]
WantedBy=multi-user.target
UNIT
in_root systemctl enable labnics.service labprobe.service >>"$work/install.log" 2>&1

echo "== ext4 image (real owners and modes, unlike hostfs)"
size=$(( $(du -sm "$root" | cut -f1) + 768 ))
mkfs.ext4 -q -F -L fulcrum-root -d "$root" "$image" "${size}M"
rm -rf "$root"  # the image is the host's disk from here on

boot() {  # boot the image once; the probe powers the guest off
  env ${FULCRUM_UML_PRELOAD:+LD_PRELOAD=$FULCRUM_UML_PRELOAD} \
    timeout "${FULCRUM_DEBIAN_BOOT_SECS:-300}" "$uml" mem=1024M "ubd0=$image" root=/dev/ubda rw \
    init=/lib/systemd/systemd con=null con0=fd:0,fd:1 </dev/null 2>&1 | cat >"$work/boot$1.log"
  # Through a pipe: UML's console cannot poll a regular file. The probe's report, from the image:
  debugfs -R "cat /root/probe.log" "$image" >"$work/probe.log" 2>/dev/null || true
}
for phase in 1 2; do
  name=$([ $phase = 1 ] && echo first || echo second)
  echo "== boot $phase"
  boot $phase
  grep -a "PROBE" "$work/probe.log" || true
  grep -aq "PROBE $name PASS" "$work/probe.log" || {
    echo "== boot $phase: no PASS"; cat "$work/probe.log"; tail -40 "$work/boot$phase.log"; exit 1; }
done
echo "DEBIAN-HOST RESULT: PASS"
