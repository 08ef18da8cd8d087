"""Emergency information reporting (003 第七十二条): the 20/45/30/60-minute and 5 h/24 h limits as live timers,
counted from when the event occurred, with lateness flagged, notified and reported. Clock injected; no sleep."""
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from engine.clock import local_iso, parse_instant
from engine import directory, roster
from engine.errors import Forbidden, InvalidInput
from engine.models import InstanceTask

from .helpers import open_task

OCCURRED = "2026-06-01T09:00:00+08:00"
REPORTER = "xie_emergency_staff"
REPORT = {"event_type": "事故灾难", "severity": "一般", "occurred_at": OCCURRED, "location": "某仓库",
          "summary": "仓库起火", "reporter": "谢宁", "phone": "13900000000"}


def at(minutes: int):
    return parse_instant(OCCURRED) + timedelta(minutes=minutes)


def local(minutes: int) -> str:
    return local_iso(at(minutes))


def phone(minutes: int) -> dict:
    return {"called_at": at(minutes).isoformat(), "received_by": "值班员"}


# task, who does it, limit in minutes, the data of the step made at minute m
LIMITS = [
    ("dept_phone", REPORTER, 20, phone),
    ("dept_written", REPORTER, 45, lambda m: {"summary": "书面报告"}),
    ("city_phone", "feng_duty", 30, phone),
    ("city_written", "feng_duty", 60, lambda m: {"reference": "JH-01"}),
]
MAJOR_LIMITS = [
    ("publish_info", "luo_news", 300, lambda m: {"published_at": at(m).isoformat(), "channel": "区政府网站"}),
    ("press_conference", "luo_news", 1440, lambda m: {"held_at": at(m).isoformat(), "venue": "新闻发布厅"}),
]


def start(engine, clock, minutes_after: int = 1, **changes) -> int:
    clock.set(at(minutes_after))
    return engine.start("emergency_report", REPORTER, {**REPORT, **changes})["instance"]


def limit_of(engine, instance_id: int, task: str) -> dict:
    report = engine.compliance("emergency_report")
    [instance] = [i for i in report["instances"] if i["instance"] == instance_id]
    [limit] = [limit for limit in instance["limits"] if limit["task"] == task]
    return limit


def open_names(engine, instance_id: int) -> set[str]:
    return {t["name"] for t in engine.tasks(instance=instance_id)}


@pytest.mark.parametrize("task, actor, limit, made", LIMITS + MAJOR_LIMITS, ids=[l[0] for l in LIMITS + MAJOR_LIMITS])
def test_a_step_made_at_exactly_its_limit_is_on_time(engine, clock, task, actor, limit, made):
    instance_id = start(engine, clock, severity="重大")
    assert open_task(engine, instance_id, task)["due_at"] == local(limit)
    clock.set(at(limit))
    engine.complete(open_task(engine, instance_id, task)["id"], actor, made(limit))
    clock.set(at(limit + 1))
    engine.fire_due_timers()
    assert not {f"late_leader_{task}", f"late_supervision_{task}"} & open_names(engine, instance_id)
    assert limit_of(engine, instance_id, task).items() >= {"status": "met", "minutes_late": 0, "flagged_late": False}.items()
    assert f"late_{task}" not in engine.show(instance_id)["data"]


@pytest.mark.parametrize("task, actor, limit, made", LIMITS + MAJOR_LIMITS, ids=[l[0] for l in LIMITS + MAJOR_LIMITS])
def test_a_step_missed_by_one_minute_is_flagged_late_notified_and_can_still_be_made(engine, clock, task, actor,
                                                                                   limit, made):
    instance_id = start(engine, clock, severity="重大")
    clock.set(at(limit) - timedelta(seconds=1))
    engine.fire_due_timers()
    assert f"late_leader_{task}" not in open_names(engine, instance_id)
    clock.set(at(limit + 1))
    engine.fire_due_timers()
    assert open_task(engine, instance_id, f"late_leader_{task}")["assignee"] == "li_exec"
    assert open_task(engine, instance_id, f"late_supervision_{task}")["assignee"] == "tang_supervision"
    assert engine.show(instance_id)["data"][f"late_{task}"] is True
    assert limit_of(engine, instance_id, task).items() >= {"status": "overdue", "minutes_late": 1, "flagged_late": True}.items()

    engine.complete(open_task(engine, instance_id, task)["id"], actor, made(limit + 1))
    assert limit_of(engine, instance_id, task).items() >= {"status": "late", "minutes_late": 1, "flagged_late": True}.items()
    assert limit_of(engine, instance_id, task)["made_at"] == local(limit + 1)


def test_a_report_opened_after_a_limit_has_passed_is_late_at_once(engine, clock):
    instance_id = start(engine, clock, minutes_after=50)
    data = engine.show(instance_id)["data"]
    assert data["late_dept_phone"] and data["late_dept_written"] and data["late_city_phone"]
    assert "late_city_written" not in data
    minutes = {key: data[f"late_{key}_minutes"] for key in ("dept_phone", "dept_written", "city_phone")}
    assert minutes == {"dept_phone": 30, "dept_written": 5, "city_phone": 20}
    assert {"late_leader_dept_phone", "late_supervision_dept_written", "late_leader_city_phone"} <= open_names(
        engine, instance_id)
    assert limit_of(engine, instance_id, "dept_phone")["minutes_late"] == 30


def test_the_lateness_cannot_be_edited_away_by_a_later_step(engine, clock):
    instance_id = start(engine, clock, minutes_after=25)
    with pytest.raises(InvalidInput, match="late_dept_phone"):
        engine.complete(open_task(engine, instance_id, "dept_written")["id"], REPORTER,
                        {"summary": "书面报告", "late_dept_phone": False})
    engine.complete(open_task(engine, instance_id, "dept_written")["id"], REPORTER, {"summary": "书面报告"})
    assert engine.show(instance_id)["data"]["late_dept_phone"] is True


def test_a_phone_call_cannot_be_recorded_in_the_future(engine, clock):
    instance_id = start(engine, clock, minutes_after=5)
    with pytest.raises(InvalidInput, match="recorded time"):
        engine.complete(open_task(engine, instance_id, "dept_phone")["id"], REPORTER, phone(10))


def test_minor_events_have_no_publication_limits(engine, clock):
    instance_id = start(engine, clock, severity="较大")
    assert not {"publish_info", "press_conference"} & open_names(engine, instance_id)


def test_six_hundred_follow_ups_are_kept_in_order_without_deepening_the_task_tree(engine, clock):
    instance_id = start(engine, clock, minutes_after=5)
    clock.set(at(10))
    engine.complete(open_task(engine, instance_id, "dept_written")["id"], REPORTER, {"summary": "书面报告"})
    for number in range(1, 601):
        clock.set(at(10 + number))
        kind = "终报" if number == 600 else "续报"
        engine.complete(open_task(engine, instance_id, "followup")["id"], REPORTER,
                        {"kind": kind, "summary": f"第{number}次报告"})
        engine.complete(open_task(engine, instance_id, "forward_followup")["id"], "feng_duty",
                        {"forwarded_at": at(10 + number).isoformat()})
    shown = engine.show(instance_id)
    assert shown["data"]["follow_up_count"] == 600 and shown["data"]["final_reported"] is True
    assert "followup" not in open_names(engine, instance_id)
    reports = [e for e in shown["events"] if e["action"] == "complete" and e["data"]["task"] == "followup"]
    assert [e["data"]["data"]["summary"] for e in reports] == [f"第{n}次报告" for n in range(1, 601)]
    assert [e["at"] for e in reports] == sorted(e["at"] for e in reports)
    with engine.read() as session:
        rows = session.scalar(select(func.count()).select_from(InstanceTask)
                              .where(InstanceTask.instance_id == instance_id))
    assert rows < 200


def test_compliance_counts_each_department_and_its_on_time_rate(engine, clock):
    # 民政局 (ma_civil_staff): on time except the city's written report, which is 5 minutes late.
    clock.set(at(2))
    civil = engine.start("emergency_report", "ma_civil_staff", REPORT)["instance"]
    clock.set(at(15))
    engine.complete(open_task(engine, civil, "dept_phone")["id"], "ma_civil_staff", phone(14))
    engine.complete(open_task(engine, civil, "city_phone")["id"], "feng_duty", phone(15))
    clock.set(at(40))
    engine.complete(open_task(engine, civil, "dept_written")["id"], "ma_civil_staff", {"summary": "书面"})
    clock.set(at(65))
    engine.complete(open_task(engine, civil, "city_written")["id"], "feng_duty", {"reference": "A"})
    # 应急局 (xie_emergency_staff): phoned 2 minutes late, nothing else done by minute 70.
    emergency = start(engine, clock, minutes_after=22)
    engine.complete(open_task(engine, emergency, "dept_phone")["id"], REPORTER, phone(22))
    clock.set(at(70))
    engine.fire_due_timers()

    report = engine.compliance("emergency_report")
    by_department = {d["department"]: d for d in report["departments"]}
    assert by_department["civil_affairs"] == {"department": "civil_affairs", "instances": 1, "met": 3, "late": 1,
                                              "overdue": 0, "pending": 0, "on_time_rate": 0.75}
    assert by_department["emergency"] == {"department": "emergency", "instances": 1, "met": 0, "late": 1,
                                          "overdue": 3, "pending": 0, "on_time_rate": 0.0}
    minutes = {limit["task"]: limit["minutes_late"] for i in report["instances"] if i["instance"] == emergency
               for limit in i["limits"]}
    assert minutes == {"dept_phone": 2, "dept_written": 25, "city_phone": 40, "city_written": 10}
    assert [i["reported_by"] for i in report["instances"]] == ["ma_civil_staff", REPORTER]

    later = engine.compliance("emergency_report", start=at(20), end=at(30))
    assert [i["instance"] for i in later["instances"]] == [emergency]


def test_duty_office_steps_follow_the_roster_and_move_at_the_shift_change(engine, clock):
    with engine.unit_of_work() as uow:
        directory.put_user(uow.session, {"username": "qin_duty", "display_name": "秦岭（总值班室）",
                                         "department": "gov_office", "roles": ["duty_office"]})
    roster.add(engine, "duty_office", "feng_duty", at(-60), at(15))
    roster.add(engine, "duty_office", "qin_duty", at(15), at(24 * 60))
    instance_id = start(engine, clock, minutes_after=5)
    assert open_task(engine, instance_id, "city_phone")["assignee"] == "feng_duty"

    clock.set(at(16))
    moved = roster.hand_over(engine)
    assert {m["to"] for m in moved} == {"qin_duty"} and len(moved) == 2
    assert open_task(engine, instance_id, "city_written")["assignee"] == "qin_duty"
    with pytest.raises(Forbidden):
        engine.complete(open_task(engine, instance_id, "city_phone")["id"], "feng_duty", phone(16))
    engine.complete(open_task(engine, instance_id, "city_phone")["id"], "qin_duty", phone(16))
    assert limit_of(engine, instance_id, "city_phone")["made_by"] == "qin_duty"
    handovers = [e for e in engine.show(instance_id)["events"] if e["action"] == "duty_handover"]
    assert len(handovers) == 2 and {e["data"]["from"] for e in handovers} == {"feng_duty"}
