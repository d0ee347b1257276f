DOCUMENTATION = r"""
module: fulcrum_aovpn
short_description: The Always On VPN services (SSTP, IKEv2, NPS) from Fulcrum's template
description:
  - Creates the services and their real servers in one call, C(POST /api/v1/templates/aovpn/) (all or nothing).
  - Idempotent - when every service the template would make already exists with the same definition
    (VIP, ports, protocol, method, persistence, health check, the real servers it names), the
    task is ok and nothing is sent. When only some exist, or they differ, it fails and names the
    differences; change them with fulcrum_virtual_service and fulcrum_real_server.
  - The RADIUS secret is write-only in the API, so only whether one is set is compared.
  - Check mode reads the services and reports what would be created; it never writes.
extends_documentation_fragment:
  - fulcrum.appliance.fulcrum
options:
  vip:
    description: "The VIP clients use for SSTP and IKEv2."
    type: str
    required: true
  vpn_servers:
    description: "The RRAS VPN servers' addresses."
    type: list
    elements: str
    required: true
  ikev2_method:
    description: "IKEv2 needs a transparent method."
    type: str
    default: dr
    choices: [dr, nat]
  sstp_method:
    description: "SSTP's method."
    type: str
    default: snat
    choices: [snat, dr, nat]
  nps_vip:
    description: "The RADIUS VIP (required with NPS servers when IKEv2 uses DR)."
    type: str
    default: ""
  nps_servers:
    description: "NPS servers; none, no NPS service."
    type: list
    elements: str
    default: []
  radius_secret:
    description: "The RADIUS health check's shared secret."
    type: str
    default: ""
  label_prefix:
    description: "Prefix of the services' labels."
    type: str
    default: AOVPN
"""

EXAMPLES = r"""
- fulcrum.appliance.fulcrum_aovpn:
    url: https://lb.example.org
    token: "{{ fulcrum_token }}"
    vip: 192.0.2.20
    vpn_servers: [198.51.100.21, 198.51.100.22]
    ikev2_method: dr
    nps_vip: 192.0.2.30
    nps_servers: [198.51.100.31]
    radius_secret: "{{ vault_radius_secret }}"
"""

RETURN = r"""
services:
  description: "The template's services as the API answers them."
  type: list
  returned: always
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible_collections.fulcrum.appliance.plugins.module_utils.fulcrum import (  # noqa: E402
    FulcrumClient,
    argument_spec,
    changes,
)

TEMPLATE_OPTIONS = ("vip", "vpn_servers", "ikev2_method", "sstp_method", "nps_vip", "nps_servers", "radius_secret",
                    "label_prefix")


def expected_services(p):
    """What the template makes (cluster/aovpn.py service_definitions): service fields, real servers."""
    prefix = p["label_prefix"]
    defs = [
        (dict(label=prefix + "-SSTP", vip=p["vip"], ports="443", protocol="tcp", method=p["sstp_method"],
              check_type="sstp", check_port=443), p["vpn_servers"]),
        (dict(label=prefix + "-IKEv2", vip=p["vip"], ports="500,4500", protocol="udp", method=p["ikev2_method"],
              persistent=True, persistence_timeout=3600, check_type="ikev2", check_port=500, on_down="remove"),
         p["vpn_servers"]),
    ]
    if p["nps_servers"]:
        defs.append((dict(label=prefix + "-NPS", vip=p["nps_vip"] or p["vip"], ports="1812,1813", protocol="udp",
                          method="snat", check_type="radius", check_port=1812, on_down="remove",
                          check_secret_set=bool(p["radius_secret"])), p["nps_servers"]))
    return [(fields, sorted((f'{fields["label"].rsplit("-", 1)[-1]}-{n}', address)
                            for n, address in enumerate(servers, start=1))) for fields, servers in defs]


def differences(current, fields, servers):
    found = changes(current, fields)
    lines = [f"{k} {current.get(k)} → {v}" for k, v in sorted(found.items())]
    # Servers added to a template service later (another VPN server) are the admin's own, not a difference.
    have = {(rs["label"], rs["address"]) for rs in current.get("real_servers", [])}
    missing = [" ".join(s) for s in servers if tuple(s) not in have]
    if missing:
        lines.append(f"real servers missing: {', '.join(missing)}")
    return lines


def main():
    module = AnsibleModule(argument_spec=argument_spec(
        vip=dict(type="str", required=True), vpn_servers=dict(type="list", elements="str", required=True),
        ikev2_method=dict(type="str", default="dr", choices=["dr", "nat"]),
        sstp_method=dict(type="str", default="snat", choices=["snat", "dr", "nat"]),
        nps_vip=dict(type="str", default=""), nps_servers=dict(type="list", elements="str", default=[]),
        radius_secret=dict(type="str", default="", no_log=True), label_prefix=dict(type="str", default="AOVPN"),
    ), supports_check_mode=True)
    p = module.params
    api = FulcrumClient(module)
    expected = expected_services(p)
    existing = {fields["label"]: api.find_one("/virtual-services/", {"label": fields["label"]})
                for fields, _ in expected}
    if all(existing.values()):
        problems = {label: lines for (fields, servers) in expected
                    for label, lines in [(fields["label"], differences(existing[fields["label"]], fields, servers))]
                    if lines}
        if problems:
            module.fail_json(msg="The AOVPN services exist with another definition: {}".format("; ".join(
                "{}: {}".format(label, ", ".join(lines)) for label, lines in sorted(problems.items()))),
                differences=problems)
        module.exit_json(changed=False, services=list(existing.values()))
    if any(existing.values()):
        present = ", ".join(sorted(label for label, svc in existing.items() if svc))
        module.fail_json(msg=f"Only some AOVPN services exist ({present}); the template creates all or none.")

    after = {fields["label"]: dict(fields, real_servers=[" ".join(s) for s in servers]) for fields, servers in expected}
    result = dict(changed=True, services=[], diff={"before": {}, "after": after})
    if not module.check_mode:
        body = {name: p[name] for name in TEMPLATE_OPTIONS}
        result["services"] = api.request("POST", "/templates/aovpn/", body=body).data["services"]
    module.exit_json(**result)


if __name__ == "__main__":
    main()
