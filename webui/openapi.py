"""The OpenAPI 3.1 document of /api/, written as data (a test checks it names every /api/ route)."""
from __future__ import annotations

ERROR = {"$ref": "#/components/schemas/Error"}
OBJECT = {"type": "object"}


def _error(description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": ERROR}}}


ERRORS = {
    "401": _error("没有登录或令牌无效 / not signed in, or the token is not valid"),
    "403": _error("无权进行此操作，未做任何改动 / forbidden; nothing was changed"),
    "404": _error("不存在 / not found"),
    "409": _error("状态已变化（任务已办结、并发操作）/ conflict: the state changed"),
    "422": _error("输入有误，details 按字段列出 / invalid input, details per field"),
}


def _json(schema: dict, description: str = "OK") -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _body(properties: dict, required: list[str]) -> dict:
    return {"required": True, "content": {"application/json": {"schema": {
        "type": "object", "properties": properties, "required": required}}}}


def _op(summary: str, tag: str, response: dict | None = None, body: dict | None = None, params: list | None = None,
        status: str = "200", public: bool = False, errors: tuple = ("401", "403", "404")) -> dict:
    operation = {"summary": summary, "tags": [tag],
                 "responses": {status: response or _json({"$ref": "#/components/schemas/Ok"}),
                               **{code: ERRORS[code] for code in errors}}}
    if body is not None:
        operation["requestBody"] = body
    if params:
        operation["parameters"] = params
    if public:
        operation["security"] = []
    return operation


def _path(name: str, description: str) -> dict:
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": {"type": "integer"} if name.endswith("_id") else {"type": "string"}}


def _query(name: str, schema: dict, description: str) -> dict:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


TASK_ID = _path("task_id", "任务编号 / task id")
INSTANCE_ID = _path("instance_id", "流程实例编号 / instance id")
STRING = {"type": "string"}
REASON = {"type": "string", "description": "理由，记入审计记录 / the reason, recorded in the audit trail"}
ACTION_ERRORS = ("401", "403", "404", "409", "422")


def _paths() -> dict:
    task_action = {"$ref": "#/components/schemas/CommandResult"}
    return {
        "/api/openapi.json": {"get": _op("本文档 / this OpenAPI document", "meta", _json(OBJECT), public=True,
                                         errors=())},
        "/api/tokens": {"post": _op(
            "用用户名和密码换取 API 令牌（只显示一次）/ exchange a username and password for an API token (shown once)",
            "auth", _json({"type": "object", "properties": {"token": STRING, "username": STRING, "label": STRING}},
                          "令牌 / the token"),
            _body({"username": STRING, "password": STRING, "label": STRING}, ["username", "password"]),
            status="201", public=True, errors=("401", "422"))},
        "/api/tokens/{label}": {"delete": _op("撤销自己的一个令牌 / revoke one of your tokens", "auth",
                                              params=[_path("label", "令牌名称 / the token's label")])},
        "/api/me": {"get": _op("当前用户 / the signed-in user", "auth", _json({"$ref": "#/components/schemas/Me"}),
                               errors=("401",))},
        "/api/users": {"get": _op("人员名单（转办、抄送时选人）/ people, for transfer and copy pickers", "directory",
                                  _json({"type": "array", "items": {"$ref": "#/components/schemas/User"}}),
                                  errors=("401",))},
        "/api/inbox": {"get": _op(
            "收件箱：待办、可认领、已办、抄送我的 / the inbox tabs", "inbox",
            _json({"$ref": "#/components/schemas/InboxPage"}),
            params=[_query("tab", {"type": "string", "enum": ["todo", "claimable", "done", "copied"], "default": "todo"},
                           "分类 / tab"),
                    _query("q", STRING, "搜索标题 / search text"),
                    _query("process", STRING, "流程 / process key"),
                    _query("status", {"type": "string", "enum": ["overdue", "due_soon", "unread", "read"]},
                           "状态筛选 / status filter"),
                    _query("sort", {"type": "string", "enum": ["due", "-due", "received", "-received"]},
                           "排序 / sort order"),
                    _query("page", {"type": "integer", "minimum": 1}, "页码 / page"),
                    _query("per_page", {"type": "integer", "minimum": 1, "maximum": 100}, "每页条数 / rows per page")],
            errors=("401", "422"))},
        "/api/counts": {"get": _op("未办、未读数量 / counts for the header", "inbox", _json(
            {"type": "object", "properties": {k: {"type": "integer"} for k in
                                              ("todo", "claimable", "copied_unread", "notifications_unread")}}),
            errors=("401",))},
        "/api/processes": {"get": _op("我可以发起的流程 / procedures I may start", "start", _json(
            {"type": "array", "items": {"$ref": "#/components/schemas/Procedure"}}), errors=("401",))},
        "/api/processes/{key}": {"get": _op("发起表单 / a procedure's start form (JSON Schema)", "start", _json(
            {"$ref": "#/components/schemas/StartForm"}), params=[_path("key", "流程标识 / process key")])},
        "/api/processes/{key}/instances": {"post": _op(
            "发起流程 / start an instance", "start", _json(task_action, "已发起 / started"),
            _body({"data": {"type": "object", "description": "发起表单的数据 / the start form's data"}}, ["data"]),
            params=[_path("key", "流程标识 / process key")], status="201", errors=ACTION_ERRORS)},
        "/api/tasks/{task_id}": {"get": _op(
            "任务详情：表单、流程数据、可用操作、流程图 / a task with its form, data, actions and diagram", "tasks",
            _json({"$ref": "#/components/schemas/TaskView"}), params=[TASK_ID])},
        "/api/tasks/{task_id}/complete": {"post": _op(
            "提交 / complete the task with its form's data", "tasks", _json(task_action),
            _body({"data": {"type": "object"}}, ["data"]), params=[TASK_ID], errors=ACTION_ERRORS)},
        "/api/tasks/{task_id}/claim": {"post": _op("认领 / claim", "tasks", params=[TASK_ID], errors=ACTION_ERRORS)},
        "/api/tasks/{task_id}/release": {"post": _op("释放 / release a claimed task", "tasks", params=[TASK_ID],
                                                     errors=ACTION_ERRORS)},
        "/api/tasks/{task_id}/return": {"post": _op(
            "退回到之前的某一步 / return to an earlier step", "tasks",
            body=_body({"to_task": {"type": "integer", "description": "task_view 的 returnable 中的编号"},
                        "reason": REASON}, ["to_task", "reason"]), params=[TASK_ID], errors=ACTION_ERRORS)},
        "/api/tasks/{task_id}/transfer": {"post": _op(
            "转办给他人 / transfer to another person", "tasks",
            body=_body({"to_user": STRING, "reason": REASON}, ["to_user"]), params=[TASK_ID], errors=ACTION_ERRORS)},
        "/api/tasks/{task_id}/delegate": {"post": _op(
            "委派（对方办理后回到本人）/ delegate; it comes back after the delegate acts", "tasks",
            body=_body({"to_user": STRING, "reason": REASON}, ["to_user"]), params=[TASK_ID], errors=ACTION_ERRORS)},
        "/api/tasks/{task_id}/add-signer": {"post": _op(
            "加签（前加签/后加签）/ add a signer before or after you", "tasks",
            body=_body({"signer": STRING, "position": {"type": "string", "enum": ["before", "after"]},
                        "reason": REASON}, ["signer", "position"]), params=[TASK_ID], errors=ACTION_ERRORS)},
        "/api/tasks/{task_id}/withdraw": {"post": _op(
            "撤回本人已办的一步（下一步尚未办理时）/ withdraw your completed step", "tasks",
            body=_body({"reason": REASON}, []), params=[TASK_ID], errors=ACTION_ERRORS)},
        "/api/instances/{instance_id}": {"get": _op(
            "流程实例（数据、任务、历史、附件、意见、流程图）/ an instance", "instances",
            _json({"$ref": "#/components/schemas/InstanceView"}), params=[INSTANCE_ID])},
        "/api/instances/{instance_id}/copies": {"post": _op(
            "抄送 / copy to people (read-only, with read receipts)", "instances",
            body=_body({"recipients": {"type": "array", "items": STRING}, "note": STRING}, ["recipients"]),
            params=[INSTANCE_ID], status="201", errors=ACTION_ERRORS)},
        "/api/copies/{copy_id}/read": {"post": _op(
            "阅读回执 / record the read receipt of a copy", "instances",
            params=[_path("copy_id", "抄送编号 / copy id")], errors=ACTION_ERRORS)},
        "/api/instances/{instance_id}/urge": {"post": _op(
            "催办当前办理人 / urge the current assignees", "instances",
            _json({"type": "object", "properties": {"notified": {"type": "array", "items": STRING}}}),
            _body({"note": STRING}, []), params=[INSTANCE_ID], errors=ACTION_ERRORS)},
        "/api/instances/{instance_id}/comments": {"post": _op(
            "发表意见 / add a comment", "instances", body=_body({"text": STRING}, ["text"]), params=[INSTANCE_ID],
            status="201", errors=ACTION_ERRORS)},
        "/api/instances/{instance_id}/attachments": {
            "get": _op("附件（每个版本）/ the files, every version", "files", _json(
                {"type": "array", "items": {"$ref": "#/components/schemas/Attachment"}}), params=[INSTANCE_ID]),
            "post": _op("上传附件（同名为新版本）/ upload a file (same name: next version)", "files",
                        _json({"$ref": "#/components/schemas/Attachment"}),
                        {"required": True, "content": {"multipart/form-data": {"schema": {
                            "type": "object", "properties": {"file": {"type": "string", "contentMediaType":
                                                                      "application/octet-stream"},
                                                             "note": STRING}, "required": ["file"]}}}},
                        params=[INSTANCE_ID], status="201", errors=ACTION_ERRORS)},
        "/api/attachments/{attachment_id}": {"get": _op(
            "下载附件 / download a file", "files",
            {"description": "文件内容 / the file", "content": {"application/octet-stream": {"schema": {
                "type": "string", "contentMediaType": "application/octet-stream"}}}},
            params=[_path("attachment_id", "附件编号 / attachment id")])},
        "/api/notifications": {"get": _op(
            "通知 / my notifications", "notifications",
            _json({"type": "array", "items": {"$ref": "#/components/schemas/Notification"}}),
            params=[_query("unread", {"type": "string", "enum": ["1", "true"]}, "只看未读 / unread only"),
                    _query("limit", {"type": "integer", "minimum": 1, "maximum": 200}, "条数 / how many")],
            errors=("401",))},
        "/api/notifications/read": {"post": _op(
            "标为已读（不给 ids 则全部）/ mark read (all when ids is absent)", "notifications",
            body={"required": False, "content": {"application/json": {"schema": {
                "type": "object", "properties": {"ids": {"type": "array", "items": {"type": "integer"}}}}}}},
            errors=("401", "422"))},
    }


def _components() -> dict:
    when = {"type": ["string", "null"], "format": "date-time"}
    task = {"type": "object", "properties": {
        "id": {"type": "integer"}, "instance": {"type": "integer"}, "process": STRING, "name": STRING,
        "title": STRING, "role": {"type": ["string", "null"]}, "assignee": {"type": ["string", "null"]},
        "state": STRING, "created_at": when, "completed_at": when, "due_at": when,
        "due_note": {"type": ["string", "null"]}}}
    diagram = {"type": "object", "properties": {"xml": STRING, **{k: {"type": "array", "items": STRING}
                                                                   for k in ("finished", "active", "returned")}}}
    return {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                       "description": "POST /api/tokens 或设置页面获取 / from POST /api/tokens or the "
                                                      "settings page"},
                            "session": {"type": "apiKey", "in": "cookie", "name": "govflow_session",
                                        "description": "浏览器会话，写操作须带 X-CSRFToken / browser session; "
                                                       "writes need the X-CSRFToken header"}},
        "schemas": {
            "Error": {"type": "object", "required": ["error", "message"], "properties": {
                "error": {"type": "string", "description": "not_found, forbidden, conflict, invalid_input, "
                                                          "unauthorized, csrf, …"},
                "message": {"type": "string", "description": "中文 / English"},
                "details": {"type": "array", "items": {"type": "object", "properties": {
                    "field": STRING, "label": STRING, "message": STRING}}}}},
            "Ok": {"type": "object"},
            "Me": {"type": "object", "properties": {"username": STRING, "display_name": STRING,
                                                    "department": {"type": ["string", "null"]},
                                                    "roles": {"type": "array", "items": STRING},
                                                    "portfolio": {"type": "array", "items": STRING}}},
            "User": {"type": "object", "properties": {k: STRING for k in
                                                      ("username", "display_name", "department", "department_name")}},
            "Task": task,
            "InboxPage": {"type": "object", "properties": {
                "rows": {"type": "array", "items": {"type": "object"}}, "total": {"type": "integer"},
                "page": {"type": "integer"}, "per_page": {"type": "integer"}}},
            "Procedure": {"type": "object", "properties": {"key": STRING, "title": STRING, "description": STRING,
                                                           "version": {"type": "integer"}}},
            "StartForm": {"type": "object", "properties": {"key": STRING, "title": STRING, "description": STRING,
                                                           "schema": {"type": ["object", "null"]}}},
            "CommandResult": {"type": "object", "properties": {
                "instance": {"type": "integer"}, "state": STRING,
                "tasks": {"type": "array", "items": {"$ref": "#/components/schemas/Task"}}}},
            "Diagram": diagram,
            "TaskView": {"type": "object", "properties": {
                "task": task, "instance": {"$ref": "#/components/schemas/Instance"}, "may_act": {"type": "boolean"},
                "actions": {"type": "array", "items": {"type": "string", "enum": [
                    "complete", "claim", "release", "return", "transfer", "delegate", "add_signer", "copy", "urge",
                    "withdraw"]}},
                "returnable": {"type": "array", "items": {"type": "object"}},
                "diagram": {"$ref": "#/components/schemas/Diagram"}}},
            "Instance": {"type": "object", "properties": {
                "id": {"type": "integer"}, "process": STRING, "version": {"type": "integer"}, "title": STRING,
                "state": STRING, "started_at": when, "started_by": STRING, "ended_at": when, "data": OBJECT,
                "tasks": {"type": "array", "items": task}, "events": {"type": "array", "items": OBJECT},
                "attachments": {"type": "array", "items": {"$ref": "#/components/schemas/Attachment"}},
                "comments": {"type": "array", "items": OBJECT}}},
            "InstanceView": {"type": "object", "properties": {
                "instance": {"$ref": "#/components/schemas/Instance"},
                "diagram": {"$ref": "#/components/schemas/Diagram"},
                "actions": {"type": "array", "items": STRING}}},
            "Attachment": {"type": "object", "properties": {"id": {"type": "integer"}, "name": STRING,
                                                            "version": {"type": "integer"}}},
            "Notification": {"type": "object", "properties": {
                "id": {"type": "integer"}, "kind": STRING, "message": STRING,
                "instance": {"type": ["integer", "null"]}, "task": {"type": ["integer", "null"]},
                "created_at": when, "read_at": when}},
        },
    }


def document(server: str = "") -> dict:
    return {
        "openapi": "3.1.0",
        "info": {"title": "GovFlow 政务流程 API", "version": "1.0.0",
                 "description": "收件箱、发起、办理、退回、转办、委派、加签、抄送、催办、撤回、通知、附件。"
                                "错误统一为 {error, message, details}。/ Inbox, start, complete and every task "
                                "action, notifications and files; errors are {error, message, details}."},
        "servers": [{"url": server or "/"}],
        "security": [{"bearer": []}, {"session": []}],
        "paths": _paths(),
        "components": _components(),
    }
