"""Write the host's hostname, DNS and time files from the stored system settings, then reload.

Run as root by fulcrum-system.service (started by fulcrum-system.path when the WebUI or API saves
the settings). ``--root DIR`` writes under DIR instead of / and reloads nothing (tests, images).
"""

import os
import subprocess
import tempfile

from django.core.management.base import BaseCommand
from django.forms.models import model_to_dict

from netconfig.hostfiles import hosts_with_hostname, localtime_target, reload_commands, render
from netconfig.models import SystemSettings
from netconfig.ownership import network_owner


def write_atomically(path: str, content: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".fulcrum-")
    with os.fdopen(fd, "w") as fh:
        fh.write(content)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


class Command(BaseCommand):
    help = "Write hostname, resolv.conf, time zone and NTP configuration from the stored system settings."

    def add_arguments(self, parser):
        parser.add_argument("--root", default="/", help="Write under this directory (default /).")

    def handle(self, *args, root="/", **options):
        if root == "/":
            owned, reason = network_owner()
            if not owned:
                self.stdout.write(f"host settings not managed here: {reason}")
                return
        values = model_to_dict(SystemSettings.load())
        for path, content in render(values).items():
            write_atomically(os.path.join(root, path.lstrip("/")), content)
            self.stdout.write(f"wrote {path}")
        if values.get("hostname"):
            hosts = os.path.join(root, "etc/hosts")
            current = open(hosts).read() if os.path.exists(hosts) else "127.0.0.1\tlocalhost\n"
            write_atomically(hosts, hosts_with_hostname(current, values["hostname"]))
            self.stdout.write("wrote /etc/hosts")
        link = os.path.join(root, "etc/localtime")
        tmp_link = link + ".fulcrum"
        if os.path.lexists(tmp_link):
            os.unlink(tmp_link)
        os.symlink(localtime_target(values), tmp_link)
        os.replace(tmp_link, link)
        if root != "/":
            return
        for argv in reload_commands(values):
            done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
            self.stdout.write(f"{' '.join(argv)}: {'ok' if done.returncode == 0 else done.stderr.strip()}")
