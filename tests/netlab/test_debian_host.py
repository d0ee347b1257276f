"""Fulcrum installed on a fresh Debian 12 host for real, booted twice with systemd (issues 12 and 14).

tests/deploy/debian_host.sh does the work (debootstrap, deploy/install.sh in a chroot, two UML boots
from an ext4 image, tests/deploy/debian_host_probe.py in the guest); this test gives it a temp dir of
its own, bounds it in time and shows the logs when it fails. It needs root, network to Debian's
mirror and PyPI (apt and pip run in the chroot, as on a fresh host), debootstrap and e2fsprogs.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.netlab import lab

pytestmark = pytest.mark.netlab

SCRIPT = Path(__file__).resolve().parents[1] / "deploy" / "debian_host.sh"
TIMEOUT = float(os.environ.get("FULCRUM_DEBIAN_HOST_TIMEOUT", "900"))  # a hang guard; it takes ~5 min


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(none)"


def _run(argv: list[str], env: dict) -> subprocess.CompletedProcess:
    """Run in its own process group, so a timeout also stops the UML guest and any chroot'd command."""
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        stderr += f"\n(killed after {TIMEOUT:.0f} s)"
    return subprocess.CompletedProcess(argv, proc.returncode, stdout, stderr)


def test_fresh_debian_host_install_boot_and_reboot():
    if os.geteuid() != 0:
        pytest.fail("needs root: debootstrap, chroot and mkfs.ext4 -d with real owners")
    for tool in ("debootstrap", "mkfs.ext4"):
        if not shutil.which(tool):
            pytest.fail(f"{tool} is missing: apt-get install -y debootstrap e2fsprogs")
    env = dict(os.environ, FULCRUM_UML=lab.find_uml())
    shim = lab.xstate_shim()
    if shim:
        env["FULCRUM_UML_PRELOAD"] = shim
    tmp = Path(tempfile.mkdtemp(prefix="fulcrum-debian-host."))
    work = tmp / "work"
    try:
        out = _run([str(SCRIPT), str(work)], env)
        logs = "\n".join(f"--- {name}\n{_tail(work / name)}" for name in ("install.log", "probe.log", "boot2.log"))
        assert out.returncode == 0, f"{out.stdout}\n{out.stderr}\n{logs}"
        assert "PROBE first PASS" in out.stdout and "PROBE second PASS" in out.stdout, out.stdout
    finally:
        for sub in ("dev", "sys", "proc"):  # a chroot bind mount left by an interrupted run
            subprocess.run(["umount", "-l", str(work / "root" / sub)], capture_output=True)
        # Never delete through a mount that is still there (the host's /dev, /proc, /sys).
        if str(tmp) not in Path("/proc/self/mounts").read_text():
            shutil.rmtree(tmp, ignore_errors=True)
