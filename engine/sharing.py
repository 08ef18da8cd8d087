"""Working together on an instance without holding its task: 抄送 copies with read receipts, 催办 urging the
people it waits for, and comments."""
from __future__ import annotations

from sqlalchemy import bindparam, insert, or_, select, update

from . import access, audit, notify
from .clock import local_iso
from .errors import Conflict, Forbidden, InvalidInput, NotFound
from .models import Comment, Copy, Instance, TaskIndex, User, UserRole

MAX_COMMENT = 2000
_ACTIVE_USERS = select(User.username).where(User.username.in_(bindparam("users", expanding=True)),
                                            User.active.is_(True))
_WAITING_ON = (select(TaskIndex.assignee, TaskIndex.role, TaskIndex.candidate_department, TaskIndex.id)
               .where(TaskIndex.instance_id == bindparam("instance"), TaskIndex.state == "open"))
_ROLE_HOLDERS = (select(UserRole.username).join(User, User.username == UserRole.username)
                 .where(UserRole.role_key == bindparam("role"), User.active.is_(True),
                        or_(UserRole.department_key.is_(None), UserRole.department_key == bindparam("department"))))
_ACTED_ON = select(TaskIndex.id).where(TaskIndex.instance_id == bindparam("instance"),
                                       TaskIndex.completed_by == bindparam("user")).limit(1)


def copy_to(uow, instance_id: int, actor: str, recipients: list[str], note: str) -> list[dict]:
    instance = access.check_may_see(uow.conn, instance_id, actor, uow.now, record_view=False)
    if access.is_classified(instance.data):
        raise Forbidden("涉密文件不能抄送 / a classified instance cannot be copied to anyone")
    wanted = list(dict.fromkeys(r.strip() for r in recipients if r and r.strip()))
    if not wanted:
        raise InvalidInput("请选择抄送人 / choose whom to copy it to",
                           [{"field": "recipients", "message": "必填 / required"}])
    known = set(uow.conn.scalars(_ACTIVE_USERS, {"users": wanted}))
    unknown = [name for name in wanted if name not in known]
    if unknown:
        raise NotFound(f"没有这些用户 / no such active users: {', '.join(unknown)}")
    ids = uow.conn.execute(insert(Copy).returning(Copy.id, sort_by_parameter_order=True),
                           [{"instance_id": instance_id, "recipient": name, "sent_by": actor, "sent_at": uow.now,
                             "note": note[:512]} for name in wanted]).scalars().all()
    audit.record(uow.conn, action="copy", actor=actor, at=uow.now, instance_id=instance_id,
                 data={"recipients": wanted, "note": note, "copies": ids})
    title = _title(uow.conn, instance_id)
    who = notify.name(uow.conn, actor)
    notify.send(uow, wanted, notify.COPIED, f"{who} 抄送给您「{title}」" + (f"：{note}" if note else ""),
                instance_id=instance_id)
    return [{"id": copy_id, "instance": instance_id, "recipient": name, "sent_by": actor,
             "sent_at": local_iso(uow.now), "note": note, "read_at": None} for copy_id, name in zip(ids, wanted)]


def read_copy(uow, copy_id: int, actor: str) -> dict:
    """The read receipt: recorded the first time the recipient opens the copy."""
    copy = uow.conn.execute(select(Copy.__table__).where(Copy.id == copy_id)).one_or_none()
    if copy is None:
        raise NotFound(f"没有这份抄送 / no copy {copy_id}")
    if copy.recipient != actor:
        raise Forbidden(f"这份抄送不是给您的 / copy {copy_id} was sent to {copy.recipient}, not {actor}")
    read_at = copy.read_at
    if read_at is None:
        read_at = uow.now
        uow.conn.execute(update(Copy).where(Copy.id == copy_id, Copy.read_at.is_(None)).values(read_at=read_at))
        audit.record(uow.conn, action="read_copy", actor=actor, at=uow.now, instance_id=copy.instance_id,
                     data={"copy": copy_id, "sent_by": copy.sent_by})
    return {"id": copy_id, "instance": copy.instance_id, "recipient": actor, "sent_by": copy.sent_by,
            "sent_at": local_iso(copy.sent_at), "note": copy.note, "read_at": local_iso(read_at)}


def copies(conn, instance_id: int) -> list[dict]:
    rows = conn.execute(select(Copy.__table__).where(Copy.instance_id == instance_id).order_by(Copy.id))
    return [{"id": r.id, "recipient": r.recipient, "sent_by": r.sent_by, "sent_at": local_iso(r.sent_at),
             "note": r.note, "read_at": local_iso(r.read_at)} for r in rows]


def urge(uow, instance_id: int, actor: str, note: str) -> list[str]:
    """催办: notify whoever the instance now waits for. The initiator and those who acted on it may urge."""
    instance = access.check_may_see(uow.conn, instance_id, actor, uow.now, record_view=False)
    params = {"instance": instance_id, "user": actor}
    if actor != instance.started_by and uow.conn.scalar(_ACTED_ON, params) is None:
        raise Forbidden(f"只有发起人和经办人可以催办 / only the initiator and people who acted on instance "
                        f"{instance_id} may urge it")
    waiting = uow.conn.execute(_WAITING_ON, {"instance": instance_id}).all()
    if not waiting:
        raise Conflict(f"流程实例 {instance_id} 没有待办的任务 / instance {instance_id} waits for nobody")
    people = []
    for assignee, role, department, _ in waiting:
        if assignee is not None:
            people.append(assignee)
        elif role is not None:
            people.extend(role_holders(uow.conn, role, department))
    people = [name for name in dict.fromkeys(people) if name != actor]
    audit.record(uow.conn, action="urge", actor=actor, at=uow.now, instance_id=instance_id,
                 data={"note": note, "notified": people, "tasks": [row.id for row in waiting]})
    title = _title(uow.conn, instance_id)
    who = notify.name(uow.conn, actor)
    return notify.send(uow, people, notify.URGED, f"{who} 催办「{title}」" + (f"：{note}" if note else ""),
                       instance_id=instance_id)


def role_holders(conn, role: str | None, department: str | None) -> list[str]:
    """The active holders of ``role`` (in ``department`` where the role is held per department)."""
    if role is None:
        return []
    return list(conn.scalars(_ROLE_HOLDERS, {"role": role, "department": department}))


def comment(uow, instance_id: int, actor: str, text: str) -> dict:
    access.check_may_see(uow.conn, instance_id, actor, uow.now, record_view=False)
    text = (text or "").strip()
    if not text or len(text) > MAX_COMMENT:
        raise InvalidInput(f"意见不能为空，最多 {MAX_COMMENT} 字 / a comment needs 1 to {MAX_COMMENT} characters",
                           [{"field": "text", "message": "必填 / required" if not text else "太长 / too long"}])
    comment_id = uow.conn.execute(insert(Comment).returning(Comment.id),
                                  {"instance_id": instance_id, "author": actor, "at": uow.now,
                                   "text": text}).scalar_one()
    audit.record(uow.conn, action="comment", actor=actor, at=uow.now, instance_id=instance_id,
                 data={"comment": comment_id, "text": text})
    return {"id": comment_id, "by": actor, "at": local_iso(uow.now), "text": text}


def comments(conn, instance_id: int) -> list[dict]:
    rows = conn.execute(select(Comment.id, Comment.author, Comment.at, Comment.text, User.display_name)
                        .outerjoin(User, User.username == Comment.author)
                        .where(Comment.instance_id == instance_id).order_by(Comment.id))
    return [{"id": r.id, "by": r.author, "by_name": r.display_name or r.author, "at": local_iso(r.at),
             "text": r.text} for r in rows]


def _title(conn, instance_id: int) -> str:
    return conn.scalar(select(Instance.title).where(Instance.id == instance_id)) or f"#{instance_id}"
