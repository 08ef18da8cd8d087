"""What each command does to a SpiffWorkflow workflow, in one place: the commands run these on a live
instance, and replay runs the same on a fresh workflow from the audit trail."""
from __future__ import annotations

import copy
from uuid import UUID


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
