"""Files that hold secrets (the SQLite database with password hashes, session keys and the RADIUS secret;
the generated secret key; keepalived's notify environment) are 0600 in a 0700 directory, whichever way the
appliance is started (scripts/run, systemd, docker) and whatever the umask.

No Django: settings.py uses these before Django is configured.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def private_dir(path: Path) -> Path:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(PermissionError):  # not ours (a packaged, read-only layout): leave it
        os.chmod(path, 0o700)
    return path


def make_private(*paths: Path) -> None:
    """0600 for those of `paths` that exist (an existing install's 0644 database, its -wal and -shm)."""
    for path in paths:
        with contextlib.suppress(FileNotFoundError, PermissionError):
            os.chmod(path, 0o600)


def create_private(path: Path) -> None:
    """An empty 0600 file unless one exists (SQLite takes an empty file as a new database)."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    make_private(path)


def _private_temp(path: Path, text: str) -> Path:
    """A 0600 file beside `path` holding `text`, under a name no other process uses (mkstemp): two
    processes starting at once on one data directory (web and keepalived supervisor) must not share it."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    return Path(tmp)


def write_private(path: Path, text: str) -> None:
    """Atomically, and 0600 from the first byte."""
    tmp = _private_temp(path, text)
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def read_or_create_private(path: Path, text: str) -> str:
    """The file's text; if there is no file yet, `text` becomes it. The first process to link its file in
    wins and every other one reads the winner's, so processes started together agree (one secret key)."""
    tmp = _private_temp(path, text)
    try:
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    make_private(path)
    return path.read_text()
