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
from .pgpipeline import Pipeline

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
    # psycopg never prepares statements itself: whenever it has, a rollback makes it deallocate every prepared
    # statement of the session, the pipeline's own (engine.pgpipeline) with them.
    engine = create_engine(url, connect_args={"prepare_threshold": None}, **options)
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
    transaction runs in one libpq pipeline instead (``PipelinedTransaction``)."""
    if conn.dialect.name == "postgresql":
        return PipelinedTransaction(conn)
    return conn.begin()


class PipelinedTransaction:
    """A PostgreSQL transaction sent through libpq's pipeline mode (engine.pgpipeline): statements go out
    without waiting for each other's results, a read waits once for everything sent before it, and the end
    waits for the rest.

    PostgreSQL runs the statements of a pipeline up to its Sync message as one implicit transaction, which
    the Sync commits (or rolls back, if a statement failed); a read's wait is a flush, which leaves it open.
    So no BEGIN or COMMIT is sent: the writes and the commit cost one round trip, and nothing more. Before
    anything that would Sync early — the first statement SQLAlchemy runs itself (a Session flush, a
    service's query) — ``make_explicit`` sends BEGIN, and the transaction goes on, statement by statement,
    until an explicit COMMIT. Errors of statements sent earlier are raised where the pipeline
    next waits, as SQLAlchemy's exceptions. Only ``Prepared`` statements run in the pipeline."""

    def __init__(self, conn):
        self.conn = conn
        start_pipeline(conn)
        conn.info[_IMPLICIT] = True

    def commit(self) -> None:
        if not self.conn.info.pop(_IMPLICIT, False):
            _run_plain(self.conn, "COMMIT")
        end_pipeline(self.conn)

    def rollback(self) -> None:
        conn = self.conn
        try:
            if in_pipeline(conn):
                # So that the Sync ends the transaction without committing it. (A ROLLBACK alone would do, but
                # PostgreSQL logs a warning for a ROLLBACK in an implicit transaction.) After a failed statement
                # the server skips both, and the Sync rolls back.
                make_explicit(conn)
                _run_plain(conn, "ROLLBACK")
                end_pipeline(conn)
        except DBAPIError:
            pass  # a statement failed, and the Sync rolled the transaction back
        except conn.dialect.loaded_dbapi.Error:
            conn.info.pop(PIPELINE, None)
            conn.invalidate()  # the connection broke while the rollback was being sent
        finally:
            conn.info.pop(_IMPLICIT, None)
        if not conn.invalidated:
            driver = conn.connection.driver_connection
            if driver.info.transaction_status.name != "IDLE":
                driver.rollback()


def make_explicit(conn) -> None:
    """Turn the implicit transaction of ``conn``'s pipeline (PipelinedTransaction) into an explicit one, before
    anything that Syncs the pipeline: the Sync then leaves it open."""
    if conn.info.pop(_IMPLICIT, False):
        _run_plain(conn, "BEGIN")


def in_pipeline(conn) -> bool:
    return PIPELINE in conn.info


def pipeline_of(conn) -> Pipeline:
    return conn.info[PIPELINE]


def start_pipeline(conn) -> None:
    """Put ``conn``'s psycopg connection in libpq's pipeline mode (engine.pgpipeline) until ``end_pipeline``."""
    conn.info[PIPELINE] = Pipeline(conn.connection.driver_connection,
                                   conn.connection.info.setdefault(PREPARED_NAMES, {}))


def end_pipeline(conn) -> None:
    """Wait for everything sent in ``conn``'s pipeline and leave pipeline mode; errors of statements sent
    earlier are raised as SQLAlchemy's. Reads sent ahead are dropped: what follows may change what they read."""
    conn.info.pop(READ_AHEAD, None)
    pipeline = conn.info.pop(PIPELINE, None)
    if pipeline is None:
        return
    try:
        pipeline.sync()
    except conn.dialect.loaded_dbapi.Error as err:
        pipeline.close()
        raise as_sqlalchemy_error(conn, None, None, err) from err
    except BaseException:
        conn.invalidate()  # interrupted halfway through the server's answers: the connection cannot be trusted
        raise
    pipeline.close()


def _run_plain(conn, sql: str) -> None:
    """Run a statement without parameters (BEGIN, COMMIT, ROLLBACK): in ``conn``'s pipeline if it is in one."""
    if in_pipeline(conn):
        notify_listeners(conn, None, sql, (), False)
        pipeline_of(conn).send_plain(sql.encode())
    else:
        run_on_driver(conn, sql)


def _leave_pipeline(conn, *_args):
    make_explicit(conn)
    end_pipeline(conn)


@contextmanager
def pipelined(conn):
    """On PostgreSQL, the statements run inside go out without waiting for each other's results (libpq's
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


PIPELINE = "govflow_pipeline"  # conn.info key of the pipeline (engine.pgpipeline) a connection is in
PREPARED_NAMES = "govflow_prepared"  # DBAPI connection info key: the statements prepared on its session
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
    notify_listeners(conn, cursor, sql, values, many)
    try:
        if many:
            cursor.executemany(sql, values)
        else:
            cursor.execute(sql, values)
    except conn.dialect.loaded_dbapi.Error as err:
        raise as_sqlalchemy_error(conn, sql, values, err) from err
    return cursor


def has_listeners(conn) -> bool:
    # The test SQLAlchemy itself makes before dispatching an event: asking the dispatcher costs more.
    return conn._has_events or conn.engine._has_events


def notify_listeners(conn, cursor, sql: str, values, many: bool) -> None:
    """Call ``conn``'s ``before_cursor_execute`` listeners, as SQLAlchemy would before running ``sql``."""
    if has_listeners(conn):
        for listener in conn.dispatch.before_cursor_execute:
            listener(conn, cursor, sql, values, None, many)


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
