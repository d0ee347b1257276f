"""Secrets on disk: the data directory is 0700 and the SQLite database, its WAL files and the generated
secret key are 0600, however the appliance is started and whatever the umask — also for an install made
before this rule (var/ 0755, the database 0644)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _start(data_dir: Path, *command: str):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DJANGO_SECRET_KEY")}
    env.update(FULCRUM_DATA_DIR=str(data_dir), DJANGO_SETTINGS_MODULE="appliance.settings")
    subprocess.run(["/bin/sh", "-c", 'umask 022; exec "$@"', "sh", sys.executable, "manage.py", *command],
                   cwd=ROOT, env=env, check=True, capture_output=True, timeout=120)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_fresh_data_directory_is_private(tmp_path):
    data = tmp_path / "var"
    _start(data, "migrate", "-v0")
    assert _mode(data) == 0o700
    assert _mode(data / "secret_key") == 0o600
    assert _mode(data / "fulcrum.sqlite3") == 0o600
    for extra in ("fulcrum.sqlite3-wal", "fulcrum.sqlite3-shm"):
        if (data / extra).exists():
            assert _mode(data / extra) == 0o600


def test_an_existing_world_readable_install_is_made_private(tmp_path):
    data = tmp_path / "var"
    _start(data, "migrate", "-v0")
    os.chmod(data, 0o755)
    os.chmod(data / "fulcrum.sqlite3", 0o644)
    os.chmod(data / "secret_key", 0o644)
    _start(data, "check")
    assert _mode(data) == 0o700
    assert _mode(data / "fulcrum.sqlite3") == 0o600 and _mode(data / "secret_key") == 0o600


def test_processes_starting_together_on_a_fresh_directory_agree_on_one_secret_key(tmp_path):
    """The web process and the keepalived supervisor start at once on one data directory (the HA lab, a
    boot): neither may fail on the other's half-written key file, and both must sign with the same key."""
    data = tmp_path / "var"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DJANGO_SECRET_KEY")}
    env.update(FULCRUM_DATA_DIR=str(data), DJANGO_SETTINGS_MODULE="appliance.settings")
    code = "import django; django.setup(); from django.conf import settings; print(settings.SECRET_KEY)"
    procs = [subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(8)]
    results = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * 8, [err for _, err in results]
    keys = {out.strip() for out, _ in results}
    assert keys == {(data / "secret_key").read_text().strip()}
    assert _mode(data / "secret_key") == 0o600
    assert not [p.name for p in data.iterdir() if p.name.endswith(".tmp")]


def test_many_threads_creating_one_private_file_all_read_the_winners_text(tmp_path):
    import threading

    from appliance.privatefiles import read_or_create_private

    for round_ in range(20):
        path = tmp_path / f"key{round_}"
        barrier, seen, errors = threading.Barrier(12), [], []

        def create(text, path=path, barrier=barrier, seen=seen, errors=errors):
            barrier.wait()
            try:
                seen.append(read_or_create_private(path, text))
            except Exception as exc:  # noqa: BLE001 - the test reports every failure
                errors.append(exc)

        threads = [threading.Thread(target=create, args=(f"text-{i}",)) for i in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        assert len(set(seen)) == 1 and seen[0] == path.read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"key{i}" for i in range(20))
