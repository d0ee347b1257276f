class ModuleDocFragment:
    """The connection options every fulcrum.appliance module takes (module_utils/fulcrum.py argument_spec)."""

    DOCUMENTATION = r"""
options:
  url:
    description:
      - Base URL of the appliance, e.g. C(https://lb.example.org). Default from the environment, C(FULCRUM_URL).
    type: str
    required: true
  token:
    description:
      - An API token (C(flc_...)) whose scopes cover what the task does (configure, operate, apply; the
        configuration bundle needs an admin's). Default from the environment, C(FULCRUM_TOKEN).
    type: str
    required: true
  validate_certs:
    description: Verify the appliance's TLS certificate.
    type: bool
    default: true
  timeout:
    description: Seconds per request.
    type: int
    default: 30
notes:
  - Set I(url) and I(token) once for every module with C(module_defaults) and the action group
    C(group/fulcrum.appliance.fulcrum).
"""
