"""The auditors' pages: for auditors only (anyone else: the 403 page and nothing changed), CSRF on the POSTs,
the step-through showing the data and the diagram's marks as they stood after a chosen event (after a 退回 in
the middle of the history), verifying the audit chain before and after an event is edited behind the app's
back, replay, the reports with their CSV per table, and the event log as XES and CSV, against the engine's own
figures. Real engine, real database (SQLite and PostgreSQL)."""
from __future__ import annotations

import csv
import io
import json
import lxml.html
import pytest
from lxml import etree
from sqlalchemy import text as sql

from engine.clock import parse_instant

from .helpers import open_task, snapshot
from .test_audit_chain import behind_the_apps_back
from .test_cli import TRIP
from .test_document_incoming import CLERK, FILER, REGISTER, start
from .test_replay import worked

AUDITOR = "shen_auditor"
XES = "{http://www.xes-standard.org/}"
PAGES = ("/audit", "/audit/instances/{id}", "/audit/reports", "/audit/reports.csv?section=steps", "/audit/export.xes",
         "/audit/export.csv")


def text(response) -> str:
    return response.get_data(as_text=True)


def html(response):
    return lxml.html.fromstring(response.get_data(as_text=True))


def events_of(engine, instance_id: int) -> list[dict]:
    return engine.timeline(instance_id, AUDITOR)["events"]


def diagram_marks(page) -> dict:
    [diagram] = page.xpath('//div[@id="audit-diagram"]')
    return {name: json.loads(diagram.get(f"data-{name}")) for name in ("finished", "active", "returned")}


def data_rows(page) -> dict:
    """The step-through's data table: {key: {"value", "changed", "removed", "before", "after"}}."""
    rows = {}
    for row in page.xpath('//div[@id="event-data-slot"]//tr[@data-key]'):
        classes = row.get("class").split()
        cell = lambda name: " ".join(" ".join(row.xpath(f'.//*[contains(@class, "{name}")]//text()')).split())
        rows[row.get("data-key")] = {"value": " ".join(" ".join(row.xpath('./td[@class="value"]//text()')).split()),
                                     "changed": "changed" in classes, "removed": "removed" in classes,
                                     "before": cell("before"), "after": cell("after")}
    return rows


# --- who may see the pages ---------------------------------------------------------------------------------

def test_every_audit_page_opens_for_the_auditor(engine, web):
    instance_id = worked(engine)
    client = web(AUDITOR)
    for path in PAGES:
        response = client.get(path.format(id=instance_id))
        assert response.status_code == 200, path
    assert 'id="audit-link"' in text(client.get("/inbox"))


@pytest.mark.parametrize("username", ["liu_civil", "wang_mayor", "admin"])
def test_anyone_else_gets_the_403_page_and_nothing_changes(engine, web, username):
    instance_id = worked(engine)
    client = web(username)
    assert 'id="audit-link"' not in text(client.get("/inbox"))
    before = snapshot(engine)
    for path in PAGES:
        response = client.get(path.format(id=instance_id))
        assert response.status_code == 403 and "无权访问" in text(response), path
    for path in ("/audit/verify", f"/audit/instances/{instance_id}/replay"):
        assert client.post(path, {"event": "1"}).status_code == 403, path
    assert snapshot(engine) == before


def test_the_signed_out_are_sent_to_sign_in(engine, web):
    response = web().get("/audit/reports")
    assert response.status_code == 302 and "/login?next=" in response.location


def test_the_posts_need_the_csrf_token(engine, web):
    instance_id = worked(engine)
    client = web(AUDITOR)
    for path in ("/audit/verify", f"/audit/instances/{instance_id}/replay"):
        response = client.post(path, csrf=False)
        assert response.status_code == 400 and "安全令牌" in text(response), path
        assert client.post(path).status_code == 200, path


# --- the instances list --------------------------------------------------------------------------------------

def test_the_list_filters_by_procedure_state_and_period(engine, web, clock):
    first = worked(engine)
    clock.set(parse_instant("2026-06-03T10:00:00+08:00"))
    second = start(engine, title="关于第二件事的请示")
    leave = engine.start("leave", FILER, dict(TRIP))["instance"]
    client = web(AUDITOR)

    def listed(query: str = "") -> list[int]:
        return [int(row.get("data-instance")) for row in html(client.get("/audit" + query)).xpath(
            '//table[@id="audit-instances"]/tbody/tr')]

    assert listed() == sorted([first, second, leave], reverse=True)
    assert listed("?process=document_incoming") == [second, first]
    assert listed("?process=leave") == [leave]
    assert listed("?from=2026-06-02") == [leave, second]
    assert listed("?to=2026-06-01") == [first]
    assert listed("?from=2026-06-02&to=2026-06-02") == []
    assert listed("?state=running&process=document_incoming") == [second, first]
    page = text(client.get("/audit?from=2026-13-01"))
    assert 'id="filter-errors"' in page and "2026-13-01" in page


def test_the_lists_of_instances_are_filtered_and_paged_by_the_database(engine, web, web_app, clock):
    """The auditors' and the admins' lists read one page, counted and filtered in the database: a family of
    procedures (the auditors' filter) or one process exactly (the admins'), a state, a period."""
    older = [start(engine, title=f"第{n}件") for n in range(3)]
    clock.set(parse_instant("2026-06-03T10:00:00+08:00"))
    newer = [start(engine, title=f"第{n}件") for n in range(3, 5)]
    leave = engine.start("leave", FILER, dict(TRIP))["instance"]
    newest_first = [leave, *reversed(older + newer)]

    listing = engine.instance_page(page=2, per_page=2)
    assert ([row["id"] for row in listing["rows"]], listing["total"], listing["pages"], listing["page"]) == \
        (newest_first[2:4], 6, 3, 2)
    assert [row["id"] for row in engine.instance_page(page=9, per_page=2)["rows"]] == newest_first[4:]
    assert engine.instance_page(family="document_incoming")["total"] == 5
    assert engine.instance_page(family="document")["total"] == 0  # a family is a whole key, not a prefix
    assert engine.instance_page(process="leave")["total"] == 1
    assert engine.instance_page(state="completed")["total"] == 0
    since = engine.instance_page(family="document_incoming",
                                 started_from=parse_instant("2026-06-02T00:00:00+08:00"))
    assert [row["id"] for row in since["rows"]] == list(reversed(newer))

    web_app.config["GOVFLOW_PER_PAGE"] = 2
    for client, path in ((web(AUDITOR), "/audit"), (web("admin"), "/admin/instances")):
        first = html(client.get(path + "?process=document_incoming"))
        assert [int(id_) for id_ in first.xpath('//tbody/tr/@data-instance')] == list(reversed(older + newer))[:2]
        assert "第 1 / 3 页，共 5 条" in first.xpath('string(//nav[@class="pager"])')
        second = html(client.get(first.xpath('//a[@id="next-page"]/@href')[0]))
        assert [int(id_) for id_ in second.xpath('//tbody/tr/@data-instance')] == [older[2], older[1]]
        last = html(client.get(second.xpath('//a[@id="next-page"]/@href')[0]))
        assert [int(id_) for id_ in last.xpath('//tbody/tr/@data-instance')] == [older[0]]
        assert last.xpath('//a[@id="next-page"]') == [] and last.xpath('//a[@id="prev-page"]/@href')


# --- the step-through ----------------------------------------------------------------------------------------

def test_the_step_through_shows_the_data_and_the_diagram_as_they_stood_after_a_return(engine, web):
    instance_id = worked(engine)
    events = events_of(engine, instance_id)
    actions = [e["action"] for e in events]
    registered, returned = events[actions.index("complete")], events[actions.index("return")]
    client = web(AUDITOR)

    page = html(client.get(f"/audit/instances/{instance_id}?event={registered['id']}"))
    assert page.xpath('//ol[@id="audit-timeline"]/li[@aria-current="step"]/@data-event') == [str(registered["id"])]
    assert diagram_marks(page) == {"finished": ["register"], "active": ["mayor_review", "overdue_mayor_review"],
                                   "returned": []}
    rows = data_rows(page)
    assert rows["registered_number"]["value"] == REGISTER["registered_number"] and rows["registered_number"]["changed"]
    assert rows["registered_number"]["after"] == REGISTER["registered_number"]
    assert not rows["title"]["changed"]

    response = client.get(f"/audit/instances/{instance_id}?event={returned['id']}")
    page = html(response)
    detail = " ".join(" ".join(page.xpath('//div[@id="event-detail-slot"]//text()')).split())
    assert "退回了" in detail and "请补充测算依据" in detail and "王建国" in detail
    assert diagram_marks(page) == {"finished": ["mayor_review", "overdue_mayor_review"], "active": ["register"],
                                   "returned": ["register"]}
    rows = data_rows(page)
    number = rows["registered_number"]
    assert number["changed"] and number["removed"] and number["before"] == REGISTER["registered_number"]
    assert "registered_number" not in returned["state"]["data"]
    # the title did not change at the return; every field the event changed is highlighted, and only those
    assert not rows["title"]["changed"] and rows["title"]["value"] == returned["state"]["data"]["title"]
    assert {key for key, row in rows.items() if row["changed"]} == set(returned["data"]["changes"])
    # previous and next lead to the events either side, and every event is a link with its ?event=
    index = [e["id"] for e in events].index(returned["id"])
    assert page.xpath('//a[@id="step-prev"]/@href') == [f"/audit/instances/{instance_id}?event={events[index - 1]['id']}"]
    assert page.xpath('//a[@id="step-next"]/@href') == [f"/audit/instances/{instance_id}?event={events[index + 1]['id']}"]
    assert len(page.xpath('//ol[@id="audit-timeline"]/li//a[contains(@href, "?event=")]')) == len(events)
    # every event's panel is on the page for stepping in the browser
    assert len(page.xpath('//div[@id="event-templates"]/template')) == 2 * len(events)
    assert "Asia/Shanghai" not in text(response) and "09:00:00" in detail


def test_the_step_through_opens_at_the_last_event_and_refuses_an_event_of_another_instance(engine, web):
    instance_id = worked(engine)
    other = start(engine, title="另一件")
    events = events_of(engine, instance_id)
    client = web(AUDITOR)
    page = html(client.get(f"/audit/instances/{instance_id}"))
    assert page.xpath('//li[@aria-current="step"]/@data-event') == [str(events[-1]["id"])]
    assert page.xpath('//a[@id="step-next"]/@href') == [] and page.xpath('//a[@id="step-prev"]/@href')
    assert diagram_marks(page)["active"] == events[-1]["state"]["active"]
    first_of_other = events_of(engine, other)[0]["id"]
    assert client.get(f"/audit/instances/{instance_id}?event={first_of_other}").status_code == 404
    assert client.get("/audit/instances/99999").status_code == 404


def test_viewing_a_classified_instance_is_recorded(engine, web):
    instance_id = start(engine, classification="秘密")
    plain = start(engine, title="不涉密的请示")
    client = web(AUDITOR)
    if "classified" in engine.instances()[0]:  # the list marks classified instances (engine.queries)
        listing = html(client.get("/audit"))
        assert listing.xpath(f'//tr[@data-instance="{instance_id}"]//span[contains(@class, "tag-classified")]')
        assert not listing.xpath(f'//tr[@data-instance="{plain}"]//span[contains(@class, "tag-classified")]')
    assert [e for e in engine.show(instance_id)["events"] if e["action"] == "view_classified"] == []
    assert client.get(f"/audit/instances/{instance_id}").status_code == 200
    views = [e for e in engine.show(instance_id)["events"] if e["action"] == "view_classified"]
    assert [(e["actor"], e["data"]["classification"]) for e in views] == [(AUDITOR, "秘密")]
    page = html(client.get(f"/audit/instances/{instance_id}"))
    assert "查阅了涉密文件" in " ".join(page.xpath('//ol[@id="audit-timeline"]//text()'))
    # a replay is one more view, recorded once
    assert "重放一致" in text(client.post(f"/audit/instances/{instance_id}/replay"))
    assert len([e for e in engine.show(instance_id)["events"] if e["action"] == "view_classified"]) == 3


def test_replay_says_consistent_then_names_the_event_where_it_parts(engine, web):
    instance_id = worked(engine)
    client = web(AUDITOR)
    page = text(client.post(f"/audit/instances/{instance_id}/replay", {"event": ""}))
    assert 'id="replay-result"' in page and "重放一致" in page
    with engine.db.begin() as conn:
        conn.execute(sql("UPDATE instances SET data = :data WHERE id = :i"),
                     {"i": instance_id, "data": json.dumps({"title": "改过的标题"}, ensure_ascii=False)})
        last = conn.scalar(sql("SELECT max(id) FROM audit_events WHERE instance_id = :i AND action = 'complete'"),
                           {"i": instance_id})
    engine._instances.clear()
    events = events_of(engine, instance_id)
    response = client.post(f"/audit/instances/{instance_id}/replay", {"event": str(events[2]["id"])})
    page = html(response)
    assert "重放不一致" in text(response)
    assert page.xpath('//a[@id="replay-parted"]/@href') == [f"/audit/instances/{instance_id}?event={last}"]
    # the page stays on the event it was on
    assert page.xpath('//li[@aria-current="step"]/@data-event') == [str(events[2]["id"])]


# --- verifying the chain -------------------------------------------------------------------------------------

def test_verify_reports_an_intact_chain_then_the_first_event_edited_behind_the_apps_back(engine, web):
    instance_id = worked(engine)
    client = web(AUDITOR)
    page = text(client.post("/audit/verify"))
    assert 'class="card verify-result verify-intact"' in page and "审计链完整" in page
    victim = events_of(engine, instance_id)[3]["id"]
    with behind_the_apps_back(engine) as conn:
        conn.execute(sql("UPDATE audit_events SET actor = 'mallory' WHERE id = :i"), {"i": victim})
    response = client.post("/audit/verify?process=leave")
    page = html(response)
    assert "审计链已被破坏" in text(response)
    result = " ".join(" ".join(page.xpath('//section[@id="verify-result"]//text()')).split())
    assert f"#{victim}" in result and "global" in result and f"事件 {victim} 与审计链不符" in result
    # the list under it keeps its filter
    assert page.xpath('//select[@id="filter-process"]/option[@selected]/@value') == ["leave"]


# --- reports -------------------------------------------------------------------------------------------------

def test_the_reports_show_each_table_and_chart_with_missed_limits_in_red(engine, web, clock):
    worked(engine)
    late = start(engine, title="拖延的请示")
    complete_register(engine, late)
    clock.set(parse_instant("2026-06-12T09:00:00+08:00"))  # past the 5-working-day limit of the mayor's review
    result = engine.report()
    client = web(AUDITOR)
    page = html(client.get("/audit/reports"))
    assert len(page.xpath('//table[@id="table-procedures"]/tbody/tr')) == len(result["procedures"]) == 1
    assert page.xpath('//table[@id="table-procedures"]/tbody/tr/td[2]/text()') == ["2"]
    assert len(page.xpath('//table[@id="table-steps"]/tbody/tr')) == len(result["steps"])
    assert len(page.xpath('//table[@id="table-limits"]/tbody/tr')) == len(result["limits"])
    overdue = page.xpath('//table[@id="table-limits"]/tbody/tr[@data-status="overdue"]')
    assert len(overdue) == 2 and all("missed" in row.get("class") for row in overdue)
    assert all(row.xpath('.//span[contains(@class, "status-overdue")]') for row in overdue)
    met = page.xpath('//table[@id="table-limits"]/tbody/tr[@data-status="met"]')
    assert met and all("missed" not in row.get("class") for row in met)
    minutes = [limit["minutes_late"] for limit in result["limits"] if limit["status"] == "overdue"]
    assert sorted(int(m) for m in page.xpath('//tr[@data-status="overdue"]/td[@data-minutes]/@data-minutes')) == \
        sorted(minutes)
    # the charts are inline SVG: one bar per procedure and series, the limits stacked
    for chart in ("chart-procedures", "chart-steps", "chart-limits"):
        assert page.xpath(f'//figure[@id="{chart}"]//*[local-name()="svg"]'), chart
    assert page.xpath('//figure[@id="chart-procedures"]//*[local-name()="rect"][contains(@class, "bar-started")]/@data-value') == ["2"]
    assert page.xpath('//figure[@id="chart-limits"]//*[local-name()="rect"][contains(@class, "bar-overdue")]/@data-value') == ["2"]
    # only the missed ones
    missed = html(client.get("/audit/reports?missed=1"))
    assert {row.get("data-status") for row in missed.xpath('//table[@id="table-limits"]/tbody/tr')} == {"overdue"}


def complete_register(engine, instance_id: int) -> None:
    engine.complete(open_task(engine, instance_id, "register")["id"], CLERK, REGISTER)


def test_the_period_and_procedure_narrow_the_reports(engine, web, clock):
    worked(engine)
    clock.set(parse_instant("2026-06-03T10:00:00+08:00"))
    engine.start("leave", FILER, dict(TRIP))
    client = web(AUDITOR)
    page = html(client.get("/audit/reports?from=2026-06-02&to=2026-06-30"))
    assert page.xpath('//table[@id="table-procedures"]/tbody/tr/@data-process') == ["leave"]
    page = html(client.get("/audit/reports?process=document_incoming"))
    assert page.xpath('//table[@id="table-procedures"]/tbody/tr/@data-process') == ["document_incoming"]
    page = html(client.get("/audit/reports?from=2026-07-01"))
    assert page.xpath('//table[@id="table-procedures"]') == [] and "该期间没有数据" in lxml.html.tostring(
        page, encoding="unicode")


@pytest.mark.parametrize("section", ["procedures", "departments", "steps", "limits"])
def test_each_report_table_downloads_as_csv(engine, web, clock, section):
    worked(engine)
    clock.set(parse_instant("2026-06-12T09:00:00+08:00"))
    client = web(AUDITOR)
    response = client.get(f"/audit/reports.csv?section={section}&from=2026-06-01&to=2026-06-30")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.data.decode("utf-8-sig"))))
    expected = engine.report(parse_instant("2026-06-01T00:00:00+08:00"), parse_instant("2026-07-01T00:00:00+08:00"))
    assert len(rows) == len(expected[section]) > 0
    assert [row["process"] for row in rows] == [row["process"] for row in expected[section]]
    # nothing started in July
    empty = client.get(f"/audit/reports.csv?section={section}&from=2026-07-01")
    assert list(csv.DictReader(io.StringIO(empty.data.decode("utf-8-sig")))) == []


def test_an_unknown_report_table_is_a_bad_request(engine, web):
    client = web(AUDITOR)
    assert client.get("/audit/reports.csv?section=passwords").status_code == 400
    assert client.get("/audit/reports.csv?section=steps&from=yesterday").status_code == 400


# --- the event log -------------------------------------------------------------------------------------------

def test_the_event_log_downloads_as_xes_and_csv_with_the_engine_s_counts(engine, web, clock):
    first = worked(engine)
    clock.set(parse_instant("2026-06-03T10:00:00+08:00"))
    second = start(engine, title="关于第二件事的请示")
    complete_register(engine, second)
    rows = engine.event_log()
    client = web(AUDITOR)

    response = client.get("/audit/export.xes")
    assert response.status_code == 200 and "attachment" in response.headers["Content-Disposition"]
    log = etree.fromstring(response.data, parser=etree.XMLParser(resolve_entities=False, no_network=True))
    traces = log.findall(f"{XES}trace")
    assert [t.find(f'{XES}string[@key="concept:name"]').get("value") for t in traces] == [str(first), str(second)]
    assert sum(len(t.findall(f"{XES}event")) for t in traces) == len(rows)
    lifecycles = [e.find(f'{XES}string[@key="lifecycle:transition"]').get("value") for e in log.iter(f"{XES}event")]
    assert lifecycles.count("ate_abort") == 1 and lifecycles == [row["lifecycle"] for row in rows]

    response = client.get("/audit/export.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    table = list(csv.DictReader(io.StringIO(response.data.decode("utf-8"))))
    assert len(table) == len(rows) and {row["case_id"] for row in table} == {str(first), str(second)}
    assert set(table[0]) >= {"case_id", "activity", "timestamp", "resource", "lifecycle"}

    # the period and the procedure narrow it
    since = client.get("/audit/export.csv?from=2026-06-02")
    assert {row["case_id"] for row in csv.DictReader(io.StringIO(since.data.decode("utf-8")))} == {str(second)}
    none = etree.fromstring(client.get("/audit/export.xes?process=leave").data)
    assert none.findall(f"{XES}trace") == []


# --- language ------------------------------------------------------------------------------------------------

def test_the_pages_read_in_english(engine, web):
    instance_id = worked(engine)
    client = web(AUDITOR)
    client.post("/language", {"lang": "en", "next": "/audit"})
    for path, words in (("/audit", "Verify the audit chain"), (f"/audit/instances/{instance_id}", "The data at that moment"),
                        ("/audit/reports", "Time per step")):
        assert words in text(client.get(path)), path
