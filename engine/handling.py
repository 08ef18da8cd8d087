"""Who holds an open task: claim and release, 转办 transfer, 委派 delegate, 加签 add a signer, and passing a
task on to the next person in its queue when its holder is not the last to act.

These change only the task index row (the workflow is not stepped), so each is a conditional update on the
row as it was read — a racing action makes it a Conflict — and bumps the instance's lock version, so a cached
copy of the instance is not trusted afterwards.

A task's ``queue`` is who still acts on it after its holder before the step is done, each entry
``{"user", "kind"}``: "delegator" (委派: the task comes back to the person who delegated it), "owner" (加签
before me: it comes back to me) or "signer" (加签 after me). ``hops`` records who acted before, with what
they entered; the last of them leaves it as the next person's ``draft``.
"""
from __future__ import annotations

from sqlalchemy import bindparam, select, update

from . import audit, directory, notify, outcomes
from .errors import Conflict, Forbidden, InvalidInput, NotFound
from .models import Instance, TaskIndex, User
from .store import CONFLICT_MESSAGE

CLAIM, TRANSFER, DELEGATE, SIGNER, HANDED_BACK = "claim", "transfer", "delegate", "signer", "handed_back"
BEFORE, AFTER = "before", "after"
DELEGATOR, OWNER = "delegator", "owner"

_ACTIVE_USER = select(User.display_name).where(User.username == bindparam("username"), User.active.is_(True))
_TOUCH = (update(Instance).where(Instance.id == bindparam("b_id"), Instance.lock_version == bindparam("b_version"))
          .values(lock_version=bindparam("b_next")))


def acting(uow, task, actor: str) -> str | None:
    """Whom ``actor`` acts for on ``task`` (None: for themselves); Forbidden when they may not act on it."""
    allowed, on_behalf_of = directory.may_act_on(uow.conn, actor, task.role, task.candidate_department,
                                                 task.assignee, uow.now)
    if not allowed:
        raise Forbidden(f"任务「{task.title}」不是您的 / task {task.id} is not yours: it is for "
                        f"{task.assignee or task.role}")
    return on_behalf_of


def claim(uow, task, row, actor: str) -> dict:
    """Take an unassigned task of one of the actor's roles. A holder of the role who comes too late is told who
    has it (Conflict); anyone else is refused without being told (Forbidden)."""
    holds_role, _ = directory.may_act_on(uow.conn, actor, task.role, task.candidate_department, None, uow.now)
    if not holds_role:
        raise Forbidden(f"任务「{task.title}」不是您的角色的任务 / task {task.id} is for the role {task.role}, "
                        f"which {actor} does not hold")
    if task.assignee is not None:
        raise Conflict(f"任务「{task.title}」已由 {task.assignee} 认领 / task {task.id} is already with {task.assignee}")
    _hand(uow, task, row, assignee=actor, assigned_by=CLAIM)
    audit.record(uow.conn, action="claim", actor=actor, at=uow.now, instance_id=row.id, task_id=task.id,
                 data={"task": task.name, "title": task.title})
    return {"task": task.id, "assignee": actor}


def release(uow, task, row, actor: str) -> dict:
    on_behalf_of = acting(uow, task, actor)
    if task.assigned_by != CLAIM or task.queue:
        raise Conflict(f"任务「{task.title}」不能释放：它不是从角色认领的 / task {task.id} cannot be released: "
                       "only a task claimed from its role can go back to the role")
    _hand(uow, task, row, assignee=None, assigned_by=directory.ROLE)
    audit.record(uow.conn, action="release", actor=actor, at=uow.now, instance_id=row.id, task_id=task.id,
                 on_behalf_of=on_behalf_of, data={"task": task.name, "title": task.title})
    return {"task": task.id, "assignee": None}


def transfer(uow, task, row, actor: str, to_user: str, reason: str) -> dict:
    on_behalf_of = acting(uow, task, actor)
    _check_person(uow, to_user, task)
    _hand(uow, task, row, assignee=to_user, assigned_by=TRANSFER)
    _record(uow, "transfer", task, row, actor, on_behalf_of, reason, to=to_user)
    who = notify.name(uow.conn, actor)
    notify.send(uow, [to_user], notify.TRANSFERRED, f"{who} 将「{row.title}」的「{task.title}」转给您办理：{reason}",
                instance_id=row.id, task_id=task.id)
    return {"task": task.id, "assignee": to_user}


def delegate(uow, task, row, actor: str, to_user: str, reason: str) -> dict:
    on_behalf_of = acting(uow, task, actor)
    holder = task.assignee or actor
    _check_person(uow, to_user, task, holder)
    queue = [{"user": holder, "kind": DELEGATOR}, *task.queue]
    _hand(uow, task, row, assignee=to_user, assigned_by=DELEGATE, queue=queue)
    _record(uow, "delegate", task, row, actor, on_behalf_of, reason, to=to_user)
    who = notify.name(uow.conn, actor)
    notify.send(uow, [to_user], notify.DELEGATED, f"{who} 委派您办理「{row.title}」的「{task.title}」，办完后交回：{reason}",
                instance_id=row.id, task_id=task.id)
    return {"task": task.id, "assignee": to_user, "queue": queue}


def add_signer(uow, task, row, actor: str, signer: str, position: str, reason: str) -> dict:
    on_behalf_of = acting(uow, task, actor)
    holder = task.assignee or actor
    _check_person(uow, signer, task, holder)
    if any(step["user"] == signer for step in task.queue):
        raise InvalidInput(f"{signer} 已在本任务的办理顺序中 / {signer} already has to act on this task")
    if position == BEFORE:
        queue, assignee, assigned_by = [{"user": holder, "kind": OWNER}, *task.queue], signer, SIGNER
    elif position == AFTER:
        queue, assignee, assigned_by = [{"user": signer, "kind": SIGNER}, *task.queue], holder, task.assigned_by
    else:
        raise InvalidInput(f"加签位置只能是 before 或 after / position must be 'before' or 'after', not {position!r}")
    _hand(uow, task, row, assignee=assignee, assigned_by=assigned_by, queue=queue)
    _record(uow, "add_signer", task, row, actor, on_behalf_of, reason, to=signer, position=position)
    when = "在您之前" if position == BEFORE else f"在 {holder} 之后"
    who = notify.name(uow.conn, actor)
    notify.send(uow, [signer], notify.SIGNER, f"{who} 请您{when}签署「{row.title}」的「{task.title}」：{reason}",
                instance_id=row.id, task_id=task.id)
    return {"task": task.id, "assignee": assignee, "queue": queue}


def pass_on(uow, task, row, actor: str, on_behalf_of: str | None, data: dict) -> dict:
    """The holder acted but others still have to: record what they entered and give the task to the next."""
    following, *rest = task.queue
    hop = {"by": actor, "on_behalf_of": on_behalf_of, "at": uow.now.isoformat(),
           "action": {DELEGATOR: "delegated", OWNER: "signed_before", SIGNER: "signed"}[following["kind"]],
           "data": data}
    assigned_by = SIGNER if following["kind"] == SIGNER else HANDED_BACK
    _hand(uow, task, row, assignee=following["user"], assigned_by=assigned_by, queue=rest,
          hops=[*task.hops, hop], draft={**(task.draft or {}), **data})
    audit.record(uow.conn, action="pass_on", actor=actor, at=uow.now, instance_id=row.id, task_id=task.id,
                 on_behalf_of=on_behalf_of, data={"task": task.name, "title": task.title, "data": data,
                                                  "to": following["user"]})
    kind = notify.SIGNER if following["kind"] == SIGNER else notify.NEW_TASK
    who = notify.name(uow.conn, actor)
    notify.send(uow, [following["user"]], kind, f"「{row.title}」的「{task.title}」已由 {who} 办理，请您接着办理",
                instance_id=row.id, task_id=task.id)
    return {"instance": row.id, "state": row.state, "error": row.error,
            "tasks": [{"id": task.id, "title": task.title, "assignee": following["user"]}]}


def _check_person(uow, username: str, task, holder: str | None = None) -> None:
    if not username or uow.conn.scalar(_ACTIVE_USER, {"username": username}) is None:
        raise NotFound(f"没有这个用户 / no such active user: {username}")
    if username in (task.assignee, holder):
        raise InvalidInput(f"任务「{task.title}」已在 {username} 手中 / task {task.id} is already with {username}")


def _record(uow, action: str, task, row, actor: str, on_behalf_of: str | None, reason: str, **details) -> None:
    audit.record(uow.conn, action=action, actor=actor, at=uow.now, instance_id=row.id, task_id=task.id,
                 on_behalf_of=on_behalf_of,
                 data={"task": task.name, "title": task.title, "from": task.assignee,
                       "reason": outcomes.required_reason(reason),
                       **details})


def _hand(uow, task, row, *, assignee: str | None, assigned_by: str | None, queue: list | None = None,
          hops: list | None = None, draft: dict | None = None) -> None:
    """Give the task to ``assignee`` if it is still as it was read, and move the instance's version on."""
    values = {"assignee": assignee, "assigned_by": assigned_by}
    if queue is not None:
        values["queue"] = queue
    if hops is not None:
        values["hops"] = hops
    if draft is not None:
        values["draft"] = draft
    same_holder = (TaskIndex.assignee.is_(None) if task.assignee is None else TaskIndex.assignee == task.assignee)
    changed = uow.conn.execute(update(TaskIndex).where(TaskIndex.id == task.id, TaskIndex.state == "open",
                                                       same_holder).values(**values)).rowcount
    touched = uow.conn.execute(_TOUCH, {"b_id": row.id, "b_version": row.lock_version,
                                        "b_next": row.lock_version + 1}).rowcount
    if changed != 1 or touched != 1:
        raise Conflict(CONFLICT_MESSAGE)
    row.lock_version += 1
