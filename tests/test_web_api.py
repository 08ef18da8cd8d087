"""The JSON API: token auth (POST /api/tokens, the settings page), the same commands as the pages, errors as
{"error", "message", "details"} with their status, CSRF only for session calls, and an OpenAPI document that
names every /api/ route."""
import io
import re

from .helpers import open_task, snapshot
from .test_document_incoming import CLERK, FILER, REGISTER, complete, document, start

MAYOR, OUTSIDER, AUDITOR = "wang_mayor", "he_commerce", "shen_auditor"
APPROVE = {"opinion_kind": "批示", "opinion": "同意"}


def token_for(web_app, username: str) -> dict:
    response = web_app.test_client().post("/api/tokens", json={"username": username, "password": "demo",
                                                               "label": "tests"})
    assert response.status_code == 201
    return {"Authorization": f"Bearer {response.get_json()['token']}"}


def test_a_token_for_a_username_and_password_then_bearer_calls(engine, web_app):
    client = web_app.test_client()
    wrong = client.post("/api/tokens", json={"username": MAYOR, "password": "nope"})
    assert wrong.status_code == 401 and wrong.get_json()["error"] == "unauthorized"
    headers = token_for(web_app, MAYOR)
    assert client.get("/api/me", headers=headers).get_json()["username"] == MAYOR
    bad = client.get("/api/me", headers={"Authorization": "Bearer not-a-token"})
    assert bad.status_code == 401 and set(bad.get_json()) == {"error", "message", "details"}
    engine.revoke_token(MAYOR, "tests")
    assert client.get("/api/me", headers=headers).status_code == 401


def test_the_settings_page_makes_a_token_shown_once(web, web_app):
    client = web(FILER)
    page = client.post("/settings", {"label": "统计脚本", "action": "create"}).get_data(as_text=True)
    token = re.search(r'id="new-token">([^<]+)<', page).group(1)
    me = web_app.test_client().get("/api/me", headers={"Authorization": f"Bearer {token}"})
    assert me.get_json()["username"] == FILER
    listed = client.get("/settings").get_data(as_text=True)
    assert token not in listed and "统计脚本" in listed
    client.post("/settings", {"label": "统计脚本", "action": "revoke"})
    assert web_app.test_client().get("/api/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert "没有这个令牌" in client.post("/settings", {"label": "统计脚本", "action": "revoke"}).get_data(as_text=True)


def test_start_inbox_task_and_complete_over_the_api(engine, web_app):
    client = web_app.test_client()
    filer, clerk = token_for(web_app, FILER), token_for(web_app, CLERK)
    assert "document_incoming" in {p["key"] for p in client.get("/api/processes", headers=filer).get_json()}
    assert client.get("/api/processes/document_incoming", headers=filer).get_json()["schema"]["properties"]
    started = client.post("/api/processes/document_incoming/instances", json={"data": document()}, headers=filer)
    assert started.status_code == 201
    instance_id = started.get_json()["instance"]
    [row] = client.get("/api/inbox?tab=todo", headers=clerk).get_json()["rows"]
    assert row["instance"] == instance_id and client.get("/api/counts", headers=clerk).get_json()["todo"] == 1
    view = client.get(f"/api/tasks/{row['id']}", headers=clerk).get_json()
    assert "complete" in view["actions"] and view["diagram"]["xml"]
    invalid = client.post(f"/api/tasks/{row['id']}/complete", json={"data": {"action": "存档"}}, headers=clerk)
    assert invalid.status_code == 422 and invalid.get_json()["details"][0]["field"] == "action"
    done = client.post(f"/api/tasks/{row['id']}/complete", json={"data": REGISTER}, headers=clerk)
    assert done.status_code == 200 and done.get_json()["tasks"][0]["name"] == "mayor_review"
    shown = client.get(f"/api/instances/{instance_id}", headers=filer).get_json()
    assert shown["instance"]["id"] == instance_id and "urge" in shown["actions"]


def test_every_task_action_over_the_api(engine, web_app):
    client = web_app.test_client()
    instance_id = start(engine)
    complete(engine, instance_id, "register", CLERK, REGISTER)
    review = open_task(engine, instance_id, "mayor_review")
    mayor = token_for(web_app, MAYOR)
    [step] = client.get(f"/api/tasks/{review['id']}", headers=mayor).get_json()["returnable"]
    missing = client.post(f"/api/tasks/{review['id']}/return", json={"to_task": step["id"]}, headers=mayor)
    assert missing.status_code == 422 and missing.get_json()["details"][0]["field"] == "reason"
    assert client.post(f"/api/tasks/{review['id']}/return", json={"to_task": step["id"], "reason": "请补充"},
                       headers=mayor).status_code == 200
    clerk = token_for(web_app, CLERK)
    register = open_task(engine, instance_id, "register")
    client.post(f"/api/tasks/{register['id']}/complete", json={"data": REGISTER}, headers=clerk)
    assert client.post(f"/api/tasks/{register['id']}/withdraw", json={"reason": "编号错了"}, headers=clerk
                       ).status_code == 200
    register = open_task(engine, instance_id, "register")
    client.post(f"/api/tasks/{register['id']}/complete", json={"data": REGISTER}, headers=clerk)
    review = open_task(engine, instance_id, "mayor_review")
    for action, body, holder in (("delegate", {"to_user": "li_exec", "reason": "先阅"}, "li_exec"),):
        assert client.post(f"/api/tasks/{review['id']}/{action}", json=body, headers=mayor).status_code == 200
        assert open_task(engine, instance_id, "mayor_review")["assignee"] == holder
    client.post(f"/api/tasks/{review['id']}/complete", json={"data": APPROVE}, headers=token_for(web_app, "li_exec"))
    review = open_task(engine, instance_id, "mayor_review")
    assert client.post(f"/api/tasks/{review['id']}/add-signer", json={"signer": "zhao_vice", "position": "after",
                                                                      "reason": "会签"}, headers=mayor).status_code == 200
    assert client.post(f"/api/tasks/{review['id']}/transfer", json={"to_user": "li_exec", "reason": "出差"},
                       headers=mayor).status_code == 200
    copied = client.post(f"/api/instances/{instance_id}/copies", json={"recipients": [OUTSIDER], "note": "知悉"},
                         headers=mayor)
    assert copied.status_code == 201
    outsider = token_for(web_app, OUTSIDER)
    [copy] = client.get("/api/inbox?tab=copied", headers=outsider).get_json()["rows"]
    assert client.post(f"/api/copies/{copy['id']}/read", headers=outsider).get_json()["read_at"]
    urged = client.post(f"/api/instances/{instance_id}/urge", json={"note": "请尽快"}, headers=token_for(web_app, FILER))
    assert urged.get_json()["notified"] == ["li_exec"]
    assert client.post(f"/api/instances/{instance_id}/comments", json={"text": "已阅"}, headers=mayor
                       ).status_code == 201
    uploaded = client.post(f"/api/instances/{instance_id}/attachments", headers=mayor,
                           data={"file": (io.BytesIO(b"abc"), "a.txt"), "note": "v1"}, content_type="multipart/form-data")
    assert uploaded.status_code == 201
    [attachment] = client.get(f"/api/instances/{instance_id}/attachments", headers=mayor).get_json()
    assert client.get(f"/api/attachments/{attachment['id']}", headers=mayor).data == b"abc"
    notes = client.get("/api/notifications?unread=1", headers=token_for(web_app, "li_exec")).get_json()
    assert {n["kind"] for n in notes} >= {"urged"}
    assert client.post("/api/notifications/read", json={}, headers=token_for(web_app, "li_exec")).status_code == 200
    assert engine.counts("li_exec")["notifications_unread"] == 0


def test_refusals_are_json_with_their_status_and_change_nothing(engine, web_app):
    client = web_app.test_client()
    instance_id = start(engine)
    register = open_task(engine, instance_id, "register")
    outsider, auditor = token_for(web_app, OUTSIDER), token_for(web_app, AUDITOR)
    before = snapshot(engine)
    forbidden = client.post(f"/api/tasks/{register['id']}/complete", json={"data": REGISTER}, headers=outsider)
    assert forbidden.status_code == 403 and forbidden.get_json()["error"] == "forbidden"
    assert client.get(f"/api/tasks/{register['id']}", headers=outsider).status_code == 403
    assert client.post(f"/api/tasks/{register['id']}/complete", json={"data": REGISTER}, headers=auditor
                       ).status_code == 403
    assert client.get(f"/api/tasks/{register['id']}", headers=auditor).get_json()["may_act"] is False
    assert client.get("/api/tasks/999999", headers=outsider).get_json()["error"] == "not_found"
    assert client.get("/api/no-such-thing", headers=outsider).status_code == 404
    assert client.post("/api/tasks/abc/claim", headers=outsider).status_code == 404
    not_json = client.post(f"/api/tasks/{register['id']}/complete", data="[1]", content_type="application/json",
                           headers=token_for(web_app, CLERK))
    assert not_json.status_code == 422
    assert snapshot(engine) == before or _only_tokens_changed(before, snapshot(engine))


def _only_tokens_changed(before: dict, after: dict) -> bool:
    return all(before[name] == after[name] for name in before if name not in ("api_tokens", "audit_events")) and \
        all("token" in row for row in set(after["audit_events"]) - set(before["audit_events"]))


def test_session_calls_to_the_api_need_the_csrf_token_token_calls_do_not(engine, web, web_app):
    instance_id = start(engine)
    register = open_task(engine, instance_id, "register")
    browser = web(CLERK)
    refused = browser.client.post(f"/api/tasks/{register['id']}/complete", json={"data": REGISTER})
    assert refused.status_code == 400 and refused.get_json()["error"] == "csrf"
    assert open_task(engine, instance_id, "register")["state"] == "open"
    accepted = browser.client.post(f"/api/tasks/{register['id']}/complete", json={"data": REGISTER},
                                   headers={"X-CSRFToken": browser.csrf_token()})
    assert accepted.status_code == 200


def test_the_openapi_document_describes_every_api_route(web_app):
    document = web_app.test_client().get("/api/openapi.json").get_json()
    assert document["openapi"].startswith("3.1")
    paths = document["paths"]
    for rule in web_app.url_map.iter_rules():
        if not rule.rule.startswith("/api/"):
            continue
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule)
        assert path in paths, f"{rule.rule} is not in the OpenAPI document"
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            operation = paths[path].get(method.lower())
            assert operation is not None, f"{method} {path} is not in the OpenAPI document"
            assert operation["summary"] and operation["responses"]
            names = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            assert names == set(re.findall(r"{([a-z_]+)}", path)), path
    documented = {(path, method) for path, operations in paths.items() for method in operations}
    routed = {(re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule), method.lower())
              for rule in web_app.url_map.iter_rules() if rule.rule.startswith("/api/")
              for method in rule.methods - {"HEAD", "OPTIONS"}}
    assert documented == routed  # nothing documented that is not served
    refs = set(re.findall(r'"#/components/schemas/([A-Za-z]+)"', str(document).replace("'", '"')))
    assert refs <= set(document["components"]["schemas"])
