"""Files kept with an instance (the draft text, supporting documents), every version kept, and who may see
them: the people involved in the instance and auditors; for a classified document (秘密/机密), only those
with a task on it and auditors, every such view being recorded."""
from __future__ import annotations

import hashlib

from sqlalchemy import bindparam, func, insert, or_, select

from . import audit
from .clock import local_iso
from .errors import Forbidden, InvalidInput, NotFound
from .models import Attachment, Instance, TaskIndex, User, UserRole

CLASSIFIED = {"秘密", "机密"}
MAX_BYTES = 20 * 1024 * 1024
_COLUMNS = (Attachment.id, Attachment.instance_id, Attachment.name, Attachment.version, Attachment.size,
            Attachment.sha256, Attachment.note, Attachment.uploaded_by, Attachment.uploaded_at)
_INVOLVED = (select(TaskIndex.id).where(TaskIndex.instance_id == bindparam("instance"),
                                        or_(TaskIndex.assignee == bindparam("user"),
                                            TaskIndex.completed_by == bindparam("user"),
                                            TaskIndex.role.in_(select(UserRole.role_key)
                                                               .where(UserRole.username == bindparam("user")))))
             .limit(1))
_HAD_TASK = (select(TaskIndex.id).where(TaskIndex.instance_id == bindparam("instance"),
                                        or_(TaskIndex.assignee == bindparam("user"),
                                            TaskIndex.completed_by == bindparam("user"))).limit(1))
_IS_AUDITOR = (select(UserRole.id).join(User, User.username == UserRole.username)
               .where(UserRole.username == bindparam("user"), UserRole.role_key == "auditor",
                      User.active.is_(True)).limit(1))


def check_may_see(conn, instance_id: int, viewer: str, now, record_view: bool = True) -> Instance:
    """The instance if ``viewer`` may see it and its files; else Forbidden. A classified instance is for
    those with a task on it and auditors, and each view of it is an audit event."""
    instance = conn.execute(select(Instance.id, Instance.started_by, Instance.data)
                            .where(Instance.id == instance_id)).one_or_none()
    if instance is None:
        raise NotFound(f"没有这个流程实例 / no instance {instance_id}")
    params = {"instance": instance_id, "user": viewer}
    auditor = conn.scalar(_IS_AUDITOR, {"user": viewer}) is not None
    classified = (instance.data or {}).get("classification") in CLASSIFIED
    if classified:
        allowed = auditor or viewer == instance.started_by or conn.scalar(_HAD_TASK, params) is not None
    else:
        allowed = auditor or viewer == instance.started_by or conn.scalar(_INVOLVED, params) is not None
    if not allowed:
        kind = "涉密文件" if classified else "这份文件"
        raise Forbidden(f"您无权查看{kind} / {viewer} may not see instance {instance_id}"
                        + (" (classified: only people with a task on it and auditors)" if classified else ""))
    if classified and record_view:
        audit.record(conn, action="view_classified", actor=viewer, at=now, instance_id=instance_id,
                     data={"classification": instance.data["classification"]})
    return instance


def attach(conn, instance_id: int, actor: str, name: str, content: bytes, note: str, now) -> dict:
    check_may_see(conn, instance_id, actor, now, record_view=False)
    name = name.strip()
    if not name or len(name) > 256 or "/" in name or "\\" in name:
        raise InvalidInput(f"文件名不对 / not a usable file name: {name!r}")
    if len(content) > MAX_BYTES:
        raise InvalidInput(f"文件太大 / the file has {len(content)} bytes; at most {MAX_BYTES}")
    version = (conn.scalar(select(func.max(Attachment.version))
                           .where(Attachment.instance_id == instance_id, Attachment.name == name)) or 0) + 1
    digest = hashlib.sha256(content).hexdigest()
    attachment_id = conn.execute(insert(Attachment).returning(Attachment.id), {
        "instance_id": instance_id, "name": name, "version": version, "content": content, "size": len(content),
        "sha256": digest, "note": note, "uploaded_by": actor, "uploaded_at": now}).scalar_one()
    audit.record(conn, action="attach", actor=actor, at=now, instance_id=instance_id,
                 data={"attachment": attachment_id, "name": name, "version": version, "size": len(content),
                       "sha256": digest, "note": note})
    return listing(conn, instance_id, attachment_id)[0]


def listing(conn, instance_id: int, attachment_id: int | None = None) -> list[dict]:
    query = select(*_COLUMNS).where(Attachment.instance_id == instance_id)
    if attachment_id is not None:
        query = query.where(Attachment.id == attachment_id)
    rows = conn.execute(query.order_by(Attachment.name, Attachment.version)).all()
    return [{"id": r.id, "instance": r.instance_id, "name": r.name, "version": r.version, "size": r.size,
             "sha256": r.sha256, "note": r.note, "uploaded_by": r.uploaded_by,
             "uploaded_at": local_iso(r.uploaded_at)} for r in rows]


def content_of(conn, attachment_id: int) -> tuple[int, bytes]:
    row = conn.execute(select(Attachment.instance_id, Attachment.content)
                       .where(Attachment.id == attachment_id)).one_or_none()
    if row is None:
        raise NotFound(f"没有这个附件 / no attachment {attachment_id}")
    return row.instance_id, row.content
