"""The audit trail is tamper-evident: every event is in a global hash chain and its instance's chain, the
database refuses UPDATE and DELETE on it, and `govflow audit verify` names the first event that was edited,
deleted or moved behind the application's back (here: by someone who switched the refusal off)."""
import json
from contextlib import contextmanager

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DatabaseError

from engine import audit, chain
from engine.models import AuditEvent

from .test_document_incoming import CLERK, REGISTER, complete, start


def history(engine) -> list[int]:
    instance_id = start(engine)
    complete(engine, instance_id, "register", CLERK, REGISTER)
    engine.urge(instance_id, "liu_civil", "请尽快批示")
    with engine.db.connect() as conn:
        return list(conn.scalars(text("SELECT id FROM audit_events WHERE instance_id = :i ORDER BY id"),
                                 {"i": instance_id}))


@contextmanager
def behind_the_apps_back(engine):
    """A connection with the append-only triggers switched off, as a database owner could."""
    sqlite = engine.db.dialect.name == "sqlite"
    with engine.db.connect() as conn:
        with conn.begin():
            if sqlite:
                conn.execute(text("DROP TRIGGER audit_events_no_update"))
                conn.execute(text("DROP TRIGGER audit_events_no_delete"))
            else:
                conn.execute(text("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only"))
            yield conn
            if not sqlite:
                conn.execute(text("ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only"))


def test_an_intact_trail_verifies(engine):
    history(engine)
    result = engine.verify_audit()
    assert result["broken"] is None and result["events"] > 5 and result["instances"] == 1


def test_the_database_links_each_event_exactly_as_engine_chain_does(engine):
    """The links are worked out by the database as events are inserted (SQLite: the function registered from
    engine.chain; PostgreSQL: migration 0009's); they must be byte for byte what Python computes, for Chinese
    text, several events in one command, events of two instances and events of none interleaved."""
    first, second = start(engine), start(engine)
    with engine.unit_of_work() as uow:
        at = uow.now
        audit.record_all(uow.conn, [
            audit.event(action="comment", actor="liu_civil", at=at, instance_id=first, data={"text": "请尽快批示 \n \"ok\""}),
            audit.event(action="deploy", actor="admin", at=at, data={"note": "新版本", "n": 1.5}),
            audit.event(action="comment", actor="liu_civil", at=at, instance_id=second, data={"text": "同意"}),
            audit.event(action="comment", actor="liu_civil", at=at, instance_id=first, data={"text": "已阅"})])
    with engine.db.connect() as conn:
        rows = conn.execute(select(AuditEvent.__table__).order_by(AuditEvent.id)).mappings().all()
    previous, by_instance = "", {}
    for row in rows:
        assert row["hash"] == chain.link(previous, audit.canonical(row))
        previous = row["hash"]
        if row["instance_id"] is None:
            assert row["instance_hash"] is None
        else:
            expected = chain.link(by_instance.get(row["instance_id"]), audit.canonical(row))
            assert row["instance_hash"] == expected
            by_instance[row["instance_id"]] = expected
    assert [row["action"] for row in rows[-4:]] == ["comment", "deploy", "comment", "comment"]
    assert engine.verify_audit()["broken"] is None


def test_the_database_refuses_to_change_or_remove_an_event(engine):
    [first, *_] = history(engine)
    for statement in ("UPDATE audit_events SET actor = 'mallory' WHERE id = :i", "DELETE FROM audit_events WHERE id = :i"):
        with pytest.raises(DatabaseError, match="append-only"):
            with engine.db.begin() as conn:
                conn.execute(text(statement), {"i": first})
    assert engine.verify_audit()["broken"] is None


def test_an_edited_event_is_named(engine):
    events = history(engine)
    with behind_the_apps_back(engine) as conn:
        conn.execute(text("UPDATE audit_events SET actor = 'mallory' WHERE id = :i"), {"i": events[1]})
    broken = engine.verify_audit()["broken"]
    assert broken["event"] == events[1] and broken["chain"] == "global"


def test_a_deleted_event_is_named_by_the_one_after_it(engine):
    events = history(engine)
    with behind_the_apps_back(engine) as conn:
        conn.execute(text("DELETE FROM audit_events WHERE id = :i"), {"i": events[1]})
    assert engine.verify_audit()["broken"]["event"] == events[2]


def test_re_ordered_events_are_named(engine):
    events = history(engine)
    a, b = events[1], events[2]
    with behind_the_apps_back(engine) as conn:
        swap = "UPDATE audit_events SET action = :action, data = :data, actor = :actor WHERE id = :i"
        rows = {i: conn.execute(text("SELECT action, actor, data FROM audit_events WHERE id = :i"), {"i": i}).one()
                for i in (a, b)}
        for target, source in ((a, b), (b, a)):
            conn.execute(text(swap), {"i": target, "action": rows[source].action,
                                                   "actor": rows[source].actor,
                                       "data": rows[source].data if isinstance(rows[source].data, str)
                                       else json.dumps(rows[source].data, ensure_ascii=False)})
    assert engine.verify_audit()["broken"]["event"] == a


def test_govflow_audit_verify(engine, govflow):
    events = history(engine)
    assert govflow("audit", "verify")["broken"] is None
    with behind_the_apps_back(engine) as conn:
        conn.execute(text("UPDATE audit_events SET at = at WHERE id = :i"), {"i": events[0]})
        conn.execute(text("DELETE FROM audit_events WHERE id = :i"), {"i": events[0]})
    code, error, stderr = govflow("audit", "verify", ok=False)
    assert code == 1 and f"event {events[1]}" in stderr
