"""Queries per request are constant in the number of virtual services: the same with 10 as with 200."""

from __future__ import annotations

import ipaddress

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from realservers.models import RealServer
from virtualservices.models import VirtualService

pytestmark = pytest.mark.django_db


def grow(total: int):
    """Add services (4 real servers each) until there are `total`; fast, with bulk_create."""
    have = VirtualService.objects.count()
    base = int(ipaddress.IPv4Address("198.18.0.0"))
    new = [VirtualService(label=f"bulk-{i:05d}", vip=str(ipaddress.IPv4Address(base + i)), ports="80",
                          protocol="tcp", method="nat") for i in range(have, total)]
    VirtualService.objects.bulk_create(new)
    created = VirtualService.objects.filter(label__in=[s.label for s in new])
    RealServer.objects.bulk_create([
        RealServer(service=svc, label=f"rs{j}", address=f"10.{j}.{svc.pk % 250}.{svc.pk // 250 % 250 + 1}",
                   port=8080) for svc in created for j in range(4)])


def count(fn) -> int:
    with CaptureQueriesContext(connection) as ctx:
        fn()
    return len(ctx.captured_queries)


@pytest.fixture
def warm_api(api):
    api.get("/api/v1/virtual-services/?page_size=1")  # the token's first use writes last_used_at once
    return api


def _check(make_request, django_assert_max_num_queries):
    grow(10)
    small = count(make_request)
    assert small > 0
    grow(200)
    with django_assert_max_num_queries(small):
        make_request()
    return small


def test_list_page_of_50(warm_api, django_assert_max_num_queries):
    def request():
        r = warm_api.get("/api/v1/virtual-services/?page_size=50")
        assert r.status_code == 200 and r.json()["results"][0]["real_servers"]

    small = _check(request, django_assert_max_num_queries)
    # auth (address throttle, token, role), count, services, real servers, shared DR VIPs
    assert small <= 7


def test_detail(warm_api, django_assert_max_num_queries):
    def request():
        pk = VirtualService.objects.order_by("pk").values_list("pk", flat=True)[5]
        r = warm_api.get(f"/api/v1/virtual-services/{pk}/")
        assert r.status_code == 200 and len(r.json()["real_servers"]) == 4

    _check(request, django_assert_max_num_queries)


def test_create(warm_api, django_assert_max_num_queries):
    n = {"i": 0}

    def request():
        n["i"] += 1
        r = warm_api.post("/api/v1/virtual-services/", {"label": f"new-{n['i']}", "vip": "198.18.0.3",
                                                       "ports": str(9000 + n["i"]), "method": "nat"}, format="json")
        assert r.status_code == 201, r.content

    _check(request, django_assert_max_num_queries)


def test_multi_port_create(warm_api, django_assert_max_num_queries):
    n = {"i": 0}

    def request():
        n["i"] += 1
        r = warm_api.post("/api/v1/virtual-services/", {"label": f"ike-{n['i']}", "vip": f"198.19.0.{n['i']}",
                                                       "ports": "500,4500", "protocol": "udp", "method": "nat"},
                          format="json")
        assert r.status_code == 201, r.content

    _check(request, django_assert_max_num_queries)


def test_drain(warm_api, django_assert_max_num_queries):
    def request():
        rs = RealServer.objects.filter(admin_state="online").order_by("pk").first()
        r = warm_api.post(f"/api/v1/real-servers/{rs.pk}/drain/")
        assert r.status_code == 200 and r.json()["changed"]

    _check(request, django_assert_max_num_queries)


def test_real_server_list(warm_api, django_assert_max_num_queries):
    def request():
        assert warm_api.get("/api/v1/real-servers/?page_size=50").status_code == 200

    _check(request, django_assert_max_num_queries)


def test_nested_real_server_create(warm_api, django_assert_max_num_queries):
    n = {"i": 0}

    def request():
        n["i"] += 1
        pk = VirtualService.objects.order_by("pk").values_list("pk", flat=True)[3]
        r = warm_api.post(f"/api/v1/virtual-services/{pk}/real-servers/",
                          {"label": f"x{n['i']}", "address": f"10.99.0.{n['i']}"}, format="json")
        assert r.status_code == 201, r.content

    _check(request, django_assert_max_num_queries)
