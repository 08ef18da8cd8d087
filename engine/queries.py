"""Read-side queries: indexed tables only, never a deserialized workflow."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session, defer

from . import directory
from .access import is_classified
from .clock import local_iso
from .errors import NotFound
from .models import AuditEvent, DefinitionVersion, Instance, TaskIndex, UserRole
from .store import task_dict


def definitions(session: Session) -> list[dict]:
    rows = session.scalars(select(DefinitionVersion)
                           .order_by(DefinitionVersion.process_key, DefinitionVersion.version)).all()
    return [{"key": d.process_key, "version": d.version, "sha256": d.sha256, "title": d.properties.get("title"),
             "source": d.source_name, "deployed_at": local_iso(d.deployed_at), "deployed_by": d.deployed_by}
            for d in rows]


def actionable_by(username: str, now: datetime):
    """A filter for the tasks ``username`` may act on: assigned to them or to someone they are acting for
    now, or unassigned and for a role they hold (in the task's department where the role is scoped)."""
    holds_role = (select(UserRole.id)
                  .where(UserRole.username == username, UserRole.role_key == TaskIndex.role,
                         or_(UserRole.department_key.is_(None),
                             UserRole.department_key == TaskIndex.candidate_department))
                  .exists())
    return or_(TaskIndex.assignee == username, TaskIndex.assignee.in_(directory.stood_in_for(username, now)),
               and_(TaskIndex.assignee.is_(None), holds_role))


def tasks(session: Session, username: str | None = None, instance_id: int | None = None,
          state: str | None = "open", now: datetime | None = None) -> list[dict]:
    query = select(TaskIndex.__table__)
    if username is not None:
        # A person's list holds what they can act on: not the tasks of a failed or finished instance.
        running = select(Instance.id).where(Instance.state == "running")
        query = query.where(actionable_by(username, now), TaskIndex.instance_id.in_(running))
    if instance_id is not None:
        query = query.where(TaskIndex.instance_id == instance_id)
    if state is not None:
        query = query.where(TaskIndex.state == state)
    query = query.order_by(TaskIndex.due_at.is_(None), TaskIndex.due_at, TaskIndex.id)
    return [task_dict(row._mapping) for row in session.execute(query)]


# Each instance with the version number of its definition, as the lists show them.
_WITH_VERSION = (select(Instance, DefinitionVersion.version)
                 .join(DefinitionVersion, DefinitionVersion.id == Instance.definition_id))


def instances(session: Session, process: str | None = None, state: str | None = None) -> list[dict]:
    query = _WITH_VERSION
    if process is not None:
        query = query.where(Instance.process_key == process)
    if state is not None:
        query = query.where(Instance.state == state)
    return [_instance_dict(instance, version) for instance, version in session.execute(query.order_by(Instance.id))]


def instance_page(session: Session, *, process: str | None = None, family: str | None = None,
                  state: str | None = None, started_from: datetime | None = None,
                  started_before: datetime | None = None, page: int = 1, per_page: int = 50) -> dict:
    """One page of instances, newest first, filtered in the database: of the process ``process`` exactly, or
    of the procedure ``family`` (its key or any of its district variants ``family.<district>``), in
    ``state``, started in [started_from, started_before). ``page`` is clamped to the pages there are; gives
    the rows, the total, the page and the number of pages."""
    conditions = []
    if process:
        conditions.append(Instance.process_key == process)
    if family:
        conditions.append(or_(Instance.process_key == family,
                              Instance.process_key.startswith(family + ".", autoescape=True)))
    if state:
        conditions.append(Instance.state == state)
    if started_from is not None:
        conditions.append(Instance.started_at >= started_from)
    if started_before is not None:
        conditions.append(Instance.started_at < started_before)
    total = session.scalar(select(func.count()).select_from(Instance).where(*conditions))
    pages = max((total + per_page - 1) // per_page, 1)
    page = min(max(page, 1), pages)
    query = (_WITH_VERSION.options(defer(Instance.workflow)).where(*conditions)
             .order_by(Instance.id.desc()).offset((page - 1) * per_page).limit(per_page))
    return {"rows": [_instance_dict(instance, version) for instance, version in session.execute(query)],
            "total": total, "page": page, "pages": pages}


def show(session: Session, instance_id: int) -> dict:
    instance = session.get(Instance, instance_id)
    if instance is None:
        raise NotFound(f"没有这个流程实例 / no instance {instance_id}")
    version = session.scalar(select(DefinitionVersion.version).where(DefinitionVersion.id == instance.definition_id))
    events = session.scalars(select(AuditEvent).where(AuditEvent.instance_id == instance_id)
                             .order_by(AuditEvent.id)).all()
    return {**_instance_dict(instance, version), "data": instance.data,
            "tasks": tasks(session, instance_id=instance_id, state=None),
            "events": [event_dict(e) for e in events]}


def count_open_tasks(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(TaskIndex).where(TaskIndex.state == "open"))


def event_dict(event: AuditEvent) -> dict:
    return {"id": event.id, "at": local_iso(event.at), "actor": event.actor, "on_behalf_of": event.on_behalf_of,
            "action": event.action, "task": event.task_id, "data": event.data}


def _instance_dict(instance: Instance, version: int) -> dict:
    return {"id": instance.id, "process": instance.process_key, "version": version, "title": instance.title,
            "state": instance.state, "started_at": local_iso(instance.started_at),
            "started_by": instance.started_by, "ended_at": local_iso(instance.ended_at), "error": instance.error,
            "classified": is_classified(instance.data)}
