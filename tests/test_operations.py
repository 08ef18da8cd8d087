"""Admins' operations on instances, each an audited command for admins only: suspend and resume (tasks leave
the inboxes, timers are set aside and armed again), cancel with a reason, retry a failed instance after the
diagram was fixed and the instance migrated to the fixed version, and a migration refused — nothing moved —
when a step of an instance is missing in the target version."""
from datetime import timedelta

import pytest

from engine.errors import Conflict, Forbidden, InstanceFailed

from .helpers import CLERK, FIXTURES, deploy, drop_confirm_step, fixture_copy, open_task, snapshot

ADMIN = "admin"


def test_suspend_sets_the_tasks_and_timers_aside_and_resume_brings_them_back(engine, clock):
    key = deploy(engine, "timer_wait")
    instance_id = engine.start(key, CLERK, {})["instance"]
    engine.suspend(instance_id, ADMIN, "核查中")
    clock.set(clock.now() + timedelta(minutes=30))
    assert engine.fire_due_timers() == []
    assert engine.show(instance_id)["state"] == "suspended"

    engine.resume(instance_id, ADMIN, "核查完毕")
    assert [f["result"] for f in engine.fire_due_timers()] == ["fired"]
    task = open_task(engine, instance_id, "handle")
    engine.suspend(instance_id, ADMIN, "再次核查")
    assert engine.inbox(CLERK, "todo")["total"] == 0
    with pytest.raises(Conflict, match="suspended"):
        engine.complete(task["id"], CLERK, {})
    engine.resume(instance_id, ADMIN, "继续")
    engine.complete(task["id"], CLERK, {})
    assert engine.show(instance_id)["state"] == "completed"
    actions = [e["action"] for e in engine.show(instance_id)["events"]]
    assert actions.count("suspend") == 2 and actions.count("resume") == 2
    assert engine.replay(instance_id)["consistent"]


def test_cancel_closes_the_open_tasks_with_the_reason(engine):
    key = deploy(engine, "timer_wait")
    instance_id = engine.start(key, CLERK, {})["instance"]
    with pytest.raises(Conflict):
        engine.resume(instance_id, ADMIN, "not suspended")
    result = engine.cancel(instance_id, ADMIN, "重复提交")
    assert result["state"] == "cancelled"
    shown = engine.show(instance_id)
    assert shown["state"] == "cancelled" and shown["ended_at"]
    assert shown["events"][-1]["data"]["reason"] == "重复提交"
    assert engine.fire_due_timers() == []


def test_only_admins_may_operate_and_a_refusal_changes_nothing(engine):
    key = deploy(engine, "timer_wait")
    instance_id = engine.start(key, CLERK, {})["instance"]
    before = snapshot(engine)
    for operation in (engine.suspend, engine.cancel, engine.retry):
        with pytest.raises(Forbidden):
            operation(instance_id, CLERK, "x")
    with pytest.raises(Forbidden):
        engine.migrate_instances([instance_id], 1, CLERK, "x")
    assert snapshot(engine) == before


def test_a_failed_instance_is_retried_after_the_fix_is_deployed_and_it_is_migrated(engine, tmp_path):
    folder, bpmn = fixture_copy(tmp_path, "script_error")
    [v1] = engine.deploy([folder], ADMIN)
    instance_id = engine.start(v1.key, CLERK, {})["instance"]
    with pytest.raises(InstanceFailed, match="division by zero|ZeroDivision"):
        engine.complete(open_task(engine, instance_id, "enter")["id"], CLERK, {"total": 5, "people": 0})
    with pytest.raises(InstanceFailed):
        engine.retry(instance_id, ADMIN, "unchanged diagram fails again")
    assert engine.show(instance_id)["state"] == "failed"

    bpmn.write_text(bpmn.read_text(encoding="utf-8").replace(
        "per_person = total / people", "per_person = total / people if people else total"), encoding="utf-8")
    [v2] = engine.deploy([folder], ADMIN)
    assert v2.version == 2
    report = engine.migration_check([instance_id], 2, ADMIN)
    assert report["movable"] and report["instances"][0]["from_version"] == 1
    engine.migrate_instances([instance_id], 2, ADMIN, "修正人数为零时的分摊")
    result = engine.retry(instance_id, ADMIN, "修正后重试")
    assert result["state"] == "running" and [t["name"] for t in result["tasks"]] == ["confirm"]
    shown = engine.show(instance_id)
    assert shown["version"] == 2 and shown["data"]["per_person"] == 5
    assert [e["action"] for e in shown["events"]] == ["start", "complete", "failed", "retry", "failed", "migrate",
                                                      "retry"]
    assert shown["events"][-2]["data"]["to_version"] == 2


def test_a_migration_is_refused_when_an_active_step_is_missing_and_nothing_moves(engine, tmp_path):
    folder, bpmn = fixture_copy(tmp_path, "script_error")
    [v1] = engine.deploy([folder], ADMIN)
    waiting = engine.start(v1.key, CLERK, {})["instance"]
    moved_on = engine.start(v1.key, CLERK, {})["instance"]
    engine.complete(open_task(engine, moved_on, "enter")["id"], CLERK, {"total": 6, "people": 2})
    drop_confirm_step(bpmn)  # version 2 has no step 确认分摊
    engine.deploy([folder], ADMIN)

    report = engine.migration_check([waiting, moved_on], 2, ADMIN)
    entries = {e["instance"]: e for e in report["instances"]}
    assert not report["movable"]
    assert entries[waiting]["movable"] is True
    assert entries[moved_on]["missing_active"] == ["确认分摊"]
    before = snapshot(engine)
    with pytest.raises(Conflict, match="none was moved"):
        engine.migrate_instances([waiting, moved_on], 2, ADMIN, "升级")
    assert snapshot(engine) == before
    engine.migrate_instances([waiting], 2, ADMIN, "升级")
    assert engine.show(waiting)["version"] == 2


def test_operations_from_the_command_line(govflow):
    govflow("users", "load")
    govflow("deploy", str(FIXTURES / "timer_wait"))
    instance = govflow("start", "timer_wait", "--as", CLERK)["instance"]
    assert govflow("suspend", str(instance), "--reason", "核查", "--as", ADMIN)["state"] == "suspended"
    assert govflow("resume", str(instance), "--reason", "继续", "--as", ADMIN)["state"] == "running"
    assert govflow("migrate", str(instance), "--to-version", "1", "--check", "--as", ADMIN)["instances"][0][
        "reason"] == "already on that version"
    code, error, stderr = govflow("cancel", str(instance), "--reason", "x", "--as", CLERK, ok=False)
    assert error["error"] == "forbidden"
    assert govflow("cancel", str(instance), "--reason", "重复", "--as", ADMIN)["state"] == "cancelled"
