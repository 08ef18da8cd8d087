"""What the browser tests share: Debian's headless Chromium driven by Playwright (never ``playwright install``;
GOVFLOW_CHROMIUM names another binary), the app served by a werkzeug server in a thread on a copy of the
migrated SQLite template with the demo directory and every model deployed, the clock fixed at Monday
2026-06-01 09:00 (Shanghai), signing in, and screenshots under tests/artifacts/."""
from __future__ import annotations

import os
import re
import shutil
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from engine import directory
from engine.clock import Clock, parse_instant
from engine.commands import Engine

from .conftest import DIRECTORY, PROCESSES, START

playwright = pytest.importorskip("playwright.sync_api")
CHROMIUM = os.environ.get("GOVFLOW_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
requires_chromium = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                       reason=f"no Chromium at {CHROMIUM} (GOVFLOW_CHROMIUM)")
expect = playwright.expect


@dataclass
class Site:
    url: str
    engine: Engine
    clock: Clock


@contextmanager
def served(sqlite_template: Path, folder: Path, site_class=Site):
    """The app on its own database in ``folder``, served until the block ends."""
    from werkzeug.serving import make_server

    from webui.app import create_app

    shutil.copy(sqlite_template, folder / "govflow.db")
    clock = Clock(parse_instant(START))
    engine = Engine(f"sqlite:///{folder / 'govflow.db'}", clock=clock)
    with engine.unit_of_work() as uow:
        directory.load(uow.session, DIRECTORY)
    engine.deploy([PROCESSES], "admin")
    app = create_app(engine, {"SECRET_KEY": "browser-tests", "GOVFLOW_VAR": str(folder / "var")})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield site_class(f"http://127.0.0.1:{server.server_port}", engine, clock)
    finally:
        server.shutdown()
        thread.join(5)
        engine.db.dispose()


@pytest.fixture(scope="module", name="browser")
def browser_fixture():
    with playwright.sync_playwright() as driver:
        chromium = driver.chromium.launch(executable_path=CHROMIUM, headless=True,
                                          args=["--no-sandbox", "--disable-dev-shm-usage"])
        yield chromium
        chromium.close()


def signed_in_page(browser, site: Site, username: str, viewport=(1366, 900), watch=None):
    """A fresh browser context and its page, signed in as ``username``; ``watch(page)`` is called before the
    first page loads (to collect console messages)."""
    width, height = viewport
    context = browser.new_context(base_url=site.url, locale="zh-CN", timezone_id="Asia/Shanghai",
                                  viewport={"width": width, "height": height})
    context.set_default_timeout(10_000)
    page = context.new_page()
    if watch is not None:
        watch(page)
    page.goto("/login")
    page.fill("#username", username)
    page.fill("#password", "demo")
    page.click("#login-submit")
    expect(page).to_have_url(re.compile(r"/inbox$"))
    return context, page


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)
