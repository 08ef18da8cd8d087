"""Outgoing documents 发文签发: drafting and the department head's check with countersign (002 四十七, 001 六十二),
length limits (003 第六十条), fair-competition and legality review of normative documents (002 四十七(一)), office
review (002 四十七), who signs per district (000 第五十五条, 001 六十二, 002 四十七(二), 003 第五十八条), seal approval
(001 六十四) and the document number in sequence per issuer and year. Clock injected; no sleep."""
import pytest

from engine.errors import Forbidden, InvalidInput

from .helpers import open_task, work_in

DRAFTER, HEAD = "ma_civil_staff", "liu_civil"  # 区民政局: its vice-mayor in charge is zhao_vice
SIGN_STEPS = ["sign_vice", "sign_exec", "sign_mayor"]
SIGNER = {"sign_vice": "zhao_vice", "sign_exec": "li_exec", "sign_mayor": "wang_mayor"}
OK = {"dept_head_check": {"decision": "同意"}, "office_deputy_review": {"decision": "同意"},
      "office_director_review": {"decision": "同意"}, "fair_competition_review": {"decision": "通过"},
      "legality_review": {"decision": "通过"}, "sign_vice": {"decision": "签发"}, "sign_exec": {"decision": "签发"},
      "sign_mayor": {"decision": "签发"}, "seal_approval": {"decision": "批准用印"},
      "office_seal_approval": {"decision": "批准用印"}}


def draft(**changes) -> dict:
    data = {"title": "关于做好社区养老服务工作的通知", "body": "正文" * 100, "pages": 3, "doc_kind": "通知",
            "issuer": "government", "to_city_or_congress": False, "within_one_portfolio": True,
            "passed_standing_meeting_minor_changes": False, "normative": False, "affects_market": False}
    data.update(changes)
    return data


def start(engine, district="fangshan", **changes) -> int:
    """A document drafted in ``district``."""
    work_in(engine, district)
    return engine.start(f"document_outgoing.{district}", DRAFTER, draft(**changes))["instance"]


def step(engine, instance_id: int, name: str, data: dict | None = None, actor: str | None = None) -> dict:
    task = open_task(engine, instance_id, name)
    return engine.complete(task["id"], actor or task["assignee"], data or OK[name])


def walk(engine, instance_id: int) -> list[tuple[str, str]]:
    """Agree at every step as it comes; the (task, assignee) steps in order."""
    steps = []
    while True:
        tasks = [t for t in engine.tasks(instance=instance_id) if t["name"] in OK]
        if not tasks:
            return steps
        [task] = tasks
        steps.append((task["name"], task["assignee"]))
        engine.complete(task["id"], task["assignee"], OK[task["name"]])


def signing(steps) -> list[str]:
    return [name for name, _ in steps if name in SIGN_STEPS]


ROUTES = [
    # Fangshan 000 第五十五条
    ("fangshan", {"doc_kind": "令", "issuer": "government"}, ["sign_mayor"]),
    ("fangshan", {"doc_kind": "议案", "issuer": "government", "to_city_or_congress": True}, ["sign_mayor"]),
    ("fangshan", {"doc_kind": "通知", "issuer": "government"}, ["sign_mayor"]),
    ("fangshan", {"doc_kind": "函", "issuer": "government", "to_city_or_congress": True},
     ["sign_vice", "sign_exec", "sign_mayor"]),
    ("fangshan", {"doc_kind": "通知", "issuer": "office", "to_city_or_congress": True},
     ["sign_vice", "sign_exec", "sign_mayor"]),
    ("fangshan", {"doc_kind": "函", "issuer": "government"}, ["sign_vice"]),
    ("fangshan", {"doc_kind": "通知", "issuer": "office"}, ["sign_vice"]),
    # Dong'an 001 六十二
    ("dongan", {"doc_kind": "令", "issuer": "government"}, ["sign_mayor"]),
    ("dongan", {"doc_kind": "议案", "issuer": "government", "to_city_or_congress": True}, ["sign_mayor"]),
    ("dongan", {"doc_kind": "通知", "issuer": "government"}, ["sign_vice", "sign_exec", "sign_mayor"]),
    ("dongan", {"doc_kind": "通知", "issuer": "office"}, ["sign_exec"]),
    # Xicheng 002 四十七(二)
    ("xicheng", {"doc_kind": "令", "issuer": "government"}, ["sign_mayor"]),
    ("xicheng", {"doc_kind": "函", "issuer": "office", "to_city_or_congress": True}, ["sign_exec", "sign_mayor"]),
    ("xicheng", {"doc_kind": "意见", "issuer": "government"}, ["sign_mayor"]),
    ("xicheng", {"doc_kind": "函", "issuer": "government"}, ["sign_vice"]),
    ("xicheng", {"doc_kind": "通知", "issuer": "office"}, ["sign_vice"]),
    # Jinghai 003 第五十八条
    ("jinghai", {"doc_kind": "议案", "to_city_or_congress": True}, ["sign_mayor"]),
    ("jinghai", {"doc_kind": "报告", "to_city_or_congress": True}, ["sign_mayor"]),
    ("jinghai", {"doc_kind": "通知", "passed_standing_meeting_minor_changes": True, "within_one_portfolio": False},
     ["sign_vice"]),
    ("jinghai", {"doc_kind": "通知", "issuer": "office"}, ["sign_vice"]),
    ("jinghai", {"doc_kind": "意见", "within_one_portfolio": False}, ["sign_mayor"]),
]
ARTICLE = {"fangshan": "000 第五十五条", "dongan": "001 六十二", "xicheng": "002 四十七", "jinghai": "003 第五十八条"}


@pytest.mark.parametrize("district, changes, route", ROUTES,
                         ids=[f"{d}-{c['doc_kind']}-{c.get('issuer', 'government')}-{i}"
                              for i, (d, c, _) in enumerate(ROUTES)])
def test_each_districts_signing_rule(engine, district, changes, route):
    instance_id = start(engine, district, **changes)
    steps = walk(engine, instance_id)
    assert signing(steps) == route
    assert all(assignee == SIGNER[name] for name, assignee in steps if name in SIGN_STEPS)
    assert [name for name, _ in steps][:3] == ["dept_head_check", "office_deputy_review", "office_director_review"]
    assert steps[0][1] == HEAD and steps[1][1] == "wu_deputy" and steps[2][1] == "chen_director"
    data = engine.show(instance_id)["data"]
    assert data["outcome"] == "issued" and ARTICLE[district] in data["sign_rule"]
    assert [s["by"] for s in data["signatures"]] == [SIGNER[name] for name in route]
    assert all(s["at"] and s["decision"] == "签发" for s in data["signatures"])


def test_a_jinghai_vice_mayor_may_refer_a_document_in_their_portfolio_to_the_mayor(engine):
    instance_id = start(engine, "jinghai")
    for name in ("dept_head_check", "office_deputy_review", "office_director_review"):
        step(engine, instance_id, name)
    step(engine, instance_id, "sign_vice", {"decision": "报区长签发", "opinion": "涉及面广，请区长签发"})
    assert open_task(engine, instance_id, "sign_mayor")["assignee"] == "wang_mayor"
    assert signing(walk(engine, instance_id)) == ["sign_mayor"]
    data = engine.show(instance_id)["data"]
    assert [s["decision"] for s in data["signatures"]] == ["报区长签发", "签发"]


def test_after_the_standing_meeting_the_vice_mayor_signs_and_may_not_refer(engine):
    instance_id = start(engine, "jinghai", passed_standing_meeting_minor_changes=True, within_one_portfolio=False)
    for name in ("dept_head_check", "office_deputy_review", "office_director_review"):
        step(engine, instance_id, name)
    with pytest.raises(InvalidInput, match="003 第五十八条"):
        step(engine, instance_id, "sign_vice", {"decision": "报区长签发"})
    assert signing(walk(engine, instance_id)) == ["sign_vice"]


def test_someone_who_is_not_the_assignee_cannot_sign(engine):
    instance_id = start(engine, "dongan")
    for name in ("dept_head_check", "office_deputy_review", "office_director_review"):
        step(engine, instance_id, name)
    task = open_task(engine, instance_id, "sign_vice")
    for intruder in ("sun_vice", "wang_mayor", DRAFTER):
        with pytest.raises(Forbidden):
            engine.complete(task["id"], intruder, {"decision": "签发"})
    engine.complete(task["id"], "zhao_vice", {"decision": "签发"})
    with pytest.raises(Forbidden):
        step(engine, instance_id, "sign_exec", {"decision": "签发"}, actor="zhao_vice")


def test_a_signer_may_return_the_draft_for_revision(engine):
    instance_id = start(engine, "fangshan")
    for name in ("dept_head_check", "office_deputy_review", "office_director_review"):
        step(engine, instance_id, name)
    step(engine, instance_id, "sign_mayor", {"decision": "退回", "opinion": "请压缩篇幅"})
    revise = open_task(engine, instance_id, "revise")
    assert revise["assignee"] == DRAFTER
    data = engine.show(instance_id)["data"]
    assert data["returns"][-1]["step"] == "区长签发" and data["returns"][-1]["opinion"] == "请压缩篇幅"
    engine.complete(revise["id"], DRAFTER, {"action": "撤回", "title": "标题", "body": "正文", "pages": 1})
    shown = engine.show(instance_id)
    assert shown["state"] == "completed" and shown["data"]["outcome"] == "withdrawn"


# --- document numbers ---------------------------------------------------------------------------------

def test_document_numbers_run_in_sequence_per_issuer_and_year(engine):
    numbers = []
    for issuer in ("government", "government", "office"):
        instance_id = start(engine, "dongan", issuer=issuer)
        walk(engine, instance_id)
        data = engine.show(instance_id)["data"]
        assert data["outcome"] == "issued" and data["issue_year"] == 2026
        numbers.append(data["document_number"])
    assert numbers == ["区政发〔2026〕1号", "区政发〔2026〕2号", "区政办发〔2026〕1号"]


def test_the_year_of_the_number_is_the_year_of_issue_in_shanghai(engine, clock):
    from engine.clock import parse_instant
    instance_id = start(engine, "fangshan")
    for name in ("dept_head_check", "office_deputy_review", "office_director_review", "sign_mayor"):
        step(engine, instance_id, name)
    clock.set(parse_instant("2027-01-01T00:30:00+08:00"))  # still 2026 in UTC
    step(engine, instance_id, "seal_approval")
    assert engine.show(instance_id)["data"]["document_number"] == "区政发〔2027〕1号"


# --- seal 用印 (001 六十四) -------------------------------------------------------------------------------

def test_the_government_seal_needs_the_mayor_or_a_vice_mayor_the_mayor_entrusts(engine):
    instance_id = start(engine, "fangshan", doc_kind="函")
    for name in ("dept_head_check", "office_deputy_review", "office_director_review", "sign_vice"):
        step(engine, instance_id, name)
    seal = open_task(engine, instance_id, "seal_approval")
    assert seal["assignee"] == "wang_mayor"
    with pytest.raises(Forbidden):
        engine.complete(seal["id"], "zhao_vice", {"decision": "批准用印"})
    with pytest.raises(InvalidInput, match="001 六十四"):
        engine.complete(seal["id"], "wang_mayor", {"decision": "委托副区长签批"})
    engine.complete(seal["id"], "wang_mayor", {"decision": "委托副区长签批", "seal_entrusted_to": "zhao_vice"})
    seal = open_task(engine, instance_id, "seal_approval")
    assert seal["assignee"] == "zhao_vice"
    with pytest.raises(InvalidInput):  # only the mayor entrusts
        engine.complete(seal["id"], "zhao_vice", {"decision": "委托副区长签批", "seal_entrusted_to": "sun_vice"})
    engine.complete(seal["id"], "zhao_vice", {"decision": "批准用印"})
    data = engine.show(instance_id)["data"]
    assert data["outcome"] == "issued" and data["document_number"] == "区政发〔2026〕1号"
    assert data["seal_record"]["by"] == "zhao_vice" and data["seal_record"]["entrusted_by"] == "wang_mayor"


def test_the_office_seal_needs_the_office_director(engine):
    instance_id = start(engine, "dongan", issuer="office")
    steps = walk(engine, instance_id)
    assert steps[-1] == ("office_seal_approval", "chen_director")
    assert engine.show(instance_id)["data"]["document_number"] == "区政办发〔2026〕1号"


# --- length limits (003 第六十条) ------------------------------------------------------------------------

@pytest.mark.parametrize("kind, chars, pages, over", [
    ("简报", 2000, 1, False), ("简报", 2001, 20, True), ("专项工作", 4000, 10, False), ("专项工作", 4001, 3, True),
    ("通知", 5000, 10, False), ("通知", 5001, 3, True), ("通知", 100, 11, True), ("研究报告", 4001, 3, True),
])
def test_length_limits_by_kind(engine, kind, chars, pages, over):
    work_in(engine, "xicheng")
    result = engine.start("document_outgoing.xicheng", DRAFTER, draft(doc_kind=kind, body="字" * chars, pages=pages))
    assert [t["name"] for t in result["tasks"]] == (["length_exception"] if over else ["dept_head_check"])
    data = engine.show(result["instance"])["data"]
    assert data["char_count"] == chars and data["length_ok"] is (not over)


def test_over_the_limit_the_office_director_grants_an_exception_with_a_reason(engine):
    instance_id = start(engine, "jinghai", doc_kind="简报", body="字" * 2345,
                        length_exception_reason="汇总全区半年工作，综合性强")
    task = open_task(engine, instance_id, "length_exception")
    assert task["assignee"] == "chen_director"
    with pytest.raises(InvalidInput, match="须写明理由"):
        engine.complete(task["id"], "chen_director", {"decision": "准予超出篇幅"})
    engine.complete(task["id"], "chen_director", {"decision": "准予超出篇幅", "exception_reason": "综合性工作简报"})
    assert open_task(engine, instance_id, "dept_head_check")["assignee"] == HEAD
    exception = engine.show(instance_id)["data"]["length_exception"]
    assert exception["granted_by"] == "chen_director" and exception["reason"] == "综合性工作简报"
    assert (exception["char_count"], exception["char_limit"]) == (2345, 2000)
    assert exception["drafter_reason"] == "汇总全区半年工作，综合性强"
    walk(engine, instance_id)
    assert engine.show(instance_id)["data"]["outcome"] == "issued"


def test_over_the_limit_and_refused_the_document_is_rejected_with_the_count_and_the_article(engine):
    instance_id = start(engine, "fangshan", doc_kind="专项工作", body="字" * 4500, pages=12)
    step(engine, instance_id, "length_exception", {"decision": "不予准许", "opinion": "请精简"})
    shown = engine.show(instance_id)
    assert shown["state"] == "completed" and engine.tasks(instance=instance_id) == []
    reason = shown["data"]["rejection_reason"]
    assert shown["data"]["outcome"] == "rejected"
    assert "正文4500字，超过4000字" in reason and "共12页，超过10页" in reason and "003 第六十条" in reason
    assert "document_number" not in shown["data"]


# --- normative documents: reviews before office review (002 四十七(一)) ----------------------------------

def test_a_normative_document_that_fails_legality_review_goes_back_and_cannot_proceed_until_it_passes(engine):
    instance_id = start(engine, "xicheng", normative=True, affects_market=True)
    step(engine, instance_id, "dept_head_check")
    fair = open_task(engine, instance_id, "fair_competition_review")
    assert fair["assignee"] == HEAD  # the drafting body reviews fair competition first (002 四十七(一))
    step(engine, instance_id, "fair_competition_review")
    legality = open_task(engine, instance_id, "legality_review")
    assert legality["assignee"] == "lin_justice"
    with pytest.raises(Forbidden):
        engine.complete(legality["id"], "chen_director", {"decision": "通过"})
    engine.complete(legality["id"], "lin_justice", {"decision": "不通过", "opinion": "第五条缺乏上位法依据"})
    assert [t["name"] for t in engine.tasks(instance=instance_id)] == ["revise"]
    data = engine.show(instance_id)["data"]
    assert data["returns"][-1] == {"step": "合法性审查", "by": "lin_justice", "at": data["returns"][-1]["at"],
                                   "opinion": "第五条缺乏上位法依据"}
    step(engine, instance_id, "revise", {"action": "重新提交", "title": "修改稿", "body": "修改后正文",
                                         "pages": 2, "revision_note": "删去第五条"})
    # The revised draft starts again from the department head; it reaches the office only after both reviews pass.
    step(engine, instance_id, "dept_head_check")
    step(engine, instance_id, "fair_competition_review")
    step(engine, instance_id, "legality_review", {"decision": "不通过", "opinion": "仍有问题"})
    step(engine, instance_id, "revise", {"action": "重新提交", "title": "再修改稿", "body": "再修改", "pages": 2})
    steps = walk(engine, instance_id)
    assert [name for name, _ in steps][:4] == ["dept_head_check", "fair_competition_review", "legality_review",
                                               "office_deputy_review"]
    data = engine.show(instance_id)["data"]
    assert data["outcome"] == "issued" and data["title"] == "再修改稿" and len(data["returns"]) == 2


def test_a_failed_fair_competition_review_also_sends_it_back(engine):
    instance_id = start(engine, "dongan", doc_kind="规范性文件", affects_market=True)
    assert engine.show(instance_id)["data"]["normative"] is True
    step(engine, instance_id, "dept_head_check")
    step(engine, instance_id, "fair_competition_review", {"decision": "不通过", "opinion": "限定了特定经营者"})
    assert [t["name"] for t in engine.tasks(instance=instance_id)] == ["revise"]


def test_a_normative_document_without_market_effect_goes_straight_to_legality_review(engine):
    instance_id = start(engine, "jinghai", normative=True)
    step(engine, instance_id, "dept_head_check")
    assert [t["name"] for t in engine.tasks(instance=instance_id)] == ["legality_review"]


def test_a_non_normative_document_skips_the_reviews(engine):
    steps = walk(engine, start(engine, "fangshan"))
    assert "legality_review" not in [n for n, _ in steps] and "fair_competition_review" not in [n for n, _ in steps]


# --- department head and countersign (002 四十七, 001 六十二) ----------------------------------------------

def test_other_departments_heads_countersign_and_a_dissent_sends_it_back(engine):
    instance_id = start(engine, "xicheng", departments_involved=["education", "commerce", "civil_affairs"])
    step(engine, instance_id, "dept_head_check")
    children = {t["assignee"]: t for t in engine.tasks(instance=instance_id) if t["name"] == "countersign [child]"}
    assert set(children) == {"huang_edu", "he_commerce"}  # not the drafting department itself
    with pytest.raises(InvalidInput):
        engine.complete(children["he_commerce"]["id"], "he_commerce", {"agree": False})
    engine.complete(children["huang_edu"]["id"], "huang_edu", {"agree": True})
    engine.complete(children["he_commerce"]["id"], "he_commerce", {"agree": False, "reasons": "涉及商务局职权"})
    assert [t["name"] for t in engine.tasks(instance=instance_id)] == ["revise"]
    data = engine.show(instance_id)["data"]
    assert data["returns"][-1]["step"] == "部门会签" and "commerce：涉及商务局职权" in data["returns"][-1]["opinion"]


def test_all_countersigned_it_goes_on_to_the_office(engine):
    instance_id = start(engine, "dongan", departments_involved=["education"])
    step(engine, instance_id, "dept_head_check")
    child = open_task(engine, instance_id, "countersign [child]")
    assert child["assignee"] == "huang_edu"
    engine.complete(child["id"], "huang_edu", {"agree": True, "reasons": "无意见"})
    assert [t["name"] for t in engine.tasks(instance=instance_id)] == ["office_deputy_review"]
    assert engine.show(instance_id)["data"]["countersign_opinions"][0]["department"] == "education"


def test_only_the_filing_departments_head_checks_and_only_staff_or_heads_start(engine):
    instance_id = start(engine, "fangshan")
    task = open_task(engine, instance_id, "dept_head_check")
    assert task["assignee"] == HEAD
    with pytest.raises(Forbidden):
        engine.complete(task["id"], "huang_edu", {"decision": "同意"})
    with pytest.raises(Forbidden):
        engine.start("document_outgoing.fangshan", "wang_mayor", draft())
    step(engine, instance_id, "dept_head_check", {"decision": "退回", "opinion": "数据需核实"})
    assert open_task(engine, instance_id, "revise")["assignee"] == DRAFTER
