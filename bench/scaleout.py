"""Active-active scale-out figures, measured in the kernel lab (issue 17).

Boots one UML guest with the lab of tests/netlab/inside/scaleout_lab.py (an FRR router spreading
flows by ECMP over three appliance members, Maglev on each, DR real servers), then per trial:

* spread: new UDP and TCP flows from every client; each member's share; max/min (target ≤ 1.5);
* member failure: one member's link goes dark (rotating); its UDP flows are probed every 20 ms
  and the time until the last of them answers again is the trial's figure (target p50 ≤ 1 s with
  BFD 300 ms × 3); flows (UDP, and TCP established before) whose real server changed or that broke
  (target 0); the member comes back before the next trial;
* real server added: rs0 joins rs1+rs2 (M = 2) on every member at runtime; the share of clients whose
  real server changed (target ≤ 1/(M+1) + 5 points), whether any moved elsewhere than to rs0, whether
  members disagree for a client; then rs0 leaves and every client must be back on its server.

    .venv/bin/python bench/scaleout.py [--trials 5] [--clients 150]

The figures come back to the host as JSON (lab.call) and are printed here.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TCP_CLIENTS = 48  # established TCP flows are slower to open in the guest than UDP asks
JOIN_PORT = 40000  # fixed source ports for the join measurement: two per trial, below the ephemeral range


def _spread(flows, carriers) -> dict:
    counts = Counter(carriers.get(f.key, "?") for f in flows)
    shares = [counts[m] for m in sorted(counts) if m != "?"]
    return {"per_member": dict(counts), "max_min": max(shares) / max(1, min(shares)) if len(shares) > 1 else None}


def _failure(so, cluster, victim: str, trial: int) -> dict:
    tcp = so.open_tcp(cluster.net, cluster.clients[:TCP_CLIENTS], 2)
    udp = so.open_udp(cluster.net, cluster.clients, 2)
    tcp_carriers, udp_carriers = so.carriers("TCP"), so.carriers("UDP")
    row = {"victim": victim, "spread_udp": _spread(udp, udp_carriers), "spread_tcp": _spread(tcp, tcp_carriers)}
    theirs = [f for f in udp if udp_carriers.get(f.key) == victim]
    t0 = time.monotonic()
    so.sh("ip", "link", "set", f"v-{victim}", "down")
    got = so.udp_recovery(theirs, t0)
    withdrawn = so.wait(lambda: so.MEMBERS[victim] not in so.next_hops() and time.monotonic() - t0, 20,
                        f"{victim} withdrawn")
    row.update(victim_flows=len(theirs), silent=len(theirs) - len(got),
               flowing_again_s=max((t for t, _ in got.values()), default=None), withdrawn_s=withdrawn,
               udp_server_changed=sum(1 for f in theirs if f.key in got and got[f.key][1] != f.server))
    broken = so.talk(tcp)
    row.update(tcp_flows=len(tcp), tcp_victim_flows=sum(1 for f in tcp if tcp_carriers.get(f.key) == victim),
               tcp_broken_or_moved=len(broken), tcp_examples=broken[:3])
    so.close(tcp + udp)
    # The member joins again: new flows of the same 5-tuples, opened while it was dark and again after.
    ports = {a: [JOIN_PORT + 2 * trial, JOIN_PORT + 2 * trial + 1] for a in cluster.clients}
    during = so.open_udp(cluster.net, cluster.clients, 2, ports=ports)
    carried_during = so.carriers("UDP")
    so.close(during)
    so.sh("ip", "link", "set", f"v-{victim}", "up")
    t1 = time.monotonic()
    so.wait_all_members(90)
    row["rejoined_s"] = time.monotonic() - t1
    after = so.open_udp(cluster.net, cluster.clients, 2, ports=ports)
    held = so.holders("UDP")
    so.close(after)
    row.update(join_flows=len(after),
               join_changed_member=sum(1 for f in after if held.get(f.key, set()) != {carried_during.get(f.key)}),
               join_changed_server=sum(1 for f, g in zip(during, after, strict=True) if f.server != g.server))
    return row


def _servers(so, cluster, per_client: int) -> tuple[dict[str, set], int]:
    """Client → the servers its new UDP flows reached; and how many clients crossed 2+ members."""
    flows = so.open_udp(cluster.net, cluster.clients, per_client)
    servers, members = so.by_client(flows, so.carriers("UDP"))
    so.close(flows)
    return servers, sum(1 for m in members.values() if len(m) > 1)


def _server_added(so, cluster) -> dict:
    label, address = so.SPARE
    before, _ = _servers(so, cluster, 1)
    t0 = time.monotonic()
    cluster.tell_all("add_server", label=label, address=address)
    applied = time.monotonic() - t0
    after, crossing = _servers(so, cluster, 3)
    cluster.tell_all("remove_server", label=label)
    back, _ = _servers(so, cluster, 1)
    moved = [a for a in before if after[a] != before[a]]
    return {
        "m": len(so.SERVERS), "clients": len(before), "moved": len(moved), "moved_share": len(moved) / len(before),
        "moved_not_to_new": sum(1 for a in moved if after[a] != {label}),
        "members_disagree": sum(1 for s in after.values() if len(s) > 1), "clients_crossing_members": crossing,
        "not_back_after_removal": sum(1 for a in before if back[a] != before[a]), "apply_all_s": applied,
    }


def trials(n: int, n_clients: int) -> dict:
    """Runs inside the guest."""
    from tests.netlab.inside import scaleout_lab as so

    cluster = so.build(Path(os.environ.get("TMPDIR", "/tmp")) / "scaleout-bench", n_clients=n_clients)
    try:
        so.wait_all_members()
        members = list(so.MEMBERS)
        failures = [_failure(so, cluster, members[i % len(members)], i) for i in range(n)]
        added = [_server_added(so, cluster) for _ in range(n)]
        return {"clients": n_clients, "bfd_ms": [so.BFD_INTERVAL_MS, so.BFD_MULTIPLIER],
                "failures": failures, "server_added": added}
    finally:
        cluster.close()


def report(result: dict) -> tuple[str, dict]:
    fails, adds = result["failures"], result["server_added"]
    lines = []
    for i, r in enumerate(fails, 1):
        lines.append(
            f"trial {i}: {r['victim']} dark: its {r['victim_flows']} UDP flows flowing again after "
            f"{r['flowing_again_s']:.2f} s (route withdrawn {r['withdrawn_s']:.2f} s, silent {r['silent']}); "
            f"server changed {r['udp_server_changed']} UDP, TCP broken/moved {r['tcp_broken_or_moved']} of "
            f"{r['tcp_flows']} ({r['tcp_victim_flows']} via {r['victim']}); spread max/min "
            f"{r['spread_udp']['max_min']:.2f} UDP {r['spread_tcp']['max_min']:.2f} TCP; "
            f"back in {r['rejoined_s']:.1f} s; on its return {r['join_changed_member']}/{r['join_flows']} flows "
            f"changed member, {r['join_changed_server']} changed server")
    for i, r in enumerate(adds, 1):
        lines.append(
            f"trial {i}: rs0 added to M={r['m']}: {r['moved']}/{r['clients']} clients moved "
            f"({100 * r['moved_share']:.1f} %), {r['moved_not_to_new']} elsewhere than rs0, members disagree "
            f"for {r['members_disagree']} ({r['clients_crossing_members']} clients crossed members), "
            f"{r['not_back_after_removal']} not back after removal; applied on 3 members in {r['apply_all_s']:.1f} s")
    recover = [r["flowing_again_s"] for r in fails if r["flowing_again_s"] is not None]
    spread = [max(r["spread_udp"]["max_min"], r["spread_tcp"]["max_min"]) for r in fails]
    m = adds[0]["m"]
    figures = {
        "flowing_again_p50_s": statistics.median(recover) if recover else None,
        "flowing_again_max_s": max(recover) if recover else None,
        "silent_flows": sum(r["silent"] for r in fails),
        "server_changed_on_member_loss": sum(r["udp_server_changed"] + r["tcp_broken_or_moved"] for r in fails),
        "moved_share_on_add": statistics.median(r["moved_share"] for r in adds),
        "moved_share_target": 1 / (m + 1) + 0.05,
        "moved_elsewhere": sum(r["moved_not_to_new"] for r in adds),
        "members_disagree": sum(r["members_disagree"] for r in adds),
        "spread_max_min_worst": max(spread),
        "join_changed_member_share": statistics.median(r["join_changed_member"] / r["join_flows"] for r in fails),
        "join_changed_server": sum(r["join_changed_server"] for r in fails),
    }
    lines.append(
        f"member failure → its flows flowing again: p50 {figures['flowing_again_p50_s']:.2f} s, max "
        f"{figures['flowing_again_max_s']:.2f} s over {len(fails)} trials (BFD {result['bfd_ms'][0]} ms × "
        f"{result['bfd_ms'][1]}; target p50 ≤ 1 s)")
    lines.append(f"flows whose real server changed or broke when a member left: "
                 f"{figures['server_changed_on_member_loss']} (target 0)")
    lines.append(f"real server added to M={m}: {100 * figures['moved_share_on_add']:.1f} % of clients moved "
                 f"(target ≤ {100 * figures['moved_share_target']:.1f} %), {figures['moved_elsewhere']} elsewhere "
                 f"than the new server, members disagreeing {figures['members_disagree']}")
    lines.append(f"new-flow spread over members: worst max/min {figures['spread_max_min_worst']:.2f} (target ≤ 1.5)")
    lines.append(f"a member joins: {100 * figures['join_changed_member_share']:.1f} % of flows changed member "
                 f"(~1/N = {100 / 3:.0f} % is the ideal; the router's ECMP decides), "
                 f"{figures['join_changed_server']} changed real server (target 0)")
    return "\n".join(lines), figures


def _met(f: dict) -> bool:
    return (f["flowing_again_p50_s"] is not None and f["flowing_again_p50_s"] <= 1.0 and f["silent_flows"] == 0
            and f["server_changed_on_member_loss"] == 0 and f["moved_share_on_add"] <= f["moved_share_target"]
            and f["moved_elsewhere"] == 0 and f["members_disagree"] == 0 and f["spread_max_min_worst"] <= 1.5
            and f["join_changed_server"] == 0)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=5)
    ap.add_argument("--clients", type=int, default=150, help="client addresses (at most 600)")
    args = ap.parse_args(argv)
    if args.trials < 5:
        ap.error("at least 5 trials")
    if not 24 <= args.clients <= 600:
        ap.error("--clients between 24 and 600")
    from tests.netlab import lab

    result = lab.call(trials, args.trials, args.clients, timeout=600 + 90 * args.trials)
    text, figures = report(result)
    print(text)
    print(json.dumps({"figures": figures, "trials": result}))
    return 0 if _met(figures) else 1


if __name__ == "__main__":
    sys.exit(main())
