"""keepalived under its own supervisor, with the real keepalived binary (a configuration without VRRP
instances, so it touches no address): the worker's side only writes and reloads; the supervisor
starts it, restarts it when it dies, and stops it when the configuration is removed or on stop."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from ha import keepalived
from ha.keepalived_service import supervise

IDLE = "global_defs {\n    router_id fulcrum-test\n}\n"


@pytest.fixture
def data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    return tmp_path


def _wait(check, seconds: float = 10):
    deadline = time.monotonic() + seconds
    while not (value := check()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
    return value


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (exited, not yet reaped by the supervisor) counts as gone
    with open(f"/proc/{pid}/stat") as fh:
        return fh.read().rsplit(")", 1)[1].split()[0] != "Z"


def test_the_worker_writes_and_reloads_but_never_starts_keepalived(data_dir):
    assert keepalived.write_and_reload(IDLE) == "written"
    time.sleep(0.5)
    assert keepalived.main_pid() is None  # nobody started it: that is the supervisor's job


def test_supervisor_starts_restarts_reloads_and_stops_keepalived(data_dir):
    stop = threading.Event()
    thread = threading.Thread(target=supervise, args=(stop,), kwargs={"poll": 0.05, "pause": 0.2}, daemon=True)
    thread.start()
    try:
        time.sleep(0.3)
        assert keepalived.main_pid() is None  # no configuration yet: waiting, not running

        assert keepalived.write_and_reload(IDLE) == "written"
        first = _wait(keepalived.main_pid)
        assert keepalived.write_and_reload(IDLE.replace("fulcrum-test", "fulcrum-2")) == "reloaded"
        assert keepalived.write_and_reload(IDLE.replace("fulcrum-test", "fulcrum-2")) == "unchanged"
        time.sleep(0.3)
        assert keepalived.main_pid() == first  # a reload, not a restart

        os.kill(first, signal.SIGKILL)  # keepalived dies: its supervisor starts it again
        second = _wait(lambda: (pid := keepalived.main_pid()) not in (None, first) and pid)
        assert _alive(second)

        assert keepalived.stop() is True  # unpaired: configuration removed, keepalived stopped for good
        _wait(lambda: not _alive(second))
        time.sleep(0.5)
        assert keepalived.main_pid() is None and not keepalived.conf_path().exists()

        keepalived.write_and_reload(IDLE)
        third = _wait(keepalived.main_pid)
    finally:
        stop.set()
        thread.join(15)
    assert not thread.is_alive()
    assert not _alive(third)  # the supervisor stops its keepalived when it is stopped
