"""Long-running loops, the stored state of an instance, the depth guard and failing scripts.

A step writes only what it changed (row-per-task state, compaction of finished history); these tests
prove from the outside that nothing is lost by doing so: the state a fresh process loads from the
database is exactly the state the step left in memory.
"""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from engine.bpmn import DEPTH_GUARD, SERIALIZER, SPIFF_MAX_DEPTH
from engine.clock import parse_instant
from engine.commands import Engine
from engine.errors import Conflict, InstanceFailed
from engine.models import InstanceTask
from engine.scripting import RestrictedScriptEngine
from engine import store
from engine.store import InstanceCache

from .helpers import CLERK, deploy, open_task

def stored_task_rows(engine: Engine, instance_id: int) -> int:
    with engine.read() as session:
        return session.scalar(select(func.count()).select_from(InstanceTask)
                              .where(InstanceTask.instance_id == instance_id))


def state_dict(workflow) -> dict:
    dct = SERIALIZER.to_dict(workflow)
    dct.pop("spec")
    dct.pop("subprocess_specs")
    return dct


def cached_and_stored_state(engine: Engine, instance_id: int) -> tuple[dict, dict]:
    """The workflow the last step left in the engine's cache, and the same workflow loaded from the
    database by a process that has no cache."""
    with engine.db.connect() as conn:
        row = store.instance_row(conn, instance_id)
        cached = engine._instances.peek(instance_id)
        assert cached is not None and cached.row.lock_version == row.lock_version, \
            "the last step did not leave its workflow in the cache"
        compiled = engine._definitions.get(conn, row.definition_id).compiled
        stored = store.load(conn, row, compiled, RestrictedScriptEngine(), InstanceCache())
        assert stored is not cached
    return state_dict(cached.tracked.workflow), state_dict(stored.tracked.workflow)


def assert_stored_state_is_complete(engine: Engine, instance_id: int, step: str) -> None:
    cached, stored = cached_and_stored_state(engine, instance_id)
    assert stored["tasks"].keys() == cached["tasks"].keys(), step
    for task_id, task in cached["tasks"].items():
        assert stored["tasks"][task_id] == task, f"{step}: task {task['task_spec']} ({task_id}) differs"
    assert stored == cached, step


def failed_step(shown: dict) -> tuple[dict, str]:
    """The audit event of the step that failed (with the data submitted) and the failure recorded for it."""
    steps = [i for i, e in enumerate(shown["events"]) if e["action"] in ("start", "complete", "timer_fired")]
    step = shown["events"][steps[-1]]
    recorded = [step["data"].get("failed")] + [e["data"].get("error") for e in shown["events"][steps[-1] + 1:]
                                                if e["action"] == "failed"]
    [reason] = [r for r in recorded if r]
    return step, reason


def test_a_countersign_gives_each_department_head_their_own_task_and_collects_every_opinion(engine):
    deploy(engine, "countersign")
    result = engine.start("countersign", CLERK, {"departments": ["civil_affairs", "education", "commerce"]})
    assignees = {t["department"]: t["assignee"] for t in result["tasks"]}
    assert assignees == {"civil_affairs": "liu_civil", "education": "huang_edu", "commerce": "he_commerce"}
    assert {t["title"] for t in result["tasks"]} == {"部门会签意见"}
    instance_id = result["instance"]
    for task in result["tasks"]:
        engine.complete(task["id"], assignees[task["department"]],
                        {"opinion": "不同意" if task["department"] == "commerce" else "同意"})
    engine.complete(open_task(engine, instance_id, "summarise")["id"], CLERK, {})
    engine.complete(open_task(engine, instance_id, "file_it")["id"], CLERK, {})
    shown = engine.show(instance_id)
    assert shown["state"] == "completed"
    assert shown["data"]["opinions"] == ["同意", "同意", "不同意"] and shown["data"]["agreed"] == 2


# --- a long loop --------------------------------------------------------------------------------------


def test_a_600_round_loop_completes_only_after_the_last_round_and_its_stored_rows_stay_bounded(
        engine, clock, database_url):
    key = deploy(engine, "loop")
    instance_id = engine.start(key, CLERK, {})["instance"]
    rounds = 600
    most_rows = 0

    for round_no in range(1, rounds + 1):
        last = round_no == rounds
        task = open_task(engine, instance_id, "revise")
        if round_no in (300, 301, 302):
            # A fresh process (no cache) picks the instance up part-way and carries on.
            fresh = Engine(database_url, clock=clock)
            try:
                result = fresh.complete(task["id"], CLERK, {"again": True})
            finally:
                fresh.db.dispose()
        else:
            result = engine.complete(task["id"], CLERK, {"again": not last})
        clock.advance(minutes=1)

        most_rows = max(most_rows, stored_task_rows(engine, instance_id))
        if last:
            assert result["state"] == "completed"
            assert result["tasks"] == []
        else:
            assert result["state"] == "running", f"round {round_no}: {result}"
            assert [t["name"] for t in result["tasks"]] == ["revise"], f"round {round_no}"

    assert most_rows < 100
    shown = engine.show(instance_id)
    assert shown["state"] == "completed"
    assert parse_instant(shown["ended_at"]) == clock.now() - timedelta(minutes=1)
    history = engine.tasks(instance=instance_id, state="completed")
    assert len(history) == rounds  # the task index keeps every round, though the state was compacted
    assert shown["data"]["again"] is False
    assert [e["action"] for e in shown["events"]].count("complete") == rounds


def test_a_fresh_engine_loads_a_compacted_loop_and_its_data(engine, clock, database_url):
    key = deploy(engine, "loop")
    instance_id = engine.start(key, CLERK, {"draft": "初稿"})["instance"]
    for _ in range(120):
        engine.complete(open_task(engine, instance_id, "revise")["id"], CLERK, {"again": True})
    assert stored_task_rows(engine, instance_id) < 100

    fresh = Engine(database_url, clock=clock)
    try:
        task = open_task(fresh, instance_id, "revise")
        result = fresh.complete(task["id"], CLERK, {"again": False})
        assert result["state"] == "completed"
        data = fresh.show(instance_id)["data"]
        assert data["draft"] == "初稿"
        assert data["initiator"] == CLERK
        assert data["revise_by"] == CLERK
    finally:
        fresh.db.dispose()


# --- state equivalence: what a step writes is everything it changed ---------------------------------


def leave_scenario(engine: Engine, clock):
    depart_at, return_at = "2026-06-05T08:00:00+08:00", "2026-06-08T18:00:00+08:00"
    instance = {}

    def start():
        instance["id"] = engine.start("leave", "liu_civil", {
            "leave_kind": "出省", "destination": "上海市", "reason": "参加全国民政工作培训",
            "depart_at": depart_at, "return_at": return_at, "contact_phone": "13800000001",
            "acting_person": "ma_civil_staff"})["instance"]
        return instance["id"]

    def complete(name, actor, data):
        def step():
            clock.advance(hours=1)
            return engine.complete(open_task(engine, instance["id"], name)["id"], actor, data)
        return step

    def return_time_passes():
        clock.set(parse_instant(return_at) + timedelta(minutes=5))
        assert [f["result"] for f in engine.fire_due_timers()] == ["fired"]

    steps = [
        ("start", start),
        ("vice approval", complete("vice_approval", "zhao_vice", {"decision": "同意", "opinion": "同意"})),
        ("mayor approval", complete("mayor_approval", "wang_mayor", {"decision": "同意"})),
        ("notify leaders", complete("notify_leaders", CLERK, {"notified": True})),
        ("return time passes", return_time_passes),
        ("report return", complete("report_return", "liu_civil", {"returned_at": "2026-06-08T17:30:00+08:00"})),
    ]
    return instance, steps


def loop_scenario(engine: Engine, clock):
    instance = {}

    def start():
        instance["id"] = engine.start("loop", CLERK, {})["instance"]

    def revise(again):
        def step():
            clock.advance(minutes=3)
            engine.complete(open_task(engine, instance["id"], "revise")["id"], CLERK, {"again": again})
        return step

    rounds = 80  # well past the point where compaction first cuts the tree
    steps = [("start", start)] + [(f"round {n}", revise(True)) for n in range(1, rounds)]
    steps.append((f"round {rounds}", revise(False)))
    return instance, steps


def boundary_scenario(engine: Engine, clock):
    instance = {}

    def start():
        instance["id"] = engine.start("boundary_noninterrupt", CLERK, {})["instance"]

    def timer_fires():
        clock.advance(minutes=20)
        assert [f["result"] for f in engine.fire_due_timers()] == ["fired"]

    def complete(name):
        def step():
            engine.complete(open_task(engine, instance["id"], name)["id"], CLERK, {})
        return step

    steps = [("start", start), ("timer fires", timer_fires), ("review", complete("review")),
             ("chase", complete("chase"))]
    return instance, steps


def interrupting_boundary_scenario(engine: Engine, clock):
    instance = {}

    def start():
        instance["id"] = engine.start("boundary_interrupt", CLERK, {})["instance"]

    def timer_fires():
        clock.advance(minutes=20)
        assert [f["result"] for f in engine.fire_due_timers()] == ["fired"]

    def chase():
        engine.complete(open_task(engine, instance["id"], "chase")["id"], CLERK, {})

    return instance, [("start", start), ("timer fires", timer_fires), ("chase", chase)]


def parallel_loop_scenario(engine: Engine, clock):
    """A branching tree that compaction must leave alone."""
    instance = {}

    def start():
        instance["id"] = engine.start("parallel_loop", CLERK, {})["instance"]

    def revise(again):
        def step():
            engine.complete(open_task(engine, instance["id"], "revise")["id"], CLERK, {"again": again})
        return step

    def mayor_reads():
        engine.complete(open_task(engine, instance["id"], "mayor_read")["id"], "wang_mayor", {})

    steps = [("start", start)] + [(f"round {n}", revise(True)) for n in range(1, 40)]
    steps += [("mayor reads", mayor_reads), ("last round", revise(False))]
    return instance, steps


def countersign_scenario(engine: Engine, clock):
    """A parallel multi-instance countersign, an embedded subprocess and a call activity: each keeps a task
    tree of its own beside the instance's."""
    instance = {}
    heads = {"civil_affairs": "liu_civil", "education": "huang_edu", "commerce": "he_commerce"}

    def start():
        instance["id"] = engine.start("countersign", CLERK, {"departments": list(heads)})["instance"]

    def sign(department, opinion):
        def step():
            [task] = [t for t in engine.tasks(instance=instance["id"]) if t["department"] == department]
            engine.complete(task["id"], heads[department], {"opinion": opinion})
        return step

    def clerk(name):
        def step():
            engine.complete(open_task(engine, instance["id"], name)["id"], CLERK, {})
        return step

    return instance, [("start", start), ("civil affairs signs", sign("civil_affairs", "同意")),
                      ("education signs", sign("education", "同意")), ("commerce signs", sign("commerce", "不同意")),
                      ("summarise in the subprocess", clerk("summarise")), ("file in the called process", clerk("file_it"))]


SCENARIOS = {"leave": leave_scenario, "countersign": countersign_scenario, "loop": loop_scenario, "boundary_timer": boundary_scenario,
             "interrupting_boundary_timer": interrupting_boundary_scenario, "parallel_loop": parallel_loop_scenario}


@pytest.mark.parametrize("scenario", SCENARIOS.values(), ids=SCENARIOS.keys())
def test_after_every_step_the_state_loaded_from_the_database_equals_the_state_in_memory(
        engine, clock, scenario):
    for fixture in ("loop", "parallel_loop", "boundary_interrupt", "boundary_noninterrupt", "countersign"):
        deploy(engine, fixture)
    instance, steps = scenario(engine, clock)

    for name, step in steps:
        step()
        assert_stored_state_is_complete(engine, instance["id"], name)

    assert engine.show(instance["id"])["state"] == "completed"


def test_a_failed_step_stores_the_same_state_it_left_in_memory(engine, clock):
    key = deploy(engine, "script_error")
    instance_id = engine.start(key, CLERK, {})["instance"]
    assert_stored_state_is_complete(engine, instance_id, "start")

    with pytest.raises(InstanceFailed):
        engine.complete(open_task(engine, instance_id, "enter")["id"], CLERK, {"total": 5, "people": 0})

    assert_stored_state_is_complete(engine, instance_id, "failed step")


def test_the_leave_process_waits_for_the_return_time_then_asks_the_applicant_to_report_back(engine, clock):
    instance, steps = leave_scenario(engine, clock)
    for name, step in steps[:4]:
        step()
    assert [t["name"] for t in engine.tasks(instance=instance["id"])] == []

    steps[4][1]()  # the return time passes
    task = open_task(engine, instance["id"], "report_return")
    assert task["assignee"] == "liu_civil"
    steps[5][1]()

    shown = engine.show(instance["id"])
    assert shown["state"] == "completed"
    assert [e["action"] for e in shown["events"]] == ["start", "complete", "complete", "complete", "timer_fired",
                                                      "complete"]


# --- the depth guard ----------------------------------------------------------------------------------


def test_a_loop_beside_an_open_branch_is_compacted_below_the_split_and_the_join_still_waits_for_both(engine):
    key = deploy(engine, "parallel_loop")
    instance_id = engine.start(key, CLERK, {})["instance"]
    for _ in range(600):
        result = engine.complete(open_task(engine, instance_id, "revise")["id"], CLERK, {"again": True})
        assert result["state"] == "running"
    assert stored_task_rows(engine, instance_id) < 100
    result = engine.complete(open_task(engine, instance_id, "revise")["id"], CLERK, {"again": False})
    assert result["state"] == "running" and [t["name"] for t in result["tasks"]] == ["mayor_read"]
    result = engine.complete(open_task(engine, instance_id, "mayor_read")["id"], "wang_mayor", {})
    assert result["state"] == "completed"


def test_a_loop_that_cannot_be_compacted_is_stopped_by_the_depth_guard_before_spiffworkflow_gives_up(
        engine, clock):
    key = deploy(engine, "open_branch_loop")
    result = engine.start(key, CLERK, {})
    instance_id = result["instance"]
    assert [t["name"] for t in result["tasks"]] == ["revise"]

    refused = None
    for round_no in range(1, 500):
        task = open_task(engine, instance_id, "revise")
        try:
            result = engine.complete(task["id"], CLERK, {"again": True})
        except InstanceFailed as err:
            refused = err
            break
        assert result["state"] == "running", f"round {round_no}: {result}"

    assert refused is not None, "the depth guard never stopped the loop within 500 rounds"
    assert DEPTH_GUARD < SPIFF_MAX_DEPTH
    assert re.search("task '(修改稿件|区长阅知修改稿)' is at depth", refused.message)
    depth = int(re.search(r"at depth (\d+)", refused.message)[1])
    assert DEPTH_GUARD <= depth < SPIFF_MAX_DEPTH
    shown = engine.show(instance_id)
    assert shown["state"] == "failed"
    assert shown["ended_at"] is None
    assert f"SpiffWorkflow stops looking at depth {SPIFF_MAX_DEPTH}" in shown["error"]
    step, reason = failed_step(shown)
    assert step["action"] == "complete"
    assert step["data"]["data"] == {"again": True}
    assert reason == shown["error"]
    assert engine.instances(process=key, state="completed") == []

    # Nothing more happens to a failed instance.
    still_listed = engine.tasks(instance=instance_id)
    assert "mayor_note" in [t["name"] for t in still_listed]
    for task in still_listed[:3]:
        actor = "wang_mayor" if task["name"] == "mayor_note" else CLERK
        with pytest.raises(Conflict):
            engine.complete(task["id"], actor, {"again": False})
    assert engine.show(instance_id)["state"] == "failed"


# --- a script that fails at run time ------------------------------------------------------------------


def test_a_script_that_divides_by_zero_fails_its_instance_with_the_task_named_and_others_keep_running(
        engine, clock):
    key = deploy(engine, "script_error")
    healthy = engine.start(key, CLERK, {})["instance"]
    broken = engine.start(key, CLERK, {})["instance"]

    with pytest.raises(InstanceFailed) as caught:
        engine.complete(open_task(engine, broken, "enter")["id"], CLERK, {"total": 1000, "people": 0})

    assert "计算人均经费" in caught.value.message
    assert caught.value.details == [{"instance": broken}]
    shown = engine.show(broken)
    assert shown["state"] == "failed"
    assert "计算人均经费" in shown["error"]
    assert "division by zero" in shown["error"]
    step, reason = failed_step(shown)
    assert step["action"] == "complete"
    assert step["actor"] == CLERK
    assert step["data"]["data"] == {"total": 1000, "people": 0}
    assert reason == shown["error"]
    assert engine.tasks(instance=broken) == []
    assert [i["id"] for i in engine.instances(process=key, state="failed")] == [broken]

    # The other instance, and new ones, run on.
    result = engine.complete(open_task(engine, healthy, "enter")["id"], CLERK, {"total": 1000, "people": 4})
    assert result["state"] == "running"
    assert engine.show(healthy)["data"]["per_person"] == 250
    assert engine.complete(open_task(engine, healthy, "confirm")["id"], CLERK, {})["state"] == "completed"
    later = engine.start(key, CLERK, {})["instance"]
    assert engine.show(later)["state"] == "running"


def test_a_failed_step_is_stored_with_the_data_that_was_submitted(engine, clock, database_url):
    key = deploy(engine, "script_error")
    instance_id = engine.start(key, CLERK, {})["instance"]
    with pytest.raises(InstanceFailed):
        engine.complete(open_task(engine, instance_id, "enter")["id"], CLERK, {"total": 5, "people": 0})

    fresh = Engine(database_url, clock=clock)
    try:
        shown = fresh.show(instance_id)
        assert shown["state"] == "failed"
        assert shown["data"]["total"] == 5 and shown["data"]["people"] == 0
        assert [t["state"] for t in fresh.tasks(instance=instance_id, state=None)] == ["completed"]
    finally:
        fresh.db.dispose()


def test_the_tasks_of_a_failed_instance_leave_the_assignees_list(engine):
    key = deploy(engine, "timer_beside_script")
    instance_id = engine.start(key, CLERK, {})["instance"]
    assert [t["instance"] for t in engine.tasks(user=CLERK)] == [instance_id]
    with pytest.raises(InstanceFailed):
        engine.complete(open_task(engine, instance_id, "enter")["id"], CLERK, {"people": 0})
    assert engine.tasks(user=CLERK) == []


def test_the_cache_knows_which_instance_holds_an_open_task_and_forgets_it_when_it_closes(engine):
    key = deploy(engine, "loop")
    first, second = engine.start(key, CLERK, {}), engine.start(key, CLERK, {})
    [task] = first["tasks"]
    assert engine._instances.holding(task["id"]).row.id == first["instance"]
    [again] = engine.complete(task["id"], CLERK, {"again": True})["tasks"]
    assert engine._instances.holding(task["id"]) is None
    assert engine._instances.holding(again["id"]).row.id == first["instance"]
    small = InstanceCache(size=1)
    small.put(engine._instances.peek(first["instance"]))
    small.put(engine._instances.peek(second["instance"]))  # the first is evicted, and its task forgotten
    assert small.holding(again["id"]) is None
    assert small.holding(second["tasks"][0]["id"]).row.id == second["instance"]
