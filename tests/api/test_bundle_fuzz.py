"""Hypothesis-generated configuration bundles — valid, half-valid, wrong types, odd Unicode, deep nesting —
through the three ways a bundle arrives: API import, its dry-run preview, and HA sync. None may answer
with a 5xx or an unexpected exception, and a refused bundle changes nothing (export digest identical).

Derandomised; BUNDLE_CASES cases, each sent along the three paths."""

from __future__ import annotations

import copy
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.api.fuzzing import config_digest, deep, field_values, fuzz_settings, json_values, rolled_back

BUNDLE_CASES = 700
CONFIG = "/api/v1/config/"
TOP_KEYS = ["format", "version", "cluster", "floating_ips", "virtual_services"]


@pytest.fixture
def base_bundle(make_service):
    from cluster.bundle import export_bundle
    from cluster.models import FloatingIP

    make_service(label="web", vip="192.0.2.10", ports="80,443", method="nat", check_type="http",
                 check_request="/health", check_response="ok", description="front\ndoor",
                 servers=[{"label": "w1", "address": "10.0.0.1", "port": 8080}, {"label": "w2", "address": "10.0.0.2"}])
    make_service(label="radius", vip="192.0.2.11", ports="1812", protocol="udp", method="dr",
                 check_type="radius", check_secret="Fuzz-Radius-S3cret",
                 servers=[{"label": "r1", "address": "10.0.0.3"}])
    FloatingIP.objects.create(address="10.0.0.254", prefixlen=24, interface="eth1")
    return export_bundle()


def _objects(bundle):
    """(container, key) of every editable value in a bundle: cluster settings, floating IPs, services and
    their real servers."""
    spots = [(bundle["cluster"], k) for k in bundle["cluster"]]
    for fip in bundle["floating_ips"]:
        spots += [(fip, k) for k in fip]
    for svc in bundle["virtual_services"]:
        spots += [(svc, k) for k in svc if k != "real_servers"]
        for rs in svc.get("real_servers", []):
            spots += [(rs, k) for k in rs]
    return spots


@st.composite
def bundles(draw, base):
    bundle = copy.deepcopy(base)
    kind = draw(st.sampled_from(["valid", "half-valid", "wrong-types", "odd-unicode", "deep"]))
    if kind == "valid":  # drop some objects, keep the rest: a smaller, still valid configuration
        bundle["virtual_services"] = draw(st.lists(st.sampled_from(bundle["virtual_services"]), unique_by=lambda s:
                                                   s["label"], max_size=len(bundle["virtual_services"])))
    elif kind == "half-valid":  # one to three values replaced
        spots = _objects(bundle)
        for i in draw(st.lists(st.integers(0, len(spots) - 1), min_size=1, max_size=3)):
            container, key = spots[i]
            container[key] = draw(field_values)
    elif kind == "wrong-types":  # a top-level part, or a whole object, is some other JSON
        key = draw(st.sampled_from(TOP_KEYS + ["virtual_services[0]", "real_servers"]))
        value = draw(json_values)
        if key == "virtual_services[0]":
            bundle["virtual_services"][0] = value
        elif key == "real_servers":
            bundle["virtual_services"][0]["real_servers"] = value
        else:
            bundle[key] = value
    elif kind == "odd-unicode":
        spots = [(c, k) for c, k in _objects(bundle) if isinstance(c[k], str)]
        for i in draw(st.lists(st.integers(0, len(spots) - 1), min_size=1, max_size=4)):
            container, key = spots[i]
            container[key] = draw(st.text(min_size=1, max_size=30))
    else:
        bundle["virtual_services"][0]["label"] = draw(deep())
    return kind, bundle


def test_generated_bundles_never_5xx_and_a_refused_one_changes_nothing(api, base_bundle, settings, monkeypatch):
    from cluster.bundle import BundleError
    from ha.models import Peer
    from ha.sync import receive_config

    settings.FULCRUM_DATAPLANE = "render-only"  # HA sync applies what it imports: no kernel in this test
    monkeypatch.setattr("cluster.apply.start_apply", lambda *a, **k: None, raising=False)
    peer = Peer.objects.create(address="192.0.2.200", secret="s" * 64, node_name="a", peer_name="b")
    seen: dict[str, int] = {}
    outcomes = {"accepted": 0, "refused": 0}

    @given(bundles(base_bundle))
    @fuzz_settings(BUNDLE_CASES)
    def run(case):
        kind, bundle = case
        seen[kind] = seen.get(kind, 0) + 1
        body = json.dumps(bundle)
        with rolled_back():
            before = config_digest()
            r = api.post(f"{CONFIG}?dry_run=1", body, content_type="application/json")
            assert r.status_code < 500, (kind, r.status_code, r.content[:300])
            assert config_digest() == before, "a preview changed the configuration"
            r = api.post(CONFIG, body, content_type="application/json")
            assert r.status_code < 500, (kind, r.status_code, r.content[:300])
            if r.status_code != 200:
                assert config_digest() == before, (kind, "a refused import changed the configuration")
                outcomes["refused"] += 1
            else:
                outcomes["accepted"] += 1
        with rolled_back():
            before = config_digest()
            peer.local_version = 0
            peer.save(update_fields=["local_version"])
            try:
                receive_config(peer, {"version": 1, "bundle": json.loads(body)})
            except (BundleError, ValueError):
                assert config_digest() == before, (kind, "a refused HA sync changed the configuration")

    run()
    print(f"bundle fuzz: {sum(seen.values())} cases {seen}, {outcomes}")
    assert sum(seen.values()) >= BUNDLE_CASES * 0.9 and len(seen) == 5
    assert outcomes["accepted"] >= 20 and outcomes["refused"] >= 200
