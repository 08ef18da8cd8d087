"""The web UI in a real browser: Debian's headless Chromium driven by Playwright against the app served by a
werkzeug server in a thread, on SQLite, with the clock fixed at Monday 2026-06-01 09:00 (Shanghai).

Sign-in; an incoming request (收文呈批) from filing to the mayor's signature by three people; 退回 and
resubmission; 转办; 加签; 抄送 with its read receipt; 催办; 撤回; a forbidden page; a form error next to its field;
the live countdown of an emergency report. Screenshots of the inbox and a task page go to tests/artifacts/.
Set GOVFLOW_CHROMIUM to use another Chromium binary (never ``playwright install``)."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest

from . import browser as shared
from .browser import browser_fixture, expect, requires_chromium, shot  # noqa: F401  (browser_fixture: a fixture)
from .helpers import open_task
from .test_document_incoming import CLERK, FILER, REGISTER, document

MAYOR, OUTSIDER = "wang_mayor", "he_commerce"
pytestmark = requires_chromium


class Site(shared.Site):
    def filed(self, title: str) -> int:
        """A request filed by the civil-affairs head: waiting for the clerk to register it."""
        return self.engine.start("document_incoming", FILER, document(title=title))["instance"]

    def registered(self, title: str) -> int:
        instance_id = self.filed(title)
        self.engine.complete(open_task(self.engine, instance_id, "register")["id"], CLERK, REGISTER)
        return instance_id

    def task(self, instance_id: int, name: str) -> dict:
        return open_task(self.engine, instance_id, name)


@pytest.fixture(scope="module")
def site(sqlite_template, tmp_path_factory):
    with shared.served(sqlite_template, tmp_path_factory.mktemp("browser"), Site) as served:
        yield served


@pytest.fixture
def signed_in(browser, site):
    """``signed_in("zheng_clerk")``: a page of a fresh browser context signed in as that person."""
    contexts = []

    def open_as(username: str):
        context, page = shared.signed_in_page(browser, site, username)
        contexts.append(context)
        return page

    yield open_as
    for context in contexts:
        context.close()


def open_row(page, title: str, tab: str = "todo"):
    page.goto(f"/inbox?tab={tab}&q={title}")
    page.locator("#inbox-table tbody tr", has_text=title).first.locator("td.title a").click()


def act(page, action: str):
    """Open the action's panel on a task page (a <details> element)."""
    page.locator(f"#action-{action} > summary").click()


def flash(page):
    return page.locator(".flash-success")


# --- sign-in ----------------------------------------------------------------------------------------------

def test_sign_in_with_a_wrong_then_the_right_password_and_sign_out(browser, site):
    context = browser.new_context(base_url=site.url, locale="zh-CN")
    page = context.new_page()
    page.goto("/inbox")
    expect(page).to_have_url(re.compile(r"/login\?next="))
    page.fill("#username", "zhao_vice")
    page.fill("#password", "wrong")
    page.click("#login-submit")
    expect(page.locator("#login-error")).to_contain_text("用户名或密码不正确")
    page.fill("#password", "demo")
    page.click("#login-submit")
    expect(page).to_have_url(re.compile(r"/inbox$"))
    expect(page.locator("#current-user")).to_have_text("赵红梅（副区长）")
    page.click("#logout")
    expect(page).to_have_url(re.compile(r"/login$"))
    page.goto("/inbox")
    expect(page).to_have_url(re.compile(r"/login\?next="))
    context.close()


# --- a request from filing to signature by three people ----------------------------------------------------

def test_an_incoming_request_from_filing_to_the_mayors_signature(site, signed_in):
    title = "关于调整高龄老人养老服务补贴标准的请示"
    filer = signed_in(FILER)
    filer.click("text=发起事项")
    filer.click('[data-key="document_incoming"]')
    filer.check('input[name="doc_type"][value="请示"]')
    filer.check('input[name="classification"][value="无"]')
    filer.fill("#f-title", title)
    filer.fill("#f-body", "拟将80周岁以上老人养老服务补贴提高至每月200元，妥否，请批示。")
    filer.fill("#f-matters", "1")
    filer.check('input[name="contains_request"][value="false"]')
    filer.check('input[name="request_kind"][value="请示批示"]')
    filer.check('input[name="important"][value="false"]')
    filer.click("#submit")
    expect(flash(filer)).to_contain_text("已发起")
    instance_id = int(re.search(r"/instances/(\d+)", filer.url).group(1))

    clerk = signed_in(CLERK)
    clerk.goto(f"/inbox?q={title}")
    expect(clerk.locator("#inbox-table tbody tr", has_text=title)).to_contain_text("刘洋")
    shot(clerk, "inbox.png")
    open_row(clerk, title)
    expect(clerk.locator("#task-title")).to_contain_text("办公室登记")
    clerk.check('input[name="action"][value="登记"]')
    clerk.fill("#f-registered_number", "区府收〔2026〕101号")
    clerk.fill("#f-proposed_handling", "拟请区长阅示")
    shot(clerk, "task.png")
    clerk.click("#submit")
    expect(flash(clerk)).to_contain_text("已提交")

    mayor = signed_in(MAYOR)
    refused = []
    mayor.on("console", lambda message: refused.append(message.text)
             if "Content Security Policy" in message.text else None)
    open_row(mayor, title)
    expect(mayor.locator("#task-title")).to_contain_text("区长审批")
    expect(mayor.locator("#instance-data")).to_contain_text("区府收〔2026〕101号")
    expect(mayor.locator(".bpmn-diagram .govflow-active").first).to_be_attached()  # drawn under the CSP
    assert refused == []
    mayor.check('input[name="opinion_kind"][value="批示"]')
    mayor.fill("#f-opinion", "同意，请民政局抓好落实")
    mayor.click("#submit")
    expect(flash(mayor)).to_contain_text("已提交")

    done = [t for t in site.engine.tasks(instance=instance_id, state=None) if t["name"] == "mayor_review"]
    assert [(t["state"], t["completed_by"]) for t in done] == [("completed", MAYOR)]
    filer.goto(f"/instances/{instance_id}")
    expect(filer.locator("#history")).to_contain_text("王建国（区长） 办理了「区长审批」")
    expect(filer.locator("#history")).to_contain_text("郑小燕（办公室文秘） 办理了「办公室登记并提出拟办意见」")


# --- return, transfer, add a signer -------------------------------------------------------------------------

def test_the_mayor_returns_the_request_and_the_clerk_resubmits_it(site, signed_in):
    title = "关于增设社区养老驿站的请示"
    instance_id = site.registered(title)
    mayor = signed_in(MAYOR)
    open_row(mayor, title)
    act(mayor, "return")
    mayor.select_option("#return-to", index=0)
    expect(mayor.locator("#return-to option:checked")).to_contain_text("办公室登记")
    mayor.fill("#return-reason", "拟办意见不明确，请补充")
    mayor.click("#return-submit")
    expect(flash(mayor)).to_contain_text("已退回")

    clerk = signed_in(CLERK)
    open_row(clerk, title)
    expect(clerk.locator("#history")).to_contain_text("拟办意见不明确，请补充")
    expect(clerk.locator("#f-registered_number")).to_have_value("区府收〔2026〕101号")  # the draft is kept
    clerk.fill("#f-proposed_handling", "拟请区长阅示，民政局已补充测算依据")
    clerk.click("#submit")
    expect(flash(clerk)).to_contain_text("已提交")
    assert site.task(instance_id, "mayor_review")["assignee"] == MAYOR
    assert site.engine.show(instance_id)["data"]["proposed_handling"] == "拟请区长阅示，民政局已补充测算依据"


def test_the_mayor_transfers_the_task_to_the_executive_vice_mayor(site, signed_in):
    title = "关于社区食堂建设的请示"
    instance_id = site.registered(title)
    mayor = signed_in(MAYOR)
    open_row(mayor, title)
    act(mayor, "transfer")
    mayor.select_option("#transfer-to", "li_exec")
    mayor.fill("#transfer-reason", "本人出差，请李区长办理")
    mayor.click("#transfer-submit")
    expect(flash(mayor)).to_contain_text("已转办给 李卫东（常务副区长）")
    executive = signed_in("li_exec")
    executive.goto(f"/inbox?q={title}")
    expect(executive.locator("#inbox-table tbody tr", has_text=title)).to_be_visible()
    assert site.task(instance_id, "mayor_review")["assignee"] == "li_exec"


def test_the_mayor_adds_a_signer_before_himself(site, signed_in):
    title = "关于老旧小区加装电梯的请示"
    instance_id = site.registered(title)
    mayor = signed_in(MAYOR)
    open_row(mayor, title)
    act(mayor, "add_signer")
    mayor.select_option("#signer", "zhao_vice")
    mayor.check('input[name="position"][value="before"]')
    mayor.fill("#signer-reason", "请分管副区长先签")
    mayor.click("#add_signer-submit")
    expect(flash(mayor)).to_contain_text("已加签 赵红梅（副区长）")

    vice = signed_in("zhao_vice")
    vice.goto(f"/inbox?q={title}")
    expect(vice.locator("#inbox-table tbody tr", has_text=title)).to_contain_text("加签")
    open_row(vice, title)
    vice.check('input[name="opinion_kind"][value="批示"]')
    vice.fill("#f-opinion", "同意")
    vice.click("#submit")
    expect(flash(vice)).to_contain_text("已提交")
    assert site.task(instance_id, "mayor_review")["assignee"] == MAYOR
    open_row(mayor, title)
    expect(mayor.locator(".hops")).to_contain_text("赵红梅（副区长）")


# --- copy, urge, withdraw ------------------------------------------------------------------------------------

def test_a_copy_is_read_and_the_sender_sees_the_read_receipt(site, signed_in):
    title = "关于开展冬季取暖安全检查的报告"
    instance_id = site.registered(title)
    mayor = signed_in(MAYOR)
    open_row(mayor, title)
    act(mayor, "copy")
    mayor.check(f'#action-copy input[value="{OUTSIDER}"]')
    mayor.fill('#action-copy input[name="note"]', "请商务局知悉")
    mayor.click("#copy-submit")
    expect(flash(mayor)).to_contain_text("已抄送")

    reader = signed_in(OUTSIDER)
    reader.click("#tab-copied")
    row = reader.locator("#inbox-table tbody tr", has_text=title)
    expect(row).to_contain_text("未读")
    row.locator("td.title a").click()
    expect(reader.locator("#instance-title")).to_contain_text(title)
    reader.goto("/inbox?tab=copied")
    expect(reader.locator("#inbox-table tbody tr", has_text=title)).to_contain_text("已读")
    mayor.goto(f"/instances/{instance_id}")
    expect(mayor.locator("#copies")).to_contain_text("已读")


def test_the_filer_urges_the_mayor_who_gets_a_notification(site, signed_in):
    title = "关于修缮敬老院的请示"
    instance_id = site.registered(title)
    filer = signed_in(FILER)
    filer.goto(f"/instances/{instance_id}")
    act(filer, "urge")
    filer.fill('#action-urge input[name="note"]', "群众反映强烈，请尽快批示")
    filer.click("#urge-submit")
    expect(flash(filer)).to_contain_text("已催办")

    mayor = signed_in(MAYOR)
    count = int(mayor.locator("#notification-count").inner_text())
    assert count >= 1
    mayor.click("#notifications-link")
    notice = mayor.locator(".notice", has_text="群众反映强烈").first
    expect(notice).to_contain_text("催办")
    notice.locator("button").click()
    expect(mayor).to_have_url(re.compile(rf"/(tasks/\d+|instances/{instance_id})$"))
    assert int(mayor.locator("#notification-count").inner_text()) == count - 1


def test_the_clerk_withdraws_a_registration_before_the_mayor_acts(site, signed_in):
    title = "关于规范殡葬服务收费的请示"
    instance_id = site.filed(title)
    clerk = signed_in(CLERK)
    open_row(clerk, title)
    clerk.check('input[name="action"][value="登记"]')
    clerk.fill("#f-registered_number", "区府收〔2026〕120号")
    clerk.fill("#f-proposed_handling", "拟请区长阅示")
    clerk.click("#submit")
    expect(flash(clerk)).to_contain_text("已提交")
    open_row(clerk, title, tab="done")
    act(clerk, "withdraw")
    clerk.fill("#withdraw-reason", "收文编号有误")
    clerk.click("#withdraw-submit")
    expect(flash(clerk)).to_contain_text("已撤回")
    assert site.task(instance_id, "register")["assignee"] == CLERK
    assert not [t for t in site.engine.tasks(instance=instance_id) if t["name"] == "mayor_review"]


# --- refusals and errors --------------------------------------------------------------------------------------

def test_someone_not_involved_gets_the_403_page(site, signed_in):
    instance_id = site.registered("关于调整低保标准的请示")
    task = site.task(instance_id, "mayor_review")
    outsider = signed_in(OUTSIDER)
    response = outsider.goto(f"/tasks/{task['id']}")
    assert response.status == 403
    expect(outsider.locator("#error-title")).to_have_text("无权访问")
    expect(outsider.locator("#task-form")).to_have_count(0)
    assert site.task(instance_id, "mayor_review") == task


def test_a_form_error_is_shown_next_to_its_field_and_the_input_is_kept(site, signed_in):
    title = "关于建设社区综合服务设施的请示"
    instance_id = site.filed(title)
    clerk = signed_in(CLERK)
    open_row(clerk, title)
    clerk.fill("#f-registered_number", "区府收〔2026〕130号")
    clerk.click("#submit")
    expect(clerk.locator('[data-field="action"] .field-error')).to_contain_text("必填")
    expect(clerk.locator("#f-registered_number")).to_have_value("区府收〔2026〕130号")
    assert site.task(instance_id, "register")["state"] == "open"


def test_an_emergency_report_counts_down_each_limit_live(site, signed_in):
    occurred = site.clock.now() - timedelta(minutes=5)
    instance_id = site.engine.start("emergency_report", "xie_emergency_staff", {
        "event_type": "事故灾难", "severity": "一般", "location": "城关街道某仓库", "occurred_at": occurred.isoformat(),
        "injuries": 0, "summary": "仓库起火，明火已扑灭", "reporter": "谢宁", "phone": "13900000000"})["instance"]
    staff = signed_in("xie_emergency_staff")
    staff.goto(f"/instances/{instance_id}")
    countdown = staff.locator("#limits .countdown").first
    expect(countdown).to_have_text(re.compile(r"剩 1[45]:\d\d"))  # 20 minutes from the event, 5 gone
    first = countdown.inner_text()
    staff.wait_for_timeout(1200)
    assert countdown.inner_text() != first  # it ticks
    saved = site.clock.now()
    site.clock.set(saved + timedelta(minutes=20))
    try:
        staff.reload()
        expect(countdown).to_have_text(re.compile(r"已超时 0[45]:\d\d"))
        expect(countdown).to_have_class(re.compile("missed"))
    finally:
        site.clock.set(saved)
