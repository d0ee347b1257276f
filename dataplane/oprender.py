"""Kernel operations (dataplane.diff's ops) as the command lines an admin would type: pure.

`op_lines(op)` gives the ipvsadm / iptables / `ip addr` / sysctl lines one op stands for;
`render_report(lines)` groups such lines by tool with a count per group. The same text is
shown by the WebUI, `manage.py apply` and the API (ApplyRun.report), so all three read alike.
"""

from __future__ import annotations

from collections.abc import Iterable

from dataplane import diff as d
from dataplane.desired import OWNED_CHAINS
from dataplane.render import _destination_line, _endpoint, _service_line, _service_ref

# The order groups appear in, when present: the order an apply runs them in.
TOOLS = ("sysctl", "ip addr", "ipvsadm", "iptables", "ip6tables")


def _rules_lines(op: d.ReplaceRules) -> list[str]:
    """A rules replacement as flush + append per owned chain (what iptables-restore --noflush does)."""
    tool = "iptables" if op.family == 4 else "ip6tables"
    lines = []
    for table, chains in OWNED_CHAINS.items():
        for chain in chains:
            lines.append(f"{tool} -t {table} -F {chain}")
            lines += [f"{tool} -t {table} -A {chain} {' '.join(r.args)}"
                      for r in op.rules if (r.table, r.chain) == (table, chain)]
    return lines


def op_lines(op: d.Op) -> list[str]:
    match op:
        case d.SetTimeouts(t):
            return [f"ipvsadm --set {t.tcp} {t.tcpfin} {t.udp}"]
        case d.SetSysctl(name, value):
            return [f"sysctl -w {name}={value}"]
        case d.AddAddress(a):
            return [f"ip addr add {a.address}/{a.prefixlen} dev {a.interface}"]
        case d.DelAddress(a):
            return [f"ip addr del {a.address}/{a.prefixlen} dev {a.interface}"]
        case d.AddService(s):
            return [f"ipvsadm {_service_line(s)}"]
        case d.EditService(s):
            return ["ipvsadm -E" + _service_line(s)[2:]]
        case d.DelService(s):
            return [f"ipvsadm -D {_service_ref(s.key)}"]
        case d.AddDest(dest):
            return [f"ipvsadm {_destination_line(dest)}"]
        case d.EditDest(dest):
            return ["ipvsadm -e" + _destination_line(dest)[2:]]
        case d.DelDest(dest):
            return [f"ipvsadm -d {_service_ref(dest.service)} -r {_endpoint(dest.address, dest.port)}"]
        case d.ReplaceRules():
            return _rules_lines(op)
    raise TypeError(f"unknown op {op!r}")


def describe(op: d.Op) -> str:
    """One op as text: its command lines, one per line."""
    return "\n".join(op_lines(op))


def tool_of(line: str) -> str:
    words = line.split(None, 2)
    if words[:2] == ["ip", "addr"]:
        return "ip addr"
    return words[0] if words else ""


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def render_report(entries: Iterable[str], total: int | None = None) -> str:
    """Command lines grouped by tool, each group headed by its count.

    `entries` are op descriptions (one or more lines each), as an apply run stores them;
    `total` is the number of ops when `entries` was cut short, to say how many are not shown.
    """
    entries = list(entries)
    groups: dict[str, list[str]] = {}
    for entry in entries:
        for line in entry.splitlines():
            groups.setdefault(tool_of(line), []).append(line)
    order = [t for t in TOOLS if t in groups] + [t for t in groups if t not in TOOLS]
    out = []
    for tool in order:
        out.append(f"# {tool}: {_plural(len(groups[tool]), 'command')}")
        out += groups[tool]
    if total is not None and total > len(entries):
        out.append(f"# … and {_plural(total - len(entries), 'more operation')} not shown")
    return "\n".join(out)


def render_ops(ops: Iterable[d.Op]) -> str:
    return render_report(describe(op) for op in ops)
