"""The least a durable store could do per command on SQLite: the floor under engine_overhead.py's figure (b).

Each command runs raw SpiffWorkflow exactly as figure (a) does, then writes, in one SQLite transaction on
GovFlow's own schema and database file, what issue #2 asks every command to write, and nothing more:

- the instance row: state, data, workflow header and lock version, the old version checked;
- the SpiffWorkflow task rows the command changed, found and serialized by GovFlow's own
  ``engine.bpmn.TrackedWorkflow``;
- the task index: the finished task's row closed, a row opened for each new ready user task;
- one audit event (who, when, what, the data submitted) with its sha256.

No lookups and no checks: the assignee is the benchmark's one user, and there are no forms, deadlines, notices,
chain links or authorization. The statements go straight to the driver (a pooled connection of the engine's own
SQLAlchemy engine, so the same pragmas), so neither SQLAlchemy's nor GovFlow's Python runs. (b) minus this
figure is what GovFlow's own work costs.
"""
from __future__ import annotations

import hashlib

import orjson
from SpiffWorkflow.util.task import TaskState

from engine.bpmn import TrackedWorkflow

_START = ("INSERT INTO instances (definition_id, process_key, title, state, lock_version, started_at, started_by, "
          "data, workflow) VALUES (?, ?, '', 'running', 1, ?, ?, '{}', '{}')")
_SAVE = ("UPDATE instances SET state = ?, lock_version = lock_version + 1, ended_at = ?, data = ?, workflow = ? "
         "WHERE id = ? AND lock_version = ?")
_TASK_INSERT = "INSERT INTO instance_tasks (instance_id, task_id, workflow_id, body) VALUES (?, ?, ?, ?)"
_TASK_UPDATE = "UPDATE instance_tasks SET body = ? WHERE instance_id = ? AND task_id = ?"
_TASK_DELETE = "DELETE FROM instance_tasks WHERE instance_id = ? AND task_id = ?"
_CLOSE = "UPDATE task_index SET state = 'completed', completed_at = ?, completed_by = ? WHERE id = ?"
_OPEN = ("INSERT INTO task_index (instance_id, spiff_task_id, process_key, name, title, role, assignee, state, "
         "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'open', ?)")
_AUDIT = "INSERT INTO audit_events (instance_id, task_id, actor, at, action, data, hash) VALUES (?, ?, ?, ?, ?, ?, ?)"


class LeastStore:
    """Runs whole instances of ``process_key`` for ``user`` (holder of ``role``) through the minimal store."""

    def __init__(self, db, process_key: str, user: str, role: str, now: str, new_workflow, complete):
        self._connection = db.raw_connection()  # kept for the store's life: a pool checkout is SQLAlchemy's work
        self._driver = self._connection.driver_connection
        with db.connect() as conn:
            self._definition_id = conn.exec_driver_sql(
                "SELECT id FROM definition_versions WHERE process_key = ? ORDER BY version DESC LIMIT 1",
                (process_key,)).scalar_one()
        self._process_key, self._user, self._role, self._now = process_key, user, role, now
        self._new_workflow, self._complete = new_workflow, complete

    def close(self) -> None:
        self._connection.close()

    def stored(self, instance_id: int) -> dict:
        """What the store holds of an instance: its state and lock version, and its task-index rows and audit
        events, by state and by action."""
        cursor = self._driver.cursor()
        state, version = cursor.execute("SELECT state, lock_version FROM instances WHERE id = ?",
                                        (instance_id,)).fetchone()
        tasks = dict(cursor.execute("SELECT state, count(*) FROM task_index WHERE instance_id = ? GROUP BY state",
                                    (instance_id,)).fetchall())
        events = dict(cursor.execute("SELECT action, count(*) FROM audit_events WHERE instance_id = ? "
                                     "GROUP BY action", (instance_id,)).fetchall())
        cursor.close()
        return {"state": state, "version": version, "tasks": tasks, "events": events}

    def instance(self) -> int:
        """Start an instance and complete its user tasks, one command each; gives the instance's id."""
        cursor = self._driver.cursor()
        tracked, version, open_row = None, 1, None
        while tracked is None or not tracked.workflow.is_completed():
            cursor.execute("BEGIN IMMEDIATE")
            if tracked is None:
                tracked = TrackedWorkflow(self._new_workflow())
                cursor.execute(_START, (self._definition_id, self._process_key, self._now, self._user))
                instance_id, action = cursor.lastrowid, "start"
            else:
                self._complete(tracked.workflow)
                action = "complete"
            open_row = self._write(cursor, instance_id, tracked, version, open_row, action)
            cursor.execute("COMMIT")
            version += 1
        cursor.close()
        return instance_id

    def _write(self, cursor, instance_id: int, tracked: TrackedWorkflow, version: int, closing: int | None,
               action: str) -> int | None:
        workflow, changes = tracked.workflow, tracked.changes()
        completed = workflow.is_completed()
        cursor.execute(_SAVE, ("completed" if completed else "running", self._now if completed else None,
                               orjson.dumps(workflow.data), orjson.dumps(changes.header), instance_id, version))
        if cursor.rowcount != 1:
            raise RuntimeError(f"instance {instance_id} was changed by someone else")
        cursor.executemany(_TASK_INSERT, [(instance_id, task_id, workflow_id, orjson.dumps(body))
                                          for task_id, (workflow_id, body) in changes.inserts.items()])
        cursor.executemany(_TASK_UPDATE, [(orjson.dumps(body), instance_id, task_id)
                                          for task_id, (_, body) in changes.updates.items()])
        cursor.executemany(_TASK_DELETE, [(instance_id, task_id) for task_id in changes.deletes])
        if closing is not None:
            cursor.execute(_CLOSE, (self._now, self._user, closing))
        opened = None
        for task in workflow.get_tasks(state=TaskState.READY, manual=True):
            cursor.execute(_OPEN, (instance_id, str(task.id), self._process_key, task.task_spec.name,
                                   task.task_spec.bpmn_name or task.task_spec.name, self._role, self._user, self._now))
            opened = cursor.lastrowid
        event = orjson.dumps({"action": action, "actor": self._user, "at": self._now, "instance": instance_id,
                              "task": closing, "data": {}})
        cursor.execute(_AUDIT, (instance_id, closing, self._user, self._now, action, event,
                                hashlib.sha256(event).hexdigest()))
        return opened
