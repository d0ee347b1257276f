"""External script from one fixed directory, run without a shell, with a timeout.

Called as ``SCRIPT VIP VIP_PORT RIP RIP_PORT`` (empty strings where a port is not set); exit
status 0 means healthy. The first line of its output is the reason shown when it fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from pathlib import Path

from healthchecks.checks import CheckFailed, CheckSpec, Context

ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}


def script_path(spec: CheckSpec) -> Path:
    name = spec.script
    if not name or "/" in name or name in (".", "..") or name.startswith("."):
        raise CheckFailed(f"invalid script name {name!r}")
    if not spec.script_dir:
        raise CheckFailed("no scripts directory configured")
    path = Path(spec.script_dir) / name
    if not path.is_file():
        raise CheckFailed(f"script {name} not found in {spec.script_dir}")
    if not os.access(path, os.X_OK):
        raise CheckFailed(f"script {name} is not executable")
    return path


async def check(spec: CheckSpec, ctx: Context) -> str:
    path = script_path(spec)
    argv = [str(path), spec.vip, str(spec.vip_port or ""), spec.address, str(spec.port or "")]
    ctx.phase = "script"
    proc = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT, env=ENV, cwd=spec.script_dir, start_new_session=True)
    try:
        out, _ = await proc.communicate()
    except BaseException:  # timeout or cancellation: the script and its children go
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(Exception):
            await asyncio.shield(proc.wait())
        raise
    first = (out or b"").decode("utf-8", "replace").strip().splitlines()
    line = first[0][:200] if first else ""
    if proc.returncode != 0:
        raise CheckFailed(f"script {path.name} exited {proc.returncode}" + (f": {line}" if line else ""))
    return line or f"script {path.name} exited 0"
