"""Bulk writes with list bodies (appliance/bulk.py) and the `fields` query parameter, on the virtual
services and the real servers (flat and nested): all or nothing, errors named by item index, a stale
per-object version is a 412 for the whole request, one change-log entry per object."""

from __future__ import annotations

import pytest

from audit.models import ChangeRecord
from tests.conftest import error_fields

V1 = "/api/v1"
VS = f"{V1}/virtual-services/"
RS = f"{V1}/real-servers/"


def service(n: int, **extra) -> dict:
    return {"label": f"bulk{n}", "vip": f"192.0.2.{n}", "ports": "443", "protocol": "tcp", "method": "snat",
            **extra}


def logged(action: str, object_type: str = "virtualservice") -> int:
    return ChangeRecord.objects.filter(action=action, object_type=object_type).count()


@pytest.mark.django_db
def test_post_a_list_creates_all_with_one_change_record_each(api):
    response = api.post(VS, [service(1), service(2), service(3)], format="json")
    assert response.status_code == 201, response.content
    created = response.json()
    assert [s["label"] for s in created] == ["bulk1", "bulk2", "bulk3"] and all(s["id"] for s in created)
    assert logged("create") == 3
    one = api.post(VS, service(4), format="json")  # one object still answers one object
    assert one.status_code == 201 and one.json()["label"] == "bulk4" and one["ETag"]


@pytest.mark.django_db
def test_one_invalid_item_saves_nothing_and_is_named_by_index(api):
    response = api.post(VS, [service(1), service(2), service(3, vip="not-an-address")], format="json")
    assert response.status_code == 400
    assert "2.vip" in error_fields(response)
    assert api.get(VS).json()["count"] == 0 and logged("create") == 0


@pytest.mark.django_db
def test_a_duplicate_inside_the_request_is_a_400_and_one_of_saved_data_a_409(api, make_service):
    twice = api.post(VS, [service(1), service(2, label="bulk1")], format="json")
    assert twice.status_code == 400 and "existing_id" not in twice.json()
    assert "Same as item 0" in error_fields(twice)["1.label"][0]
    assert api.get(VS).json()["count"] == 0
    held = make_service(label="taken", vip="198.51.100.5", ports="443")
    clash = api.post(VS, [service(1), service(2, label="taken")], format="json")
    assert clash.status_code == 409 and clash.json()["existing_id"] == held.pk
    assert any(path.startswith("1") for path in error_fields(clash))
    assert api.get(VS).json()["count"] == 1


@pytest.mark.django_db
def test_patch_a_list_updates_each_with_its_version(api, make_service):
    a, b = make_service(), make_service()
    response = api.patch(VS, [{"id": a.pk, "description": "first", "version": a.version},
                               {"id": b.pk, "scheduler": "lc"}], format="json")
    assert response.status_code == 200, response.content
    answered = {s["id"]: s for s in response.json()}
    assert answered[a.pk]["description"] == "first" and answered[b.pk]["scheduler"] == "lc"
    assert answered[a.pk]["version"] == a.version + 1
    assert logged("update") == 2


@pytest.mark.django_db
def test_a_stale_version_fails_the_whole_request_with_412(api, make_service):
    a, b = make_service(), make_service()
    api.patch(f"{VS}{b.pk}/", {"description": "someone else"}, format="json")
    response = api.patch(VS, [{"id": a.pk, "description": "mine", "version": a.version},
                              {"id": b.pk, "description": "mine", "version": b.version}], format="json")
    assert response.status_code == 412
    assert "Item 1" in response.json()["detail"]
    a.refresh_from_db()
    assert a.description == "" and a.version == 1
    # If-Match is one object's: on a list it is refused, each item carries its version instead.
    header = api.patch(VS, [{"id": a.pk, "description": "x"}], format="json", HTTP_IF_MATCH='"1"')
    assert header.status_code == 400


@pytest.mark.django_db
def test_put_a_list_replaces_and_validates_each_item_like_a_single_put(api, make_service):
    a, b = make_service(), make_service()
    full = api.get(f"{VS}{a.pk}/").json()  # a GET body sent back (with id and version) is accepted
    response = api.put(VS, [{**full, "description": "replaced"}, {"id": b.pk, "label": "only-a-label"}],
                       format="json")
    assert response.status_code == 400
    assert "1.vip" in error_fields(response)
    a.refresh_from_db()
    assert a.description == ""
    ok = api.put(VS, [{**full, "description": "replaced"}], format="json")
    assert ok.status_code == 200 and ok.json()[0]["description"] == "replaced"


@pytest.mark.django_db
@pytest.mark.parametrize("body, path", [
    ([], "non_field_errors"),
    ({"id": 1}, "non_field_errors"),
    (["x"], "0"),
    ([{"description": "no id"}], "0.id"),
    ([{"id": 999999, "description": "x"}], "0.id"),
    ([{"id": "1", "description": "x"}], "0.id"),
    ([{"id": 1, "version": "2"}], "0.version"),
    ([{"id": 2**64, "description": "x"}], "0.id"),
    ([{"id": 1, "version": 2**40}], "0.version"),
])
def test_malformed_bulk_bodies_are_400s_naming_the_item(api, make_service, body, path):
    make_service()
    if isinstance(body, list) and body and isinstance(body[0], dict) and body[0].get("id") == 1:
        body[0]["id"] = api.get(VS).json()["results"][0]["id"]
    response = api.patch(VS, body, format="json")
    assert response.status_code == 400, response.content
    assert path in error_fields(response)


@pytest.mark.django_db
def test_the_same_id_twice_is_refused(api, make_service):
    a = make_service()
    response = api.patch(VS, [{"id": a.pk, "description": "x"}, {"id": a.pk, "scheduler": "lc"}], format="json")
    assert response.status_code == 400 and "1.id" in error_fields(response)


@pytest.mark.django_db
def test_delete_a_list_deletes_all_or_nothing(api, make_service):
    a, b, c = make_service(), make_service(), make_service()
    stale = api.delete(VS, [{"id": a.pk}, {"id": b.pk, "version": b.version + 1}], format="json")
    assert stale.status_code == 412
    extra = api.delete(VS, [{"id": a.pk, "label": "x"}], format="json")
    assert extra.status_code == 400 and "0.label" in error_fields(extra)
    assert api.get(VS).json()["count"] == 3 and logged("delete") == 0
    gone = api.delete(VS, [{"id": a.pk, "version": a.version}, {"id": b.pk}], format="json")
    assert gone.status_code == 204
    assert [s["id"] for s in api.get(VS).json()["results"]] == [c.pk]
    assert logged("delete") == 2


@pytest.mark.django_db
def test_real_servers_bulk_on_the_flat_endpoint(api, make_service):
    svc = make_service(label="AOVPN-SSTP")
    created = api.post(RS, [{"service_label": "AOVPN-SSTP", "label": f"vpn{i}", "address": f"198.51.100.{i}"}
                            for i in (11, 12)], format="json")
    assert created.status_code == 201, created.content
    ids = [s["id"] for s in created.json()]
    assert all(s["service"] == svc.pk for s in created.json())
    weights = api.patch(RS, [{"id": ids[0], "weight": 50}, {"id": ids[1], "weight": 60}], format="json")
    assert weights.status_code == 200 and [s["weight"] for s in weights.json()] == [50, 60]
    # Runtime state stays out of configuration writes, in bulk as alone; the error names the item.
    halted = api.patch(RS, [{"id": ids[0], "weight": 70}, {"id": ids[1], "admin_state": "halt"}], format="json")
    assert halted.status_code == 400 and "1.admin_state" in error_fields(halted)
    assert api.get(f"{RS}{ids[0]}/").json()["weight"] == 50
    assert logged("create", "realserver") == 2 and logged("update", "realserver") == 2
    assert api.delete(RS, [{"id": i} for i in ids], format="json").status_code == 204
    assert logged("delete", "realserver") == 2


@pytest.mark.django_db
def test_real_servers_bulk_on_the_nested_endpoint_stay_in_their_service(api, make_service):
    svc = make_service(servers=[{"address": "198.51.100.11"}])
    other = make_service(servers=[{"address": "198.51.100.21"}])
    nested = f"{VS}{svc.pk}/real-servers/"
    created = api.post(nested, [{"label": "vpn2", "address": "198.51.100.12"},
                                {"label": "vpn3", "address": "198.51.100.13"}], format="json")
    assert created.status_code == 201, created.content
    assert {s["service"] for s in created.json()} == {svc.pk}
    mine, theirs = svc.real_servers.get(label="rs1"), other.real_servers.get()
    elsewhere = api.patch(nested, [{"id": mine.pk, "weight": 5}, {"id": theirs.pk, "weight": 5}], format="json")
    assert elsewhere.status_code == 400 and "1.id" in error_fields(elsewhere)
    theirs.refresh_from_db()
    mine.refresh_from_db()
    assert theirs.weight != 5 and mine.weight != 5
    assert api.patch(nested, [{"id": mine.pk, "weight": 5}], format="json").json()[0]["weight"] == 5
    assert api.delete(nested, [{"id": theirs.pk}], format="json").status_code == 400
    assert api.delete(nested, [{"id": s["id"]} for s in created.json()], format="json").status_code == 204
    assert list(svc.real_servers.values_list("label", flat=True)) == ["rs1"]


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["operator", "readonly"])
def test_bulk_writes_need_the_configure_capability(client_for, make_service, role):
    a = make_service()
    client = client_for(role)
    assert client.post(VS, [service(9)], format="json").status_code == 403
    assert client.patch(VS, [{"id": a.pk, "description": "x"}], format="json").status_code == 403
    assert client.delete(VS, [{"id": a.pk}], format="json").status_code == 403


@pytest.mark.django_db
def test_fields_selects_what_list_and_detail_answers_show(api, make_service):
    svc = make_service(servers=[{"address": "198.51.100.11"}])
    listed = api.get(f"{VS}?fields=id,label,vip")
    assert listed.status_code == 200
    assert [set(s) for s in listed.json()["results"]] == [{"id", "label", "vip"}]
    detail = api.get(f"{VS}{svc.pk}/?fields=label")
    assert detail.json() == {"label": svc.label}
    assert detail["ETag"] == f'"{svc.version}"'  # the version is left out of the body, not the ETag
    servers = api.get(f"{VS}{svc.pk}/real-servers/?fields=id,address").json()["results"]
    assert servers == [{"id": svc.real_servers.get().pk, "address": "198.51.100.11"}]
    assert set(api.get(f"{RS}?fields=service_label,weight").json()["results"][0]) == {"service_label", "weight"}


@pytest.mark.django_db
@pytest.mark.parametrize("query", ["fields=id,colour", "fields=", "fields=check_secret", "fields=id&brief=1"])
def test_unknown_or_conflicting_fields_are_400(api, make_service, query):
    svc = make_service()
    for url in (f"{VS}?{query}", f"{VS}{svc.pk}/?{query}"):
        response = api.get(url)
        assert response.status_code == 400, (url, response.content)
        assert "fields" in error_fields(response)


def test_the_schema_documents_bulk_writes_and_fields():
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    for path in ("/api/v1/virtual-services/", "/api/v1/real-servers/",
                 "/api/v1/virtual-services/{service_pk}/real-servers/"):
        item = schema["paths"][path]
        assert {"get", "post", "put", "patch", "delete"} <= set(item), path
        for method in ("put", "patch", "delete"):
            body = item[method]["requestBody"]["content"]["application/json"]["schema"]
            assert body["type"] == "array", (path, method)
            assert {"400", "412"} <= set(item[method]["responses"]), (path, method)
        created = item["post"]["requestBody"]["content"]["application/json"]["schema"]
        assert created["$ref"].endswith("OneOrManyRequest")
        assert "fields" in {p["name"] for p in item["get"]["parameters"]}
    detail = schema["paths"]["/api/v1/virtual-services/{id}/"]["get"]
    assert {"fields", "brief"} <= {p["name"] for p in detail["parameters"]}
