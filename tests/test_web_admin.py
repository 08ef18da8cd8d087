"""The admins' and designers' pages (webui/admin_views.py) against the real engine, on SQLite and PostgreSQL:
only admins (anyone else gets the 403 page and nothing changes), the CSRF token on every form and JSON call,
instance operations, a migration that must be refused (the report shown, nothing moved), deployment by upload
(version 2 with its note), and the editor's validate / draft / deploy calls."""
import io
import json
import re

import pytest

from engine.directory_admin import DirectoryAdmin

from .conftest import PROCESSES
from .helpers import CLERK, FIXTURES, deploy, drop_confirm_step, fixture_copy, open_task, snapshot

ADMIN = "admin"
LEAVE_XML = (PROCESSES / "leave" / "leave.bpmn").read_text(encoding="utf-8")
# A new procedure whose one user task uses the form x.json (the designer has not written it yet).
ALLOWANCE_XML = (FIXTURES.parent / "editor" / "travel_allowance.bpmn").read_text(encoding="utf-8").replace(
    '<bpmn:userTask id="fill" name="填写差旅补助">',
    '<bpmn:userTask id="fill" name="填写差旅补助"><bpmn:extensionElements><spiffworkflow:properties>'
    '<spiffworkflow:property name="formJsonSchemaFilename" value="x.json"/></spiffworkflow:properties>'
    '</bpmn:extensionElements>')
FORM_X = '{"type": "object", "properties": {"amount": {"type": "number", "title": "金额"}}, "required": ["amount"]}'
PAGES = ["/admin/", "/admin/instances", "/admin/definitions", "/admin/definitions/leave/1", "/admin/editor/leave",
         "/admin/dmn/leave", "/admin/directory", "/admin/calendar"]


def posts(instance_id: int) -> list[tuple[str, dict]]:
    return [(f"/admin/instances/{instance_id}/suspend", {"reason": "x"}),
            (f"/admin/instances/{instance_id}/resume", {"reason": "x"}),
            (f"/admin/instances/{instance_id}/cancel", {"reason": "x"}),
            (f"/admin/instances/{instance_id}/retry", {"reason": "x"}),
            ("/admin/instances/migrate", {"instance": str(instance_id), "to_version": "1", "confirm": "1",
                                          "reason": "x"}),
            ("/admin/definitions/upload", {"note": "x", "key": "leave",
                                           "files": (io.BytesIO(LEAVE_XML.encode()), "leave.bpmn")}),
            ("/admin/editor/leave/draft", None), ("/admin/editor/leave/deploy", None),
            ("/admin/editor/leave/validate", None), ("/admin/editor/leave/discard", {}),
            ("/admin/dmn/leave", None),
            ("/admin/directory/users", {"username": "zheng_clerk", "display_name": "x", "roles": "admin", "active": "1"}),
            ("/admin/directory/districts", {"key": "fangshan", "name": "房山区",
                                            "variant:overseas_travel": "overseas_travel.xicheng"}),
            ("/admin/directory/departments", {"key": "sports", "name": "区体育局", "district": "fangshan"}),
            ("/admin/directory/departments/fao/remove", {}),
            ("/admin/directory/roles", {"key": "archivist", "name": "档案员", "name_en": "Archivist"}),
            ("/admin/directory/roles/legal_office/remove", {}),
            ("/admin/directory/partners", {"username": "li_exec", "partner": "zhao_vice"}),
            ("/admin/roster", {"role": "duty_office", "username": "feng_duty", "starts_at": "2026-06-01T08:00",
                               "ends_at": "2026-06-02T08:00"}),
            ("/admin/roster/1/remove", {}),
            ("/admin/calendar", {"day": "2026-06-02", "kind": "off", "note": "x"})]


def send(client, url: str, data, csrf: bool = True):
    if data is None:  # a JSON call of the editor pages
        headers = {"X-CSRFToken": client.csrf_token()} if csrf else {}
        body = {"xml": LEAVE_XML, "note": "x", "dmn": {}} if "dmn" not in url else {"dmn": {}}
        return client.client.post(url, json=body, headers=headers)
    if "files" in data:
        data = {**data, "files": (io.BytesIO(LEAVE_XML.encode()), "leave.bpmn")}
        return client.post(url, data, csrf=csrf, content_type="multipart/form-data")
    return client.post(url, data, csrf=csrf)


def test_every_admin_page_and_operation_is_403_for_others_and_changes_nothing(engine, web):
    instance_id = engine.start(deploy(engine, "timer_wait"), CLERK, {})["instance"]
    clerk = web(CLERK)
    for path in PAGES:
        assert clerk.get(path).status_code == 403, path
    assert "403" in clerk.get("/admin/instances").get_data(as_text=True)
    before = snapshot(engine)
    for url, data in posts(instance_id):
        response = send(clerk, url, data)
        assert response.status_code == 403, url
    assert snapshot(engine) == before
    assert 'id="admin-link"' not in clerk.get("/inbox").get_data(as_text=True)
    admin = web(ADMIN)
    assert 'id="admin-link"' in admin.get("/inbox").get_data(as_text=True)
    for path in PAGES:
        assert admin.get(path).status_code in (200, 302), path


def test_every_admin_form_needs_the_csrf_token(engine, web):
    instance_id = engine.start(deploy(engine, "timer_wait"), CLERK, {})["instance"]
    admin = web(ADMIN)
    before = snapshot(engine)
    for url, data in posts(instance_id):
        response = send(admin, url, data, csrf=False)
        assert response.status_code == 400, url
    assert snapshot(engine) == before


def test_suspend_resume_and_cancel_with_a_reason(engine, web):
    instance_id = engine.start(deploy(engine, "timer_wait"), CLERK, {})["instance"]
    admin = web(ADMIN)
    page = admin.get("/admin/instances?process=timer_wait").get_data(as_text=True)
    assert f'id="suspend-{instance_id}"' in page
    assert admin.post(f"/admin/instances/{instance_id}/suspend", {"reason": "核查"}).status_code == 302
    assert engine.show(instance_id)["state"] == "suspended"
    page = admin.get("/admin/instances?state=suspended").get_data(as_text=True)
    assert f'id="resume-{instance_id}"' in page and "已暂停" in page
    admin.post(f"/admin/instances/{instance_id}/resume", {"reason": "继续"})
    assert engine.show(instance_id)["state"] == "running"
    response = admin.post(f"/admin/instances/{instance_id}/cancel", {"reason": ""}, follow_redirects=True)
    assert engine.show(instance_id)["state"] == "running"  # a cancel needs its reason
    assert "flash-error" in response.get_data(as_text=True)
    admin.post(f"/admin/instances/{instance_id}/cancel", {"reason": "重复提交"})
    shown = engine.show(instance_id)
    assert shown["state"] == "cancelled" and shown["events"][-1]["data"]["reason"] == "重复提交"


def test_a_failed_instance_shows_its_error_and_is_retried_after_a_fix_and_a_migration(engine, web, tmp_path):
    folder, bpmn = fixture_copy(tmp_path, "script_error")
    [v1] = engine.deploy([folder], ADMIN)
    instance_id = engine.start(v1.key, CLERK, {})["instance"]
    with pytest.raises(Exception):
        engine.complete(open_task(engine, instance_id, "enter")["id"], CLERK, {"total": 5, "people": 0})
    admin = web(ADMIN)
    page = admin.get("/admin/instances?state=failed").get_data(as_text=True)
    assert f'id="error-{instance_id}"' in page and re.search(r"division by zero|ZeroDivision", page)
    response = admin.post(f"/admin/instances/{instance_id}/retry", {"reason": "再试"}, follow_redirects=True)
    assert "重试后仍然出错" in response.get_data(as_text=True)
    assert engine.show(instance_id)["state"] == "failed"

    fixed = bpmn.read_text(encoding="utf-8").replace("per_person = total / people",
                                                     "per_person = total / people if people else total")
    response = admin.post("/admin/definitions/upload", {"note": "人数为零时不再出错", "files": (io.BytesIO(fixed.encode()),
                                                                                       "script_error.bpmn")},
                          content_type="multipart/form-data")
    assert response.status_code == 302
    page = admin.post("/admin/instances/migrate", {"instance": str(instance_id), "to_version": "2",
                                                   "process": "script_error"}).get_data(as_text=True)
    assert 'id="migrate-confirm"' in page and engine.show(instance_id)["version"] == 1
    admin.post("/admin/instances/migrate", {"instance": str(instance_id), "to_version": "2", "confirm": "1",
                                            "reason": "修正", "process": "script_error"})
    assert engine.show(instance_id)["version"] == 2
    admin.post(f"/admin/instances/{instance_id}/retry", {"reason": "修正后重试"})
    shown = engine.show(instance_id)
    assert shown["state"] == "running" and shown["data"]["per_person"] == 5


def test_a_migration_that_must_be_refused_shows_the_report_and_moves_nothing(engine, web, tmp_path):
    folder, bpmn = fixture_copy(tmp_path, "script_error")
    [v1] = engine.deploy([folder], ADMIN)
    waiting = engine.start(v1.key, CLERK, {})["instance"]
    moved_on = engine.start(v1.key, CLERK, {})["instance"]
    engine.complete(open_task(engine, moved_on, "enter")["id"], CLERK, {"total": 6, "people": 2})
    drop_confirm_step(bpmn)  # version 2 has no step 确认分摊
    engine.deploy([folder], ADMIN)
    admin = web(ADMIN)
    form = {"instance": [str(waiting), str(moved_on)], "to_version": "2", "process": "script_error"}
    before = snapshot(engine)
    page = admin.post("/admin/instances/migrate", form).get_data(as_text=True)
    assert "有流程实例不能迁移" in page and "确认分摊" in page and 'id="migrate-confirm"' not in page
    response = admin.post("/admin/instances/migrate", {**form, "confirm": "1", "reason": "升级"})
    assert response.status_code == 409
    page = response.get_data(as_text=True)
    assert 'id="migrate-refused"' in page and "确认分摊" in page
    assert snapshot(engine) == before
    assert engine.show(waiting)["version"] == 1 and engine.show(moved_on)["version"] == 1


def test_deploy_by_upload_creates_version_2_with_its_note_and_the_same_content_is_a_no_op(engine, web):
    admin = web(ADMIN)
    changed = LEAVE_XML.replace('name="区长审批"', 'name="区长审批（新）"')
    assert changed != LEAVE_XML

    def upload(xml, note, name="leave.bpmn"):
        return admin.post("/admin/definitions/upload", {"note": note, "files": (io.BytesIO(xml.encode()), name)},
                          content_type="multipart/form-data", follow_redirects=True)

    assert upload(changed, "").status_code == 200 and [v["version"] for v in engine.versions("leave")] == [1]
    page = upload(changed, "区长审批改名").get_data(as_text=True)
    versions = engine.versions("leave")
    assert [v["version"] for v in versions] == [1, 2]
    assert versions[1]["note"] == "区长审批改名" and versions[1]["deployed_by"] == ADMIN
    assert "区长审批改名" in page and "已部署 leave 第 2 版" in page
    assert "内容未变" in upload(changed, "again").get_data(as_text=True)
    assert len(engine.versions("leave")) == 2
    broken = upload(changed.replace('value="approve.json"', 'value="missing.json"', 1), "坏的")
    assert broken.status_code == 422 and "missing.json" in broken.get_data(as_text=True)
    assert len(engine.versions("leave")) == 2
    page = admin.get("/admin/definitions/leave/2").get_data(as_text=True)
    assert "区长审批改名" in page and "bpmn-diagram" in page


def test_the_editor_validates_saves_a_draft_and_deploys_with_a_note(engine, web):
    admin = web(ADMIN)
    page = admin.get("/admin/editor/leave").get_data(as_text=True)
    assert 'id="editor-data"' in page and "govflow-modeler" in page
    token = admin.csrf_token()

    def call(name, body):
        return admin.client.post(f"/admin/editor/leave/{name}", json=body, headers={"X-CSRFToken": token})

    broken = LEAVE_XML.replace('value="approve.json"', 'value="missing.json"', 1)
    result = call("validate", {"xml": broken}).get_json()
    assert result["valid"] is False
    [problem] = [p for p in result["problems"] if "missing.json" in p["message"]]
    assert problem["element"] == "vice_approval" and problem["name"] == "分管副区长审批"
    assert call("validate", {"xml": LEAVE_XML}).get_json() == {"valid": True, "problems": []}
    assert call("draft", {"xml": broken}).get_json()["saved"] is True
    assert engine.draft("leave")["xml"] == broken
    assert "missing.json" in admin.get("/admin/editor/leave").get_data(as_text=True)  # the draft opens
    assert call("deploy", {"xml": broken, "note": "坏"}).status_code == 422
    assert call("deploy", {"xml": LEAVE_XML, "note": ""}).status_code == 422
    fixed = LEAVE_XML.replace('name="区长审批"', 'name="区长审批（改）"')
    result = call("deploy", {"xml": fixed, "note": "改名"}).get_json()
    assert result["status"] == "deployed" and result["version"] == 2
    assert engine.versions("leave")[1]["note"] == "改名" and engine.draft("leave") is None


def test_the_draft_scenarios_run_from_the_editor(engine, web):
    admin = web(ADMIN)
    response = admin.client.post("/admin/editor/leave/scenarios", json={"xml": LEAVE_XML},
                                 headers={"X-CSRFToken": admin.csrf_token()})
    results = response.get_json()["results"]
    assert results and all(r["passed"] for r in results), results


def test_directory_roster_and_calendar_are_edited_in_the_ui(engine, web):
    admin = web(ADMIN)
    assert "zheng_clerk" in admin.get("/admin/directory").get_data(as_text=True)
    admin.post("/admin/directory/users", {"username": "new_clerk", "display_name": "新文秘", "department": "gov_office",
                                          "roles": "office_clerk", "active": "1", "password": "pw-123456"})
    profile = engine.profile("new_clerk")
    assert profile.display_name == "新文秘" and "office_clerk" in profile.roles
    assert admin.post("/admin/calendar", {"day": "2026-06-02", "kind": "off", "note": "调休"}).status_code == 302
    page = admin.get("/admin/calendar").get_data(as_text=True)
    assert "2026-06-02" in page and "调休" in page
    admin.post("/admin/calendar", {"day": "2026-06-02", "kind": "unset"})
    assert "2026-06-02" not in admin.get("/admin/calendar").get_data(as_text=True)


def test_districts_choose_their_variants_on_the_directory_page(engine, web):
    admin = web(ADMIN)
    page = admin.get("/admin/directory").get_data(as_text=True)
    assert 'id="district-xicheng-overseas_travel"' in page and '<option value="overseas_travel.jinghai"' in page
    response = admin.post("/admin/directory/districts", {
        "key": "fangshan", "name": "北京市房山区", "variant:overseas_travel": "overseas_travel.jinghai",
        "variant:topic_submission": "topic_submission.fangshan", "variant:document_outgoing": ""})
    assert response.status_code == 302
    assert engine.profile("liu_civil").variants == {"overseas_travel": "overseas_travel.jinghai",
                                                   "topic_submission": "topic_submission.fangshan"}
    before = snapshot(engine)
    response = admin.post("/admin/directory/districts", {"key": "fangshan", "name": "北京市房山区",
                                                         "variant:overseas_travel": "topic_submission.xicheng"})
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and 'id="district-fangshan-error"' in page
    assert "不是「overseas_travel」的区流程" in page
    assert snapshot(engine) == before
    response = admin.post("/admin/directory/districts", {"key": "Hai Dian", "name": "海淀区"})
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and 'id="district-error"' in page and 'value="海淀区"' in page  # input kept
    assert snapshot(engine) == before


def test_departments_are_added_renamed_moved_and_deleted_only_when_unused(engine, web):
    admin = web(ADMIN)
    assert admin.post("/admin/directory/departments", {"key": "sports", "name": "区体育局",
                                                       "district": "fangshan"}).status_code == 302
    admin.post("/admin/directory/departments", {"key": "sports", "name": "区文化和旅游局", "district": "xicheng"})
    page = admin.get("/admin/directory").get_data(as_text=True)
    assert 'id="department-sports-name" value="区文化和旅游局"' in page
    before = snapshot(engine)
    response = admin.post("/admin/directory/departments/civil_affairs/remove")
    page = response.get_data(as_text=True)
    assert response.status_code == 409 and 'id="department-civil_affairs-error"' in page
    assert "仍在使用，不能删除" in page and "liu_civil" in page and "zhao_vice" in page
    response = admin.post("/admin/directory/departments", {"key": "sports", "name": "区民政局", "district": ""})
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and "已被 civil_affairs 使用" in page
    assert 'id="department-sports-name" value="区民政局"' in page  # what was entered is kept
    assert snapshot(engine) == before
    assert admin.post("/admin/directory/departments/sports/remove").status_code == 302
    assert "sports" not in {d["key"] for d in DirectoryAdmin(engine).departments()}


def test_roles_are_added_renamed_and_deleted_only_when_nothing_uses_them(engine, web):
    admin = web(ADMIN)
    assert admin.post("/admin/directory/roles", {"key": "archivist", "name": "档案员", "name_en": "Archivist",
                                                 "scoped": "1"}).status_code == 302
    admin.post("/admin/directory/roles", {"key": "archivist", "name": "档案管理员", "name_en": "Records keeper"})
    page = admin.get("/admin/directory").get_data(as_text=True)
    assert 'id="role-archivist-name" value="档案管理员"' in page and 'value="Records keeper"' in page
    assert {r["key"]: r["scoped"] for r in DirectoryAdmin(engine).roles()}["archivist"] is False
    before = snapshot(engine)
    response = admin.post("/admin/directory/roles/office_clerk/remove")
    page = response.get_data(as_text=True)
    assert response.status_code == 409 and 'id="role-office_clerk-error"' in page
    assert "仍在使用，不能删除" in page and "zheng_clerk" in page and "leave v1" in page  # holder and lane
    response = admin.post("/admin/directory/roles", {"key": "archivist2", "name": "办公室文秘"})
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and "已被 office_clerk 使用" in page and 'id="role-error"' in page
    assert snapshot(engine) == before
    assert admin.post("/admin/directory/roles/archivist/remove").status_code == 302
    assert "archivist" not in {r["key"] for r in DirectoryAdmin(engine).roles()}


def test_ab_role_partners_are_paired_on_the_directory_page(engine, web):
    admin = web(ADMIN)
    page = admin.get("/admin/directory").get_data(as_text=True)
    assert 'data-pair="sun_vice-zhao_vice"' in page
    assert admin.post("/admin/directory/partners", {"username": "li_exec", "partner": "sun_vice"}).status_code == 302
    assert [(p["username"], p["partner"]) for p in DirectoryAdmin(engine).partners()] == [("li_exec", "sun_vice")]
    before = snapshot(engine)
    response = admin.post("/admin/directory/partners", {"username": "li_exec", "partner": "li_exec"})
    assert response.status_code == 422 and 'id="partner-error"' in response.get_data(as_text=True)
    assert snapshot(engine) == before


def test_the_editor_checks_each_form_as_a_json_schema_and_saves_and_deploys_the_forms(engine, web):
    admin = web(ADMIN)
    token = admin.csrf_token()

    def call(name, forms, **extra):
        return admin.client.post(f"/admin/editor/travel_allowance/{name}", json={"xml": ALLOWANCE_XML, "forms": forms,
                                                                                 **extra},
                                 headers={"X-CSRFToken": token})

    [missing] = call("validate", {}).get_json()["problems"]
    assert missing["element"] == "fill" and "x.json" in missing["message"]
    result = call("validate", {"x.json": '{"type": "objec"}'}).get_json()
    assert result["valid"] is False
    [problem] = result["problems"]  # the form's own problem, and no "does not exist" beside it
    assert problem["form"] == "x.json" and "不是有效的 JSON Schema（type）" in problem["message"]
    [problem] = call("validate", {"x.json": '{"type": "object",'}).get_json()["problems"]
    assert "不是有效的 JSON：第 1 行" in problem["message"]
    [problem] = call("validate", {"x y.json": "{}", "x.json": FORM_X}).get_json()["problems"]
    assert problem["form"] == "x y.json" and "表单名只能用" in problem["message"]

    before = snapshot(engine)
    refused = call("draft", {"x.json": "[]"})
    assert refused.status_code == 422 and refused.get_json()["details"][0]["form"] == "x.json"
    assert call("deploy", {"x.json": "[]"}, note="新流程").status_code == 422
    assert snapshot(engine) == before

    assert call("validate", {"x.json": FORM_X}).get_json() == {"valid": True, "problems": []}
    assert call("draft", {"x.json": FORM_X}).get_json()["saved"] is True
    assert engine.draft("travel_allowance")["forms"] == {"x.json": json.loads(FORM_X)}
    page = admin.get("/admin/editor/travel_allowance").get_data(as_text=True)
    assert '"x.json": "{\\n  \\"type\\": \\"object\\"' in page  # the draft's form, as text, in the page data
    result = call("deploy", {"x.json": FORM_X}, note="新流程：差旅补助").get_json()
    assert (result["status"], result["version"]) == ("deployed", 1)
    assert engine.definition_source("travel_allowance")["forms"] == {"x.json": json.loads(FORM_X)}


def test_saving_the_decision_tables_keeps_the_forms_of_the_draft(engine, web):
    admin = web(ADMIN)
    token = admin.csrf_token()
    forms = {name: json.dumps(schema) for name, schema in engine.definition_source("leave")["forms"].items()}
    forms["extra.json"] = '{"type": "object"}'
    admin.client.post("/admin/editor/leave/draft", json={"xml": LEAVE_XML, "forms": forms},
                      headers={"X-CSRFToken": token})
    tables = engine.definition_source("leave")["dmn"]
    saved = admin.client.post("/admin/dmn/leave", json={"dmn": tables}, headers={"X-CSRFToken": token})
    assert saved.status_code == 200
    assert "extra.json" in engine.draft("leave")["forms"]
