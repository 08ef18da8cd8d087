"""The auditors' step-through in a real browser: Debian's headless Chromium driven by Playwright against the app
served by a werkzeug server in a thread, on SQLite, the clock fixed at Monday 2026-06-01 09:00 (Shanghai), as in
test_browser_ui.py.

The auditor opens an incoming request that the mayor returned once (delegated, registered, returned, registered,
withdrawn, registered, approved), steps through its history with the next/previous buttons, the arrow keys and
the timeline, and sees the diagram's marks (the classes diagram.js puts on bpmn-js elements) and the data change
in place, the address following the chosen event, without asking the server again; the verify and report pages
under the Content-Security-Policy. A screenshot goes to tests/artifacts/audit_step_through.png.
Set GOVFLOW_CHROMIUM to use another Chromium binary (never ``playwright install``)."""
from __future__ import annotations

import re

import pytest

from . import browser as shared
from .browser import browser_fixture, expect, requires_chromium, shot  # noqa: F401  (browser_fixture: a fixture)
from .test_document_incoming import REGISTER
from .test_replay import worked

AUDITOR = "shen_auditor"
pytestmark = requires_chromium


@pytest.fixture(scope="module")
def site(sqlite_template, tmp_path_factory):
    with shared.served(sqlite_template, tmp_path_factory.mktemp("browser_audit")) as served:
        yield served


@pytest.fixture
def signed_in(browser, site):
    """``signed_in("shen_auditor")``: a page of a fresh browser context signed in as that person, with the
    Content-Security-Policy refusals it logs collected in ``page.refused``."""
    contexts = []

    def watch(page):
        page.refused = []
        page.on("console", lambda message: page.refused.append(message.text)
                if "Content Security Policy" in message.text else None)

    def open_as(username: str):
        context, page = shared.signed_in_page(browser, site, username, watch=watch)
        contexts.append(context)
        return page

    yield open_as
    for context in contexts:
        context.close()


def element(page, bpmn_id: str):
    """The diagram's drawing of one BPMN element (bpmn-js marks it with the classes diagram.js adds)."""
    return page.locator(f'#audit-diagram g.djs-element[data-element-id="{bpmn_id}"]').first


def marked(page, bpmn_id: str, mark: str):
    expect(element(page, bpmn_id)).to_have_class(re.compile(rf"\bgovflow-{mark}\b"))


def unmarked(page, bpmn_id: str, mark: str):
    expect(element(page, bpmn_id)).not_to_have_class(re.compile(rf"\bgovflow-{mark}\b"))


def data_value(page, key: str):
    return page.locator(f'#event-data-slot tr[data-key="{key}"]')


def test_the_auditor_steps_through_a_returned_request(site, signed_in):
    instance_id = worked(site.engine)
    events = site.engine.timeline(instance_id, AUDITOR)["events"]
    ids = [e["id"] for e in events]
    actions = [e["action"] for e in events]
    registered, returned = actions.index("complete"), actions.index("return")
    auditor = signed_in(AUDITOR)

    auditor.click("#audit-link")
    expect(auditor).to_have_url(re.compile(r"/audit$"))
    auditor.locator(f'#audit-instances tr[data-instance="{instance_id}"] td.title a').click()
    expect(auditor).to_have_url(re.compile(rf"/audit/instances/{instance_id}$"))
    expect(auditor.locator("#audit-diagram.bpmn-diagram-ready")).to_be_attached()
    expect(auditor.locator('#audit-timeline li[aria-current="step"]')).to_have_attribute("data-event", str(ids[-1]))
    marked(auditor, "vice_review", "active")  # the mayor approved: the vice-mayor's review is open

    # the server renders nothing more while stepping: the page carries every event
    loads = []
    auditor.on("request", lambda request: loads.append(request.url)
               if request.resource_type == "document" else None)

    # the first event: the request filed, waiting for registration
    auditor.locator("#audit-timeline li").first.locator("a").click()
    expect(auditor).to_have_url(re.compile(rf"\?event={ids[0]}$"))
    expect(auditor.locator("#step-position")).to_have_text(f"第 1 / {len(ids)} 步")
    expect(auditor.locator("#step-prev")).to_have_class(re.compile("disabled"))
    marked(auditor, "register", "active")
    unmarked(auditor, "vice_review", "active")
    unmarked(auditor, "mayor_review", "active")
    expect(data_value(auditor, "registered_number")).to_have_count(0)
    expect(data_value(auditor, "title")).to_have_class(re.compile(r"\bchanged\b"))

    # next, next, next: delegated, passed back, registered → the mayor's review is open
    for _ in range(registered):
        auditor.click("#step-next")
    expect(auditor).to_have_url(re.compile(rf"\?event={ids[registered]}$"))
    expect(auditor.locator("#event-detail-slot .event-what")).to_contain_text("办理了「办公室登记并提出拟办意见」")
    marked(auditor, "register", "finished")
    marked(auditor, "mayor_review", "active")
    number = data_value(auditor, "registered_number")
    expect(number).to_have_class(re.compile(r"\bchanged\b"))
    expect(number.locator("td.value")).to_have_text(REGISTER["registered_number"])
    expect(number.locator(".after")).to_have_text(REGISTER["registered_number"])
    shot(auditor, "audit_step_through.png")

    # the right arrow: the mayor returns it — the registration is undone, the mayor's step finished
    auditor.keyboard.press("ArrowRight")
    expect(auditor).to_have_url(re.compile(rf"\?event={ids[returned]}$"))
    expect(auditor.locator("#event-detail-slot")).to_contain_text("请补充测算依据")
    expect(auditor.locator("#event-detail-slot .event-what")).to_contain_text("退回了「区长审批」")
    marked(auditor, "register", "active")
    marked(auditor, "mayor_review", "finished")
    unmarked(auditor, "mayor_review", "active")
    expect(auditor.locator("#diagram-marks .marks-returned")).to_have_text("register")
    number = data_value(auditor, "registered_number")
    expect(number).to_have_class(re.compile(r"\bremoved\b"))
    expect(number.locator(".before")).to_have_text(REGISTER["registered_number"])

    # registered again: the step that was sent back shows as returned now that it is done
    auditor.click("#step-next")
    marked(auditor, "register", "returned")
    marked(auditor, "mayor_review", "active")
    expect(data_value(auditor, "proposed_handling").locator("td.value")).to_have_text("拟请区长批示")

    # the left arrow and the previous button go back
    auditor.keyboard.press("ArrowLeft")
    expect(auditor).to_have_url(re.compile(rf"\?event={ids[returned]}$"))
    marked(auditor, "register", "active")
    auditor.click("#step-prev")
    expect(auditor).to_have_url(re.compile(rf"\?event={ids[registered]}$"))
    marked(auditor, "register", "finished")
    expect(auditor.locator('#audit-timeline li[aria-current="step"]')).to_have_attribute("data-event", str(ids[registered]))
    expect(auditor.locator("#replay-event")).to_have_value(str(ids[registered]))

    # the browser's back button returns to the event before
    auditor.go_back()
    expect(auditor).to_have_url(re.compile(rf"\?event={ids[returned]}$"))
    marked(auditor, "register", "active")
    expect(data_value(auditor, "registered_number")).to_have_class(re.compile(r"\bremoved\b"))
    assert loads == []

    # a reload shows the event in the address, rendered by the server
    auditor.reload()
    expect(auditor.locator("#audit-diagram.bpmn-diagram-ready")).to_be_attached()
    expect(auditor.locator('#audit-timeline li[aria-current="step"]')).to_have_attribute("data-event", str(ids[returned]))
    marked(auditor, "register", "active")

    # only the fields this event changed
    auditor.check("#only-changed")
    expect(auditor.locator("#event-data-slot tr.field-row:not(.changed)").first).to_be_hidden()
    expect(data_value(auditor, "registered_number")).to_be_visible()

    # replay: consistent, and the page stays on the chosen event
    auditor.click("#replay")
    expect(auditor.locator("#replay-result")).to_contain_text("重放一致")
    expect(auditor.locator('#audit-timeline li[aria-current="step"]')).to_have_attribute("data-event", str(ids[returned]))
    assert auditor.refused == []


def test_the_auditor_verifies_the_chain_and_reads_the_reports(site, signed_in):
    worked(site.engine)
    auditor = signed_in(AUDITOR)
    auditor.goto("/audit")
    auditor.click("#verify-chain")
    expect(auditor.locator("#verify-result")).to_contain_text("审计链完整")
    auditor.click("#audit-tab-reports")
    expect(auditor).to_have_url(re.compile(r"/audit/reports$"))
    expect(auditor.locator("#chart-procedures svg rect.bar-started").first).to_be_visible()
    expect(auditor.locator("#table-steps tbody tr").first).to_be_visible()
    with auditor.expect_download() as download:
        auditor.click("#csv-steps")
    assert download.value.suggested_filename.endswith(".csv")
    assert auditor.refused == []


def test_someone_else_gets_the_403_page(site, signed_in):
    clerk = signed_in("zheng_clerk")
    expect(clerk.locator("#audit-link")).to_have_count(0)
    response = clerk.goto("/audit/reports")
    assert response.status == 403
    expect(clerk.locator("#error-title")).to_have_text("无权访问")
