"""Overdue tasks: each open task past its due instant is flagged once — its holders are notified (the role's
holders while nobody has claimed it) and the lateness is an audit event."""
from __future__ import annotations

from sqlalchemy import bindparam, select, update

from . import audit, notify
from .clock import local_iso
from .models import Instance, TaskIndex
from .sharing import role_holders

_DUE_UNFLAGGED = (select(TaskIndex.id, TaskIndex.instance_id, TaskIndex.title, TaskIndex.name, TaskIndex.assignee,
                         TaskIndex.role, TaskIndex.candidate_department, TaskIndex.due_at,
                         Instance.title.label("instance_title"))
                  .join(Instance, Instance.id == TaskIndex.instance_id)
                  .where(TaskIndex.state == "open", TaskIndex.due_at <= bindparam("now"),
                         TaskIndex.overdue_notified_at.is_(None), Instance.state == "running")
                  .order_by(TaskIndex.due_at))
_FLAG = (update(TaskIndex).where(TaskIndex.id == bindparam("task_id"), TaskIndex.overdue_notified_at.is_(None))
         .values(overdue_notified_at=bindparam("now")))


def flag(uow) -> list[dict]:
    flagged = []
    for task in uow.conn.execute(_DUE_UNFLAGGED, {"now": uow.now}).all():
        people = [task.assignee] if task.assignee else role_holders(uow.conn, task.role, task.candidate_department)
        uow.conn.execute(_FLAG, {"task_id": task.id, "now": uow.now})
        audit.record(uow.conn, action="late_flagged", actor="system", at=uow.now, instance_id=task.instance_id,
                     task_id=task.id, data={"task": task.name, "title": task.title, "due_at": local_iso(task.due_at),
                                            "notified": people})
        notify.send(uow, people, notify.OVERDUE,
                    f"已超时：「{task.instance_title}」的「{task.title}」应于 {local_iso(task.due_at)[:16].replace('T', ' ')} 前办理",
                    instance_id=task.instance_id, task_id=task.id)
        flagged.append({"task": task.id, "instance": task.instance_id, "notified": people})
    return flagged
