"""docker-compose.yml: every process is there, and privileges go only where the kernel is touched."""

from pathlib import Path

import yaml

COMPOSE = yaml.safe_load((Path(__file__).resolve().parents[2] / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
KERNEL_TOUCHING = {"worker", "keepalived", "healthcheckd", "network-boot"}


def test_every_process_has_a_service():
    assert {"web", "worker", "tasks", "beat", "keepalived", "healthcheckd", "redis", "postgres"} <= set(SERVICES)


def test_only_kernel_touching_processes_get_host_network_and_net_admin():
    for name, svc in SERVICES.items():
        privileged = svc.get("network_mode") == "host" or "NET_ADMIN" in svc.get("cap_add", [])
        assert privileged == (name in KERNEL_TOUCHING), name


def test_fulcrum_processes_restart_and_web_is_checked():
    for name in ("web", "worker", "tasks", "beat", "keepalived", "healthcheckd"):
        assert SERVICES[name]["restart"] == "unless-stopped"
    assert "healthcheck" in SERVICES["web"]


def _queue(name: str) -> str:
    command = SERVICES[name]["command"]
    return command[command.index("-Q") + 1]


def test_kernel_queue_only_in_the_privileged_worker_and_keepalived_apart():
    assert (_queue("worker"), _queue("tasks")) == ("kernel", "celery")
    assert SERVICES["keepalived"]["command"] == ["python", "manage.py", "keepalived"]
    assert "keepalived" not in " ".join(SERVICES["worker"]["command"])
    # the worker reloads keepalived by pid (SIGHUP): it must see keepalived's processes
    assert SERVICES["worker"]["pid"] == "service:keepalived"


def test_static_files_are_served_without_debug_or_cdn(client, settings):
    """gunicorn has no static server in front: WhiteNoise serves the WebUI's assets itself."""
    settings.DEBUG = False
    response = client.get("/static/frontend/fulcrum.css")
    assert response.status_code == 200
    assert b"".join(response.streaming_content if response.streaming else [response.content])
