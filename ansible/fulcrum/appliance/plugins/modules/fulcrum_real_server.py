DOCUMENTATION = r"""
module: fulcrum_real_server
short_description: A real server of a Fulcrum virtual service, keyed by the service's label and its own
description:
  - Configuration (address, port, weight, thresholds) is created with C(POST /api/v1/real-servers/) and
    changed with C(PATCH /api/v1/real-servers/{id}/) under C(If-Match), so an edit made meanwhile (or an
    operator's drain) is never undone.
  - I(admin_state) is runtime state; the API refuses it in a PATCH. It is set through
    C(POST .../online/), C(.../drain/) or C(.../halt/), which act on the kernel at once, without Apply.
  - Check mode reads the server and reports what would change; it never writes.
extends_documentation_fragment:
  - fulcrum.appliance.fulcrum
options:
  service:
    description: "The label of its virtual service."
    type: str
    required: true
  label:
    description: "The real server's label within the service."
    type: str
    required: true
  state:
    description: "present or absent."
    type: str
    default: present
    choices: [present, absent]
  address:
    description: "Its address (required to create)."
    type: str
  port:
    description: "Its port (default the VIP's)."
    type: int
  weight:
    description: "0-65535."
    type: int
  min_conns:
    description: "Lower connection threshold."
    type: int
  max_conns:
    description: "Upper connection threshold."
    type: int
  admin_state:
    description: "Runtime state."
    type: str
    choices: [online, drain, halt]
"""

EXAMPLES = r"""
- fulcrum.appliance.fulcrum_real_server:
    url: https://lb.example.org
    token: "{{ fulcrum_token }}"
    service: web
    label: web2
    address: 198.51.100.12
    admin_state: drain
"""

RETURN = r"""
real_server:
  description: "The real server as the API answers it."
  type: dict
  returned: always
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible_collections.fulcrum.appliance.plugins.module_utils.fulcrum import (  # noqa: E402
    FulcrumClient,
    argument_spec,
    changes,
    diff,
)

CONFIG = ("address", "port", "weight", "min_conns", "max_conns")


def main():
    module = AnsibleModule(argument_spec=argument_spec(
        service=dict(type="str", required=True), label=dict(type="str", required=True),
        state=dict(type="str", default="present", choices=["present", "absent"]),
        address=dict(type="str"), port=dict(type="int"), weight=dict(type="int"), min_conns=dict(type="int"),
        max_conns=dict(type="int"), admin_state=dict(type="str", choices=["online", "drain", "halt"]),
    ), supports_check_mode=True)
    p = module.params
    api = FulcrumClient(module)
    found = api.find_one("/real-servers/", {"service_label": p["service"], "label": p["label"]})
    current, etag = None, None
    if found is not None:  # the detail read's ETag guards the PATCH
        read = api.get(f'/real-servers/{found["id"]}/')
        current, etag = read.data, read.etag

    if p["state"] == "absent":
        if current is None:
            module.exit_json(changed=False, real_server={})
        if not module.check_mode:
            api.request("DELETE", f'/real-servers/{current["id"]}/', headers={"If-Match": etag})
        module.exit_json(changed=True, real_server=current, diff={"before": current, "after": {}})

    config = {name: p[name] for name in CONFIG if p[name] is not None}
    wanted = dict(config, admin_state=p["admin_state"])
    result = dict(changed=False, real_server=current or {}, diff=diff(current, wanted, list(wanted)))
    if current is None:
        if not p["address"]:
            module.fail_json(msg="address is required to create real server {}/{}".format(p["service"], p["label"]))
        result["changed"] = True
        if not module.check_mode:  # admin_state may be given when creating
            body = dict(config, service_label=p["service"], label=p["label"])
            if p["admin_state"]:
                body["admin_state"] = p["admin_state"]
            result["real_server"] = api.request("POST", "/real-servers/", body=body).data
        module.exit_json(**result)

    delta = changes(current, config)
    if delta:
        result["changed"] = True
        if not module.check_mode:
            result["real_server"] = api.request("PATCH", f'/real-servers/{current["id"]}/', body=delta,
                                                headers={"If-Match": etag}).data
    if p["admin_state"] and current["admin_state"] != p["admin_state"]:
        result["changed"] = True
        if not module.check_mode:
            api.request("POST", f'/real-servers/{current["id"]}/{p["admin_state"]}/')
            result["real_server"] = api.get(f'/real-servers/{current["id"]}/').data
    if not result["changed"]:
        result.pop("diff")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
