"""The task and instance pages: who may see and act (assignee, role members, the acting person for an absent
assignee, auditors read-only, nobody else: a 403 page and nothing changed), the form rendered from its JSON
Schema with the engine's messages next to their fields, and every task action from its form."""
import re
from datetime import timedelta

import pytest

from engine import directory
from engine.models import Absence

from .helpers import open_task, snapshot
from .test_document_incoming import CLERK, FILER, REGISTER, complete, start

MAYOR, EXEC, OUTSIDER, AUDITOR = "wang_mayor", "li_exec", "he_commerce", "shen_auditor"
APPROVE = {"opinion_kind": "批示", "opinion": "同意，请抓好落实"}


def registered(engine) -> tuple[int, dict]:
    instance_id = start(engine)
    complete(engine, instance_id, "register", CLERK, REGISTER)
    return instance_id, open_task(engine, instance_id, "mayor_review")


def text(response) -> str:
    return response.get_data(as_text=True)


def field_error(page: str, name: str) -> str:
    """The message shown inside the field ``name``'s block."""
    block = re.search(r'data-field="%s">(.*?)</div>\s*</?(?:div|fieldset)' % re.escape(name), page, re.S)
    found = re.search(r'id="err-%s"[^>]*>([^<]*)<' % re.escape(name), page)
    assert block is not None and found is not None, f"no error shown for {name}"
    return found.group(1)


# --- who may see and act ---------------------------------------------------------------------------------

def test_the_assignee_sees_the_form_and_completes_the_task(engine, web):
    instance_id, review = registered(engine)
    client = web(MAYOR)
    page = text(client.get(f"/tasks/{review['id']}"))
    assert 'id="task-form"' in page and "区长审批" in page and 'name="opinion"' in page
    assert 'class="bpmn-diagram"' in page and "data-active" in page
    response = client.post(f"/tasks/{review['id']}/complete", APPROVE)
    assert response.status_code == 302 and response.location == "/inbox"
    assert [t for t in engine.tasks(instance=instance_id, state=None) if t["id"] == review["id"]][0]["state"] == \
        "completed"


def test_someone_not_involved_gets_the_403_page_and_nothing_changes(engine, web):
    instance_id, review = registered(engine)
    engine.attach(instance_id, FILER, "测算表.txt", b"200", "")
    [attachment] = engine.attachments(instance_id, FILER)
    client = web(OUTSIDER)
    before = snapshot(engine)
    for path in (f"/tasks/{review['id']}", f"/instances/{instance_id}", f"/attachments/{attachment['id']}"):
        response = client.get(path)
        assert response.status_code == 403 and "无权访问" in text(response), path
    returnable = engine.task_view(review["id"], MAYOR)["returnable"][0]["id"]
    attempts = {"complete": APPROVE, "claim": {}, "release": {}, "transfer": {"to_user": OUTSIDER, "reason": "x"},
                "delegate": {"to_user": OUTSIDER, "reason": "x"},
                "add-signer": {"to_user": OUTSIDER, "position": "before", "reason": "x"},
                "return": {"to_task": returnable, "reason": "x"}, "withdraw": {"reason": "x"}}
    for action, data in attempts.items():
        response = client.post(f"/tasks/{review['id']}/{action}", data)
        assert response.status_code == 403, action
    for action, data in {"copy": {"recipients": OUTSIDER}, "urge": {"note": "快"}, "comments": {"text": "hi"}}.items():
        assert client.post(f"/instances/{instance_id}/{action}", data).status_code == 403, action
    assert snapshot(engine) == before


def test_an_auditor_reads_everything_but_acts_on_nothing(engine, web):
    instance_id, review = registered(engine)
    client = web(AUDITOR)
    page = text(client.get(f"/tasks/{review['id']}"))
    assert 'id="task-form"' not in page and 'id="read-only"' in page and "办理记录" in page
    assert client.get(f"/instances/{instance_id}").status_code == 200
    before = snapshot(engine)
    assert client.post(f"/tasks/{review['id']}/complete", APPROVE).status_code == 403
    assert client.post(f"/tasks/{review['id']}/transfer", {"to_user": EXEC, "reason": "x"}).status_code == 403
    assert snapshot(engine) == before


def test_a_role_task_is_for_the_role_s_members_to_claim(engine, web):
    with engine.unit_of_work() as uow:
        directory.put_user(uow.session, {"username": "qin_clerk", "display_name": "秦文秘", "roles": ["office_clerk"],
                                         "password": "demo"})
    instance_id = start(engine)
    register = open_task(engine, instance_id, "register")
    assert register["assignee"] is None
    clerk = web(CLERK)
    claimable = text(clerk.get("/inbox?tab=claimable"))
    assert f'data-task="{register["id"]}"' in claimable
    page = text(clerk.get(f"/tasks/{register['id']}"))
    assert 'id="claim"' in page
    assert clerk.post(f"/tasks/{register['id']}/claim").status_code == 303
    assert open_task(engine, instance_id, "register")["assignee"] == CLERK
    assert f'data-task="{register["id"]}"' in text(clerk.get("/inbox?tab=todo"))

    other = web("qin_clerk") if _can_sign_in(engine, "qin_clerk") else None
    if other is not None:
        before = snapshot(engine)
        assert other.post(f"/tasks/{register['id']}/complete", REGISTER).status_code == 403
        assert snapshot(engine) == before
    assert clerk.post(f"/tasks/{register['id']}/release").status_code == 303
    assert open_task(engine, instance_id, "register")["assignee"] is None


def _can_sign_in(engine, username) -> bool:
    return engine.authenticate(username, "demo") is not None


def test_the_acting_person_for_an_absent_assignee_sees_and_completes_their_task(engine, web, clock):
    instance_id, review = registered(engine)
    with engine.unit_of_work() as uow:
        uow.conn.execute(Absence.__table__.insert(), {
            "username": MAYOR, "starts_at": clock.now() - timedelta(hours=1), "ends_at": clock.now() + timedelta(days=3),
            "acting_username": EXEC, "rule": "出差，由常务副区长代理", "recorded_at": clock.now()})
    client = web(EXEC)
    assert f'data-task="{review["id"]}"' in text(client.get("/inbox"))
    page = text(client.get(f"/tasks/{review['id']}"))
    assert 'id="task-form"' in page
    assert client.post(f"/tasks/{review['id']}/complete", APPROVE).status_code == 302
    [event] = [e for e in engine.show(instance_id)["events"] if e["action"] == "complete" and e["task"] == review["id"]]
    assert event["actor"] == EXEC and event["on_behalf_of"] == MAYOR


# --- the form --------------------------------------------------------------------------------------------

def test_a_form_error_is_shown_next_to_its_field_and_the_input_is_kept(engine, web):
    instance_id = start(engine)
    register = open_task(engine, instance_id, "register")
    client = web(CLERK)
    before = snapshot(engine)
    response = client.post(f"/tasks/{register['id']}/complete", {"registered_number": "区府收〔2026〕7号",
                                                                  "proposed_handling": "拟请区长阅示"})
    page = text(response)
    assert response.status_code == 422
    assert "必填" in field_error(page, "action")
    assert 'value="区府收〔2026〕7号"' in page and "拟请区长阅示</textarea>" in page
    assert snapshot(engine) == before


def test_the_start_form_covers_every_kind_of_field_and_types_the_input(engine, web):
    client = web(FILER)
    page = text(client.get("/start/document_incoming"))
    assert 'type="radio" name="doc_type" value="请示"' in page  # a short enum: radio buttons
    assert 'type="number" id="f-matters"' in page  # an integer
    assert 'name="contains_request" value="true"' in page  # a boolean: 是 / 否
    assert 'type="checkbox" name="departments_involved" value="justice"' in page  # an array of enum
    response = client.post("/start/document_incoming", {
        "doc_type": "请示", "classification": "无", "title": "关于增设社区养老驿站的请示", "body": "请批示。",
        "matters": "abc", "contains_request": "false", "request_kind": "请示批示", "important": "false"})
    assert response.status_code == 422 and field_error(text(response), "matters")
    response = client.post("/start/document_incoming", {
        "doc_type": "请示", "classification": "无", "title": "关于增设社区养老驿站的请示", "body": "请批示。",
        "matters": "1", "contains_request": "false", "request_kind": "请示批示", "important": "false",
        "departments_involved": "justice", "departments_involved__present": "1"})
    assert response.status_code == 302
    [instance] = engine.instances(process="document_incoming")
    data = engine.show(instance["id"])["data"]
    assert data["matters"] == 1 and data["contains_request"] is False and data["departments_involved"] == ["justice"]


def test_only_the_procedures_a_person_may_start_are_offered(engine, web):
    page = text(web(OUTSIDER).get("/start"))
    startable = {p["key"] for p in engine.startable(OUTSIDER)}
    assert startable and all(f'data-key="{key}"' in page for key in startable)
    refused = {d["key"] for d in engine.definitions()} - startable
    for key in refused:
        assert web(OUTSIDER).get(f"/start/{key}").status_code == 403


# --- actions from their forms ------------------------------------------------------------------------------

def test_return_to_an_earlier_step_with_a_reason_from_the_task_page(engine, web):
    instance_id, review = registered(engine)
    client = web(MAYOR)
    [step] = engine.task_view(review["id"], MAYOR)["returnable"]
    before = snapshot(engine)
    response = client.post(f"/tasks/{review['id']}/return", {"to_task": step["id"], "reason": ""})
    assert response.status_code == 303 and snapshot(engine) == before
    assert "理由" in text(client.get(response.location)) or "reason" in text(client.get(response.location))
    client.post(f"/tasks/{review['id']}/return", {"to_task": step["id"], "reason": "拟办意见不明确"})
    reopened = open_task(engine, instance_id, "register")
    page = text(web(CLERK).get(f"/tasks/{reopened['id']}"))
    assert "区府收〔2026〕101号" in page  # the draft of the returned step
    assert "退回了" in page and "拟办意见不明确" in page


def test_transfer_delegate_and_add_signer_from_the_task_page(engine, web):
    instance_id, review = registered(engine)
    client = web(MAYOR)
    assert client.post(f"/tasks/{review['id']}/delegate", {"to_user": EXEC, "reason": "请先阅"}).status_code == 303
    assert open_task(engine, instance_id, "mayor_review")["assignee"] == EXEC
    exec_client = web(EXEC)
    assert exec_client.post(f"/tasks/{review['id']}/complete", APPROVE).status_code == 302
    assert open_task(engine, instance_id, "mayor_review")["assignee"] == MAYOR  # it came back
    task_id = open_task(engine, instance_id, "mayor_review")["id"]
    assert client.post(f"/tasks/{task_id}/add-signer", {"to_user": "zhao_vice", "position": "before",
                                                        "reason": "请分管副区长会签"}).status_code == 303
    assert open_task(engine, instance_id, "mayor_review")["assignee"] == "zhao_vice"
    assert web("zhao_vice").post(f"/tasks/{task_id}/complete", APPROVE).status_code == 302
    task_id = open_task(engine, instance_id, "mayor_review")["id"]
    assert open_task(engine, instance_id, "mayor_review")["assignee"] == MAYOR
    assert client.post(f"/tasks/{task_id}/transfer", {"to_user": EXEC, "reason": "出差"}).status_code == 303
    assert open_task(engine, instance_id, "mayor_review")["assignee"] == EXEC
    assert client.get(f"/tasks/{task_id}").status_code in (200, 403)
    before = snapshot(engine)
    assert client.post(f"/tasks/{task_id}/complete", APPROVE).status_code == 403
    assert snapshot(engine) == before


def test_copy_with_read_receipt_urge_comment_and_files(engine, web):
    instance_id, review = registered(engine)
    mayor = web(MAYOR)
    assert mayor.post(f"/instances/{instance_id}/copy", {"recipients": OUTSIDER, "note": "请知悉"}).status_code == 303
    outsider = web(OUTSIDER)
    page = text(outsider.get("/inbox?tab=copied"))
    [copy] = engine.inbox(OUTSIDER, "copied")["rows"]
    assert "未读" in page and copy["read_at"] is None
    response = outsider.get(f"/copies/{copy['id']}?instance={instance_id}")
    assert response.location == f"/instances/{instance_id}"
    assert engine.inbox(OUTSIDER, "copied")["rows"][0]["read_at"] is not None
    assert "已读" in text(mayor.get(f"/instances/{instance_id}"))

    filer = web(FILER)
    assert filer.post(f"/instances/{instance_id}/urge", {"note": "请尽快批示"}).status_code == 303
    assert engine.notifications(MAYOR, unread_only=True)[0]["kind"] == "urged"
    assert 'id="notification-count"' in text(mayor.get("/inbox"))
    assert "催办" in text(mayor.get("/notifications"))
    assert filer.post(f"/instances/{instance_id}/comments", {"text": "补充材料已上传"}).status_code == 303
    upload = {"file": (__import__("io").BytesIO("测算".encode()), "测算表.txt"), "note": "第一版"}
    response = filer.client.post(f"/instances/{instance_id}/attachments",
                                 data={**upload, "csrf_token": filer.csrf_token()}, content_type="multipart/form-data")
    assert response.status_code == 303
    [attachment] = engine.attachments(instance_id, FILER)
    page = text(mayor.get(f"/tasks/{review['id']}"))
    assert "补充材料已上传" in page and "测算表.txt" in page
    download = mayor.get(f"/attachments/{attachment['id']}")
    assert download.status_code == 200 and download.data == "测算".encode()


def test_withdraw_the_last_step_from_the_done_tab(engine, web):
    instance_id = start(engine)
    register = open_task(engine, instance_id, "register")
    clerk = web(CLERK)
    clerk.post(f"/tasks/{register['id']}/complete", REGISTER)
    assert f'data-task="{register["id"]}"' in text(clerk.get("/inbox?tab=done"))
    page = text(clerk.get(f"/tasks/{register['id']}"))
    assert 'id="action-withdraw"' in page
    assert clerk.post(f"/tasks/{register['id']}/withdraw", {"reason": "编号有误"}).status_code == 303
    reopened = open_task(engine, instance_id, "register")
    assert reopened["assignee"] == CLERK
    assert not [t for t in engine.tasks(instance=instance_id) if t["name"] == "mayor_review"]


def test_the_notification_count_and_marking_read(engine, web):
    registered(engine)
    mayor = web(MAYOR)
    unread = engine.counts(MAYOR)["notifications_unread"]
    assert unread >= 1
    assert re.search(r'id="notification-count"[^>]*>%d<' % unread, text(mayor.get("/inbox")))
    mayor.post("/notifications/read")
    assert engine.counts(MAYOR)["notifications_unread"] == 0


def test_inbox_search_filter_sort_and_pages(engine, web, web_app):
    for _ in range(3):
        registered(engine)
    start(engine, title="关于社区食堂建设的请示")
    web_app.config["GOVFLOW_PER_PAGE"] = 2
    mayor = web(MAYOR)
    first = text(mayor.get("/inbox"))
    assert first.count('data-task="') == 2 and 'id="next-page"' in first and "第 1 / 2 页" in first
    assert text(mayor.get("/inbox?page=2")).count('data-task="') == 1
    clerk = web(CLERK)
    assert text(clerk.get("/inbox?q=社区食堂")).count('data-task="') == 1
    assert text(mayor.get("/inbox?process=leave")).count('data-task="') == 0
    assert text(mayor.get("/inbox?status=overdue")).count('data-task="') == 0
    assert text(mayor.get("/inbox?sort=-received")).count('data-task="') == 2


def test_an_overdue_task_is_highlighted_in_the_inbox(engine, web, clock):
    instance_id, review = registered(engine)
    clock.set(clock.now() + timedelta(days=30))
    page = text(web(MAYOR).get("/inbox"))
    row = re.search(r'<tr class="overdue" data-task="%d">.*?</tr>' % review["id"], page, re.S)
    assert row is not None and "已超期" in row.group(0)


@pytest.mark.parametrize("minutes, shown", [(5, "剩 15 分钟"), (25, "已超期 5 分钟")])
def test_an_emergency_report_shows_each_running_limit_as_a_countdown(engine, web, clock, minutes, shown):
    occurred = clock.now()
    result = engine.start("emergency_report", "xie_emergency_staff", {
        "event_type": "事故灾难", "severity": "一般", "location": "城关街道某仓库", "occurred_at": occurred.isoformat(),
        "injuries": 0, "summary": "仓库起火，明火已扑灭", "reporter": "谢宁", "phone": "13900000000"})
    clock.set(occurred + timedelta(minutes=minutes))
    page = text(web("xie_emergency_staff").get(f"/instances/{result['instance']}"))
    assert 'id="limits"' in page and 'class="countdown big"' in page and shown in page
