"""View Configuration's content: the compiled configuration as the classic tools' text, and why each
real server is missing from the table or not at its own weight. The WebUI shows it; the compiler and
the renderers behind it stay the dataplane's (the frontend never imports the dataplane)."""

from __future__ import annotations

from dataplane.compiler import compile_state, weight_decision
from dataplane.render import render_all

from .compile import cluster_spec


def absence_reasons(spec=None) -> dict[int, str]:
    """Real server id → why it has no `-a` line or a weight other than its own (none: not listed)."""
    spec = spec or cluster_spec()
    reasons = {}
    for svc in spec.services:
        for rs in svc.real_servers:
            why = weight_decision(rs, svc.on_down, svc.scheduler)[1] if svc.enabled else "its service is disabled"
            if why:
                reasons[rs.id] = why
    return reasons


def _server_notes(spec) -> str:
    """One comment line per real server whose `-a` line is missing or whose weight is not its own."""
    reasons = absence_reasons(spec)
    return "\n".join(f"# {svc.label}: {rs.label} {rs.address} — {reasons[rs.id]}"
                     for svc in spec.services for rs in svc.real_servers if rs.id in reasons)


def rendered_sections() -> list[dict]:
    """The compiled configuration as the classic tools' text, one section per tool, then the notes."""
    spec = cluster_spec()
    sections = []
    for block in render_all(compile_state(spec)).split("### ")[1:]:
        title, _, body = block.partition("\n")
        sections.append({"title": title, "body": body.rstrip() or "# (none)"})
    notes = _server_notes(spec)
    sections.insert(1, {"title": "Real servers not in the table, or at weight 0, and why",
                        "body": notes or "# (none: every real server is in the table at its own weight)"})
    return sections
