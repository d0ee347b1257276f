"""A realistic configuration for the browser tests and screenshots: every state the overview shows."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from cluster.aovpn import AovpnRequest, create_aovpn
from dataplane import config as dp
from realservers.models import RealServer
from reports.sampling import sample
from virtualservices.models import VirtualService


def make_service(servers=(), **fields):
    svc = VirtualService(**fields)
    svc.full_clean()
    svc.save()
    for label, address, extra in servers:
        rs = RealServer(service=svc, label=label, address=address, **extra)
        rs.full_clean()
        rs.save()
    return svc


def build(extra_services: int = 0) -> dict:
    """Services in every state; returns the objects tests refer to by name."""
    aovpn = create_aovpn(AovpnRequest(vip="203.0.113.10", vpn_servers=["10.1.0.11", "10.1.0.12"],
                                      nps_vip="203.0.113.11", nps_servers=["10.1.0.21"],
                                      radius_secret="s3cret-radius"))
    web = make_service(label="web-https", vip="203.0.113.20", ports="443", protocol="tcp", method="nat",
                       check_type="https", description="Public web farm",
                       servers=[("web1", "10.2.0.11", {}), ("web2", "10.2.0.12", {}), ("web3", "10.2.0.13", {}),
                                ("web4", "10.2.0.14", {"admin_state": dp.DRAIN})])
    mail = make_service(label="smtp", vip="203.0.113.25", ports="25", protocol="tcp", method="snat",
                        check_type="tcp", servers=[("mx1", "10.3.0.11", {}), ("mx2", "10.3.0.12",
                                                                           {"admin_state": dp.HALT})])
    dns = make_service(label="dns", vip="203.0.113.53", ports="53", protocol="udp", method="dr", check_type="none",
                       servers=[("ns1", "10.4.0.11", {}), ("ns2", "10.4.0.12", {})])
    for i in range(extra_services):
        make_service(label=f"app-{i:03d}", vip=f"198.51.100.{i + 1}", ports="8080", protocol="tcp", method="nat",
                     servers=[("a", f"10.9.{i}.1", {}), ("b", f"10.9.{i}.2", {})])
    # Health as healthcheckd would report it (a plain update: no change record, not a config change).
    RealServer.objects.filter(service__label__in=["web-https", "smtp", "AOVPN-SSTP", "AOVPN-IKEv2",
                                                  "AOVPN-NPS"]).update(health=dp.HEALTH_UP)
    RealServer.objects.filter(service=web, label="web3").update(health=dp.HEALTH_DOWN)
    RealServer.objects.filter(service__label__startswith="app-").update(health=dp.HEALTH_UP)
    fake_traffic()
    return {"aovpn": aovpn, "web": web, "smtp": mail, "dns": dns}


def fake_traffic(points: int = 12):
    """Samples as the sampler would store them from the kernel's counters."""
    now = timezone.now()
    services = list(VirtualService.objects.prefetch_related("real_servers"))
    for n in range(points):
        status = {"services": []}
        for k, svc in enumerate(services):
            active = (k * 7 + n * 3) % 40 + 5
            status["services"].append({
                "label": svc.label, "active_conns": active, "inactive_conns": active // 3,
                "conns": 1000 + n * (50 + k * 10), "inbytes": 10**6 + n * (200000 + k * 5000),
                "outbytes": 10**6 + n * (900000 + k * 20000),
                "real_servers": [{"id": rs.id, "active_conns": active // 2 + i, "inactive_conns": i}
                                 for i, rs in enumerate(svc.real_servers.all())]})
        sample(status, now=now - timedelta(minutes=points - n))
