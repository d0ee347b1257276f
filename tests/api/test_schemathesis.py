"""Property-based tests of the REST API against its own OpenAPI schema (/api/schema/), with schemathesis.

Every operation is called with generated (valid and invalid) input as an admin with an API token; no response
may be a 5xx, and every response must match the schema (body, content type). At least 500 cases run in total,
derandomized so a failure reproduces. Then stateful scenarios: sequences of calls chained by the links
schemathesis infers from the schema (POST a service → GET/PATCH/PUT/DELETE it, its real servers, their
drain/halt/online...), at least STATEFUL_MIN_CALLS calls, none a 5xx.

Operations that reach outside this process are adjusted: the apply and HA-sync starters are replaced by stubs
that only queue (no worker, Redis or peer here); pairing dials a peer address, so it is left out.
"""

from __future__ import annotations

import json
import math
import time

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from django.db import transaction
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck, Phase
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

TOTAL_CASES = 1000  # at least 500 must really run; some operations exhaust their inputs early
# Operations that dial the address they are given (a peer, a new member): generated addresses must not be dialled.
OUTBOUND = {("POST", "/api/v1/ha/pair/"), ("POST", "/api/v1/cluster/members/")}


def served_schema() -> dict:
    """What GET /api/schema/ serves (the same generator and renderer), built without a request."""
    generated = SchemaGenerator().get_schema(request=None, public=True)
    return json.loads(OpenApiJsonRenderer().render(generated, renderer_context={}))


def fuzzing_only() -> SchemathesisConfig:
    """Hypothesis fuzzing (valid and invalid input, max_examples per operation), without the exhaustive
    boundary-value "coverage" phase, which alone makes thousands of cases and minutes."""
    config = SchemathesisConfig()
    config.projects.default.phases.coverage.enabled = False
    return config


RAW = served_schema()
schema = schemathesis.openapi.from_dict(RAW, config=fuzzing_only())
schema.app = get_wsgi_application()
for method, path in OUTBOUND:
    schema = schema.exclude(method=method, path=path)

OPERATIONS = [(m.upper(), p) for p, item in RAW["paths"].items() for m in item
              if m in ("get", "post", "put", "patch", "delete") and (m.upper(), p) not in OUTBOUND]
PER_OPERATION = math.ceil(TOTAL_CASES / len(OPERATIONS))
CALLS: dict[tuple[str, str], int] = {}
SECONDS: dict[tuple[str, str], float] = {}
STATUSES: dict[int, int] = {}
UNAUTHORIZED: list[str] = []


@pytest.fixture
def admin_key(admin):
    from accounts.models import ApiToken

    return {"key": ApiToken.issue(admin, "schemathesis")[1]}


def keep_admin(holder: dict) -> str:
    """A generated DELETE /users/{id} or /tokens/{id} may hit the caller itself: put it back, so every case
    runs as an admin with a live token."""
    from django.contrib.auth import get_user_model

    from accounts.models import ApiToken, Profile

    user, _ = get_user_model().objects.get_or_create(username="alice")
    if not user.is_active:
        user.is_active = True
        user.save(update_fields=["is_active"])
    Profile.objects.update_or_create(user=user, defaults={"role": "admin"})
    key_id = holder["key"].removeprefix("flc_").split(".")[0]
    if not ApiToken.objects.active().filter(key_id=key_id, user=user).exists():
        holder["key"] = ApiToken.issue(user, "schemathesis")[1]
    return holder["key"]


@pytest.fixture
def no_outbound(monkeypatch):
    """Apply and HA sync only queue here: there is no worker, Redis or peer in the test process."""
    try:
        from cluster import apply as apply_module
        from cluster.api import apply_views
    except ImportError:
        return

    def start_apply(user=None, actor="system", reason="apply"):
        return apply_module.queue_run(user, actor, reason) if hasattr(apply_module, "queue_run") else \
            apply_views.ApplyRun.objects.create(actor=actor)

    monkeypatch.setattr(apply_views, "start_apply", start_apply, raising=False)
    try:
        from ha import replication as ha_runtime
        from ha.api import views as ha_views

        monkeypatch.setattr(ha_runtime, "start_sync", lambda: None)
        monkeypatch.setattr(ha_views, "start_apply", lambda *a, **k: None, raising=False)
    except ImportError:
        pass


@pytest.fixture
def seeded(make_service, make_user, admin):
    """Objects for the generated ids to find: every other case of an operation with an id in its path is
    pointed at one that exists (the rest keep the generated, mostly missing, ids)."""
    from accounts.models import ApiToken
    from cluster.models import FloatingIP

    make_service(label="web", ports="80", servers=[{"label": "a", "address": "10.0.0.1"},
                                                    {"label": "b", "address": "10.0.0.2", "port": 8080}])
    make_service(label="ike", ports="500,4500", protocol="udp", method="dr", persistent=True,
                 servers=[{"label": "v1", "address": "10.0.0.3"}])
    FloatingIP.objects.create(address="10.0.0.254")
    make_user("spare", "operator")
    ApiToken.issue(admin, "spare")


def _pool(path: str, admin_key: str) -> list[int]:
    from django.apps import apps

    from accounts.models import ApiToken

    key_id = admin_key.removeprefix("flc_").split(".")[0]
    pools = [
        ("/api/v1/virtual-services/", "virtualservices.VirtualService", {}, {}),
        ("/api/v1/real-servers/", "realservers.RealServer", {}, {}),
        ("/api/v1/floating-ips/", "cluster.FloatingIP", {}, {}),
        ("/api/v1/changes/", "audit.ChangeRecord", {}, {}),
        ("/api/v1/tokens/", "accounts.ApiToken", {}, {"key_id": key_id}),  # not the token in use
        ("/api/v1/users/", "auth.User", {}, {"username": "alice"}),  # nor its user
        ("/api/v1/apply/runs/", "cluster.ApplyRun", {}, {}),
    ]
    for prefix, label, include, exclude in pools:
        if path.startswith(prefix):
            try:
                model = apps.get_model(label)
            except LookupError:
                return []
            if model is ApiToken:
                include = {"revoked_at__isnull": True}
            return list(model.objects.filter(**include).exclude(**exclude).order_by("pk")
                        .values_list("pk", flat=True)[:5])
    return []


def point_at_existing(case, admin_key: str, n: int):
    params = case.path_parameters or {}
    if not params or n % 2:
        return
    pool = _pool(case.operation.path, admin_key)
    if pool:
        for name in params:
            params[name] = pool[n // 2 % len(pool)]


@pytest.fixture
def keep_connection():
    """Schemathesis drives the bare WSGI handler, which closes the database connection after each request
    when it is inside a transaction, as a test is (PostgreSQL; SQLite's in-memory one is never closed).
    Django's own test client detaches the same handler for the same reason."""
    from django.core import signals
    from django.db import close_old_connections

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


def _asks_for_sparse_fields(case) -> bool:
    query = case.query or {}
    return bool(query.get("fields")) or str(query.get("brief", "")).lower() in ("1", "true", "yes", "on")


def _resolve(node: dict) -> dict:
    while "$ref" in node:
        node = RAW["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    return node


def assert_sparse_answer(case, response) -> None:
    """?fields= and ?brief= answer a subset of an object's fields, which the schema's `required` list (that of a
    whole answer) cannot say: every field shown must be one the schema names, for one object or a page."""
    if response.status_code != 200:
        return
    operation = RAW["paths"][case.operation.path][case.method.lower()]
    described = _resolve(operation["responses"]["200"]["content"]["application/json"]["schema"])
    body = response.json()
    if "results" in described.get("properties", {}):
        described, objects = _resolve(described["properties"]["results"]["items"]), body["results"]
    else:
        objects = [body]
    for obj in objects:
        assert set(obj) <= set(described["properties"]), (case.query, sorted(set(obj) - set(described["properties"])))


@schema.parametrize()
@hypothesis_settings(max_examples=PER_OPERATION, derandomize=True, deadline=None, database=None,
                     phases=[Phase.explicit, Phase.generate],
                     suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_schema(case, keep_connection, seeded, admin_key, no_outbound):
    key = (case.method.upper(), case.operation.path)
    CALLS[key] = CALLS.get(key, 0) + 1
    token = keep_admin(admin_key)
    point_at_existing(case, token, CALLS[key])
    started = time.monotonic()
    sparse = _asks_for_sparse_fields(case)
    checks = [not_a_server_error, content_type_conformance]
    response = case.call_and_validate(headers={"Authorization": f"Bearer {token}"},
                                      checks=checks if sparse else [*checks, response_schema_conformance])
    if sparse:
        assert_sparse_answer(case, response)
    STATUSES[response.status_code] = STATUSES.get(response.status_code, 0) + 1
    if response.status_code == 401:
        UNAUTHORIZED.append(f"{case.method} {case.formatted_path} {response.text[:200]}")
    SECONDS[key] = SECONDS.get(key, 0.0) + time.monotonic() - started


STATEFUL_SCENARIOS, STATEFUL_STEPS, STATEFUL_MIN_CALLS = 80, 8, 400
STATEFUL: dict[str, int] = {"calls": 0, "linked": 0}


def test_api_statefully_through_inferred_links(keep_connection, seeded, admin_key, no_outbound):
    machine = schema.as_state_machine()
    assert len(machine.bundles) >= 20, "schemathesis found too few links between operations"

    class Scenario(machine):
        # Each scenario starts from the seeded database: Hypothesis replays scenarios and needs the same
        # responses (the same links to follow) each time.
        def setup(self):
            self.savepoint = transaction.savepoint()

        def teardown(self):
            transaction.savepoint_rollback(self.savepoint)

        def get_call_kwargs(self, case):
            return {"headers": {"Authorization": f"Bearer {keep_admin(admin_key)}"}}

        def after_call(self, response, case):
            STATEFUL["calls"] += 1
            STATEFUL["linked"] += bool(case.path_parameters)
            STATUSES[response.status_code] = STATUSES.get(response.status_code, 0) + 1

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            case.validate_response(response, checks=[not_a_server_error, content_type_conformance])

    Scenario.run(settings=hypothesis_settings(
        max_examples=STATEFUL_SCENARIOS, stateful_step_count=STATEFUL_STEPS, derandomize=True, deadline=None,
        database=None, suppress_health_check=list(HealthCheck)))
    print(f"schemathesis stateful: {STATEFUL['calls']} calls, {STATEFUL['linked']} on ids from earlier responses")
    assert STATEFUL["calls"] >= STATEFUL_MIN_CALLS
    assert STATEFUL["linked"] >= STATEFUL_MIN_CALLS // 10


def test_enough_cases_ran():
    """Runs after the generated tests (file order): ≥ 500 cases across every operation."""
    if not CALLS:
        pytest.skip("the schemathesis tests were deselected")
    missing = set(OPERATIONS) - set(CALLS)
    if missing and len(CALLS) < len(OPERATIONS) // 2:
        pytest.skip("only part of the schemathesis tests were selected")
    total = sum(CALLS.values())
    print(f"schemathesis: {total} cases over {len(CALLS)} operations; slowest:",
          ", ".join(f"{m} {p} {s:.1f}s" for (m, p), s in sorted(SECONDS.items(), key=lambda i: -i[1])[:5]))
    print("schemathesis: statuses", dict(sorted(STATUSES.items())))
    assert sum(n for code, n in STATUSES.items() if 200 <= code < 300) >= 100, "too few accepted requests"
    assert not UNAUTHORIZED, f"the token was not accepted: {UNAUTHORIZED}"
    assert not missing, f"operations never called: {sorted(missing)}"
    assert total >= 500, f"only {total} generated cases ran"


def test_served_schema_is_what_was_tested(api):
    """The schema tested above is the one /api/schema/ serves to a logged-in client."""
    r = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert r.status_code == 200
    served = json.loads(r.content)
    assert served["paths"].keys() == RAW["paths"].keys()
    assert served["components"] == RAW["components"]
