"""Run one check from the command line: python -m healthchecks.checks TYPE ADDRESS [PORT] [key=value ...]

Example: python -m healthchecks.checks radius 10.0.0.5 1812 secret=s3cret timeout=2
Prints the result and exits 0 when healthy, 1 when not.
"""

from __future__ import annotations

import sys
from dataclasses import fields

from healthchecks.checks import CheckSpec, run_check_sync


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    kind, address, rest = argv[0], argv[1], argv[2:]
    kwargs: dict = {}
    if rest and rest[0].isdigit():
        kwargs["port"] = int(rest.pop(0))
    types = {f.name: f.type for f in fields(CheckSpec)}
    for item in rest:
        key, _, value = item.partition("=")
        if key not in types:
            print(f"unknown setting {key!r}", file=sys.stderr)
            return 2
        kwargs[key] = (float(value) if key == "timeout" else int(value) if key in ("status", "vip_port")
                       else value.lower() in ("1", "yes", "true") if key == "verify_tls" else value)
    result = run_check_sync(CheckSpec(kind, address, **kwargs))
    print(f"{'UP' if result.ok else 'DOWN'} {result.reason} ({result.seconds * 1000:.1f} ms)")
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
