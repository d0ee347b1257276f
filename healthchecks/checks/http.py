"""HTTP, HTTPS and the SSTP preset: one request, the status line and (optionally) a body pattern."""

from __future__ import annotations

import asyncio
import ssl

from healthchecks.checks import HTTPS, SSTP, SSTP_DEFAULT_STATUS, SSTP_PATH, CheckFailed, CheckSpec, Context
from healthchecks.checks.patterns import body_matches

MAX_BODY = 64 * 1024  # what is read of the answer to look for the pattern
_contexts: dict[bool, ssl.SSLContext] = {}


def tls_context(verify: bool) -> ssl.SSLContext:
    """One context per verification mode: building one per check is slow."""
    if verify not in _contexts:
        ctx = ssl.create_default_context()
        if not verify:  # the default: real servers usually carry the VIP's certificate, or a self-signed one
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        _contexts[verify] = ctx
    return _contexts[verify]


def expected_status(spec: CheckSpec) -> int | None:
    if spec.status:
        return spec.status
    return SSTP_DEFAULT_STATUS if spec.type == SSTP else None


def _host_header(spec: CheckSpec) -> str:
    if spec.vhost:
        return spec.vhost
    host = f"[{spec.address}]" if ":" in spec.address else spec.address
    default = 443 if spec.type in (HTTPS, SSTP) else 80
    return host if spec.target_port == default else f"{host}:{spec.target_port}"


def request_bytes(spec: CheckSpec) -> bytes:
    path = spec.request or (SSTP_PATH if spec.type == SSTP else "/")
    if not path.startswith("/"):
        path = "/" + path
    method = spec.method or "GET"
    return (f"{method} {path} HTTP/1.1\r\nHost: {_host_header(spec)}\r\nUser-Agent: Fulcrum-healthcheck\r\n"
            "Accept: */*\r\nConnection: close\r\n\r\n").encode("latin-1")


async def check(spec: CheckSpec, ctx: Context) -> str:
    tls = spec.type in (HTTPS, SSTP)
    ctx.phase = "connect"
    kwargs = {}
    if tls:
        kwargs = {"ssl": tls_context(spec.verify_tls), "server_hostname": spec.vhost or None,
                  "ssl_handshake_timeout": spec.timeout}
        if not spec.vhost and not spec.verify_tls:
            kwargs["server_hostname"] = ""
    reader, writer = await asyncio.open_connection(spec.address, spec.target_port, limit=MAX_BODY, **kwargs)
    try:
        writer.write(request_bytes(spec))
        ctx.phase = "response"
        head = await reader.readuntil(b"\r\n")
        parts = head.decode("latin-1").split(None, 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
            raise CheckFailed(f"not an HTTP answer: {head[:60]!r}")
        status = int(parts[1])
        want = expected_status(spec)
        if want is not None and status != want:
            raise CheckFailed(f"HTTP status {status}, expected {want}")
        if want is None and not 200 <= status < 400:
            raise CheckFailed(f"HTTP status {status}, expected 2xx/3xx")
        if spec.response and spec.method != "HEAD":
            ctx.phase = "body"
            data = b""
            while len(data) < MAX_BODY:
                chunk = await reader.read(MAX_BODY - len(data))
                if not chunk:
                    break
                data += chunk
                if body_matches(spec.response, data.decode("utf-8", "replace")):
                    return f"HTTP {status}, body matches"
            raise CheckFailed(f"HTTP {status} but the body does not contain {spec.response!r}")
        return f"HTTP {status}"
    finally:
        writer.transport.abort()
