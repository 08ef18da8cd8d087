"""What each command does to a SpiffWorkflow workflow, in one place: the commands run these on a live
instance, and replay runs the same on a fresh workflow from the audit trail."""
from __future__ import annotations

import copy
from uuid import UUID

from SpiffWorkflow.util.task import TaskState

from .audit import plain


def start(workflow, initial: dict) -> None:
    workflow.task_tree.data.update(copy.deepcopy(initial))
    workflow.do_engine_steps()


def complete(workflow, spiff_task, fields: dict, actor: str, at: str, signers: list[dict]) -> None:
    """Complete a user task with the form's fields, who did it and when (``<step>_by``/``_at``), and the
    people it passed through first (``<step>_signers``), then run the engine steps that follow."""
    spiff_task.data.update(copy.deepcopy(fields))
    # The element's BPMN id, so a multi-instance child records countersign_by, not "[child]".
    step_id = spiff_task.task_spec.bpmn_id or spiff_task.task_spec.name
    spiff_task.data[f"{step_id}_by"] = actor
    spiff_task.data[f"{step_id}_at"] = at
    if signers:
        spiff_task.data[f"{step_id}_signers"] = copy.deepcopy(signers)
    spiff_task.run()
    workflow.do_engine_steps()


def fire_timers(workflow) -> None:
    workflow.refresh_timers()
    workflow.do_engine_steps()


def reset_to(workflow, spiff_task_id: str) -> None:
    """Re-open a finished task (退回, 撤回): the steps after it are dropped and run again from there."""
    workflow.reset_from_task_id(UUID(spiff_task_id))
    # SpiffWorkflow drops the reset branch's tasks from the tree but leaves their waiting events (e.g. a
    # boundary timer) with its event manager, which would then update tasks that have no parent.
    for task_id, task in list(workflow.event_manager.tasks.items()):
        if task_id not in task.workflow.tasks:
            workflow.event_manager.remove_task(task)
    workflow.do_engine_steps()


def signers(hops: list[dict]) -> list[dict]:
    """Who acted on a task before its last holder, as the instance data keeps it."""
    return [{"by": hop["by"], "at": hop["at"], "action": hop["action"]} for hop in hops]


def open_steps(open_tasks) -> list[dict]:
    """The open tasks after a step, as its audit event keeps them: what replay compares, and what an auditor's
    step-through shows as active."""
    ordered = sorted(open_tasks, key=lambda task: (task.task_spec.name, _place(task), str(task.id)))
    return [{"spiff_task": str(task.id), "name": task.task_spec.name,
             "bpmn_id": getattr(task.task_spec, "bpmn_id", None), "state": TaskState.get_name(task.state)}
            for task in ordered]


def _place(task) -> int:
    """Where a task stands among its siblings (e.g. one multi-instance child among the others): the same in
    a restored workflow and a replayed one, where task ids differ."""
    parent = task.parent
    return parent._children.index(task.id) if parent is not None else 0


def current_data(workflow, open_tasks: list, completed: bool) -> dict:
    """The instance's data so far: the workflow's data when finished (``completed``); else what its open tasks
    hold, with the most recently completed task's data on top (it is the newest in its branch, and a branch
    that has ended holds its data nowhere else)."""
    if completed:
        merged = dict(workflow.data)
    else:
        merged = {}
        for task in sorted(open_tasks, key=lambda t: t.last_state_change):
            merged.update(task.data)
        if workflow.last_task is not None:
            merged.update(workflow.last_task.data)
    return plain(merged)


_ABSENT = object()


def changes(before: dict, after: dict) -> dict:
    """Each field a step changed: {"before", "after"}, with "removed": true for a field no longer there (a
    field that is there may hold None)."""
    result = {}
    for key in sorted(before.keys() | after.keys()):
        old, new = before.get(key, _ABSENT), after.get(key, _ABSENT)
        if old is _ABSENT or new is _ABSENT or old != new:
            result[key] = {"before": None if old is _ABSENT else old, "after": None if new is _ABSENT else new}
            if new is _ABSENT:
                result[key]["removed"] = True
    return result


def apply_changes(data: dict, recorded: dict | None) -> dict:
    """``data`` with an event's recorded changes applied (see changes)."""
    for key, change in (recorded or {}).items():
        if change.get("removed"):
            data.pop(key, None)
        else:
            data[key] = change["after"]
    return data
