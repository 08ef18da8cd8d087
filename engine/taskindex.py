"""Keeping the task index in step with the workflow: one row per open or finished user task."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from uuid import UUID

from sqlalchemy import Connection, bindparam, insert, update
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.util.task import TaskState

from . import directory
from .clock import as_instant
from .directory import Assignment
from .models import TaskIndex
from .prepared import Prepared
from .store import Definition, LiveInstance, task_dict
from .validation import parse_due_rule


_CLOSE = Prepared(update(TaskIndex).where(TaskIndex.id == bindparam("row_id"))
                  .values(state=bindparam("s"), completed_at=bindparam("at"), completed_by=bindparam("by"),
                          done_at=bindparam("done")))
WORKING_DAYS, MINUTES = "working_days", "minutes"
_NEW_ROW = ["instance_id", "spiff_task_id", "process_key", "name", "title", "role", "candidate_department",
            "assignee", "assigned_by", "form", "state", "created_at", "due_at", "due_note", "due_unit", "sent_by",
            "round", "draft"]
_INSERT = Prepared(insert(TaskIndex).returning(TaskIndex.id), _NEW_ROW)


def spec_properties(task_spec) -> dict[str, str]:
    """The spiffworkflow:properties a designer set on a task in the diagram."""
    extensions = getattr(task_spec, "extensions", None) or {}
    return extensions.get("properties", {})


def task_properties(spiff_task) -> dict[str, str]:
    return spec_properties(spiff_task.task_spec)


def find_task(workflow, task_id: str):
    """The live task with this id, in the workflow or one of its subprocesses; None when it is gone."""
    uid = UUID(task_id)
    if uid in workflow.tasks:
        return workflow.tasks[uid]
    for subprocess in list(workflow.subprocesses.values()):
        if uid in subprocess.tasks:
            return subprocess.tasks[uid]
    return None


def close_finished(conn: Connection, live: LiveInstance, now: datetime,
                   completions: dict[int, tuple[str, datetime]], vanished_as: str = "cancelled") -> list[dict]:
    """Mark the open rows whose SpiffWorkflow task is no longer ready as completed, or ``vanished_as``
    (cancelled, returned, withdrawn) when the task is gone; ``completions`` gives, by index id, who completed
    a task and the instant the step was actually made. Gives back the rows closed."""
    closing, closed = [], []
    for spiff_id, row in list(live.open_tasks.items()):
        task = find_task(live.tracked.workflow, spiff_id)
        if task is not None and task.state == TaskState.READY:
            continue
        state = "completed" if task is not None and task.state == TaskState.COMPLETED else vanished_as
        actor, done_at = completions.get(row["id"], (None, None))
        closing.append({"row_id": row["id"], "s": state, "at": now, "by": actor, "done": done_at})
        closed.append(live.open_tasks.pop(spiff_id))
    _CLOSE.executemany(conn, closing)
    return closed


def work_out(conn: Connection, live: LiveInstance, open_tasks: list, definition: Definition, now: datetime,
             calendar, sent_by: str | None = None,
             reopened: dict[str, dict] | None = None) -> list[tuple[dict, Assignment]]:
    """The row (and how its assignee was chosen) of every ready user task that has none yet: only reads, so
    a task whose assignee or due rule fails (a WorkflowTaskException naming it) leaves nothing half added.
    ``calendar`` is called for the working-day calendar only when a due rule needs it. ``sent_by`` is whose
    step opened the tasks; ``reopened`` gives, by SpiffWorkflow task id, the assignee, round and draft of a
    step re-opened by a return or withdrawal."""
    ready = [task for task in open_tasks
             if task.state == TaskState.READY and task.task_spec.manual and str(task.id) not in live.open_tasks]
    return [_row_for(conn, live, definition, task, now, calendar, sent_by, (reopened or {}).get(str(task.id)))
            for task in ready]


def add(conn: Connection, live: LiveInstance,
        worked_out: list[tuple[dict, Assignment]]) -> list[tuple[str, dict, Assignment]]:
    """Add the rows ``work_out`` gave; each comes back with its SpiffWorkflow task id, as callers see a task,
    and with the assignment. The tasks' ids are filled in by ``live.resolve_ids``: on PostgreSQL they come
    with the wait for the commit, so adding a row costs no round trip of its own."""
    opened = []
    for row, assignment in worked_out:
        task = task_dict({**row, "id": None, "completed_at": None, "completed_by": None})
        live.pending_ids.append((task, _INSERT.scalar_later(conn, row)))
        live.open_tasks[row["spiff_task_id"]] = task
        opened.append((row["spiff_task_id"], task, assignment))
    return opened


def read_ahead(conn: Connection, live: LiveInstance, task_id: int, definition: Definition, now: datetime) -> None:
    """Send ahead (Prepared.read_ahead) the assignee queries of the user tasks that completing task ``task_id``
    of ``live`` will likely open: those the diagram leads to next, with the department the instance has now.
    A task whose assignee or department the diagram works out by an expression is left out. A guess that
    turns out wrong costs the database a query and nothing else: ``assign`` only takes rows read ahead with
    exactly its own parameters."""
    # Snapshots (list() runs under the GIL): another thread may be stepping the same instance meanwhile.
    spiff_id = next((spiff_id for spiff_id, row in list(live.open_tasks.items()) if row["id"] == task_id), None)
    task = find_task(live.tracked.workflow, spiff_id) if spiff_id is not None else None
    if task is not None:
        _read_ahead_after(conn, task.task_spec, definition, task.data.get("department"), live.row.started_by, now)


def read_ahead_first(conn: Connection, definition: Definition, department: str | None, initiator: str,
                     now: datetime) -> None:
    """``read_ahead`` for the first user tasks of a new instance of ``definition``."""
    _read_ahead_after(conn, definition.compiled.spec.start, definition, department, initiator, now)


def _read_ahead_after(conn: Connection, spec, definition: Definition, department: str | None, initiator: str,
                      now: datetime) -> None:
    for following in _user_tasks_after(spec):
        props = spec_properties(following)
        if not props.get("assignee") and not props.get("departmentFrom"):
            directory.read_ahead_assignment(conn, _lane(definition, following), department, initiator, now)


def _user_tasks_after(spec, limit: int = 12) -> list:
    """The user task specs reached from ``spec`` through its outgoing flows without passing another user task
    (gateways, events and automatic tasks are looked through), looking at ``limit`` specs at most."""
    found, seen, pending = [], set(), list(spec.outputs)  # a loop may lead back to ``spec`` itself
    while pending and len(seen) <= limit:
        following = pending.pop(0)
        if following.name in seen:
            continue
        seen.add(following.name)
        if following.manual:
            found.append(following)
        else:
            pending.extend(following.outputs)
    return found


def _lane(definition: Definition, spec) -> dict | None:
    return definition.properties.get("lanes", {}).get(spec.lane or "")


def _row_for(conn: Connection, live: LiveInstance, definition: Definition, task, now: datetime, calendar,
             sent_by: str | None, reopened: dict | None):
    props = task_properties(task)
    name = task.task_spec.bpmn_name or task.task_spec.name
    engine = task.workflow.script_engine
    explicit = engine.evaluate(task, props["assignee"]) if props.get("assignee") else None
    # The department a task is for: the instance's (the submitting department) unless the diagram names
    # another, e.g. each department of a countersign (会签) in its own multi-instance task.
    department = engine.evaluate(task, props["departmentFrom"]) if props.get("departmentFrom") else \
        task.data.get("department")
    assignment = directory.assign(conn, _lane(definition, task.task_spec), department, live.row.started_by, now,
                                  explicit_assignee=explicit)
    if reopened is not None:
        assignment = replace(assignment, assignee=reopened["assignee"], assigned_by=reopened["assigned_by"],
                             handed_over_from=None)
    try:
        due_at, due_note, due_unit = _due(task, props, now, calendar)
    except ValueError as err:
        raise WorkflowTaskException(f"the due time of '{name}' cannot be worked out: {err}",
                                    task=task, exception=err) from err
    row = {"instance_id": live.row.id, "spiff_task_id": str(task.id), "process_key": live.row.process_key,
           "name": task.task_spec.name, "title": name, "role": assignment.role,
           "candidate_department": assignment.department, "assignee": assignment.assignee,
           "assigned_by": assignment.assigned_by,
           "form": props.get("formJsonSchemaFilename"), "state": "open", "created_at": now,
           "due_at": due_at, "due_note": due_note, "due_unit": due_unit, "sent_by": sent_by or live.row.started_by,
           "round": reopened["round"] if reopened else 1, "draft": reopened.get("draft") if reopened else None}
    return row, assignment


def done_at(expression: str | None, environment, data: dict, now: datetime) -> datetime:
    """The instant a step was actually made: its ``doneAt`` expression over the step's data (a recorded
    time such as a phone call's), else now. A recorded time may not lie in the future."""
    if not expression:
        return now
    instant = as_instant(environment.evaluate(expression, data))
    if instant > now:
        raise ValueError(f"{instant.isoformat()} is later than now ({now.isoformat()})")
    return instant


def _due(task, props: dict, now: datetime, calendar) -> tuple[datetime | None, str | None, str | None]:
    """A task's deadline from its ``dueIn`` rule, counted from ``dueFrom`` (an expression giving a recorded
    instant) or from the moment the task opens; with the calendar's warning and how the limit is counted."""
    rule = props.get("dueIn")
    if not rule:
        return None, None, None
    amount, unit = parse_due_rule(rule)
    start = now
    if props.get("dueFrom"):
        value = task.workflow.script_engine.evaluate(task, props["dueFrom"])
        start = as_instant(value)
    if unit == "working_days":
        result = calendar().add_working_days(start, amount)
        return result.value, result.warning(), WORKING_DAYS
    return start + timedelta(**{unit: amount}), None, MINUTES
