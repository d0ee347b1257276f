"""ALLOWED_HOSTS (issue 13): derived from the listen address and names; any other Host header is refused."""

from __future__ import annotations

import socket

import pytest

from appliance.hosts import allowed_hosts, listen_host


def test_listen_host_forms():
    assert listen_host("127.0.0.1:8000") == "127.0.0.1"
    assert listen_host("[::]:443") == "::"
    assert listen_host("[2001:db8::5]:443") == "2001:db8::5"
    assert listen_host("192.0.2.4") == "192.0.2.4"


def test_derived_from_listen_address_and_names():
    hosts = allowed_hosts({"FULCRUM_LISTEN": "192.0.2.4:443", "FULCRUM_SITE_NAMES": "LB1.example.net"}, [])
    assert {"192.0.2.4", "lb1.example.net", "localhost", "127.0.0.1", "[::1]", socket.gethostname().lower()} <= set(
        hosts)
    assert "*" not in hosts and "198.51.100.9" not in hosts


def test_wildcard_listen_takes_the_interface_addresses():
    hosts = allowed_hosts({"FULCRUM_LISTEN": "[::]:443"}, ["192.0.2.4", "2001:db8::4"])
    assert {"192.0.2.4", "[2001:db8::4]"} <= set(hosts)


def test_the_environment_replaces_the_derived_list():
    assert allowed_hosts({"FULCRUM_ALLOWED_HOSTS": "lb.example.net, 192.0.2.4"}) == ["lb.example.net", "192.0.2.4"]


@pytest.mark.django_db
def test_a_foreign_host_header_is_refused(client, admin):
    client.force_login(admin)
    assert client.get("/api/v1/", HTTP_HOST="evil.example").status_code == 400
    assert client.get("/api/v1/", HTTP_HOST="localhost").status_code == 200


def test_a_wildcard_listen_follows_address_changes(monkeypatch):
    """After a commit-confirmed change moves the management address, the new one answers at once."""
    from appliance import hosts as module

    now = {"addresses": ["192.0.2.4"], "t": 0.0}
    monkeypatch.setattr(module.time, "monotonic", lambda: now["t"])
    live = module.LiveHosts({"localhost"}, lambda: now["addresses"], ttl=2.0)
    assert "192.0.2.4" in list(live) and "198.51.100.7" not in list(live)
    now["addresses"] = ["198.51.100.7"]
    assert "198.51.100.7" not in list(live)  # read again only after ttl
    now["t"] = 2.5
    assert "198.51.100.7" in list(live) and "192.0.2.4" not in list(live) and "localhost" in list(live)
