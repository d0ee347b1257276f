DOCUMENTATION = r"""
module: fulcrum_apply
short_description: Apply Fulcrum's saved configuration to the kernel and wait for the run to finish
description:
  - Reads C(GET /api/v1/apply/); when nothing is pending (and I(force) is off) the task is ok.
  - Otherwise starts a run with C(POST /api/v1/apply/) and polls C(/api/v1/apply/runs/{id}/) until it has
    succeeded or failed; a failed run (rolled back by the appliance) fails the task with the run's error.
  - Check mode reports whether changes are pending; it never starts a run. Diff mode shows the run's
    commands (ipvsadm / iptables / ip / sysctl), or in check mode the kernel state the configuration renders to.
extends_documentation_fragment:
  - fulcrum.appliance.fulcrum
options:
  force:
    description: "Apply even when nothing is pending."
    type: bool
    default: false
  wait_timeout:
    description: "Seconds to wait for the run."
    type: int
    default: 300
"""

EXAMPLES = r"""
- fulcrum.appliance.fulcrum_apply:
    url: https://lb.example.org
    token: "{{ fulcrum_token }}"
"""

RETURN = r"""
run:
  description: "The apply run (id, status, operations, commands, error)."
  type: dict
  returned: when a run started
"""

import time  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible_collections.fulcrum.appliance.plugins.module_utils.fulcrum import (  # noqa: E402
    FulcrumClient,
    argument_spec,
)

FINISHED = ("success", "failed")


def main():
    module = AnsibleModule(argument_spec=argument_spec(
        force=dict(type="bool", default=False), wait_timeout=dict(type="int", default=300),
    ), supports_check_mode=True)
    api = FulcrumClient(module)
    status = api.get("/apply/").data
    if not status["pending_changes"] and not module.params["force"]:
        module.exit_json(changed=False, run=status["last"] or {})
    if module.check_mode:
        rendered = api.get("/apply/rendered/").data["text"]
        prepared = "pending changes; the configuration renders to:\n" + rendered
        module.exit_json(changed=True, run={}, diff={"prepared": prepared})
    run = api.request("POST", "/apply/", ok=(202,)).data
    deadline = time.monotonic() + module.params["wait_timeout"]
    while run["status"] not in FINISHED:
        if time.monotonic() > deadline:
            waited = module.params["wait_timeout"]
            module.fail_json(msg=f'apply run {run["id"]} still {run["status"]} after {waited} s', run=run)
        time.sleep(0.5)
        run = api.get(f'/apply/runs/{run["id"]}/').data
    if run["status"] != "success":
        module.fail_json(msg=f'apply run {run["id"]} failed: {run["error"]}', run=run)
    module.exit_json(changed=True, run=run, diff={"prepared": run.get("commands") or ""})


if __name__ == "__main__":
    main()
