"""Management lockdown: the safety check, the web process's 403, and the FULCRUM-MGMT chain renderer."""

import pytest

from operations import lockdown
from operations.lockdown import is_allowed, lockout_error, parse_networks, render_chain
from operations.models import ManagementNetwork

ADMIN_PC = "10.20.0.5"


@pytest.fixture(autouse=True)
def fresh_policy():
    lockdown._forget()
    yield
    lockdown._forget()


def test_allowed_addresses():
    nets = parse_networks(["10.20.0.0/24", "2001:db8:5::/48"])
    assert is_allowed(ADMIN_PC, nets)
    assert not is_allowed("10.20.1.5", nets)
    assert is_allowed("2001:db8:5::9", nets) and not is_allowed("2001:db8:6::9", nets)
    assert is_allowed("::ffff:10.20.0.7", nets)
    assert is_allowed("127.0.0.1", nets) and is_allowed("::1", nets)
    assert is_allowed("192.0.2.9", nets, extra=["192.0.2.9"])  # the HA peer
    assert is_allowed("203.0.113.1", [])  # no lockdown
    assert not is_allowed("not-an-ip", nets)


def test_safety_check_refuses_locking_out_the_admin():
    assert lockout_error(["10.20.0.0/24"], ADMIN_PC) is None
    assert lockout_error([], ADMIN_PC) is None
    error = lockout_error(["10.30.0.0/24"], ADMIN_PC)
    assert "lock you out" in error and ADMIN_PC in error
    assert lockout_error(["10.30.0.0/24"], None)


def test_render_chain_ipv4():
    text = render_chain(["10.20.0.0/24", "10.30.0.1", "2001:db8::/32"], [443], 4, jump_ports=[443],
                        extra=["192.0.2.9"])
    assert text == (
        "*filter\n"
        ":FULCRUM-MGMT - [0:0]\n"
        "-A FULCRUM-MGMT -i lo -j RETURN\n"
        "-A FULCRUM-MGMT -s 192.0.2.9/32 -j RETURN\n"
        "-A FULCRUM-MGMT -s 10.20.0.0/24 -j RETURN\n"
        "-A FULCRUM-MGMT -s 10.30.0.1/32 -j RETURN\n"
        "-A FULCRUM-MGMT -j DROP\n"
        "-I INPUT 1 -p tcp -m tcp --dport 443 -j FULCRUM-MGMT\n"
        "COMMIT\n"
    )


def test_render_chain_ipv6_and_no_lockdown():
    v6 = render_chain(["10.20.0.0/24", "2001:db8::/32"], [443, 8443], 6)
    assert "-A FULCRUM-MGMT -s 2001:db8::/32 -j RETURN" in v6 and "10.20.0.0" not in v6
    assert v6.rstrip().endswith("-A FULCRUM-MGMT -j DROP\nCOMMIT")  # IPv4-only admins: IPv6 is closed
    assert "INPUT" not in v6  # the jumps exist already
    assert render_chain([], [443], 4, jump_ports=[443]) == (
        "*filter\n:FULCRUM-MGMT - [0:0]\n-I INPUT 1 -p tcp -m tcp --dport 443 -j FULCRUM-MGMT\nCOMMIT\n")


# --------------------------------------------------------------------------- API and middleware

def test_api_refuses_a_lockdown_that_locks_out_its_admin(api):
    res = api.post("/api/v1/management-networks/", {"network": "10.30.0.0/24"}, REMOTE_ADDR=ADMIN_PC)
    assert res.status_code == 400, res.content
    assert "lock you out" in str(res.json())
    assert not ManagementNetwork.objects.exists()

    res = api.post("/api/v1/management-networks/", {"network": "10.20.0.9/24", "description": "NOC"},
                   REMOTE_ADDR=ADMIN_PC)
    assert res.status_code == 201, res.content
    assert res.json()["network"] == "10.20.0.0/24"  # canonical
    extra = api.post("/api/v1/management-networks/", {"network": "10.30.0.0/24"}, REMOTE_ADDR=ADMIN_PC)
    assert extra.status_code == 201

    own = ManagementNetwork.objects.get(network="10.20.0.0/24")
    res = api.delete(f"/api/v1/management-networks/{own.pk}/", REMOTE_ADDR=ADMIN_PC)
    assert res.status_code == 400 and "lock you out" in str(res.json())
    res = api.patch(f"/api/v1/management-networks/{own.pk}/", {"network": "10.40.0.0/24"}, REMOTE_ADDR=ADMIN_PC)
    assert res.status_code == 400
    assert api.delete(f"/api/v1/management-networks/{extra.json()['id']}/", REMOTE_ADDR=ADMIN_PC).status_code == 204


def test_bad_networks_are_refused(api):
    res = api.post("/api/v1/management-networks/", {"network": "10.20.0.0/33"}, REMOTE_ADDR=ADMIN_PC)
    assert res.status_code == 400


def test_only_admins_change_it_everyone_reads_it(client_for):
    ManagementNetwork.objects.create(network="10.20.0.0/24")
    for role in ("operator", "readonly"):
        c = client_for(role)
        assert c.get("/api/v1/management-networks/", REMOTE_ADDR=ADMIN_PC).status_code == 200
        assert c.post("/api/v1/management-networks/", {"network": "10.50.0.0/24"},
                      REMOTE_ADDR=ADMIN_PC).status_code == 403


def test_web_process_answers_403_outside(api, client, admin_session):
    ManagementNetwork.objects.create(network="10.20.0.0/24")
    assert api.get("/api/v1/virtual-services/", REMOTE_ADDR=ADMIN_PC).status_code == 200
    assert api.get("/api/v1/virtual-services/", REMOTE_ADDR="10.21.0.5").status_code == 403
    assert client.get("/login/", REMOTE_ADDR="10.21.0.5").status_code == 403
    assert client.get("/login/", REMOTE_ADDR=ADMIN_PC).status_code == 200
    assert admin_session.get("/metrics", REMOTE_ADDR="198.51.100.7").status_code == 403
    assert client.get("/login/", REMOTE_ADDR="127.0.0.1").status_code == 200  # the local console


def test_the_ha_peer_is_always_let_in(api, db):
    from ha.models import Peer

    ManagementNetwork.objects.create(network="10.20.0.0/24")
    Peer.objects.create(pk=1, address="192.0.2.9", role="master", secret="ab" * 16)
    lockdown._forget()
    assert api.get("/api/v1/virtual-services/", REMOTE_ADDR="192.0.2.9").status_code == 200
    assert api.get("/api/v1/virtual-services/", REMOTE_ADDR="192.0.2.10").status_code == 403


def test_no_networks_no_lockdown(api):
    assert api.get("/api/v1/virtual-services/", REMOTE_ADDR="203.0.113.50").status_code == 200
