"""Fulcrum installed on a fresh Debian 12 host for real, booted twice with systemd (issues 12 and 14).

tests/deploy/debian_host.sh does the work (debootstrap, deploy/install.sh in a chroot, two UML boots
from an ext4 image, tests/deploy/debian_host_probe.py in the guest); this test gives it a temp dir of
its own, bounds it in time and shows the logs when it fails. It needs root, network to Debian's
mirror and PyPI (apt and pip run in the chroot, as on a fresh host), debootstrap and e2fsprogs.
"""

from __future__ import annotations

import os
import shutil
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
    with tempfile.TemporaryDirectory(prefix="fulcrum-debian-host.") as tmp:
        work = Path(tmp) / "work"
        try:
            out = subprocess.run([str(SCRIPT), str(work)], env=env, capture_output=True, text=True,
                                 timeout=TIMEOUT)
        finally:
            for sub in ("dev", "sys", "proc"):  # a chroot bind mount left by an interrupted run
                subprocess.run(["umount", "-l", str(work / "root" / sub)], capture_output=True)
        logs = "\n".join(f"--- {name}\n{_tail(work / name)}" for name in ("install.log", "boot1.log", "boot2.log"))
        assert out.returncode == 0, f"{out.stdout}\n{out.stderr}\n{logs}"
        assert "PROBE first PASS" in out.stdout and "PROBE second PASS" in out.stdout, out.stdout
