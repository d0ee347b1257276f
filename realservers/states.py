"""Online / drain / halt: the operator's actions, for one real server or one address everywhere."""

from __future__ import annotations

from django.db import transaction

from dataplane import config as dp

from .models import RealServer

ACTIONS = {"online": dp.ONLINE, "drain": dp.DRAIN, "halt": dp.HALT}


def set_state(servers, state: str) -> list[RealServer]:
    """Set the administrative state; each change is saved (and so logged) one by one."""
    changed = []
    with transaction.atomic():
        for rs in servers:
            if rs.admin_state != state:
                rs.admin_state = state
                rs.save(update_fields=["admin_state", "updated_at"])
                changed.append(rs)
    return changed


def servers_at(address: str, port: int | None = None):
    query = RealServer.objects.select_related("service").filter(address=address)
    return query.filter(port=port) if port is not None else query
