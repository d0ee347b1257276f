"""deploy/install.sh into a staging root (DESTDIR), its systemd units through `systemd-analyze verify`,
gunicorn serving HTTPS with the certificate it made (HSTS, secure cookies), and docker-compose.yml
through `docker-compose config` (Debian's docker-compose 1.29)."""

import configparser
import os
import shutil
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UNITS = ("fulcrum-web", "fulcrum-worker", "fulcrum-tasks", "fulcrum-keepalived", "fulcrum-healthcheckd", "fulcrum-beat")


def need(tool: str) -> str:
    path = shutil.which(tool)
    assert path, f"{tool} is missing: apt-get install -y {'systemd' if 'systemd' in tool else tool}"
    return path


@pytest.fixture(scope="module")
def staged(tmp_path_factory):
    """Run the installer into DESTDIR with tripwires for everything that would touch the host."""
    tmp = tmp_path_factory.mktemp("install")
    dest, prefix, bin_dir, calls = tmp / "root", tmp / "prefix", tmp / "bin", tmp / "host-calls"
    bin_dir.mkdir()
    for tool in ("systemctl", "apt-get", "useradd", "runuser", "chown"):
        (bin_dir / tool).write_text(f"#!/bin/sh\necho {tool} \"$@\" >>{calls}\n")
        (bin_dir / tool).chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "DESTDIR": str(dest), "PREFIX": str(prefix),
           "FULCRUM_VENV_FROM": str(ROOT / ".venv"), "FULCRUM_TLS_CN": "lb1.example.net"}
    for _ in range(2):  # a second run changes nothing it made (idempotent)
        res = subprocess.run([str(ROOT / "deploy/install.sh")], env=env, capture_output=True, text=True, timeout=60)
        assert res.returncode == 0, res.stdout + res.stderr
    # The units name the final paths; make PREFIX resolve to the staged copy so verify can check ExecStart.
    prefix.symlink_to(dest / str(prefix).lstrip("/"))
    return {"dest": dest, "prefix": prefix, "calls": calls, "units": dest / "etc/systemd/system"}


def unit(staged, name) -> configparser.ConfigParser:
    cp = configparser.ConfigParser(strict=False, interpolation=None)
    cp.optionxform = str
    cp.read(staged["units"] / f"{name}.service")
    return cp


def test_install_touches_nothing_on_the_host_with_destdir(staged):
    assert not staged["calls"].exists(), staged["calls"].read_text()
    dest = staged["dest"]
    assert (staged["prefix"] / "app/manage.py").exists()
    assert not (staged["prefix"] / "app/.git").exists()
    modules = (dest / "etc/modules-load.d/fulcrum.conf").read_text()
    assert modules.startswith("ip_vs\n")
    assert {"ip_tables", "ip6_tables"} <= set(modules.split())  # iptables-legacy cannot modprobe them in the unit
    # The unprivileged kernel worker shares iptables-legacy's lock: root-owned, group fulcrum, made at boot.
    assert "f /run/xtables.lock 0660 root fulcrum -" in (dest / "etc/tmpfiles.d/fulcrum.conf").read_text()
    env = (dest / "etc/fulcrum/fulcrum.env").read_text()
    assert "FULCRUM_HTTPS=1" in env and "DJANGO_SECRET_KEY=" in env
    assert (dest / "etc/fulcrum/fulcrum.env").stat().st_mode & 0o077 == 0
    assert (dest / "etc/fulcrum/tls/key.pem").stat().st_mode & 0o007 == 0


def test_self_signed_certificate(staged):
    cert = staged["dest"] / "etc/fulcrum/tls/cert.pem"
    out = subprocess.run(["openssl", "x509", "-in", str(cert), "-noout", "-subject", "-ext", "subjectAltName",
                          "-checkend", str(30 * 86400)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "lb1.example.net" in out.stdout and "DNS:lb1.example.net" in out.stdout


def test_units_pass_systemd_analyze_verify(staged):
    analyze = need("systemd-analyze")
    paths = [str(staged["units"] / f"{u}.service") for u in UNITS]
    res = subprocess.run([analyze, "verify", *paths], capture_output=True, text=True, timeout=60)
    ours = [line for line in (res.stdout + res.stderr).splitlines() if "fulcrum-" in line]
    assert res.returncode == 0 and not ours, "\n".join(ours) or res.stderr


def test_verify_catches_a_broken_unit(staged, tmp_path):
    """The check above means something: a typo and a missing program are reported."""
    text = (staged["units"] / "fulcrum-beat.service").read_text()
    bad = tmp_path / "fulcrum-broken.service"
    bad.write_text(text.replace("NoNewPrivileges=yes", "NoNewPrivilege=yes").replace("bin/celery", "bin/celeri"))
    res = subprocess.run([need("systemd-analyze"), "verify", str(bad)], capture_output=True, text=True)
    out = res.stdout + res.stderr
    assert "NoNewPrivilege" in out and "celeri" in out


def test_privileges_per_process(staged):
    caps = {u: unit(staged, u)["Service"].get("CapabilityBoundingSet") for u in UNITS}
    assert caps == {"fulcrum-web": "CAP_NET_BIND_SERVICE", "fulcrum-worker": "CAP_NET_ADMIN CAP_NET_RAW",
                    "fulcrum-keepalived": "CAP_NET_ADMIN CAP_NET_RAW",
                    "fulcrum-healthcheckd": "CAP_NET_ADMIN CAP_NET_RAW", "fulcrum-tasks": "", "fulcrum-beat": ""}
    for u in UNITS:
        svc = unit(staged, u)["Service"]
        assert svc["User"] == "fulcrum" and svc["NoNewPrivileges"] == "yes", u
        assert svc.get("AmbientCapabilities", "") == caps[u], u
        text = (staged["units"] / f"{u}.service").read_text()
        assert not any(p in text for p in ("@PREFIX@", "@ETC@", "@DATA@")), u
        assert str(staged["prefix"]) + "/venv/bin/" in text, u


def test_the_kernel_queue_has_one_privileged_worker_and_keepalived_its_own_unit(staged):
    worker, tasks = unit(staged, "fulcrum-worker")["Service"], unit(staged, "fulcrum-tasks")["Service"]
    assert " -Q kernel " in worker["ExecStart"] and " -Q celery " in tasks["ExecStart"]
    keepalived = unit(staged, "fulcrum-keepalived")["Service"]
    assert keepalived["ExecStart"].endswith("/venv/bin/python manage.py keepalived")
    assert keepalived["Restart"] == "always" and keepalived["KillMode"] == "mixed"
    assert "keepalived.pid" in keepalived["ExecReload"]
    # no other unit starts keepalived (the worker only writes its configuration and reloads it)
    for u in set(UNITS) - {"fulcrum-keepalived"}:
        assert "keepalived" not in unit(staged, u)["Service"]["ExecStart"], u


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_gunicorn_serves_https_with_hsts_and_secure_cookies(staged, tmp_path):
    port = _free_port()
    env = {**os.environ, "FULCRUM_HTTPS": "1", "FULCRUM_LISTEN": f"127.0.0.1:{port}", "FULCRUM_WEB_WORKERS": "1",
           "FULCRUM_TLS_DIR": str(staged["dest"] / "etc/fulcrum/tls"), "FULCRUM_DATA_DIR": str(tmp_path),
           "FULCRUM_CELERY_EAGER": "1", "DJANGO_SECRET_KEY": "x" * 50}
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True,
                   timeout=120)
    gunicorn = subprocess.Popen([str(ROOT / ".venv/bin/gunicorn"), "appliance.wsgi", "--config",
                                 str(ROOT / "deploy/gunicorn.conf.py")], cwd=ROOT, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    ctx = ssl.create_default_context(cafile=str(staged["dest"] / "etc/fulcrum/tls/cert.pem"))
    ctx.check_hostname = False  # the certificate names lb1.example.net; we connect to 127.0.0.1
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                res = urllib.request.urlopen(f"https://127.0.0.1:{port}/login/", context=ctx, timeout=5)
                break
            except OSError:
                assert gunicorn.poll() is None and time.monotonic() < deadline, gunicorn.stdout.read().decode()
                time.sleep(0.3)
        assert res.status == 200
        assert res.headers["Strict-Transport-Security"].startswith("max-age=31536000")
        cookies = res.headers.get_all("Set-Cookie")
        assert cookies and all("Secure" in c for c in cookies), cookies
    finally:
        gunicorn.terminate()
        gunicorn.wait(10)


def test_compose_file_passes_docker_compose_config():
    tool = need("docker-compose")
    env = {**os.environ, "DJANGO_SECRET_KEY": "compose-check"}
    res = subprocess.run([tool, "-f", str(ROOT / "docker-compose.yml"), "config", "-q"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr


def test_network_and_system_setting_units(staged):
    """Boot re-applies the saved network and kernel state before the services; saving system settings
    starts the root writer."""
    paths = [str(staged["units"] / n) for n in ("fulcrum-network.service", "fulcrum-system.service",
                                                "fulcrum-system.path", "fulcrum-control.service",
                                                "fulcrum-control.path")]
    res = subprocess.run([need("systemd-analyze"), "verify", *paths], capture_output=True, text=True, timeout=60)
    ours = [line for line in (res.stdout + res.stderr).splitlines() if "fulcrum-" in line]
    assert res.returncode == 0 and not ours, "\n".join(ours) or res.stderr
    net = unit(staged, "fulcrum-network")
    assert {"fulcrum-worker.service", "fulcrum-web.service"} <= set(net["Unit"]["Before"].split())
    assert net["Service"]["User"] == "fulcrum"
    assert net["Service"]["CapabilityBoundingSet"] == "CAP_NET_ADMIN CAP_NET_RAW"  # iptables-legacy: a raw socket
    assert "manage.py network_boot" in net["Service"]["ExecStart"]
    path = (staged["units"] / "fulcrum-system.path").read_text()
    assert "PathChanged=/var/lib/fulcrum/system-apply.request" in path or "system-apply.request" in path
