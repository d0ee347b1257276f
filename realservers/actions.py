"""Online / drain / halt: the operator's runtime actions, for one real server or one address everywhere.

Runtime state, not configuration: the change is saved (so it survives restarts and every later
apply compiles it), logged with its user under its own object type "realserver-state" (so it
never marks the configuration pending), and put in the kernel at once through the kernel writer.
"""

from __future__ import annotations

from django.db import transaction

from appliance.hooks import Slot
from audit.models import ChangeRecord
from audit.recording import paused, record, snapshot
from dataplane import config as dp

from .models import RealServer

ACTIONS = {"online": dp.ONLINE, "drain": dp.DRAIN, "halt": dp.HALT}
RUNTIME_OBJECT_TYPE = "realserver-state"

# Who acts on a change, from the layers above (filled when their apps are ready; never imported here).
kernel_runtime_state = Slot("realservers.actions.kernel_runtime_state", "cluster")  # (pks) -> the kernel's answer
peer_runtime_change = Slot("realservers.actions.peer_runtime_change", "ha")  # (servers) -> reaches the HA peer


def set_state(servers, state: str) -> list[RealServer]:
    """Save and log the administrative state of each server that changes (no kernel change here)."""
    changed = []
    with transaction.atomic():
        for rs in servers:
            if rs.admin_state != state:
                before = rs.admin_state
                rs.admin_state = state
                with paused():  # logged below as runtime state, not as a configuration change
                    rs.save(update_fields=["admin_state", "updated_at"])
                rs._audit_before = snapshot(rs)
                record(ChangeRecord.UPDATE, rs, object_type=RUNTIME_OBJECT_TYPE,
                       summary=f"admin state {before} → {state}",
                       before={"admin_state": before}, after={"admin_state": state})
                changed.append(rs)
    return changed


def act(servers, state: str) -> tuple[list[RealServer], dict]:
    """Set the state and put it in the kernel now: (changed servers, the kernel's answer)."""
    servers = list(servers)
    changed = set_state(servers, state)
    # Every named server, not only the changed ones: a state saved while the kernel was out of reach
    # is delivered by repeating the action.
    answer = kernel_runtime_state(rs.pk for rs in servers)
    peer_runtime_change(servers)  # the HA peer too
    return changed, answer


def kernel_answer_text(who: str, action: str, kernel: dict) -> str:
    """One line for the operator (UI and CLI say the same)."""
    word = {"online": "online", "drain": "drained", "halt": "halted"}[action]
    if kernel["status"] == "done":
        return f"{who} is now {word} in the kernel."
    if kernel["status"] == "failed":
        return f"{who} is saved as {word}, but the kernel refused: {kernel['error']}"
    return f"{who} is saved as {word}, but {kernel['error']}."


def servers_at(address: str, port: int | None = None):
    query = RealServer.objects.select_related("service").filter(address=address)
    return query.filter(port=port) if port is not None else query
