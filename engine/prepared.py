"""Statements that every command runs, executed on the database driver's cursor.

SQLAlchemy spends about 30 µs of Python on each ``Connection.execute`` (an execution context, result
metadata, events) before the driver sees the statement, several times what SQLite takes to run a small
one; a command runs about ten. A ``Prepared`` statement is a Core statement compiled once per dialect by
SQLAlchemy itself, whose values go through the column types' own bind processors (instants as UTC, JSON
as text), and which then runs on the DBAPI cursor of the command's connection, inside its transaction (in a
PostgreSQL command's pipeline, through libpq directly: engine.pgpipeline). The connection's
``before_cursor_execute`` listeners still see every statement, and driver errors are raised as SQLAlchemy's
exceptions, so callers and tests cannot tell the difference.

Rows read with ``first`` and ``all`` go through the selected columns' result processors too (instants back as aware
UTC datetimes, JSON parsed) and come back as named tuples.
"""
from __future__ import annotations

import re
import weakref
from collections import namedtuple
from dataclasses import dataclass

from sqlalchemy import Connection, bindparam

from .db import (READ_AHEAD, as_sqlalchemy_error, has_listeners, in_pipeline, notify_listeners, pipeline_of,
                 run_on_driver)


@dataclass(frozen=True)
class _Compiled:
    sql: str
    names: tuple[str, ...]            # the bind names, in the order a positional driver wants them
    processors: tuple                 # each bind's processor (or None), in the same order
    fixed: dict                       # the values the statement itself holds (a LIMIT), by bind name
    defaults: dict                    # the Python-side column defaults of the columns not given, by bind name
    positional: bool
    row_type: type | None             # for a SELECT: a named tuple of its columns
    results: tuple                    # for a SELECT: each column's result processor (or None)
    numbered: bytes | None            # on PostgreSQL: the SQL with $1, $2 ... for engine.pgpipeline
    numbered_order: tuple[int, ...]   # for each $n, the index in ``names`` of its value


class Prepared:
    """A Core statement compiled once per dialect and run on the driver's cursor. ``column_keys`` names the
    columns an INSERT given as a plain table sets (as SQLAlchemy needs them to compile it); ``writes`` says
    that a statement SQLAlchemy does not see as a write (a SELECT over an UPDATE ... RETURNING) is one."""

    def __init__(self, statement, column_keys: list[str] | None = None, writes: bool | None = None):
        self.statement = statement
        self.column_keys = column_keys
        # Whether running it changes rows: an INSERT, UPDATE or DELETE, or what ``writes`` says (a SELECT that
        # wraps one in a WITH)
        self.writes = bool(getattr(statement, "is_dml", False)) if writes is None else writes
        # By the dialect object itself, not its id(): an id can be reused by another engine's dialect (SQLite's
        # after PostgreSQL's) once the first is gone, and the two compile to different SQL.
        self._by_dialect: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._last = (lambda: None, None)  # the dialect last used (weakly) and its compiled statement

    def _compiled(self, dialect) -> _Compiled:
        last_dialect, compiled = self._last
        if last_dialect() is not dialect:
            compiled = self._by_dialect.get(dialect) or self._compile(dialect)
            self._last = (weakref.ref(dialect), compiled)
        return compiled

    def _compile(self, dialect) -> _Compiled:
        result = self.statement.compile(dialect=dialect, column_keys=self.column_keys)
        names = tuple(result.positiontup) if result.positional else tuple(result.binds)
        binds = [result.binds[name] for name in names]
        processors = tuple(bind.type.dialect_impl(dialect).bind_processor(dialect) for bind in binds)
        defaults = {column.key: column.default for column in (*result.insert_prefetch, *result.update_prefetch)}
        fixed = {name: bind.effective_value for name, bind in zip(names, binds)
                 if not bind.required and name not in defaults}
        columns = getattr(self.statement, "selected_columns", None)
        if columns is not None and not getattr(self.statement, "is_dml", False):
            row_type = namedtuple("Row", [str(column.key) for column in columns], rename=True)
            results = tuple(column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns)
        else:
            row_type, results = None, ()
        numbered, numbered_order = _numbered(result.string, names) if dialect.name == "postgresql" else (None, ())
        compiled = _Compiled(result.string, names, processors, fixed, defaults, result.positional, row_type,
                             results, numbered, numbered_order)
        self._by_dialect[dialect] = compiled
        return compiled

    def _processed(self, compiled: _Compiled, params: dict) -> list:
        """The values of ``params`` for the statement's binds, in ``names`` order, through their processors."""
        if compiled.fixed or compiled.defaults:
            params = {**compiled.fixed, **{name: _default(default) for name, default in compiled.defaults.items()
                                           if name not in params}, **params}
        return [params[name] if process is None else process(params[name])
                for name, process in zip(compiled.names, compiled.processors)]

    def _values(self, compiled: _Compiled, params: dict):
        values = self._processed(compiled, params)
        return values if compiled.positional else dict(zip(compiled.names, values))

    def execute(self, conn: Connection, params: dict):
        """Run the statement with ``params`` (by bind name); gives the driver's cursor (in a PostgreSQL pipeline,
        a ``pgpipeline.Result``, which offers the same ``fetchone``, ``fetchall`` and ``rowcount``)."""
        compiled = self._compiled(conn.dialect)
        self._before(conn)
        if in_pipeline(conn):
            return self._send(conn, compiled, [params], many=False)[0]
        return run_on_driver(conn, compiled.sql, self._values(compiled, params))

    def executemany(self, conn: Connection, rows: list[dict]) -> None:
        if rows:
            compiled = self._compiled(conn.dialect)
            self._before(conn)
            if in_pipeline(conn):
                self._send(conn, compiled, rows, many=True)
            else:
                run_on_driver(conn, compiled.sql, [self._values(compiled, row) for row in rows], many=True)

    def _send(self, conn: Connection, compiled: _Compiled, rows: list[dict], many: bool) -> list:
        """Send the statement once per row of ``rows`` in ``conn``'s pipeline; the listeners hear of it once,
        as of a driver's ``execute`` or ``executemany``."""
        processed = [self._processed(compiled, row) for row in rows]
        if has_listeners(conn):
            named = [dict(zip(compiled.names, values)) for values in processed]
            notify_listeners(conn, None, compiled.sql, named if many else named[0], many)
        pipeline = pipeline_of(conn)
        return [pipeline.send(compiled.numbered, [values[index] for index in compiled.numbered_order])
                for values in processed]

    def _before(self, conn: Connection) -> None:
        """A write drops the reads sent ahead (``read_ahead``): they may not see it."""
        if READ_AHEAD in conn.info and self.writes:
            del conn.info[READ_AHEAD]

    def scalar(self, conn: Connection, params: dict | None = None):
        """The first column of the first row as the driver gives it (an id, a count, text), or None."""
        return self.scalar_of(conn, self.execute(conn, params or {}))

    def scalar_later(self, conn: Connection, params: dict):
        """Run the statement now and give a function that gives its ``scalar``. In a PostgreSQL pipeline the
        value is fetched when the function is first called: once the next wait has brought it, that costs no
        round trip. Elsewhere it is fetched at once, as SQLite must finish a statement before COMMIT."""
        cursor = self.execute(conn, params)
        if in_pipeline(conn):
            return lambda: self.scalar_of(conn, cursor)
        value = self.scalar_of(conn, cursor)
        return lambda: value

    def scalar_of(self, conn: Connection, cursor):
        """``scalar`` of a ``cursor`` that this statement's ``execute`` gave."""
        row = self._fetch(conn, cursor.fetchone)
        return row[0] if row is not None else None

    def first(self, conn: Connection, params: dict):
        """The first row of a SELECT, its values converted by the column types, as a named tuple; or None."""
        row = self._fetch(conn, self.execute(conn, params).fetchone)
        return None if row is None else _converted(self._compiled(conn.dialect), row)

    def all(self, conn: Connection, params: dict) -> list:
        """Every row of a SELECT, converted as ``first`` converts one (those of the read sent ahead with the same
        parameters in this transaction, if there is one: ``read_ahead``)."""
        ahead = conn.info.get(READ_AHEAD)
        cursor = ahead.pop((self, _key(params)), None) if ahead else None
        rows = self._fetch(conn, (cursor or self.execute(conn, params)).fetchall)
        compiled = self._compiled(conn.dialect)
        return [_converted(compiled, row) for row in rows]

    def read_ahead(self, conn: Connection, params: dict) -> None:
        """In a PostgreSQL pipeline, send this SELECT now without waiting for its rows: they come with the
        transaction's next wait, and a later ``all`` with the same parameters in the same transaction takes them
        instead of asking again, unless the transaction has written anything since or left the pipeline (a
        statement SQLAlchemy ran itself): then ``all`` asks again, so it never misses the transaction's own
        changes. Elsewhere (SQLite has no round trips to save) nothing is done."""
        if not in_pipeline(conn):
            return
        ahead = conn.info.setdefault(READ_AHEAD, {})
        key = (self, _key(params))
        if key not in ahead:
            ahead[key] = self.execute(conn, params)

    def rowcount(self, conn: Connection, params: dict) -> int:
        """How many rows the statement changed (in a pipeline, once everything sent so far has run)."""
        cursor = self.execute(conn, params)
        return self._fetch(conn, lambda: cursor.rowcount)

    def _fetch(self, conn: Connection, fetch):
        """``fetch()``, with a driver error (in a pipeline, that of any statement sent before) raised as
        SQLAlchemy's."""
        try:
            return fetch()
        except conn.dialect.loaded_dbapi.Error as err:
            raise as_sqlalchemy_error(conn, str(self.statement), None, err) from err


def _numbered(sql: str, names: tuple[str, ...]) -> tuple[bytes, tuple[int, ...]]:
    """``sql`` in the pyformat style (``%(name)s``, ``%%``) with PostgreSQL's $1, $2 ... instead, a number per
    bind name; and for each number, the index in ``names`` of its value."""
    order: list[str] = []

    def number(match) -> str:
        if match.group(1) is None:
            return "%"
        if match.group(1) not in order:
            order.append(match.group(1))
        return f"${order.index(match.group(1)) + 1}"

    numbered = _PLACEHOLDER.sub(number, sql)
    return numbered.encode(), tuple(names.index(name) for name in order)


_PLACEHOLDER = re.compile(r"%%|%\(([^)]+)\)s")


def column_param(table, name: str):
    """A bind parameter ``name`` typed as that column of ``table``: a value of an INSERT ... SELECT, which
    SQLAlchemy cannot type from the table it inserts into."""
    return bindparam(name, type_=table.c[name].type)


def _key(params: dict) -> tuple:
    return tuple(sorted(params.items()))


def _converted(compiled: _Compiled, row):
    return compiled.row_type._make([value if process is None else process(value)
                                    for value, process in zip(row, compiled.results)])


def _default(default):
    """A column's Python-side default value (SQLAlchemy wraps a callable default to take an execution context,
    which GovFlow's defaults do not use)."""
    return default.arg(None) if default.is_callable else default.arg
