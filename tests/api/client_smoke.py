"""The AOVPN flow driven through a client generated from /api/schema/ by openapi-python-client.

Run by tests/api/test_schema_client.py against a live test server:
    python client_smoke.py BASE_URL TOKEN     (with the generated `fulcrum_client` on PYTHONPATH)
Every answer is parsed into the generated models, so a schema that does not describe what the API
really answers fails here. Exits non-zero on the first failure.
"""

from __future__ import annotations

import sys

from fulcrum_client import AuthenticatedClient
from fulcrum_client.api.config import config_create, config_retrieve
from fulcrum_client.api.real_servers import (
    real_servers_drain_create,
    real_servers_list,
    real_servers_partial_update,
    real_servers_retrieve,
)
from fulcrum_client.api.templates import templates_aovpn_create
from fulcrum_client.api.virtual_services import virtual_services_checklist_retrieve, virtual_services_list
from fulcrum_client.models import (
    AovpnRequest,
    AovpnResult,
    BundleRequest,
    Checklist,
    Error,
    PatchedRealServerRequest,
    Preview,
    RealServer,
    StateChangeResult,
)


def expect(value, kind, what):
    if not isinstance(value, kind):
        sys.exit(f"{what}: expected {kind.__name__}, got {value!r}")
    return value


def main(base_url: str, token: str) -> None:
    client = AuthenticatedClient(base_url=base_url, token=token, raise_on_unexpected_status=True)
    created = expect(templates_aovpn_create.sync(client=client, body=AovpnRequest(
        vip="203.0.113.10", vpn_servers=["198.51.100.11", "198.51.100.12"], nps_vip="203.0.113.20",
        nps_servers=["198.51.100.21"], radius_secret="smoke-test-secret")), AovpnResult, "AOVPN template")
    labels = sorted(s.label for s in created.services)
    listed = virtual_services_list.sync(client=client)
    assert sorted(s.label for s in listed.results) == labels, (labels, listed)

    servers = real_servers_list.sync(client=client, address="198.51.100.11").results
    assert servers, "the VPN server is in the SSTP and IKEv2 services"
    one = servers[0]
    read = real_servers_retrieve.sync_detailed(str(one.id), client=client)
    etag = read.headers["ETag"]
    patched = real_servers_partial_update.sync_detailed(
        str(one.id), client=client.with_headers({"If-Match": etag}), body=PatchedRealServerRequest(weight=50))
    assert expect(patched.parsed, RealServer, "PATCH").weight == 50
    stale = real_servers_partial_update.sync_detailed(
        str(one.id), client=client.with_headers({"If-Match": etag}), body=PatchedRealServerRequest(weight=60))
    assert stale.status_code == 412, stale.status_code
    drained = expect(real_servers_drain_create.sync(str(one.id), client=client), StateChangeResult, "drain")
    assert drained.state == "drain" and drained.matched == 1

    checklist = expect(virtual_services_checklist_retrieve.sync(str(created.services[0].id), client=client),
                       Checklist, "checklist")
    assert checklist.service.label == created.services[0].label

    bundle = config_retrieve.sync(client=client)
    preview = config_create.sync(client=client, body=BundleRequest.from_dict(bundle.to_dict()), dry_run=True)
    expect(preview, Preview, "dry-run preview")
    assert not preview.added and not preview.removed, preview

    missing = virtual_services_checklist_retrieve.sync(str(999999), client=client)
    assert expect(missing, Error, "unknown id").errors[0].code == "not_found"
    print("AOVPN flow through the generated client: ok")


if __name__ == "__main__":
    main(*sys.argv[1:3])
