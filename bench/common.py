"""What the benchmark scripts in bench/ share: timing, the report table, statement counting, the demo
directory, the PostgreSQL schema a run works in, and the guarded run around a temporary SQLite file.

Importing this module puts the repository root on ``sys.path``, so a script run as
``.venv/bin/python bench/<script>.py`` imports it before anything from ``engine``.
"""
from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import tempfile
import time
import traceback
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import sqlalchemy  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

from engine.db import normalise_url  # noqa: E402

FIXTURES = Path(__file__).resolve().parent / "fixtures"
DIRECTORY_FILE = ROOT / "processes" / "directory.json"


# --- timing -----------------------------------------------------------------------------------------

def ms(seconds: float) -> float:
    return seconds * 1000.0


def median_ms(samples: list[float]) -> float:
    return ms(statistics.median(samples))


def timed(fn):
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


# --- the report -------------------------------------------------------------------------------------

class Report:
    """Rows of (figure, value, unit, target, verdict), printed as one table per section, then any notes
    (titled blocks of text lines), then the targets.

    A target given to ``ratio`` is met by a value at most the limit (``<=``), or with ``strict`` by a
    value below it (``<``)."""

    def __init__(self, strict: bool = False):
        self.strict = strict
        self.sections: list[tuple[str, list[tuple]]] = []
        self.verdicts: list[tuple[str, str]] = []
        self.notes: list[tuple[str, list[str]]] = []

    def section(self, title: str) -> None:
        self.sections.append((title, []))

    def row(self, figure: str, value, unit: str = "", target: str = "", verdict: str = "") -> None:
        self.sections[-1][1].append((figure, value, unit, target, verdict))

    def ratio(self, figure: str, value: float, limit: float) -> None:
        met = value < limit if self.strict else value <= limit
        verdict = "PASS" if met else "MISS"
        target = f"{'<' if self.strict else '<='} {limit:g}"
        self.row(figure, value, "x", target, verdict)
        self.verdicts.append((figure, f"{value:.2f} (target {target}): {verdict}"))

    def note(self, title: str, lines: list[str]) -> None:
        self.notes.append((title, lines))

    def print(self) -> None:
        for title, rows in self.sections:
            print()
            print(title)
            print("-" * len(title))
            width = max([len(r[0]) for r in rows] + [10])
            print(f"  {'figure':<{width}}  {'value':>10}  {'unit':<6} {'target':<8} result")
            for figure, value, unit, target, verdict in rows:
                shown = f"{value:10.3f}" if isinstance(value, float) else f"{value!s:>10}"
                print(f"  {figure:<{width}}  {shown}  {unit:<6} {target:<8} {verdict}".rstrip())
        for title, lines in self.notes:
            print()
            print(title)
            print("-" * len(title))
            for line in lines:
                print(f"  {line}")
        if self.verdicts:
            print()
            print("Targets")
            print("-------")
            for figure, verdict in self.verdicts:
                print(f"  {figure}: {verdict}")


# --- counting SQL statements ------------------------------------------------------------------------

class StatementCounter:
    """Counts the SQL statements an SQLAlchemy engine sends while it is active (BEGIN/COMMIT are not
    statements); used untimed, or around a timing whose figure may include the counting."""

    def __init__(self, db):
        self.db, self.count = db, 0

    def _seen(self, *_args, **_kwargs):
        self.count += 1

    def __enter__(self):
        sqlalchemy.event.listen(self.db, "before_cursor_execute", self._seen)
        return self

    def __exit__(self, *_exc):
        sqlalchemy.event.remove(self.db, "before_cursor_execute", self._seen)


def count_statements(db, fn) -> tuple[int, object]:
    with StatementCounter(db) as counter:
        result = fn()
    return counter.count, result


# --- the demo directory -----------------------------------------------------------------------------

def load_directory() -> dict:
    """The demo directory without passwords: the benchmark logs nobody in, so it skips the hashing."""
    data = json.loads(DIRECTORY_FILE.read_text(encoding="utf-8"))
    data["users"] = [{k: v for k, v in user.items() if k != "password"} for user in data.get("users", [])]
    return data


# --- PostgreSQL ---------------------------------------------------------------------------------------

def postgres_schema_url(base: str, schema: str) -> str:
    """``base`` with every connection's search_path set to ``schema``."""
    separator = "&" if "?" in base else "?"
    return f"{base}{separator}options=-csearch_path%3D{schema}"


def recreate_schema(base: str, schema: str, drop_only: bool = False) -> None:
    """Drop ``schema`` (and all in it) from the database at ``base``, then, unless ``drop_only``,
    create it empty."""
    admin = create_engine(normalise_url(base))
    try:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            if not drop_only:
                conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    finally:
        admin.dispose()


def server_version(url: str) -> str:
    db = create_engine(normalise_url(url))
    try:
        with db.connect() as conn:
            return conn.execute(text("SHOW server_version")).scalar()
    finally:
        db.dispose()


def add_postgres_options(parser, schema: str, skip_help: str) -> None:
    """``--skip-postgres`` (its help ``skip_help``) and ``--postgres-url``, for a run in ``schema``."""
    parser.add_argument("--skip-postgres", action="store_true", help=skip_help)
    parser.add_argument("--postgres-url", default=os.environ.get("GOVFLOW_BENCH_POSTGRES_URL", "postgresql:///test"),
                        help=f"PostgreSQL database; the schema {schema} is created in it and dropped after "
                             "(default $GOVFLOW_BENCH_POSTGRES_URL or postgresql:///test)")


@contextmanager
def postgres_schema(base: str | None, schema: str):
    """PostgreSQL for one run, in a schema of its own: ``schema`` is created afresh in the database at
    ``base`` and the server version printed; yields the URL whose connections work in that schema, and
    drops the schema at the end. Yields None if ``base`` is None (PostgreSQL left out), or, having said
    why, if PostgreSQL cannot be reached: a measurement run goes on without it."""
    url = None
    if base is not None:
        try:
            recreate_schema(base, schema)
            url = postgres_schema_url(base, schema)
            print(f"PostgreSQL {server_version(url)} at {base}, schema {schema}")
        except Exception as err:  # a measurement run: say why and go on without it
            print(f"PostgreSQL is not reachable at {base} ({type(err).__name__}: "
                  f"{str(err).splitlines()[0]}); measuring without it")
            url = None
    try:
        yield url
    finally:
        if url is not None:
            try:
                recreate_schema(base, schema, drop_only=True)
            except Exception as err:
                print(f"could not drop schema {schema}: {err}")


# --- the run ----------------------------------------------------------------------------------------

def run_guarded(body) -> None:
    """Call ``body(sqlite_url, databases)``: ``sqlite_url`` names an SQLite file in a temporary directory
    removed afterwards, and ``databases`` is a list to which ``body`` adds every SQLAlchemy engine it opens,
    all disposed of at the end. If ``body`` fails, print the traceback and say so: the caller then reports
    the figures measured so far."""
    databases: list = []  # every SQLAlchemy engine opened, disposed of at the end
    try:
        with tempfile.TemporaryDirectory(prefix="govflow-bench-") as tmp:
            try:
                body(f"sqlite:///{Path(tmp) / 'govflow.db'}", databases)
            finally:
                for db in databases:
                    db.dispose()
    except Exception:
        traceback.print_exc()
        print("\nThe benchmark stopped early; the figures measured so far follow.")


def run_each_database(args, schema: str, report, run, began: float) -> int:
    """Call ``run(args, report, name, url, databases)`` for SQLite and, unless ``--skip-postgres``, for
    PostgreSQL in ``schema`` (run_guarded around both), then print the report and the whole run's time."""
    with postgres_schema(None if args.skip_postgres else args.postgres_url, schema) as postgres:
        def run_all(sqlite_url: str, databases: list) -> None:
            targets = [("SQLite", sqlite_url)]
            if postgres is not None:
                targets.append(("PostgreSQL", postgres))
            for name, url in targets:
                run(args, report, name, url, databases)

        run_guarded(run_all)
    report.print()
    print(f"\nwhole run: {time.perf_counter() - began:.1f} s")
    return 0


# --- the machine ------------------------------------------------------------------------------------

def package_version(package: str) -> str:
    try:
        from importlib.metadata import version
        return version(package)
    except Exception:
        return "?"


def environment() -> str:
    """The versions and the machine a run's figures come from, for its heading."""
    return (f"Python {platform.python_version()}, SQLAlchemy {sqlalchemy.__version__}, SpiffWorkflow "
            f"{package_version('SpiffWorkflow')}, {platform.machine()}, {os.cpu_count()} CPUs")
