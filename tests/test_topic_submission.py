"""Meeting topic submission 会议议题提交: screening against the cases that are not admitted (000 第四十四条(五)) and
the prerequisites of normative documents and major decisions (000 第四十四条(二), 第十九条; 001 五十四, 二十九;
003 第二十二条, 第四十九条), the 5-working-day rule with the mayor's exception (000 第五十九条), the countersign of
the departments involved with the vice-mayor's coordination (000 第四十四条(三), 002 四十一), and each district's
review chain (000 第四十四条(一), 001 五十四, 002 四十一, 003 第四十九条). Clock injected; no sleep."""
import pytest

from engine.calendar_admin import CalendarAdmin
from engine.clock import parse_instant
from engine.errors import Forbidden, InvalidInput

from .helpers import open_task, work_in

FILER = "ma_civil_staff"  # 民政局经办人: civil_affairs, whose vice-mayor in charge is zhao_vice
HEADS = {"education": "huang_edu", "commerce": "he_commerce", "justice": "lin_justice", "civil_affairs": "liu_civil"}
CLEAR = {"within_own_power": False, "solvable_by_consultation": False, "decidable_by_vice_mayor": False,
         "departments_disagree_uncoordinated": False, "ad_hoc_without_chair_consent": False,
         "concerns_vice_mayor": False, "general_work_report": False}
AGREE = {"decision": "同意"}
CHAINS = {
    "fangshan": [("vice_review", "zhao_vice"), ("mayor_decide", "wang_mayor")],
    "dongan": [("vice_review", "zhao_vice"), ("exec_review", "li_exec"), ("mayor_decide", "wang_mayor")],
    "xicheng": [("vice_review", "zhao_vice"), ("office_approval", "chen_director")],
    "jinghai": [("vice_review", "zhao_vice"), ("office_arrange", "chen_director"), ("mayor_confirm", "wang_mayor")],
}
ROLES = {"vice_review": "分管副区长", "exec_review": "常务副区长", "mayor_decide": "区长", "office_approval": "区政府办公室主任",
         "office_arrange": "区政府办公室主任", "mayor_confirm": "区长"}
MAJOR_STEPS = {"public_participation": "公众参与", "expert_argument": "专家论证", "risk_assessment": "风险评估",
               "legality_review_passed": "合法性审查", "collective_decision": "集体讨论决定"}
COUNTERSIGN = "countersign [child]"  # the task name SpiffWorkflow gives each instance of the multi-instance task


def topic(**extra) -> dict:
    """A topic for the standing meeting of Friday 2026-06-12 (9 working days after the clock's Monday)."""
    return {"meeting_id": 7, "meeting_kind": "常务会议", "meeting_at": "2026-06-12T09:00:00+08:00",
            "title": "关于调整高龄老人养老服务补贴标准的议题", "summary": "拟提高80周岁以上老人养老服务补贴，请会议研究。",
            "kind": "一般事项", "departments_involved": [], "presenter": "liu_civil", "presenter_is_head": True,
            "presenter_can_attend": True, **CLEAR, **extra}


def start(engine, variant="fangshan", actor=FILER, **extra) -> int:
    """A topic filed in the variant's district."""
    work_in(engine, variant)
    return engine.start(f"topic_submission.{variant}", actor, topic(**extra))["instance"]


def open_tasks(engine, instance_id: int) -> list[tuple[str, str]]:
    return [(t["name"], t["assignee"]) for t in engine.tasks(instance=instance_id)]


def walk(engine, instance_id: int) -> list[tuple[str, str]]:
    """Agree at every review step as it comes; the (step, assignee) pairs in the order they came."""
    steps = []
    while engine.show(instance_id)["state"] == "running":
        [(name, assignee)] = open_tasks(engine, instance_id)
        steps.append((name, assignee))
        data = {**AGREE, "arrangement": "列为常务会议第二项"} if name == "office_arrange" else AGREE
        engine.complete(open_task(engine, instance_id, name)["id"], assignee, data)
    return steps


def data_of(engine, instance_id: int) -> dict:
    return engine.show(instance_id)["data"]


def assert_rejected_at_screening(engine, instance_id: int, article: str, words: str) -> None:
    shown = engine.show(instance_id)
    assert shown["state"] == "completed" and engine.tasks(instance=instance_id) == []
    data = shown["data"]
    assert data["outcome"] == "rejected" and data["screen_passed"] is False and data["rejected_at"] == "screen"
    assert data["screen_article"] == article and words in data["screen_rule"]
    assert data["rejection_reason"] == f"不予上会：{data['screen_rule']}（{article}）"


def assert_admitted_to_review(engine, instance_id: int) -> None:
    data = data_of(engine, instance_id)
    assert data["screen_passed"] is True and "outcome" not in data
    assert open_tasks(engine, instance_id) == [("vice_review", "zhao_vice")]


# --- screening: the seven cases that are not admitted (000 第四十四条(五)) ------------------------------

EXCLUSIONS = [
    ("within_own_power", "000 第四十四条(五)1", "职权内能自行安排解决"),
    ("solvable_by_consultation", "000 第四十四条(五)2", "协商能够解决"),
    ("decidable_by_vice_mayor", "000 第四十四条(五)3", "分管副区长在分工范围内能研究决定"),
    ("departments_disagree_uncoordinated", "000 第四十四条(五)4", "未形成一致意见或未经协调"),
    ("ad_hoc_without_chair_consent", "000 第四十四条(五)5", "未征得会议主持人同意的临时动议"),
    ("concerns_vice_mayor", "000 第四十四条(五)6", "涉及相关分管副区长"),
    ("general_work_report", "000 第四十四条(五)7", "一般性工作汇报"),
]


@pytest.mark.parametrize("fact, article, words", EXCLUSIONS, ids=[e[0] for e in EXCLUSIONS])
def test_each_case_that_is_not_admitted_ends_the_topic_naming_the_rule_and_article(engine, fact, article, words):
    instance_id = start(engine, **{fact: True})
    assert_rejected_at_screening(engine, instance_id, article, words)


def test_a_topic_clear_of_every_case_goes_to_the_vice_mayor_in_charge(engine):
    instance_id = start(engine)
    assert_admitted_to_review(engine, instance_id)
    assert data_of(engine, instance_id)["screen_article"] == "000 第四十四条"


def test_the_first_case_that_applies_is_the_one_named(engine):
    instance_id = start(engine, solvable_by_consultation=True, general_work_report=True)
    assert_rejected_at_screening(engine, instance_id, "000 第四十四条(五)2", "协商能够解决")


@pytest.mark.parametrize("facts, article, words", [
    ({"presenter_can_attend": False}, "000 第四十四条(五)6；003 第四十九条", "主要负责人不能出席会议"),
    ({"presenter_is_head": False, "presenter": "ma_civil_staff"}, "003 第四十九条", "不能由他人代为汇报"),
], ids=["head_cannot_attend", "presenter_is_not_the_head"])
def test_the_units_head_must_attend_and_present_in_person(engine, facts, article, words):
    instance_id = start(engine, **facts)
    assert_rejected_at_screening(engine, instance_id, article, words)


# --- prerequisites: normative documents, major decisions, fair competition -------------------------------

def test_a_normative_document_without_legality_review_is_not_admitted(engine):
    for claimed in ({}, {"legality_review_passed": False}):
        instance_id = start(engine, kind="规范性文件", **claimed)
        assert_rejected_at_screening(engine, instance_id, "000 第四十四条(二)；001 五十四；003 第二十二条", "未经合法性审查")


def test_a_normative_document_that_passed_legality_review_is_admitted(engine):
    assert_admitted_to_review(engine, start(engine, kind="规范性文件", legality_review_passed=True))


ALL_FIVE = {step: True for step in MAJOR_STEPS}


@pytest.mark.parametrize("missing", MAJOR_STEPS)
def test_a_major_decision_missing_one_statutory_step_is_not_admitted(engine, missing):
    instance_id = start(engine, kind="重大行政决策", **{**ALL_FIVE, missing: False})
    assert_rejected_at_screening(engine, instance_id, "000 第十九条、第二十一条；001 二十九", MAJOR_STEPS[missing])


def test_a_major_decision_with_all_five_statutory_steps_is_admitted(engine):
    assert_admitted_to_review(engine, start(engine, kind="重大行政决策", **ALL_FIVE))


def test_the_statutory_steps_of_a_major_decision_are_not_asked_of_a_general_or_personnel_topic(engine):
    assert_admitted_to_review(engine, start(engine, kind="一般事项"))
    assert_admitted_to_review(engine, start(engine, kind="人事事项"))


def test_a_topic_affecting_market_activity_needs_the_fair_competition_review(engine):
    refused = start(engine, affects_market_activity=True)
    assert_rejected_at_screening(engine, refused, "001 三十一", "公平竞争审查")
    assert_admitted_to_review(engine, start(engine, affects_market_activity=True, fair_competition_review=True))


# --- the start form and who may file ---------------------------------------------------------------

def test_the_filer_must_state_every_screening_fact_and_nothing_else(engine):
    incomplete = topic()
    del incomplete["general_work_report"]
    with pytest.raises(InvalidInput, match="general_work_report|一般性工作汇报"):
        engine.start("topic_submission.fangshan", FILER, incomplete)
    with pytest.raises(InvalidInput, match="not a field of this form"):
        engine.start("topic_submission.fangshan", FILER, topic(department="education"))
    with pytest.raises(InvalidInput):
        engine.start("topic_submission.fangshan", FILER, topic(kind="其他"))
    assert engine.instances() == []


def test_only_a_department_head_or_staff_files_a_topic(engine):
    with pytest.raises(Forbidden):
        engine.start("topic_submission.fangshan", "zhao_vice", topic())
    assert engine.start("topic_submission.fangshan", "liu_civil", topic())["state"] == "running"


def test_a_meeting_that_has_already_been_held_is_refused(engine):
    with pytest.raises(InvalidInput, match="会议时间须晚于"):
        start(engine, meeting_at="2026-05-29T09:00:00+08:00")


# --- the 5-working-day rule (000 第五十九条) ----------------------------------------------------------

def test_five_working_days_ahead_is_on_time_and_four_is_late(engine):
    on_time = start(engine, meeting_at="2026-06-08T09:00:00+08:00")  # Mon -> next Mon: 5 working days
    assert data_of(engine, on_time)["working_days_ahead"] == 5
    assert open_tasks(engine, on_time) == [("vice_review", "zhao_vice")]
    late = start(engine, meeting_at="2026-06-05T09:00:00+08:00")  # Mon -> Fri: 4 working days
    assert data_of(engine, late)["working_days_ahead"] == 4
    assert open_tasks(engine, late) == [("mayor_exception", "wang_mayor")]
    assert open_task(engine, late, "mayor_exception")["title"] == "是否同意破例上会"


def test_the_dragon_boat_festival_does_not_count_as_a_working_day(engine, clock):
    # Filed Monday 06-15 for Monday 06-22: Tue, Wed, Thu and Mon count; Friday 06-19 is the Dragon Boat Festival.
    clock.set(parse_instant("2026-06-15T09:00:00+08:00"))
    late = start(engine, meeting_at="2026-06-22T09:00:00+08:00")
    assert data_of(engine, late)["working_days_ahead"] == 4
    assert open_tasks(engine, late) == [("mayor_exception", "wang_mayor")]
    # Filed the Friday before, the same meeting is 5 working days ahead.
    clock.set(parse_instant("2026-06-12T09:00:00+08:00"))
    on_time = start(engine, meeting_at="2026-06-22T09:00:00+08:00")
    assert data_of(engine, on_time)["working_days_ahead"] == 5
    assert open_tasks(engine, on_time) == [("vice_review", "zhao_vice")]
    # Were 06-19 a working day (an admin override), Monday 06-15 would have been in time.
    CalendarAdmin(engine).set("2026-06-19", True, "测试：假设端午节照常上班", "admin")
    clock.set(parse_instant("2026-06-15T09:00:00+08:00"))
    assert data_of(engine, start(engine, meeting_at="2026-06-22T09:00:00+08:00"))["working_days_ahead"] == 5


def test_a_late_topic_the_mayor_lets_through_carries_the_exception_and_goes_on(engine, clock):
    clock.set(parse_instant("2026-06-15T09:00:00+08:00"))
    instance_id = start(engine, meeting_at="2026-06-22T09:00:00+08:00")
    engine.complete(open_task(engine, instance_id, "mayor_exception")["id"], "wang_mayor",
                    {"exception_decision": "同意", "exception_reason": "汛期安置工作紧急"})
    data = data_of(engine, instance_id)
    assert data["late_exception"] is True and data["late_exception_by"] == "wang_mayor"
    assert data["late_exception_reason"] == "汛期安置工作紧急"
    assert walk(engine, instance_id) == CHAINS["fangshan"]
    data = data_of(engine, instance_id)
    assert data["outcome"] == "admitted" and data["late_exception"] is True


def test_a_late_topic_the_mayor_refuses_is_rejected_with_the_rule_and_the_reason(engine, clock):
    clock.set(parse_instant("2026-06-15T09:00:00+08:00"))
    instance_id = start(engine, meeting_at="2026-06-22T09:00:00+08:00")
    engine.complete(open_task(engine, instance_id, "mayor_exception")["id"], "wang_mayor",
                    {"exception_decision": "不同意", "exception_reason": "可安排在下次常务会议"})
    shown = engine.show(instance_id)
    assert shown["state"] == "completed" and engine.tasks(instance=instance_id) == []
    data = shown["data"]
    assert data["outcome"] == "rejected" and data["rejected_by"] == "wang_mayor"
    assert data["late_exception"] is False
    assert data["rejection_reason"] == ("不予上会：议题应提前5个工作日报至区政府办公室，距会议仅余4个工作日，区长（wang_mayor）"
                                        "不同意破例上会：可安排在下次常务会议（000 第五十九条）")


def test_only_the_mayor_decides_the_exception_and_a_reason_is_required(engine):
    instance_id = start(engine, meeting_at="2026-06-05T09:00:00+08:00")
    task = open_task(engine, instance_id, "mayor_exception")
    with pytest.raises(Forbidden):
        engine.complete(task["id"], "li_exec", {"exception_decision": "同意", "exception_reason": "紧急"})
    with pytest.raises(InvalidInput):
        engine.complete(task["id"], "wang_mayor", {"exception_decision": "同意"})


# --- countersign of the departments involved (000 第四十四条(三), 002 四十一) ---------------------------

THREE = ["education", "commerce", "justice"]


def countersign(engine, instance_id: int, opinions: dict) -> None:
    for task in engine.tasks(instance=instance_id):
        assert task["name"] == COUNTERSIGN
        engine.complete(task["id"], HEADS[task["department"]], opinions[task["department"]])


def test_each_department_involved_gets_its_own_countersign_task_for_its_head(engine):
    # The submitting department itself is not asked to countersign its own topic.
    instance_id = start(engine, departments_involved=THREE + ["civil_affairs"])
    tasks = engine.tasks(instance=instance_id)
    assert {t["department"]: t["assignee"] for t in tasks} == {d: HEADS[d] for d in THREE}
    assert {(t["name"], t["title"], t["role"]) for t in tasks} == {(COUNTERSIGN, "相关部门会签议题意见", "dept_head")}
    commerce = [t for t in tasks if t["department"] == "commerce"][0]
    with pytest.raises(Forbidden):
        engine.complete(commerce["id"], "huang_edu", {"agree": True})
    with pytest.raises(InvalidInput, match="须写明理由"):
        engine.complete(commerce["id"], "he_commerce", {"agree": False})


def test_when_every_department_agrees_the_topic_goes_straight_to_review(engine):
    instance_id = start(engine, departments_involved=THREE)
    countersign(engine, instance_id, {d: {"agree": True} for d in THREE})
    data = data_of(engine, instance_id)
    assert data["countersign_agreed"] is True and data["disagreement_statement"] is None
    assert [o["department"] for o in data["countersign_opinions"]] == THREE
    assert open_tasks(engine, instance_id) == [("vice_review", "zhao_vice")]


OPINIONS = {"education": {"agree": True}, "commerce": {"agree": False, "reasons": "补贴资金来源未明确"},
            "justice": {"agree": True, "reasons": "无法律障碍"}}


def test_a_disagreement_resolved_by_the_vice_mayor_leaves_no_statement_for_the_meeting(engine):
    instance_id = start(engine, departments_involved=THREE)
    countersign(engine, instance_id, OPINIONS)
    assert open_tasks(engine, instance_id) == [("vice_coordinate", "zhao_vice")]
    assert data_of(engine, instance_id)["dissents"] == [
        {"department": "commerce", "agree": False, "reasons": "补贴资金来源未明确"}]
    engine.complete(open_task(engine, instance_id, "vice_coordinate")["id"], "zhao_vice",
                    {"resolved": True, "statement": "经协调，资金由区财政统筹，商务局同意"})
    assert walk(engine, instance_id) == CHAINS["fangshan"]
    data = data_of(engine, instance_id)
    assert data["outcome"] == "admitted" and data["disagreement_statement"] is None
    assert data["coordination_statement"] == "经协调，资金由区财政统筹，商务局同意"


def test_a_disagreement_still_unresolved_goes_to_the_meeting_with_a_statement(engine):
    instance_id = start(engine, "xicheng", departments_involved=THREE)
    countersign(engine, instance_id, OPINIONS)
    engine.complete(open_task(engine, instance_id, "vice_coordinate")["id"], "zhao_vice",
                    {"resolved": False, "statement": "商务局仍不同意，建议会议研究确定"})
    assert walk(engine, instance_id) == CHAINS["xicheng"]
    data = data_of(engine, instance_id)
    assert data["outcome"] == "admitted"
    assert data["disagreement_statement"] == (
        "经分管副区长协调仍有分歧，由主办部门如实报告并在会议上作出说明（000 第四十四条(三)，002 四十一）："
        "商务局仍不同意，建议会议研究确定。持不同意见的部门：commerce：补贴资金来源未明确")


def test_the_vice_mayor_who_coordinates_is_the_one_in_charge_of_the_submitting_department(engine):
    instance_id = start(engine, actor="he_commerce", presenter="he_commerce", departments_involved=["civil_affairs"])
    countersign(engine, instance_id, {"civil_affairs": {"agree": False, "reasons": "与现行政策冲突"}})
    assert open_tasks(engine, instance_id) == [("vice_coordinate", "sun_vice")]


# --- each district's review chain --------------------------------------------------------------------

@pytest.mark.parametrize("variant", CHAINS)
def test_each_district_reviews_in_its_own_order_and_admits_the_topic(engine, variant):
    instance_id = start(engine, variant)
    assert walk(engine, instance_id) == CHAINS[variant]
    shown = engine.show(instance_id)
    assert shown["state"] == "completed"
    data = shown["data"]
    assert data["outcome"] == "admitted"
    assert [(r["step"], r["by"], r["role"], r["decision"]) for r in data["reviews"]] == \
        [(step, who, ROLES[step], "同意") for step, who in CHAINS[variant]]
    # What the meeting process relies on.
    assert data["meeting_id"] == 7 and isinstance(data["meeting_id"], int)
    assert (data["title"], data["kind"], data["department"], data["presenter"]) == \
        ("关于调整高龄老人养老服务补贴标准的议题", "一般事项", "civil_affairs", "liu_civil")
    assert data["disagreement_statement"] is None and data["late_exception"] is False
    assert shown["title"] == "马丽（民政局经办人）提请常务会议议题：关于调整高龄老人养老服务补贴标准的议题"


REFUSALS = [(variant, index) for variant, chain in CHAINS.items() for index in range(len(chain))]


@pytest.mark.parametrize("variant, refusing", REFUSALS, ids=[f"{v}-{CHAINS[v][i][0]}" for v, i in REFUSALS])
def test_a_refusal_at_any_review_step_rejects_the_topic_saying_who_and_why(engine, variant, refusing):
    instance_id = start(engine, variant)
    for step, who in CHAINS[variant][:refusing]:
        data = {**AGREE, "arrangement": "列为常务会议第二项"} if step == "office_arrange" else AGREE
        engine.complete(open_task(engine, instance_id, step)["id"], who, data)
    step, who = CHAINS[variant][refusing]
    task = open_task(engine, instance_id, step)
    assert task["assignee"] == who
    with pytest.raises(InvalidInput, match="须写明理由"):
        engine.complete(task["id"], who, {"decision": "不同意"})
    engine.complete(task["id"], who, {"decision": "不同意", "opinion": "方案尚不成熟"})
    shown = engine.show(instance_id)
    assert shown["state"] == "completed" and engine.tasks(instance=instance_id) == []
    data = shown["data"]
    assert data["outcome"] == "rejected" and data["rejected_by"] == who and data["rejected_at"] == step
    assert data["rejection_reason"] == f"不予上会：{ROLES[step]}（{who}）不同意列入议题：方案尚不成熟"
