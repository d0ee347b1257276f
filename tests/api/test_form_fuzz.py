"""Every WebUI form posted with Hypothesis-generated values (odd Unicode, look-alike digits, control
characters, huge and missing fields): never a 5xx. Derandomised, FORM_CASES cases in all.

The HA pairing and member join forms are left out: a valid-looking address would make them dial a peer
(as their API operations are in test_schemathesis.py); their text passes the same input gate."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from hypothesis import given
from hypothesis import strategies as st

from tests.api.fuzzing import LOOKALIKES, deep, fuzz_settings, json_values, rolled_back

FORM_CASES = 900
BROWSER_SENDABLE = [v for v in LOOKALIKES if "\ud800" not in v]  # a form post is UTF-8: no lone surrogates
SAMPLES = BROWSER_SENDABLE + ["web", "10.0.0.1", "192.0.2.10", "80", "443", "500,4500", "8000-8010", "tcp", "udp",
                        "nat", "dr", "wlc", "http", "radius", "online", "admin", "on", "eth1", "24", "1",
                        "192.0.2.0/24", "noc@example.com", "Long-Enough-Passw0rd!"]
text = st.text(st.characters(codec="utf-8"), max_size=30)
values = st.one_of(st.sampled_from(SAMPLES), text)


def _forms(service_pk: int, server_pk: int, user):
    from django.contrib.auth.forms import PasswordChangeForm

    from frontend import forms
    from netconfig import forms as netforms

    return [
        ("/services/add/", forms.VirtualServiceForm()),
        (f"/services/{service_pk}/edit/", forms.VirtualServiceForm()),
        (f"/services/{service_pk}/servers/add/", forms.RealServerForm()),
        (f"/servers/{server_pk}/edit/", forms.RealServerForm()),
        ("/cluster/advanced/", forms.ClusterSettingsForm()),
        ("/cluster/floating-ips/add/", forms.FloatingIPForm()),
        ("/local/management/add/", forms.ManagementNetworkForm(remote="127.0.0.1")),
        ("/wizards/aovpn/", forms.AovpnForm()),
        ("/maintenance/users/add/", forms.UserForm()),
        ("/maintenance/tokens/", forms.TokenForm(user=user)),
        ("/account/password/", PasswordChangeForm(user)),
        ("/maintenance/backup/", forms.RestoreForm()),
        ("/local/network/interfaces/add/", netforms.InterfaceForm()),
        ("/local/network/routes/add/", netforms.RouteForm()),
        ("/local/network/apply/", netforms.ApplyForm()),
        ("/local/network/system/", netforms.SystemSettingsForm()),
        ("/cluster/bgp/", forms.BgpSettingsForm()),
        ("/cluster/bgp/neighbours/add/", forms.BgpNeighbourForm()),
    ]


@st.composite
def uploads(draw):
    kind = draw(st.sampled_from(["json", "deep", "bytes"]))
    if kind == "bytes":
        content = draw(st.binary(max_size=200))
    elif kind == "deep":
        content = json.dumps(draw(deep())).encode()
    else:
        content = json.dumps(draw(json_values)).encode()
    return SimpleUploadedFile("bundle.json", content, content_type="application/json")


@pytest.mark.django_db
def test_every_webui_form_survives_generated_input(admin, client, make_service, fast_passwords):
    svc = make_service(label="web", servers=[{"label": "a", "address": "10.0.0.1"}])
    client.force_login(admin)
    targets = _forms(svc.pk, svc.real_servers.get().pk, admin)
    seen: dict[str, int] = {}

    @given(st.integers(0, len(targets) - 1), st.data())
    @fuzz_settings(FORM_CASES)
    def run(index, data):
        url, form = targets[index]
        names = list(form.fields)
        chosen = data.draw(st.lists(st.sampled_from(names), unique=True, max_size=len(names)))
        body = {name: data.draw(values) for name in chosen}
        if "bundle" in chosen:
            body["bundle"] = data.draw(uploads())
        seen[url] = seen.get(url, 0) + 1
        with rolled_back():
            response = client.post(url, body)
            assert response.status_code < 500, (url, body, response.status_code)
            client.force_login(admin)  # a generated password change or user edit may have logged us out

    run()
    print(f"form fuzz: {sum(seen.values())} cases over {len(seen)} forms")
    assert len(seen) == len(targets) and sum(seen.values()) >= FORM_CASES * 0.9
