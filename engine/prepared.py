"""Statements that every command runs, executed on the database driver's cursor.

SQLAlchemy spends about 30 µs of Python on each ``Connection.execute`` (an execution context, result
metadata, events) before the driver sees the statement, several times what SQLite takes to run a small
one; a command runs about ten. A ``Prepared`` statement is a Core statement compiled once per dialect by
SQLAlchemy itself, whose values go through the column types' own bind processors (instants as UTC, JSON
as text), and which then runs on the DBAPI cursor of the command's connection, inside its transaction.
The connection's ``before_cursor_execute`` listeners still see every statement, and driver errors are
raised as SQLAlchemy's exceptions, so callers and tests cannot tell the difference.

Rows read with ``first`` and ``all`` go through the selected columns' result processors too (instants back as aware
UTC datetimes, JSON parsed) and come back as named tuples.
"""
from __future__ import annotations

import weakref
from collections import namedtuple
from dataclasses import dataclass

from sqlalchemy import Connection, bindparam

from .db import PIPELINE, READ_AHEAD, as_sqlalchemy_error, in_pipeline, make_explicit, run_on_driver


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
        compiled = _Compiled(result.string, names, processors, fixed, defaults, result.positional, row_type,
                             results)
        self._by_dialect[dialect] = compiled
        return compiled

    def _values(self, compiled: _Compiled, params: dict):
        if compiled.fixed or compiled.defaults:
            params = {**compiled.fixed, **{name: _default(default) for name, default in compiled.defaults.items()
                                           if name not in params}, **params}
        values = [params[name] if process is None else process(params[name])
                  for name, process in zip(compiled.names, compiled.processors)]
        return values if compiled.positional else dict(zip(compiled.names, values))

    def execute(self, conn: Connection, params: dict):
        """Run the statement with ``params`` (by bind name); gives the driver's cursor."""
        compiled = self._compiled(conn.dialect)
        self._before(conn)
        return run_on_driver(conn, compiled.sql, self._values(compiled, params))

    def executemany(self, conn: Connection, rows: list[dict]) -> None:
        if rows:
            compiled = self._compiled(conn.dialect)
            self._before(conn)
            run_on_driver(conn, compiled.sql, [self._values(compiled, row) for row in rows], many=True)

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
        pipeline = conn.info.get(PIPELINE)
        if pipeline is not None:
            make_explicit(conn)
            self._fetch(conn, pipeline.sync)
        return cursor.rowcount

    def _fetch(self, conn: Connection, fetch):
        """``fetch()``, with a driver error (in a pipeline, that of any statement sent before) raised as
        SQLAlchemy's."""
        try:
            return fetch()
        except conn.dialect.loaded_dbapi.Error as err:
            raise as_sqlalchemy_error(conn, str(self.statement), None, err) from err


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
