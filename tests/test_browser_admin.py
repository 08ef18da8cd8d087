"""The designers' editor and the admins' instance operations in a real browser: Debian's headless Chromium driven by
Playwright against the app served by a werkzeug server in a thread, on SQLite, clock fixed at Monday 2026-06-01
09:00 (Shanghai) — the same set-up as tests/test_browser_ui.py.

Open the deployed 请假 diagram in the editor, change a task's due-date rule in the GovFlow properties group, point
the task at a missing form and see the error listed (validated a moment after the change), click it to select the
element, fix it, deploy as version 2 with a note; an instance started before runs on version 1, one started after
on version 2; migrate the first from 1 to 2 (check report, then confirm); a failed instance retried after a fix
was uploaded and the instance migrated to it. A new procedure whose task needs a form that does not exist yet: the
form is added in the forms panel (a schema that is not a JSON Schema shown next to it), and the procedure deployed
as version 1 with it. Screenshots: tests/artifacts/admin_editor.png, admin_editor_forms.png."""
from __future__ import annotations

import json
import re
import shutil

import pytest

from engine.errors import InstanceFailed, InvalidInput

from . import browser as shared
from .browser import browser_fixture, expect, requires_chromium, shot  # noqa: F401  (browser_fixture: a fixture)
from .helpers import CLERK, FIXTURES, open_task
from .test_cli import TRIP

pytestmark = requires_chromium
FILER = "liu_civil"
NEW_PROCEDURE = FIXTURES.parent / "editor" / "travel_allowance.bpmn"  # drawn by a designer: one task, no form yet
FORM_X = '{"type": "object", "properties": {"amount": {"type": "number", "title": "金额"}}, "required": ["amount"]}'


@pytest.fixture(scope="module")
def site(sqlite_template, tmp_path_factory):
    with shared.served(sqlite_template, tmp_path_factory.mktemp("browser_admin")) as served:
        yield served


@pytest.fixture
def admin_page(browser, site):
    problems = []

    def watch(page):
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))

    context, page = shared.signed_in_page(browser, site, "admin", viewport=(1440, 1000), watch=watch)
    page.console_problems = problems
    yield page
    context.close()


def selected(page) -> list[str]:
    return page.evaluate("() => window.govflowEditor.modeler.get('selection').get().map(e => e.id)")


def govflow_field(page, name: str):
    return page.locator(f"#bio-properties-panel-govflow-{name}")


def test_edit_validate_fix_and_deploy_version_2_then_migrate_an_instance(admin_page, site):
    page, engine = admin_page, site.engine
    before = engine.start("leave", FILER, TRIP)["instance"]
    assert engine.show(before)["version"] == 1

    page.click("#admin-link")
    expect(page).to_have_url(re.compile(r"/admin/instances$"))
    page.click("#admin-nav-definitions")
    expect(page.locator("#def-leave tr[data-version='1']")).to_be_visible()
    page.click("#edit-leave")
    expect(page.locator("body[data-editor-ready='1']")).to_have_count(1)
    expect(page.locator("#validation-state")).to_have_text("通过校验")

    # the GovFlow group of 区长审批: its lane (the role), its form and its due-date rule
    page.click("[data-element-id='mayor_approval']", position={"x": 20, "y": 20})
    assert selected(page) == ["mayor_approval"]
    group = page.locator("[data-group-id='group-govflow']")
    expect(group).to_be_visible()
    if not govflow_field(page, "dueIn").is_visible():
        group.locator(".bio-properties-panel-group-header").click()
    expect(govflow_field(page, "dueIn")).to_have_value("P1WD")
    lane = page.locator("#bio-properties-panel-govflow-lane")
    expect(lane.locator("option:checked")).to_have_text("区长")
    govflow_field(page, "dueIn").fill("P2WD")
    # the role: 区长审批 moves to the lane 区委书记 and back (bpmn-js keeps the lanes' flowNodeRefs)
    lane.select_option(label="区委书记")
    page.wait_for_function("() => window.govflowEditor.laneName('mayor_approval') === '区委书记'")
    lane.select_option(label="区长")
    page.wait_for_function("() => window.govflowEditor.laneName('mayor_approval') === '区长'")

    # a missing form: the error is listed a moment later with the element and its name
    govflow_field(page, "formJsonSchemaFilename").fill("missing.json")
    problem = page.locator("#problems .problem", has_text="missing.json")
    expect(problem).to_be_visible()
    expect(problem.locator(".problem-element")).to_have_text("区长审批 (mayor_approval)")
    expect(page.locator("#validation-state")).to_contain_text("问题")
    page.click("[data-element-id='vice_approval']", position={"x": 20, "y": 20})
    assert selected(page) == ["vice_approval"]
    problem.locator(".problem-element").click()
    assert selected(page) == ["mayor_approval"]
    shot(page, "admin_editor.png")

    # fix it, compare with version 1, deploy as version 2 with a note
    govflow_field(page, "formJsonSchemaFilename").fill("approve.json")
    expect(page.locator("#problems .problem")).to_have_count(0)
    expect(page.locator("#validation-state")).to_have_text("通过校验")
    page.click("#btn-diff")
    expect(page.locator("#diff-result .diff-changed [data-element='mayor_approval']")).to_have_count(1)
    page.click("#btn-deploy")
    expect(page.locator("#editor-status")).to_have_text("请填写变更说明")
    page.fill("#deploy-note", "区长审批时限改为两个工作日")
    page.click("#btn-deploy")
    expect(page.locator("#editor-status")).to_have_text("已部署为第 2 版")
    versions = engine.versions("leave")
    assert [v["version"] for v in versions] == [1, 2] and versions[1]["note"] == "区长审批时限改为两个工作日"
    xml = engine.definition_source("leave", 2)["xml"]
    task = xml[xml.index('<bpmn:userTask id="mayor_approval"'):]
    task = task[:task.index("</bpmn:userTask>")]
    assert 'value="P2WD"' in task and 'value="approve.json"' in task
    mayor_lane = xml[xml.index('<bpmn:lane id="lane_mayor"'):]
    assert "<bpmn:flowNodeRef>mayor_approval</bpmn:flowNodeRef>" in mayor_lane[:mayor_lane.index("</bpmn:lane>")]

    # instances: the one started before stays on version 1, a new one runs on version 2
    after = engine.start("leave", FILER, TRIP)["instance"]
    assert engine.show(before)["version"] == 1 and engine.show(after)["version"] == 2

    page.goto("/admin/instances?process=leave")
    expect(page.locator(f"#instance-{before} .version")).to_have_text("v1")
    page.check(f"#pick-{before}")
    page.select_option("#to-version", "2")
    page.click("#migrate-check")
    expect(page.locator("#migration-report")).to_contain_text("全部可以迁移")
    page.fill("#migrate-reason", "采用新时限")
    page.click("#migrate-confirm")
    expect(page.locator(".flash-success")).to_contain_text("迁移到第 2 版")
    expect(page.locator(f"#instance-{before} .version")).to_have_text("v2")
    assert engine.show(before)["version"] == 2
    assert not [p for p in page.console_problems if "Content Security Policy" in p], page.console_problems


def test_a_failed_instance_is_retried_after_a_fix_is_uploaded_and_it_is_migrated(admin_page, site, tmp_path):
    page, engine = admin_page, site.engine
    folder = tmp_path / "script_error"
    shutil.copytree(FIXTURES / "script_error", folder)
    bpmn = folder / "script_error.bpmn"
    [v1] = engine.deploy([folder], "admin")
    failed = engine.start(v1.key, CLERK, {})["instance"]
    with pytest.raises(InstanceFailed):
        engine.complete(open_task(engine, failed, "enter")["id"], CLERK, {"total": 5, "people": 0})

    page.goto("/admin/instances?state=failed")
    expect(page.locator(f"#error-{failed}")).to_contain_text("division by zero")
    page.click(f"#retry-{failed}")
    expect(page.locator(".flash-error")).to_contain_text("重试后仍然出错")

    bpmn.write_text(bpmn.read_text(encoding="utf-8").replace(
        "per_person = total / people", "per_person = total / people if people else total"), encoding="utf-8")
    page.goto("/admin/definitions")
    page.set_input_files("#upload-files", str(bpmn))
    page.fill("#upload-note", "人数为零时按总额计")
    page.click("#upload-submit")
    expect(page.locator(".flash-success")).to_contain_text("已部署 script_error 第 2 版")
    expect(page.locator("#def-script_error tr[data-version='2'] .note")).to_have_text("人数为零时按总额计")

    page.goto("/admin/instances?process=script_error")
    page.check(f"#pick-{failed}")
    page.select_option("#to-version", "2")
    page.click("#migrate-check")
    page.fill("#migrate-reason", "修正分摊脚本")
    page.click("#migrate-confirm")
    expect(page.locator(f"#instance-{failed} .version")).to_have_text("v2")
    page.click(f"#retry-{failed}")
    expect(page.locator(".flash-success")).to_contain_text(f"流程实例 {failed} 已重试")
    shown = engine.show(failed)
    assert shown["state"] == "running" and shown["data"]["per_person"] == 5


def test_a_version_diagram_and_the_decision_tables_editor(admin_page, site):
    page, engine = admin_page, site.engine
    page.goto("/admin/definitions/leave/1")
    expect(page.locator("#diagram [data-element-id='mayor_approval']")).to_have_count(1)
    page.click("#edit-dmn")
    expect(page.locator("body[data-dmn-ready='leave_route.dmn']")).to_have_count(1)
    expect(page.locator("#dmn-canvas .tjs-table")).to_be_visible()
    page.click("#dmn-save")
    expect(page.locator("#editor-status")).to_have_text("决策表已保存到草稿")
    draft = engine.draft("leave")
    assert draft is not None and "leave_route" in draft["dmn"]["leave_route.dmn"]
    engine.discard_draft("leave", "admin")
    assert not [p for p in page.console_problems if "Content Security Policy" in p], page.console_problems


@pytest.mark.parametrize("key", ["meeting", "topic_submission.dongan", "emergency_report"])
def test_the_editor_round_trip_keeps_every_model_valid(admin_page, site, key):
    """The editor opens each model and validates what it would save (its exported XML): SpiffWorkflow's
    extensions and multi-instance data references survive bpmn-js."""
    page = admin_page
    page.goto(f"/admin/editor/{key}")
    expect(page.locator("body[data-editor-ready='1']")).to_have_count(1)
    expect(page.locator("#validation-state")).to_have_text("通过校验")
    exported = page.evaluate("() => window.govflowEditor.xml()")
    original = site.engine.definition_source(key)["xml"]
    for tag in ("loopDataInputRef", "spiffworkflow:property ", "spiffworkflow:calledDecisionId", "spiffworkflow:postScript"):
        assert exported.count(f"<{tag}") + exported.count(f"<bpmn:{tag}") == \
            original.count(f"<{tag}") + original.count(f"<bpmn:{tag}"), tag


def test_a_new_procedure_gets_its_missing_form_in_the_forms_panel_and_is_deployed_as_version_1(admin_page, site,
                                                                                               tmp_path):
    page, engine = admin_page, site.engine
    page.goto("/admin/editor/travel_allowance")
    expect(page.locator("body[data-editor-ready='1']")).to_have_count(1)
    expect(page.locator("#editor-opened")).to_contain_text("新流程")
    expect(page.locator("#form-list")).to_have_text("还没有表单。")
    page.evaluate("xml => window.govflowEditor.open(xml)", NEW_PROCEDURE.read_text(encoding="utf-8"))

    # the task 填写差旅补助 is given the form x.json, which the procedure does not have yet
    page.click("[data-element-id='fill']", position={"x": 20, "y": 20})
    group = page.locator("[data-group-id='group-govflow']")
    if not govflow_field(page, "formJsonSchemaFilename").is_visible():
        group.locator(".bio-properties-panel-group-header").click()
    govflow_field(page, "formJsonSchemaFilename").fill("x.json")
    missing = page.locator("#problems .problem", has_text="x.json")
    expect(missing).to_be_visible()
    expect(missing.locator(".problem-element")).to_have_text("填写差旅补助 (fill)")

    # an uploaded form joins the list and can be removed again
    uploaded = tmp_path / "notes.json"
    uploaded.write_text('{"type": "object"}', encoding="utf-8")
    page.set_input_files("#form-upload", str(uploaded))
    expect(page.locator("#form-list [data-form='notes.json']")).to_have_count(1)
    expect(page.locator("#form-current")).to_have_text("notes.json")
    page.click("#form-remove")
    expect(page.locator("#form-list [data-form='notes.json']")).to_have_count(0)

    # form x.json: added, first written wrong (the server's check is shown next to it), then right
    page.fill("#form-new-name", "x.json")
    page.click("#form-add")
    expect(page.locator("#form-list [data-form='x.json']")).to_have_count(1)
    page.fill("#form-text", '{"type": "objec"}')
    expect(page.locator("#form-error")).to_contain_text("不是有效的 JSON Schema")
    expect(page.locator("#form-list [data-form='x.json'].has-problem")).to_have_count(1)
    shot(page, "admin_editor_forms.png")
    page.fill("#form-text", FORM_X)
    expect(page.locator("#form-error")).to_be_hidden()
    expect(page.locator("#problems .problem")).to_have_count(0)
    expect(page.locator("#validation-state")).to_have_text("通过校验")

    page.fill("#deploy-note", "新流程：差旅补助登记")
    page.click("#btn-deploy")
    expect(page.locator("#editor-status")).to_have_text("已部署为第 1 版")
    [version] = engine.versions("travel_allowance")
    assert (version["version"], version["note"]) == (1, "新流程：差旅补助登记")
    assert engine.definition_source("travel_allowance")["forms"] == {"x.json": json.loads(FORM_X)}
    task = engine.start("travel_allowance", CLERK, {})["tasks"][0]
    with pytest.raises(InvalidInput, match="金额"):  # the task's form is x.json
        engine.complete(task["id"], CLERK, {})
    assert not [p for p in page.console_problems if "Content Security Policy" in p], page.console_problems
