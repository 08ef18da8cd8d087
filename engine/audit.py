"""The append-only event log: one event per command."""
from __future__ import annotations

import copy
from datetime import datetime

from sqlalchemy import insert

from .models import AuditEvent


_INSERT = insert(AuditEvent)


def record(executor, *, action: str, actor: str, at: datetime, instance_id: int | None = None,
           task_id: int | None = None, on_behalf_of: str | None = None, data: dict | None = None) -> None:
    """Append one event through ``executor`` (a Connection or Session in the command's transaction).
    ``data`` is copied now: SpiffWorkflow shares nested values between tasks, and an event must keep what
    was true when it happened."""
    executor.execute(_INSERT, {
        "action": action, "actor": actor, "at": at, "instance_id": instance_id, "task_id": task_id,
        "on_behalf_of": on_behalf_of, "data": copy.deepcopy(data or {})})
