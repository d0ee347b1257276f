"""The fulcrum.appliance collection, built and installed like a user would, run with ansible-playbook against a
live test server: the first run changes, the second changes nothing, check mode writes nothing, diff mode
shows before → after. The playbook includes the documented AOVPN playbook (playbooks/aovpn.yml)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]
COLLECTION = ROOT / "ansible" / "fulcrum" / "appliance"
BIN = Path(sys.executable).parent
RECAP = re.compile(r"^localhost\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)
LEGACY = {"label": "legacy", "vip": "203.0.113.40", "ports": "80", "protocol": "tcp", "method": "nat"}
LEGACY_SERVER = {"label": "legacy1", "address": "198.51.100.41", "port": None, "weight": 100, "min_conns": 0,
                 "max_conns": 0, "admin_state": "online"}


@pytest.fixture(scope="module")
def collections_path(tmp_path_factory):
    """`ansible-galaxy collection build` + `install` into a path of its own, as a user would."""
    work = tmp_path_factory.mktemp("galaxy")
    env = _ansible_env(work)
    subprocess.run([BIN / "ansible-galaxy", "collection", "build", COLLECTION, "--output-path", work],
                   check=True, capture_output=True, env=env, cwd=work, timeout=120)
    tarball = next(work.glob("fulcrum-appliance-*.tar.gz"))
    subprocess.run([BIN / "ansible-galaxy", "collection", "install", tarball, "-p", work / "collections"],
                   check=True, capture_output=True, env=env, cwd=work, timeout=120)
    assert (work / "collections" / "ansible_collections" / "fulcrum" / "appliance" / "playbooks").is_dir()
    return work / "collections"


def _ansible_env(home: Path, **extra) -> dict:
    config = home / "ansible.cfg"
    config.write_text("[defaults]\n")  # never pick up an ansible.cfg from elsewhere
    return {**os.environ, "ANSIBLE_CONFIG": str(config), "ANSIBLE_HOME": str(home / ".ansible"),
            "ANSIBLE_LOCAL_TEMP": str(home / "tmp"), "ANSIBLE_NOCOLOR": "1", "ANSIBLE_RETRY_FILES_ENABLED": "0",
            "ANSIBLE_PYTHON_INTERPRETER": sys.executable, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            **extra}


@pytest.fixture
def appliance(live_url, make_user, collections_path, render_only_apply, tmp_path):
    """The live server, an admin's token, and the environment ansible runs in (the collection installed)."""
    from accounts.models import ApiToken

    _, token = ApiToken.issue(make_user("automation", "admin"), "ansible")
    env = _ansible_env(tmp_path, ANSIBLE_COLLECTIONS_PATH=str(collections_path), FULCRUM_URL=live_url,
                       FULCRUM_TOKEN=token)
    return SimpleNamespace(url=live_url, token=token, env=env, work=tmp_path)


@pytest.fixture
def run_playbook(appliance):
    extra = {"bundle_path": str(appliance.work / "legacy.json"), "backup_path": str(appliance.work / "backup.json"),
             "radius_secret": "ansible-test-secret"}

    def run(*flags):
        done = subprocess.run([BIN / "ansible-playbook", "-i", "localhost,", "-e", json.dumps(extra), *flags,
                               Path(__file__).with_name("site.yml")], env=appliance.env, cwd=appliance.work,
                              capture_output=True, text=True, timeout=120)
        recap = RECAP.search(done.stdout)
        assert done.returncode == 0 and recap, done.stdout[-6000:] + done.stderr[-3000:]
        assert extra["radius_secret"] not in done.stdout + done.stderr  # masked, even in diffs
        ok, changed, unreachable, failed = map(int, recap.groups())
        return changed, done.stdout

    run.token, run.url, run.paths = appliance.token, appliance.url, extra
    return run


def _api(run, method, path, body=None):
    from urllib.request import Request, urlopen

    request = Request(run.url + path, method=method, data=None if body is None else json.dumps(body).encode(),
                      headers={"Authorization": f"Bearer {run.token}", "Content-Type": "application/json"})
    with urlopen(request, timeout=30) as answer:  # noqa: S310 (the live test server on loopback)
        return json.loads(answer.read() or "null")


def _config(run):
    bundle = _api(run, "GET", "/api/v1/config/")
    bundle.pop("exported_at")
    return bundle


def test_first_run_changes_second_run_changes_nothing_check_mode_writes_nothing(run_playbook):
    run = run_playbook
    _api(run, "POST", "/api/v1/virtual-services/", {"label": "old", "vip": "203.0.113.50", "ports": "80",
                                                   "protocol": "tcp", "method": "snat"})
    bundle = _config(run)
    bundle.pop("network", None)  # the bundle names services only; this host's network is none of its business
    # A complete entry, as an export writes it (the preview compares every field): "old" renamed and moved.
    bundle["virtual_services"] = [dict(bundle["virtual_services"][0], **LEGACY, real_servers=[LEGACY_SERVER])]
    Path(run.paths["bundle_path"]).write_text(json.dumps(bundle))
    before = _config(run)
    runs_before = _api(run, "GET", "/api/v1/apply/runs/")["count"]

    changed, out = run("--check", "--diff")
    assert changed == 10  # every task (the loop counts once)
    assert _config(run) == before, "check mode wrote to the appliance"
    assert _api(run, "GET", "/api/v1/apply/runs/")["count"] == runs_before, "check mode started an apply"
    assert not Path(run.paths["backup_path"]).exists(), "check mode wrote the backup"
    assert "--- before" in out and "+++ after" in out
    assert '+    "vip": "192.0.2.10"' in out  # the web service, before → after
    assert "+ virtual service legacy" in out  # the bundle's dry-run preview

    changed, out = run("--diff")
    assert changed == 10  # every task (the loop counts once)
    services = {s["label"]: s for s in _api(run, "GET", "/api/v1/virtual-services/")["results"]}
    assert set(services) == {"web", "radius", "legacy", "AOVPN-SSTP", "AOVPN-IKEv2", "AOVPN-NPS"}
    assert services["radius"]["check_secret_set"] and services["AOVPN-NPS"]["check_secret_set"]
    assert services["AOVPN-SSTP"]["check_interval"] == 2.0
    web1 = _api(run, "GET", "/api/v1/real-servers/?service_label=web&label=web1")["results"][0]
    assert web1["weight"] == 50
    sstp3 = _api(run, "GET", "/api/v1/real-servers/?service_label=AOVPN-SSTP&label=SSTP-3")["results"][0]
    assert sstp3["admin_state"] == "drain" and sstp3["address"] == "198.51.100.23"
    status = _api(run, "GET", "/api/v1/apply/")
    assert status["pending_changes"] is False and status["last"]["status"] == "success"
    backup = json.loads(Path(run.paths["backup_path"]).read_text())
    assert {s["label"] for s in backup["virtual_services"]} == set(services)
    assert oct(Path(run.paths["backup_path"]).stat().st_mode & 0o777) == "0o600"

    after_first = _config(run)
    changed, out = run("--diff")
    assert changed == 0, out[-6000:]
    assert _config(run) == after_first
    changed, out = run("--check", "--diff")
    assert changed == 0, out[-6000:]


def test_every_module_documents_its_options(collections_path, tmp_path):
    env = _ansible_env(tmp_path, ANSIBLE_COLLECTIONS_PATH=str(collections_path))
    names = [f"fulcrum.appliance.{p.stem}" for p in (COLLECTION / "plugins" / "modules").glob("*.py")]
    done = subprocess.run([BIN / "ansible-doc", "-j", *names], env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    docs = json.loads(done.stdout)
    assert len(docs) == len(names) == 5
    for name, doc in docs.items():
        assert {"url", "token"} <= set(doc["doc"]["options"]), name  # the shared doc fragment
        assert doc["examples"] and doc["return"], name


def test_a_failed_apply_fails_the_task_with_the_runs_error(appliance, make_service, monkeypatch):
    from cluster import apply as apply_mod
    from dataplane.kernel.driver import RenderOnlyDriver

    make_service(servers=[{"address": "198.51.100.61"}])
    refuse = lambda op: "198.51.100.61" in str(op)  # noqa: E731
    monkeypatch.setattr(apply_mod, "make_driver", lambda stored=None: RenderOnlyDriver(fail_on=refuse))
    done = subprocess.run([BIN / "ansible", "localhost", "-i", "localhost,", "-c", "local", "-m",
                           "fulcrum.appliance.fulcrum_apply"], env=appliance.env, cwd=appliance.work,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0, done.stdout
    assert "FAILED!" in done.stdout and "failed:" in done.stdout and "rolled back" in done.stdout, done.stdout


def test_the_readme_shows_the_playbook_the_test_runs():
    readme = (COLLECTION / "README.md").read_text()
    shown = readme.split("```yaml\n", 1)[1].split("```", 1)[0]
    assert shown == (COLLECTION / "playbooks" / "aovpn.yml").read_text()


@pytest.mark.parametrize("kind", ["virtual_service", "real_server"])
def test_an_edit_between_the_modules_read_and_its_write_is_not_overwritten(appliance, make_service, monkeypatch,
                                                                            kind):
    """Another client changes the object right after the module read it: the module's write carries the
    ETag it read, the API answers 412, the task fails, and the other client's change stays."""
    from appliance.versioning import update_changed
    from realservers.api.views import RealServerViewSet
    from realservers.models import RealServer
    from virtualservices.api.views import VirtualServiceViewSet
    from virtualservices.models import VirtualService

    svc = make_service(servers=[{"label": "web1", "address": "198.51.100.11"}], label="web", vip="192.0.2.10")
    view, model, target = {
        "virtual_service": (VirtualServiceViewSet, VirtualService, svc.pk),
        "real_server": (RealServerViewSet, RealServer, svc.real_servers.get().pk)}[kind]
    read = view.retrieve

    def read_then_someone_else_edits(self, request, *args, **kwargs):
        answer = read(self, request, *args, **kwargs)
        update_changed(model, target, {"label" if kind == "real_server" else "description": "someone-else"})
        return answer

    monkeypatch.setattr(view, "retrieve", read_then_someone_else_edits)
    args = {"virtual_service": "label=web description=automation",
            "real_server": "service=web label=web1 weight=50"}[kind]
    done = subprocess.run([BIN / "ansible", "localhost", "-i", "localhost,", "-c", "local", "-m",
                           f"fulcrum.appliance.fulcrum_{kind}", "-a", args], env=appliance.env, cwd=appliance.work,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "answered 412" in done.stdout, done.stdout
    fresh = model.objects.get(pk=target)
    if kind == "virtual_service":
        assert fresh.description == "someone-else"
    else:
        assert fresh.label == "someone-else" and fresh.weight == 100


def test_the_aovpn_template_is_ok_when_it_exists_as_asked_and_fails_naming_what_differs(appliance):
    from cluster.aovpn import AovpnRequest, create_aovpn

    asked = {"vip": "192.0.2.20", "vpn_servers": ["198.51.100.21", "198.51.100.22"], "ikev2_method": "nat"}
    create_aovpn(AovpnRequest(**asked))

    def run(**args):
        return subprocess.run([BIN / "ansible", "localhost", "-i", "localhost,", "-c", "local", "-m",
                               "fulcrum.appliance.fulcrum_aovpn", "-a", json.dumps(args)], env=appliance.env,
                              cwd=appliance.work, capture_output=True, text=True, timeout=120)

    same = run(**asked)
    assert same.returncode == 0 and '"changed": false' in same.stdout, same.stdout
    moved = run(**dict(asked, vip="192.0.2.21", ikev2_method="dr"))
    assert moved.returncode != 0, moved.stdout
    assert "AOVPN-IKEv2: method nat → dr, vip 192.0.2.20 → 192.0.2.21" in moved.stdout, moved.stdout


def test_the_collection_uses_documentation_addresses_only():
    import ipaddress

    from tests.unit.test_readme_addresses import ALLOWED, IPV4

    files = [*COLLECTION.rglob("*.md"), *COLLECTION.rglob("*.yml"), *COLLECTION.rglob("*.py"),
             Path(__file__).with_name("site.yml")]
    found = [(f.name, m.group(0)) for f in files for m in IPV4.finditer(f.read_text())
             if _is_address(m.group(1)) and not any(ipaddress.ip_address(m.group(1)) in net for net in ALLOWED)]
    assert not found


def _is_address(text):
    import ipaddress

    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
