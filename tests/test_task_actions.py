"""The task actions Chinese government offices use, run on the incoming-document procedure (收文呈批) with the
real engine: 认领/释放, 退回 (return to an earlier step, a new round), 撤回 (withdraw while the next step is
untouched), 转办, 委派 (comes back after the delegate acts), 加签 before and after, 抄送 with read receipts,
催办, overdue notices, comments, and what the inbox and task page show. Every refusal changes nothing."""
from datetime import timedelta

import pytest

from engine import directory
from engine.clock import parse_instant
from engine.errors import Conflict, Forbidden, InvalidInput, NotFound

from .helpers import open_task, snapshot
from .test_document_incoming import CLERK, FILER, REGISTER, complete, start

VICE = "wang_mayor"  # the request goes to the mayor after registration
EXEC = "li_exec"
STAFF = "ma_civil_staff"
OUTSIDER = "he_commerce"
AUDITOR = "shen_auditor"
OPINION = {"opinion_kind": "批示", "opinion": "同意，请抓好落实"}


def registered(engine) -> int:
    """A request filed by the civil-affairs head and registered by the clerk: waiting for the vice-mayor."""
    instance_id = start(engine)
    complete(engine, instance_id, "register", CLERK, REGISTER)
    return instance_id


def rows(engine, instance_id, name):
    return [(t["state"], t["assignee"], t["completed_by"], t["round"])
            for t in engine.tasks(instance=instance_id, state=None) if t["name"] == name]


def kinds(engine, user):
    return [n["kind"] for n in engine.notifications(user)]


# --- 退回 return -----------------------------------------------------------------------------------------

def test_return_reopens_the_earlier_step_for_its_person_with_their_draft(engine):
    instance_id = registered(engine)
    review = open_task(engine, instance_id, "mayor_review")
    view = engine.task_view(review["id"], VICE)
    assert "return" in view["actions"]
    [register] = view["returnable"]
    assert register["completed_by"] == CLERK

    engine.return_task(review["id"], VICE, register["id"], "拟办意见不明确，请补充")

    assert rows(engine, instance_id, "register") == [("completed", CLERK, CLERK, 1), ("open", CLERK, None, 2)]
    assert rows(engine, instance_id, "mayor_review") == [("returned", VICE, None, 1)]
    reopened = open_task(engine, instance_id, "register")
    assert engine.task_view(reopened["id"], CLERK)["task"]["draft"] == REGISTER
    assert kinds(engine, CLERK)[0] == "returned"
    [event] = [e for e in engine.show(instance_id)["events"] if e["action"] == "return"]
    assert event["actor"] == VICE and event["data"]["reason"] == "拟办意见不明确，请补充"
    assert event["data"]["round"] == 2
    assert "register" in engine.task_view(reopened["id"], CLERK)["diagram"]["returned"]

    complete(engine, instance_id, "register", CLERK, {**REGISTER, "proposed_handling": "拟请分管副区长阅示"})
    assert open_task(engine, instance_id, "mayor_review")["assignee"] == VICE
    assert engine.show(instance_id)["data"]["proposed_handling"] == "拟请分管副区长阅示"


def test_a_return_to_a_step_not_on_the_path_or_by_someone_else_changes_nothing(engine):
    instance_id = registered(engine)
    review = open_task(engine, instance_id, "mayor_review")
    [register] = engine.task_view(review["id"], VICE)["returnable"]
    before = snapshot(engine)
    with pytest.raises(InvalidInput):
        engine.return_task(review["id"], VICE, review["id"], "no")
    with pytest.raises(InvalidInput):
        engine.return_task(review["id"], VICE, register["id"], "  ")
    with pytest.raises(Forbidden):
        engine.return_task(review["id"], OUTSIDER, register["id"], "not mine")
    assert snapshot(engine) == before


# --- 撤回 withdraw -------------------------------------------------------------------------------------

def test_withdraw_takes_back_the_last_step_while_the_next_is_untouched(engine):
    instance_id = registered(engine)
    [done] = [t for t in engine.tasks(instance=instance_id, state="completed") if t["name"] == "register"]
    assert "withdraw" in engine.task_view(done["id"], CLERK)["actions"]
    assert engine.instance_view(instance_id, CLERK)["withdrawable"] == [done["id"]]

    engine.withdraw(done["id"], CLERK, "编号写错了")

    assert rows(engine, instance_id, "register") == [("completed", CLERK, CLERK, 1), ("open", CLERK, None, 2)]
    assert rows(engine, instance_id, "mayor_review") == [("withdrawn", VICE, None, 1)]
    assert "withdrawn" in kinds(engine, VICE)


def test_withdraw_is_refused_once_the_next_step_was_acted_on_or_by_another(engine):
    instance_id = registered(engine)
    [done] = [t for t in engine.tasks(instance=instance_id, state="completed") if t["name"] == "register"]
    with pytest.raises(Forbidden):
        engine.withdraw(done["id"], VICE, "not mine")
    complete(engine, instance_id, "mayor_review", VICE, OPINION)
    before = snapshot(engine)
    with pytest.raises(Conflict, match="acted on"):
        engine.withdraw(done["id"], CLERK, "too late")
    assert "withdraw" not in engine.task_view(done["id"], CLERK)["actions"]
    assert snapshot(engine) == before


# --- 转办 / 委派 / 加签 ----------------------------------------------------------------------------------

def test_transfer_gives_the_task_to_another_person_only(engine):
    instance_id = registered(engine)
    review = open_task(engine, instance_id, "mayor_review")
    engine.transfer(review["id"], VICE, EXEC, "本周出差，请李区长代为审阅")
    assert open_task(engine, instance_id, "mayor_review")["assignee"] == EXEC
    assert "transferred" in kinds(engine, EXEC)
    before = snapshot(engine)
    with pytest.raises(Forbidden):
        engine.complete(review["id"], VICE, OPINION)
    with pytest.raises(NotFound):
        engine.transfer(review["id"], EXEC, "nobody", "x")
    assert snapshot(engine) == before
    engine.complete(review["id"], EXEC, OPINION)
    assert rows(engine, instance_id, "mayor_review") == [("completed", EXEC, EXEC, 1)]


def test_delegated_task_comes_back_with_the_delegates_input(engine):
    instance_id = start(engine)
    register = open_task(engine, instance_id, "register")
    engine.delegate(register["id"], CLERK, STAFF, "请先核对来文并拟办")
    assert engine.inbox(STAFF, "todo")["rows"][0]["kind"] == "delegated"
    with pytest.raises(Forbidden):
        engine.complete(register["id"], CLERK, REGISTER)

    engine.complete(register["id"], STAFF, REGISTER)
    back = open_task(engine, instance_id, "register")
    assert back["id"] == register["id"] and back["assignee"] == CLERK
    view = engine.task_view(register["id"], CLERK)
    assert view["task"]["draft"] == REGISTER and [h["by"] for h in view["task"]["hops"]] == [STAFF]
    assert not [t for t in engine.tasks(instance=instance_id) if t["name"] == "mayor_review"]

    engine.complete(register["id"], CLERK, REGISTER)
    assert open_task(engine, instance_id, "mayor_review")["assignee"] == VICE
    assert [s["by"] for s in engine.show(instance_id)["data"]["register_signers"]] == [STAFF]


@pytest.mark.parametrize("position, order", [("before", [EXEC, VICE]), ("after", [VICE, EXEC])])
def test_an_added_signer_acts_before_or_after_the_holder(engine, position, order):
    instance_id = registered(engine)
    review = open_task(engine, instance_id, "mayor_review")
    engine.add_signer(review["id"], VICE, EXEC, position, "涉及财政资金，请常务副区长一并审阅")
    acted = []
    for _ in order:
        holder = open_task(engine, instance_id, "mayor_review")["assignee"]
        acted.append(holder)
        engine.complete(review["id"], holder, OPINION)
    assert acted == order
    assert rows(engine, instance_id, "mayor_review") == [("completed", order[-1], order[-1], 1)]
    assert [s["by"] for s in engine.show(instance_id)["data"]["mayor_review_signers"]] == order[:1]


def test_an_added_signer_must_be_a_new_active_person(engine):
    instance_id = registered(engine)
    review = open_task(engine, instance_id, "mayor_review")
    before = snapshot(engine)
    with pytest.raises(InvalidInput):
        engine.add_signer(review["id"], VICE, VICE, "after", "self")
    with pytest.raises(InvalidInput):
        engine.add_signer(review["id"], VICE, EXEC, "sideways", "x")
    with pytest.raises(Forbidden):
        engine.add_signer(review["id"], OUTSIDER, EXEC, "after", "not mine")
    assert snapshot(engine) == before


# --- 认领 / 释放 ---------------------------------------------------------------------------------------

def test_a_role_task_is_claimed_by_one_holder_and_released_back(engine):
    with engine.unit_of_work() as uow:
        directory.put_user(uow.session, {"username": "qin_clerk", "display_name": "秦文秘", "roles": ["office_clerk"]})
    instance_id = start(engine)
    register = open_task(engine, instance_id, "register")
    assert register["assignee"] is None
    assert [r["id"] for r in engine.inbox("qin_clerk", "claimable")["rows"]] == [register["id"]]
    assert engine.task_view(register["id"], CLERK)["actions"][0] == "claim"

    engine.claim(register["id"], "qin_clerk")
    assert engine.inbox("qin_clerk", "todo")["total"] == 1 and engine.inbox(CLERK, "claimable")["total"] == 0
    before = snapshot(engine)
    with pytest.raises(Conflict):
        engine.claim(register["id"], CLERK)
    with pytest.raises(Forbidden):
        engine.complete(register["id"], CLERK, REGISTER)
    assert snapshot(engine) == before
    engine.release(register["id"], "qin_clerk")
    assert engine.inbox(CLERK, "claimable")["total"] == 1


def test_only_a_claimed_task_can_be_released(engine):
    """A task the rules gave to one person (here the mayor) cannot be put back into a pool."""
    instance_id = registered(engine)
    review = open_task(engine, instance_id, "mayor_review")
    assert "release" not in engine.task_view(review["id"], VICE)["actions"]
    before = snapshot(engine)
    with pytest.raises(Conflict):
        engine.release(review["id"], VICE)
    assert snapshot(engine) == before


# --- 抄送 / 催办 / overdue / comments ------------------------------------------------------------------

def test_a_copy_gives_read_only_access_and_records_the_read_receipt(engine):
    instance_id = registered(engine)
    with pytest.raises(Forbidden):
        engine.show(instance_id, viewer=OUTSIDER)
    [copy] = engine.copy_to(instance_id, VICE, [OUTSIDER], "请知悉")
    assert engine.counts(OUTSIDER)["copied_unread"] == 1
    [row] = engine.inbox(OUTSIDER, "copied")["rows"]
    assert row["read_at"] is None and row["sent_by"] == VICE
    assert engine.show(instance_id, viewer=OUTSIDER)["copies"][0]["recipient"] == OUTSIDER
    view = engine.instance_view(instance_id, OUTSIDER)
    assert "urge" not in view["actions"]

    first = engine.read_copy(copy["id"], OUTSIDER)
    again = engine.read_copy(copy["id"], OUTSIDER)
    assert first["read_at"] == again["read_at"] is not None
    assert engine.counts(OUTSIDER)["copied_unread"] == 0
    assert [e["action"] for e in engine.show(instance_id)["events"]].count("read_copy") == 1
    with pytest.raises(Forbidden):
        engine.read_copy(copy["id"], VICE)
    with pytest.raises(Forbidden):
        engine.complete(open_task(engine, instance_id, "mayor_review")["id"], OUTSIDER, OPINION)


def test_a_classified_instance_cannot_be_copied(engine):
    instance_id = start(engine, classification="秘密")
    before = snapshot(engine)
    with pytest.raises(Forbidden):
        engine.copy_to(instance_id, FILER, [OUTSIDER], "")
    assert snapshot(engine) == before


def test_urge_notifies_whoever_the_instance_waits_for(engine):
    instance_id = registered(engine)
    assert engine.urge(instance_id, FILER, "请尽快批示") == [VICE]
    assert engine.notifications(VICE, unread_only=True)[0]["kind"] == "urged"
    assert engine.urge(instance_id, CLERK, "") == [VICE]
    with pytest.raises(Forbidden):
        engine.urge(instance_id, OUTSIDER, "")
    assert engine.counts(VICE)["notifications_unread"] == 3  # new task, urged twice
    assert engine.mark_read(VICE) == 3 and engine.counts(VICE)["notifications_unread"] == 0


def test_an_overdue_task_is_flagged_once(engine, clock):
    instance_id = registered(engine)
    review = open_task(engine, instance_id, "mayor_review")
    assert engine.flag_overdue() == []
    clock.set(clock.now() + timedelta(days=30))
    assert engine.inbox(VICE, "todo", status="overdue")["rows"][0]["overdue"] is True
    assert engine.flag_overdue() == [{"task": review["id"], "instance": instance_id, "notified": [VICE]}]
    assert engine.flag_overdue() == []
    assert kinds(engine, VICE).count("overdue") == 1
    assert [e["action"] for e in engine.show(instance_id)["events"]].count("late_flagged") == 1


def test_comments_are_kept_with_the_instance(engine):
    instance_id = registered(engine)
    engine.comment(instance_id, VICE, "请民政局补充测算依据")
    with pytest.raises(InvalidInput):
        engine.comment(instance_id, VICE, " ")
    with pytest.raises(Forbidden):
        engine.comment(instance_id, OUTSIDER, "hi")
    [comment] = engine.show(instance_id)["comments"]
    assert comment["by"] == VICE and comment["text"] == "请民政局补充测算依据"


# --- inbox, task page, sign-in ---------------------------------------------------------------------------

def test_the_inbox_tabs_search_sort_and_page(engine, clock):
    ids = [registered(engine) for _ in range(3)]
    start(engine, title="关于社区食堂建设的请示")
    todo = engine.inbox(VICE, "todo", per_page=2)
    assert todo["total"] == 3 and len(todo["rows"]) == 2
    assert engine.inbox(VICE, "todo", page=2, per_page=2)["rows"][0]["instance"] == ids[2]
    row = todo["rows"][0]
    assert row["process_title"] == "收文呈批" and row["sent_by"] == CLERK and row["title"]
    assert engine.inbox(CLERK, "done")["total"] == 3
    assert engine.inbox(CLERK, "todo", q="社区食堂")["total"] == 1
    assert engine.inbox(CLERK, "todo", q="100%_")["total"] == 0
    assert engine.inbox(VICE, "todo", process="document_incoming")["total"] == 3
    assert engine.inbox(VICE, "todo", process="leave")["total"] == 0
    assert engine.counts(VICE)["todo"] == 3
    with pytest.raises(InvalidInput):
        engine.inbox(VICE, "everything")


def test_the_task_page_is_for_people_involved_and_auditors_read_only(engine):
    instance_id = registered(engine)
    review = open_task(engine, instance_id, "mayor_review")
    view = engine.task_view(review["id"], VICE)
    assert view["may_act"] and {"complete", "transfer", "delegate", "add_signer", "copy"} <= set(view["actions"])
    assert view["task"]["schema"]["properties"]
    assert "mayor_review" in view["diagram"]["active"] and "register" in view["diagram"]["finished"]
    assert view["diagram"]["xml"].lstrip().startswith("<?xml") or "<bpmn:definitions" in view["diagram"]["xml"]
    audit_view = engine.task_view(review["id"], AUDITOR)
    assert not audit_view["may_act"] and audit_view["actions"] == ["copy"]
    with pytest.raises(Forbidden):
        engine.task_view(review["id"], OUTSIDER)
    assert "urge" in engine.instance_view(instance_id, FILER)["actions"]


def test_sign_in_and_api_tokens(engine):
    assert engine.authenticate(VICE, "demo").display_name
    assert engine.authenticate(VICE, "wrong") is None
    assert engine.authenticate("nobody", "demo") is None
    token = engine.issue_token(VICE, "手机")
    assert engine.user_for_token(token) == VICE
    assert engine.user_for_token(token + "x") is None
    engine.revoke_token(VICE, "手机")
    assert engine.user_for_token(token) is None
    with pytest.raises(NotFound):
        engine.revoke_token(VICE, "手机")


def test_startable_lists_what_the_user_may_start(engine):
    keys = {p["key"] for p in engine.startable(FILER)}
    assert "document_incoming" in keys and "leave" in keys
    assert "document_incoming" not in {p["key"] for p in engine.startable(VICE)}
    assert all(p["title"] for p in engine.startable(FILER))
    assert engine.start_form("document_incoming")["schema"]["properties"]["title"]


def test_what_is_left_of_a_limit_is_counted_as_the_limit_is(engine, clock):
    instance_id = registered(engine)
    [row] = engine.inbox(VICE, "todo")["rows"]
    assert row["due_left"] == {"working_days": 5}  # 收文 5 working days (002 四十六), counted from Monday
    clock.set(clock.now() + timedelta(days=2))
    assert engine.inbox(VICE, "todo")["rows"][0]["due_left"] == {"working_days": 3}
    assert engine.task_view(row["id"], VICE)["task"]["due_left"] == {"working_days": 3}
    clock.set(parse_instant(row["due_at"]) + timedelta(minutes=90))
    assert engine.inbox(VICE, "todo")["rows"][0]["due_left"] == {"minutes": -90}
    assert engine.show(instance_id)["state"] == "running"
