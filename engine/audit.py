"""The append-only event log: one event per command, in two hash chains.

Each event's ``hash`` is SHA-256 over the previous event's hash and the event's canonical content (the
global chain, in id order), and its ``instance_hash`` the same over the previous event of the same instance
(that instance's chain). Editing, deleting or re-ordering a stored event breaks a chain at that event, which
``verify`` names. Appends are serialised — PostgreSQL by a transaction-scoped advisory lock, SQLite by its
single writer (write transactions begin IMMEDIATE) — so the chain's order is the commit order — and the
database works out each link as it inserts the event (engine/chain.py). The database refuses UPDATE and
DELETE on the table (triggers from migration 0006).
"""
from __future__ import annotations

import json
from datetime import date, datetime, timezone
from itertools import groupby

import orjson
from sqlalchemy import Connection, Text, bindparam, func, insert, null, select, text

from . import chain
from .models import AuditEvent
from .prepared import Prepared, column_param

_COLUMNS = ["action", "actor", "at", "instance_id", "task_id", "on_behalf_of", "data"]
_LAST_HASH = select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1).scalar_subquery()
_LAST_INSTANCE_HASH = (select(AuditEvent.instance_hash).where(AuditEvent.instance_id == bindparam("instance_id"))
                       .order_by(AuditEvent.id.desc()).limit(1).scalar_subquery())


def _append_statement(chained: bool) -> Prepared:
    """INSERT of one event whose links the database works out from the chains' last ones (engine.chain); an
    event of no instance (``chained`` False) is only in the global chain."""
    values = [column_param(AuditEvent.__table__, name) for name in _COLUMNS]
    content = bindparam("content", type_=Text)
    link = getattr(func, chain.SQL_FUNCTION)
    return Prepared(insert(AuditEvent).from_select(
        [*_COLUMNS, "hash", "instance_hash"],
        select(*values, link(_LAST_HASH, content), link(_LAST_INSTANCE_HASH, content) if chained else null())))


_APPEND_TO_INSTANCE, _APPEND_UNCHAINED = _append_statement(True), _append_statement(False)
# Per schema (one database may hold several GovFlow schemas, e.g. test runs side by side). A statement of its
# own: PostgreSQL takes a statement's snapshot before running it, so reading the last hashes in the statement
# that waits for the lock could miss an event committed while it waited.
_APPEND_LOCK = Prepared(text("SELECT pg_advisory_xact_lock(4719001, hashtext(current_schema()))"))
_EVENTS = select(AuditEvent.__table__).order_by(AuditEvent.id)


def event(*, action: str, actor: str, at: datetime, instance_id: int | None = None, task_id: int | None = None,
          on_behalf_of: str | None = None, data: dict | None = None) -> dict:
    """One event to append. ``data`` is copied now as plain JSON: SpiffWorkflow shares nested values between
    tasks, and an event must keep what was true when it happened, exactly as it is stored (so its hash can be
    checked later)."""
    return {"action": action, "actor": actor, "at": at, "instance_id": instance_id, "task_id": task_id,
            "on_behalf_of": on_behalf_of, "data": plain(data or {})}


def record(executor, **fields) -> None:
    """Append one event (the fields of ``event``) through ``executor``, a Connection or Session in the
    command's transaction."""
    record_all(executor, [event(**fields)])


def lock(conn: Connection) -> None:
    """Take the chain's append lock now (PostgreSQL; SQLite's write transaction already holds its single
    writer lock), for a command that appends (``append``) after writing other rows: whoever appends first
    then also writes first."""
    if conn.dialect.name == "postgresql":
        _APPEND_LOCK.execute(conn, {})


def record_all(executor, events: list[dict]) -> None:
    """Append ``events`` (from ``event``) in order, under one lock."""
    if not events:
        return
    conn = executor if isinstance(executor, Connection) else executor.connection()
    lock(conn)
    append(conn, events)


def append(conn: Connection, events: list[dict]) -> None:
    """Insert ``events`` in order, each linked in the database to the last event of its chains; the caller
    holds the lock (``lock``)."""
    for chained, run in groupby(events, key=lambda item: item["instance_id"] is not None):
        statement = _APPEND_TO_INSTANCE if chained else _APPEND_UNCHAINED
        statement.executemany(conn, [{**item, "content": canonical(item)} for item in run])


def canonical(event) -> str:
    """An event's content as hashed: its fields, the instant in UTC, keys sorted, no spaces."""
    at = event["at"].astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return json.dumps({"action": event["action"], "actor": event["actor"], "at": at,
                       "instance": event["instance_id"], "task": event["task_id"],
                       "on_behalf_of": event["on_behalf_of"], "data": event["data"]},
                      sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def chain_hash(previous: str, event) -> str:
    return chain.link(previous, canonical(event))


def verify(conn) -> dict:
    """Check every chain against the stored events: the global chain and each instance's. Gives the number
    of events checked and the first broken event (None when every chain holds)."""
    previous, previous_by_instance, checked = "", {}, 0
    for event in conn.execute(_EVENTS).mappings():
        checked += 1
        if event["hash"] != chain_hash(previous, event):
            return _broken(event, checked, "global", previous)
        previous = event["hash"]
        instance = event["instance_id"]
        if instance is not None:
            here = previous_by_instance.get(instance, "")
            if event["instance_hash"] != chain_hash(here, event):
                return _broken(event, checked, f"instance {instance}", here)
            previous_by_instance[instance] = event["instance_hash"]
    return {"events": checked, "instances": len(previous_by_instance), "broken": None}


def _broken(event, checked: int, chain_name: str, previous: str) -> dict:
    return {"events": checked, "broken": {
        "event": event["id"], "chain": chain_name, "action": event["action"], "at": event["at"].isoformat(),
        "message": (f"事件 {event['id']} 与审计链不符：它被修改过，或它之前的事件被删除、调换 / event {event['id']} "
                    f"({event['action']}) does not follow from the {chain_name} chain: it was altered, or an event "
                    f"before it was removed or moved")}}


def plain(value):
    """``value`` as plain JSON data, as people read it: instants and dates as ISO-8601 text, sets as lists.
    orjson does it several times faster; what it refuses (an integer beyond 64 bits) goes through the json
    module."""
    try:
        return orjson.loads(orjson.dumps(value, default=_plain_value, option=_PLAIN_OPTIONS))
    except orjson.JSONEncodeError:
        return json.loads(json.dumps(value, default=_plain_value, ensure_ascii=False))


# Instants, dates and dataclasses go to _plain_value, as they do with the json module.
_PLAIN_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def _plain_value(value):
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return None
