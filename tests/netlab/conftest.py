"""Kernel-lab tests: every test under tests/netlab/inside/ runs inside a UML guest.

On the host, each test under ``inside/`` is collected as usual (so ``-k``, ``-m`` and node
ids work) and then stands in for the real one: the first of a file to run boots ONE guest
that runs pytest on all the selected tests of that file, and each stand-in reports the
outcome of its twin. Inside the guest ($FULCRUM_NETLAB_GUEST set) the tests run for real
and every report is appended to a JSON-lines file the host reads.

This conftest does not need Django; run with ``pytest -p no:django tests/netlab``.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.netlab import lab  # noqa: E402

HERE = Path(__file__).resolve().parent
INSIDE = HERE / "inside"
REPORT_ENV = "FULCRUM_NETLAB_REPORT"
GUEST_TIMEOUT = float(os.environ.get("FULCRUM_NETLAB_TIMEOUT", "480"))  # a hang guard; slow hosts need ~2x

_results_key = pytest.StashKey[dict]()
_selected_key = pytest.StashKey[dict]()
_timeout_key = pytest.StashKey[dict]()


def pytest_configure(config):
    config.addinivalue_line("markers", "netlab: needs the User-Mode Linux kernel lab (real IPVS)")
    config.stash[_results_key] = {}
    config.stash[_selected_key] = {}
    config.stash[_timeout_key] = {}


# --------------------------------------------------------------------------- host side


class GuestTestFailure(Exception):
    pass


class GuestItem(pytest.Item):
    """Stands in on the host for one test that runs inside the guest."""

    def __init__(self, *, inner_nodeid: str, file: Path, **kwargs):
        super().__init__(**kwargs)
        self.inner_nodeid = inner_nodeid
        self.file = file

    def runtest(self):
        results = _guest_results(self.config, self.file)
        if isinstance(results, str):  # the guest never reported this test
            raise GuestTestFailure(results)
        rep = results.get(self.inner_nodeid)
        if rep is None:
            raise GuestTestFailure(
                f"the guest ran but reported nothing for {self.inner_nodeid}\n{results.get('', '')}"
            )
        if rep["outcome"] == "skipped":
            pytest.skip(rep["longrepr"] or "skipped in the guest")
        if rep["outcome"] == "failed":
            raise GuestTestFailure(rep["longrepr"])

    def repr_failure(self, excinfo):
        if isinstance(excinfo.value, GuestTestFailure):
            return f"[in the UML guest]\n{excinfo.value}"
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.file, 0, f"[guest] {self.inner_nodeid}"


def _guest_results(config, file: Path) -> dict | str:
    cache = config.stash[_results_key]
    if file not in cache:
        cache[file] = _run_file_in_guest(config, file)
    return cache[file]


def _run_file_in_guest(config, file: Path) -> dict | str:
    try:
        lab.find_uml()
    except lab.LabUnavailable as e:  # fail, never skip: CI must install the lab
        return str(e)
    nodeids = config.stash[_selected_key][file]
    report = Path(os.environ.get("TMPDIR", "/tmp")) / f"fulcrum-netlab-report-{os.getpid()}-{file.stem}.jsonl"
    report.unlink(missing_ok=True)
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=",
            "-W", "ignore::pytest.PytestConfigWarning"]
    if not config.pluginmanager.has_plugin("django"):
        argv += ["-p", "no:django"]
    if not config.pluginmanager.has_plugin("randomly"):  # addopts= above dropped pyproject's -p no:randomly
        argv += ["-p", "no:randomly"]
    # Node ids are relative to the rootdir; pytest's temporary directories land under the
    # guest's $TMPDIR (inside the run directory), never in the host's shared /tmp/pytest-of-*.
    argv += nodeids
    run = lab.boot(
        argv,
        env={REPORT_ENV: str(report)},
        timeout=max(GUEST_TIMEOUT, config.stash[_timeout_key].get(file, 0)),
        cwd=config.rootpath,
    )
    results: dict = {}
    try:
        for line in report.read_text().splitlines():
            rep = json.loads(line)
            prev = results.get(rep["nodeid"])
            # a test failed if any phase failed; keep the first failure/skip
            if prev is None or prev["outcome"] == "passed":
                results[rep["nodeid"]] = rep
    except FileNotFoundError:
        pass
    finally:
        report.unlink(missing_ok=True)
    if not results:
        return f"the guest reported no results ({run.seconds:.1f}s)\n{run.tail()}"
    missing = f"guest run took {run.seconds:.1f}s, exit {run.returncode}\n{run.tail()}"
    results[""] = missing
    return results


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session, config, items):
    for item in items:
        if HERE in Path(item.path).resolve().parents:
            item.add_marker(pytest.mark.netlab)
    if lab.in_guest():
        return
    selected = config.stash[_selected_key]
    for i, item in enumerate(items):
        path = Path(item.path).resolve()
        if INSIDE not in path.parents:
            continue
        stand_in = GuestItem.from_parent(
            item.parent, name=item.name, inner_nodeid=item.nodeid, file=path
        )
        stand_in.own_markers.extend(item.own_markers)  # module/class marks come via the parent
        items[i] = stand_in
        selected.setdefault(path, []).append(item.nodeid)
        # A file that needs longer than the default says so: NETLAB_TIMEOUT = seconds (module level).
        module = getattr(item, "module", None)
        if getattr(module, "NETLAB_TIMEOUT", None):
            config.stash[_timeout_key][path] = float(module.NETLAB_TIMEOUT)


# --------------------------------------------------------------------------- guest side


def pytest_runtest_logreport(report):
    path = os.environ.get(REPORT_ENV)
    if not path or not lab.in_guest():
        return
    if report.when != "call" and report.outcome == "passed":
        return  # setup/teardown passing says nothing
    if report.skipped and hasattr(report, "wasxfail"):
        longrepr = f"xfail: {report.wasxfail}"
    elif report.skipped and isinstance(report.longrepr, tuple):
        longrepr = report.longrepr[2]
    else:
        longrepr = str(report.longrepr or "")
    outcome = report.outcome
    if report.when != "call" and outcome == "failed":
        longrepr = f"error in {report.when}:\n{longrepr}"
    with open(path, "a") as f:
        f.write(json.dumps({"nodeid": report.nodeid, "outcome": outcome, "when": report.when,
                            "longrepr": longrepr, "duration": report.duration}) + "\n")
