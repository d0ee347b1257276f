"""Management lockdown: the safety check, the web process's 403, the FULCRUM-MGMT rules and their way
through the kernel writer."""

from dataclasses import replace

import pytest

from dataplane.config import ManagementSpec
from dataplane.lockdown import management_rules
from operations import lockdown
from operations.lockdown import is_allowed, lockout_error, parse_networks
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


def test_management_rules_ipv4_and_ipv6():
    spec = ManagementSpec(networks=("10.20.0.0/24", "10.30.0.1/32", "2001:db8::/32"), ports=(443,),
                          always=("192.0.2.9",))
    v4 = [" ".join(r.args) for r in management_rules(spec) if r.family == 4]
    assert v4 == ["-i lo -j RETURN", "! -p tcp -j RETURN", "-p tcp -m multiport ! --dports 443 -j RETURN",
                  "-s 192.0.2.9/32 -j RETURN", "-s 10.20.0.0/24 -j RETURN", "-s 10.30.0.1/32 -j RETURN", "-j DROP"]
    v6 = [" ".join(r.args) for r in management_rules(spec) if r.family == 6]
    assert "-s 2001:db8::/32 -j RETURN" in v6 and not any("10.20" in x for x in v6) and v6[-1] == "-j DROP"
    assert {(r.table, r.chain) for r in management_rules(spec)} == {("filter", "FULCRUM-MGMT")}
    # IPv4-only admins: IPv6 management is closed too (only loopback and non-management traffic pass)
    only4 = management_rules(ManagementSpec(networks=("10.20.0.0/24",), ports=(443, 8443)))
    assert [" ".join(r.args) for r in only4 if r.family == 6] == [
        "-i lo -j RETURN", "! -p tcp -j RETURN", "-p tcp -m multiport ! --dports 443,8443 -j RETURN", "-j DROP"]
    assert management_rules(ManagementSpec()) == ()  # no networks, no lockdown
    with pytest.raises(ValueError, match="management ports"):
        management_rules(ManagementSpec(networks=("10.0.0.0/8",), ports=tuple(range(1, 17))))


def test_lockdown_acts_at_once_through_the_kernel_writer_and_apply_keeps_it(
        db, settings, tmp_path, monkeypatch, make_service, django_capture_on_commit_callbacks):
    """The kernel is a render-only driver shared by every writer; the journal records FULCRUM-MGMT."""
    from cluster import apply as apply_mod
    from cluster import writer
    from cluster.apply import apply_now, pending_changes
    from cluster.drift import check_drift
    from dataplane.kernel import RenderOnlyDriver

    settings.DATA_DIR, settings.CELERY_TASK_ALWAYS_EAGER = tmp_path, True
    kernel = RenderOnlyDriver()
    for module in (apply_mod, writer, __import__("cluster.drift").drift):
        monkeypatch.setattr(module, "make_driver", lambda stored=None: kernel)
    writer.forget_view()
    make_service(servers=[{}], method="snat")
    apply_now()

    def mgmt():
        return [r for r in kernel.state.rules if r.chain == "FULCRUM-MGMT"]

    with django_capture_on_commit_callbacks(execute=True):  # embedded: on commit, in this process
        ManagementNetwork.objects.create(network="10.20.0.0/24")
    assert any(r.args == ("-s", "10.20.0.0/24", "-j", "RETURN") for r in mgmt())
    assert any(r.chain == "FULCRUM-POSTROUTING" for r in kernel.state.rules)  # the service's rules stay
    assert not pending_changes()
    assert writer.journal()[1] == kernel.state  # journalled: drift checks cover FULCRUM-MGMT
    assert apply_now().operation_count == 0  # the compile includes the lockdown: nothing to undo

    kernel.state = replace(kernel.state, rules=tuple(r for r in kernel.state.rules if r.chain != "FULCRUM-MGMT"))
    report = check_drift(repair=False)  # someone flushed FULCRUM-MGMT by hand
    assert report.drift and any("FULCRUM-MGMT" in d for d in report.differences)
    assert apply_now().operation_count > 0 and mgmt()

    with django_capture_on_commit_callbacks(execute=True):
        ManagementNetwork.objects.all().delete()
    assert mgmt() == []


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


def test_management_networks_carry_etags_and_refuse_a_stale_if_match(api):
    made = api.post("/api/v1/management-networks/", {"network": "10.20.0.0/24"}, REMOTE_ADDR=ADMIN_PC)
    assert made.status_code == 201 and made["ETag"] == '"1"', made.content
    url = f"/api/v1/management-networks/{made.json()['id']}/"
    written = api.patch(url, {"description": "NOC"}, HTTP_IF_MATCH='"1"', REMOTE_ADDR=ADMIN_PC)
    assert written.status_code == 200 and written.json()["version"] == 2
    assert api.patch(url, {"description": "x"}, HTTP_IF_MATCH='"1"', REMOTE_ADDR=ADMIN_PC).status_code == 412
    assert ManagementNetwork.objects.get().description == "NOC"
