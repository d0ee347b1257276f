"""The one HTTP client every fulcrum.appliance module uses: API token, JSON in and out, the API's one
error shape turned into a module failure, ETags for If-Match, and the before → after helpers."""

import json
from urllib.error import HTTPError, URLError
from urllib.parse import quote, urlencode

from ansible.module_utils.basic import env_fallback
from ansible.module_utils.urls import open_url

API = "/api/v1"


def argument_spec(**module_options):
    """The connection options shared by every module, plus the module's own."""
    spec = dict(
        url=dict(type="str", required=True, fallback=(env_fallback, ["FULCRUM_URL"])),
        token=dict(type="str", required=True, no_log=True, fallback=(env_fallback, ["FULCRUM_TOKEN"])),
        validate_certs=dict(type="bool", default=True),
        timeout=dict(type="int", default=30),
    )
    spec.update(module_options)
    return spec


class Response:
    def __init__(self, status, data, headers):
        self.status = status
        self.data = data
        self.headers = headers

    @property
    def etag(self):
        return self.headers.get("ETag")


class FulcrumClient:
    def __init__(self, module):
        self.module = module
        self.base = module.params["url"].rstrip("/")

    def request(self, method, path, body=None, query=None, headers=None, ok=(200, 201, 202, 204)):
        """One API call; any status outside `ok` fails the module with the API's own message."""
        url = self.base + API + path
        if query:
            url += "?" + urlencode(query)
        sent = {"Authorization": "Bearer " + self.module.params["token"], "Accept": "application/json"}
        if body is not None:
            sent["Content-Type"] = "application/json"
        sent.update(headers or {})
        data = None if body is None else json.dumps(body)
        try:
            resp = open_url(url, data=data, headers=sent, method=method, timeout=self.module.params["timeout"],
                            validate_certs=self.module.params["validate_certs"], follow_redirects="none")
            status, raw, got = resp.status, resp.read(), resp.headers
        except HTTPError as exc:
            status, raw, got = exc.code, exc.read(), exc.headers
        except URLError as exc:
            self.module.fail_json(msg=f"{method} {url}: cannot reach the appliance: {exc.reason}")
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw.decode("utf-8", "replace")
        if status not in ok:
            detail = parsed.get("detail") if isinstance(parsed, dict) else parsed
            self.module.fail_json(msg=f"{method} {path} answered {status}: {detail}",
                                  status=status, errors=parsed.get("errors") if isinstance(parsed, dict) else None)
        return Response(status, parsed, {k: v for k, v in got.items()} if got else {})

    def get(self, path, query=None):
        return self.request("GET", path, query=query)

    def find_one(self, path, query):
        """The one object an exact filter names, or None (labels are keys: two answers is a bug)."""
        found = self.get(path, query).data
        results = found.get("results", found) if isinstance(found, dict) else found
        if len(results) > 1:
            self.module.fail_json(msg=f"{path} {query} matched {len(results)} objects, expected one")
        return results[0] if results else None


def quote_label(label):
    return quote(label, safe="")


def same(current, wanted):
    """Whether a value the API answered equals the one the task asked for, across YAML's loose types
    ("443" vs 443, 1 vs 1.0); None in the task means "not asked"."""
    if wanted is None:
        return True
    if isinstance(current, bool):
        return current == (wanted if isinstance(wanted, bool) else str(wanted).lower() in ("1", "true", "yes", "on"))
    if isinstance(current, (int, float)):
        try:
            return float(current) == float(wanted)
        except (TypeError, ValueError):
            return False
    if current is None:
        return wanted == ""
    return str(current) == str(wanted)


def changes(current, wanted):
    """The fields of `wanted` whose value differs from `current` (a dict from the API)."""
    current = current or {}
    return {k: v for k, v in wanted.items() if v is not None and (k not in current or not same(current[k], v))}


def diff(current, wanted, keys):
    """Ansible's diff: the asked-for fields before (absent: {}) and after; secrets masked."""
    before = {k: current[k] for k in keys if k in current} if current else {}
    after = dict(before)
    after.update({k: "********" if "secret" in k else v for k, v in wanted.items() if v is not None})
    return {"before": before, "after": after}
