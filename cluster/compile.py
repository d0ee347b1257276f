"""Read the configuration from the database into the dataplane's plain input types."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

from appliance.hooks import Slot
from dataplane.config import ClusterSpec, FloatingIPSpec, RealServerSpec, ServiceSpec
from dataplane.ports import parse_ports
from realservers.models import RealServer
from virtualservices.models import VirtualService

from .models import ClusterSettings, FloatingIP

# Compile inputs owned by the apps above cluster, provided when they are ready (never imported here).
vrrp_holds_addresses = Slot("cluster.compile.vrrp_holds_addresses", "ha")  # () -> bool: keepalived holds VIPs
management_spec = Slot("cluster.compile.management_spec", "operations")  # () -> ManagementSpec: the lockdown

_SVC_FIELDS = ("id", "label", "vip", "ports", "protocol", "fwmark", "method", "scheduler", "persistent",
               "persistence_timeout", "persistence_netmask", "fallback_address", "fallback_port", "snat_source",
               "on_down", "enabled")
_RS_FIELDS = ("id", "label", "address", "port", "weight", "min_conns", "max_conns", "admin_state", "health")


def real_server_spec(rs) -> RealServerSpec:
    return RealServerSpec(id=rs.id, label=rs.label, address=str(rs.address), port=rs.port, weight=rs.weight,
                          min_conns=rs.min_conns, max_conns=rs.max_conns, admin_state=rs.admin_state,
                          health=rs.health)


def service_spec(svc, real_servers) -> ServiceSpec:
    return ServiceSpec(
        id=svc.id, label=svc.label, vip=str(svc.vip),
        ports=parse_ports(svc.ports) if svc.ports else (),
        protocol=svc.protocol, fwmark=svc.fwmark, method=svc.method, scheduler=svc.scheduler,
        persistent=svc.persistent, persistence_timeout=svc.persistence_timeout,
        persistence_netmask=svc.persistence_netmask,
        fallback_address=str(svc.fallback_address or ""), fallback_port=svc.fallback_port,
        snat_source=str(svc.snat_source or ""), on_down=svc.on_down, enabled=svc.enabled,
        real_servers=tuple(real_server_spec(rs) for rs in real_servers),
    )


# Service id -> (its rows, its spec), from the last read in this process: a spec is built again only
# when one of its rows changed. Keyed by every column the spec is built from, so it is never stale.
_specs: dict[int, tuple[tuple, ServiceSpec]] = {}


def _spec_of(rows: tuple) -> ServiceSpec:
    svc_row, rs_rows = rows
    return service_spec(SimpleNamespace(**dict(zip(_SVC_FIELDS, svc_row, strict=True))),
                        [SimpleNamespace(**dict(zip(_RS_FIELDS, r[1:], strict=True))) for r in rs_rows])


def _read(services, real_servers) -> dict[int, tuple[tuple, ServiceSpec]]:
    """(rows, spec) of each service in these querysets, reusing the remembered spec of unchanged rows."""
    by_service: dict[int, list[tuple]] = {}
    for row in real_servers.order_by("service_id", "label").values_list("service_id", *_RS_FIELDS):
        by_service.setdefault(row[0], []).append(row)
    fresh: dict[int, tuple[tuple, ServiceSpec]] = {}
    for svc_row in services.values_list(*_SVC_FIELDS):
        rows = (svc_row, tuple(by_service.get(svc_row[0], ())))
        hit = _specs.get(svc_row[0])
        fresh[svc_row[0]] = hit if hit is not None and hit[0] == rows else (rows, _spec_of(rows))
    return fresh


def service_specs() -> tuple[ServiceSpec, ...]:
    """Every service as a spec, from two queries of plain rows (at 10,000 services x 4, model
    instances, or even row dicts, were most of an apply). An unchanged service keeps its spec
    object, so the compiler's per-service cache finds it by its remembered hash."""
    fresh = _read(VirtualService.objects.all(), RealServer.objects.all())
    _specs.clear()
    _specs.update(fresh)
    return tuple(spec for _, spec in fresh.values())


def remembered_specs(ids) -> dict[int, ServiceSpec]:
    """The specs of these services as this process last read them (absent: not read, or none)."""
    return {i: _specs[i][1] for i in ids if i in _specs}


def read_services(ids) -> dict[int, ServiceSpec]:
    """The specs of these services (absent: no such service now), read from their rows alone."""
    ids = list(ids)
    fresh = _read(VirtualService.objects.filter(pk__in=ids), RealServer.objects.filter(service_id__in=ids))
    for i in ids:
        _specs.pop(i, None)
    _specs.update(fresh)
    return {i: spec for i, (_, spec) in fresh.items()}


def cluster_settings_spec() -> ClusterSpec:
    """The configuration without its services: settings, floating IPs, HA and lockdown, a few queries."""
    settings = ClusterSettings.load()
    floating = tuple(FloatingIPSpec(str(f.address), f.prefixlen, f.interface) for f in FloatingIP.objects.all())
    return ClusterSpec(
        vip_interface=settings.vip_interface, autonat_interface=settings.autonat_interface,
        tcp_timeout=settings.tcp_timeout, tcpfin_timeout=settings.tcpfin_timeout,
        udp_timeout=settings.udp_timeout, floating_ips=floating,
        vrrp_holds_addresses=vrrp_holds_addresses(), management=management_spec(),
        active_active=settings.active_active,
    )


def cluster_spec() -> ClusterSpec:
    """The whole configuration in a few queries, whatever its size."""
    return replace(cluster_settings_spec(), services=service_specs())
