"""The meeting agenda 会议议程: admitted topics on the agenda, ordered by the office and approved by the mayor;
decisions recorded only with a quorum (003 第四十六条); follow-ups due in 10 working days (001 四十); minutes
signed by the mayor (000 第四十五条). Topics come from a stub deployed as topic_submission.stub."""
from pathlib import Path

import pytest

from engine.clock import parse_instant
from engine.errors import Forbidden, InvalidInput

from .helpers import CLERK, open_task, use_variant

STUB = Path(__file__).parent / "fixtures" / "topic_stub" / "topic_submission"
MEMBERS = ["wang_mayor", "li_exec", "zhao_vice", "sun_vice", "chen_director", "wu_deputy"]
MEETING = {"title": "区政府第12次常务会议", "meeting_kind": "常务会议", "meeting_at": "2026-06-10T09:00:00+08:00",
           "chair": "wang_mayor", "members": MEMBERS}


@pytest.fixture
def meeting(engine):
    engine.deploy([STUB], "admin")
    use_variant(engine, "fangshan", "topic_submission.stub")
    return engine.start("meeting", CLERK, MEETING)["instance"]


def topic(engine, meeting_id: int, title: str, kind: str = "一般事项") -> int:
    return engine.start("topic_submission.stub", "liu_civil",
                        {"meeting_id": meeting_id, "title": title, "kind": kind})["instance"]


def arrange(engine, meeting_id: int, order: list[int]) -> dict:
    engine.complete(open_task(engine, meeting_id, "close_topics")["id"], CLERK, {})
    return engine.complete(open_task(engine, meeting_id, "arrange_agenda")["id"], CLERK, {"order": order})


def hold(engine, clock, meeting_id: int, topics: list[int]) -> None:
    arrange(engine, meeting_id, topics)
    engine.complete(open_task(engine, meeting_id, "approve_agenda")["id"], "wang_mayor", {"decision": "同意"})
    clock.set(parse_instant(MEETING["meeting_at"]))
    engine.fire_due_timers()


def test_the_admitted_topics_for_this_meeting_make_the_agenda_in_the_offices_order(engine, meeting):
    first, second = topic(engine, meeting, "养老补贴调整"), topic(engine, meeting, "学校布局调整")
    topic(engine, meeting + 100, "别的会议的议题")
    with pytest.raises(InvalidInput, match="全部已准予上会的议题"):
        arrange(engine, meeting, [first])
    result = engine.complete(open_task(engine, meeting, "arrange_agenda")["id"], CLERK, {"order": [second, first]})
    assert [t["name"] for t in result["tasks"]] == ["approve_agenda"]
    assert [item["instance"] for item in engine.show(meeting)["data"]["agenda"]] == [second, first]


def test_a_refused_agenda_goes_back_to_the_office(engine, meeting):
    only = topic(engine, meeting, "养老补贴调整")
    arrange(engine, meeting, [only])
    engine.complete(open_task(engine, meeting, "approve_agenda")["id"], "wang_mayor",
                    {"decision": "不同意", "opinion": "补充教育议题"})
    later = topic(engine, meeting, "学校布局调整")
    assert arrange(engine, meeting, [later, only])["tasks"][0]["name"] == "approve_agenda"


@pytest.mark.parametrize("kind, present, allowed", [
    ("一般事项", 4, True), ("一般事项", 3, False), ("人事事项", 4, True), ("人事事项", 3, False)],
    ids=["majority", "half-is-not-enough", "two-thirds-for-personnel", "majority-is-not-enough-for-personnel"])
def test_decisions_without_a_quorum_are_refused(engine, clock, meeting, kind, present, allowed):
    only = topic(engine, meeting, "议题", kind)
    hold(engine, clock, meeting, [only])
    record = open_task(engine, meeting, "record_decisions")
    data = {"present": MEMBERS[:present], "decisions": [{"topic": only, "decision": "通过", "follow_up": False}]}
    if allowed:
        engine.complete(record["id"], CLERK, data)
        assert open_task(engine, meeting, "sign_minutes")["assignee"] == "wang_mayor"
    else:
        with pytest.raises(InvalidInput, match="法定人数"):
            engine.complete(record["id"], CLERK, data)
        assert open_task(engine, meeting, "record_decisions")["id"] == record["id"]


def test_decisions_become_follow_ups_that_go_overdue_on_the_11th_working_day(engine, clock, meeting):
    subsidy, schools = topic(engine, meeting, "养老补贴调整"), topic(engine, meeting, "学校布局调整")
    hold(engine, clock, meeting, [subsidy, schools])
    engine.complete(open_task(engine, meeting, "record_decisions")["id"], CLERK, {
        "present": MEMBERS[:4],
        "decisions": [{"topic": subsidy, "decision": "同意调整", "follow_up": True, "responsible_department": "civil_affairs"},
                      {"topic": schools, "decision": "原则同意", "follow_up": True, "responsible_department": "education"}]})
    follow_ups = {t["assignee"]: t for t in engine.tasks(instance=meeting) if t["title"] == "报告会议决定落实情况"}
    # Wednesday 06-10 + 10 working days, Dragon Boat Festival (06-19) not counted: the end of Thursday 06-25.
    assert {who: t["due_at"] for who, t in follow_ups.items()} == {
        "liu_civil": "2026-06-26T00:00:00+08:00", "huang_edu": "2026-06-26T00:00:00+08:00"}

    clock.set(parse_instant("2026-06-25T17:00:00+08:00"))
    engine.complete(follow_ups["liu_civil"]["id"], "liu_civil", {"report": "已按新标准发放"})
    clock.set(parse_instant("2026-06-26T09:00:00+08:00"))  # the 11th working day
    limits = {limit["made_by"] or "open": limit["status"] for i in engine.compliance("meeting")["instances"]
              for limit in i["limits"] if limit["task"].startswith("follow_up_reports")}
    assert limits == {"liu_civil": "met", "open": "overdue"}

    engine.complete(follow_ups["huang_edu"]["id"], "huang_edu", {"report": "方案已报区委"})
    engine.complete(open_task(engine, meeting, "sign_minutes")["id"], "wang_mayor", {"minutes": "会议纪要"})
    assert engine.show(meeting)["state"] == "completed"


def test_only_the_mayor_signs_the_minutes(engine, clock, meeting):
    only = topic(engine, meeting, "议题")
    hold(engine, clock, meeting, [only])
    engine.complete(open_task(engine, meeting, "record_decisions")["id"], CLERK,
                    {"present": MEMBERS, "decisions": [{"topic": only, "decision": "通过", "follow_up": False}]})
    with pytest.raises(Forbidden):
        engine.complete(open_task(engine, meeting, "sign_minutes")["id"], "li_exec", {"minutes": "纪要"})
    engine.complete(open_task(engine, meeting, "sign_minutes")["id"], "wang_mayor", {"minutes": "纪要"})
    assert engine.show(meeting)["state"] == "completed"


def test_a_topic_admitted_through_the_districts_review_reaches_the_agenda_with_its_disagreement(engine, clock):
    meeting_id = engine.start("meeting", CLERK, {**MEETING, "meeting_at": "2026-06-12T09:00:00+08:00"})["instance"]
    screening = {key: False for key in ("within_own_power", "solvable_by_consultation", "decidable_by_vice_mayor",
                                        "departments_disagree_uncoordinated", "ad_hoc_without_chair_consent",
                                        "concerns_vice_mayor", "general_work_report")}
    filed = engine.start("topic_submission.fangshan", "ma_civil_staff", {
        "meeting_id": meeting_id, "meeting_kind": "常务会议", "meeting_at": "2026-06-12T09:00:00+08:00",
        "title": "关于调整高龄老人养老服务补贴标准的议题", "summary": "拟提高补贴标准", "kind": "一般事项",
        "departments_involved": ["commerce"], "presenter": "liu_civil", "presenter_is_head": True,
        "presenter_can_attend": True, **screening})["instance"]
    engine.complete(open_task(engine, filed, "countersign [child]")["id"], "he_commerce",
                    {"agree": False, "reasons": "资金来源未落实"})
    engine.complete(open_task(engine, filed, "vice_coordinate")["id"], "zhao_vice",
                    {"resolved": False, "statement": "资金来源分歧提交会议"})
    for step, actor in (("vice_review", "zhao_vice"), ("mayor_decide", "wang_mayor")):
        engine.complete(open_task(engine, filed, step)["id"], actor, {"decision": "同意"})
    assert engine.show(filed)["data"]["outcome"] == "admitted"

    arrange(engine, meeting_id, [filed])
    [item] = engine.show(meeting_id)["data"]["agenda"]
    assert item["instance"] == filed and item["title"].endswith("关于调整高龄老人养老服务补贴标准的议题")
    assert "资金来源分歧提交会议" in item["disagreement_statement"] and item["presenter"] == "liu_civil"
