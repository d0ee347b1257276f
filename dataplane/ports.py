"""Port lists as admins type them: `80`, `500,4500`, `8000-8010`, `80,443,8000-8010`."""

from __future__ import annotations

from .config import PortRange


class PortSyntaxError(ValueError):
    pass


def _ascii_digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


def parse_ports(text: str) -> tuple[PortRange, ...]:
    """Parse, check range (1-65535) and overlap, and return the ranges sorted and merged."""
    ranges: list[PortRange] = []
    for part in (p.strip() for p in text.replace(" ", "").split(",")):
        if not part:
            raise PortSyntaxError("Empty entry in the port list.")
        first_s, sep, last_s = part.partition("-")
        # isascii(): str.isdigit() also takes "４４３" and "²", which int() then reads as ports
        if not _ascii_digits(first_s) or (sep and not _ascii_digits(last_s)):
            raise PortSyntaxError(f"'{part}' is not a port or a range like 8000-8010.")
        first, last = int(first_s), int(last_s) if sep else int(first_s)
        if not (1 <= first <= 65535 and 1 <= last <= 65535):
            raise PortSyntaxError(f"'{part}': ports run from 1 to 65535.")
        if last < first:
            raise PortSyntaxError(f"'{part}': a range must run from low to high.")
        ranges.append(PortRange(first, last))
    ranges.sort(key=lambda r: (r.first, r.last))
    for a, b in zip(ranges, ranges[1:], strict=False):
        if b.first <= a.last:
            raise PortSyntaxError(f"Ports {a} and {b} overlap.")
    return tuple(ranges)


def ranges_overlap(a: tuple[PortRange, ...], b: tuple[PortRange, ...]) -> bool:
    return any(x.first <= y.last and y.first <= x.last for x in a for y in b)


def is_single_port(ranges: tuple[PortRange, ...]) -> bool:
    return len(ranges) == 1 and ranges[0].first == ranges[0].last
