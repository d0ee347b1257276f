"""Structured log lines to stdout and, optionally, to a remote syslog server over UDP.

FULCRUM_LOG_FORMAT   kv (default: key=value) or json
FULCRUM_LOG_LEVEL    INFO by default
FULCRUM_SYSLOG       host:port (UDP) of a remote syslog server; unset: stdout only. The targets stored in
                     Local Configuration › System settings replace it when set (re-read every 30 s).
FULCRUM_SYSLOG_FACILITY  local0 by default
FULCRUM_STORED_SYSLOG    1 (default): read the stored targets; 0: only FULCRUM_SYSLOG (the test suite)

appliance/settings.py sets ``LOGGING = logging_config()``. This module is imported by the
settings, so it imports nothing from Django apps.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import socket
import threading
import time
from logging.handlers import SysLogHandler

# LogRecord attributes that are not extra fields passed by the caller.
_STANDARD = set(vars(logging.LogRecord("x", 0, "x", 0, "", (), None))) | {"message", "asctime", "taskName"}


def _extras(record: logging.LogRecord) -> dict:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}


def _kv_value(value) -> str:
    text = str(value)
    if text == "" or any(c in text for c in ' "=\n\t'):
        return json.dumps(text, ensure_ascii=False)
    return text


def _timestamp(record: logging.LogRecord) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"


class KeyValueFormatter(logging.Formatter):
    """ts=… level=… logger=… msg="…" [extra=…] [exc="…"] on one line."""

    def __init__(self, *args, with_time: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.with_time = with_time

    def fields(self, record: logging.LogRecord) -> dict:
        out = {"ts": _timestamp(record)} if self.with_time else {}
        out.update(level=record.levelname, logger=record.name, msg=record.getMessage())
        out.update(_extras(record))
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return out

    def format(self, record: logging.LogRecord) -> str:
        return " ".join(f"{k}={_kv_value(v)}" for k, v in self.fields(record).items())


class JsonFormatter(KeyValueFormatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(self.fields(record), default=str, ensure_ascii=False)


class SyslogFormatter(KeyValueFormatter):
    """RFC 3164 tag ("fulcrum[pid]: ") before the structured line; syslog stamps the time."""

    def __init__(self, *args, json_lines: bool = False, **kwargs):
        super().__init__(*args, with_time=False, **kwargs)
        self.json_lines = json_lines

    def format(self, record: logging.LogRecord) -> str:
        fields = self.fields(record)
        body = json.dumps(fields, default=str) if self.json_lines else " ".join(
            f"{k}={_kv_value(v)}" for k, v in fields.items())
        return f"fulcrum[{record.process}]: {body}"


def parse_hostport(value: str, default_port: int = 514) -> tuple[str, int]:
    value = value.strip()
    if value.startswith("["):  # [v6]:port
        host, _, rest = value[1:].partition("]")
        return host, int(rest.lstrip(":") or default_port)
    if value.count(":") == 1:
        host, port = value.split(":")
        return host, int(port)
    return value, default_port  # a bare host or a bare IPv6 address


class RemoteSyslogHandler(logging.Handler):
    """UDP syslog to the targets stored in the database, else to the environment's default target.

    Reading the database inside emit() could recurse (the query logs) or run in an event loop
    (healthcheckd), so a daemon thread re-reads the targets every ``refresh`` seconds and emit()
    only uses what it found. ``loader`` is "module:function" returning a list of "host:port".
    """

    def __init__(self, default: str = "", facility: str = "local0", loader: str = "", refresh: float = 30.0):
        super().__init__()
        self.default = [parse_hostport(default)] if default else []
        self.facility = SysLogHandler.facility_names.get(facility, SysLogHandler.LOG_LOCAL0)
        self.loader, self.refresh = loader, refresh
        self.stored: list[tuple[str, int]] | None = None
        self._thread: threading.Thread | None = None
        self._socks: dict[int, socket.socket] = {}

    def targets(self) -> list[tuple[str, int]]:
        return self.stored or self.default

    def load(self) -> None:
        """Read the stored targets now (the refresher does this; a test or a save may too)."""
        module, _, func = self.loader.partition(":")
        try:
            self.stored = [parse_hostport(t) for t in getattr(importlib.import_module(module), func)()]
        except Exception:  # noqa: BLE001 - no database yet (migrate, first boot): the default target serves
            self.stored = None

    def _refresh_loop(self) -> None:
        while True:
            self.load()
            time.sleep(self.refresh)

    def send_line(self, line: str, level: str = "INFO") -> list[str]:
        """Send one line to every target; returns the "host:port" it went to."""
        priority = self.encodePriority(level)
        data = f"<{priority}>{line}".encode()
        sent = []
        for host, port in self.targets():
            family, _, _, _, addr = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
            sock = self._socks.get(family) or self._socks.setdefault(family, socket.socket(family, socket.SOCK_DGRAM))
            sock.sendto(data, addr)
            sent.append(f"{host}:{port}")
        return sent

    def encodePriority(self, level: str) -> int:
        return SysLogHandler.encodePriority(SysLogHandler, self.facility,
                                            SysLogHandler.mapPriority(SysLogHandler, level))

    def emit(self, record: logging.LogRecord) -> None:
        if self.loader and self._thread is None:  # the first line a process logs starts its refresher
            self._thread = threading.Thread(target=self._refresh_loop, name="syslog-targets", daemon=True)
            self._thread.start()
        try:
            if self.targets():
                self.send_line(self.format(record), record.levelname)
        except Exception:  # noqa: BLE001 - logging must never raise
            self.handleError(record)


def remote_syslog_handler() -> RemoteSyslogHandler | None:
    """The running process's remote syslog handler (for "send test syslog line" and after a save)."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, RemoteSyslogHandler):
            return handler
    return None


def logging_config(env: dict | None = None) -> dict:
    env = os.environ if env is None else env
    fmt = env.get("FULCRUM_LOG_FORMAT", "kv").lower()
    level = env.get("FULCRUM_LOG_LEVEL", "INFO").upper()
    config = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "structured": {"()": JsonFormatter if fmt == "json" else KeyValueFormatter},
            "syslog": {"()": SyslogFormatter, "json_lines": fmt == "json"},
        },
        "handlers": {"stdout": {"class": "logging.StreamHandler", "stream": "ext://sys.stdout",
                                "formatter": "structured"}},
        "root": {"handlers": ["stdout"], "level": level},
        # axes: failures and lockouts (WARNING) are kept; its INFO line per login attempt is noise.
        # Beat's "Sending due task" and the worker's "Task … succeeded" would say so every 2 s for the
        # status publisher; task failures are still logged (ERROR).
        "loggers": {"django.request": {"level": "ERROR"}, "axes": {"level": "WARNING"},
                    "celery.beat": {"level": "WARNING"}, "celery.app.trace": {"level": "WARNING"}},
    }
    target = env.get("FULCRUM_SYSLOG", "").strip()
    # An explicit env without the switch follows the process's (the test suite turns it off there).
    switch = env.get("FULCRUM_STORED_SYSLOG", os.environ.get("FULCRUM_STORED_SYSLOG", "1"))
    stored = switch.lower() not in ("0", "false", "no", "off")
    if target or stored:
        config["handlers"]["syslog"] = {
            "()": RemoteSyslogHandler, "default": target,
            "facility": env.get("FULCRUM_SYSLOG_FACILITY", "local0").lower(),
            "loader": "netconfig.system:syslog_targets" if stored else "", "formatter": "syslog",
        }
        config["root"]["handlers"].append("syslog")
    return config
