DOCUMENTATION = r"""
module: fulcrum_config
short_description: Export Fulcrum's configuration bundle to a file, or import one (merge or replace)
description:
  - I(state=exported) writes C(GET /api/v1/config/) to I(path) (mode 0600, it holds the RADIUS secrets);
    the file is left alone when only the export time would change.
  - I(state=imported) previews the bundle at I(path) with C(POST /api/v1/config/?dry_run=1) and imports it
    (all or nothing) only when the preview shows a change.
  - Check mode writes no file and imports nothing; the import's check mode is the API's dry run.
  - Diff mode shows the file before → after (secrets masked), or the preview's per-field before → after.
extends_documentation_fragment:
  - fulcrum.appliance.fulcrum
options:
  path:
    description: "The bundle file on the host the task runs on."
    type: path
    required: true
  state:
    description: "exported or imported."
    type: str
    default: exported
    choices: [exported, imported]
  mode:
    description:
      - merge adds and updates what the bundle names and deletes nothing; replace makes the bundle the
        whole configuration (what it lacks is deleted).
    type: str
    default: merge
    choices: [merge, replace]
  confirm:
    description: "\"delete-all\" lets a replace with no virtual services delete them all."
    type: str
"""

EXAMPLES = r"""
- fulcrum.appliance.fulcrum_config:
    url: https://lb.example.org
    token: "{{ fulcrum_token }}"
    path: /srv/backup/fulcrum.json
    state: exported
"""

RETURN = r"""
preview:
  description: "The dry run's answer (imported)."
  type: dict
  returned: when state=imported
result:
  description: "The import's counts per kind."
  type: dict
  returned: when an import ran
"""

import json  # noqa: E402
import os  # noqa: E402
import tempfile  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible_collections.fulcrum.appliance.plugins.module_utils.fulcrum import (  # noqa: E402
    FulcrumClient,
    argument_spec,
)

MASK = "********"


def text(bundle):
    return json.dumps(bundle, indent=2, sort_keys=True) + "\n"


def masked(value):
    """The bundle with every secret replaced, for the diff Ansible prints."""
    if isinstance(value, dict):
        return {k: (MASK if "secret" in k and v else masked(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [masked(v) for v in value]
    return value


def read_file(module, path):
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        return None
    except ValueError as exc:
        module.fail_json(msg=f"{path} is not a JSON bundle: {exc}")


def export(module, api):
    path = module.params["path"]
    bundle = api.get("/config/").data
    old = read_file(module, path)
    comparable = {k: v for k, v in bundle.items() if k != "exported_at"}  # a new time alone is no change
    if isinstance(old, dict) and {k: v for k, v in old.items() if k != "exported_at"} == comparable:
        module.exit_json(changed=False, path=path)
    result = dict(changed=True, path=path, diff={
        "before": text(masked(old)) if old is not None else "", "after": text(masked(bundle)),
        "before_header": path, "after_header": path})
    if not module.check_mode:
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)), prefix=".fulcrum-bundle-")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:  # mkstemp's file is 0600: it holds secrets
            handle.write(text(bundle))
        module.atomic_move(tmp, path)
        os.chmod(path, 0o600)
    module.exit_json(**result)


def preview_lines(preview):
    lines = []
    for kind, part in (("virtual service", preview), ("real server", preview["real_servers"]),
                       ("floating IP", preview["floating_ips"])):
        lines += [f"+ {kind} {key}" for key in part["added"]]
        lines += [f"- {kind} {key}" for key in part["removed"]]
        lines += ["~ {} {}: {}".format(kind, c["label"], "; ".join(c["changes"])) for c in part["changed"]]
    lines += [f"~ cluster {key}" for key in preview["cluster"]]
    return lines


def import_bundle(module, api):
    path = module.params["path"]
    bundle = read_file(module, path)
    if bundle is None:
        module.fail_json(msg=f"{path} does not exist")
    query = {"mode": module.params["mode"]}
    if module.params["confirm"]:
        query["confirm"] = module.params["confirm"]
    preview = api.request("POST", "/config/", body=bundle, query=dict(query, dry_run="1")).data
    lines = preview_lines(preview)
    if not lines:
        module.exit_json(changed=False, preview=preview)
    result = dict(changed=True, preview=preview, diff={"prepared": "\n".join(lines) + "\n"})
    if not module.check_mode:
        result["result"] = api.request("POST", "/config/", body=bundle, query=query).data
    module.exit_json(**result)


def main():
    module = AnsibleModule(argument_spec=argument_spec(
        path=dict(type="path", required=True),
        state=dict(type="str", default="exported", choices=["exported", "imported"]),
        mode=dict(type="str", default="merge", choices=["merge", "replace"]), confirm=dict(type="str"),
    ), supports_check_mode=True)
    api = FulcrumClient(module)
    if module.params["state"] == "exported":
        export(module, api)
    import_bundle(module, api)


if __name__ == "__main__":
    main()
