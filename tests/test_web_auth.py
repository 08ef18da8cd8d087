"""The web UI's sign-in, sessions, CSRF protection, security headers and error pages."""
import os
import re

from webui.app import create_app

from .helpers import snapshot
from .test_document_incoming import document


def test_every_page_needs_sign_in_and_the_api_answers_401_in_json(web):
    anonymous = web()
    for path in ("/inbox", "/start", "/notifications", "/settings", "/tasks/1", "/instances/1"):
        response = anonymous.get(path)
        assert response.status_code == 302 and response.location.startswith("/login?next=")
    response = anonymous.get("/api/inbox")
    assert response.status_code == 401
    assert response.get_json()["error"] == "unauthorized" and response.get_json()["message"]


def test_sign_in_with_the_demo_password_and_sign_out(web):
    client = web()
    wrong = client.login("zhao_vice", "not-the-password")
    assert wrong.status_code == 401 and "用户名或密码不正确" in wrong.get_data(as_text=True)
    assert client.login("zhao_vice").location == "/inbox"
    page = client.get("/inbox").get_data(as_text=True)
    assert "赵红梅（副区长）" in page and "待办" in page
    assert client.get("/logout").status_code == 405  # signing out is a POST with the CSRF token
    assert client.post("/logout").location == "/login"
    assert client.get("/inbox").status_code == 302


def test_after_sign_in_the_page_asked_for_opens_but_never_another_site(web):
    client = web()
    token = client.csrf_token()
    for target, expected in (("/start", "/start"), ("//evil.example/x", "/inbox"), ("https://evil.example", "/inbox")):
        response = client.client.post("/login", data={"username": "liu_civil", "password": "demo", "next": target,
                                                      "csrf_token": token})
        assert response.location == expected
        client.client.post("/logout", data={"csrf_token": client.csrf_token()})
        token = client.csrf_token()


def test_a_form_without_the_csrf_token_is_refused_and_changes_nothing(engine, web):
    client = web("liu_civil")
    before = snapshot(engine)
    data = {key: str(value).lower() if isinstance(value, bool) else value for key, value in document().items()
            if key != "departments_involved"}
    response = client.post("/start/document_incoming", data, csrf=False)
    assert response.status_code == 400 and "安全令牌" in response.get_data(as_text=True)
    response = client.post("/start/document_incoming", {**data, "csrf_token": "forged"}, csrf=False)
    assert response.status_code == 400
    assert snapshot(engine) == before
    assert client.post("/start/document_incoming", data).status_code == 302  # the same form with its token
    assert engine.instances(process="document_incoming")


def test_signing_in_needs_the_csrf_token_too(web):
    client = web()
    response = client.post("/login", {"username": "liu_civil", "password": "demo"}, csrf=False)
    assert response.status_code == 400


def test_security_headers_and_the_session_cookie(web):
    client = web()
    response = client.get("/login")
    csp = response.headers["Content-Security-Policy"]
    script_src = re.search(r"script-src ([^;]+)", csp).group(1)
    assert script_src.strip() == "'self'" and "unsafe-inline" not in script_src
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "<script>" not in response.get_data(as_text=True)  # no inline scripts anywhere


def test_the_secret_key_is_generated_once_and_kept_under_var(engine, tmp_path, monkeypatch):
    monkeypatch.delenv("GOVFLOW_SECRET_KEY", raising=False)
    first = create_app(engine, {"GOVFLOW_VAR": str(tmp_path / "var")})
    second = create_app(engine, {"GOVFLOW_VAR": str(tmp_path / "var")})
    path = tmp_path / "var" / "secret_key"
    assert first.secret_key == second.secret_key == path.read_text().strip()
    assert len(first.secret_key) == 64 and os.stat(path).st_mode & 0o777 == 0o600
    monkeypatch.setenv("GOVFLOW_SECRET_KEY", "from-the-environment")
    assert create_app(engine, {"GOVFLOW_VAR": str(tmp_path / "other")}).secret_key == "from-the-environment"


def test_unknown_pages_are_a_chinese_404_page(web):
    response = web("liu_civil").get("/no/such/page")
    assert response.status_code == 404 and "页面不存在" in response.get_data(as_text=True)
    assert web("liu_civil").get("/tasks/999999").status_code == 404


def test_every_page_names_its_icon_and_the_icon_is_served(web):
    client = web()
    page = client.get("/login").get_data(as_text=True)
    assert 'rel="icon" type="image/svg+xml" href="/static/img/favicon.svg"' in page  # else browsers ask /favicon.ico
    icon = client.get("/static/img/favicon.svg")
    assert icon.status_code == 200 and icon.mimetype == "image/svg+xml"


def test_english_is_one_switch_away(web):
    client = web("liu_civil")
    client.post("/language", {"lang": "en", "next": "/inbox"})
    page = client.get("/inbox").get_data(as_text=True)
    assert "To do" in page and "Inbox" in page and 'lang="en"' in page
    client.post("/language", {"lang": "zh-CN", "next": "/inbox"})
    assert "待办" in client.get("/inbox").get_data(as_text=True)


def test_every_chinese_text_of_the_pages_has_its_english():
    from pathlib import Path

    from webui import present, views
    from webui.translations import EN

    root = Path(__file__).resolve().parent.parent / "webui"
    texts = set()
    for path in sorted((root / "templates").glob("*.html")) + [
            root / name for name in ("views.py", "present.py", "auth.py", "admin_views.py", "audit_views.py")]:
        texts |= {m.group(2) for m in re.finditer(r"""_\(\s*(["'])(.+?)\1""", Path(path).read_text(encoding="utf-8"))}
    for pairs in (views.TABS, views.SORTS, *views.STATUSES.values()):
        texts |= {label for _, label in pairs}
    for mapping in (present.ACTIONS, present.PROCESS_STATES, present.TASK_STATES, present.NOTIFICATION_KINDS,
                    views.BUILT_IN_TITLES):
        texts |= set(mapping.values())
    assert sorted(texts - set(EN)) == []


def test_govflow_serve_runs_the_app_and_prints_its_url_and_the_demo_logins(engine, database_url, monkeypatch, capsys):
    from flask import Flask

    from webui.cli import main

    calls = []
    monkeypatch.setattr(Flask, "run", lambda app, **options: calls.append((app, options)))
    monkeypatch.setenv("GOVFLOW_DATABASE_URL", database_url)
    monkeypatch.setenv("GOVFLOW_SECRET_KEY", "serve-test")
    assert main(["serve", "--port", "5055"]) == 0
    [(app, options)] = calls
    assert options["port"] == 5055 and options["host"] == "127.0.0.1"
    assert "/api/openapi.json" in {rule.rule for rule in app.url_map.iter_rules()}
    out = capsys.readouterr().out
    assert "http://127.0.0.1:5055/login" in out and "wang_mayor" in out and "demo" in out
