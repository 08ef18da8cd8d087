"""Loading and saving instance state with a few Core statements per command.

An instance's state is its row in ``instances`` (the workflow header, a data snapshot, an optimistic lock
version), one ``instance_tasks`` row per SpiffWorkflow task, its open ``task_index`` rows and its pending
``timers``. A process-wide cache keeps recently used instances in memory keyed by their lock version, so a
step on a warm instance reads nothing but the rows that prove the version is current; a version that moved
on (another process stepped the instance) makes the cache miss and the state is read from the rows.
"""
from __future__ import annotations

import threading
from collections.abc import Mapping
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, bindparam, delete, func, insert, select, update

from .bpmn import CompiledSpec, StoredState, TrackedWorkflow, pending_timers
from .clock import local_iso
from .errors import Conflict, NotFound
from .models import DefinitionVersion, Instance, InstanceTask, TaskIndex, Timer
from .prepared import Prepared

CONFLICT_MESSAGE = ("另一个操作刚刚修改了这个流程，请刷新后重试 / the instance was changed by another action at the "
                    "same moment; reload and try again")


@dataclass
class InstanceRow:
    id: int
    definition_id: int
    process_key: str
    title: str
    state: str
    lock_version: int
    started_by: str
    error: str | None


@dataclass
class LiveInstance:
    """What a command works on: the instance row, its workflow, its open task rows and pending timers."""
    row: InstanceRow
    tracked: TrackedWorkflow
    open_tasks: dict[str, dict] = field(default_factory=dict)  # spiff task id -> task index row (as a dict)
    timers: frozenset = frozenset()
    data: dict = field(default_factory=dict)  # the instance's data as last saved
    # Task rows added in this command whose ids have not come back yet: (task as callers see it, fetch of its id)
    pending_ids: list = field(default_factory=list)

    def resolve_ids(self) -> None:
        """Fill in the ids of the task rows added in this command. In a PostgreSQL pipeline they come with the
        wait for the commit; asking before that waits for them."""
        for task, fetch_id in self.pending_ids:
            task["id"] = fetch_id()
        self.pending_ids.clear()


@dataclass(frozen=True)
class Definition:
    """A deployed definition version; immutable once stored, so it is cached for the life of the process."""
    id: int
    key: str
    version: int
    properties: dict
    forms: dict
    compiled: CompiledSpec


class DefinitionCache:
    def __init__(self):
        self._by_id: dict[int, Definition] = {}
        self._lock = threading.Lock()

    def get(self, conn: Connection, definition_id: int) -> Definition:
        definition = self.known(definition_id)
        if definition is None:
            row = conn.execute(select(DefinitionVersion.process_key, DefinitionVersion.version,
                                      DefinitionVersion.properties, DefinitionVersion.forms, DefinitionVersion.spec)
                               .where(DefinitionVersion.id == definition_id)).one()
            definition = Definition(definition_id, row.process_key, row.version, row.properties, row.forms,
                                    CompiledSpec.from_dict(row.spec))
            with self._lock:
                self._by_id[definition_id] = definition
        return definition

    def known(self, definition_id: int) -> Definition | None:
        """The definition if this process has it already, without asking the database."""
        return self._by_id.get(definition_id)

    def latest(self, conn: Connection, process_key: str) -> Definition:
        definition_id = _LATEST_DEFINITION.scalar(conn, {"key": process_key})
        if definition_id is None:
            raise NotFound(f"没有这个流程 / no process with the key '{process_key}' is deployed")
        return self.get(conn, definition_id)


class InstanceCache:
    """Live instances by id, each trusted only at the lock version it was saved at; and which of them has an
    open task, by task index id."""

    def __init__(self, size: int = 256):
        self._size = size
        self._entries: OrderedDict[int, LiveInstance] = OrderedDict()
        self._instance_of_task: dict[int, int] = {}
        self._lock = threading.Lock()

    def take(self, instance_id: int, version: int) -> LiveInstance | None:
        with self._lock:
            live = self._entries.pop(instance_id, None)
            if live is not None:
                self._forget_tasks(live)
        if live is None or live.row.lock_version != version:
            return None
        return live

    def peek(self, instance_id: int) -> LiveInstance | None:
        with self._lock:
            return self._entries.get(instance_id)

    def holding(self, task_id: int) -> LiveInstance | None:
        """The instance whose open task ``task_id`` is, as last saved by this process (it may be stale: only
        for guesses, such as Engine._read_ahead's)."""
        with self._lock:
            instance_id = self._instance_of_task.get(task_id)
            return self._entries.get(instance_id) if instance_id is not None else None

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._instance_of_task.clear()

    def put(self, live: LiveInstance) -> None:
        with self._lock:
            previous = self._entries.get(live.row.id)
            if previous is not None:
                self._forget_tasks(previous)
            self._entries[live.row.id] = live
            self._entries.move_to_end(live.row.id)
            for task in live.open_tasks.values():
                self._instance_of_task[task["id"]] = live.row.id
            while len(self._entries) > self._size:
                self._forget_tasks(self._entries.popitem(last=False)[1])

    def _forget_tasks(self, live: LiveInstance) -> None:
        for task in live.open_tasks.values():
            if self._instance_of_task.get(task["id"]) == live.row.id:
                del self._instance_of_task[task["id"]]


# Statements are built once: composing SQLAlchemy expressions costs more than running them on SQLite.
_LATEST_DEFINITION = Prepared(select(DefinitionVersion.id).where(DefinitionVersion.process_key == bindparam("key"))
                              .order_by(DefinitionVersion.version.desc()).limit(1))
_INSTANCE_COLUMNS = (Instance.id, Instance.definition_id, Instance.process_key, Instance.title, Instance.state,
                     Instance.lock_version, Instance.started_by, Instance.error)
_TASKS = TaskIndex.__table__
_INSTANCE_ROW = select(*_INSTANCE_COLUMNS).where(Instance.id == bindparam("id"))
_TASK_WITH_INSTANCE = Prepared(
    select(_TASKS, *[column.label(f"instance_{column.key}") for column in _INSTANCE_COLUMNS])
    .join(Instance, Instance.id == _TASKS.c.instance_id).where(_TASKS.c.id == bindparam("id")))
_INSERT_INSTANCE = Prepared(insert(Instance).returning(Instance.id),
                            ["definition_id", "process_key", "title", "state", "lock_version", "started_at",
                             "started_by", "data", "workflow"])
_HEADER = select(Instance.workflow, Instance.data).where(Instance.id == bindparam("id"))
_TASK_ROWS = (select(InstanceTask.task_id, InstanceTask.workflow_id, InstanceTask.body)
              .where(InstanceTask.instance_id == bindparam("id")))
_OPEN_TASKS = select(_TASKS).where(_TASKS.c.instance_id == bindparam("id"), _TASKS.c.state == "open")
_UPDATE_INSTANCE = (
    update(Instance)
    .where(Instance.id == bindparam("b_id"), Instance.lock_version == bindparam("b_expected"))
    .values(workflow=bindparam("b_workflow"), data=bindparam("b_data"), state=bindparam("b_state"),
            error=bindparam("b_error"), ended_at=bindparam("b_ended_at"), lock_version=bindparam("b_version")))
_SAVE_INSTANCE = Prepared(_UPDATE_INSTANCE)
# PostgreSQL: the same UPDATE, refused by the database when it changed no row (function from migration 0010),
# so that in a pipeline the check goes out with the commit instead of costing a round trip of its own.
_SAVE_INSTANCE_CHECKED = Prepared(
    select(func.govflow_expect_saved(func.count()))
    .select_from(_UPDATE_INSTANCE.returning(Instance.id).cte("saved")), writes=True)
_INSERT_TASK_ROWS = Prepared(insert(InstanceTask), ["instance_id", "task_id", "workflow_id", "body"])
_UPDATE_TASK_ROWS = Prepared(update(InstanceTask)
                             .where(InstanceTask.instance_id == bindparam("b_instance"),
                                    InstanceTask.task_id == bindparam("b_task"))
                             .values(body=bindparam("b_body")))
_DELETE_TASK_ROW = Prepared(delete(InstanceTask).where(InstanceTask.instance_id == bindparam("instance_id"),
                                                       InstanceTask.task_id == bindparam("task_id")))
_DELETE_TIMERS = Prepared(delete(Timer).where(Timer.instance_id == bindparam("instance_id")))
_INSERT_TIMERS = Prepared(insert(Timer), ["instance_id", "spiff_task_id", "name", "due_at"])


def instance_row(conn: Connection, instance_id: int) -> InstanceRow:
    row = conn.execute(_INSTANCE_ROW, {"id": instance_id}).one_or_none()
    if row is None:
        raise NotFound(f"没有这个流程实例 / no instance {instance_id}")
    return InstanceRow(*row)


def task_with_instance(conn: Connection, task_id: int):
    """A task index row and its instance's row, in one query."""
    row = _TASK_WITH_INSTANCE.first(conn, {"id": task_id})
    if row is None:
        raise NotFound(f"没有这个任务 / no task {task_id}")
    return row, InstanceRow(*row[len(_TASKS.columns):])


def insert_instance(conn: Connection, definition: Definition, title: str, started_by: str, now: datetime,
                    meanwhile=lambda: None) -> InstanceRow:
    """Insert a new instance's row; ``meanwhile`` is called after the INSERT is sent and before its id is
    waited for (on PostgreSQL, what it sends goes in the same round trip)."""
    instance_id = _INSERT_INSTANCE.scalar_later(conn, {
        "definition_id": definition.id, "process_key": definition.key, "title": title, "state": "running",
        "lock_version": 1, "started_at": now, "started_by": started_by, "data": {}, "workflow": {}})
    meanwhile()
    return InstanceRow(instance_id(), definition.id, definition.key, title, "running", 1, started_by, None)


def load(conn: Connection, row: InstanceRow, compiled: CompiledSpec, script_engine, cache: InstanceCache) -> LiveInstance:
    live = cache.take(row.id, row.lock_version)
    if live is None:
        live = _read(conn, row, compiled, script_engine)
    live.row = row
    live.tracked.workflow.script_engine = script_engine
    return live


def _read(conn: Connection, row: InstanceRow, compiled: CompiledSpec, script_engine) -> LiveInstance:
    header, data = conn.execute(_HEADER, {"id": row.id}).one()
    rows = conn.execute(_TASK_ROWS, {"id": row.id}).all()
    state = StoredState(header, {task_id: (workflow_id, body) for task_id, workflow_id, body in rows})
    tracked = TrackedWorkflow.restore(compiled, state, script_engine)
    open_tasks = {task.spiff_task_id: task_dict(task._mapping)
                  for task in conn.execute(_OPEN_TASKS, {"id": row.id}).all()}
    return LiveInstance(row, tracked, open_tasks, frozenset(pending_timers(tracked.open_tasks())), data)


def save(conn: Connection, live: LiveInstance, open_tasks: list, *, data: dict, state: str, error: str | None,
         ended_at: datetime | None) -> None:
    """Write what the step changed, checking the lock version: a concurrent step makes this a Conflict."""
    changes = live.tracked.changes()
    inserts = [{"instance_id": live.row.id, "task_id": task_id, "workflow_id": workflow_id, "body": body}
               for task_id, (workflow_id, body) in changes.inserts.items()]
    updates = [{"b_instance": live.row.id, "b_task": task_id, "b_body": body}
               for task_id, (_, body) in changes.updates.items()]
    _INSERT_TASK_ROWS.executemany(conn, inserts)
    _UPDATE_TASK_ROWS.executemany(conn, updates)
    _DELETE_TASK_ROW.executemany(conn, [{"instance_id": live.row.id, "task_id": task_id}
                                        for task_id in sorted(changes.deletes)])
    # Only a running instance has pending timers: a worker pass reads the timers table alone.
    _save_timers(conn, live, frozenset(pending_timers(open_tasks)) if state == "running" else frozenset())
    version = live.row.lock_version
    values = {"b_id": live.row.id, "b_expected": version, "b_workflow": changes.header, "b_data": data,
              "b_state": state, "b_error": error, "b_ended_at": ended_at, "b_version": version + 1}
    if conn.dialect.name == "postgresql":
        _SAVE_INSTANCE_CHECKED.execute(conn, values)  # a stale version fails the transaction: a Conflict
    elif _SAVE_INSTANCE.rowcount(conn, values) != 1:
        raise Conflict(CONFLICT_MESSAGE)
    live.row.lock_version, live.row.state, live.row.error = version + 1, state, error
    live.data = data


def arm_timers(conn: Connection, live: LiveInstance) -> None:
    """Write the timer rows of an instance that had none (one resumed after a suspension)."""
    timers, live.timers = live.timers, frozenset()
    _save_timers(conn, live, timers)


def _save_timers(conn: Connection, live: LiveInstance, timers: frozenset) -> None:
    if timers == live.timers:
        return
    _DELETE_TIMERS.execute(conn, {"instance_id": live.row.id})
    _INSERT_TIMERS.executemany(conn, [{"instance_id": live.row.id, "spiff_task_id": task_id, "name": name,
                                       "due_at": due} for task_id, name, due in timers])
    live.timers = timers


def task_dict(row: Mapping) -> dict:
    """A task index row (its column values) as callers see it, times in Asia/Shanghai."""
    return {
        "id": row["id"], "instance": row["instance_id"], "process": row["process_key"], "name": row["name"],
        "title": row["title"], "role": row["role"], "department": row["candidate_department"],
        "assignee": row["assignee"], "form": row["form"], "state": row["state"],
        "created_at": local_iso(row["created_at"]), "completed_at": local_iso(row["completed_at"]),
        "completed_by": row["completed_by"], "due_at": local_iso(row["due_at"]), "due_note": row["due_note"],
        "sent_by": row.get("sent_by"), "round": row.get("round") or 1,
    }
