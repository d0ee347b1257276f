"""The harness on the host: it must fail clearly, never skip, when the lab is missing."""

import pytest

from tests.netlab import lab

pytestmark = pytest.mark.netlab


def test_missing_uml_is_an_error_with_the_install_command(monkeypatch):
    monkeypatch.setenv("FULCRUM_UML", "/nonexistent/linux.uml")
    with pytest.raises(lab.LabUnavailable, match="apt-get install -y user-mode-linux"):
        lab.find_uml()


def test_call_runs_a_function_in_the_guest():
    info = lab.call("platform:release")
    assert info.startswith("6.")  # the UML kernel, not the host's
