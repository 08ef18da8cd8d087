"""The duty roster (值班表) and the duty hand-over.

24-hour duty with a leader on duty (004 第七十六条, 003 第七十一条): the duty office's tasks belong to whoever
is on the duty roster at that moment. An admin rosters a person for a role over a half-open span
[starts_at, ends_at); while the entry is in force, ``directory.assign`` gives the role's new tasks to that
person (task_index.assigned_by = "roster"). When the shift changes, ``hand_over`` moves the open tasks the
roster gave out to the person now on duty.

Every change is one unit of work with one audit event: ``roster_change`` (before/after) for an edit,
``duty_handover`` for each task the hand-over moved.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, select, update

from . import audit, directory
from .clock import as_instant, local_iso
from .errors import InvalidInput, NotFound
from .models import DutyRoster, Instance, Role, TaskIndex, User, UserRole

SYSTEM = "system"  # the actor of what the engine does by itself (as engine.commands.SYSTEM)

# Statements are built once, like the engine's (composing them costs more than running them on SQLite).
# The open tasks the roster gave out, of running instances; ``role IN (rostered roles)`` lets the database
# use ix_task_index_role_state_due instead of reading every task row on each worker pass.
_ROSTERED_OPEN_TASKS = (
    select(TaskIndex.id, TaskIndex.instance_id, TaskIndex.name, TaskIndex.title, TaskIndex.role,
           TaskIndex.candidate_department, TaskIndex.assignee, Role.department_scoped)
    .join(Role, Role.key == TaskIndex.role)
    .join(Instance, Instance.id == TaskIndex.instance_id)
    .where(TaskIndex.role.in_(select(DutyRoster.role_key).distinct()), TaskIndex.state == "open",
           TaskIndex.assigned_by == directory.ROSTER, Instance.state == "running")
    .order_by(TaskIndex.id))
# Guarded by the state and assignee read above: a task completed or moved meanwhile is left alone.
_REASSIGN = (update(TaskIndex)
             .where(TaskIndex.id == bindparam("b_id"), TaskIndex.state == "open",
                    TaskIndex.assignee == bindparam("b_from"))
             .values(assignee=bindparam("b_to"), assigned_by=directory.ROSTER))
_BUMP_VERSION = (update(Instance).where(Instance.id == bindparam("b_id"))
                 .values(lock_version=Instance.lock_version + 1))
_ENTRIES = (select(DutyRoster, User.display_name).join(User, User.username == DutyRoster.username)
            .order_by(DutyRoster.starts_at, DutyRoster.role_key, DutyRoster.id))


# --- editing the roster ---------------------------------------------------------------------------

def add(engine, role: str, username: str, starts_at: datetime | str, ends_at: datetime | str, note: str = "",
        actor: str = "admin") -> dict:
    """Roster ``username`` for ``role`` over [starts_at, ends_at). The user must be active and hold the role;
    overlapping entries are allowed (the one that started latest is in force)."""
    starts, ends = _instant(starts_at, "--from"), _instant(ends_at, "--to")
    if ends <= starts:
        raise InvalidInput(f"值班结束时间须晚于开始时间 / a shift must end after it starts: {local_iso(starts)} "
                           f"to {local_iso(ends)}")
    note = note or ""
    if len(note) > 256:
        raise InvalidInput("备注不能超过256字 / the note is longer than 256 characters")
    with engine.unit_of_work() as uow:
        session = uow.session
        role_row = session.get(Role, role)
        if role_row is None:
            raise InvalidInput(f"没有这个角色 / no such role: {role}")
        user = session.get(User, username)
        if user is None or not user.active:
            raise InvalidInput(f"没有这个用户 / no such active user: {username}")
        holds = session.scalar(select(UserRole.id).where(UserRole.username == username, UserRole.role_key == role)
                               .limit(1))
        if holds is None:
            raise InvalidInput(f"{username} 不担任「{role_row.name_zh}」，不能排班 / {username} does not hold the "
                               f"role {role} and cannot be rostered for it")
        entry = DutyRoster(role_key=role, username=username, starts_at=starts, ends_at=ends, note=note,
                           updated_by=actor, updated_at=uow.now)
        session.add(entry)
        session.flush()
        after = _entry_dict(entry, user.display_name)
        audit.record(session, action="roster_change", actor=actor, at=uow.now,
                     data={"id": entry.id, "before": None, "after": after})
        return after


def remove(engine, entry_id: int, actor: str = "admin") -> dict:
    """Delete a roster entry; returns it as it was. Tasks it already gave out move at the next hand-over."""
    with engine.unit_of_work() as uow:
        session = uow.session
        entry = session.get(DutyRoster, entry_id)
        if entry is None:
            raise NotFound(f"没有这条值班安排 / no roster entry {entry_id}")
        before = _entry_dict(entry, session.get(User, entry.username).display_name)
        session.delete(entry)
        audit.record(session, action="roster_change", actor=actor, at=uow.now,
                     data={"id": entry_id, "before": before, "after": None})
        return before


# --- reading it -----------------------------------------------------------------------------------

def list(engine, start: datetime | str | None = None, end: datetime | str | None = None) -> list[dict]:  # noqa: A001
    """The entries that overlap [start, end) (either bound may be left open), by start."""
    query = _ENTRIES
    if start is not None:
        query = query.where(DutyRoster.ends_at > _instant(start, "--from"))
    if end is not None:
        query = query.where(DutyRoster.starts_at < _instant(end, "--to"))
    with engine.read() as session:
        return [_entry_dict(entry, display_name) for entry, display_name in session.execute(query)]


def on_duty(engine, role: str, at: datetime | str | None = None) -> dict:
    """Who is on duty for ``role`` at ``at`` (default: the engine clock's now): the entry in force, and the
    acting person who receives the role's tasks while the person on duty is absent."""
    at = engine.clock.now() if at is None else _instant(at, "at")
    with engine.read() as session:
        if session.get(Role, role) is None:
            raise InvalidInput(f"没有这个角色 / no such role: {role}")
        conn = session.connection()
        entry = directory.on_duty(conn, role, at)
        acting = display_name = None
        if entry is not None:
            display_name = session.get(User, entry.username).display_name
            assignment = directory.assign(conn, {"role": role, "scoped": False}, None, None, at)
            if assignment.assigned_by == directory.ROSTER and assignment.handed_over_from == entry.username:
                acting = assignment.assignee
    return {"role": role, "at": local_iso(at), "username": entry.username if entry is not None else None,
            "display_name": display_name, "acting": acting,
            "entry": _entry_dict(entry, display_name) if entry is not None else None}


# --- the hand-over pass ---------------------------------------------------------------------------

def hand_over(engine) -> list[dict]:
    """At the engine clock's now, move every open task the roster gave out (assigned_by "roster") whose
    assignee is no longer the one who would get it now to the person on duty (or their acting person while
    they are absent): one transaction, one ``duty_handover`` event per task moved. Returns what moved.

    A role with nobody on duty now (a gap in the roster) leaves its tasks where they are: there is nobody to
    hand them to, and the next pass after a shift starts moves them."""
    moved = []
    with engine.unit_of_work() as uow:
        conn, now = uow.conn, uow.now
        on_duty: dict[tuple, directory.Assignment] = {}
        for task in conn.execute(_ROSTERED_OPEN_TASKS).all():
            scope = (task.role, task.candidate_department if task.department_scoped else None)
            if scope not in on_duty:
                # The same rule, and the same one statement, that gives a new task its assignee.
                on_duty[scope] = directory.assign(conn, {"role": task.role, "scoped": task.department_scoped},
                                                  task.candidate_department, None, now)
            duty = on_duty[scope]
            if duty.assigned_by != directory.ROSTER or duty.assignee in (None, task.assignee):
                continue
            if conn.execute(_REASSIGN, {"b_id": task.id, "b_from": task.assignee, "b_to": duty.assignee}).rowcount != 1:
                continue
            data = {"task": task.name, "title": task.title, "from": task.assignee, "to": duty.assignee,
                    "role": task.role}
            if duty.handed_over_from:
                data.update(on_duty=duty.handed_over_from, rule=duty.rule)
            audit.record(conn, action="duty_handover", actor=SYSTEM, at=now, instance_id=task.instance_id,
                         task_id=task.id, on_behalf_of=duty.handed_over_from, data=data)
            moved.append({"task": task.id, "instance": task.instance_id, "name": task.name, "title": task.title,
                          "role": task.role, "from": task.assignee, "to": duty.assignee})
        # Engines keep live instances in memory with their open task rows (store.LiveInstance.open_tasks),
        # trusted only at the instance's lock version. This pass changed task rows without stepping the
        # instance, so it moves each such instance's lock version on: every engine's cached copy (in this
        # process or another) then misses and is read again from the rows, and a command that read the old
        # version before this commit (the old officer completing the task just now) fails its version check
        # with a Conflict instead of acting on a task that is no longer theirs.
        instances = sorted({item["instance"] for item in moved})
        if instances:
            conn.execute(_BUMP_VERSION, [{"b_id": instance_id} for instance_id in instances])
    return moved


# --- helpers --------------------------------------------------------------------------------------

def _instant(value: datetime | str, name: str) -> datetime:
    try:
        return as_instant(value)
    except ValueError as err:
        raise InvalidInput(f"{name}: {err}") from err


def _entry_dict(entry: DutyRoster, display_name: str | None = None) -> dict:
    return {"id": entry.id, "role": entry.role_key, "username": entry.username, "display_name": display_name,
            "starts_at": local_iso(entry.starts_at), "ends_at": local_iso(entry.ends_at), "note": entry.note,
            "updated_by": entry.updated_by, "updated_at": local_iso(entry.updated_at)}
