"""A PostgreSQL command's ``Prepared`` statements, sent through libpq's pipeline mode directly.

psycopg's own pipeline mode spends about 40 µs of Python on every statement here: a cursor with its own
adapters, the parameters adapted one by one, two polls and a send on the socket per statement. A step sends
about ten, which made psycopg the largest part of a PostgreSQL command. This sends the same statements through
the same libpq connection (psycopg's ``pgconn``) with far less: each is a named server-side prepared statement,
parsed and planned once per connection; its parameters go as text; it is written to the socket at once without
waiting, so the server works on it while this process goes on; and results are read only when one is needed or
the transaction ends. Rows are loaded by psycopg's own ``Transformer``, so they come back exactly as a psycopg
cursor gives them, and errors are psycopg's exception classes.

The prepared statements live as long as the database session, so the connection must be a session of its own
(not a transaction-pooling PgBouncer), and psycopg must not prepare statements itself (engine.db turns that off),
as it deallocates every prepared statement of the session after a rollback. While a ``Pipeline`` is open its
connection is in pipeline mode and psycopg must not use it; engine.db ends the pipeline before SQLAlchemy runs a
statement of its own.
"""
from __future__ import annotations

import select
from collections import deque
from datetime import date, datetime
from itertools import count

from psycopg import errors
from psycopg.adapt import PyFormat, Transformer
from psycopg.pq import DiagnosticField, ExecStatus

_NUMBERS = count()  # numbers the names of prepared statements, so that no name is ever prepared twice
_QUERY_DONE = (ExecStatus.COMMAND_OK, ExecStatus.TUPLES_OK)


class Result:
    """The outcome of one statement sent: rows, row count or error, once the pipeline has read it. Offers the
    part of a DBAPI cursor that ``Prepared`` uses (``fetchone``, ``fetchall``, ``rowcount``)."""

    __slots__ = ("_pipeline", "_rows", "_error", "_rowcount", "_done")

    def __init__(self, pipeline: "Pipeline"):
        self._pipeline = pipeline
        self._rows, self._error, self._rowcount, self._done = [], None, -1, False

    def fetchone(self):
        rows = self._wait()
        return rows.pop(0) if rows else None

    def fetchall(self) -> list:
        rows = self._wait()
        self._rows = []
        return rows

    @property
    def rowcount(self) -> int:
        self._wait()
        return self._rowcount

    def _wait(self) -> list:
        if not self._done:
            self._pipeline.read_through(self)
        if self._error is not None:
            raise self._error
        return self._rows


class Pipeline:
    """libpq pipeline mode on ``driver`` (a psycopg connection with no transaction of psycopg's own open) until
    ``close``. ``prepared`` is where the names of the statements prepared on the connection's session are kept
    (it must live as long as the session)."""

    def __init__(self, driver, prepared: dict):
        self._pgconn = driver.pgconn
        self._prepared = prepared
        self._pending: deque = deque()  # a Result per statement sent, None per Parse, in the order sent
        self._named_here: list[bytes] = []  # statements first prepared in this pipeline
        self._transformer = Transformer(driver)
        self._error = None  # the first error the server reported; the rest of the pipeline was skipped
        self._pgconn.enter_pipeline_mode()
        if not driver.autocommit and driver.info.transaction_status.name == "IDLE":
            self.send_plain(b"BEGIN")  # what psycopg itself would send first outside autocommit mode

    def send(self, sql: bytes, params: list) -> Result:
        """Send ``sql`` (with $1 ... placeholders) with ``params`` (Python values, converted to text here)."""
        name = self._prepared.get(sql)
        if name is None:
            name = self._prepared[sql] = f"govflow_{next(_NUMBERS)}".encode()
            self._named_here.append(sql)
            self._pgconn.send_prepare(name, sql)
            self._pending.append(None)
        self._pgconn.send_query_prepared(name, [self._as_text(value) for value in params])
        return self._sent()

    def send_plain(self, sql: bytes) -> Result:
        """Send a statement without parameters and without preparing it (BEGIN, COMMIT, ROLLBACK)."""
        self._pgconn.send_query_params(sql, None)
        return self._sent()

    def _sent(self) -> Result:
        result = Result(self)
        self._pending.append(result)
        self._pgconn.flush()  # without waiting: the server starts on it while this process goes on
        return result

    def read_through(self, result: Result) -> None:
        """Wait until ``result`` is read, asking the server to send what it has (a flush, which ends nothing)."""
        self._pgconn.send_flush_request()
        self._flush()
        while not result._done:
            self._read_one(self._pending.popleft())

    def sync(self) -> None:
        """Send a Sync (which ends an implicit transaction: committed, or rolled back if a statement failed) and
        read everything up to it; raises the first error the server reported."""
        self._pgconn.pipeline_sync()
        self._flush()
        while self._pending:
            self._read_one(self._pending.popleft())
        if self._wait_result().status != ExecStatus.PIPELINE_SYNC:
            raise errors.InternalError("the PostgreSQL pipeline lost its place")
        error, self._error = self._error, None
        if error is not None:
            raise error
        self._named_here.clear()

    def close(self) -> None:
        """Leave pipeline mode; only after ``sync``. If the pipeline ended in an error, the statements first
        prepared in it may or may not exist on the server: they are forgotten, and get new names next time."""
        for sql in self._named_here:
            self._prepared.pop(sql, None)
        self._pgconn.exit_pipeline_mode()

    def _failed(self, error: errors.Error) -> None:
        if self._error is None:
            self._error = error
        if isinstance(error, errors.InvalidSqlStatementName):
            # Someone deallocated the session's prepared statements (DEALLOCATE ALL, DISCARD ALL): this command
            # fails, and the next prepares them again.
            self._prepared.clear()

    def _read_one(self, result: Result | None) -> None:
        """Read the results of the next statement sent (``result``, or None for a Parse) up to their end."""
        outcome = None
        while (res := self._wait_result()) is not None:
            outcome = res
        if outcome.status not in _QUERY_DONE:
            self._failed(_error_of(outcome))
        if result is None:
            return
        if self._error is not None:
            result._error = self._error
        elif outcome.status == ExecStatus.TUPLES_OK:
            self._transformer.set_pgresult(outcome)
            result._rows = self._transformer.load_rows(0, outcome.ntuples, tuple)
        if outcome.command_tuples is not None:
            result._rowcount = outcome.command_tuples
        result._done = True

    def _wait_result(self):
        pgconn = self._pgconn
        while pgconn.is_busy():
            select.select([pgconn.socket], [], [])
            pgconn.consume_input()
        return pgconn.get_result()

    def _flush(self) -> None:
        # Non-blocking, as psycopg keeps the connection: while the server cannot take more, read what it sends.
        pgconn = self._pgconn
        while pgconn.flush() == 1:
            readable, _, _ = select.select([pgconn.socket], [pgconn.socket], [])
            if readable:
                pgconn.consume_input()

    def _as_text(self, value):
        if value is None:
            return None
        kind = type(value)
        if kind is str:
            return value.encode()
        if kind is bool:
            return b"t" if value else b"f"
        if kind is int:
            return str(value).encode()
        if kind is datetime or kind is date:
            return value.isoformat().encode()
        # JSON (psycopg's wrapper, from SQLAlchemy's bind processor) and anything rarer: psycopg's own dumper
        return self._transformer.get_dumper(value, PyFormat.TEXT).dump(value)


def _error_of(res) -> errors.Error:
    """The psycopg exception for a failed statement (or one skipped because an earlier one failed)."""
    if res.status == ExecStatus.PIPELINE_ABORTED:
        return errors.PipelineAborted("pipeline aborted")
    sqlstate = res.error_field(DiagnosticField.SQLSTATE)
    message = res.error_message.decode("utf-8", "replace").strip()
    cls = errors.lookup(sqlstate.decode()) if sqlstate else errors.DatabaseError
    return cls(message)
