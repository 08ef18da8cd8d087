"""Loading and saving instance state: task rows, header, the task index's source, timers.

A process-wide cache keeps recently used workflows in memory, keyed by the instance's optimistic lock
version, so a step on a warm instance neither reads nor deserializes its whole task tree. The cache is
only trusted when the version in the database is the version it was saved at.
"""
from __future__ import annotations

import threading
from collections import OrderedDict

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.orm import Session

from .bpmn import CompiledSpec, StoredState, TrackedWorkflow, pending_timers
from .models import DefinitionVersion, Instance, InstanceTask, Timer


class WorkflowCache:
    def __init__(self, size: int = 256):
        self._size = size
        self._entries: OrderedDict[int, tuple[int, TrackedWorkflow]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, instance_id: int, version: int) -> TrackedWorkflow | None:
        """Remove and return the cached workflow if it is exactly the stored version."""
        with self._lock:
            entry = self._entries.pop(instance_id, None)
        if entry is None or entry[0] != version:
            return None
        return entry[1]

    def put(self, instance_id: int, version: int, tracked: TrackedWorkflow) -> None:
        with self._lock:
            self._entries[instance_id] = (version, tracked)
            self._entries.move_to_end(instance_id)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


class SpecCache:
    """Compiled specs per definition version: restored from JSON once, shared by every instance."""

    def __init__(self):
        self._specs: dict[int, CompiledSpec] = {}
        self._lock = threading.Lock()

    def get(self, definition: DefinitionVersion) -> CompiledSpec:
        with self._lock:
            compiled = self._specs.get(definition.id)
        if compiled is None:
            compiled = CompiledSpec.from_dict(definition.spec)
            with self._lock:
                self._specs[definition.id] = compiled
        return compiled


def load_workflow(session: Session, instance: Instance, compiled: CompiledSpec, script_engine,
                  cache: WorkflowCache) -> TrackedWorkflow:
    tracked = cache.take(instance.id, instance.lock_version)
    if tracked is None:
        rows = session.execute(select(InstanceTask.task_id, InstanceTask.workflow_id, InstanceTask.body)
                               .where(InstanceTask.instance_id == instance.id)).all()
        state = StoredState(instance.workflow, {task_id: (workflow_id, body) for task_id, workflow_id, body in rows})
        tracked = TrackedWorkflow.restore(compiled, state, script_engine)
    tracked.workflow.script_engine = script_engine
    return tracked


def save_workflow(session: Session, instance: Instance, tracked: TrackedWorkflow) -> None:
    """Write what the step changed: the header on the instance, changed task rows, the pending timers."""
    stored_before = tracked.stored_ids()
    changes = tracked.changes()
    instance.workflow = changes.header
    inserts = [{"instance_id": instance.id, "task_id": task_id, "workflow_id": workflow_id, "body": body}
               for task_id, (workflow_id, body) in changes.upserts.items() if task_id not in stored_before]
    updates = [{"i": instance.id, "t": task_id, "body": body}
               for task_id, (_, body) in changes.upserts.items() if task_id in stored_before]
    if inserts:
        session.execute(insert(InstanceTask), inserts)
    if updates:
        session.connection().execute(
            update(InstanceTask).where(InstanceTask.instance_id == bindparam("i"),
                                       InstanceTask.task_id == bindparam("t")).values(body=bindparam("body")),
            updates)
    if changes.deletes:
        session.execute(delete(InstanceTask).where(InstanceTask.instance_id == instance.id,
                                                   InstanceTask.task_id.in_(changes.deletes)))
    _save_timers(session, instance.id, tracked)


def _save_timers(session: Session, instance_id: int, tracked: TrackedWorkflow) -> None:
    session.execute(delete(Timer).where(Timer.instance_id == instance_id))
    timers = [{"instance_id": instance_id, "spiff_task_id": task_id, "name": name, "due_at": due}
              for task_id, name, due in pending_timers(tracked.workflow)]
    if timers:
        session.execute(insert(Timer), timers)
