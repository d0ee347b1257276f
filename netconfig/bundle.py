"""The host network's section of the configuration bundle (cluster/bundle.py calls these).

The section belongs to one host: HA sync leaves it out, so a peer never takes the other node's
interfaces. Importing it changes the saved configuration only; the kernel follows at the next
network apply, with its rollback timer.
"""

from __future__ import annotations

from .models import Interface, Route

INTERFACE_FIELDS = ["name", "kind", "parent", "vlan_id", "bond_mode", "members", "mtu", "up", "addresses",
                    "description"]
ROUTE_FIELDS = ["destination", "gateway", "interface", "description"]


def export_network() -> dict:
    return {"interfaces": list(Interface.objects.order_by("name").values(*INTERFACE_FIELDS)),
            "routes": list(Route.objects.order_by("destination").values(*ROUTE_FIELDS))}


def parse_network(section, build, clean, unique, add_error) -> tuple[list[Interface], list[Route]] | None:
    """Unsaved, validated objects of the section (None: no section, leave the network as it is).
    ``build``/``clean``/``unique``/``add_error`` are the bundle's own helpers, so errors name paths."""
    if section is None:
        return None
    if not isinstance(section, dict) or not all(isinstance(section.get(k, []), list) for k in ("interfaces", "routes")):
        add_error("network", ["Must be an object with lists 'interfaces' and 'routes'."])
        return None
    interfaces = []
    for i, data in enumerate(section.get("interfaces", [])):
        obj = build(Interface, data, f"network.interfaces[{i}]", INTERFACE_FIELDS)
        if obj is not None:
            interfaces.append((i, obj))
    unique("network.interfaces", [o.name for _, o in interfaces], "name")
    for i, obj in interfaces:
        obj._peers = [o for _, o in interfaces if o is not obj]
        clean(obj, f"network.interfaces[{i}]")
    routes = []
    for i, data in enumerate(section.get("routes", [])):
        obj = build(Route, data, f"network.routes[{i}]", ROUTE_FIELDS)
        if obj is not None:
            obj._interfaces = [o for _, o in interfaces]
            clean(obj, f"network.routes[{i}]")
            routes.append(obj)
    unique("network.routes", [r.destination for r in routes], "destination")
    return [o for _, o in interfaces], routes


def replace_network(interfaces: list[Interface], routes: list[Route], merge) -> dict[str, int]:
    """Make the saved network the bundle's (``merge`` is the bundle's keep-primary-keys merge)."""
    counts = merge(Interface, interfaces, lambda o: o.name)
    for what, n in merge(Route, routes, lambda r: r.destination).items():
        counts[what] += n
    return counts
