"""What a task page and an instance page show a given person: the task with its form and draft, the
instance so far, the diagram with its finished, active and returned steps, the earlier steps it can be
returned to, and the actions that person may take."""
from __future__ import annotations

from sqlalchemy import bindparam, select
from SpiffWorkflow.util.task import TaskState

from . import access, directory, handling, sharing, steps
from .clock import local_iso
from .errors import Forbidden
from .models import AuditEvent, DefinitionVersion, TaskIndex
from .taskindex import find_task

# What someone does on the instance after a step, so that the step may no longer be withdrawn (撤回).
ACTED = ("complete", "pass_on", "claim", "release", "transfer", "delegate", "add_signer", "return", "withdraw")
_SOURCE = select(DefinitionVersion.source_xml).where(DefinitionVersion.id == bindparam("id"))
_COMPLETED_EVENT = (select(AuditEvent.id).where(AuditEvent.task_id == bindparam("task"),
                                                AuditEvent.action == "complete")
                    .order_by(AuditEvent.id.desc()).limit(1))
_LATER_ACT = (select(AuditEvent.action, AuditEvent.actor)
              .where(AuditEvent.instance_id == bindparam("instance"), AuditEvent.id > bindparam("after"),
                     AuditEvent.action.in_(ACTED)).order_by(AuditEvent.id).limit(1))
_SUBMITTED = (select(AuditEvent.data).where(AuditEvent.task_id == bindparam("task"),
                                            AuditEvent.action == "complete")
              .order_by(AuditEvent.id.desc()).limit(1))
_RETURNS = select(AuditEvent.data).where(AuditEvent.instance_id == bindparam("instance"),
                                         AuditEvent.action == "return")


def returnable(conn, workflow, task) -> list[dict]:
    """The earlier user steps ``task`` can be returned to (退回): completed steps on its own path, newest
    first, each as its latest finished task index row."""
    spiff = find_task(workflow, task.spiff_task_id)
    ancestors, current = [], spiff.parent if spiff is not None else None
    while current is not None:
        if current.task_spec.manual and current.state == TaskState.COMPLETED:
            ancestors.append(str(current.id))
        current = current.parent
    if not ancestors:
        return []
    rows = conn.execute(select(TaskIndex.id, TaskIndex.spiff_task_id, TaskIndex.name, TaskIndex.title,
                               TaskIndex.completed_by, TaskIndex.completed_at, TaskIndex.round)
                        .where(TaskIndex.spiff_task_id.in_(ancestors), TaskIndex.state == "completed")
                        .order_by(TaskIndex.id)).all()
    latest = {row.spiff_task_id: row for row in rows}
    return [{"id": row.id, "spiff_task_id": row.spiff_task_id, "name": row.name, "title": row.title,
             "completed_by": row.completed_by, "completed_at": local_iso(row.completed_at),
             "round": row.round}
            for row in (latest[sid] for sid in ancestors if sid in latest)]


def submitted(conn, task_id: int) -> dict:
    """What was entered when the task was last completed: the draft of the step when it is re-opened."""
    data = conn.scalar(_SUBMITTED, {"task": task_id})
    return dict((data or {}).get("data") or {})


def withdraw_refusal(conn, task_id: int, title: str, state: str, row) -> str | None:
    """Why the task ``task_id`` cannot be withdrawn now, or None when it can."""
    if state != "completed":
        return f"任务「{title}」不是已办理的步骤 / task {task_id} is {state}, not completed"
    if row.state != "running":
        return f"流程实例已{row.state} / instance {row.id} is {row.state}"
    completed_event = conn.scalar(_COMPLETED_EVENT, {"task": task_id})
    later = conn.execute(_LATER_ACT, {"instance": row.id, "after": completed_event or 0}).first()
    if completed_event is None or later is not None:
        who = f" ({later.actor}: {later.action})" if later is not None else ""
        return f"下一步已经有人办理，不能撤回 / the next step has already been acted on{who}"
    return None


def diagram(conn, definition_id: int, instance_id: int, workflow, open_rows) -> dict:
    """The diagram as bpmn-js shows it: its XML and which elements are finished, active and returned to."""
    finished, active = set(), set()
    for task in workflow.get_tasks():
        bpmn_id = getattr(task.task_spec, "bpmn_id", None)
        if not bpmn_id:
            continue
        if task.state == TaskState.COMPLETED:
            finished.add(bpmn_id)
        elif task.state in (TaskState.READY, TaskState.STARTED, TaskState.WAITING):
            active.add(bpmn_id)
    finished.update(conn.scalars(select(TaskIndex.name).where(TaskIndex.instance_id == instance_id,
                                                              TaskIndex.state == "completed")))
    active.update(row["name"] for row in open_rows)
    returned = {data.get("to_step") for data in conn.scalars(_RETURNS, {"instance": instance_id})} - {None}
    return {"xml": conn.scalar(_SOURCE, {"id": definition_id}), "finished": sorted(finished - active),
            "active": sorted(active), "returned": sorted(returned)}


def instance_actions(row, viewer: str, shown: dict) -> list[str]:
    """What ``viewer`` may do on the instance as a whole: copy it (unless classified), urge it."""
    actions = []
    if not access.is_classified(shown.get("data")):
        actions.append("copy")
    acted = any(t["completed_by"] == viewer for t in shown["tasks"])
    if row.state == "running" and (viewer == row.started_by or acted) and \
            any(t["state"] == "open" and t["assignee"] != viewer for t in shown["tasks"]):
        actions.append("urge")
    return actions


def task_actions(conn, task, row, viewer: str, now, returnable_steps: list, withdrawable: bool) -> tuple[bool, list]:
    """Whether ``viewer`` may act on ``task`` and which actions the page offers them."""
    actions = []
    may_act = False
    if task.state == "open" and row.state == "running":
        may_act, _ = directory.may_act_on(conn, viewer, task.role, task.candidate_department, task.assignee, now)
    if may_act:
        if task.assignee is None:
            actions.append("claim")
        actions += ["complete", "transfer", "delegate", "add_signer"]
        if returnable_steps:
            actions.append("return")
        if task.assigned_by == handling.CLAIM and not task.queue:
            actions.append("release")
    if withdrawable:
        actions.append("withdraw")
    return may_act, actions


def check_may_view_task(conn, task, instance_id: int, viewer: str, now) -> None:
    may_act, _ = directory.may_act_on(conn, viewer, task.role, task.candidate_department, task.assignee, now)
    if not may_act:
        try:
            access.check_may_see(conn, instance_id, viewer, now)
        except Forbidden as err:
            raise Forbidden(f"您无权查看任务「{task.title}」/ {viewer} may not see task {task.id}") from err


def enrich(conn, shown: dict, instance_id: int) -> dict:
    """The instance as people read it: with its comments and copies."""
    shown["comments"] = sharing.comments(conn, instance_id)
    shown["copies"] = sharing.copies(conn, instance_id)
    return shown


def timeline(events: list[dict]) -> list[dict]:
    """Each event with the instance as it stood just after it: its data (the recorded changes folded in) and
    the diagram's finished, active and returned steps. ``events`` are queries.event_dict rows in order."""
    data, active, finished, returned = {}, {}, set(), set()
    result = []
    for event in events:
        recorded = event["data"] or {}
        steps.apply_changes(data, recorded.get("changes"))
        if "open" in recorded:
            now_open = {step["spiff_task"]: step.get("bpmn_id") or step["name"] for step in recorded["open"]}
            finished.update(bpmn_id for spiff_id, bpmn_id in active.items() if spiff_id not in now_open)
            active = now_open
        if event["action"] == "return":
            returned.add(recorded.get("to_step"))
        elif event["action"] == "withdraw":
            returned.add(recorded.get("task"))
        shown_active = set(active.values())
        result.append({**event, "state": {"data": dict(data), "active": sorted(shown_active),
                                          "finished": sorted(finished - shown_active),
                                          "returned": sorted(returned - {None})}})
    return result
