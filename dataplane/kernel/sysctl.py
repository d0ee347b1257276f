"""Sysctls through /proc/sys (names are dotted: ``net.ipv4.vs.conntrack``)."""

from __future__ import annotations

from pathlib import Path

PROC_SYS = Path("/proc/sys")


def _path(name: str) -> Path:
    return PROC_SYS / name.replace(".", "/")


def read(name: str) -> str | None:
    try:
        return " ".join(_path(name).read_text().split())
    except FileNotFoundError:
        return None


def write(name: str, value: str) -> None:
    with open(_path(name), "w") as f:
        f.write(f"{value}\n")
