"""The kernel's state as the classic tools print it, for the support archive (no Django; needs the
kernel worker's privilege for ipvsadm and iptables-save)."""

from __future__ import annotations

import subprocess

from dataplane.kernel.netfilter import Netfilter


def run(argv: list[str], timeout: float = 15) -> str:
    """A tool's output; when it cannot run or fails, a comment line that says why."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"# {' '.join(argv)}: not available here ({exc})\n"
    return done.stdout + (f"# {' '.join(argv)} exited {done.returncode}: {done.stderr.strip()}\n"
                          if done.returncode else "")


def kernel_sections(backend: str | None = None) -> dict[str, str]:
    """IPVS with statistics, and iptables-save cut down to the appliance's own chains (both families)."""
    nf = Netfilter(backend)
    out = {"ipvsadm-Ln-stats.txt": run(["ipvsadm", "-Ln", "--stats"])}
    for family in (4, 6):
        tool = nf.binary(family, "save")
        ours = [line for line in run([tool]).splitlines() if "FULCRUM" in line or line.startswith(("*", "#"))]
        out[f"{tool}-fulcrum.txt"] = "\n".join(ours) + "\n"
    return out
