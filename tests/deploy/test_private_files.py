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
