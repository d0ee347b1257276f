"""Auto apply of a few edits without reading or compiling the whole configuration.

An apply remembers, in this process, the services it put in the kernel and the change-log mark it
read up to. The next auto apply reads the change records after that mark, re-reads only the
services they name (a real server's record names its service now and the one it had), and replaces
those in the journal's state (dataplane/incremental.py), planning only their entries. Anything
unclear takes the full compile: nothing remembered (a manual Apply, a restart, a failed run), other
settings (cluster, floating IPs, HA, lockdown), a kind of record other than a service or a real
server, too many records, or an edit that reaches rules, addresses or sysctls.

Record ids are given at insert, not at commit: a record may become visible after one with a higher
id. So besides the highest id taken, the ids below it that had no visible record are remembered
(each with when it was first missed) and read again next time, until GAP_GRACE has passed: a
rolled-back insert leaves such a gap for ever.
"""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from audit.models import ChangeRecord
from dataplane.config import ClusterSpec, ServiceSpec
from dataplane.desired import DesiredState
from dataplane.incremental import Replaced, replace_services

from .compile import cluster_settings_spec, read_services

GAP_GRACE = timedelta(minutes=10)  # longer than any transaction that writes the change log
MAX_RECORDS = 500  # past this many records (or gaps) since the last apply, a full compile is cheaper
_SERVICE_TYPES = ("virtualservice", "realserver")

# What the last successful apply in this process put in the kernel: its mark (the highest record id
# taken, the missed ids below it), its settings, its services by id, real server id -> its service id.
# Mark None: nothing is trusted.
_last: dict = {"mark": None, "settings": None, "services": {}, "owner": {}}

Mark = tuple[int, dict]  # (highest id taken, {missed id: when first missed})


def advance(mark: Mark, taken, now) -> Mark:
    """The mark once the records ``taken`` (ids: every visible one past the mark, and the missed
    ones now visible) are taken."""
    top, missed = mark
    taken = set(taken)
    new_top = max([top, *taken])
    fresh = {i: now for i in range(top + 1, new_top + 1) if i not in taken}
    kept = {i: at for i, at in missed.items() if i not in taken and now - at < GAP_GRACE}
    return new_top, {**kept, **fresh}


def read_mark() -> Mark | None:
    """The mark of a full read about to start (taken before it: the read holds every record visible
    now), or None when too many ids are missed to remember."""
    now = timezone.now()
    anchor = ChangeRecord.objects.filter(time__lt=now - GAP_GRACE).order_by("-id").values_list(
        "id", flat=True).first() or 0
    recent = ChangeRecord.objects.filter(id__gt=anchor)
    top = recent.order_by("-id").values_list("id", flat=True).first() or anchor
    if recent.filter(id__lte=top).count() == top - anchor:  # no gap: the usual case, one count
        return top, {}
    mark = advance((anchor, {}), recent.filter(id__lte=top).values_list("id", flat=True), now)
    return mark if len(mark[1]) <= MAX_RECORDS else None


def remember(mark: Mark | None, settings: ClusterSpec, services) -> None:
    """After a successful full apply: what it compiled (``mark``: read_mark() before it read)."""
    if mark is None:
        forget()
        return
    by_id = {spec.id: spec for spec in services}
    _last.update(mark=mark, settings=settings, services=by_id,
                 owner={rs.id: spec.id for spec in by_id.values() for rs in spec.real_servers})


def forget() -> None:
    _last.update(mark=None, settings=None, services={}, owner={})


class Edit:
    """An incremental auto apply, planned: the new state and ops, and what to remember once applied."""

    def __init__(self, replaced: Replaced, mark: Mark, after: dict[int, ServiceSpec], ids: set[int]):
        self.state, self.ops = replaced
        self.mark, self.after, self.ids = mark, after, ids

    def done(self) -> None:
        services, owner = _last["services"], _last["owner"]
        for i in self.ids:
            old = services.pop(i, None)
            for rs in old.real_servers if old else ():
                owner.pop(rs.id, None)
        for spec in self.after.values():
            services[spec.id] = spec
            owner.update((rs.id, spec.id) for rs in spec.real_servers)
        _last["mark"] = self.mark


def _edited_services(records) -> set[int] | None:
    """Ids of the services the records name, or None when one is not a service or a real server edit."""
    from realservers.models import RealServer

    from .apply import CONFIG_OBJECT_TYPES

    services, servers = set(), set()
    for _, kind, object_id in records:
        if kind not in CONFIG_OBJECT_TYPES:
            continue  # runtime state, users, ...: not configuration
        if kind not in _SERVICE_TYPES or not object_id.isdigit():
            return None
        (services if kind == "virtualservice" else servers).add(int(object_id))
    if servers:
        services.update(_last["owner"][i] for i in servers if i in _last["owner"])  # the one it had
        services.update(RealServer.objects.filter(pk__in=servers).values_list("service_id", flat=True))
    return services


def plan_edit(stored: DesiredState | None) -> Edit | None:
    """The auto apply of the edits since the last apply, or None: compile everything."""
    if _last["mark"] is None or stored is None:
        return None
    settings = cluster_settings_spec()
    if settings != _last["settings"]:
        return None
    top, missed = _last["mark"]
    records = list(ChangeRecord.objects.filter(Q(id__gt=top) | Q(id__in=list(missed))).order_by("id").values_list(
        "id", "object_type", "object_id")[:MAX_RECORDS + 1])
    if len(records) > MAX_RECORDS:
        return None
    mark = advance(_last["mark"], [r[0] for r in records], timezone.now())
    if len(mark[1]) > MAX_RECORDS:
        return None
    ids = _edited_services(records)
    if ids is None:
        return None
    after = read_services(ids)
    replaced = replace_services(stored, settings, [_last["services"][i] for i in ids if i in _last["services"]],
                                after.values())
    if replaced is None:
        return None
    return Edit(replaced, mark, after, ids)
