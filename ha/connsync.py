"""The IPVS connection sync daemon, so established connections survive a failover.

Both nodes run a master daemon (sends the connections this node balances) and a backup daemon
(takes in the peer's) on the sync interface, with the pair's sync id; the kernel runs both at
once and never hears its own multicast. Started with ``ipvsadm --start-daemon``.
"""

from __future__ import annotations

import re
import subprocess

_LINE = re.compile(r"^(master|backup) sync daemon \(mcast=(\S+?), syncid=(\d+)")


def running() -> dict[str, tuple[str, int]]:
    out = subprocess.run(["ipvsadm", "-L", "--daemon"], capture_output=True, text=True, timeout=10).stdout
    found = {}
    for line in out.splitlines():
        m = _LINE.match(line.strip())
        if m:
            found[m.group(1)] = (m.group(2), int(m.group(3)))
    return found


def ensure(interface: str, syncid: int) -> list[str]:
    """Start (or restart with new settings) both daemons; the list says what was done."""
    done = []
    now = running()
    for kind in ("master", "backup"):
        if now.get(kind) == (interface, syncid):
            continue
        if kind in now:
            subprocess.run(["ipvsadm", "--stop-daemon", kind], capture_output=True, timeout=10)
        subprocess.run(["ipvsadm", "--start-daemon", kind, "--mcast-interface", interface, "--syncid", str(syncid)],
                       check=True, capture_output=True, text=True, timeout=10)
        done.append(f"{kind} sync daemon on {interface}, syncid {syncid}")
    return done


def stop() -> None:
    for kind in running():
        subprocess.run(["ipvsadm", "--stop-daemon", kind], capture_output=True, timeout=10)
