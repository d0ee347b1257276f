"""No apply run is left hanging, with real processes: a test-owned redis-server on its own port, the web
process (runserver) and the privileged Celery worker (-Q kernel), render-only.

- kill -9 of the worker mid-apply: the run ends "failed" (worker lost), the lock is free, and the next
  apply, by a new worker, succeeds and leaves nothing pending.
- Redis stopped: Apply answers 503 with a clear JSON message at once, the run is failed with that
  reason, the change stays pending; Redis back: applies work again.

The worker's apply is slowed by a wrapper that sleeps in the render-only driver's apply (the worker
itself, Celery, Redis and the database are real), so the kill lands while the run is "running".
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error

import pytest

from tests.ha.conftest import ROOT, PeerAppliance, free_port

V1 = "/api/v1"
SLOW_WORKER = """
import sys, time
import dataplane.kernel as kernel
_apply = kernel.RenderOnlyDriver.apply
def slow_apply(self, ops):
    time.sleep(SLOW)
    return _apply(self, ops)
kernel.RenderOnlyDriver.apply = slow_apply
from celery.__main__ import main
sys.argv = ["celery", "-A", "appliance", "worker", "-Q", "kernel", "-n", "kernel@%h", "-l", "warning",
            "--concurrency", "1", "--without-gossip", "--without-mingle", "--without-heartbeat"]
main()
"""


class RedisServer:
    def __init__(self, tmp):
        self.port, self.tmp, self.proc = free_port(), tmp, None

    def start(self):
        self.proc = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no", "--dir", str(self.tmp)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if subprocess.run(["redis-cli", "-p", str(self.port), "ping"], capture_output=True, text=True,
                              ).stdout.strip() == "PONG":
                return
            time.sleep(0.1)
        raise RuntimeError("redis-server did not start")

    def stop(self):
        if self.proc:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None


class Appliance(PeerAppliance):
    """Web process on Redis (not embedded), plus a kernel worker this test starts and kills."""

    def __init__(self, data_dir, redis_port):
        super().__init__(data_dir)
        self.env.update(FULCRUM_CELERY_EAGER="0", REDIS_URL=f"redis://127.0.0.1:{redis_port}/0")
        self.worker = None

    def start_worker(self, slow: float = 0.0):
        log = open(self.data_dir / "worker.log", "ab")
        self.worker = subprocess.Popen([sys.executable, "-c", SLOW_WORKER.replace("SLOW", repr(slow))], cwd=ROOT,
                                       env=self.env, stdout=log, stderr=log, start_new_session=True)
        log.close()

    def kill_worker(self):
        # The whole worker, as a crash of the unit or the OOM killer of its cgroup: Celery's parent and its
        # pool child, which runs the apply (killing only the parent leaves the child applying, lock held).
        os.killpg(self.worker.pid, signal.SIGKILL)
        self.worker.wait(10)
        self.worker = None

    def stop(self):
        if self.worker:
            self.worker.terminate()
            self.worker.wait(20)
        super().stop()

    def call(self, method, path, body=None) -> tuple[int, dict]:
        try:
            return 200, self.request(method, path, body)
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")

    def wait_run(self, run_id: int, statuses: set[str], seconds: float = 60) -> dict:
        deadline = time.monotonic() + seconds
        while True:
            run = self.get(f"{V1}/apply/runs/{run_id}/")
            if run["status"] in statuses or time.monotonic() > deadline:
                return run
            time.sleep(0.2)


@pytest.fixture
def appliance(tmp_path):
    redis = RedisServer(tmp_path)
    redis.start()
    app = Appliance(tmp_path / "app", redis.port)
    app.data_dir.mkdir()
    app.redis = redis
    app.start()
    yield app
    app.stop()
    redis.stop()
    if app.worker is None and (app.data_dir / "worker.log").exists():
        print((app.data_dir / "worker.log").read_text()[-2000:])


def test_worker_killed_mid_apply_fails_the_run_and_the_next_apply_repairs(appliance):
    appliance.request("POST", f"{V1}/virtual-services/", {"label": "web", "vip": "192.0.2.10", "ports": "80"})
    appliance.start_worker(slow=60)
    run = appliance.request("POST", f"{V1}/apply/")
    running = appliance.wait_run(run["id"], {"running", "success", "failed"})
    assert running["status"] == "running", running

    appliance.kill_worker()
    # Reading the status sweeps: once the pool child has exited too, its lock is free and the run lost.
    deadline = time.monotonic() + 10
    while (status := appliance.get(f"{V1}/apply/"))["running"] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert status["running"] is None
    assert status["pending_changes"] is True
    lost = appliance.get(f"{V1}/apply/runs/{run['id']}/")
    assert lost["status"] == "failed" and lost["error"].startswith("worker lost"), lost
    assert lost["finished_at"]

    appliance.start_worker()
    again = appliance.request("POST", f"{V1}/apply/")
    done = appliance.wait_run(again["id"], {"success", "failed"})
    assert done["status"] == "success", done
    assert done["operation_count"] > 0
    status = appliance.get(f"{V1}/apply/")
    assert status["pending_changes"] is False and status["running"] is None
    assert "192.0.2.10:80" in appliance.get(f"{V1}/apply/rendered/")["text"]


def test_redis_down_apply_answers_503_keeps_the_change_and_recovers(appliance):
    appliance.start_worker()
    appliance.request("POST", f"{V1}/virtual-services/", {"label": "web", "vip": "192.0.2.20", "ports": "443"})
    appliance.redis.stop()

    started = time.monotonic()
    code, body = appliance.call("POST", f"{V1}/apply/")
    elapsed = time.monotonic() - started
    assert code == 503, body
    assert elapsed < 6, f"the 503 took {elapsed:.1f} s"
    assert "Redis" in body["detail"] and "still pending" in body["detail"]
    runs = appliance.get(f"{V1}/apply/runs/")["results"]
    assert runs[0]["status"] == "failed" and "Redis" in runs[0]["error"]
    status = appliance.get(f"{V1}/apply/")
    assert status["pending_changes"] is True and status["running"] is None
    assert [s["label"] for s in appliance.get(f"{V1}/virtual-services/")["results"]] == ["web"]

    appliance.redis.start()  # same port: the web process and the worker reconnect
    deadline = time.monotonic() + 60
    while True:
        code, run = appliance.call("POST", f"{V1}/apply/")
        if code != 503 or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert code == 200, run  # the client's helper reports any 2xx as 200
    done = appliance.wait_run(run["id"], {"success", "failed"})
    assert done["status"] == "success", done
    assert appliance.get(f"{V1}/apply/")["pending_changes"] is False
