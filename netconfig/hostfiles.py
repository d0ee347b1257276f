"""The host's own files for hostname, DNS and time, rendered from the system settings (pure: no I/O).

``render(values)`` returns {path: content}; ``manage.py system_apply`` writes them (as root, from the
fulcrum-system unit) and reloads what reads them. ``values`` is a plain dict of the settings' fields.
"""

from __future__ import annotations

CHRONY_SOURCES = "/etc/chrony/sources.d/fulcrum.sources"
TIMESYNCD_DROPIN = "/etc/systemd/timesyncd.conf.d/fulcrum.conf"
HEADER = "# Written by Fulcrum (Local Configuration › System settings); edits here are replaced.\n"


def render(values: dict) -> dict[str, str]:
    files: dict[str, str] = {}
    if values.get("hostname"):
        files["/etc/hostname"] = values["hostname"] + "\n"
    if values.get("dns_servers") or values.get("search_domains"):
        lines = [f"nameserver {ip}" for ip in values.get("dns_servers", [])]
        if values.get("search_domains"):
            lines.append("search " + " ".join(values["search_domains"]))
        files["/etc/resolv.conf"] = HEADER + "\n".join(lines) + "\n"
    files["/etc/timezone"] = values.get("timezone", "UTC") + "\n"
    servers = values.get("ntp_servers", [])
    if values.get("time_daemon", "chrony") == "chrony":
        files[CHRONY_SOURCES] = HEADER + "".join(f"server {s} iburst\n" for s in servers)
    else:
        files[TIMESYNCD_DROPIN] = HEADER + "[Time]\nNTP=" + " ".join(servers) + "\n"
    return files


def hosts_with_hostname(current: str, hostname: str) -> str:
    """/etc/hosts with the host's own name on 127.0.1.1 (Debian's convention, so the new name resolves
    without DNS: sudo, hostname -f, MTAs), in place of the old one; every other line is the admin's, kept."""
    short = hostname.split(".")[0]
    entry = f"127.0.1.1\t{hostname}" + (f"\t{short}" if short != hostname else "")
    lines = current.splitlines()
    own = [i for i, line in enumerate(lines) if line.split()[:1] == ["127.0.1.1"]]
    if own:
        lines[own[0]] = entry
        lines = [line for i, line in enumerate(lines) if i not in own[1:]]
    else:
        lines.append(entry)
    return "\n".join(lines) + "\n"


def localtime_target(values: dict) -> str:
    """Where /etc/localtime points for the time zone."""
    return f"/usr/share/zoneinfo/{values.get('timezone', 'UTC')}"


def reload_commands(values: dict) -> list[list[str]]:
    """What to run after writing the files (argv lists, no shell)."""
    daemon = "chrony" if values.get("time_daemon", "chrony") == "chrony" else "systemd-timesyncd"
    out = [["systemctl", "try-reload-or-restart", daemon]]
    if values.get("hostname"):
        out.insert(0, ["hostname", values["hostname"]])
    return out
