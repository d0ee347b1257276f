"""Browser tests: Playwright (sync) driving Debian's Chromium against pytest-django's live server.

Every test saves screenshots under test-output/ui/, fails on any console error, and runs axe-core
(vendored in tests/ui/vendor) on each page it checks, failing on serious or critical violations.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Playwright's sync API keeps an event loop in this thread; Django's ORM (fixtures) is still used synchronously.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("FULCRUM_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "test-output" / "ui"
AXE = Path(__file__).resolve().parent / "vendor" / "axe-core-4.14.1.min.js"
PASSWORD = "correct-horse-battery-9"


_cleared: list[bool] = []


@pytest.fixture(scope="module")  # Playwright holds a running loop: release it before other tests
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: scripts/test installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    if not _cleared:  # once per session, so every module's screenshots are kept
        for old in SHOTS.glob("*.png"):
            old.unlink()
        _cleared.append(True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def ui_settings(settings):
    # Embedded mode: an apply runs in a thread of the live server, as with `scripts/run` without Redis.
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.FULCRUM_DATAPLANE = "render-only"
    from cluster.mode import dataplane_mode

    dataplane_mode.cache_clear()
    yield settings
    dataplane_mode.cache_clear()


class Browser:
    """A logged-in (or not) page with the checks every test applies."""

    def __init__(self, page, base_url: str, name: str):
        self.page, self.base, self.name = page, base_url, name
        self.errors: list[str] = []
        self.shots = 0
        page.on("console", lambda m: self.errors.append(f"console.{m.type}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))

    def goto(self, path: str):
        return self.page.goto(self.base + path, wait_until="load")

    def login(self, username: str, password: str = PASSWORD):
        self.goto("/login/")
        self.page.fill("#id_username", username)
        self.page.fill("#id_password", password)
        self.page.click("button[type=submit]")
        self.page.wait_for_load_state("load")

    def shot(self, label: str):
        self.shots += 1
        path = SHOTS / f"{self.name}-{self.shots:02d}-{label}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def axe(self, label: str = ""):
        """Run axe-core on the current page: no serious or critical violation."""
        result = self.page.evaluate(
            "async () => { const r = await axe.run(document, {resultTypes: ['violations']});"
            " return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,"
            " nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))})); }")
        bad = [v for v in result if v["impact"] in ("serious", "critical")]
        assert not bad, f"axe violations on {self.page.url} {label}: {bad}"
        return result

    def csrf(self) -> str:
        return self.page.evaluate("() => document.querySelector('meta[name=csrf-token]').content")


@pytest.fixture
def ui(browser, live_server, ui_settings, request):
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    context.set_default_timeout(10_000)
    context.add_init_script(path=str(AXE))  # axe-core in every page, for Browser.axe
    page = context.new_page()
    b = Browser(page, live_server.url, request.node.name.replace("test_", "", 1))
    yield b
    context.close()
    assert not b.errors, f"console errors: {b.errors}"


@pytest.fixture
def people(make_user):
    return {"admin": make_user("alice", "admin"), "operator": make_user("oscar", "operator"),
            "readonly": make_user("rita", "readonly")}


@pytest.fixture
def demo(transactional_db):
    from tests.ui.demo import build

    return build()
