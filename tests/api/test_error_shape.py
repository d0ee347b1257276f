"""Every /api/ answer that is not a success has the one JSON error shape (appliance/exceptions.py):
every URL pattern × bad auth / unknown id / bad body, plus unknown URLs, a missing trailing slash
and the schema endpoint."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tests.api.urlwalk import all_endpoints, api_endpoints
from tests.conftest import error_fields

WRITE_METHODS = ("POST", "PUT", "PATCH")


def assert_error_shape(response, *statuses):
    where = f"{response.request['REQUEST_METHOD']} {response.request['PATH_INFO']}"
    assert response.status_code >= 400, (where, response.status_code)
    if statuses:
        assert response.status_code in statuses, (where, response.status_code, response.content[:300])
    assert response["Content-Type"].startswith("application/json"), (where, response["Content-Type"])
    return error_fields(response)


def methods(endpoint):
    return [m for m in endpoint.methods if m not in ("HEAD", "OPTIONS")]  # no body to check


def call(client, method, path, **kwargs):
    return getattr(client, method.lower())(path, **kwargs)


def api_paths():
    return [e for e in all_endpoints() if e.path.startswith("/api/") and ".json" not in e.path]


@pytest.mark.django_db
@pytest.mark.parametrize("auth", ["none", "bad-token", "malformed-token"])
def test_every_endpoint_refuses_bad_auth_in_the_error_shape(auth):
    client = APIClient()
    if auth == "bad-token":
        client.credentials(HTTP_AUTHORIZATION="Bearer flc_000000000000.not-a-real-secret")
    elif auth == "malformed-token":
        client.credentials(HTTP_AUTHORIZATION="Bearer")
    checked = 0
    for n, endpoint in enumerate(api_paths()):
        for method in methods(endpoint):
            # Each endpoint from its own address: a bad key is a guess, and 20 guesses from one address
            # are throttled (429, accounts/throttle.py) before this sweep would reach the rest.
            response = call(client, method, endpoint.path, data={}, format="json",
                            REMOTE_ADDR=f"198.51.100.{n % 250 + 1}")
            if response.status_code < 400:
                continue  # the few public endpoints (pairing offer, signed peer calls refuse below)
            fields = assert_error_shape(response, 400, 401, 403, 404, 405)
            assert fields
            checked += 1
    assert checked > 30


@pytest.mark.django_db
def test_unknown_ids_are_404_in_the_error_shape(api):
    detail = [e for e in api_endpoints() if "/1/" in e.path]
    assert len(detail) > 5
    for endpoint in detail:
        for bad in ("999999", "abc"):
            path = endpoint.path.replace("/1/", f"/{bad}/", 1)
            for method in methods(endpoint):
                response = call(api, method, path, data={}, format="json")
                # 409: writes to the host network are refused first on a host Fulcrum does not own
                assert_error_shape(response, 400, 403, 404, 405,
                                   *((409,) if "/system/" in path and method != "GET" else ()))
                if method == "GET":
                    assert response.status_code == 404, path


@pytest.mark.django_db
@pytest.mark.parametrize("body", ["{not json", "[1, 2]", '"text"'])
def test_bad_bodies_are_4xx_in_the_error_shape_never_500(api, body):
    for endpoint in api_endpoints():
        if "/1/" in endpoint.path:
            continue  # an id that does not exist answers 404 before the body is read (above)
        for method in methods(endpoint):
            if method not in WRITE_METHODS:
                continue
            response = call(api, method, endpoint.path, data=body, content_type="application/json")
            assert response.status_code != 500, (endpoint.path, response.content[:300])
            if response.status_code >= 400:
                assert_error_shape(response)


@pytest.mark.django_db
def test_validation_errors_name_their_field_with_a_code(api):
    response = api.post("/api/v1/virtual-services/", {"label": "web", "ports": "80"}, format="json")
    body = response.json()
    assert response.status_code == 400 and body["type"] == "validation_error"
    assert {"code": "required", "detail": "This field is required.", "attr": "vip"} in body["errors"]
    assert "vip: This field is required." in body["detail"]


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/v1/no-such-thing/", "/api/v1/virtual-services/1/nested/deeper/",
                                  "/api/no-such-thing", "/api/v1/virtual-services/1/real-servers/abc/"])
def test_unknown_urls_under_api_are_json_404(api, path):
    assert_error_shape(api.get(path), 404)


@pytest.mark.django_db
def test_a_missing_trailing_slash_is_served_not_redirected(api, make_service):
    svc = make_service()
    listing = api.get("/api/v1/virtual-services")
    assert listing.status_code == 200 and listing.json()["count"] == 1
    patched = api.patch(f"/api/v1/virtual-services/{svc.pk}", {"description": "no slash"}, format="json")
    assert patched.status_code == 200 and patched.json()["description"] == "no slash"
    assert_error_shape(api.get("/api/v1/virtual-services/999"), 404)


@pytest.mark.django_db
def test_the_schema_endpoint_refuses_in_json(anon):
    response = anon.get("/api/schema/")
    assert_error_shape(response, 401, 403)


@pytest.mark.django_db
def test_a_stale_if_match_is_a_412_in_the_error_shape(api, make_service):
    svc = make_service()
    response = api.patch(f"/api/v1/virtual-services/{svc.pk}/", {"description": "x"}, format="json",
                         HTTP_IF_MATCH='"7"')
    fields = assert_error_shape(response, 412)
    assert response.json()["errors"][0]["code"] == "precondition_failed" and fields


@pytest.mark.django_db
@pytest.mark.parametrize("fmt", ["multipart", "form"])
def test_form_bodies_are_refused_so_a_missing_boolean_never_means_false(api, fmt):
    from virtualservices.models import VirtualService

    body = {"label": "web", "vip": "192.0.2.10", "ports": "80", "protocol": "tcp", "method": "nat"}
    if fmt == "form":
        from urllib.parse import urlencode

        response = api.post("/api/v1/virtual-services/", urlencode(body),
                            content_type="application/x-www-form-urlencoded")
    else:
        response = api.post("/api/v1/virtual-services/", body, format="multipart")
    assert_error_shape(response, 415)
    assert not VirtualService.objects.exists()
