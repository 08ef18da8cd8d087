"""The web UI: ``create_app()`` builds the Flask app around one engine.

    browser (session + CSRF) / API client (Bearer token)
      → blueprint (auth, web pages, JSON API) → engine command or query → template or JSON

The app holds no state of its own beyond the signed session cookie; every change of state is an engine
command. Run it with ``govflow serve`` (development server) or ``gunicorn 'webui.app:create_app()'``.
"""
from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path

from flask import Flask, current_app, g, jsonify, redirect, render_template, request, session, url_for
from flask_wtf.csrf import CSRFError, CSRFProtect

from engine.commands import Engine
from engine.errors import GovflowError

from . import i18n, present

csrf = CSRFProtect()

STATUS = {"not_found": 404, "forbidden": 403, "conflict": 409, "invalid_input": 422, "instance_failed": 409,
          "invalid_diagram": 422}
DEFAULTS = {
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "SESSION_COOKIE_NAME": "govflow_session",
    "PERMANENT_SESSION_LIFETIME": timedelta(hours=12),
    "WTF_CSRF_CHECK_DEFAULT": False,  # checked in _protect(), which knows token-authenticated API calls
    "WTF_CSRF_TIME_LIMIT": None,  # the token lives as long as the session
    "MAX_CONTENT_LENGTH": 50 * 1024 * 1024,
    "GOVFLOW_VAR": "var",
    "GOVFLOW_PER_PAGE": 20,
}
# Scripts only from this origin: no inline scripts, no eval. bpmn-js sets inline styles on the diagram.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
       "font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
       "frame-ancestors 'none'")
PUBLIC_ENDPOINTS = {"auth.login", "static", "web.language", "api.openapi", "api.create_token"}


def create_app(engine: Engine | None = None, config: dict | None = None) -> Flask:
    app = Flask(__name__)
    app.config.update(DEFAULTS)
    if os.environ.get("GOVFLOW_SECURE_COOKIES"):
        app.config["SESSION_COOKIE_SECURE"] = True
    app.config.update(config or {})
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = os.environ.get("GOVFLOW_SECRET_KEY") or _secret_file(Path(app.config["GOVFLOW_VAR"]))
    app.extensions["govflow_engine"] = engine or Engine()
    csrf.init_app(app)

    from .api import bp as api_bp
    from .auth import bp as auth_bp
    from .views import bp as web_bp
    from .audit_views import bp as audit_bp
    from .admin_views import bp as admin_bp
    app.register_blueprint(auth_bp)
    app.register_blueprint(web_bp)
    app.register_blueprint(api_bp)
    app.register_blueprint(audit_bp)
    app.register_blueprint(admin_bp)

    app.before_request(_load_user)
    app.before_request(_protect)
    app.after_request(_security_headers)
    app.register_error_handler(GovflowError, _govflow_error)
    app.register_error_handler(CSRFError, _csrf_error)
    for code in (400, 401, 403, 404, 405, 413):
        app.register_error_handler(code, _http_error)
    i18n.install(app)
    present.install(app)
    return app


def engine() -> Engine:
    return current_app.extensions["govflow_engine"]


def per_page() -> int:
    """How many rows a paged list shows (the inbox, the instance lists)."""
    return int(current_app.config["GOVFLOW_PER_PAGE"])


def _secret_file(folder: Path) -> str:
    """A random key kept in ``var/secret_key`` (mode 600), so sessions survive a restart."""
    path = folder / "secret_key"
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    folder.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(key)
    return key


def is_api() -> bool:
    return request.path.startswith("/api/")


def _load_user():
    """``g.user``: the person signed in (session) or named by the API token; pages need one."""
    g.user = None
    g.by_token = False
    header = request.headers.get("Authorization", "")
    if is_api() and header.lower().startswith("bearer "):
        username = engine().user_for_token(header[7:].strip())
        if username is None:
            return _unauthorized("API 令牌无效或已撤销 / the API token is not valid or was revoked")
        g.user, g.by_token = _profile(username), True
        if g.user is None:
            return _unauthorized("API 令牌无效或已撤销 / the API token is not valid or was revoked")
        return None
    username = session.get("user")
    if username:
        g.user = _profile(username)
        if g.user is None:
            session.clear()
    if g.user is None and request.endpoint not in PUBLIC_ENDPOINTS and request.endpoint is not None:
        if is_api():
            return _unauthorized("请先登录或提供 API 令牌 / sign in or send an API token (Authorization: Bearer …)")
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
    return None


def _profile(username: str):
    try:
        return engine().profile(username)
    except GovflowError:
        return None


def _unauthorized(message: str):
    response = jsonify({"error": "unauthorized", "message": message, "details": []})
    response.status_code = 401
    response.headers["WWW-Authenticate"] = 'Bearer realm="govflow"'
    return response


def _protect():
    """CSRF on every state-changing request, except API calls authenticated by a token (no cookie involved)
    and the token request itself, which carries the password and uses no session."""
    if request.method in ("GET", "HEAD", "OPTIONS") or g.by_token or request.endpoint == "api.create_token":
        return
    csrf.protect()


def _security_headers(response):
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CSP)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    if g.get("user") is not None and not request.path.startswith("/static/"):
        headers.setdefault("Cache-Control", "no-store")
    return response


def error_response(status: int, code: str, message: str, details: list | None = None):
    if is_api():
        response = jsonify({"error": code, "message": message, "details": details or []})
        response.status_code = status
        return response
    return render_template("error.html", status=status, code=code, message=message), status


def _govflow_error(err: GovflowError):
    return error_response(STATUS.get(err.code, 400), err.code, err.message, err.details)


def _csrf_error(err: CSRFError):
    return error_response(400, "csrf", "表单已过期或缺少安全令牌，请刷新页面后重试 / "
                                       f"the request has no valid CSRF token: {err.description}")


_HTTP = {400: ("bad_request", "请求有误 / bad request"),
         401: ("unauthorized", "请先登录 / sign in first"),
         403: ("forbidden", "您无权进行此操作 / you may not do this"),
         404: ("not_found", "页面不存在 / no such page"),
         405: ("method_not_allowed", "不支持这种请求方式 / method not allowed"),
         413: ("too_large", "文件太大 / the upload is too large")}


def _http_error(err):
    code, message = _HTTP.get(err.code, ("error", str(err)))
    description = getattr(err, "description", None)
    if err.code == 400 and description and description != type(err).description:
        message = f"{message}: {description}"
    return error_response(err.code, code, message)
