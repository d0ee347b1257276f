"""Print or apply the FULCRUM-MGMT chain (the management lockdown in netfilter); the worker unit
runs it at start, with CAP_NET_ADMIN. Applying goes through the one kernel writer."""

from dataclasses import replace

from django.core.management.base import BaseCommand

from dataplane.desired import DesiredState
from dataplane.lockdown import management_rules
from dataplane.render import render_iptables
from operations.lockdown import management_spec, push_lockdown


class Command(BaseCommand):
    help = "Render (--print) or apply the management lockdown chain FULCRUM-MGMT."

    def add_arguments(self, parser):
        parser.add_argument("--print", action="store_true", help="Print the iptables-restore text, change nothing.")

    def handle(self, *args, **opts):
        if opts["print"]:
            state = replace(DesiredState.empty(), rules=management_rules(management_spec()))
            for family in (4, 6):
                self.stdout.write(f"# IPv{family}\n" + render_iptables(state, family))
            return
        push_lockdown()
        self.stdout.write("FULCRUM-MGMT applied")
