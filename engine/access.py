"""Who may see an instance (its data, history, files and diagram): the people involved and auditors.

Involved means: the initiator; anyone who has, had or may claim a task on it, or acts for such a person
while they are absent; anyone a task was delegated to or passed through (加签); anyone it was copied to
(抄送). A classified instance (秘密/机密) is only for those with a task on it, the initiator and auditors,
and every view of it is an audit event.
"""
from __future__ import annotations

from sqlalchemy import bindparam, or_, select

from . import audit, directory
from .errors import Forbidden, NotFound
from .models import Copy, Instance, TaskIndex, User, UserRole

CLASSIFIED = {"秘密", "机密"}
AUDITOR = "auditor"

_HAD_TASK = (select(TaskIndex.id).where(TaskIndex.instance_id == bindparam("instance"),
                                        or_(TaskIndex.assignee == bindparam("user"),
                                            TaskIndex.completed_by == bindparam("user"),
                                            TaskIndex.assignee.in_(
                                                directory.stood_in_for(bindparam("user"), bindparam("now"))))).limit(1))
_MAY_CLAIM = (select(TaskIndex.id).where(TaskIndex.instance_id == bindparam("instance"),
                                         TaskIndex.role.in_(select(UserRole.role_key)
                                                            .where(UserRole.username == bindparam("user"))))
              .limit(1))
_PASSED_THROUGH = select(TaskIndex.hops, TaskIndex.queue).where(TaskIndex.instance_id == bindparam("instance"))
_COPIED_TO = select(Copy.id).where(Copy.instance_id == bindparam("instance"),
                                   Copy.recipient == bindparam("user")).limit(1)
_IS_AUDITOR = (select(UserRole.id).join(User, User.username == UserRole.username)
               .where(UserRole.username == bindparam("user"), UserRole.role_key == AUDITOR,
                      User.active.is_(True)).limit(1))


def is_auditor(conn, username: str) -> bool:
    return conn.scalar(_IS_AUDITOR, {"user": username}) is not None


def is_classified(data: dict | None) -> bool:
    return (data or {}).get("classification") in CLASSIFIED


def check_may_see(conn, instance_id: int, viewer: str, now, record_view: bool = True):
    """The instance row (id, started_by, data) if ``viewer`` may see it; else Forbidden."""
    instance = conn.execute(select(Instance.id, Instance.started_by, Instance.data)
                            .where(Instance.id == instance_id)).one_or_none()
    if instance is None:
        raise NotFound(f"没有这个流程实例 / no instance {instance_id}")
    params = {"instance": instance_id, "user": viewer, "now": now}
    classified = is_classified(instance.data)
    allowed = (viewer == instance.started_by or is_auditor(conn, viewer)
               or conn.scalar(_HAD_TASK, params) is not None
               or (not classified and _involved_otherwise(conn, params)))
    if not allowed:
        kind = "涉密文件" if classified else "这个流程"
        raise Forbidden(f"您无权查看{kind} / {viewer} may not see instance {instance_id}"
                        + (" (classified: only people with a task on it and auditors)" if classified else ""))
    if classified and record_view:
        audit.record(conn, action="view_classified", actor=viewer, at=now, instance_id=instance_id,
                     data={"classification": instance.data["classification"]})
    return instance


def _involved_otherwise(conn, params: dict) -> bool:
    if conn.scalar(_MAY_CLAIM, params) is not None or conn.scalar(_COPIED_TO, params) is not None:
        return True
    user = params["user"]
    return any(step.get("by") == user or step.get("user") == user
               for hops, queue in conn.execute(_PASSED_THROUGH, params) for step in [*hops, *queue])
