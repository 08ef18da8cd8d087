"""The append-only event log: one event per command."""
from __future__ import annotations

import copy
from datetime import datetime

from sqlalchemy.orm import Session

from .models import AuditEvent


def record(session: Session, *, action: str, actor: str, at: datetime, instance_id: int | None = None,
           task_id: int | None = None, on_behalf_of: str | None = None, data: dict | None = None) -> AuditEvent:
    """Append one event. ``data`` is copied now: SpiffWorkflow shares nested values between tasks, and an
    event must keep what was true when it happened."""
    event = AuditEvent(action=action, actor=actor, at=at, instance_id=instance_id, task_id=task_id,
                       on_behalf_of=on_behalf_of, data=copy.deepcopy(data or {}))
    session.add(event)
    return event
