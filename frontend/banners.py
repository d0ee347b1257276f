"""Banners that say plainly when a downstream part is missing and what that means."""

from __future__ import annotations

from cluster.mode import runtime_facts


def banners() -> list[dict]:
    facts = runtime_facts()
    out = []
    if facts["celery_eager"]:
        out.append({"level": "warning", "text": "No Redis reachable: Celery tasks run inside the web process "
                                                "(embedded mode). Start Redis for a separate worker."})
    if facts["dataplane"] == "render-only":
        out.append({"level": "warning", "text": "Render-only dataplane: this host has no usable IPVS (or no "
                                                "privilege), so Apply renders the kernel state without "
                                                "changing the kernel."})
    if facts["database"] == "sqlite":
        out.append({"level": "info", "short": "SQLite database",
                    "text": "Embedded database (SQLite). Set DATABASE_URL for PostgreSQL."})
    return out
