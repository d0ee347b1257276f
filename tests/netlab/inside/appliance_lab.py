"""One whole Fulcrum appliance inside the kernel-lab guest (guest side only).

The guest's root namespace is the load balancer. Started here, all on 127.0.0.1:

* ``redis-server`` (the Celery broker), with its data in the run's directory;
* the web process: ``manage.py runserver`` NOT eager (``FULCRUM_CELERY_EAGER=0``), so
  ``POST /api/v1/apply/`` queues the apply in Redis;
* the worker: ``celery -A appliance worker -P solo``, which runs the apply against the
  guest's real kernel (``FULCRUM_DATAPLANE=kernel``).

All three share one fresh SQLite file under a temporary ``FULCRUM_DATA_DIR``. The test
process itself is pointed at the same database (``use_database``) so a test can compile
the desired state from it, or run ``cluster.apply.apply_now()`` in-process.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
PORT = 8000
REDIS_PORT = 6379
ADMIN = "admin"
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def wait_for(check, seconds: float, what: str, every: float = 0.05):
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds}s waiting for {what}")
        time.sleep(every)


def _redis_pong(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def server_env(data_dir: Path) -> dict[str, str]:
    env = {**os.environ, "FULCRUM_DATA_DIR": str(data_dir), "FULCRUM_DATAPLANE": "kernel",
           "FULCRUM_CELERY_EAGER": "0", "REDIS_URL": f"redis://127.0.0.1:{REDIS_PORT}/0",
           "DJANGO_SETTINGS_MODULE": "appliance.settings", "FULCRUM_LOG_LEVEL": "INFO",
           "PYTHONUNBUFFERED": "1"}
    env.pop("DATABASE_URL", None)
    return env


def use_database(data_dir: Path) -> None:
    """Point this process's Django at the appliance's SQLite file (and data directory).

    Works whether or not pytest-django already set Django up (it does when the host ran
    pytest with the django plugin; it then read the default data directory at import).
    """
    os.environ.update({"FULCRUM_DATA_DIR": str(data_dir), "FULCRUM_DATAPLANE": "kernel",
                       "FULCRUM_CELERY_EAGER": "0", "REDIS_URL": f"redis://127.0.0.1:{REDIS_PORT}/0"})
    os.environ.pop("DATABASE_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "appliance.settings")
    import django
    from django.conf import settings

    if not settings.configured:
        django.setup()  # reads the environment set above
        return
    import dj_database_url
    from django.db import connections

    connections.close_all()
    fresh = dj_database_url.parse(f"sqlite:///{data_dir / 'fulcrum.sqlite3'}")
    db = settings.DATABASES["default"]  # the very dict every connection reads: change it in place
    db.update(ENGINE=fresh["ENGINE"], NAME=fresh["NAME"], USER="", PASSWORD="", HOST="", PORT="",
              OPTIONS={"init_command": "PRAGMA journal_mode=WAL;", "transaction_mode": "IMMEDIATE"})
    settings.DATA_DIR = data_dir
    settings.FULCRUM_DATAPLANE = "kernel"
    settings.CELERY_TASK_ALWAYS_EAGER = False
    from cluster.mode import dataplane_mode

    dataplane_mode.cache_clear()


@dataclass
class Appliance:
    data_dir: Path
    key: str = ""
    bind: str = "127.0.0.1"  # where runserver listens ("0.0.0.0": reachable from the lab's namespaces)
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)

    # --- processes

    def _spawn(self, name: str, argv: list[str], **env: str) -> subprocess.Popen:
        log = open(self.data_dir / f"{name}.log", "ab")
        try:
            p = subprocess.Popen(argv, cwd=ROOT, env={**server_env(self.data_dir), **env}, stdout=log, stderr=log)
        finally:
            log.close()
        self.procs[name] = p
        return p

    def start_redis(self) -> None:
        d = self.data_dir / "redis"
        d.mkdir(exist_ok=True)
        self._spawn("redis", ["redis-server", "--bind", "127.0.0.1", "--port", str(REDIS_PORT), "--save", "",
                              "--appendonly", "no", "--dir", str(d)])
        wait_for(lambda: _redis_pong(REDIS_PORT), 30, "redis-server to answer PING")

    def migrate_and_admin(self) -> None:
        """Migrate the fresh database and create an admin with an API token (in this process)."""
        from django.contrib.auth import get_user_model
        from django.core.management import call_command

        from accounts.models import ApiToken, Profile

        call_command("migrate", verbosity=0)
        user = get_user_model().objects.create_user(ADMIN, password="lab-password-123")
        Profile.objects.create(user=user, role="admin")
        self.key = ApiToken.issue(user, "netlab")[1]

    def start_web(self) -> None:
        # FULCRUM_LISTEN: the Host names the web process accepts follow where it listens (appliance/hosts.py).
        self._spawn("web", [sys.executable, "manage.py", "runserver", f"{self.bind}:{PORT}", "--noreload"],
                    FULCRUM_LISTEN=f"{self.bind}:{PORT}")
        wait_for(self._web_alive, 90, "the web process (runserver)", every=0.2)

    def start_worker(self) -> None:
        celery = str(Path(sys.executable).with_name("celery"))
        # One worker plays both parts here (the lab runs as root): the privileged "kernel" queue and the
        # default queue of the unprivileged tasks.
        self._spawn("worker", [celery, "-A", "appliance", "worker", "-P", "solo", "-l", "info", "-Q", "kernel,celery",
                               "--without-gossip", "--without-mingle", "--without-heartbeat"])

    def _web_alive(self) -> bool:
        if self.procs["web"].poll() is not None:
            raise AssertionError(f"runserver exited:\n{self.log('web')}")
        try:
            return self.request("GET", "/api/v1/apply/")[0] == 200
        except OSError:
            return False

    def stop(self) -> None:
        for name in ("worker", "web", "redis"):
            p = self.procs.pop(name, None)
            if p is None:
                continue
            p.terminate()
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)

    def log(self, name: str, tail: int = 4000) -> str:
        try:
            return (self.data_dir / f"{name}.log").read_text(errors="replace")[-tail:]
        except OSError:
            return ""

    # --- HTTP

    def request(self, method: str, path: str, body=None, timeout: float = 60,
                host: str = "127.0.0.1") -> tuple[int, object]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"http://{host}:{PORT}{path}", data=data, method=method,
                                     headers={"Authorization": f"Bearer {self.key}",
                                              "Content-Type": "application/json", "Accept": "application/json"})
        try:
            with _opener.open(req, timeout=timeout) as resp:
                raw = resp.read()
                return resp.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as err:
            raw = err.read()
            try:
                payload = json.loads(raw) if raw else None
            except ValueError:
                payload = raw.decode(errors="replace")[:2000]
            return err.code, payload

    def ok(self, method: str, path: str, body=None, expect: tuple[int, ...] = (200, 201, 202, 204)):
        code, payload = self.request(method, path, body)
        assert code in expect, f"{method} {path} {body!r} -> {code}: {payload}"
        return payload

    def get(self, path: str):
        return self.ok("GET", path)

    def apply(self, timeout: float = 120) -> dict:
        """POST /api/v1/apply/ and poll the run until it ends; the run must succeed."""
        run = self.ok("POST", "/api/v1/apply/", expect=(202,))
        assert run["status"] in ("queued", "running", "success"), run

        def finished():
            r = self.get(f"/api/v1/apply/runs/{run['id']}/")
            return r if r["status"] in ("success", "failed") else None

        try:
            done = wait_for(finished, timeout, f"apply run #{run['id']}", every=0.1)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n--- worker log\n{self.log('worker')}") from None
        assert done["status"] == "success", f"apply failed: {done['error']}\n{self.log('worker')}"
        return done


def worker_idle(seconds: float = 600.0, checklists: bool = True) -> float:
    """Wait (bounded) until the appliance's one solo worker has no apply (and, with ``checklists``,
    no checklist run) queued or running: checklists re-run after each of its applies, and a
    kernel.runtime task would queue behind them. Returns the seconds waited."""
    from checklists.models import CheckRun
    from cluster.models import ApplyRun

    t0 = time.monotonic()
    while ((checklists and CheckRun.objects.filter(status__in=[CheckRun.QUEUED, CheckRun.RUNNING]).exists())
           or ApplyRun.objects.filter(status__in=[ApplyRun.QUEUED, ApplyRun.RUNNING]).exists()):
        if time.monotonic() - t0 > seconds:
            raise AssertionError(f"the worker was still busy after {seconds} s")
        time.sleep(0.1)
    return time.monotonic() - t0


def start(data_dir: Path, bind: str = "127.0.0.1") -> Appliance:
    """Redis, the database, the web process and the worker, in that order."""
    data_dir.mkdir(parents=True, exist_ok=True)
    use_database(data_dir)
    app = Appliance(data_dir, bind=bind)
    try:
        app.start_redis()
        app.migrate_and_admin()
        app.start_worker()
        app.start_web()
    except BaseException:
        app.stop()
        raise
    return app


# --- the kernel, read back with the C tools -------------------------------------------------


class Shell:
    """One long-lived ``sh`` that runs the C tools for us.

    In the guest, starting a program from this (large) Python process costs ~0.1 s; from a small
    shell much less. ``run(*commands)`` returns each command's stdout; a failing command raises.
    """

    def __init__(self):
        self.proc = subprocess.Popen(["sh"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True, bufsize=1)
        self.n = 0

    def run(self, *commands: str) -> list[str]:
        self.n += 1
        marker = f"--fulcrum-end-{os.getpid()}-{self.n}--"
        script = "".join(f"{cmd}\necho {marker} $?\n" for cmd in commands)
        self.proc.stdin.write(script)
        self.proc.stdin.flush()
        outputs = []
        for cmd in commands:
            lines = []
            while True:
                line = self.proc.stdout.readline()
                if not line:
                    raise RuntimeError(f"the shell ended while running {cmd!r}")
                if line.startswith(marker):
                    rc = int(line.split()[-1])
                    break
                lines.append(line)
            if rc != 0:
                raise RuntimeError(f"{cmd!r} failed with exit status {rc}")
            outputs.append("".join(lines))
        return outputs

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(10)



def sh(*argv: str) -> str:
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout


def ipvsadm_save() -> list[str]:
    return sh("ipvsadm", "-S", "-n").splitlines()


def iptables_save(family: int = 4) -> list[str]:
    return sh("iptables-legacy-save" if family == 4 else "ip6tables-legacy-save").splitlines()


def ours(lines: list[str]) -> list[str]:
    return [x for x in lines if "FULCRUM" in x]


def db_blocker(request):
    """pytest-django's database blocker when the django plugin runs in the guest (None otherwise): a
    module that shares the appliance's database unblocks it for its whole life."""
    if not request.config.pluginmanager.has_plugin("django"):
        return None
    return request.getfixturevalue("django_db_blocker")
