"""Test fixtures: every engine test runs against SQLite and PostgreSQL.

SQLite: a migrated template file is copied for each test. PostgreSQL: each pytest-xdist worker migrates
its own schema once and truncates the tables between tests. ``GOVFLOW_TEST_DATABASES`` (default
``sqlite,postgresql``) picks the databases; ``GOVFLOW_TEST_POSTGRES_URL`` (default
``postgresql:///test``) says where PostgreSQL is.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from sqlalchemy import text

from engine import directory
from engine.clock import Clock, parse_instant
from engine.commands import Engine
from engine.db import connect, migrate
from engine.models import Base
from webui.cli import main as cli_main

ROOT = Path(__file__).resolve().parent.parent
PROCESSES = ROOT / "processes"
DIRECTORY = json.loads((PROCESSES / "directory.json").read_text(encoding="utf-8"))
DATABASES = [d.strip() for d in os.environ.get("GOVFLOW_TEST_DATABASES", "sqlite,postgresql").split(",") if d.strip()]
POSTGRES_URL = os.environ.get("GOVFLOW_TEST_POSTGRES_URL", "postgresql:///test")
START = "2026-06-01T09:00:00+08:00"  # a Monday


def _worker(request) -> str:
    return getattr(request.config, "workerinput", {}).get("workerid", "main")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("template") / "govflow.db"
    engine = connect(f"sqlite:///{path}")
    migrate(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_url(request):
    schema = f"govflow_test_{os.getpid()}_{_worker(request)}"
    admin = connect(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    separator = "&" if "?" in POSTGRES_URL else "?"
    url = f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}"
    engine = connect(url)
    migrate(engine)
    engine.dispose()
    yield url
    admin = connect(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(params=DATABASES)
def database_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        path = tmp_path / "govflow.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("postgres_url")
    engine = connect(url)
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()
    return url


@pytest.fixture
def clock() -> Clock:
    return Clock(parse_instant(START))


@pytest.fixture
def bare_engine(database_url, clock) -> Engine:
    """An engine on an empty, migrated database."""
    engine = Engine(database_url, clock=clock)
    yield engine
    engine.db.dispose()


@pytest.fixture
def engine(bare_engine) -> Engine:
    """An engine with the demo directory loaded and every process model deployed."""
    with bare_engine.unit_of_work() as uow:
        directory.load(uow.session, DIRECTORY)
    bare_engine.deploy([PROCESSES], "admin")
    return bare_engine


@pytest.fixture
def govflow(database_url, monkeypatch, capsys):
    """Run the govflow CLI in-process with --json on the test database at 2026-06-01 09:00 (Shanghai):
    returns the parsed JSON, or with ok=False (exit code, JSON, stderr) of a failure."""
    monkeypatch.setenv("GOVFLOW_DATABASE_URL", database_url)
    monkeypatch.setenv("GOVFLOW_NOW", "2026-06-01T09:00:00+08:00")

    def run(*args, ok=True):
        code = cli_main(["--json", *args])
        out, err = capsys.readouterr()
        if ok:
            assert code == 0, err
            return json.loads(out)
        assert code != 0
        return code, json.loads(out), err

    return run


# --- web UI ---------------------------------------------------------------------------------------------

class WebClient:
    """A Flask test client signed in as one person, that sends the CSRF token with every form."""

    def __init__(self, app):
        self.client = app.test_client()

    def csrf_token(self) -> str:
        import re
        page = self.client.get("/login", follow_redirects=True).get_data(as_text=True)
        return re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)

    def login(self, username: str, password: str = "demo"):
        return self.client.post("/login", data={"username": username, "password": password,
                                                "csrf_token": self.csrf_token()})

    def get(self, url: str, **kwargs):
        return self.client.get(url, **kwargs)

    def post(self, url: str, data=None, csrf: bool = True, **kwargs):
        data = dict(data or {})
        if csrf:
            data["csrf_token"] = self.csrf_token()
        return self.client.post(url, data=data, **kwargs)


@pytest.fixture
def web_app(engine, tmp_path):
    """The web UI on the test engine (demo directory, every model deployed, clock fixed)."""
    from webui.app import create_app
    return create_app(engine, {"SECRET_KEY": "test-secret", "TESTING": True, "GOVFLOW_VAR": str(tmp_path / "var")})


@pytest.fixture
def web(web_app):
    """``web("zhao_vice")``: a test client signed in as that person (password ``demo``)."""
    def signed_in(username: str | None = None) -> WebClient:
        client = WebClient(web_app)
        if username is not None:
            assert client.login(username).status_code == 302
        return client

    return signed_in
