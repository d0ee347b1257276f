"""ALLOWED_HOSTS from how the appliance is reached: its listen address, names and own addresses.

FULCRUM_ALLOWED_HOSTS (comma-separated) replaces the derived list, e.g. behind a NAT or a port
mapping (docker-compose) where the name clients use is not visible from inside. Otherwise:
localhost and loopback, the host name and FQDN, FULCRUM_SITE_NAMES (extra names, comma-separated),
and the listen address of FULCRUM_LISTEN, or, when it is a wildcard (0.0.0.0, [::]), every
address on this host's interfaces, read again by netlink every few seconds (so the address a
commit-confirmed network change moves to answers at once). Any other Host header gets Django's 400,
so links the API builds are never made from a name the caller chose.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import time

WILDCARDS = {"", "0.0.0.0", "::", "*"}


def _split(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def listen_host(listen: str) -> str:
    """The address part of "host:port", "[v6]:port" or a bare host."""
    if listen.startswith("["):
        return listen[1:].partition("]")[0]
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or ":" in host:
        return listen
    return host


def interface_addresses() -> list[str]:
    try:
        from pyroute2 import IPRoute

        with IPRoute() as ipr:
            return [str(a.get_attr("IFA_ADDRESS")) for a in ipr.get_addr() if a.get_attr("IFA_ADDRESS")]
    except Exception:  # no netlink here (a sandbox): names and loopback still work
        return []


def _as_host(value: str) -> str:
    try:
        return f"[{value}]" if ipaddress.ip_address(value).version == 6 else value
    except ValueError:
        return value.lower()


class LiveHosts(list):
    """ALLOWED_HOSTS of a wildcard listen: the names plus this host's addresses as they are now, read
    again at most every `ttl` seconds. A commit-confirmed address change (netconfig) tells the admin to
    reconnect to the new address: that address must be accepted at once, not after a restart."""

    def __init__(self, names: set[str], reader, ttl: float = 2.0):
        self.names, self.reader, self.ttl, self.read_at = names, reader, ttl, time.monotonic()
        super().__init__(_hosts(names | set(reader())))

    def __iter__(self):  # Django's validate_host iterates the setting on every request
        if time.monotonic() - self.read_at > self.ttl:
            self.read_at = time.monotonic()
            self[:] = _hosts(self.names | set(self.reader()))
        return super().__iter__()


def _hosts(names) -> list[str]:
    return sorted({_as_host(n) for n in names if n})


def allowed_hosts(env=None, addresses=None) -> list[str]:
    env = os.environ if env is None else env
    if env.get("FULCRUM_ALLOWED_HOSTS"):
        return _split(env["FULCRUM_ALLOWED_HOSTS"])
    names = {"localhost", "127.0.0.1", "::1", socket.gethostname(), socket.getfqdn()}
    names.update(_split(env.get("FULCRUM_SITE_NAMES", "")))
    host = listen_host(env.get("FULCRUM_LISTEN", "127.0.0.1:8000"))
    if host not in WILDCARDS:
        return _hosts(names | {host})
    if addresses is not None:
        return _hosts(names | set(addresses))
    return LiveHosts(names, interface_addresses)
