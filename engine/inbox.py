"""A person's inbox: 待办, 可认领, 已办 and 抄送我的, one page at a time, from the task index and copies alone."""
from __future__ import annotations

import functools
from datetime import datetime, timedelta

from sqlalchemy import String, and_, bindparam, cast, func, or_, select, union_all

from . import directory
from .calendar_admin import working_calendar
from .clock import local_iso
from .errors import InvalidInput
from .models import Copy, DefinitionVersion, Instance, Notification, TaskIndex, User, UserRole
from .taskindex import WORKING_DAYS

TABS = ("todo", "claimable", "done", "copied")
SORTS = {"due": (TaskIndex.due_at.is_(None), TaskIndex.due_at, TaskIndex.id),
         "-due": (TaskIndex.due_at.is_(None), TaskIndex.due_at.desc(), TaskIndex.id.desc()),
         "received": (TaskIndex.created_at, TaskIndex.id),
         "-received": (TaskIndex.created_at.desc(), TaskIndex.id.desc())}
DUE_SOON = timedelta(days=1)
MAX_PER_PAGE = 100

# The CAST gives PostgreSQL the parameter's type, which it cannot deduce from the union alone; the people stood
# in for are a subquery because SQLite takes no compound SELECT nested in another.
_STOOD_IN_FOR = directory.stood_in_for(bindparam("user"), bindparam("now")).subquery()
_ME_AND_ACTING_FOR = union_all(select(cast(bindparam("user"), String(64))), select(_STOOD_IN_FOR.c.username))
_HOLDS_ROLE = (select(UserRole.id)
               .where(UserRole.username == bindparam("user"), UserRole.role_key == TaskIndex.role,
                      or_(UserRole.department_key.is_(None), UserRole.department_key == TaskIndex.candidate_department))
               .exists())
_TASK_COLUMNS = (TaskIndex.id, TaskIndex.instance_id, TaskIndex.process_key, TaskIndex.name, TaskIndex.title,
                 TaskIndex.assignee, TaskIndex.role, TaskIndex.state, TaskIndex.created_at, TaskIndex.due_at,
                 TaskIndex.due_note, TaskIndex.due_unit, TaskIndex.sent_by, TaskIndex.completed_at,
                 TaskIndex.completed_by,
                 TaskIndex.assigned_by, TaskIndex.round, Instance.title.label("instance_title"))
_PROCESS_TITLES = (select(DefinitionVersion.process_key, DefinitionVersion.properties)
                   .order_by(DefinitionVersion.process_key, DefinitionVersion.version))
_NAMES = select(User.username, User.display_name).where(User.username.in_(bindparam("users", expanding=True)))


def _where(tab: str):
    """The tab's conditions, over task_index joined with instances. The person's own name and the people
    they act for are one IN list, so both databases read the assignee index (an OR of the two would not)."""
    if tab == "todo":
        return [TaskIndex.state == "open", Instance.state == "running", TaskIndex.assignee.in_(_ME_AND_ACTING_FOR)]
    if tab == "claimable":
        return [TaskIndex.state == "open", Instance.state == "running", TaskIndex.assignee.is_(None), _HOLDS_ROLE]
    return [TaskIndex.completed_by == bindparam("user")]


def page(conn, username: str, tab: str, now: datetime, *, q: str | None = None, process: str | None = None,
         status: str | None = None, sort: str = "due", page: int = 1, per_page: int = 20) -> dict:
    if tab not in TABS:
        raise InvalidInput(f"没有这个列表 / no inbox tab {tab!r}: use one of {', '.join(TABS)}")
    page, per_page = max(1, int(page)), min(MAX_PER_PAGE, max(1, int(per_page)))
    if tab == "copied":
        return _copies(conn, username, q, process, status, page, per_page)
    if sort not in SORTS:
        raise InvalidInput(f"不能这样排序 / cannot sort by {sort!r}: use one of {', '.join(SORTS)}")
    conditions = _where(tab)
    if q:
        pattern = f"%{_escape(q.strip())}%"
        conditions.append(or_(Instance.title.ilike(pattern, escape="\\"), TaskIndex.title.ilike(pattern, escape="\\")))
    if process:
        conditions.append(or_(TaskIndex.process_key == process, TaskIndex.process_key.like(f"{_escape(process)}.%",
                                                                                           escape="\\")))
    if status == "overdue":
        conditions.append(TaskIndex.due_at < bindparam("now"))
    elif status == "due_soon":
        conditions.append(and_(TaskIndex.due_at >= bindparam("now"), TaskIndex.due_at < bindparam("soon")))
    elif status:
        raise InvalidInput(f"没有这个状态 / no status filter {status!r}: use overdue or due_soon")
    params = {"user": username, "now": now, "soon": now + DUE_SOON}
    joined = select(*_TASK_COLUMNS).join(Instance, Instance.id == TaskIndex.instance_id).where(*conditions)
    order = SORTS[sort] if tab != "done" else (TaskIndex.completed_at.desc(), TaskIndex.id.desc())
    rows = conn.execute(joined.order_by(*order).limit(per_page).offset((page - 1) * per_page), params).all()
    counted = select(func.count()).select_from(TaskIndex)
    if tab != "done" or q:  # the done tab needs the instances only to search their titles
        counted = counted.join(Instance, Instance.id == TaskIndex.instance_id)
    total = conn.scalar(counted.where(*conditions), params)
    titles, names = process_titles(conn), _names(conn, {r.assignee for r in rows} | {r.sent_by for r in rows})
    calendar = functools.cache(lambda: working_calendar(conn))
    return {"rows": [_task_row(r, now, titles, names, calendar) for r in rows], "total": total, "page": page,
            "per_page": per_page}


def counts(conn, username: str, now: datetime) -> dict:
    params = {"user": username, "now": now}

    def count(tab):
        return conn.scalar(select(func.count()).select_from(TaskIndex)
                           .join(Instance, Instance.id == TaskIndex.instance_id).where(*_where(tab)), params)

    return {"todo": count("todo"), "claimable": count("claimable"),
            "copied_unread": conn.scalar(select(func.count()).select_from(Copy)
                                         .where(Copy.recipient == username, Copy.read_at.is_(None))),
            "notifications_unread": conn.scalar(select(func.count()).select_from(Notification)
                                                .where(Notification.username == username,
                                                       Notification.read_at.is_(None)))}


def process_titles(conn) -> dict[str, str]:
    """Each process key's title, from its latest version."""
    return {key: properties.get("title") or key for key, properties in conn.execute(_PROCESS_TITLES)}


def _copies(conn, username, q, process, status, page, per_page) -> dict:
    conditions = [Copy.recipient == username]
    if q:
        conditions.append(Instance.title.ilike(f"%{_escape(q.strip())}%", escape="\\"))
    if process:
        conditions.append(or_(Instance.process_key == process,
                              Instance.process_key.like(f"{_escape(process)}.%", escape="\\")))
    if status == "unread":
        conditions.append(Copy.read_at.is_(None))
    elif status == "read":
        conditions.append(Copy.read_at.is_not(None))
    elif status:
        raise InvalidInput(f"没有这个状态 / no status filter {status!r}: use unread or read")
    query = (select(Copy.id, Copy.instance_id, Copy.sent_by, Copy.sent_at, Copy.note, Copy.read_at,
                    Instance.process_key, Instance.title)
             .join(Instance, Instance.id == Copy.instance_id).where(*conditions))
    rows = conn.execute(query.order_by(Copy.sent_at.desc(), Copy.id.desc())
                        .limit(per_page).offset((page - 1) * per_page)).all()
    total = conn.scalar(select(func.count()).select_from(Copy).join(Instance, Instance.id == Copy.instance_id)
                        .where(*conditions))
    titles, names = process_titles(conn), _names(conn, {r.sent_by for r in rows})
    return {"rows": [{"id": r.id, "instance": r.instance_id, "process": r.process_key,
                      "process_title": titles.get(r.process_key, r.process_key), "instance_title": r.title,
                      "sent_by": r.sent_by, "sent_by_name": names.get(r.sent_by, r.sent_by),
                      "sent_at": local_iso(r.sent_at), "note": r.note, "read_at": local_iso(r.read_at)}
                     for r in rows],
            "total": total, "page": page, "per_page": per_page}


def task_kind(assigned_by: str | None) -> str:
    """What the holder is asked to do: the task itself, a delegated task (委派) or a signature (加签)."""
    return {"delegate": "delegated", "signer": "sign"}.get(assigned_by or "", "task")


def due_left(due_at: datetime | None, unit: str | None, now: datetime, calendar) -> dict | None:
    """What is left of a limit, as it is counted: {"working_days": n} (whole working days after today before
    the deadline) or {"minutes": n}; negative once missed. ``calendar`` is called only for working days."""
    if due_at is None:
        return None
    if unit == WORKING_DAYS and due_at > now:
        return {"working_days": calendar().working_days_between(now, due_at).value}
    return {"minutes": int((due_at - now).total_seconds() // 60)}


def _task_row(r, now: datetime, titles: dict, names: dict, calendar) -> dict:
    return {"id": r.id, "instance": r.instance_id, "process": r.process_key,
            "process_title": titles.get(r.process_key, r.process_key), "instance_title": r.instance_title,
            "name": r.name, "title": r.title, "assignee": r.assignee, "assignee_name": names.get(r.assignee),
            "role": r.role, "state": r.state, "created_at": local_iso(r.created_at), "due_at": local_iso(r.due_at),
            "due_note": r.due_note, "overdue": r.state == "open" and r.due_at is not None and r.due_at < now,
            "sent_by": r.sent_by, "sent_by_name": names.get(r.sent_by, r.sent_by),
            "completed_at": local_iso(r.completed_at), "completed_by": r.completed_by,
            "kind": task_kind(r.assigned_by), "round": r.round,
            "due_left": due_left(r.due_at, r.due_unit, now, calendar) if r.state == "open" else None}


def _names(conn, usernames: set) -> dict[str, str]:
    wanted = sorted(name for name in usernames if name)
    return dict(conn.execute(_NAMES, {"users": wanted}).all()) if wanted else {}


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
