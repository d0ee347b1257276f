"""The configuration bundle: versioned JSON export and all-or-nothing import.

Import validates every object with the same model rules the API and UI use
(collisions are checked among the bundle's own objects, in memory, so a large
bundle costs no query per object), then replaces the configuration in one
transaction. Health state and timestamps are runtime facts, not configuration.
"""

from __future__ import annotations

from collections import defaultdict

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from appliance.gate import gate_model_data
from appliance.hooks import Slot
from appliance.versioning import Versioned
from audit.diff import field_changes
from audit.models import ChangeRecord
from audit.recording import change_record, masked, paused, record, snapshot
from realservers.models import RealServer
from virtualservices.models import VirtualService, next_free_fwmark

from .models import ClusterSettings, FloatingIP

FORMAT, VERSION = "fulcrum-config", 1
RUNTIME_FIELDS = {"id", "created_at", "updated_at", "health", "health_since", "service", "version"}
REPLACE, MERGE = "replace", "merge"
MODES = (REPLACE, MERGE)
# The words that let a replace empty the configuration: an empty list must never do it by accident.
DELETE_ALL_CONFIRMATION = "delete-all"

# The "network" section (this host's interfaces and routes) is netconfig's; its reader and writer are
# passed in when netconfig is ready (netconfig.bundle), so cluster never imports netconfig.
export_network = Slot("cluster.bundle.export_network", "netconfig")
parse_network = Slot("cluster.bundle.parse_network", "netconfig")
replace_network = Slot("cluster.bundle.replace_network", "netconfig")


def config_fields(model) -> list[str]:
    return [f.attname if f.name != f.attname and f.name not in RUNTIME_FIELDS else f.name
            for f in model._meta.concrete_fields if f.name not in RUNTIME_FIELDS]


def _plain(value):
    return str(value) if value is not None and not isinstance(value, (int, float, bool, str)) else value


def export_bundle(host_network: bool = True) -> dict:
    """The configuration; ``host_network=False`` leaves out this host's own interfaces and routes
    (HA sync: the peer keeps its own)."""
    vs_fields, rs_fields = config_fields(VirtualService), config_fields(RealServer)
    servers: dict[int, list[dict]] = defaultdict(list)
    for row in RealServer.objects.order_by("service_id", "label").values("service_id", *rs_fields):
        servers[row.pop("service_id")].append({k: _plain(v) for k, v in row.items()})
    services = []
    for row in VirtualService.objects.order_by("label").values("id", *vs_fields):
        pk = row.pop("id")
        services.append({**{k: _plain(v) for k, v in row.items()}, "real_servers": servers.get(pk, [])})
    settings = ClusterSettings.load()
    return {
        "format": FORMAT,
        "version": VERSION,
        "exported_at": timezone.now().isoformat(),
        "cluster": {f: _plain(getattr(settings, f)) for f in config_fields(ClusterSettings)},
        "floating_ips": [{k: _plain(v) for k, v in row.items()}
                         for row in FloatingIP.objects.order_by("address").values(*config_fields(FloatingIP))],
        "virtual_services": services,
        **({"network": export_network()} if host_network else {}),
    }


class BundleError(ValidationError):
    """Errors keyed by where they are in the bundle, e.g. `virtual_services[2].ports`."""


class _Errors:
    def __init__(self):
        self.by_path: dict[str, list[str]] = {}

    def add(self, path: str, messages):
        self.by_path.setdefault(path, []).extend(messages)

    def add_validation(self, prefix: str, exc: ValidationError):
        if hasattr(exc, "error_dict"):
            for field, messages in exc.message_dict.items():
                self.add(f"{prefix}.{field}" if field != "__all__" else prefix, messages)
        else:
            self.add(prefix, exc.messages)

    def raise_if_any(self):
        if self.by_path:
            raise BundleError(self.by_path)


def _build(model, data, path: str, errors: _Errors, allowed: list[str]):
    if not isinstance(data, dict):
        errors.add(path, ["Must be an object."])
        return None
    unknown = set(data) - set(allowed)
    if unknown:
        errors.add(path, [f"Unknown field(s): {', '.join(sorted(unknown))}."])
        return None
    # The input gate first: a list where a label belongs must not reach the rules (or a set of labels).
    data, refused = gate_model_data(model, data)
    for field, messages in refused.items():
        errors.add(f"{path}.{field}", messages)
    return model(**data)


def _clean(instance, path, errors: _Errors, exclude=None):
    """The model's field checks, then (only if they pass) its domain rules, as a ModelForm does: the rules
    compare values, so they must see cleaned ones (an int, not the string "x")."""
    try:
        instance.clean_fields(exclude=exclude)
    except ValidationError as exc:
        errors.add_validation(path, exc)
        return
    try:
        instance.clean()
    except ValidationError as exc:
        errors.add_validation(path, exc)


def parse_bundle(bundle) -> tuple[ClusterSettings, list[FloatingIP], list[VirtualService], list[RealServer], tuple]:
    """Validate a whole bundle; raise BundleError naming every bad field, or return unsaved objects
    (the last: the host network's (interfaces, routes), or None when the bundle has no such section)."""
    errors = _Errors()
    if not isinstance(bundle, dict) or bundle.get("format") != FORMAT:
        raise BundleError({"format": [f"Not a Fulcrum configuration bundle (format must be '{FORMAT}')."]})
    if bundle.get("version") != VERSION:
        raise BundleError({"version": [f"Unsupported bundle version {bundle.get('version')!r}; "
                                       f"this appliance reads version {VERSION}."]})
    for key in ("virtual_services", "floating_ips"):
        if not isinstance(bundle.get(key, []), list):
            raise BundleError({key: ["Must be a list."]})

    settings = _build(ClusterSettings, bundle.get("cluster", {}), "cluster", errors,
                      config_fields(ClusterSettings))
    if settings is not None:
        settings.pk = 1
        _clean(settings, "cluster", errors)

    floating = []
    for i, data in enumerate(bundle.get("floating_ips", [])):
        fip = _build(FloatingIP, data, f"floating_ips[{i}]", errors, config_fields(FloatingIP))
        if fip is not None:
            _clean(fip, f"floating_ips[{i}]", errors)
            floating.append(fip)
    _unique(errors, "floating_ips", [str(f.address) for f in floating], "address")

    services, servers = _parse_services(bundle.get("virtual_services", []), errors)
    network = parse_network(bundle.get("network"), lambda *a: _build(*a[:3], errors, a[3]),
                            lambda obj, path: _clean(obj, path, errors), lambda *a: _unique(errors, *a), errors.add)
    errors.raise_if_any()
    return settings, floating, services, servers, network


def _unique(errors: _Errors, prefix: str, values: list[str], field: str):
    seen: dict[str, int] = {}
    for i, value in enumerate(values):
        if value in seen:
            errors.add(f"{prefix}[{i}].{field}", [f"'{value}' is also used by {prefix}[{seen[value]}]."])
        seen.setdefault(value, i)


def _parse_services(items, errors: _Errors):
    vs_fields = config_fields(VirtualService)
    rs_fields = config_fields(RealServer)
    services: list[VirtualService] = []
    raw_servers: list[tuple[int, list]] = []
    for i, data in enumerate(items):
        data = dict(data) if isinstance(data, dict) else data
        rs_data = data.pop("real_servers", []) if isinstance(data, dict) else []
        if not isinstance(rs_data, list):
            errors.add(f"virtual_services[{i}].real_servers", ["Must be a list."])
            rs_data = []
        svc = _build(VirtualService, data, f"virtual_services[{i}]", errors, vs_fields)
        if svc is not None:
            services.append(svc)
            raw_servers.append((i, rs_data))
    _unique(errors, "virtual_services", [s.label for s in services], "label")

    by_vip: dict[str, list] = defaultdict(list)
    by_mark: dict[int, list] = defaultdict(list)
    for svc in services:
        by_vip[str(svc.vip)].append(svc)
        if svc.fwmark:
            by_mark[svc.fwmark].append(svc)
    for i, svc in enumerate(services):
        svc._peers = [o for o in {id(x): x for x in by_vip[str(svc.vip)] + by_mark.get(svc.fwmark, [])}.values()
                      if o is not svc]
        _clean(svc, f"virtual_services[{i}]", errors)

    servers: list[RealServer] = []
    for (i, rs_items), svc in zip(raw_servers, services, strict=True):
        built = []
        for j, data in enumerate(rs_items):
            rs = _build(RealServer, data, f"virtual_services[{i}].real_servers[{j}]", errors, rs_fields)
            if rs is not None:
                rs.service = svc
                built.append((j, rs))
        _unique(errors, f"virtual_services[{i}].real_servers", [rs.label for _, rs in built], "label")
        for j, rs in built:
            rs._peers = [o for _, o in built if o is not rs and str(o.address) == str(rs.address)]
            _clean(rs, f"virtual_services[{i}].real_servers[{j}]", errors, exclude=["service"])
            servers.append(rs)
    if not errors.by_path:  # marks are numbers only once every field is clean
        _assign_marks(services)
    return services, servers


def _assign_marks(services):
    taken = {s.fwmark for s in services if s.fwmark}
    for svc in services:
        if svc.needs_fwmark and not svc.fwmark:
            svc.fwmark = next_free_fwmark(taken)
            taken.add(svc.fwmark)


def _diff(current: dict, incoming: dict, removing: bool) -> dict:
    """Added / removed / changed keys between two {key: fields} maps; `changed` names the fields."""
    changed = []
    for key in sorted(current.keys() & incoming.keys()):
        fields = sorted(k for k in set(current[key]) | set(incoming[key])
                        if current[key].get(k) != incoming[key].get(k))
        if fields:
            changed.append({"label": key, "fields": fields,
                            "changes": field_changes(current[key], incoming[key], fields)})
    return {"added": sorted(incoming.keys() - current.keys()),
            "removed": sorted(current.keys() - incoming.keys()) if removing else [],
            "changed": changed}


def _servers_by_key(services: list[dict]) -> dict:
    return {f"{s['label']}/{rs['label']}": rs for s in services for rs in s.get("real_servers", [])}


def preview(bundle, mode: str = REPLACE) -> dict:
    """What importing this bundle would change: services (by label, at the top level), and under
    their own keys real servers ("service/label"), floating IPs (by address) and cluster settings."""
    parse_bundle(bundle)
    now = export_bundle()
    removing = mode == REPLACE

    def strip(services):
        return {s["label"]: {k: v for k, v in s.items() if k != "real_servers"} for s in services}

    result = _diff(strip(now["virtual_services"]), strip(bundle["virtual_services"]), removing)
    result["real_servers"] = _diff(_servers_by_key(now["virtual_services"]),
                                   _servers_by_key(bundle["virtual_services"]), removing)
    result["floating_ips"] = _diff({f["address"]: f for f in now["floating_ips"]},
                                   {str(f["address"]): f for f in bundle.get("floating_ips", [])}, removing)
    incoming_cluster = bundle.get("cluster", {})
    result["cluster"] = sorted(k for k in incoming_cluster if now["cluster"].get(k) != incoming_cluster[k])
    return result


def _merge(model, incoming: list, key, batch_size: int, records: list, delete_missing: bool = True
           ) -> dict[str, int]:
    """Make the table hold `incoming` (and, when delete_missing, nothing else), matched by `key`: rows
    that stay keep their primary key (so health history, checklist results and charts that point at
    them survive), unchanged rows are not written, the rest are created or deleted (with their
    dependants, as on_delete says). Each change is added to `records`, as the change log's entries."""
    fields = [f for f in config_fields(model)]
    versioned = issubclass(model, Versioned)  # the host network's rows carry no ETag
    existing = {key(obj): obj for obj in model.objects.all()}
    wanted = {key(obj) for obj in incoming}
    gone = [obj for k, obj in existing.items() if k not in wanted] if delete_missing else []
    if gone:
        model.objects.filter(pk__in=[obj.pk for obj in gone]).delete()
        records += [change_record(ChangeRecord.DELETE, obj, before=masked(obj, snapshot(obj)),
                                  summary="deleted by configuration import") for obj in gone]
    create, update = [], []
    for obj in incoming:
        old = existing.get(key(obj))
        if old is None:
            create.append(obj)
            continue
        obj.pk = old.pk
        if versioned:
            obj.version = old.version
        changed = [f for f in fields if getattr(old, f) != getattr(obj, f)]
        if changed:
            if versioned:
                obj.version += 1
            update.append(obj)
            records.append(change_record(ChangeRecord.UPDATE, obj, before=masked(old, snapshot(old)),
                                         after=masked(obj, snapshot(obj)),
                                         summary="changed by configuration import: " + ", ".join(changed)))
    if update:
        model.objects.bulk_update(update, [*fields, *(["version"] if versioned else [])], batch_size=batch_size)
    model.objects.bulk_create(create, batch_size=batch_size)
    records += [change_record(ChangeRecord.CREATE, obj, after=masked(obj, snapshot(obj)),
                              summary="created by configuration import") for obj in create]
    return {"created": len(create), "updated": len(update), "deleted": len(gone)}


def _refuse_emptying(services: list, mode: str, confirm: str):
    if mode != REPLACE or services or confirm == DELETE_ALL_CONFIRMATION:
        return
    count = VirtualService.objects.count()
    if count:
        raise BundleError({"virtual_services": [
            f"This bundle has no virtual services: importing it would delete all {count}. To do that, "
            f"ask for it in so many words: confirm={DELETE_ALL_CONFIRMATION}."]})


def import_bundle(bundle, batch_size: int = 2000, mode: str = REPLACE, confirm: str = "") -> dict:
    """Make the configuration the bundle's (replace), or add and update only what it names (merge);
    all or nothing. Logged as a whole, and per object changed."""
    if mode not in MODES:
        raise BundleError({"mode": [f"Must be one of: {', '.join(MODES)}."]})
    settings, floating, services, servers, network = parse_bundle(bundle)
    _refuse_emptying(services, mode, confirm)
    replacing = mode == REPLACE
    records: list[ChangeRecord] = []
    with transaction.atomic(), paused():
        current = ClusterSettings.objects.filter(pk=1).first()
        before = snapshot(current) if current else None
        if current is not None:
            settings.version = current.version + (before != snapshot(settings))
        settings.save()
        # Marks move freely between services in a bundle: free them first so no unique check trips.
        marks = {s.label: s.fwmark for s in services}
        VirtualService.objects.exclude(fwmark=None).filter(
            pk__in=[pk for label, pk, mark in VirtualService.objects.values_list("label", "pk", "fwmark")
                    if label in marks and marks[label] != mark]).update(fwmark=None)
        counts = {
            "floating_ips": _merge(FloatingIP, floating, lambda f: str(f.address), batch_size, records, replacing),
            "virtual_services": _merge(VirtualService, services, lambda s: s.label, batch_size, records,
                                       replacing),
        }
        for rs in servers:
            rs.service = rs.service  # picks up the service's primary key, kept or just created
        counts["real_servers"] = _merge(RealServer, servers, lambda r: (r.service_id, r.label), batch_size,
                                        records, replacing)
        if network is not None:
            counts["network"] = replace_network(
                *network, merge=lambda model, rows, key: _merge(model, rows, key, batch_size, records, replacing))
        cluster_changed = before is not None and before != snapshot(settings)
        counts["cluster"] = {"created": int(before is None), "updated": int(cluster_changed), "deleted": 0}
        ChangeRecord.objects.bulk_create(records, batch_size=batch_size)
    changes = "; ".join(f"{k.replace('_', ' ')}: " + ", ".join(f"{n} {what}" for what, n in c.items() if n)
                        for k, c in counts.items() if any(c.values()))
    totals = {"virtual_services": len(services), "real_servers": len(servers), "floating_ips": len(floating)}
    record(ChangeRecord.ACTION, object_type="config",
           summary=(f"imported configuration bundle ({mode}): " + (changes or "no change"))[:300], after=totals)
    if cluster_changed:
        record(ChangeRecord.UPDATE, settings, before=before, after=snapshot(settings),
               summary="changed by configuration import")
    return {**totals, "mode": mode, "changed": any(any(c.values()) for c in counts.values()), "counts": counts}
