"""FRR per network namespace for the kernel lab (guest side; also runs on a host with namespaces).

Each namespace gets its own FRR instance by pathspace (``-N NAME``): config under /etc/frr/NAME/,
pid files and vty sockets under /var/run/frr/NAME/, so ``vtysh -N NAME`` (and frr-reload.py
``--pathspace NAME``) talks to that namespace's daemons only. zebra runs in each (bgpd's
``network`` import-check and the router's ECMP routes need it), bgpd and bfdd beside it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

DAEMONS = ("zebra", "bfdd", "bgpd")
SBIN = Path("/usr/lib/frr")


def _dirs(name: str) -> tuple[Path, Path]:
    return Path("/etc/frr") / name, Path("/var/run/frr") / name


def start(name: str, conf: str = "", logdir: Path | None = None) -> None:
    """Start zebra, bfdd and bgpd in namespace ``name``; ``conf``: an integrated configuration to boot with."""
    etc, run = _dirs(name)
    for d in (etc, run):
        d.mkdir(parents=True, exist_ok=True)
        shutil.chown(d, "frr", "frr")
    (etc / "vtysh.conf").write_text("service integrated-vtysh-config\n")
    (etc / "frr.conf").write_text(conf)
    shutil.chown(etc / "frr.conf", "frr", "frr")
    for daemon in DAEMONS:
        log = f"file:{logdir / f'{name}-{daemon}.log'}" if logdir else "stdout"
        argv = ["ip", "netns", "exec", name, str(SBIN / daemon), "-N", name, "-d", "-A", "127.0.0.1",
                "--log", log, "-f", "/dev/null"]
        if daemon == "zebra":
            argv += ["-s", "16777216"]  # netlink receive buffer
        subprocess.run(argv, check=True, timeout=30)
        _wait(lambda d=daemon: (run / f"{d}.vty").exists(), 10, f"{name} {daemon} vty")
    if conf:
        vtysh(name, "-b")


def vtysh(name: str, *args: str, check: bool = True) -> str:
    done = subprocess.run(["ip", "netns", "exec", name, "vtysh", "-N", name, *args], capture_output=True,
                          text=True, timeout=30)
    if check and done.returncode != 0:
        raise RuntimeError(f"vtysh -N {name} {' '.join(args)}: {done.stdout}{done.stderr}")
    return done.stdout


def show(name: str, command: str):
    return json.loads(vtysh(name, "-c", f"{command} json") or "null")


def pid(name: str, daemon: str) -> int | None:
    try:
        return int((_dirs(name)[1] / f"{daemon}.pid").read_text().strip())
    except (OSError, ValueError):
        return None


def kill(name: str, daemon: str, sig: int = signal.SIGKILL) -> None:
    p = pid(name, daemon)
    if p:
        try:
            os.kill(p, sig)
        except ProcessLookupError:
            pass


def stop(name: str) -> None:
    for daemon in reversed(DAEMONS):
        kill(name, daemon, signal.SIGTERM)
    time.sleep(0.2)
    for daemon in DAEMONS:
        kill(name, daemon)
    etc, run = _dirs(name)
    shutil.rmtree(run, ignore_errors=True)
    shutil.rmtree(etc, ignore_errors=True)


def _wait(check, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds}s waiting for {what}")
        time.sleep(0.05)
