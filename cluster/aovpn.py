"""The Always On VPN template: SSTP, IKEv2 and NPS services with their health checks, in one go."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from django.core.exceptions import ValidationError
from django.db import transaction

from dataplane import config as dp
from realservers.models import RealServer
from virtualservices import choices
from virtualservices.models import VirtualService

from .models import ClusterSettings

IKEV2_PERSISTENCE = 3600  # seconds: keeps a client's IKE and NAT-T (500/4500) on one server across rekeys
# IKE (500/4500) and RADIUS clients send from fixed ports, so their flows are one IPVS connection that a
# quiesced (weight 0) server would keep until idle for the UDP timeout (5 min): a dead server is removed.
UDP_ON_DOWN = dp.ON_DOWN_REMOVE


@dataclass
class AovpnRequest:
    vip: str
    vpn_servers: list[str]
    ikev2_method: str = dp.DR
    sstp_method: str = dp.SNAT
    nps_vip: str = ""
    nps_servers: list[str] = field(default_factory=list)
    radius_secret: str = ""
    label_prefix: str = "AOVPN"
    active_active: bool = False  # set from the cluster mode by create_aovpn


def _scheduling(req: AovpnRequest, **failover) -> dict:
    """Active-active: Maglev by source address (mh hashes the address only, not the port), so IKE on 500
    and NAT-T on 4500 reach the same VPN server on whichever member the router picks, with no
    persistence to sync. Otherwise what a single node or pair uses (``failover``)."""
    if req.active_active:
        return {"scheduler": dp.MAGLEV}
    return {"scheduler": "wlc", **failover}


def service_definitions(req: AovpnRequest) -> list[tuple[dict, list[str]]]:
    """(service fields, real server addresses) for each service the template makes."""
    defs = [
        (dict(label=f"{req.label_prefix}-SSTP", vip=req.vip, ports="443", protocol=dp.TCP,
              method=req.sstp_method, **_scheduling(req), check_type=choices.CHECK_SSTP, check_port=443,
              description="Always On VPN: SSTP (TLS on 443/TCP)"), req.vpn_servers),
        (dict(label=f"{req.label_prefix}-IKEv2", vip=req.vip, ports="500,4500", protocol=dp.UDP,
              method=req.ikev2_method, **_scheduling(req, persistent=True, persistence_timeout=IKEV2_PERSISTENCE),
              check_type=choices.CHECK_IKEV2, check_port=500,
              on_down=UDP_ON_DOWN,
              description="Always On VPN: IKEv2 (IKE 500/UDP + NAT-T 4500/UDP on one firewall mark)"),
         req.vpn_servers),
    ]
    if req.nps_servers:
        defs.append((dict(label=f"{req.label_prefix}-NPS", vip=req.nps_vip or req.vip, ports="1812,1813",
                          protocol=dp.UDP, method=dp.SNAT, **_scheduling(req), check_type=choices.CHECK_RADIUS,
                          check_port=1812, check_secret=req.radius_secret, on_down=UDP_ON_DOWN,
                          description="Always On VPN: NPS RADIUS authentication and accounting"),
                     req.nps_servers))
    return defs


NPS_VIP_NEEDED = ("With IKEv2 on Direct Routing every VPN server holds the VPN VIP on its loopback, so "
                  "its RADIUS requests to NPS at that address never leave it. Give NPS a separate internal VIP "
                  "(or choose NAT for IKEv2).")


def request_errors(req: AovpnRequest) -> dict[str, list[str]]:
    """What makes the request unusable, keyed by field (the wizard and the API show these)."""
    errors: dict[str, list[str]] = {}
    if not req.vpn_servers:
        errors["vpn_servers"] = ["Give at least one VPN server address."]
    if req.ikev2_method not in (dp.DR, dp.NAT):
        errors["ikev2_method"] = ["IKEv2 needs a transparent method: DR or NAT."]
    if req.nps_servers and req.ikev2_method == dp.DR and (not req.nps_vip or req.nps_vip == req.vip):
        errors["nps_vip"] = [NPS_VIP_NEEDED]
    return errors


def create_aovpn(req: AovpnRequest) -> list[VirtualService]:
    """Create the services and their real servers, validated by the model rules; all or nothing."""
    errors = request_errors(req)
    if errors:
        raise ValidationError(errors)
    req = replace(req, active_active=ClusterSettings.load().active_active)
    created = []
    with transaction.atomic():
        for fields, addresses in service_definitions(req):
            svc = VirtualService(**fields)
            _clean(svc, prefix="")
            svc.save()
            for n, address in enumerate(addresses, start=1):
                rs = RealServer(service=svc, label=server_label(svc.label, n), address=address)
                _clean(rs, prefix="servers")
                rs.save()
            created.append(svc)
    return created


def server_label(service_label: str, n: int) -> str:
    """"IKEv2-1", "SSTP-1": the protocol, a dash, the number (never "IKEv21", which reads as a version)."""
    return f"{service_label.rsplit('-', 1)[-1]}-{n}"


def _clean(instance, prefix: str):
    try:
        instance.full_clean()
    except ValidationError as exc:
        if not prefix or not hasattr(exc, "error_dict"):
            raise
        raise ValidationError({f"{prefix}.{k}": v for k, v in exc.message_dict.items()}) from exc
