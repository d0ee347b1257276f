"""VIP addresses through rtnetlink (pyroute2 IPRoute), added and removed idempotently.

Addresses Fulcrum adds carry the address protocol ``ADDR_PROTO`` (``IFA_PROTO``, Linux
6.0+), so reading back returns ours only, never the admin's own addresses. IPv6
addresses are added with ``nodad`` so a VIP answers at once.
"""

from __future__ import annotations

import errno

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from dataplane.desired import Address

ADDR_PROTO = 0x46  # "F": marks the addresses Fulcrum owns (ip addr show shows "proto 70")
IFA_F_NODAD = 0x02


class AddressError(RuntimeError):
    pass


class Addresses:
    def __init__(self):
        self.ipr = IPRoute()

    def close(self) -> None:
        self.ipr.close()

    def _index(self, interface: str) -> int:
        found = self.ipr.link_lookup(ifname=interface)
        if not found:
            raise AddressError(f"no interface {interface!r}")
        return found[0]

    def add(self, a: Address) -> None:
        kwargs = {"index": self._index(a.interface), "address": a.address, "prefixlen": a.prefixlen,
                  "proto": ADDR_PROTO}
        if ":" in a.address:
            kwargs["flags"] = IFA_F_NODAD
        try:
            self.ipr.addr("add", **kwargs)
        except NetlinkError as e:
            if e.code != errno.EEXIST:
                raise AddressError(f"adding {a.address}/{a.prefixlen} to {a.interface}: {e}") from e

    def delete(self, a: Address) -> None:
        try:
            index = self._index(a.interface)
        except AddressError:
            return  # the interface is gone, and with it the address
        try:
            self.ipr.addr("del", index=index, address=a.address, prefixlen=a.prefixlen)
        except NetlinkError as e:
            if e.code not in (errno.EADDRNOTAVAIL, errno.ENOENT, errno.ESRCH):
                raise AddressError(f"removing {a.address}/{a.prefixlen} from {a.interface}: {e}") from e

    def read(self) -> frozenset[Address]:
        names = {link["index"]: link.get_attr("IFLA_IFNAME") for link in self.ipr.get_links()}
        out = set()
        for msg in self.ipr.get_addr():
            if msg.get_attr("IFA_PROTO") == ADDR_PROTO:
                addr = msg.get_attr("IFA_LOCAL") or msg.get_attr("IFA_ADDRESS")
                out.add(Address(addr, msg["prefixlen"], names.get(msg["index"], "")))
        return frozenset(out)
