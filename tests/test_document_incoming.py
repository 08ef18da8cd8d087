"""Incoming documents for approval 收文呈批: filed by the department head, one matter per request and no request
in a report (001 五十八, 000 第五十七条), countersign with the departments involved and the co-signed disagreement
(000 第五十八条, 001 五十九), registration or return to the sender (000 第六十条), the order of leaders (000 第五十三条,
001 六十一), clear opinions and what circling means (000 第五十四条), co-approval and the limits of 5 and 1 working
days (002 四十六). Clock injected; no sleep."""
import pytest

from engine.clock import parse_instant
from engine.errors import Forbidden, InvalidInput

from .helpers import open_task

FILER = "liu_civil"  # 民政局局长: civil_affairs, whose vice-mayor in charge is zhao_vice
CLERK = "zheng_clerk"
HEADS = {"education": "huang_edu", "commerce": "he_commerce", "justice": "lin_justice"}
LEADERS = {"vice_review": "zhao_vice", "exec_review": "li_exec", "mayor_review": "wang_mayor"}
REGISTER = {"action": "登记", "registered_number": "区府收〔2026〕101号", "proposed_handling": "拟请区领导阅示"}
COUNTERSIGN = "countersign [child]"
COSIGN = "cosign [child]"
FEEDBACK = "feedback [child]"


def document(**extra) -> dict:
    return {"doc_type": "请示", "classification": "无", "title": "关于调整高龄老人养老服务补贴标准的请示",
            "body": "拟将80周岁以上老人养老服务补贴提高至每月200元，妥否，请批示。", "matters": 1,
            "contains_request": False, "request_kind": "请示批示", "important": False, "departments_involved": [],
            **extra}


def start(engine, actor=FILER, **extra) -> int:
    return engine.start("document_incoming", actor, document(**extra))["instance"]


def open_tasks(engine, instance_id: int) -> list[tuple[str, str]]:
    return [(t["name"], t["assignee"]) for t in engine.tasks(instance=instance_id)]


def data_of(engine, instance_id: int) -> dict:
    return engine.show(instance_id)["data"]


def complete(engine, instance_id: int, name: str, actor: str, data: dict) -> dict:
    return engine.complete(open_task(engine, instance_id, name)["id"], actor, data)


def register(engine, instance_id: int) -> None:
    complete(engine, instance_id, "register", CLERK, REGISTER)


def walk_leaders(engine, instance_id: int, opinion=None) -> list[tuple[str, str]]:
    """Each leader gives a clear opinion as their task comes; the (step, assignee) pairs in order."""
    steps = []
    while True:
        open_now = [(n, a) for n, a in open_tasks(engine, instance_id) if n in LEADERS]
        if not open_now:
            return steps
        [(name, assignee)] = open_now
        steps.append((name, assignee))
        complete(engine, instance_id, name, assignee, opinion or {"opinion_kind": "批示", "opinion": "同意，请抓好落实"})


# --- start: who may file, one matter per request, no request in a report ---------------------------------

def test_a_request_with_two_matters_is_refused_at_start(engine):
    with pytest.raises(InvalidInput, match="一文一事"):
        start(engine, matters=2)
    assert engine.tasks(user=CLERK) == []


def test_a_report_carrying_a_request_is_refused_at_start(engine):
    with pytest.raises(InvalidInput, match="报告中不得夹带请示事项"):
        start(engine, doc_type="报告", contains_request=True, request_kind="征求意见")


def test_a_report_on_several_matters_without_a_request_is_accepted(engine):
    instance_id = start(engine, doc_type="报告", matters=3, request_kind="征求意见")
    assert open_tasks(engine, instance_id) == [("register", CLERK)]


def test_only_a_department_head_files_an_incoming_document(engine):
    with pytest.raises(Forbidden):
        start(engine, actor="ma_civil_staff")


# --- the order of leaders (000 第五十三条, 001 六十一) -----------------------------------------------------

ORDERS = [
    ({"request_kind": "征求意见"}, [("vice_review", "zhao_vice"), ("mayor_review", "wang_mayor")], "001 六十一"),
    ({"request_kind": "请示批示"}, [("mayor_review", "wang_mayor"), ("vice_review", "zhao_vice")], "001 六十一"),
    ({"request_kind": "征求意见", "important": True}, [("exec_review", "li_exec"), ("mayor_review", "wang_mayor")],
     "000 第五十三条"),
    ({"request_kind": "请示批示", "important": True}, [("exec_review", "li_exec"), ("mayor_review", "wang_mayor")],
     "000 第五十三条"),
]


@pytest.mark.parametrize("facts, order, article", ORDERS, ids=["opinion", "instruction", "important-opinion",
                                                               "important-instruction"])
def test_leaders_see_the_document_in_the_order_its_kind_requires(engine, facts, order, article):
    instance_id = start(engine, **facts)
    register(engine, instance_id)
    assert walk_leaders(engine, instance_id) == order
    data = data_of(engine, instance_id)
    assert article in data["leader_rule"]
    assert [(a["step"], a["by"]) for a in data["approvals"]] == order
    for step, leader in order:  # name and date of every leader's opinion
        assert data[f"{step}_by"] == leader and data[f"{step}_at"].startswith("2026-06-01")
    assert open_tasks(engine, instance_id) == [("send_back", CLERK)]


def test_the_whole_way_to_the_acting_departments_feedback(engine):
    instance_id = start(engine, request_kind="征求意见")
    register(engine, instance_id)
    walk_leaders(engine, instance_id)
    complete(engine, instance_id, "send_back", CLERK,
             {"acting_departments": ["civil_affairs", "education"], "handover_note": "请按区领导批示办理"})
    assert sorted(open_tasks(engine, instance_id)) == [(FEEDBACK, "huang_edu"), (FEEDBACK, "liu_civil")]
    tracked = {t["department"] for t in engine.tasks(instance=instance_id)}
    assert tracked == {"civil_affairs", "education"}
    engine.complete(open_task_of(engine, instance_id, FEEDBACK, "huang_edu")["id"], "huang_edu", {"feedback": "已落实"})
    engine.complete(open_task_of(engine, instance_id, FEEDBACK, "liu_civil")["id"], "liu_civil", {"feedback": "已发放"})
    shown = engine.show(instance_id)
    assert shown["state"] == "completed" and shown["data"]["outcome"] == "done"
    assert sorted((f["department"], f["feedback"]) for f in shown["data"]["feedback_records"]) == [
        ("civil_affairs", "已发放"), ("education", "已落实")]
    fed_back = [e["actor"] for e in shown["events"] if e["action"] == "complete" and e["data"]["task"] == FEEDBACK]
    assert sorted(fed_back) == ["huang_edu", "liu_civil"]


def test_with_no_department_to_act_the_document_is_closed_after_sending_back(engine):
    instance_id = start(engine)
    register(engine, instance_id)
    walk_leaders(engine, instance_id)
    complete(engine, instance_id, "send_back", CLERK, {"acting_departments": []})
    assert engine.show(instance_id)["state"] == "completed"


def open_task_of(engine, instance_id: int, name: str, assignee: str) -> dict:
    [task] = [t for t in engine.tasks(instance=instance_id) if t["name"] == name and t["assignee"] == assignee]
    return task


# --- countersign and the co-signed disagreement (000 第五十八条, 001 五十九) ----------------------------------

def test_three_departments_countersign_and_a_disagreement_is_summarised_and_co_signed(engine):
    instance_id = start(engine, departments_involved=["education", "commerce", "justice", "civil_affairs"])
    assert sorted(open_tasks(engine, instance_id)) == sorted((COUNTERSIGN, head) for head in HEADS.values())
    assert open_tasks(engine, instance_id) and all(
        t["department"] in HEADS for t in engine.tasks(instance=instance_id))  # not the filer's own department
    engine.complete(open_task_of(engine, instance_id, COUNTERSIGN, "huang_edu")["id"], "huang_edu", {"agree": True})
    engine.complete(open_task_of(engine, instance_id, COUNTERSIGN, "he_commerce")["id"], "he_commerce",
                    {"agree": False, "opinion": "补贴资金来源未明确"})
    engine.complete(open_task_of(engine, instance_id, COUNTERSIGN, "lin_justice")["id"], "lin_justice",
                    {"agree": True, "opinion": "无法律障碍"})
    data = data_of(engine, instance_id)
    assert data["countersign_agreed"] is False
    assert [(d["department"], d["opinion"]) for d in data["dissents"]] == [("commerce", "补贴资金来源未明确")]
    assert open_tasks(engine, instance_id) == [("summarise_disagreement", FILER)]

    complete(engine, instance_id, "summarise_disagreement", FILER,
             {"disagreement_summary": "民政局：提标有财力保障；商务局：资金来源未明确", "proposal": "建议由区财政统筹安排"})
    assert sorted(open_tasks(engine, instance_id)) == sorted((COSIGN, head) for head in HEADS.values())
    with pytest.raises(InvalidInput, match="会签确认"):
        engine.complete(open_task_of(engine, instance_id, COSIGN, "he_commerce")["id"], "he_commerce",
                        {"cosigned": False})
    for head in HEADS.values():
        engine.complete(open_task_of(engine, instance_id, COSIGN, head)["id"], head, {"cosigned": True})
    data = data_of(engine, instance_id)
    assert sorted((r["department"], r["cosigned"]) for r in data["cosign_records"]) == sorted(
        (dept, True) for dept in HEADS)
    cosigners = [e["actor"] for e in engine.show(instance_id)["events"]
                 if e["action"] == "complete" and e["data"]["task"] == COSIGN]
    assert sorted(cosigners) == sorted(HEADS.values())
    assert data["proposal"] == "建议由区财政统筹安排"
    assert open_tasks(engine, instance_id) == [("register", CLERK)]


def test_when_every_department_agrees_the_document_goes_straight_to_the_office(engine):
    instance_id = start(engine, departments_involved=["education"])
    complete(engine, instance_id, COUNTERSIGN, "huang_edu", {"agree": True, "opinion": "同意"})
    assert data_of(engine, instance_id)["countersign_agreed"] is True
    assert open_tasks(engine, instance_id) == [("register", CLERK)]


# --- registration or return to the sender (000 第六十条) -------------------------------------------------

def test_a_returned_document_is_fixed_and_resubmitted_in_the_same_instance(engine):
    instance_id = start(engine)
    with pytest.raises(InvalidInput, match="退回理由"):
        complete(engine, instance_id, "register", CLERK, {"action": "退回"})
    reasons = ["未附相关测算材料", "主送机关不规范"]
    for round_number, reason in enumerate(reasons, 1):
        complete(engine, instance_id, "register", CLERK, {"action": "退回", "return_reason": reason})
        assert open_tasks(engine, instance_id) == [("resubmit", FILER)]
        assert data_of(engine, instance_id)["return_rounds"] == round_number
        complete(engine, instance_id, "resubmit", FILER,
                 {"title": "关于调整高龄老人养老服务补贴标准的请示", "body": f"修改稿{round_number}", "matters": 1,
                  "contains_request": False, "revision_note": f"已按意见修改：{reason}"})
        assert open_tasks(engine, instance_id) == [("register", CLERK)]
    register(engine, instance_id)
    data = data_of(engine, instance_id)
    assert data["return_rounds"] == 2 and data["body"] == "修改稿2"
    assert [(r["round"], r["reason"], r["by"]) for r in data["returns"]] == [
        (1, reasons[0], CLERK), (2, reasons[1], CLERK)]
    events = [e for e in engine.show(instance_id)["events"] if e["action"] == "complete"]
    history = [(e["data"]["task"], e["data"]["data"].get("action")) for e in events]
    assert history == [("register", "退回"), ("resubmit", None), ("register", "退回"), ("resubmit", None),
                       ("register", "登记")]
    assert open_tasks(engine, instance_id) == [("mayor_review", "wang_mayor")]


def test_a_resubmission_still_keeps_one_matter_per_request(engine):
    instance_id = start(engine)
    complete(engine, instance_id, "register", CLERK, {"action": "退回", "return_reason": "请补充"})
    with pytest.raises(InvalidInput, match="一文一事"):
        complete(engine, instance_id, "resubmit", FILER,
                 {"title": "标题", "body": "正文", "matters": 2, "contains_request": False, "revision_note": "合并"})


# --- clear opinions and what circling means (000 第五十四条) ----------------------------------------------

@pytest.mark.parametrize("doc_type, meaning", [("报告", "已阅"), ("请示", "同意")])
def test_circling_means_read_on_a_report_and_agreed_on_a_request(engine, doc_type, meaning):
    instance_id = start(engine, doc_type=doc_type, request_kind="征求意见")
    register(engine, instance_id)
    complete(engine, instance_id, "vice_review", "zhao_vice", {"opinion_kind": "圈阅"})
    data = data_of(engine, instance_id)
    assert data["circled_meaning"] == meaning
    assert data["approvals"][0]["circled_meaning"] == meaning and data["approvals"][0]["by"] == "zhao_vice"


def test_an_opinion_must_be_written_unless_the_leader_circles(engine):
    instance_id = start(engine)
    register(engine, instance_id)
    with pytest.raises(InvalidInput, match="意见明确"):
        complete(engine, instance_id, "mayor_review", "wang_mayor", {"opinion_kind": "批示", "opinion": "  "})
    complete(engine, instance_id, "mayor_review", "wang_mayor", {"opinion_kind": "批示", "opinion": "同意"})
    assert data_of(engine, instance_id)["circled_meaning"] is None


def test_only_the_assigned_leader_may_approve(engine):
    instance_id = start(engine)
    register(engine, instance_id)
    with pytest.raises(Forbidden):
        complete(engine, instance_id, "mayor_review", "zhao_vice", {"opinion_kind": "圈阅"})
    with pytest.raises(Forbidden):
        complete(engine, instance_id, "mayor_review", FILER, {"opinion_kind": "圈阅"})
    assert open_tasks(engine, instance_id) == [("mayor_review", "wang_mayor")]


# --- co-approval (002 四十六) ----------------------------------------------------------------------------

def test_a_leader_may_pass_the_document_to_another_leader_for_co_approval(engine):
    instance_id = start(engine, request_kind="征求意见")
    register(engine, instance_id)
    complete(engine, instance_id, "vice_review", "zhao_vice",
             {"opinion_kind": "批示", "opinion": "拟同意，请孙副区长会批", "co_approver": "sun_vice"})
    assert open_tasks(engine, instance_id) == [("co_approve", "sun_vice")]
    with pytest.raises(Forbidden):
        complete(engine, instance_id, "co_approve", "zhao_vice", {"opinion_kind": "圈阅"})
    complete(engine, instance_id, "co_approve", "sun_vice", {"opinion_kind": "圈阅"})
    assert open_tasks(engine, instance_id) == [("mayor_review", "wang_mayor")]
    complete(engine, instance_id, "mayor_review", "wang_mayor", {"opinion_kind": "批示", "opinion": "同意"})
    data = data_of(engine, instance_id)
    assert [(a["step"], a["by"]) for a in data["approvals"]] == [
        ("vice_review", "zhao_vice"), ("co_approve", "sun_vice"), ("mayor_review", "wang_mayor")]
    assert data["approvals"][1]["requested_by"] == "zhao_vice" and data["approvals"][1]["circled_meaning"] == "同意"
    assert data["co_approver"] is None
    assert open_tasks(engine, instance_id) == [("send_back", CLERK)]


# --- limits: 5 working days for a leader, 1 to send it back (002 四十六) --------------------------------------

def limits_of(engine, instance_id: int) -> dict:
    [instance] = [i for i in engine.compliance("document_incoming")["instances"] if i["instance"] == instance_id]
    return {limit["task"]: limit for limit in instance["limits"]}


def test_the_five_working_days_of_a_leader_skip_the_dragon_boat_festival(engine, clock):
    clock.set(parse_instant("2026-06-15T09:00:00+08:00"))  # Monday; Friday 06-19 is the Dragon Boat Festival
    instance_id = start(engine)
    register(engine, instance_id)
    task = open_task(engine, instance_id, "mayor_review")
    # Tue 16, Wed 17, Thu 18, (Fri 19 holiday, weekend), Mon 22, Tue 23: due at the end of Tuesday 06-23.
    assert task["due_at"] == "2026-06-24T00:00:00+08:00"
    clock.set(parse_instant("2026-06-23T18:00:00+08:00"))
    limit = limits_of(engine, instance_id)["mayor_review"]
    assert (limit["status"], limit["limit"]) == ("pending", "领导审批（5个工作日）")
    clock.set(parse_instant("2026-06-24T09:00:00+08:00"))
    assert limits_of(engine, instance_id)["mayor_review"]["status"] == "overdue"
    complete(engine, instance_id, "mayor_review", "wang_mayor", {"opinion_kind": "批示", "opinion": "同意"})
    assert limits_of(engine, instance_id)["mayor_review"]["status"] == "late"

    vice = open_task(engine, instance_id, "vice_review")  # Wed 06-24: Thu 25 ... Wed 07-01
    assert vice["due_at"] == "2026-07-02T00:00:00+08:00"
    complete(engine, instance_id, "vice_review", "zhao_vice", {"opinion_kind": "圈阅"})
    assert limits_of(engine, instance_id)["vice_review"]["status"] == "met"
    send_back = open_task(engine, instance_id, "send_back")  # one working day: the end of Thursday 06-25
    assert send_back["due_at"] == "2026-06-26T00:00:00+08:00"
    assert limits_of(engine, instance_id)["send_back"]["limit"] == "退回承办单位（1个工作日）"


def test_an_overdue_approval_is_flagged_to_the_office_and_can_still_be_given(engine, clock):
    clock.set(parse_instant("2026-06-15T09:00:00+08:00"))
    instance_id = start(engine)
    register(engine, instance_id)
    clock.set(parse_instant("2026-06-23T23:59:00+08:00"))  # the last minute of the fifth working day
    engine.fire_due_timers()
    assert "chase_mayor_review" not in [name for name, _ in open_tasks(engine, instance_id)]
    clock.set(parse_instant("2026-06-24T00:00:00+08:00"))
    engine.fire_due_timers()
    chase = open_task(engine, instance_id, "chase_mayor_review")
    assert chase["assignee"] == "zheng_clerk" and chase["title"] == "超期督办：区长审批"
    assert data_of(engine, instance_id)["overdue_mayor_review"] is True
    clock.set(parse_instant("2026-06-24T09:00:00+08:00"))
    complete(engine, instance_id, "chase_mayor_review", "zheng_clerk", {"action": "已电话提醒区长秘书"})
    complete(engine, instance_id, "mayor_review", "wang_mayor", {"opinion_kind": "批示", "opinion": "同意"})
    assert limits_of(engine, instance_id)["mayor_review"]["status"] == "late"


# --- classification ----------------------------------------------------------------------------------

def test_a_classified_document_is_seen_only_by_those_with_a_task_on_it(engine):
    instance_id = start(engine, classification="机密")
    register(engine, instance_id)
    assert engine.show(instance_id, viewer="wang_mayor")["data"]["classification"] == "机密"
    with pytest.raises(Forbidden):
        engine.show(instance_id, viewer="he_commerce")
