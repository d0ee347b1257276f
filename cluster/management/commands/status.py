from django.core.management.base import BaseCommand

from cluster.status import kernel_status


class Command(BaseCommand):
    help = "Show per virtual service and real server the kernel's connections and packet/byte counters."

    def handle(self, *args, **options):
        status = kernel_status()
        self.stdout.write(f"dataplane: {status['dataplane']}")
        head = f"{'service / real server':<32} {'weight':>6} {'active':>8} {'inactive':>8} {'inpkts':>10} " \
               f"{'outpkts':>10} {'inbytes':>12} {'outbytes':>12}"
        self.stdout.write(head)
        for svc in status["services"]:
            flag = "" if svc["in_kernel"] else "  (not in kernel)"
            self.stdout.write(f"{svc['label'][:32]:<32} {'':>6} {svc['active_conns']:>8} {svc['inactive_conns']:>8} "
                              f"{svc['inpkts']:>10} {svc['outpkts']:>10} {svc['inbytes']:>12} "
                              f"{svc['outbytes']:>12}{flag}")
            for rs in svc["real_servers"]:
                weight = "-" if rs["weight"] is None else rs["weight"]
                self.stdout.write(f"  {rs['label'][:18]:<18} {rs['address'][:11]:<11} {weight:>6} "
                                  f"{rs['active_conns']:>8} {rs['inactive_conns']:>8} {rs['inpkts']:>10} "
                                  f"{rs['outpkts']:>10} {rs['inbytes']:>12} {rs['outbytes']:>12}")
