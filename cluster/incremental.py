"""Auto apply of a few edits without reading or compiling the whole configuration.

An apply remembers, in this process, the services it put in the kernel and the change-log mark it
read up to. The next auto apply reads the change records after that mark, re-reads only the
services they name (a real server's record names its service now and the one it had), and replaces
those in the journal's state (dataplane/incremental.py), planning only their entries. Anything
unclear takes the full compile: nothing remembered (a manual Apply, a restart, a failed run), other
settings (cluster, floating IPs, HA, lockdown), a kind of record other than a service or a real
server, too many records, or an edit that reaches rules, addresses or sysctls.

Record ids are given at insert, not at commit: a record may become visible after one with a higher
id. So the mark only passes an id gap once the record after it is GAP_GRACE old (a rolled-back
insert leaves a gap for ever), and the records past the mark that an apply already took are
remembered by id: the next one takes only the others.
"""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from audit.models import ChangeRecord
from dataplane.config import ClusterSpec, ServiceSpec
from dataplane.incremental import Replaced, replace_services
from dataplane.state import DesiredState

from .compile import cluster_settings_spec, read_services

GAP_GRACE = timedelta(minutes=10)  # longer than any transaction that writes the change log
MAX_RECORDS = 500  # past this many records since the last apply, a full compile is cheaper
_SERVICE_TYPES = ("virtualservice", "realserver")

# What the last successful apply in this process put in the kernel: the mark, the ids of the records
# past it already taken, the settings, the services by id, real server id -> its service id.
# Mark None: nothing is trusted.
_last: dict = {"mark": None, "seen": frozenset(), "settings": None, "services": {}, "owner": {}}


def settled_mark(after: int, rows) -> int:
    """The highest id up to which every record (id, time) is visible or long gone, walking ``rows``
    (those after ``after``, in id order) from ``after``."""
    cutoff = timezone.now() - GAP_GRACE
    mark = after
    for id_, at in rows:
        if id_ != mark + 1 and at > cutoff:
            break
        mark = id_
    return mark


def _past(mark: int, rows) -> tuple[int, frozenset]:
    """(the new mark, the ids of the taken records past it), once ``rows`` (id, time) are taken."""
    rows = list(rows)
    new = settled_mark(mark, rows)
    return new, frozenset(id_ for id_, _ in rows if id_ > new)


def read_mark() -> tuple[int, frozenset] | None:
    """The mark for a full read about to start (taken before it: the read holds every record visible
    now), or None when too many records are unsettled to remember."""
    anchor = ChangeRecord.objects.filter(time__lt=timezone.now() - GAP_GRACE).order_by("-id").values_list(
        "id", flat=True).first() or 0
    rows = list(ChangeRecord.objects.filter(id__gt=anchor).order_by("id").values_list("id", "time")[:MAX_RECORDS + 1])
    return _past(anchor, rows) if len(rows) <= MAX_RECORDS else None


def remember(mark: tuple[int, frozenset] | None, settings: ClusterSpec, services) -> None:
    """After a successful full apply: what it compiled (``mark``: read_mark() before it read)."""
    if mark is None:
        forget()
        return
    by_id = {spec.id: spec for spec in services}
    _last.update(mark=mark[0], seen=mark[1], settings=settings, services=by_id,
                 owner={rs.id: spec.id for spec in by_id.values() for rs in spec.real_servers})


def forget() -> None:
    _last.update(mark=None, seen=frozenset(), settings=None, services={}, owner={})


class Edit:
    """An incremental auto apply, planned: the new state and ops, and what to remember once applied."""

    def __init__(self, replaced: Replaced, mark: tuple[int, frozenset], after: dict[int, ServiceSpec],
                 ids: set[int]):
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
        _last["mark"], _last["seen"] = self.mark


def _edited_services(records) -> set[int] | None:
    """Ids of the services the records name, or None when one is not a service or a real server edit."""
    from realservers.models import RealServer

    from .apply import CONFIG_OBJECT_TYPES

    services, servers = set(), set()
    for _, _, kind, object_id in records:
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
    records = list(ChangeRecord.objects.filter(id__gt=_last["mark"]).order_by("id").values_list(
        "id", "time", "object_type", "object_id")[:MAX_RECORDS + 1])
    if len(records) > MAX_RECORDS:
        return None
    ids = _edited_services(r for r in records if r[0] not in _last["seen"])
    if ids is None:
        return None
    after = read_services(ids)
    replaced = replace_services(stored, settings, [_last["services"][i] for i in ids if i in _last["services"]],
                                after.values())
    if replaced is None:
        return None
    return Edit(replaced, _past(_last["mark"], [r[:2] for r in records]), after, ids)
