"""The Always On VPN template: SSTP, IKEv2 and NPS services with their health checks, in one go."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from django.core.exceptions import ValidationError
from django.db import transaction

from dataplane import config as dp
from realservers.models import RealServer
from virtualservices import choices
from virtualservices.models import VirtualService
from virtualservices.validation import family

from .models import ClusterSettings

IKEV2_PERSISTENCE = 3600  # seconds: keeps a client's IKE and NAT-T (500/4500) on one server across rekeys
# IKE (500/4500) and RADIUS clients send from fixed ports, so their flows are one IPVS connection that a
# quiesced (weight 0) server would keep until idle for the UDP timeout (5 min): a dead server is removed.
UDP_ON_DOWN = dp.ON_DOWN_REMOVE
# The input's limits, the one definition: the wizard's form, the API's serializer and the CLI all check these.
LABEL_PREFIX_RE = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,40}$"
MAX_SERVERS = 64
SECRET_MAX = VirtualService._meta.get_field("check_secret").max_length
SSTP_METHODS, IKEV2_METHODS = (dp.SNAT, dp.DR, dp.NAT), (dp.DR, dp.NAT)


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
    if not re.match(LABEL_PREFIX_RE, req.label_prefix or ""):
        errors["label_prefix"] = ["1 to 41 letters, digits, . _ or -, starting with a letter or digit."]
    if not req.vpn_servers:
        errors["vpn_servers"] = ["Give at least one VPN server address."]
    for name in ("vpn_servers", "nps_servers"):
        addresses = getattr(req, name)
        bad = [a for a in addresses if family(a) is None]
        if bad:
            errors[name] = [f"Not an IP address: {', '.join(bad)}."]
        elif len(addresses) > MAX_SERVERS:
            errors[name] = [f"At most {MAX_SERVERS} addresses."]
    if req.sstp_method not in SSTP_METHODS:
        errors["sstp_method"] = [f"SSTP uses {', '.join(m.upper() for m in SSTP_METHODS)}."]
    if req.ikev2_method not in IKEV2_METHODS:
        errors["ikev2_method"] = ["IKEv2 needs a transparent method: DR or NAT."]
    if len(req.radius_secret) > SECRET_MAX:
        errors["radius_secret"] = [f"At most {SECRET_MAX} characters."]
    elif req.nps_servers and not req.radius_secret:
        errors["radius_secret"] = ["The RADIUS health check needs the shared secret."]
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
