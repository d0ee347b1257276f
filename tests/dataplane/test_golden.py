"""Golden tests: each reference configuration compiles and renders to the files under golden/.

The golden files are the spec, reviewed by eye. After an intended change,
regenerate them and review the diff:

    UPDATE_GOLDEN=1 .venv/bin/pytest -p no:django tests/dataplane/test_golden.py
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from dataplane.compiler import compile_state
from dataplane.desired import DesiredState
from dataplane.render import (
    has_ipv6,
    jump_rules,
    render_addresses,
    render_all,
    render_iptables,
    render_ipvsadm,
    render_sysctls,
)
from tests.dataplane.configs import AOVPN, CONFIGS, IPV6

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"

_RENDERERS: dict[str, Callable[[DesiredState], str]] = {
    "ipvsadm": render_ipvsadm,
    "iptables4": lambda state: render_iptables(state, 4),
    "iptables6": lambda state: render_iptables(state, 6),
    "sysctl": render_sysctls,
    "addresses": render_addresses,
}


def rendered(state: DesiredState) -> dict[str, str]:
    """File suffix → text; the IPv6 rules file only where the state has IPv6."""
    return {
        suffix: render(state)
        for suffix, render in _RENDERERS.items()
        if suffix != "iptables6" or has_ipv6(state)
    }


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_golden(name: str) -> None:
    for suffix, text in rendered(compile_state(CONFIGS[name])).items():
        path = GOLDEN / f"{name}.{suffix}"
        if UPDATE:
            path.parent.mkdir(exist_ok=True)
            path.write_text(text)
        assert path.read_text() == text, f"{path.name} differs (UPDATE_GOLDEN=1 to regenerate)"


def test_no_stale_golden_files() -> None:
    expected = {
        f"{name}.{suffix}" for name, cluster in CONFIGS.items() for suffix in rendered(compile_state(cluster))
    }
    on_disk = {p.name for p in GOLDEN.iterdir() if not p.name.startswith("frr_")}  # test_frr.py's
    assert on_disk == expected


# --- renderer details the goldens do not spell out ------------------------------------------


def test_render_is_deterministic() -> None:
    assert render_all(compile_state(AOVPN)) == render_all(compile_state(AOVPN))


def test_empty_state_still_declares_owned_chains_so_they_are_flushed() -> None:
    assert render_iptables(DesiredState.empty()) == (
        "*mangle\n:FULCRUM-PREROUTING - [0:0]\nCOMMIT\n*nat\n:FULCRUM-POSTROUTING - [0:0]\nCOMMIT\n"
        "*filter\n:FULCRUM-MGMT - [0:0]\nCOMMIT\n"
    )
    assert render_ipvsadm(DesiredState.empty()) == ""


def test_jump_rules() -> None:
    assert jump_rules(4) == [
        ("mangle", "PREROUTING", ("-j", "FULCRUM-PREROUTING")),
        ("nat", "POSTROUTING", ("-j", "FULCRUM-POSTROUTING")),
        ("filter", "INPUT", ("-j", "FULCRUM-MGMT")),
    ]
    assert jump_rules(6) == jump_rules(4)
    with pytest.raises(ValueError):
        jump_rules(5)


def test_render_all_has_every_section() -> None:
    text = render_all(compile_state(IPV6))
    for header in (
        "### ipvsadm-restore",
        "### ipvsadm timeouts\nipvsadm --set 900 120 300\n",
        "### iptables-restore --noflush",
        "### ip6tables-restore --noflush",
        "### sysctl",
        "### addresses",
    ):
        assert header in text


def test_render_all_skips_ipv6_and_marks_empty_sections() -> None:
    text = render_all(DesiredState.empty())
    assert "ip6tables" not in text
    assert "### sysctl\n# (none)\n" in text
