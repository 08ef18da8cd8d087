"""The JSON API under /api/: the same engine commands and queries as the pages, for scripts and other systems.

Authentication: ``Authorization: Bearer <token>`` (a token from ``POST /api/tokens`` or the settings page), or
the browser session (then with the CSRF token in ``X-CSRFToken``). Errors are ``{"error", "message",
"details"}`` with the status of the error (401, 403, 404, 409, 422). The OpenAPI document is /api/openapi.json.
"""
from __future__ import annotations

from urllib.parse import quote

from flask import Blueprint, Response, g, jsonify, request

from engine.errors import InvalidInput

from .app import engine
from .openapi import document

bp = Blueprint("api", __name__, url_prefix="/api")
TABS = ("todo", "claimable", "done", "copied")


def me() -> str:
    return g.user.username


def body() -> dict:
    """The request's JSON object (or form fields); anything else is a 400 with a message."""
    if request.is_json:
        value = request.get_json(silent=True)
        if not isinstance(value, dict):
            raise InvalidInput("请求体须为 JSON 对象 / the request body must be a JSON object")
        return value
    return request.form.to_dict()


def text(data: dict, key: str, required: bool = True) -> str:
    value = data.get(key, "")
    if not isinstance(value, str) or (required and not value.strip()):
        raise InvalidInput(f"缺少「{key}」/ {key} is required (a non-empty string)", [{"field": key,
                                                                                   "message": "required"}])
    return value.strip()


def integer(data: dict, key: str) -> int:
    value = data.get(key)
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidInput(f"「{key}」须为整数 / {key} must be an integer", [{"field": key, "message": "integer"}])
    return value


def ok(value=None, status: int = 200):
    response = jsonify(value if value is not None else {"ok": True})
    response.status_code = status
    return response


@bp.get("/openapi.json")
def openapi():
    return jsonify(document(request.host_url.rstrip("/")))


@bp.post("/tokens")
def create_token():
    data = body()
    username, password = text(data, "username"), text(data, "password")
    person = engine().authenticate(username, password)
    if person is None:
        return ok({"error": "unauthorized", "message": "用户名或密码不正确 / wrong username or password",
                   "details": []}, 401)
    label = text(data, "label", required=False) or "api"
    return ok({"token": engine().issue_token(person.username, label), "username": person.username,
               "label": label}, 201)


@bp.delete("/tokens/<label>")
def revoke_token(label: str):
    engine().revoke_token(me(), label)
    return ok()


@bp.get("/me")
def whoami():
    person = g.user
    return ok({"username": person.username, "display_name": person.display_name, "department": person.department,
               "roles": list(person.roles), "portfolio": list(person.portfolio)})


@bp.get("/users")
def users():
    return ok(engine().users())


@bp.get("/inbox")
def inbox():
    tab = request.args.get("tab", "todo")
    if tab not in TABS:
        raise InvalidInput(f"没有这个分类 / tab must be one of {', '.join(TABS)}", [{"field": "tab",
                                                                                "message": "enum"}])
    return ok(engine().inbox(me(), tab, q=request.args.get("q") or None,
                             process=request.args.get("process") or None,
                             status=request.args.get("status") or None, sort=request.args.get("sort", "due"),
                             page=request.args.get("page", 1, type=int),
                             per_page=min(request.args.get("per_page", 20, type=int), 100)))


@bp.get("/counts")
def counts():
    return ok(engine().counts(me()))


@bp.get("/processes")
def processes():
    return ok(engine().startable(me()))


@bp.get("/processes/<key>")
def start_form(key: str):
    return ok(engine().start_form(key))


@bp.post("/processes/<key>/instances")
def start(key: str):
    data = body()
    fields = data.get("data", {})
    if not isinstance(fields, dict):
        raise InvalidInput("「data」须为 JSON 对象 / data must be a JSON object", [{"field": "data",
                                                                               "message": "object"}])
    return ok(engine().start(key, me(), fields), 201)


@bp.get("/tasks/<int:task_id>")
def task(task_id: int):
    return ok(engine().task_view(task_id, me()))


@bp.post("/tasks/<int:task_id>/complete")
def complete(task_id: int):
    fields = body().get("data", {})
    if not isinstance(fields, dict):
        raise InvalidInput("「data」须为 JSON 对象 / data must be a JSON object", [{"field": "data",
                                                                               "message": "object"}])
    return ok(engine().complete(task_id, me(), fields))


@bp.post("/tasks/<int:task_id>/claim")
def claim(task_id: int):
    return ok(engine().claim(task_id, me()))


@bp.post("/tasks/<int:task_id>/release")
def release(task_id: int):
    return ok(engine().release(task_id, me()))


@bp.post("/tasks/<int:task_id>/return")
def return_task(task_id: int):
    data = body()
    return ok(engine().return_task(task_id, me(), integer(data, "to_task"), text(data, "reason")))


@bp.post("/tasks/<int:task_id>/transfer")
def transfer(task_id: int):
    data = body()
    return ok(engine().transfer(task_id, me(), text(data, "to_user"), text(data, "reason", required=False)))


@bp.post("/tasks/<int:task_id>/delegate")
def delegate(task_id: int):
    data = body()
    return ok(engine().delegate(task_id, me(), text(data, "to_user"), text(data, "reason", required=False)))


@bp.post("/tasks/<int:task_id>/add-signer")
def add_signer(task_id: int):
    data = body()
    position = text(data, "position")
    if position not in ("before", "after"):
        raise InvalidInput("「position」须为 before 或 after / position must be before or after",
                           [{"field": "position", "message": "enum"}])
    return ok(engine().add_signer(task_id, me(), text(data, "signer"), position,
                                  text(data, "reason", required=False)))


@bp.post("/tasks/<int:task_id>/withdraw")
def withdraw(task_id: int):
    return ok(engine().withdraw(task_id, me(), text(body(), "reason", required=False)))


@bp.get("/instances/<int:instance_id>")
def instance(instance_id: int):
    return ok(engine().instance_view(instance_id, me()))


@bp.post("/instances/<int:instance_id>/copies")
def copy_to(instance_id: int):
    data = body()
    recipients = data.get("recipients")
    if isinstance(recipients, str):
        recipients = [recipients]
    if not isinstance(recipients, list) or not recipients or not all(isinstance(r, str) for r in recipients):
        raise InvalidInput("「recipients」须为用户名列表 / recipients must be a list of usernames",
                           [{"field": "recipients", "message": "required"}])
    return ok(engine().copy_to(instance_id, me(), recipients, text(data, "note", required=False)), 201)


@bp.post("/copies/<int:copy_id>/read")
def read_copy(copy_id: int):
    return ok(engine().read_copy(copy_id, me()))


@bp.post("/instances/<int:instance_id>/urge")
def urge(instance_id: int):
    return ok({"notified": engine().urge(instance_id, me(), text(body(), "note", required=False))})


@bp.post("/instances/<int:instance_id>/comments")
def comment(instance_id: int):
    return ok(engine().comment(instance_id, me(), text(body(), "text")), 201)


@bp.get("/instances/<int:instance_id>/attachments")
def attachments(instance_id: int):
    return ok(engine().attachments(instance_id, me()))


@bp.post("/instances/<int:instance_id>/attachments")
def attach(instance_id: int):
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise InvalidInput("请上传文件（multipart 字段 file）/ send the file as multipart field 'file'",
                           [{"field": "file", "message": "required"}])
    return ok(engine().attach(instance_id, me(), upload.filename, upload.read(), request.form.get("note", "")), 201)


@bp.get("/attachments/<int:attachment_id>")
def download(attachment_id: int):
    meta, content = engine().download(attachment_id, me())
    response = Response(content, mimetype="application/octet-stream")
    response.headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(meta.get('name', 'file'))}"
    return response


@bp.get("/notifications")
def notifications():
    return ok(engine().notifications(me(), unread_only=request.args.get("unread") in ("1", "true"),
                                     limit=min(request.args.get("limit", 50, type=int), 200)))


@bp.post("/notifications/read")
def mark_read():
    ids = body().get("ids")
    if ids is not None and (not isinstance(ids, list) or not all(isinstance(i, int) for i in ids)):
        raise InvalidInput("「ids」须为整数列表 / ids must be a list of integers", [{"field": "ids",
                                                                              "message": "array"}])
    engine().mark_read(me(), ids)
    return ok()
