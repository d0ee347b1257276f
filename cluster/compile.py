"""Read the configuration from the database into the dataplane's plain input types."""

from __future__ import annotations

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


def cluster_spec() -> ClusterSpec:
    """The whole configuration in a few queries, whatever its size."""
    settings = ClusterSettings.load()
    # Rows, not model instances: at 10,000 services x 4 building 50,000 instances was most of an apply.
    by_service: dict[int, list] = {}
    for row in RealServer.objects.order_by("service_id", "label").values("service_id", *_RS_FIELDS):
        by_service.setdefault(row["service_id"], []).append(SimpleNamespace(**row))
    services = tuple(service_spec(SimpleNamespace(**row), by_service.get(row["id"], ()))
                     for row in VirtualService.objects.values(*_SVC_FIELDS))
    floating = tuple(FloatingIPSpec(str(f.address), f.prefixlen, f.interface) for f in FloatingIP.objects.all())
    return ClusterSpec(
        vip_interface=settings.vip_interface, autonat_interface=settings.autonat_interface,
        tcp_timeout=settings.tcp_timeout, tcpfin_timeout=settings.tcpfin_timeout,
        udp_timeout=settings.udp_timeout, floating_ips=floating, services=services,
        vrrp_holds_addresses=vrrp_holds_addresses(), management=management_spec(),
    )
