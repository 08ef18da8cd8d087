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
