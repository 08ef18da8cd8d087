"""Prepared statements (engine/prepared.py) run on the driver's cursor; what they store and raise must be
exactly what SQLAlchemy's own execute would, on both databases."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import String, bindparam, event, insert, select, text, update
from sqlalchemy.exc import IntegrityError, ProgrammingError

from engine.db import pipelined
from engine.errors import Conflict
from engine.models import Notification, Role, TaskIndex
from engine.prepared import Prepared
from .helpers import CLERK, deploy

NOTICE = ["username", "kind", "message", "instance_id", "task_id", "created_at"]
AT = datetime(2026, 6, 1, 9, 0, tzinfo=timezone(timedelta(hours=8)))  # whole seconds: no fraction to lose


def notice(username: str, at: datetime = AT) -> dict:
    return {"username": username, "kind": "new_task", "message": "新待办", "instance_id": None, "task_id": None,
            "created_at": at}


def stored_text(conn, username: str):
    """The instant as the database itself holds it, not as SQLAlchemy reads it back."""
    return conn.execute(text("SELECT CAST(created_at AS TEXT) FROM notifications WHERE username = :u"),
                        {"u": username}).scalar_one()


def test_an_instant_is_stored_exactly_as_sqlalchemy_stores_it(bare_engine):
    with bare_engine.unit_of_work() as uow:
        Prepared(insert(Notification), NOTICE).execute(uow.conn, notice("prepared"))
        uow.conn.execute(insert(Notification), notice("core"))
    with bare_engine.db.connect() as conn:
        # SQLite compares instants as text: the two paths must write the same text, fraction included
        assert stored_text(conn, "prepared") == stored_text(conn, "core")
        read = dict(conn.execute(select(Notification.username, Notification.created_at)).all())
    assert read["prepared"] == read["core"] == AT
    assert read["prepared"].tzinfo is not None


def test_a_task_row_written_by_a_command_has_its_json_and_its_python_side_defaults(engine):
    key = deploy(engine, "loop")
    [task] = engine.start(key, CLERK, {})["tasks"]
    with engine.db.connect() as conn:
        stored = conn.execute(select(TaskIndex.hops, TaskIndex.queue, TaskIndex.round, TaskIndex.created_at)
                              .where(TaskIndex.id == task["id"])).one()
    assert (stored.hops, stored.queue, stored.round) == ([], [], 1)  # defaults the command did not give
    assert stored.created_at == engine.clock.now()


def test_a_driver_error_is_raised_as_sqlalchemys_and_nothing_is_kept(bare_engine):
    role = Prepared(insert(Role), ["key", "name_zh", "name_en", "department_scoped"])
    values = {"key": "archivist", "name_zh": "档案员", "name_en": "Archivist", "department_scoped": False}
    with bare_engine.unit_of_work() as uow:
        role.execute(uow.conn, values)
    with pytest.raises(IntegrityError):
        with bare_engine.db.begin() as conn:
            role.execute(conn, {**values, "name_zh": "另一个"})
    with bare_engine.db.connect() as conn:
        assert conn.execute(select(Role.name_zh).where(Role.key == "archivist")).scalars().all() == ["档案员"]


def test_statement_listeners_see_prepared_statements(bare_engine):
    seen = []

    def listen(conn, cursor, statement, parameters, context, executemany):
        seen.append((statement.split()[0], executemany))

    event.listen(bare_engine.db, "before_cursor_execute", listen)
    try:
        with bare_engine.unit_of_work() as uow:
            Prepared(insert(Notification), NOTICE).executemany(uow.conn, [notice("a"), notice("b")])
    finally:
        event.remove(bare_engine.db, "before_cursor_execute", listen)
    assert seen.count(("INSERT", True)) == 1  # one event for the two rows, on both databases


def test_in_a_pipeline_a_row_count_waits_for_the_writes_before_it(bare_engine):
    add = Prepared(insert(Notification), NOTICE)
    mark = Prepared(update(Notification).where(Notification.kind == bindparam("kind"))
                    .values(message=bindparam("message")))
    with bare_engine.unit_of_work() as uow:
        with pipelined(uow.conn):
            add.executemany(uow.conn, [notice("a"), notice("b"), notice("c")])
            changed = mark.rowcount(uow.conn, {"kind": "new_task", "message": "已读"})
            first = Prepared(select(Notification.username, Notification.created_at)
                             .order_by(Notification.username).limit(1)).first(uow.conn, {})
    assert changed == 3
    assert (first.username, first.created_at) == ("a", AT)


def test_a_pipeline_on_an_ordinary_connection_belongs_to_the_connections_transaction(bare_engine):
    """``pipelined`` outside a command: its statements run in the connection's own transaction (on PostgreSQL
    the pipeline begins it, as psycopg would), so rolling that back keeps none of them."""
    add = Prepared(insert(Notification), NOTICE)
    with bare_engine.db.connect() as conn:
        transaction = conn.begin()
        with pipelined(conn):
            add.executemany(conn, [notice("a"), notice("b")])
        transaction.rollback()
        with conn.begin():
            with pipelined(conn):
                add.execute(conn, notice("kept"))
    assert usernames(bare_engine.db) == ["kept"]


def usernames(db) -> list[str]:
    with db.connect() as conn:
        return conn.execute(select(Notification.username).order_by(Notification.username)).scalars().all()


def test_a_write_transaction_goes_on_when_sqlalchemy_runs_a_statement_itself(bare_engine):
    """On PostgreSQL a command's transaction runs in a pipeline that SQLAlchemy's own statements cannot use:
    the first of them ends the pipeline, and the transaction goes on around it, seeing its own writes."""
    add = Prepared(insert(Notification), NOTICE)
    with bare_engine.unit_of_work() as uow:
        add.execute(uow.conn, notice("a"))
        assert uow.conn.execute(select(Notification.username)).scalars().all() == ["a"]
        uow.conn.execute(insert(Notification), notice("b"))
        add.execute(uow.conn, notice("c"))
    assert usernames(bare_engine.db) == ["a", "b", "c"]


def test_a_write_that_fails_in_the_pipeline_rolls_back_the_whole_command_as_a_conflict(bare_engine):
    """On PostgreSQL a failed write is only reported when the transaction next waits (at COMMIT); on SQLite at
    once. Either way the command is a Conflict, nothing it wrote is kept, and its connection works after."""
    role = Prepared(insert(Role), ["key", "name_zh", "name_en", "department_scoped"])
    values = {"key": "archivist", "name_zh": "档案员", "name_en": "Archivist", "department_scoped": False}
    with bare_engine.unit_of_work() as uow:
        role.execute(uow.conn, values)
    with pytest.raises(Conflict):
        with bare_engine.unit_of_work() as uow:
            Prepared(insert(Notification), NOTICE).execute(uow.conn, notice("lost"))
            role.execute(uow.conn, values)
    assert usernames(bare_engine.db) == []
    with pytest.raises(Conflict):  # reported where a read waits, and then nothing more may be sent
        with bare_engine.unit_of_work() as uow:
            Prepared(insert(Notification), NOTICE).execute(uow.conn, notice("lost"))
            role.execute(uow.conn, values)
            Prepared(select(Role.key)).all(uow.conn, {})
    assert usernames(bare_engine.db) == []
    with bare_engine.unit_of_work() as uow:
        Prepared(insert(Notification), NOTICE).execute(uow.conn, notice("next"))
    assert usernames(bare_engine.db) == ["next"]


def test_connections_that_served_commands_begin_transactions_as_usual_for_others(bare_engine):
    """The commands' connections run with the driver in autocommit mode on PostgreSQL (the engine sends BEGIN
    and COMMIT itself); back in the pool they must be ordinary again, or a reader's rollback would lose
    nothing and a writer outside the engine would commit statement by statement."""
    for username in ("one", "two"):
        with bare_engine.unit_of_work() as uow:
            Prepared(insert(Notification), NOTICE).execute(uow.conn, notice(username))
    with bare_engine.db.connect() as conn:
        conn.execute(insert(Notification), notice("rolled back"))
        conn.rollback()
    assert usernames(bare_engine.db) == ["one", "two"]


def test_rows_read_ahead_are_taken_only_for_the_same_parameters_and_until_the_transaction_writes(bare_engine):
    """On PostgreSQL a read sent ahead (Prepared.read_ahead) answers a later ``all`` with the same parameters
    without asking again; a write, or a statement SQLAlchemy runs itself, makes the next ``all`` ask again, so
    it sees the transaction's own changes. SQLite reads nothing ahead and always asks."""
    add = Prepared(insert(Notification), NOTICE)
    by_kind = Prepared(select(Notification.username).where(Notification.kind == bindparam("kind"))
                       .order_by(Notification.username))
    with bare_engine.unit_of_work() as uow:
        add.execute(uow.conn, notice("a"))
    asked = []

    def listen(conn, cursor, statement, *_):
        asked.append(statement)

    event.listen(bare_engine.db, "before_cursor_execute", listen)

    def names(conn, kind: str = "new_task") -> list[str]:
        asked.clear()
        return [row.username for row in by_kind.all(conn, {"kind": kind})]

    try:
        with bare_engine.unit_of_work() as uow:
            conn = uow.conn
            by_kind.read_ahead(conn, {"kind": "new_task"})
            assert names(conn, "urged") == [] and len(asked) == 1
            assert names(conn) == ["a"]
            assert len(asked) == (0 if conn.dialect.name == "postgresql" else 1)
            by_kind.read_ahead(conn, {"kind": "new_task"})
            add.execute(conn, notice("b"))
            assert names(conn) == ["a", "b"] and len(asked) == 1
            by_kind.read_ahead(conn, {"kind": "new_task"})
            conn.execute(insert(Notification), notice("c"))
            assert names(conn) == ["a", "b", "c"] and len(asked) == 1
    finally:
        event.remove(bare_engine.db, "before_cursor_execute", listen)


def test_on_postgresql_a_step_sends_its_new_tasks_assignee_query_with_its_read_of_the_task(engine):
    """Completing a task of an instance the engine has in memory: on PostgreSQL the query for the next task's
    assignee goes out before the task's own read (one round trip brings both) and is not asked again; SQLite
    asks it once, after."""
    key = deploy(engine, "loop")
    [task] = engine.start(key, CLERK, {})["tasks"]
    asked = []

    def listen(conn, cursor, statement, *_):
        asked.append("assignee" if "duty_roster" in statement else "task" if "JOIN instances" in statement
                     else None)

    event.listen(engine.db, "before_cursor_execute", listen)
    try:
        [again] = engine.complete(task["id"], CLERK, {"again": True})["tasks"]
    finally:
        event.remove(engine.db, "before_cursor_execute", listen)
    assert again["assignee"] == CLERK
    reads = [what for what in asked if what]
    assert reads == (["assignee", "task"] if engine.db.dialect.name == "postgresql" else ["task", "assignee"])


def test_on_postgresql_a_start_reads_its_definition_and_starter_in_one_wait_and_its_first_assignee_in_another(
        engine):
    """On PostgreSQL starting an instance waits for its reads twice: the starter's profile is sent ahead with
    the definition's read, and the first task's assignee query with the new instance's INSERT, whose id it
    waits for. SQLite asks each as it comes, and asks each once."""
    key = deploy(engine, "loop")
    engine.start(key, CLERK, {})  # the engine has the definition from now on
    asked = []

    def listen(conn, cursor, statement, *_):
        for name, mark in (("profile", "FROM users LEFT OUTER JOIN user_roles"), ("definition", "FROM definition_versions"),
                           ("insert", "INSERT INTO instances"), ("assignee", "duty_roster")):
            if mark in statement:
                asked.append(name)

    event.listen(engine.db, "before_cursor_execute", listen)
    try:
        [task] = engine.start(key, CLERK, {})["tasks"]
    finally:
        event.remove(engine.db, "before_cursor_execute", listen)
    assert task["assignee"] == CLERK
    assert asked == (["profile", "definition", "insert", "assignee"] if engine.db.dialect.name == "postgresql"
                     else ["definition", "profile", "insert", "assignee"])


def test_a_command_that_fails_before_it_commits_keeps_nothing_it_wrote(bare_engine):
    """On PostgreSQL the writes of a command are one implicit transaction of its pipeline, which its end would
    commit: a command that raises must end it without committing, whether or not it has waited since."""
    add = Prepared(insert(Notification), NOTICE)
    by_name = Prepared(select(Notification.username).order_by(Notification.username))
    for wait_first in (False, True):
        with pytest.raises(RuntimeError):
            with bare_engine.unit_of_work() as uow:
                add.execute(uow.conn, notice("lost"))
                if wait_first:
                    assert [row.username for row in by_name.all(uow.conn, {})] == ["lost"]
                raise RuntimeError("the command fails")
        assert usernames(bare_engine.db) == []
    with bare_engine.unit_of_work() as uow:
        uow.rollback_only = True
        add.execute(uow.conn, notice("checked only"))
    assert usernames(bare_engine.db) == []


def test_a_percent_sign_in_a_statement_reaches_the_database_as_written(bare_engine):
    """The pyformat SQL SQLAlchemy compiles for psycopg doubles a literal %; PostgreSQL's pipeline
    (engine.pgpipeline) numbers the parameters itself and must undouble it."""
    glued = Prepared(text("SELECT '100%' || :suffix AS glued").columns(glued=String))
    with bare_engine.unit_of_work() as uow:
        assert glued.first(uow.conn, {"suffix": " 完成"}).glued == "100% 完成"
    with bare_engine.db.connect() as conn:
        assert glued.first(conn, {"suffix": "!"}).glued == "100%!"


def prepared_here(conn) -> list[str]:
    """The statements prepared on the session of ``conn``'s connection by the pipeline (PostgreSQL)."""
    return conn.execute(text("SELECT statement FROM pg_prepared_statements WHERE name LIKE 'govflow%'")).scalars().all()


def test_on_postgresql_a_commands_statements_are_prepared_once_per_session(engine):
    """Each statement is parsed and planned once per database session, not once per command; commands one
    after another use the same pooled connection."""
    if engine.db.dialect.name != "postgresql":
        pytest.skip("SQLite prepares nothing on a server")
    key = deploy(engine, "loop")
    [task] = engine.start(key, CLERK, {})["tasks"]
    for _ in range(3):
        [task] = engine.complete(task["id"], CLERK, {"again": True})["tasks"]
    with engine.unit_of_work() as uow:
        first = prepared_here(uow.conn)
    engine.start(key, CLERK, {})
    engine.complete(task["id"], CLERK, {"again": True})
    with engine.unit_of_work() as uow:
        later = prepared_here(uow.conn)
    assert any("INSERT INTO task_index" in statement for statement in first)
    assert set(first) <= set(later)
    assert len(set(later)) == len(later)  # the same commands again prepared nothing a second time


def test_a_command_after_a_rollback_on_its_connection_still_finds_its_statements_prepared(engine):
    """psycopg deallocates every prepared statement of a session after a rollback whenever it has prepared one
    itself; engine.db stops it preparing, so the pipeline's statements survive a reader's rollback."""
    key = deploy(engine, "loop")
    [task] = engine.start(key, CLERK, {})["tasks"]
    with engine.db.connect() as conn:
        for _ in range(6):  # more than psycopg's default threshold for preparing a statement itself
            conn.execute(select(Notification.id).where(Notification.username == CLERK)).all()
        conn.rollback()
    [task] = engine.complete(task["id"], CLERK, {"again": True})["tasks"]
    assert task["assignee"] == CLERK


def test_on_postgresql_statements_deallocated_by_someone_else_fail_one_command_and_are_prepared_again(engine):
    if engine.db.dialect.name != "postgresql":
        pytest.skip("SQLite prepares nothing on a server")
    key = deploy(engine, "loop")
    [task] = engine.start(key, CLERK, {})["tasks"]
    with engine.unit_of_work() as uow:
        uow.conn.execute(text("DEALLOCATE ALL"))
    with pytest.raises(ProgrammingError, match="does not exist"):
        engine.complete(task["id"], CLERK, {"again": True})
    [task] = engine.complete(task["id"], CLERK, {"again": True})["tasks"]
    assert task["assignee"] == CLERK
