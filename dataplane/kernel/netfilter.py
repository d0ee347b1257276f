"""Netfilter rules in the chains Fulcrum owns, through iptables-restore --noflush.

Only our chains (``state.OWNED_CHAINS``) and the one jump into each of them from its
built-in chain are ever written; every other rule is left alone. Each change of a family
is ONE ``iptables-restore --noflush`` run (atomic per table): the chain declarations in
the rendered text flush our chains, their rules follow, and the jumps are fixed up in the
same transaction (inserted at the top when missing, duplicates deleted). An empty rule set
removes the jumps and our chains altogether.
"""

from __future__ import annotations

import functools
import shlex
import shutil
import subprocess
from dataclasses import replace

from dataplane.desired import OWNED_CHAINS, DesiredState, Rule
from dataplane.render import jump_rules, render_iptables


class NetfilterError(RuntimeError):
    pass


def nft_backend_usable(binary: str = "iptables-nft") -> bool:
    if not shutil.which(binary):
        return False
    res = subprocess.run([binary, "-w", "-t", "filter", "-S"], capture_output=True, text=True)
    return res.returncode == 0


@functools.lru_cache(maxsize=1)
def default_backend() -> str:
    """"legacy" when iptables-legacy exists and the nft backend does not work, else "".

    Decided once per process: each apply and each status read makes a KernelDriver, and probing
    costs a run of iptables-nft (~0.2 s in the kernel lab) that would otherwise be paid every time.
    """
    if shutil.which("iptables-legacy") and not nft_backend_usable():
        return "legacy"
    return ""


class Netfilter:
    """Run iptables/ip6tables of one backend: "" (the system's default), "legacy" or "nft"."""

    def __init__(self, backend: str | None = None):
        self.backend = default_backend() if backend is None else backend
        # iptables-save prints some rules differently from how they were written (e.g. the
        # ipvs match drops "/32"); remember, per family, saved form -> written form, so
        # read() returns what we wrote and a plan against it is empty. After a restart the
        # first plan may replace the rules once more: harmless, it is atomic.
        self._written: dict[int, dict[Rule, Rule]] = {4: {}, 6: {}}

    def binary(self, family: int, tool: str = "") -> str:
        base = "iptables" if family == 4 else "ip6tables"
        suffix = f"-{self.backend}" if self.backend else ""
        return f"{base}{suffix}{'-' + tool if tool else ''}"

    def _run(self, argv: list[str], stdin: str | None = None) -> str:
        res = subprocess.run(argv, input=stdin, capture_output=True, text=True)
        if res.returncode != 0:
            raise NetfilterError(f"{' '.join(argv)} failed ({res.returncode}): {res.stderr.strip()}")
        return res.stdout

    def save(self, family: int) -> dict[str, list[str]]:
        """``iptables-save`` of the tables we use: {table: [lines]}.

        One run for all tables: with ``-t`` the legacy tool runs modprobe first, every time, so a
        run per table cost a replace() eight program starts instead of three. A table that is not
        loaded is absent from the output and holds nothing of ours.
        """
        out: dict[str, list[str]] = {table: [] for table in OWNED_CHAINS}
        table = None
        for line in self._run([self.binary(family, "save")]).splitlines():
            if line.startswith("*"):
                table = line[1:].strip()
            if table in out:
                out[table].append(line)
            if line == "COMMIT":
                table = None
        return out

    def read(self, family: int, saved: dict[str, list[str]] | None = None) -> tuple[Rule, ...]:
        """The rules in our chains, in order, as Rule values."""
        saved = self.save(family) if saved is None else saved
        rules = []
        for table, chains in OWNED_CHAINS.items():
            for line in saved.get(table, []):
                if line.startswith("-A "):
                    words = shlex.split(line)
                    if words[1] in chains:
                        rules.append(Rule(family, table, words[1], tuple(words[2:])))
        written = self._written[family]
        return tuple(written.get(r, r) for r in rules)

    def read_saved(self, family: int) -> tuple[Rule, ...]:
        """The rules in our chains exactly as iptables-save prints them."""
        written, self._written[family] = self._written[family], {}
        try:
            return self.read(family)
        finally:
            self._written[family] = written

    def jumps(self, family: int, saved: dict[str, list[str]] | None = None) -> dict[tuple[str, str, str], int]:
        """How many times each of our jumps is present: {(table, builtin, chain): count}."""
        saved = self.save(family) if saved is None else saved
        counts = {}
        for table, builtin, args in jump_rules(family):
            line = f"-A {builtin} {' '.join(args)}"
            counts[(table, builtin, args[-1])] = sum(1 for x in saved.get(table, []) if x == line)
        return counts

    def chains_present(self, family: int, saved: dict[str, list[str]]) -> set[str]:
        return {
            line[1:].split()[0]
            for lines in saved.values()
            for line in lines
            if line.startswith(":FULCRUM-")
        }

    def replace(self, family: int, rules: tuple[Rule, ...]) -> None:
        """Make our chains of ``family`` hold exactly ``rules`` (one atomic restore)."""
        saved = self.save(family)
        jumps = self.jumps(family, saved)
        if rules:
            text = render_iptables(replace(DesiredState.empty(), rules=tuple(rules)), family)
            fixes: dict[str, list[str]] = {}
            for (table, builtin, chain), count in jumps.items():
                if count == 0:
                    fixes.setdefault(table, []).append(f"-I {builtin} 1 -j {chain}")
                fixes.setdefault(table, []).extend([f"-D {builtin} -j {chain}"] * max(0, count - 1))
            text = _inject_before_commit(text, fixes)
        else:
            present = self.chains_present(family, saved)
            blocks = []
            for table, chains in OWNED_CHAINS.items():
                lines = []
                for chain, builtin in chains.items():
                    if chain not in present:
                        continue
                    lines.append(f":{chain} - [0:0]")
                    lines += [f"-D {builtin} -j {chain}"] * jumps[(table, builtin, chain)]
                    lines.append(f"-X {chain}")
                if lines:
                    blocks.append("\n".join([f"*{table}", *lines, "COMMIT"]) + "\n")
            text = "".join(blocks)
            self._written[family] = {}
            if not text:
                return
        self._run([self.binary(family, "restore"), "-w", "--noflush"], stdin=text)
        saved = self.read_saved(family)
        self._written[family] = dict(zip(saved, rules, strict=False)) if len(saved) == len(rules) else {}


def _inject_before_commit(text: str, extra: dict[str, list[str]]) -> str:
    out, table = [], None
    for line in text.splitlines():
        if line.startswith("*"):
            table = line[1:]
        if line == "COMMIT" and table in extra:
            out += extra[table]
        out.append(line)
    return "\n".join(out) + "\n"
