"""The environment is read in one place, and docs/SETTINGS.md lists every variable, each one read somewhere."""

from __future__ import annotations

import ast
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NAME = re.compile(r"(?<![A-Za-z0-9_])(?:FULCRUM_[A-Z0-9_]*[A-Z0-9]|DATABASE_URL|REDIS_URL|DJANGO_SECRET_KEY)\b")
# Django settings named like variables, not variables; "FULCRUM_SMTP_*" written as a family.
NOT_VARIABLES = {"FULCRUM_RETENTION_DAYS", "FULCRUM_SMTP"}
# Modules that read the environment: settings and what it calls while loading, the processes that start before
# Django's settings exist (DJANGO_SETTINGS_MODULE defaults, keepalived's notify wrapper, gunicorn's config).
READS_ENVIRONMENT = {"appliance/settings.py", "appliance/hosts.py", "operations/conf.py", "appliance/logs.py",
                     "appliance/celery.py", "appliance/wsgi.py", "manage.py", "ha/notifyenv.py",
                     "deploy/gunicorn.conf.py"}
TOOLING = ("tests/", "bench/", "ansible/", "docs/")


def tracked() -> list[str]:
    return subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()


def documented() -> set[str]:
    text = (ROOT / "docs" / "SETTINGS.md").read_text()
    rows = [line.split("|")[1] for line in text.splitlines() if line.startswith("| `")]
    return {name for row in rows for name in NAME.findall(row)}


def test_every_variable_in_the_code_is_documented_and_every_documented_one_is_read():
    used: dict[str, set[str]] = {}
    for path in tracked():
        if path.endswith((".md", ".lock")) or "/migrations/" in path or path.startswith("docs/"):
            continue
        try:
            text = (ROOT / path).read_text()
        except (UnicodeDecodeError, FileNotFoundError, IsADirectoryError):
            continue
        for name in set(NAME.findall(text)) - NOT_VARIABLES:
            used.setdefault(name, set()).add(path)
    listed = documented()
    assert not set(used) - listed, {n: sorted(used[n]) for n in set(used) - listed}
    assert not listed - set(used), f"documented but read nowhere: {sorted(listed - set(used))}"


def _reads_environment(tree: ast.AST) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv") and \
                isinstance(node.value, ast.Name) and node.value.id == "os":
            return True
    return False


def test_only_the_settings_modules_read_the_environment():
    readers = set()
    for path in tracked():
        if not path.endswith(".py") or path.startswith(TOOLING) or "/migrations/" in path:
            continue
        if _reads_environment(ast.parse((ROOT / path).read_text(), path)):
            readers.add(path)
    assert readers <= READS_ENVIRONMENT, sorted(readers - READS_ENVIRONMENT)
