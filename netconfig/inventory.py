"""The host's real interfaces and their addresses (read-only netlink: no privilege needed).

Used for pick lists and for validation ("does this interface exist?"). Tests swap the reader
with ``use_reader`` rather than depend on the machine they run on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

log = logging.getLogger("fulcrum.netconfig")


def _read_kernel() -> dict[str, dict]:
    try:
        # pyroute2 (netlink) loads when the kernel is asked, not at import
        from dataplane.kernel.network import NetworkDriver

        with NetworkDriver() as d:
            return d.existing_links()
    except Exception as exc:  # no netlink here (a sandbox): nothing to offer, and say why in the log
        log.warning("cannot list this host's interfaces: %s", exc)
        return {}


_reader: list[Callable[[], dict[str, dict]]] = [_read_kernel]


def use_reader(reader: Callable[[], dict[str, dict]]) -> None:
    _reader[0] = reader


def host_links() -> dict[str, dict]:
    """name → {"kind": "", "vlan", "bond"..., "up": bool, "addresses": ["192.0.2.1/24", ...]}."""
    return _reader[0]()


def choices() -> list[tuple[str, str]]:
    """(name, "name — addresses") for a pick list: the real interfaces, loopback left out."""
    out = []
    for name, info in sorted(host_links().items()):
        if name == "lo":
            continue
        shown = ", ".join(info["addresses"]) or "no address"
        out.append((name, f"{name} — {shown}"))
    return out
