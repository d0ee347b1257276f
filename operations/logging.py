"""Structured log lines to stdout and, optionally, to a remote syslog server over UDP.

FULCRUM_LOG_FORMAT   kv (default: key=value) or json
FULCRUM_LOG_LEVEL    INFO by default
FULCRUM_SYSLOG       host:port (UDP) of a remote syslog server; unset: stdout only
FULCRUM_SYSLOG_FACILITY  local0 by default

appliance/settings.py sets ``LOGGING = logging_config()``. This module is imported by the
settings, so it imports nothing from Django apps.
"""

from __future__ import annotations

import json
import logging
import os
import time

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
        # Beat's "Sending due task" and the worker's "Task … succeeded" would say so every 2 s for the
        # status publisher; task failures are still logged (ERROR).
        "loggers": {"django.request": {"level": "ERROR"}, "celery.beat": {"level": "WARNING"},
                    "celery.app.trace": {"level": "WARNING"}},
    }
    target = env.get("FULCRUM_SYSLOG", "").strip()
    if target:
        import socket
        from logging.handlers import SysLogHandler

        host, port = parse_hostport(target)
        facility = env.get("FULCRUM_SYSLOG_FACILITY", "local0").lower()
        config["handlers"]["syslog"] = {
            "class": "logging.handlers.SysLogHandler", "address": (host, port), "socktype": socket.SOCK_DGRAM,
            "facility": SysLogHandler.facility_names.get(facility, SysLogHandler.LOG_LOCAL0),
            "formatter": "syslog",
        }
        config["root"]["handlers"].append("syslog")
    return config
