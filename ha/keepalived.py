"""keepalived for the pair: render its configuration from the database, start or reload it.

The text comes from the pure renderer (dataplane.keepalived_conf). The kernel worker writes it under
FULCRUM_DATA_DIR/keepalived/ and reloads keepalived (SIGHUP through its pid file); keepalived itself
runs under its own supervisor (ha/keepalived_service.py), never as the worker's child, so restarting
or losing the worker leaves the VIPs where they are. Own pid files per data directory, so several
appliances (the kernel lab runs two, one per network namespace) never touch each other's.
keepalived's notify runs ``manage.py hanotify`` with this appliance's environment, loaded from a 0600
file (notify.env) rather than written on the notify line: the line is shown to every role.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from pathlib import Path

from django.conf import settings

from appliance.privatefiles import private_dir, write_private
from cluster.compile import cluster_spec
from dataplane.keepalived_conf import VrrpLink, VrrpSpec, render_keepalived

from .models import Link, Peer

log = logging.getLogger("fulcrum.ha")



def workdir() -> Path:
    return private_dir(Path(settings.DATA_DIR) / "keepalived")


def notify_env_path() -> Path:
    return workdir() / "notify.env"


def notify_env() -> str:
    """What the notify command needs to load these settings (keepalived runs scripts with an empty environment)."""
    env = {"DJANGO_SETTINGS_MODULE": settings.SETTINGS_MODULE, "FULCRUM_DATA_DIR": str(settings.DATA_DIR),
           "FULCRUM_DATAPLANE": settings.FULCRUM_DATAPLANE, "DATABASE_URL": settings.DATABASE_URL,
           "REDIS_URL": settings.REDIS_URL, "FULCRUM_REDIS_PREFIX": settings.FULCRUM_REDIS_PREFIX}
    env = {k: v for k, v in env.items() if v}
    return "".join(f"{k}={v}\n" for k, v in env.items())


def conf_path() -> Path:
    return workdir() / "keepalived.conf"


def _pidfiles() -> dict[str, Path]:
    w = workdir()
    return {"main": w / "keepalived.pid", "checkers": w / "checkers.pid", "vrrp": w / "vrrp.pid"}


def _hanotify_argv() -> list[str]:
    base = Path(settings.BASE_DIR)
    return [sys.executable, str(base / "ha" / "notifyenv.py"), str(notify_env_path()), str(base / "manage.py"),
            "hanotify"]


def notify_argv() -> tuple[str, ...]:
    """keepalived's notify: ``manage.py hanotify`` behind flock, so transitions are recorded one at a
    time (hanotify drops one older than the last recorded: see notify_birth); a flapping link queues
    tiny flock processes, never a pile of Django ones."""
    return ("/usr/bin/flock", str(workdir() / "hanotify.lock"), *_hanotify_argv())


def notify_birth(pid: int) -> tuple[str, int, int]:
    """When keepalived spawned notification ``pid`` (the flock process of notify_argv): boot id, start
    time in clock ticks since boot, pid. keepalived spawns notifications in transition order, but
    flock wakes its waiters in no particular order, so this, not the order they run in, says which
    transition is the newer."""
    boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    stat = Path(f"/proc/{pid}/stat").read_text()
    starttime = int(stat.rsplit(")", 1)[1].split()[19])  # field 22; the name in (...) may hold spaces
    return boot, starttime, pid


def record_state(state: str, birth: tuple[str, int, int] | None = None) -> bool:
    """Record ``state`` unless a newer notification (a later ``birth``) was already recorded; False then.
    Called with the notify lock held, so read-compare-write needs no further locking."""
    path = workdir() / "state"
    if birth is not None:
        try:
            _, *last = path.read_text().split()
        except OSError:
            last = []
        if len(last) == 3 and last[0] == birth[0] and (int(last[1]), int(last[2])) > birth[1:]:
            return False
    path.write_text(" ".join([state, *(map(str, birth) if birth else ())]) + "\n")
    return True


def vrrp_state() -> str:
    """The state keepalived last reported (MASTER, BACKUP, FAULT, STOP), or "unknown"."""
    try:
        return (workdir() / "state").read_text().split()[0]
    except (OSError, IndexError):
        return "unknown"


def vrrp_spec(peer: Peer) -> VrrpSpec:
    links = tuple(VrrpLink(lk.interface, str(lk.peer_address), str(lk.local_address or ""))
                  for lk in Link.objects.all())
    return VrrpSpec(node=peer.node_name, role=peer.role, peer=str(peer.address), links=links,
                    virtual_router_id=peer.virtual_router_id, advert_int=peer.advert_int, preempt=peer.preempt,
                    notify=notify_argv())


def render(peer: Peer | None = None) -> str:
    peer = peer or Peer.current()
    if peer is None:
        raise ValueError("not paired")
    return render_keepalived(vrrp_spec(peer), cluster_spec())


def main_pid() -> int | None:
    try:
        pid = int(_pidfiles()["main"].read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid


def write_config(text: str) -> bool:
    """Write the configuration (and the notify environment it points at) atomically; True when the
    configuration changed."""
    env_path = notify_env_path()
    env = notify_env()
    if not env_path.exists() or env_path.read_text() != env:
        write_private(env_path, env)
    path = conf_path()
    if path.exists() and path.read_text() == text:
        return False
    write_private(path, text)
    return True


def keepalived_argv() -> list[str]:
    """keepalived in the foreground (its supervisor watches it), VRRP only, with this appliance's pid files."""
    files = _pidfiles()
    return ["keepalived", "--dont-fork", "--log-console", "-P", "-f", str(conf_path()), "-p", str(files["main"]),
            "-r", str(files["checkers"]), "--vrrp_pid", str(files["vrrp"])]


def write_and_reload(text: str) -> str:
    """The kernel worker's part: write ``text`` and, when it changed, have keepalived reload it.

    keepalived is never the worker's child (a worker restart would drop the VIPs): it runs under its
    own supervisor (``manage.py keepalived``: the fulcrum-keepalived unit, the compose service), which
    starts it once this file exists. 'reloaded', 'unchanged', or 'written' (not running yet)."""
    changed = write_config(text)
    pid = main_pid()
    if pid is None:
        log.info("HA: keepalived configuration written to %s; its supervisor starts keepalived", conf_path())
        return "written"
    if changed:
        os.kill(pid, signal.SIGHUP)
        log.info("HA: keepalived reloaded")
        return "reloaded"
    return "unchanged"


def stop() -> bool:
    """Unpaired: remove the configuration (so the supervisor does not start keepalived again), stop it."""
    conf_path().unlink(missing_ok=True)
    pid = main_pid()
    if pid is None:
        return False
    os.kill(pid, signal.SIGTERM)  # keepalived removes the addresses it holds as it exits
    return True


def status() -> dict:
    pid = main_pid()
    path = conf_path()
    return {"running": pid is not None, "pid": pid, "config": str(path), "configured": path.exists(),
            "vrrp_state": vrrp_state()}
