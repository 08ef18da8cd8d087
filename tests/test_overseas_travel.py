"""Overseas travel approval 因公出国(境)审批: limits before anyone approves (003 第六十九条), the route by rank per
district (000 第六十四条, 002 五十二, 003 第七十条), the trip recorded as an absence, gifts and the trip report after
return, and acting for an absent leader. Clock injected; no sleep."""
from datetime import date, timedelta

import pytest

from engine.clock import parse_instant

from .helpers import open_task, work_in

APPROVE = {"decision": "同意"}
CITY_REPLY = {"sent_at": "2026-06-02T09:00:00+08:00", "replied_at": "2026-06-05T15:00:00+08:00",
              "replier": "市政府外办", "decision": "同意", "reference": "京外审〔2026〕88号"}
ACTORS = {"district_fao": "xu_fao", "vice_in_charge": "zhao_vice", "fa_vice": "sun_vice", "mayor": "wang_mayor",
          "secretary": "zhou_secretary", "city_fao": "xu_fao", "city_gov": "xu_fao"}
# district, traveller rank, applicant -> the steps in order
ROUTES = [
    ("fangshan", "副区级及以上", "zhao_vice", ["mayor", "secretary", "city_gov"]),
    ("fangshan", "正处级", "liu_civil", ["mayor"]),
    ("fangshan", "区属企业负责人", "liu_civil", ["mayor"]),
    ("fangshan", "副处级及以下", "ma_civil_staff", ["fa_vice"]),
    ("xicheng", "副区级及以上", "zhao_vice", ["fa_vice", "mayor", "secretary", "city_fao"]),
    ("xicheng", "正处级", "liu_civil", ["vice_in_charge", "fa_vice", "mayor", "secretary", "city_fao"]),
    ("xicheng", "区属企业负责人", "liu_civil", ["vice_in_charge", "fa_vice", "mayor", "secretary", "city_fao"]),
    ("xicheng", "副处级及以下", "ma_civil_staff", ["vice_in_charge", "fa_vice", "city_fao"]),
    ("jinghai", "副区级及以上", "zhao_vice", ["district_fao", "city_fao", "city_gov"]),
    ("jinghai", "正处级", "liu_civil", ["district_fao", "fa_vice"]),
    ("jinghai", "副处级及以下", "ma_civil_staff", ["district_fao", "fa_vice"]),
]


def application(rank="正处级", countries=("新加坡", "马来西亚"), transit=(), days=6, schedule=(True, True, True),
                sightseeing=(), **extra) -> dict:
    depart = date(2026, 7, 1)
    return {
        "travellers": [{"name": "出访人", "rank": rank, "unit": "区民政局"}],
        "purpose": "考察社区养老服务", "inviting_party": "对方政府部门",
        "countries": [{"country": c} for c in countries] + [{"country": c, "transit": True} for c in transit],
        "depart_date": depart.isoformat(), "return_date": (depart + timedelta(days=days - 1)).isoformat(),
        "schedule": [{"day": n, "activity": f"公务活动{n}", "substantive": s} for n, s in enumerate(schedule, 1)]
        + [{"day": 9, "activity": item, "substantive": False, "sightseeing": True} for item in sightseeing],
        **extra}


def walk(engine, instance_id: int) -> list[str]:
    """Approve every step as it comes; the steps in the order they came."""
    steps = []
    while True:
        names = [t["name"] for t in engine.tasks(instance=instance_id) if t["name"] in ACTORS]
        if not names:
            return steps
        [step] = names
        steps.append(step)
        data = CITY_REPLY if step.startswith("city_") else APPROVE
        engine.complete(open_task(engine, instance_id, step)["id"], ACTORS[step], data)


@pytest.mark.parametrize("district, rank, applicant, route", ROUTES, ids=[f"{r[0]}-{r[1]}" for r in ROUTES])
def test_each_rank_follows_its_districts_route(engine, district, rank, applicant, route):
    work_in(engine, district)
    instance_id = engine.start(f"overseas_travel.{district}", applicant, application(rank=rank))["instance"]
    assert walk(engine, instance_id) == route
    data = engine.show(instance_id)["data"]
    assert data["outcome"] == "approved" and data["top_rank"] == rank
    assert data["route_rule"]


def test_the_highest_rank_among_the_travellers_decides_the_route(engine):
    app = application(rank="副处级及以下")
    app["travellers"].append({"name": "带队", "rank": "正处级", "unit": "区民政局"})
    instance_id = engine.start("overseas_travel.fangshan", "liu_civil", app)["instance"]
    assert walk(engine, instance_id) == ["mayor"]


def test_a_reply_from_the_city_is_recorded_with_who_when_and_the_reference(engine):
    work_in(engine, "xicheng")
    instance_id = engine.start("overseas_travel.xicheng", "ma_civil_staff", application(rank="副处级及以下"))["instance"]
    walk(engine, instance_id)
    reply = [e for e in engine.show(instance_id)["events"] if e["action"] == "complete"
             and e["data"]["task"] == "city_fao"]
    assert reply[0]["actor"] == "xu_fao" and reply[0]["data"]["data"] == CITY_REPLY
    assert engine.show(instance_id)["data"]["reference"] == "京外审〔2026〕88号"


def test_a_refusal_at_any_step_ends_the_application(engine):
    work_in(engine, "xicheng")
    instance_id = engine.start("overseas_travel.xicheng", "liu_civil", application())["instance"]
    engine.complete(open_task(engine, instance_id, "vice_in_charge")["id"], "zhao_vice", APPROVE)
    engine.complete(open_task(engine, instance_id, "fa_vice")["id"], "sun_vice",
                    {"decision": "不同意", "opinion": "日程不够紧凑"})
    shown = engine.show(instance_id)
    assert shown["state"] == "completed"
    assert shown["data"]["rejection_reason"] == "未获批准：日程不够紧凑"


@pytest.mark.parametrize("changes, allowed, message", [
    ({"countries": ("新加坡", "马来西亚"), "transit": ("迪拜",)}, True, None),
    ({"countries": ("新加坡", "马来西亚", "泰国"), "transit": ("迪拜",)}, False, "不超过3个国家（含经停）：本次4个"),
    ({"days": 10}, True, None),
    ({"days": 11}, False, "在外停留不超过10天：本次11天"),
    ({"schedule": (True, True, False)}, True, None),
    ({"schedule": (True, False, False)}, False, "三分之二以上：本次1/3"),
    ({"sightseeing": ("游览滨海湾花园",)}, False, "不得安排参观游览活动：游览滨海湾花园"),
], ids=["3-countries-with-transit", "4-with-transit", "10-days", "11-days", "two-thirds-exactly", "one-third",
        "sightseeing"])
def test_limits_are_checked_before_anyone_approves(engine, changes, allowed, message):
    app = application(**changes)
    result = engine.start("overseas_travel.fangshan", "liu_civil", app)
    shown = engine.show(result["instance"])
    if allowed:
        assert [t["name"] for t in result["tasks"]] == ["mayor"]
    else:
        assert result["tasks"] == [] and shown["state"] == "completed"
        assert message in shown["data"]["rejection_reason"] and "003 第六十九条" in shown["data"]["rejection_reason"]


def approve_trip(engine, applicant: str, **extra) -> int:
    instance_id = engine.start("overseas_travel.jinghai", applicant,
                               application(rank="副区级及以上", **extra))["instance"]
    walk(engine, instance_id)
    return instance_id


def test_a_district_leader_gets_one_trip_a_year_unless_an_exception_applies(engine):
    work_in(engine, "jinghai")
    approve_trip(engine, "zhao_vice")
    second = engine.start("overseas_travel.jinghai", "zhao_vice", application(rank="副区级及以上"))["instance"]
    assert "每人每年出访不超过1次：2026年已出访1次" in engine.show(second)["data"]["rejection_reason"]

    accompanying = engine.start("overseas_travel.jinghai", "zhao_vice",
                                application(rank="副区级及以上", accompanying_city_leaders=True))
    assert [t["name"] for t in accompanying["tasks"]] == ["district_fao"]

    approve_trip(engine, "sun_vice")  # in charge of foreign affairs and commerce: no yearly limit
    assert [t["name"] for t in engine.start("overseas_travel.jinghai", "sun_vice",
                                            application(rank="副区级及以上"))["tasks"]] == ["district_fao"]


def test_after_return_gifts_are_declared_and_the_trip_report_is_due_in_10_working_days(engine, clock):
    instance_id = engine.start("overseas_travel.fangshan", "liu_civil", application(days=6))["instance"]
    walk(engine, instance_id)
    assert engine.tasks(instance=instance_id) == []
    clock.set(parse_instant("2026-07-06T23:59:00+08:00"))
    assert engine.fire_due_timers() == []
    clock.set(parse_instant("2026-07-07T00:00:00+08:00"))
    engine.fire_due_timers()
    engine.complete(open_task(engine, instance_id, "declare_gifts")["id"], "liu_civil",
                    {"gifts_received": True, "gifts": "纪念盘一件", "handed_to_fao_at": "2026-07-07T10:00:00+08:00"})
    report = open_task(engine, instance_id, "trip_report")
    # Back on Tuesday 2026-07-07 (that day does not count): the tenth working day is Tuesday 07-21.
    assert report["assignee"] == "liu_civil" and report["due_at"] == "2026-07-22T00:00:00+08:00"

    clock.set(parse_instant("2026-07-22T09:00:00+08:00"))
    [limit] = [limit for i in engine.compliance("overseas_travel")["instances"] if i["instance"] == instance_id
               for limit in i["limits"] if limit["task"] == "trip_report"]
    assert (limit["status"], limit["limit"]) == ("overdue", "出访报告（回国后10个工作日）")
    engine.complete(report["id"], "liu_civil", {"report": "出访情况报告"})
    assert engine.show(instance_id)["state"] == "completed"


def test_while_the_mayor_is_abroad_the_executive_vice_mayor_acts_and_routing_returns_after(engine, clock):
    before = engine.start("overseas_travel.fangshan", "liu_civil", application())["instance"]
    assert open_task(engine, before, "mayor")["assignee"] == "wang_mayor"
    work_in(engine, "jinghai")
    trip = approve_trip(engine, "wang_mayor", acting_person="li_exec")
    assert engine.show(trip)["data"]["outcome"] == "approved"
    work_in(engine, "fangshan")

    clock.set(parse_instant("2026-07-02T09:00:00+08:00"))  # abroad from 07-01 to 07-06
    during = engine.start("overseas_travel.fangshan", "huang_edu", application())["instance"]
    assert open_task(engine, during, "mayor")["assignee"] == "li_exec"
    handover = [e for e in engine.show(during)["events"] if e["action"] == "absence_handover"]
    assert handover[0]["on_behalf_of"] == "wang_mayor" and "000 第七条" in handover[0]["data"]["rule"]
    assert {t["instance"] for t in engine.tasks(user="li_exec")} >= {before, during}
    engine.complete(open_task(engine, before, "mayor")["id"], "li_exec", APPROVE)
    [acted] = [e for e in engine.show(before)["events"] if e["action"] == "complete"]
    assert (acted["actor"], acted["on_behalf_of"]) == ("li_exec", "wang_mayor")

    clock.set(parse_instant("2026-07-07T09:00:00+08:00"))
    after = engine.start("overseas_travel.fangshan", "he_commerce", application())["instance"]
    assert open_task(engine, after, "mayor")["assignee"] == "wang_mayor"
    assert after not in {t["instance"] for t in engine.tasks(user="li_exec")}
