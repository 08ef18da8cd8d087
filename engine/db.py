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
    engine = create_engine(url, **options)
    event.listen(engine, "before_execute", _leave_pipeline)
    return engine


def for_writing(engine: SqlEngine) -> SqlEngine:
    """The same database and pool, for transactions that will write (``begin_writing``). On SQLite they take
    the write lock at once (BEGIN IMMEDIATE, waiting their turn), so what they read before their first write
    cannot be overtaken by another writer. On PostgreSQL the driver connection is in autocommit mode:
    ``begin_writing`` decides how each transaction begins and ends (PipelinedTransaction)."""
    if engine.dialect.name == "postgresql":
        return engine.execution_options(govflow_write=True, isolation_level="AUTOCOMMIT")
    return engine.execution_options(govflow_write=True)


def begin_writing(conn):
    """Begin a write transaction on ``conn`` (from ``for_writing``); gives it, to ``commit`` or ``rollback``.

    On SQLite this is SQLAlchemy's own transaction. On PostgreSQL each round trip to the server costs about
    as much as running a small statement, and psycopg sends BEGIN on a round trip of its own, so the whole
    transaction runs in one psycopg pipeline instead (``PipelinedTransaction``)."""
    if conn.dialect.name == "postgresql":
        return PipelinedTransaction(conn)
    return conn.begin()


class PipelinedTransaction:
    """A PostgreSQL transaction sent through psycopg's pipeline mode: statements go out without waiting for
    each other's results, a read waits once for everything sent before it, and the end waits for the rest.

    PostgreSQL runs the statements of a pipeline up to its Sync message as one implicit transaction, which
    the Sync commits (or rolls back, if a statement failed); a read's wait is a flush, which leaves it open.
    So no BEGIN or COMMIT is sent: the writes and the commit cost one round trip, and nothing more. Before
    anything that would Sync early — the first statement SQLAlchemy runs itself (a Session flush, a
    service's query), or a row count — ``make_explicit`` sends BEGIN, and the transaction goes on, statement
    by statement, until an explicit COMMIT. Errors of statements sent earlier are raised where the pipeline
    next waits, as SQLAlchemy's exceptions. Only ``Prepared`` statements run in the pipeline."""

    def __init__(self, conn):
        self.conn = conn
        start_pipeline(conn)
        conn.info[_IMPLICIT] = True

    def commit(self) -> None:
        if not self.conn.info.pop(_IMPLICIT, False):
            run_on_driver(self.conn, "COMMIT")
        end_pipeline(self.conn)

    def rollback(self) -> None:
        try:
            if in_pipeline(self.conn):
                # So that the Sync ends the transaction without committing it. (A ROLLBACK alone would do, but
                # PostgreSQL logs a warning for a ROLLBACK in an implicit transaction.)
                make_explicit(self.conn)
                run_on_driver(self.conn, "ROLLBACK")
        except DBAPIError:
            pass  # a statement failed and the pipeline refuses more: its Sync rolls back
        try:
            end_pipeline(self.conn)
        except DBAPIError:
            pass  # what failed in the pipeline is being rolled back
        finally:
            self.conn.info.pop(_IMPLICIT, None)
            driver = self.conn.connection.driver_connection
            if driver.info.transaction_status.name != "IDLE":
                driver.rollback()


def make_explicit(conn) -> None:
    """Turn the implicit transaction of ``conn``'s pipeline (PipelinedTransaction) into an explicit one, before
    anything that Syncs the pipeline: the Sync then leaves it open."""
    if conn.info.pop(_IMPLICIT, False):
        run_on_driver(conn, "BEGIN")


def in_pipeline(conn) -> bool:
    return PIPELINE in conn.info


def start_pipeline(conn) -> None:
    """Put ``conn``'s psycopg connection in pipeline mode until ``end_pipeline``."""
    entering = conn.connection.driver_connection.pipeline()
    conn.info[PIPELINE] = entering.__enter__()
    conn.info[_LEAVING] = entering  # psycopg leaves pipeline mode when this context manager is left or dropped


def end_pipeline(conn) -> None:
    """Wait for everything sent in ``conn``'s pipeline and leave pipeline mode; errors of statements sent
    earlier are raised as SQLAlchemy's. Reads sent ahead are dropped: what follows may change what they read."""
    conn.info.pop(READ_AHEAD, None)
    if conn.info.pop(PIPELINE, None) is None:
        return
    try:
        conn.info.pop(_LEAVING).__exit__(None, None, None)
    except conn.dialect.loaded_dbapi.Error as err:
        raise as_sqlalchemy_error(conn, None, None, err) from err


def _leave_pipeline(conn, *_args):
    make_explicit(conn)
    end_pipeline(conn)


@contextmanager
def pipelined(conn):
    """On PostgreSQL, the statements run inside go out without waiting for each other's results (psycopg's
    pipeline mode): a read waits once for everything sent before it, and the rest goes in one round trip
    when the block ends. Inside a ``PipelinedTransaction`` that is already so, and the rest goes with the commit.
    Only ``Prepared`` statements may run inside: SQLAlchemy's own reads do not work in pipeline mode. On
    SQLite, which has no round trips, nothing changes."""
    if conn.dialect.name != "postgresql" or in_pipeline(conn):
        yield
        return
    start_pipeline(conn)
    try:
        yield
    except BaseException:
        try:
            end_pipeline(conn)
        except DBAPIError:
            pass  # the error raised in the block is the one to report
        raise
    end_pipeline(conn)


PIPELINE = "govflow_pipeline"  # conn.info key of the pipeline a connection is in (Prepared.rowcount syncs it)
_LEAVING = "govflow_pipeline_exit"
_IMPLICIT = "govflow_implicit_transaction"  # set while a PipelinedTransaction has sent no BEGIN
READ_AHEAD = "govflow_read_ahead"  # conn.info key of the reads sent ahead in the transaction (Prepared.read_ahead)


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
