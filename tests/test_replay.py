"""Replay rebuilds an instance from its audit trail on the definition version it ran on and compares it with
what is stored: consistent after returns, withdrawals, delegation and timers; an altered stored state or an
altered recorded step is caught at the right event. (Every scenario of every procedure is replayed in
test_scenarios.py.)"""
import json

from sqlalchemy import text

from .helpers import open_task
from .test_audit_chain import behind_the_apps_back
from .test_document_incoming import CLERK, REGISTER, complete, start

MAYOR = "wang_mayor"
OPINION = {"opinion_kind": "批示", "opinion": "同意，请抓好落实"}


def worked(engine) -> int:
    """Filed, delegated and registered, returned by the mayor, withdrawn and registered again, approved."""
    instance_id = start(engine)
    register = open_task(engine, instance_id, "register")
    engine.delegate(register["id"], CLERK, "ma_civil_staff", "请先拟办")
    engine.complete(register["id"], "ma_civil_staff", REGISTER)
    engine.complete(register["id"], CLERK, REGISTER)
    review = open_task(engine, instance_id, "mayor_review")
    [earlier] = engine.task_view(review["id"], MAYOR)["returnable"]
    engine.return_task(review["id"], MAYOR, earlier["id"], "请补充测算依据")
    again = open_task(engine, instance_id, "register")
    engine.complete(again["id"], CLERK, {**REGISTER, "proposed_handling": "拟请区长批示"})
    engine.withdraw(again["id"], CLERK, "编号有误")
    complete(engine, instance_id, "register", CLERK, REGISTER)
    complete(engine, instance_id, "mayor_review", MAYOR, OPINION)
    return instance_id


def test_a_worked_instance_replays_consistently(engine):
    instance_id = worked(engine)
    result = engine.replay(instance_id)
    assert result == {"instance": instance_id, "events": result["events"], "consistent": True, "parted_at": None}
    assert result["events"] == 9  # start, delegate, pass_on, complete, return, complete, withdraw, complete x2


def test_an_altered_stored_state_is_named_at_the_last_event(engine):
    instance_id = worked(engine)
    with engine.db.begin() as conn:
        conn.execute(text("UPDATE instances SET data = :data WHERE id = :i"),
                     {"i": instance_id, "data": json.dumps({"title": "改过的标题"}, ensure_ascii=False)})
        last = conn.scalar(text("SELECT max(id) FROM audit_events WHERE instance_id = :i AND action = 'complete'"),
                           {"i": instance_id})
    engine._instances.clear()
    result = engine.replay(instance_id)
    assert not result["consistent"] and result["parted_at"]["event"] == last
    assert "data differs" in result["parted_at"]["message"]


def test_an_altered_recorded_step_is_named_at_that_event(engine):
    instance_id = worked(engine)
    with engine.db.connect() as conn:
        [first_register] = conn.execute(text(
            "SELECT id, data FROM audit_events WHERE instance_id = :i AND action = 'complete' ORDER BY id LIMIT 1"),
            {"i": instance_id}).all()
    data = first_register.data if isinstance(first_register.data, dict) else json.loads(first_register.data)
    data["data"]["proposed_handling"] = "拟不予办理"
    with behind_the_apps_back(engine) as conn:
        conn.execute(text("UPDATE audit_events SET data = :data WHERE id = :i"),
                     {"i": first_register.id, "data": json.dumps(data, ensure_ascii=False)})
    result = engine.replay(instance_id)
    assert not result["consistent"] and result["parted_at"]["event"] == first_register.id
    assert engine.verify_audit()["broken"]["event"] == first_register.id


def test_govflow_replay(engine, govflow):
    instance_id = worked(engine)
    assert govflow("replay", str(instance_id))["consistent"] is True


def test_the_timeline_shows_the_instance_as_it_stood_after_each_event(engine):
    instance_id = worked(engine)
    timeline = engine.timeline(instance_id, "shen_auditor")
    assert timeline["xml"] and timeline["instance"]["id"] == instance_id
    events = timeline["events"]
    actions = [e["action"] for e in events]
    assert actions[:4] == ["start", "delegate", "pass_on", "complete"]
    start_state, registered = events[0]["state"], events[3]["state"]
    assert start_state["active"] == ["register"] and start_state["finished"] == []
    # the mayor's task and its boundary timer (it marks the request late) are both waiting
    assert registered["active"] == ["mayor_review", "overdue_mayor_review"] and "register" in registered["finished"]
    assert registered["data"]["registered_number"] == REGISTER["registered_number"]
    returned = events[actions.index("return")]["state"]
    assert returned["active"] == ["register"] and returned["returned"] == ["register"]
    assert events[-1]["state"]["data"] == engine.show(instance_id)["data"]
