"""The duty roster (004 第七十六条): the duty office's tasks belong to whoever is on the duty roster at that
moment. Shifts are half-open, the latest-starting of overlapping entries is in force, an absent officer's
tasks go to the acting person, and the worker's hand-over pass moves open duty tasks when the shift changes.

Time only moves when a test moves it; the hand-over runs only when ``roster.hand_over`` (the worker) runs.
"""
from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import event, select

from engine import directory, roster
from engine.clock import parse_instant
from engine.commands import Engine
from engine.errors import Conflict, Forbidden, InvalidInput, NotFound
from engine.models import Absence, AuditEvent, DutyRoster, Instance, TaskIndex

from .helpers import CLERK, FIXTURES, deploy

FENG, QIN = "feng_duty", "qin_duty"  # feng_duty is in the demo directory; qin_duty is added here


def at(local_time: str) -> datetime:
    """An instant on the test days, written in Shanghai time: "06-01 17:30"."""
    day, clock_time = local_time.split()
    return parse_instant(f"2026-{day}T{clock_time}:00+08:00")


@pytest.fixture
def duty(engine) -> str:
    """The duty-task model deployed, and a second duty officer, so a role-only assignment is ambiguous."""
    with engine.unit_of_work() as uow:
        directory.put_user(uow.session, {"username": QIN, "display_name": "秦岭（总值班室）",
                                         "department": "gov_office", "roles": ["duty_office"]})
    return deploy(engine, "duty_task")


def call_in(engine: Engine, key: str) -> dict:
    """The clerk passes a call to the duty office: the one open task it makes."""
    [task] = engine.start(key, CLERK, {})["tasks"]
    return task


def index_row(engine: Engine, task_id: int) -> TaskIndex:
    with engine.read() as session:
        return session.get(TaskIndex, task_id)


def events(engine: Engine, action: str, instance_id: int | None = None) -> list[AuditEvent]:
    with engine.read() as session:
        query = select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        if instance_id is not None:
            query = query.where(AuditEvent.instance_id == instance_id)
        return list(session.scalars(query))


def lock_version(engine: Engine, instance_id: int) -> int:
    with engine.read() as session:
        return session.get(Instance, instance_id).lock_version


def day_and_night(engine: Engine) -> None:
    """Feng has the day shift 08:30–17:30, Qin the night 17:30–08:30."""
    roster.add(engine, "duty_office", FENG, at("06-01 08:30"), at("06-01 17:30"), "白班", "admin")
    roster.add(engine, "duty_office", QIN, at("06-01 17:30"), at("06-02 08:30"), "夜班", "admin")


# --- who gets a new duty-office task ------------------------------------------------------------------

def test_without_a_roster_the_one_holder_gets_the_task_and_two_holders_leave_it_to_claim(engine):
    key = deploy(engine, "duty_task")
    task = call_in(engine, key)
    assert task["assignee"] == FENG
    assert index_row(engine, task["id"]).assigned_by == "role"

    with engine.unit_of_work() as uow:
        directory.put_user(uow.session, {"username": QIN, "display_name": "秦岭", "roles": ["duty_office"]})
    task = call_in(engine, key)
    assert (task["assignee"], task["role"]) == (None, "duty_office")
    assert index_row(engine, task["id"]).assigned_by == "role"
    assert [t["id"] for t in engine.tasks(QIN)] == [task["id"]]
    assert roster.hand_over(engine) == []


def test_the_officer_on_the_roster_gets_the_duty_office_task_and_only_they_may_complete_it(engine, duty):
    roster.add(engine, "duty_office", QIN, at("06-01 08:30"), at("06-01 17:30"), "", "admin")

    task = call_in(engine, duty)

    assert task["assignee"] == QIN
    assert index_row(engine, task["id"]).assigned_by == "roster"
    assert engine.tasks(FENG) == []
    with pytest.raises(Forbidden, match="not yours"):
        engine.complete(task["id"], FENG, {})
    assert engine.complete(task["id"], QIN, {})["state"] == "completed"


def test_a_shift_is_half_open_so_at_the_change_the_next_officer_is_on_duty(engine, duty, clock):
    day_and_night(engine)

    clock.set(at("06-01 17:29").replace(second=59))
    assert call_in(engine, duty)["assignee"] == FENG
    clock.set(at("06-01 17:30"))
    assert call_in(engine, duty)["assignee"] == QIN
    clock.set(at("06-02 08:30"))
    task = call_in(engine, duty)
    assert task["assignee"] is None  # the night shift is over and nobody is rostered: the role's pool
    assert index_row(engine, task["id"]).assigned_by == "role"


def test_of_overlapping_entries_the_one_that_started_latest_is_in_force(engine, duty, clock):
    roster.add(engine, "duty_office", QIN, at("06-01 08:00"), at("06-01 12:00"), "上午顶班", "admin")
    roster.add(engine, "duty_office", FENG, at("06-01 00:00"), at("06-02 00:00"), "全天", "admin")

    clock.set(at("06-01 09:00"))
    assert call_in(engine, duty)["assignee"] == QIN
    assert roster.on_duty(engine, "duty_office")["username"] == QIN
    clock.set(at("06-01 12:00"))
    assert call_in(engine, duty)["assignee"] == FENG
    clock.set(at("06-01 07:59"))
    assert call_in(engine, duty)["assignee"] == FENG


def test_an_absent_rostered_officer_s_task_goes_to_the_acting_person(engine, duty, clock):
    roster.add(engine, "duty_office", QIN, at("06-01 08:30"), at("06-01 17:30"), "", "admin")
    with engine.unit_of_work() as uow:
        uow.session.add(Absence(username=QIN, starts_at=at("06-01 08:00"), ends_at=at("06-01 12:00"),
                                acting_username=FENG, rule="临时外出，冯晓代班", recorded_at=uow.now))

    task = call_in(engine, duty)

    assert task["assignee"] == FENG
    assert index_row(engine, task["id"]).assigned_by == "roster"
    [handover] = events(engine, "absence_handover", task["instance"])
    assert (handover.on_behalf_of, handover.data["from"], handover.data["to"]) == (QIN, QIN, FENG)
    duty_now = roster.on_duty(engine, "duty_office")
    assert (duty_now["username"], duty_now["acting"]) == (QIN, FENG)

    clock.set(at("06-01 12:00"))  # back at her desk: the duty task follows the person on duty
    [moved] = roster.hand_over(engine)
    assert (moved["from"], moved["to"]) == (FENG, QIN)


def test_a_roster_entry_stops_counting_when_its_officer_loses_the_role(engine, duty):
    roster.add(engine, "duty_office", QIN, at("06-01 08:30"), at("06-01 17:30"), "", "admin")
    with engine.unit_of_work() as uow:
        directory.put_user(uow.session, {"username": QIN, "display_name": "秦岭", "roles": ["office_clerk"]})
    assert call_in(engine, duty)["assignee"] == FENG
    assert roster.on_duty(engine, "duty_office")["username"] is None


# --- the hand-over between shifts ---------------------------------------------------------------------

def test_at_the_change_of_shift_the_open_task_moves_to_the_new_officer(engine, duty, clock):
    day_and_night(engine)
    clock.set(at("06-01 16:50"))
    task = call_in(engine, duty)
    assert task["assignee"] == FENG
    version = lock_version(engine, task["instance"])

    clock.set(at("06-01 17:29"))
    assert roster.hand_over(engine) == []
    clock.set(at("06-01 17:30"))
    moved = roster.hand_over(engine)

    assert moved == [{"task": task["id"], "instance": task["instance"], "name": "take_call", "title": "接报登记",
                      "role": "duty_office", "from": FENG, "to": QIN}]
    row = index_row(engine, task["id"])
    assert (row.assignee, row.assigned_by, row.state) == (QIN, "roster", "open")
    assert lock_version(engine, task["instance"]) == version + 1
    [handover] = events(engine, "duty_handover", task["instance"])
    assert (handover.actor, handover.task_id) == ("system", task["id"])
    assert handover.at == at("06-01 17:30")
    assert {k: handover.data[k] for k in ("from", "to", "role")} == {"from": FENG, "to": QIN, "role": "duty_office"}
    assert roster.hand_over(engine) == []  # nothing left to move

    assert [t["id"] for t in engine.tasks(QIN)] == [task["id"]]
    assert engine.tasks(FENG) == []
    with pytest.raises(Forbidden, match="not yours"):
        engine.complete(task["id"], FENG, {})
    done = engine.complete(task["id"], QIN, {})
    assert done["state"] == "completed"
    assert index_row(engine, task["id"]).completed_by == QIN


def test_the_old_officer_completing_during_the_hand_over_loses(engine, duty, clock, database_url):
    """The hand-over commits while the old officer's completion is under way. On PostgreSQL the completion
    has read the instance and waits for the audit append lock; the hand-over moved the lock version on, so it
    is a Conflict. SQLite lets one writer in at a time and the completion reads inside its write transaction
    (BEGIN IMMEDIATE), so it sees the task is no longer Feng's: Forbidden. Either way the old officer loses."""
    day_and_night(engine)
    clock.set(at("06-01 17:00"))
    task = call_in(engine, duty)  # this engine now has the instance cached with Feng's task row
    clock.set(at("06-01 17:30"))
    worker = Engine(database_url, clock=clock)  # the worker process
    postgres = engine.db.dialect.name == "postgresql"

    def worker_hands_over_first(conn, cursor, statement, parameters, context, executemany):
        moment = "pg_advisory_xact_lock" in statement if postgres else statement.startswith("BEGIN IMMEDIATE")
        if moment and not handed:
            handed.extend(roster.hand_over(worker))

    handed = []
    event.listen(engine.db, "before_cursor_execute", worker_hands_over_first)
    try:
        with pytest.raises(Conflict if postgres else Forbidden):
            engine.complete(task["id"], FENG, {})
    finally:
        event.remove(engine.db, "before_cursor_execute", worker_hands_over_first)
    assert [(m["from"], m["to"]) for m in handed] == [(FENG, QIN)]

    with pytest.raises(Forbidden):
        engine.complete(task["id"], FENG, {})
    assert engine.complete(task["id"], QIN, {})["state"] == "completed"
    worker.db.dispose()


def test_a_gap_in_the_roster_leaves_the_task_with_the_last_officer_until_someone_is_on_duty(engine, duty, clock):
    roster.add(engine, "duty_office", FENG, at("06-01 08:30"), at("06-01 17:30"), "", "admin")
    task = call_in(engine, duty)
    clock.set(at("06-01 18:00"))
    assert roster.hand_over(engine) == []
    assert index_row(engine, task["id"]).assignee == FENG

    roster.add(engine, "duty_office", QIN, at("06-01 18:30"), at("06-02 08:30"), "", "admin")
    clock.set(at("06-01 18:30"))
    assert [m["to"] for m in roster.hand_over(engine)] == [QIN]


def test_the_hand_over_leaves_tasks_the_roster_did_not_assign(engine, duty, clock):
    unrostered = call_in(engine, duty)  # two officers, no roster: for the role to claim
    day_and_night(engine)
    clock.set(at("06-01 17:30"))
    assert roster.hand_over(engine) == []
    assert index_row(engine, unrostered["id"]).assignee is None


def test_assign_is_one_query_and_names_how_the_assignee_was_chosen(engine, duty):
    day_and_night(engine)
    now = at("06-01 10:00")
    statements = []

    def count(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    duty_lane, clerk_lane = {"role": "duty_office", "scoped": False}, {"role": "office_clerk", "scoped": False}
    with engine.unit_of_work() as uow:
        event.listen(engine.db, "before_cursor_execute", count)
        try:
            rostered = directory.assign(uow.conn, duty_lane, "gov_office", CLERK, now)
        finally:
            event.remove(engine.db, "before_cursor_execute", count)
        assert len(statements) == 1
        assert (rostered.assignee, rostered.assigned_by) == (FENG, "roster")
        cases = {
            "role": directory.assign(uow.conn, clerk_lane, "gov_office", "liu_civil", now),
            "initiator": directory.assign(uow.conn, {"role": "initiator", "scoped": False}, None, CLERK, now),
            "explicit": directory.assign(uow.conn, clerk_lane, None, CLERK, now, explicit_assignee="wang_mayor"),
            "portfolio": directory.assign(uow.conn, {"role": "vice_mayor", "scoped": False}, "civil_affairs",
                                          CLERK, now),
        }
        uow.conn.execute(Absence.__table__.insert(), {
            "username": "zhao_vice", "starts_at": at("06-01 00:00"), "ends_at": at("06-02 00:00"),
            "acting_username": "li_exec", "rule": "出差", "recorded_at": now})
        cases["absence"] = directory.assign(uow.conn, {"role": "vice_mayor", "scoped": False}, "civil_affairs",
                                            CLERK, now)
    assert {how: (a.assignee, a.assigned_by) for how, a in cases.items()} == {
        "role": (CLERK, "role"), "initiator": (CLERK, "initiator"), "explicit": ("wang_mayor", "explicit"),
        "portfolio": ("zhao_vice", "portfolio"), "absence": ("li_exec", "absence")}


def test_a_started_leave_request_records_how_its_task_was_assigned(engine):
    trip = {"leave_kind": "出省", "destination": "上海市", "reason": "培训", "depart_at": "2026-06-08T08:00:00+08:00",
            "return_at": "2026-06-10T18:00:00+08:00", "acting_person": "ma_civil_staff"}
    [task] = engine.start("leave", "liu_civil", trip)["tasks"]
    row = index_row(engine, task["id"])
    assert (row.assignee, row.assigned_by, row.done_at) == ("zhao_vice", "portfolio", None)


# --- editing the roster -------------------------------------------------------------------------------

def test_roster_edits_are_audited_with_before_and_after(engine, duty):
    entry = roster.add(engine, "duty_office", QIN, "2026-06-01T17:30:00+08:00", "2026-06-02T08:30:00+08:00",
                       "夜班", "admin")
    assert {k: entry[k] for k in ("role", "username", "starts_at", "ends_at", "note", "updated_by")} == {
        "role": "duty_office", "username": QIN, "starts_at": "2026-06-01T17:30:00+08:00",
        "ends_at": "2026-06-02T08:30:00+08:00", "note": "夜班", "updated_by": "admin"}
    assert roster.list(engine) == [entry]
    assert roster.list(engine, at("06-02 08:30")) == []
    assert roster.list(engine, end=at("06-01 17:30")) == []
    assert roster.list(engine, at("06-02 08:00"), at("06-02 09:00")) == [entry]

    assert roster.remove(engine, entry["id"], "admin") == entry
    assert roster.list(engine) == []
    added, removed = events(engine, "roster_change")
    assert (added.actor, added.data["before"], added.data["after"]) == ("admin", None, entry)
    assert (removed.data["before"], removed.data["after"]) == (entry, None)
    with pytest.raises(NotFound, match="no roster entry"):
        roster.remove(engine, entry["id"], "admin")


@pytest.mark.parametrize("role, user, starts, ends, message", [
    ("duty_office", CLERK, "06-01 08:30", "06-01 17:30", "zheng_clerk does not hold the role duty_office"),
    ("duty_office", FENG, "06-01 17:30", "06-01 08:30", "a shift must end after it starts"),
    ("duty_office", FENG, "06-01 17:30", "06-01 17:30", "a shift must end after it starts"),
    ("night_watch", FENG, "06-01 08:30", "06-01 17:30", "no such role: night_watch"),
    ("duty_office", "nobody", "06-01 08:30", "06-01 17:30", "no such active user: nobody"),
])
def test_a_roster_entry_that_cannot_be_right_is_refused_and_nothing_is_stored(engine, role, user, starts, ends,
                                                                              message):
    with pytest.raises(InvalidInput, match=message):
        roster.add(engine, role, user, at(starts), at(ends), "", "admin")
    with engine.read() as session:
        assert session.scalars(select(DutyRoster)).all() == []
    assert events(engine, "roster_change") == []


def test_an_instant_without_a_zone_is_refused(engine):
    with pytest.raises(InvalidInput, match="no time zone"):
        roster.add(engine, "duty_office", FENG, "2026-06-01T08:30:00", "2026-06-01T17:30:00+08:00", "", "admin")


# --- the command line ---------------------------------------------------------------------------------

def test_the_roster_is_kept_and_the_worker_hands_over_through_the_cli(govflow):
    govflow("init")
    govflow("users", "load")
    govflow("users", "add", QIN, "--name", "秦岭", "--department", "gov_office", "--role", "duty_office")
    govflow("deploy", str(FIXTURES / "duty_task"))
    day = govflow("roster", "add", "duty_office", FENG, "--from", "2026-06-01T08:30:00+08:00",
                  "--to", "2026-06-01T17:30:00+08:00", "--note", "白班")
    night = govflow("roster", "add", "duty_office", QIN, "--from", "2026-06-01T09:30:00Z",
                    "--to", "2026-06-02T08:30:00+08:00", "--as", "chen_director")
    assert (night["starts_at"], night["updated_by"]) == ("2026-06-01T17:30:00+08:00", "chen_director")
    assert [e["id"] for e in govflow("roster", "list")] == [day["id"], night["id"]]
    assert [e["id"] for e in govflow("roster", "list", "--from", "2026-06-01T17:30:00+08:00")] == [night["id"]]
    now = govflow("roster", "now", "duty_office")
    assert (now["username"], now["entry"]["id"], now["acting"]) == (FENG, day["id"], None)

    [task] = govflow("start", "duty_task", "--as", CLERK)["tasks"]
    assert task["assignee"] == FENG
    assert govflow("--now", "2026-06-01T17:29:00+08:00", "worker", "--once") == {"timers": [], "handovers": [],
                                                                                "overdue": []}
    passed = govflow("--now", "2026-06-01T17:30:00+08:00", "worker", "--once")
    assert passed["timers"] == []
    assert [(m["task"], m["from"], m["to"]) for m in passed["handovers"]] == [(task["id"], FENG, QIN)]
    assert govflow("--now", "2026-06-01T17:30:00+08:00", "roster", "now", "duty_office")["username"] == QIN
    assert [t["id"] for t in govflow("tasks", "--as", QIN)] == [task["id"]]

    assert govflow("roster", "remove", str(day["id"]))["removed"]["id"] == day["id"]
    assert [e["id"] for e in govflow("roster", "list")] == [night["id"]]
    assert govflow("roster", "now", "duty_office")["username"] is None

    code, payload, err = govflow("roster", "add", "duty_office", CLERK, "--from", "2026-06-02T08:30:00+08:00",
                                 "--to", "2026-06-02T17:30:00+08:00", ok=False)
    assert (code, payload["error"]) == (1, "invalid_input")
    assert err.count("\n") == 1 and "does not hold the role duty_office" in err
    code, payload, err = govflow("roster", "add", "duty_office", FENG, "--from", "tomorrow",
                                 "--to", "2026-06-02T17:30:00+08:00", ok=False)
    assert payload["error"] == "invalid_input" and "not an ISO-8601 instant" in err
    code, payload, err = govflow("roster", "remove", "999", ok=False)
    assert payload["error"] == "not_found" and err.count("\n") == 1
