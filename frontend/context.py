"""Template context every page shares: the user's capabilities, the appliance banners, the apply state."""

import socket

from accounts.roles import APPLY, CONFIGURE, OPERATE, ROLE_CHOICES, can, role_of
from cluster.mode import dataplane_mode

from .banners import banners

HOSTNAME = socket.gethostname()

# The menus, as on commercial appliances: (group, [(url name, label, other url names that light it)]).
NAV = [
    ("", [("overview", "System Overview", ())]),
    ("Local Configuration", [
        ("local", "Hostname, DNS & interfaces", ()),
        ("network", "Network: interfaces & routes", ("interface-add", "interface-edit", "interface-delete", "route-add",
                                                     "route-edit", "route-delete")),
        ("system-settings", "System settings: time, mail, syslog", ()),
        ("management-access", "Management access", ("management-add", "management-edit", "management-delete")),
    ]),
    ("Cluster Configuration", [
        ("service-list", "Layer 4 Virtual Services", ("service-add", "service-edit", "service-delete",
                                                     "service-checklist", "checklists")),
        ("server-list", "Real Servers", ("server-add", "server-edit", "server-delete", "server-health")),
        ("aovpn-wizard", "Always On VPN wizard", ()),
        ("advanced", "Advanced: Autonat & timeouts", ()),
        ("floating-ips", "Floating IPs", ("floating-ip-add", "floating-ip-edit", "floating-ip-delete")),
        ("ha", "HA pair", ()),
        ("bgp", "Active-active: BGP", ("bgp-neighbour-add", "bgp-neighbour-edit", "bgp-neighbour-delete")),
    ]),
    ("Maintenance", [
        ("apply", "Apply configuration", ()),
        ("backup", "Backup & restore", ("restore-confirm",)),
        ("system-control", "System Control", ("system-control-confirm", "system-control-service")),
        ("support", "Technical support download", ()),
        ("users", "Users", ("user-add", "user-edit", "user-delete")),
        ("tokens", "API tokens", ()),
        ("password", "Change password", ()),
    ]),
    ("Monitor", [
        ("view-config", "View Configuration", ()),
        ("reports", "Reports", ()),
        ("logs", "Logs", ()),
    ]),
]
ADMIN_ONLY = {"users", "aovpn-wizard", "support"}


def nav(request, is_admin: bool):
    match = getattr(request, "resolver_match", None)
    current = match.url_name if match else None
    out = []
    for group, items in NAV:
        out.append((group, [{"name": name, "label": label, "active": current == name or current in also}
                            for name, label, also in items if is_admin or name not in ADMIN_ONLY]))
    return out


def appliance(request):
    user = getattr(request, "user", None)
    authed = user is not None and user.is_authenticated
    role = role_of(user)
    context = {
        "role": role,
        "role_label": dict(ROLE_CHOICES).get(role, "none"),  # as the Users page names it
        "can_configure": can(user, CONFIGURE),
        "can_operate": can(user, OPERATE),
        "can_apply": can(user, APPLY),
        "banners": banners() if authed else [],
        "hostname": HOSTNAME,
    }
    if authed:
        from .applyinfo import request_apply_summary

        context["apply_state"] = request_apply_summary(request)
        context["nav"] = nav(request, context["can_configure"])
        context["dataplane_mode"] = dataplane_mode()
    return context
