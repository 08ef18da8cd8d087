"""Keeping the task index in step with the workflow: one row per open or finished user task."""
from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.orm import Session
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.util.task import TaskState

from . import directory
from .directory import Assignment
from .calendar import WorkingCalendar
from .clock import local_iso, parse_instant
from .models import Instance, TaskIndex
from .validation import parse_due_rule


def task_properties(spiff_task) -> dict[str, str]:
    extensions = getattr(spiff_task.task_spec, "extensions", None) or {}
    return extensions.get("properties", {})


def close_finished(session: Session, instance: Instance, workflow, now: datetime) -> None:
    """Mark the open rows whose SpiffWorkflow task is no longer ready as completed or cancelled."""
    open_rows = session.scalars(select(TaskIndex).where(TaskIndex.instance_id == instance.id,
                                                        TaskIndex.state == "open")).all()
    for row in open_rows:
        task = find_task(workflow, row.spiff_task_id)
        if task is None or task.state != TaskState.READY:
            _close(row, task, now)


def open_ready(session: Session, instance: Instance, workflow, now: datetime,
               calendar: WorkingCalendar) -> list[tuple[TaskIndex, Assignment]]:
    """Add a row for every ready user task that has none. Every new row is worked out before any is added,
    so a task whose assignee or due rule fails (a WorkflowTaskException naming it) adds nothing."""
    known = set(session.scalars(select(TaskIndex.spiff_task_id).where(TaskIndex.instance_id == instance.id)))
    opened = [_open(session, instance, task, now, calendar)
              for task in workflow.get_tasks(state=TaskState.READY, manual=True) if str(task.id) not in known]
    session.add_all(row for row, _ in opened)
    session.flush()
    return opened


def _close(row: TaskIndex, task, now: datetime) -> None:
    row.state = "completed" if task is not None and task.state == TaskState.COMPLETED else "cancelled"
    row.completed_at = row.completed_at or now


def find_task(workflow, task_id: str):
    """The live task with this id, in the workflow or one of its subprocesses; None when it is gone."""
    uid = UUID(task_id)
    if uid in workflow.tasks:
        return workflow.tasks[uid]
    for subprocess in workflow.subprocesses.values():
        if uid in subprocess.tasks:
            return subprocess.tasks[uid]
    return None


def _open(session: Session, instance: Instance, task, now: datetime, calendar: WorkingCalendar):
    props = task_properties(task)
    engine = task.workflow.script_engine
    explicit = engine.evaluate(task, props["assignee"]) if props.get("assignee") else None
    assignment = directory.assign(session, task.task_spec.lane, task.data.get("department"),
                                  instance.started_by, now, explicit_assignee=explicit)
    try:
        due_at, due_note = _due(task, props, now, calendar)
    except ValueError as err:
        raise WorkflowTaskException(f"the due time of '{task.task_spec.bpmn_name or task.task_spec.name}' "
                                    f"cannot be worked out: {err}", task=task, exception=err) from err
    row = TaskIndex(instance_id=instance.id, spiff_task_id=str(task.id), process_key=instance.process_key,
                    name=task.task_spec.name, title=task.task_spec.bpmn_name or task.task_spec.name,
                    role=assignment.role, candidate_department=assignment.department, assignee=assignment.assignee,
                    form=props.get("formJsonSchemaFilename"), state="open", created_at=now,
                    due_at=due_at, due_note=due_note)
    return row, assignment


def _due(task, props: dict, now: datetime, calendar: WorkingCalendar) -> tuple[datetime | None, str | None]:
    """A task's deadline from its ``dueIn`` rule, counted from ``dueFrom`` (an expression giving a recorded
    instant) or from the moment the task opens."""
    rule = props.get("dueIn")
    if not rule:
        return None, None
    amount, unit = parse_due_rule(rule)
    start = now
    if props.get("dueFrom"):
        value = task.workflow.script_engine.evaluate(task, props["dueFrom"])
        start = value if isinstance(value, datetime) else parse_instant(str(value))
    if unit == "working_days":
        result = calendar.add_working_days(start, amount)
        return result.value, result.warning()
    return start + timedelta(**{unit: amount}), None


def task_dict(row: TaskIndex) -> dict:
    return {
        "id": row.id, "instance": row.instance_id, "process": row.process_key, "name": row.name,
        "title": row.title, "role": row.role, "department": row.candidate_department, "assignee": row.assignee,
        "form": row.form, "state": row.state, "created_at": local_iso(row.created_at),
        "completed_at": local_iso(row.completed_at), "completed_by": row.completed_by,
        "due_at": local_iso(row.due_at), "due_note": row.due_note,
    }
