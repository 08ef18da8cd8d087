"""The directory's districts, departments and AB-role partners, through the real engine on both databases.

Districts: a department belongs to a district, and a district says which variant it uses of each procedure with
district variants; a person is offered, and may start, only their district's variant. Departments: added, renamed,
moved, deleted only when unused. AB-role partners (副区长之间实行AB角互补工作制度, 001 十一): an absent person's new
task goes to their partner when the absence names no acting person and the partner is active and not absent too,
recorded as an absence hand-over; the partner may act on the absent person's open tasks. Clock injected."""
from datetime import timedelta

import pytest
from sqlalchemy import select

from engine import directory
from engine.commands import Engine
from engine.directory_admin import DirectoryAdmin
from engine.errors import Conflict, Forbidden, InvalidInput
from engine.models import Absence, AuditEvent

from .helpers import open_task, snapshot, work_in
from .test_cli import TRIP

FILER, STAFF, ZHAO, SUN, LI = "liu_civil", "ma_civil_staff", "zhao_vice", "sun_vice", "li_exec"
VARIANT_PROCEDURES = ("document_outgoing", "overseas_travel", "topic_submission")


def variant_keys(engine, username: str) -> set[str]:
    return {p["key"] for p in engine.startable(username) if directory.procedure_of(p["key"])}


def absent(engine, clock, username: str, acting: str | None = None, rule: str = "请假") -> None:
    with engine.unit_of_work() as uow:
        uow.conn.execute(Absence.__table__.insert(), {
            "username": username, "starts_at": clock.now() - timedelta(hours=1),
            "ends_at": clock.now() + timedelta(days=3), "acting_username": acting, "rule": rule,
            "recorded_at": clock.now()})


def file_leave(engine) -> int:
    """liu_civil (区民政局) asks for leave: the first step is for zhao_vice, the vice-mayor in charge."""
    return engine.start("leave", FILER, TRIP)["instance"]


def directory_changes(engine) -> list[dict]:
    with engine.db.connect() as conn:
        rows = conn.execute(select(AuditEvent.actor, AuditEvent.data).where(AuditEvent.action == "directory_change")
                            .order_by(AuditEvent.id)).all()
    return [{"actor": row.actor, "data": row.data} for row in rows]


def handovers(engine, instance_id: int) -> list[dict]:
    return [e for e in engine.show(instance_id)["events"] if e["action"] == "absence_handover"]


# --- districts and their variants --------------------------------------------------------------------------

def test_the_demo_directory_puts_every_department_in_fangshan_and_names_the_other_districts(engine):
    districts = {d["key"]: d for d in DirectoryAdmin(engine).districts()}
    assert set(districts) == {"fangshan", "dongan", "xicheng", "jinghai"}
    assert {d["key"] for d in districts["fangshan"]["departments"]} >= {"civil_affairs", "gov_office", "education"}
    assert all(not districts[key]["departments"] for key in ("dongan", "xicheng", "jinghai"))
    assert districts["fangshan"]["variants"] == {p: f"{p}.fangshan" for p in VARIANT_PROCEDURES}
    assert "overseas_travel" not in districts["dongan"]["variants"]  # 001 has no overseas-travel rule
    profile = engine.profile(FILER)
    assert (profile.district, profile.district_name) == ("fangshan", "北京市房山区")


def test_a_person_is_offered_only_their_districts_variant_of_each_procedure(engine):
    assert variant_keys(engine, STAFF) == {f"{p}.fangshan" for p in VARIANT_PROCEDURES}
    assert "leave" in {p["key"] for p in engine.startable(FILER)}  # a procedure without variants, as before
    work_in(engine, "xicheng")
    assert variant_keys(engine, STAFF) == {f"{p}.xicheng" for p in VARIANT_PROCEDURES}
    work_in(engine, "dongan")
    assert variant_keys(engine, STAFF) == {"document_outgoing.dongan", "topic_submission.dongan"}


def test_starting_another_districts_variant_is_refused_in_both_languages_and_stores_nothing(engine):
    before = snapshot(engine)
    with pytest.raises(Forbidden) as refused:
        engine.start("overseas_travel.xicheng", STAFF, {})
    assert "是其他区的流程，北京市房山区使用「overseas_travel.fangshan」" in refused.value.message
    assert "another district's variant" in refused.value.message
    work_in(engine, "dongan")
    before = snapshot(engine)
    with pytest.raises(Forbidden, match="uses no variant of overseas_travel"):
        engine.start("overseas_travel.fangshan", STAFF, {})
    assert snapshot(engine) == before


def test_someone_whose_department_has_no_district_starts_no_variant(engine):
    DirectoryAdmin(engine).put_department("civil_affairs", "区民政局", None, "admin")
    assert variant_keys(engine, STAFF) == set()
    with pytest.raises(Forbidden, match="belongs to no district"):
        engine.start("topic_submission.fangshan", STAFF, {})


def test_an_admin_chooses_a_districts_variant_among_the_deployed_ones(engine):
    admin = DirectoryAdmin(engine)
    assert admin.variant_choices()["overseas_travel"] == [
        "overseas_travel.fangshan", "overseas_travel.jinghai", "overseas_travel.xicheng"]
    admin.put_district("fangshan", None, {"overseas_travel": "overseas_travel.jinghai"}, "admin")
    assert "overseas_travel.jinghai" in variant_keys(engine, STAFF)
    before = snapshot(engine)
    with pytest.raises(InvalidInput, match="not deployed"):
        admin.put_district("fangshan", None, {"overseas_travel": "overseas_travel.dongan"}, "admin")
    with pytest.raises(InvalidInput, match="not a district variant of overseas_travel"):
        admin.put_district("fangshan", None, {"overseas_travel": "topic_submission.dongan"}, "admin")
    with pytest.raises(Forbidden):
        admin.put_district("fangshan", None, {"overseas_travel": None}, STAFF)
    assert snapshot(engine) == before
    admin.put_district("haidian", "北京市海淀区", {}, "admin")
    assert {d["key"] for d in admin.districts()} >= {"haidian"}
    with pytest.raises(InvalidInput, match="already used by fangshan"):
        admin.put_district("fangshan_2", "北京市房山区", {}, "admin")


# --- departments -----------------------------------------------------------------------------------------

def test_a_department_is_added_renamed_and_moved_to_another_district(engine):
    admin = DirectoryAdmin(engine)
    admin.put_department("sports", "区体育局", "fangshan", "admin")
    admin.put_department("sports", "区文化和旅游局", "xicheng", "admin")
    assert {"key": "sports", "name": "区文化和旅游局", "district": "xicheng"} in admin.departments()
    added, renamed = directory_changes(engine)
    assert (added["actor"], added["data"]["before"]) == ("admin", None)
    assert renamed["data"]["before"]["name"] == "区体育局" and renamed["data"]["after"]["district"] == "xicheng"
    with pytest.raises(InvalidInput, match="no such district"):
        admin.put_department("sports", "区体育局", "atlantis", "admin")
    with pytest.raises(InvalidInput, match="already used by civil_affairs"):
        admin.put_department("sports", "区民政局", "fangshan", "admin")
    with pytest.raises(InvalidInput, match="a key is lower-case"):
        admin.put_department("Sports Bureau", "区体育总局", "fangshan", "admin")


def test_a_department_still_used_cannot_be_deleted_and_an_unused_one_can(engine):
    admin = DirectoryAdmin(engine)
    before = snapshot(engine)
    with pytest.raises(Conflict) as refused:
        admin.remove_department("civil_affairs", "admin")
    message = refused.value.message
    assert "仍在使用，不能删除" in message and "liu_civil" in message and "ma_civil_staff" in message
    assert "dept_head@civil_affairs" in message and "in the portfolio of zhao_vice" in message
    assert snapshot(engine) == before
    admin.put_department("sports", "区体育局", "fangshan", "admin")
    assert admin.remove_department("sports", "admin")["key"] == "sports"
    assert "sports" not in {d["key"] for d in admin.departments()}


# --- AB-role partners ----------------------------------------------------------------------------------------

def test_the_demo_vice_mayors_are_each_others_ab_partners_and_a_new_pair_releases_the_old(engine):
    admin = DirectoryAdmin(engine)
    assert admin.partners() == [{"username": SUN, "display_name": "孙志强（副区长）", "partner": ZHAO,
                                 "partner_name": "赵红梅（副区长）"}]
    assert admin.set_partner(LI, ZHAO, "admin")["released"] == [SUN]
    assert [(p["username"], p["partner"]) for p in admin.partners()] == [(LI, ZHAO)]  # sun_vice has none now
    with pytest.raises(InvalidInput, match="their own AB-role partner"):
        admin.set_partner(ZHAO, ZHAO, "admin")
    admin.set_partner(ZHAO, None, "admin")
    assert admin.partners() == []


def test_an_absent_persons_new_task_goes_to_the_ab_partner_when_no_acting_person_is_named(engine, clock):
    absent(engine, clock, ZHAO)
    instance_id = file_leave(engine)
    task = open_task(engine, instance_id, "vice_approval")
    assert task["assignee"] == SUN
    [handover] = handovers(engine, instance_id)
    assert handover["on_behalf_of"] == ZHAO and handover["data"]["to"] == SUN
    assert "AB角" in handover["data"]["rule"] and "001 十一" in handover["data"]["rule"]
    engine.complete(task["id"], SUN, {"decision": "同意"})
    [done] = [e for e in engine.show(instance_id)["events"] if e["action"] == "complete"]
    assert done["actor"] == SUN


@pytest.mark.parametrize("partner_state", ["absent", "inactive"])
def test_no_ab_hand_over_when_the_partner_is_absent_too_or_inactive(engine, clock, partner_state):
    absent(engine, clock, ZHAO)
    if partner_state == "absent":
        absent(engine, clock, SUN, acting=LI)
    else:
        with engine.unit_of_work() as uow:
            directory.put_user(uow.session, {"username": SUN, "active": False})
    instance_id = file_leave(engine)
    assert open_task(engine, instance_id, "vice_approval")["assignee"] == ZHAO
    assert handovers(engine, instance_id) == []


def test_an_acting_person_named_by_the_absence_comes_before_the_ab_partner(engine, clock):
    absent(engine, clock, ZHAO, rule="请假")
    absent(engine, clock, ZHAO, acting=LI, rule="出差，由常务副区长代理")
    instance_id = file_leave(engine)
    assert open_task(engine, instance_id, "vice_approval")["assignee"] == LI
    assert handovers(engine, instance_id)[0]["data"]["rule"] == "出差，由常务副区长代理"


def test_the_ab_partner_may_act_on_the_absent_persons_open_task_while_the_absence_lasts(engine, clock):
    instance_id = file_leave(engine)
    task = open_task(engine, instance_id, "vice_approval")
    assert task["assignee"] == ZHAO
    with engine.db.connect() as conn:
        assert directory.may_act_on(conn, SUN, task["role"], None, ZHAO, clock.now()) == (False, None)
    absent(engine, clock, ZHAO)
    with engine.db.connect() as conn:
        assert directory.may_act_on(conn, SUN, task["role"], None, ZHAO, clock.now()) == (True, ZHAO)
        assert directory.may_act_on(conn, LI, task["role"], None, ZHAO, clock.now()) == (False, None)
    engine.complete(task["id"], SUN, {"decision": "同意"})
    [done] = [e for e in engine.show(instance_id)["events"] if e["action"] == "complete"]
    assert (done["actor"], done["on_behalf_of"]) == (SUN, ZHAO)


def test_the_absent_persons_open_task_is_in_the_ab_partners_inbox_only_while_they_stand_in(engine, clock):
    instance_id = file_leave(engine)
    task = open_task(engine, instance_id, "vice_approval")

    def waiting_for(person):
        inbox = [row["id"] for row in engine.inbox(person, "todo")["rows"]]
        listed = [row["id"] for row in engine.tasks(person)]
        return task["id"] in inbox, task["id"] in listed, engine.counts(person)["todo"]

    assert waiting_for(SUN) == (False, False, 0)
    absent(engine, clock, ZHAO)
    assert waiting_for(SUN) == (True, True, 1)
    absent(engine, clock, SUN, acting=LI)  # the partner is away too: nobody stands in for ZHAO by the AB rule
    assert waiting_for(SUN) == (False, False, 0)


def test_the_ab_partner_opens_the_absent_persons_task_page_and_completes_it(engine, web, clock):
    instance_id = file_leave(engine)
    task = open_task(engine, instance_id, "vice_approval")
    absent(engine, clock, ZHAO)
    partner = web(SUN)
    assert 'id="task-form"' in partner.get(f"/tasks/{task['id']}").get_data(as_text=True)
    assert partner.post(f"/tasks/{task['id']}/complete", {"decision": "同意"}).status_code == 302
    [done] = [e for e in engine.show(instance_id)["events"] if e["action"] == "complete"]
    assert (done["actor"], done["on_behalf_of"]) == (SUN, ZHAO)


def test_after_the_absence_the_partner_may_no_longer_act_for_them(engine, clock):
    absent(engine, clock, ZHAO)
    clock.set(clock.now() - timedelta(hours=2))  # before the absence began
    instance_id = file_leave(engine)
    task = open_task(engine, instance_id, "vice_approval")
    assert task["assignee"] == ZHAO
    clock.set(clock.now() + timedelta(days=4))  # after it ended
    before = snapshot(engine)
    with pytest.raises(Forbidden):
        engine.complete(task["id"], SUN, {"decision": "同意"})
    assert snapshot(engine) == before


# --- the CLI ------------------------------------------------------------------------------------------------

def test_districts_departments_and_partners_through_the_cli(govflow):
    govflow("init")
    govflow("users", "load")
    govflow("deploy")
    assert {d["key"] for d in govflow("users", "districts")} == {"fangshan", "dongan", "xicheng", "jinghai"}
    district = govflow("users", "district", "fangshan", "--use", "overseas_travel=overseas_travel.xicheng",
                       "--use", "topic_submission=")
    assert district["variants"] == {"document_outgoing": "document_outgoing.fangshan",
                                    "overseas_travel": "overseas_travel.xicheng"}
    code, _, err = govflow("users", "district", "fangshan", "--use", "overseas_travel=overseas_travel.dongan", ok=False)
    assert code == 1 and "not deployed" in err
    assert govflow("users", "department", "sports", "--name", "区体育局", "--district", "xicheng")["district"] == "xicheng"
    code, _, err = govflow("users", "remove-department", "education", ok=False)
    assert code == 1 and "still used" in err and "huang_edu" in err
    assert govflow("users", "remove-department", "sports")["removed"]["key"] == "sports"
    assert govflow("users", "partner", "li_exec", "zhao_vice")["released"] == ["sun_vice"]
    assert govflow("users", "partner", "li_exec", "--none")["ab_partner"] is None
    code, _, err = govflow("users", "partner", "li_exec", "zhao_vice", "--as", "liu_civil", ok=False)
    assert code == 1 and "only admins" in err


def test_roles_through_the_cli_and_a_new_role_is_what_a_new_lane_stands_for(govflow, database_url, clock):
    govflow("init")
    govflow("users", "load")
    govflow("deploy")
    role = govflow("users", "role", "archivist", "--name", "档案员", "--name-en", "Archivist", "--per-department")
    assert role == {"key": "archivist", "name": "档案员", "name_en": "Archivist", "scoped": True}
    assert "archivist" in {r["key"] for r in govflow("users", "roles")}
    code, _, err = govflow("users", "remove-role", "duty_office", ok=False)
    assert code == 1 and "still used" in err and "feng_duty" in err and "emergency_report v1" in err
    code, _, err = govflow("users", "role", "archivist", "--name", "档案员", "--as", "liu_civil", ok=False)
    assert code == 1 and "only admins" in err
    with Engine(database_url, clock=clock).read() as session:
        assert directory.lane_is_known(session, "档案员") and directory.lane_is_known(session, "archivist")
    assert govflow("users", "remove-role", "archivist")["removed"]["key"] == "archivist"
    with Engine(database_url, clock=clock).read() as session:
        assert not directory.lane_is_known(session, "档案员")
