"""README examples use documentation addresses only (RFC 5737 / RFC 3849) or loopback: a newcomer
who pastes an example must not make healthcheckd probe whatever answers on their own network."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"
ALLOWED = [ipaddress.ip_network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24",
                                              "127.0.0.0/8", "0.0.0.0/32", "2001:db8::/32", "::1/128")]
IPV4 = re.compile(r"(?<![\d.])(\d{1,3}(?:\.\d{1,3}){3})(?:/\d{1,2})?(?![\d.])")


def test_readme_examples_use_documentation_addresses_only():
    found = []
    for match in IPV4.finditer(README.read_text()):
        try:
            address = ipaddress.ip_address(match.group(1))
        except ValueError:
            continue  # a version number or the like, not an address
        if not any(address in net for net in ALLOWED):
            found.append(match.group(0))
    assert not found, f"README uses non-documentation addresses: {found}"
