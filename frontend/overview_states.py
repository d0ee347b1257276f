"""What the overview shows: each real server's and service's state, derived in one pass.

Real-server states, in the order the legend lists them:
  up       online and its health check passes
  nocheck  online, the service has no health check (always treated as up)
  unknown  online, no check result yet
  down     online but its health check fails (weight 0 or removed, per the service's setting)
  drained  administratively drained: weight 0, existing connections finish
  halted   administratively halted: removed from the table, connections cut
A row is also marked "pending" when it changed after the last successful apply.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dataplane import config as dp
from virtualservices import choices

RS_STATES = [
    ("up", "Up", "Online, health check passing: takes new connections."),
    ("nocheck", "No check", "Online without a health check: always treated as up."),
    ("unknown", "Checking", "Online, waiting for the first health-check result."),
    ("down", "Down", "Health check failing: takes no new connections."),
    ("drained", "Drained", "Drained by an operator: weight 0, existing connections finish."),
    ("halted", "Halted", "Halted by an operator: removed from the table."),
]
VS_STATES = [
    ("up", "Up", "Every online real server is serving."),
    ("degraded", "Degraded", "Some real servers are down, drained or halted."),
    ("down", "Down", "No real server can take connections (the fallback server answers, if set)."),
    ("unknown", "Checking", "Waiting for the first health-check results."),
    ("disabled", "Disabled", "Saved but not applied."),
]
RS_LABELS = {k: v for k, v, _ in RS_STATES}
VS_LABELS = {k: v for k, v, _ in VS_STATES}
SERVING = {"up", "nocheck"}


def rs_state(admin_state: str, health: str, check_type: str) -> str:
    if admin_state == dp.HALT:
        return "halted"
    if admin_state == dp.DRAIN:
        return "drained"
    if check_type == choices.CHECK_NONE:
        return "nocheck"
    if health == dp.HEALTH_UP:
        return "up"
    if health == dp.HEALTH_DOWN or check_type == choices.CHECK_DOWN:
        return "down"
    return "unknown"


def vs_state(enabled: bool, server_states: list[str]) -> str:
    if not enabled:
        return "disabled"
    serving = sum(1 for s in server_states if s in SERVING)
    if not server_states or serving == 0:
        return "unknown" if "unknown" in server_states and "down" not in server_states else "down"
    return "up" if serving == len(server_states) else "degraded"


@dataclass
class ServerRow:
    id: int
    label: str
    address: str
    port: int | None
    weight: int
    admin_state: str
    state: str
    pending: bool
    active: int = 0
    inactive: int = 0
    note: str = ""  # healthcheckd's reason when down or failing, e.g. "connect timeout after 1.0 s"

    @property
    def state_label(self):
        return RS_LABELS[self.state]


@dataclass
class ServiceRow:
    id: int
    label: str
    vip: str
    ports: str
    protocol: str
    method: str
    fwmark: int | None
    check_type: str
    enabled: bool
    pending: bool
    servers: list[ServerRow] = field(default_factory=list)
    state: str = "up"
    active: int = 0
    inactive: int = 0
    cps: float = 0.0
    bps: float = 0.0
    spark: list = field(default_factory=list)

    @property
    def state_label(self):
        return VS_LABELS.get(self.state, "Checking")

    @property
    def spark_points(self):
        return spark_points(self.spark)


def spark_points(spark: list, width: int = 80, height: int = 18) -> str:
    """SVG polyline points for the active-connections history."""
    values = [p[0] for p in spark or []]
    if len(values) < 2:
        return ""
    top = max(values) or 1
    step = width / (len(values) - 1)
    return " ".join(f"{i * step:.1f},{height - 1 - (v / top) * (height - 2):.1f}" for i, v in enumerate(values))

