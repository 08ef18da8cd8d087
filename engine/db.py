"""Database connection and schema migrations (Alembic)."""
from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine as SqlEngine
from sqlalchemy.exc import DBAPIError

from . import chain

DEFAULT_SQLITE = "sqlite:///var/govflow.db"
MIGRATIONS = Path(__file__).parent / "migrations"


def database_url(environ=os.environ) -> str:
    return environ.get("GOVFLOW_DATABASE_URL") or DEFAULT_SQLITE


def normalise_url(url: str) -> str:
    """psycopg 3 is the PostgreSQL driver; plain postgresql:// URLs get it."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def connect(url: str, json_serializer=None) -> SqlEngine:
    url = normalise_url(url)
    options = {"json_serializer": json_serializer} if json_serializer else {}
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30}, **options)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, **options)


def for_writing(engine: SqlEngine) -> SqlEngine:
    """The same database and pool, for transactions that will write. On SQLite they take the write lock at
    once (BEGIN IMMEDIATE, waiting their turn), so what they read before their first write — the audit
    chain's last hash — cannot be overtaken by another writer; PostgreSQL begins as usual."""
    return engine.execution_options(govflow_write=True)


@contextmanager
def pipelined(conn):
    """On PostgreSQL, the statements run inside go out without waiting for each other's results (psycopg's
    pipeline mode): a read waits once for everything sent before it, and the rest goes in one round trip
    when the block ends. Only ``Prepared`` statements may run inside: SQLAlchemy's own reads do not work in
    pipeline mode. On SQLite, which has no round trips, nothing changes."""
    if conn.dialect.name != "postgresql":
        yield
        return
    driver = conn.connection.driver_connection
    try:
        with driver.pipeline() as pipeline:
            conn.info[PIPELINE] = pipeline
            try:
                yield
            finally:
                del conn.info[PIPELINE]
    except conn.dialect.loaded_dbapi.Error as err:
        raise as_sqlalchemy_error(conn, None, None, err) from err


PIPELINE = "govflow_pipeline"  # conn.info key of the pipeline a connection is in (Prepared.rowcount syncs it)


def _sqlite_pragmas(dbapi_connection, _record):
    # The driver's own implicit BEGIN is switched off, so that _sqlite_begin decides how each one begins.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
    dbapi_connection.create_function(chain.SQL_FUNCTION, 2, chain.link, deterministic=True)


def _sqlite_begin(conn):
    run_on_driver(conn, "BEGIN IMMEDIATE" if conn.get_execution_options().get("govflow_write") else "BEGIN")


def run_on_driver(conn, sql: str, values=(), many: bool = False):
    """Run ``sql`` on the driver's cursor of ``conn`` (a Connection), skipping SQLAlchemy's execution
    machinery but not its ``before_cursor_execute`` listeners; driver errors are raised as SQLAlchemy's, as
    ``Connection.execute`` raises them. Gives the cursor."""
    cursor = conn.connection.driver_connection.cursor()
    # The test SQLAlchemy itself makes before dispatching an event: asking the dispatcher costs more.
    if conn._has_events or conn.engine._has_events:
        for listener in conn.dispatch.before_cursor_execute:
            listener(conn, cursor, sql, values, None, many)
    try:
        if many:
            cursor.executemany(sql, values)
        else:
            cursor.execute(sql, values)
    except conn.dialect.loaded_dbapi.Error as err:
        raise as_sqlalchemy_error(conn, sql, values, err) from err
    return cursor


def as_sqlalchemy_error(conn, sql: str | None, values, err: Exception) -> DBAPIError:
    """A driver error as the SQLAlchemy exception (IntegrityError, OperationalError, ...) it stands for."""
    return DBAPIError.instance(sql, values, err, conn.dialect.loaded_dbapi.Error, dialect=conn.dialect)


def alembic_config(engine: SqlEngine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def migrate(engine: SqlEngine) -> None:
    """Create or upgrade the schema to the newest migration."""
    command.upgrade(alembic_config(engine), "head")
