"""Print or apply the FULCRUM-MGMT chain (the management lockdown in netfilter); the worker unit
runs it at start, with CAP_NET_ADMIN."""

from django.core.management.base import BaseCommand

from operations.lockdown import apply_chain, current_networks, management_ports, peer_addresses, render_chain


class Command(BaseCommand):
    help = "Render (--print) or apply the management lockdown chain FULCRUM-MGMT."

    def add_arguments(self, parser):
        parser.add_argument("--print", action="store_true", help="Print the iptables-restore text, change nothing.")

    def handle(self, *args, **opts):
        if opts["print"]:
            for family in (4, 6):
                self.stdout.write(f"# IPv{family}\n" + render_chain(current_networks(), management_ports(), family,
                                                                    jump_ports=management_ports(),
                                                                    extra=peer_addresses()))
            return
        apply_chain()
        self.stdout.write("FULCRUM-MGMT applied")
