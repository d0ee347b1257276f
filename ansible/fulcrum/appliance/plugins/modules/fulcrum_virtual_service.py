DOCUMENTATION = r"""
module: fulcrum_virtual_service
short_description: A Fulcrum virtual service (VIP), keyed by its label
description:
  - Creates or updates the service with C(PUT /api/v1/virtual-services/by-label/{label}/), sending the
    ETag it read as C(If-Match) so an edit made meanwhile is never overwritten (the API answers 412).
  - Only the options given are compared and changed; the others keep their saved value.
  - Check mode reads the service and reports what would change; it never writes.
extends_documentation_fragment:
  - fulcrum.appliance.fulcrum
options:
  label:
    description: "The service's label, its key."
    type: str
    required: true
  state:
    description: "present or absent."
    type: str
    default: present
    choices: [present, absent]
  vip:
    description: "The virtual IP."
    type: str
  ports:
    description: "Ports, e.g. \"443\" or \"500,4500\"."
    type: str
  protocol:
    description: "tcp, udp, tcpudp, ops or fwm."
    type: str
  method:
    description: "Forwarding method (dr, nat, snat, tun)."
    type: str
  scheduler:
    description: "IPVS scheduler, e.g. wlc."
    type: str
  description:
    description: "Free text."
    type: str
  enabled:
    description: "Disabled services stay saved but are not applied."
    type: bool
  persistent:
    description: "Persistence on or off."
    type: bool
  persistence_timeout:
    description: "Persistence in seconds."
    type: int
  check_type:
    description: "Health check type."
    type: str
  check_port:
    description: "Health check port."
    type: int
  check_secret:
    description:
      - The RADIUS health check's shared secret. Write-only in the API, so it is sent only while the service
        has none (set it once here; rotate it with a bundle import or the WebUI). Masked in the diff.
    type: str
  settings:
    description:
      - Any other field of the API's virtual service (see /api/docs/), e.g. C(check_interval).
      - Give the RADIUS secret as I(check_secret), not here (it is kept out of logs there).
    type: dict
"""

EXAMPLES = r"""
- fulcrum.appliance.fulcrum_virtual_service:
    url: https://lb.example.org
    token: "{{ fulcrum_token }}"
    label: web
    vip: 192.0.2.10
    ports: "443"
    protocol: tcp
    method: snat
"""

RETURN = r"""
service:
  description: "The service as the API answers it (absent: the one deleted)."
  type: dict
  returned: always
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible_collections.fulcrum.appliance.plugins.module_utils.fulcrum import (  # noqa: E402
    FulcrumClient,
    argument_spec,
    changes,
    diff,
    quote_label,
)

FIELDS = ("vip", "ports", "protocol", "method", "scheduler", "description", "enabled", "persistent",
          "persistence_timeout", "check_type", "check_port", "check_secret")


def main():
    module = AnsibleModule(argument_spec=argument_spec(
        label=dict(type="str", required=True),
        state=dict(type="str", default="present", choices=["present", "absent"]),
        vip=dict(type="str"), ports=dict(type="str"), protocol=dict(type="str"), method=dict(type="str"),
        scheduler=dict(type="str"), description=dict(type="str"), enabled=dict(type="bool"),
        persistent=dict(type="bool"), persistence_timeout=dict(type="int"), check_type=dict(type="str"),
        check_port=dict(type="int"), check_secret=dict(type="str", no_log=True),
        settings=dict(type="dict", default={}),
    ), supports_check_mode=True)
    p = module.params
    api = FulcrumClient(module)
    found = api.find_one("/virtual-services/", {"label": p["label"]})
    current, etag = None, None
    if found is not None:  # compare against the detail read, whose ETag guards the write
        read = api.get(f'/virtual-services/{found["id"]}/')
        current, etag = read.data, read.etag

    if p["state"] == "absent":
        if current is None:
            module.exit_json(changed=False, service={})
        result = dict(changed=True, service=current, diff={"before": current, "after": {}})
        if not module.check_mode:
            api.request("DELETE", f'/virtual-services/{current["id"]}/', headers={"If-Match": etag})
        module.exit_json(**result)

    wanted = {name: p[name] for name in FIELDS if p[name] is not None}
    wanted.update(p["settings"])
    if current and current.get("check_secret_set"):
        # Write-only: the API never shows it back, so it cannot be compared; it is set once, not rotated here.
        wanted.pop("check_secret", None)
    if current is not None and not changes(current, wanted):
        module.exit_json(changed=False, service=current)
    result = dict(changed=True, service=current or {}, diff=diff(current, wanted, wanted))
    if not module.check_mode:
        headers = {"If-Match": etag} if etag else {}  # 412 if the service moved since we compared
        # PUT replaces: the service as read (read-only fields are accepted back) with the asked-for fields.
        body = dict(current or {}, **wanted)
        result["service"] = api.request("PUT", f"/virtual-services/by-label/{quote_label(p['label'])}/",
                                        body=body, headers=headers).data
    module.exit_json(**result)


if __name__ == "__main__":
    main()
