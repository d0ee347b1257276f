"""manage.py serverstate drain|halt|online (--id N | --address A [--port P]): runtime state, at once."""

from django.core.management.base import BaseCommand, CommandError

from audit.context import acting_as
from realservers.actions import ACTIONS, act, kernel_answer_text, servers_at
from realservers.api.serializers import StateByAddressSerializer
from realservers.models import RealServer


class Command(BaseCommand):
    help = "Set real servers online, drained or halted, in the kernel at once (no Apply needed)."

    def add_arguments(self, parser):
        parser.add_argument("action", choices=sorted(ACTIONS))
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--id", type=int, help="One real server, by id.")
        which.add_argument("--address", help="Every real server with this address, in every service.")
        parser.add_argument("--port", type=int, help="With --address: only those on this port.")

    def handle(self, *args, action, id=None, address=None, port=None, **options):
        if id is not None:
            servers = list(RealServer.objects.select_related("service").filter(pk=id))
        else:  # the API's validation, so the CLI takes exactly what the API takes
            body = StateByAddressSerializer(data={"address": address, **({"port": port} if port else {})})
            if not body.is_valid():
                raise CommandError("; ".join(f"{field}: {' '.join(map(str, errs))}"
                                             for field, errs in body.errors.items()))
            servers = list(servers_at(body.validated_data["address"], body.validated_data.get("port")))
        if not servers:
            raise CommandError("id: no such real server" if id is not None else "address: no real server has it")
        with acting_as(None, "cli:serverstate"):
            _, kernel = act(servers, ACTIONS[action])
        who = f"Real server '{servers[0]}'" if len(servers) == 1 else f"{len(servers)} real servers"
        self.stdout.write(kernel_answer_text(who, action, kernel))
        for line in kernel["operations"]:
            self.stdout.write(f"  {line}")
        if kernel["status"] != "done":
            raise SystemExit(1)
