"""Active-active: this member's FRR configuration, rendered from the database and loaded into the
running bgpd/bfdd by the kernel worker after each successful apply (cluster/apply.py).

The text comes from the pure renderer (dataplane.frr). Which VIPs are announced at a given moment is
not decided here but by the kernel writer: a VIP is on lo while this node is fit to serve it
(dataplane.compiler.fit_vips), and bgpd announces a ``network`` only while its route exists. So a
health transition withdraws a route with one address change, and FRR is reloaded only when the
BGP settings or the set of VIPs change. ``withdraw()`` is the clean-shutdown step (the worker's
ExecStop): nothing announced, sessions kept, so the router moves flows before the services stop.
"""

from __future__ import annotations

import json
import logging
import socket
import subprocess
from pathlib import Path

from django.conf import settings

from appliance.privatefiles import private_dir, write_private
from dataplane.compiler import fit_vips
from dataplane.frr import BgpNeighbourSpec, BgpSession, BgpSpec, bfd_detection_ms, parse_summary, render_frr
from virtualservices.models import VirtualService

from .compile import cluster_spec
from .mode import dataplane_mode
from .models import BgpNeighbour, BgpSettings, ClusterSettings

log = logging.getLogger("fulcrum.bgp")
MASK = "********"
RELOAD_TIMEOUT = 30  # seconds: frr-reload talks to each daemon through vtysh
VTYSH_TIMEOUT = 5  # a status read must not hang a page


def conf_path() -> Path:
    return private_dir(Path(settings.DATA_DIR) / "frr") / "frr.conf"


def bgp_spec(mask: bool = False) -> BgpSpec:
    """The speaker's settings; ``mask``: passwords replaced (what pages and the API show)."""
    bgp = BgpSettings.load()
    neighbours = tuple(BgpNeighbourSpec(str(n.address), n.asn, MASK if mask and n.password else n.password,
                                        n.description) for n in BgpNeighbour.objects.all())
    return BgpSpec(asn=bgp.asn, router_id=str(bgp.router_id or ""), neighbours=neighbours,
                   bfd_interval_ms=bgp.bfd_interval_ms, bfd_multiplier=bgp.bfd_multiplier,
                   hostname=socket.gethostname())


def configured_vips() -> list[str]:
    return [str(v) for v in VirtualService.objects.filter(enabled=True).values_list("vip", flat=True).distinct()
            if v]


def render(mask: bool = False) -> str:
    return render_frr(bgp_spec(mask), configured_vips())


def _reload_argv(path: Path) -> list[str]:
    argv = [settings.FRR_RELOAD, "--reload", str(path)]
    if settings.FRR_PATHSPACE:
        argv += ["--pathspace", settings.FRR_PATHSPACE]
    return argv


def load(text: str) -> str:
    """Write ``text`` and have the running FRR take it (frr-reload.py computes the difference and applies
    it through vtysh: sessions stay up). 'unchanged', 'written' (render-only host) or 'reloaded'.
    Raises RuntimeError with FRR's words when it refuses."""
    path = conf_path()
    if path.exists() and path.read_text() == text:
        return "unchanged"
    write_private(path, text)
    if dataplane_mode() != "kernel":
        return "written"
    done = subprocess.run(_reload_argv(path), capture_output=True, text=True, timeout=RELOAD_TIMEOUT)
    if done.returncode != 0:
        path.unlink(missing_ok=True)  # so the next apply tries again
        raise RuntimeError(f"frr-reload failed: {(done.stderr or done.stdout).strip()[-500:]}")
    return "reloaded"


def after_apply() -> str:
    """The kernel worker's step after a successful apply: in active-active mode, load the rendered
    configuration; otherwise nothing (FRR is not this appliance's business)."""
    if not ClusterSettings.load().active_active:
        return "not active-active"
    result = load(render())
    log.info("BGP: FRR configuration %s", result)
    return result


def withdraw() -> str:
    """Clean shutdown: announce nothing (the routes go at once, not after the BFD or hold time)."""
    if not ClusterSettings.load().active_active:
        return "not active-active"
    return load(render_frr(bgp_spec(), ()))


def sessions() -> tuple[BgpSession, ...]:
    """Each neighbour's session as bgpd reports it now (``show bgp summary json`` through vtysh, in this
    appliance's pathspace); none on a render-only host, outside active-active, or when bgpd does not answer."""
    if dataplane_mode() != "kernel" or not ClusterSettings.load().active_active:
        return ()
    argv = [settings.VTYSH] + (["-N", settings.FRR_PATHSPACE] if settings.FRR_PATHSPACE else [])
    try:
        done = subprocess.run([*argv, "-c", "show bgp summary json"], capture_output=True, text=True,
                              timeout=VTYSH_TIMEOUT)
        return parse_summary(json.loads(done.stdout or "null")) if done.returncode == 0 else ()
    except (OSError, subprocess.TimeoutExpired, ValueError) as exc:
        log.warning("BGP: no session state from vtysh: %s", exc)
        return ()


def status() -> dict:
    """What the pages and the API show: the mode, the VIPs this node is fit to serve (so announces),
    each session's state, the BFD detection time and the configuration it loads (passwords masked)."""
    spec = bgp_spec(mask=True)
    return {"active_active": ClusterSettings.load().active_active,
            "announced": list(fit_vips(cluster_spec().services)),
            "sessions": [{"neighbour": s.neighbour, "remote_asn": s.remote_asn, "state": s.state,
                          "established": s.established, "prefixes_sent": s.prefixes_sent,
                          "prefixes_received": s.prefixes_received, "uptime_s": s.uptime_s} for s in sessions()],
            "bfd_detection_ms": bfd_detection_ms(spec),
            "dataplane": dataplane_mode(),
            "config": render_frr(spec, configured_vips())}
