from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from audit.context import acting_as
from cluster.aovpn import AovpnRequest, create_aovpn


class Command(BaseCommand):
    help = "Create the Always On VPN services: SSTP 443/TCP, IKEv2 500+4500/UDP and NPS 1812+1813/UDP."

    def add_arguments(self, parser):
        parser.add_argument("--vip", required=True, help="VIP for SSTP and IKEv2.")
        parser.add_argument("--vpn-server", action="append", default=[], required=True,
                            help="A VPN (RRAS) server address; repeat for each.")
        parser.add_argument("--ikev2-method", choices=["dr", "nat"], default="dr")
        parser.add_argument("--sstp-method", choices=["snat", "dr", "nat"], default="snat")
        parser.add_argument("--nps-vip", default="",
                            help="VIP for RADIUS; required with --nps-server when IKEv2 uses DR (the VPN servers "
                                 "hold --vip on their loopback). With NAT, default: --vip.")
        parser.add_argument("--nps-server", action="append", default=[], help="An NPS server; repeat for each.")
        parser.add_argument("--radius-secret", default="", help="Shared secret for the RADIUS health check.")
        parser.add_argument("--label-prefix", default="AOVPN")

    def handle(self, *args, **o):
        req = AovpnRequest(vip=o["vip"], vpn_servers=o["vpn_server"], ikev2_method=o["ikev2_method"],
                           sstp_method=o["sstp_method"], nps_vip=o["nps_vip"], nps_servers=o["nps_server"],
                           radius_secret=o["radius_secret"], label_prefix=o["label_prefix"])
        try:
            with acting_as(None, "cli:aovpn"):
                services = create_aovpn(req)
        except ValidationError as exc:
            lines = [f"{k}: {m}" for k, msgs in exc.message_dict.items() for m in msgs] \
                if hasattr(exc, "error_dict") else exc.messages
            raise CommandError("Nothing created:\n  " + "\n  ".join(lines)) from exc
        for svc in services:
            self.stdout.write(f"created {svc.label}: {svc.vip} {svc.ports}/{svc.protocol} {svc.method}"
                              f"{f' mark {svc.fwmark}' if svc.fwmark else ''}, check {svc.check_type}")
