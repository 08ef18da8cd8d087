"""The pages staff and leaders use: inbox, notifications, starting a procedure, a task, an instance."""
from __future__ import annotations

import math
from urllib.parse import quote

from flask import (Blueprint, Response, abort, flash, g, redirect, render_template, request, session, url_for)

from engine.errors import Conflict, GovflowError, InvalidInput, NotFound

from . import formfields
from .app import engine, per_page as page_size
from .auth import safe_next
from .i18n import LANGUAGES, gettext as _, pick

bp = Blueprint("web", __name__)

TABS = [("todo", "待办"), ("claimable", "可认领"), ("done", "已办"), ("copied", "抄送我的")]
STATUSES = {"todo": [("overdue", "已超期"), ("due_soon", "即将到期")],
            "claimable": [("overdue", "已超期"), ("due_soon", "即将到期")],
            "done": [], "copied": [("unread", "未读"), ("read", "已读")]}
SORTS = [("due", "按到期时间（先到期在前）"), ("-due", "按到期时间（后到期在前）"), ("-received", "按收到时间（最新在前）"),
         ("received", "按收到时间（最早在前）")]
HIDDEN_DATA = {"instance_id", "initiator", "initiator_roles", "initiator_portfolio"}
EMERGENCY = "emergency_report"


def me() -> str:
    return g.user.username


@bp.app_context_processor
def header_counts():
    if g.get("user") is None or g.get("by_token"):
        return {}
    try:
        counts = engine().counts(me())
    except (GovflowError, AttributeError):
        counts = {}
    return {"counts": counts}


@bp.get("/")
def home():
    return redirect(url_for("web.inbox"))


@bp.post("/language")
def language():
    chosen = request.form.get("lang", "")
    if chosen in LANGUAGES:
        session["lang"] = chosen
    return redirect(safe_next(request.form.get("next")))


# --- inbox and notifications ----------------------------------------------------------------------

@bp.get("/inbox")
def inbox():
    tab = request.args.get("tab", "todo")
    if tab not in dict(TABS):
        tab = "todo"
    q = request.args.get("q", "").strip()
    process = request.args.get("process", "")
    status = request.args.get("status", "")
    if status not in dict(STATUSES[tab]):
        status = ""
    sort = request.args.get("sort", "due")
    if sort not in dict(SORTS):
        sort = "due"
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    per_page = page_size()
    result = engine().inbox(me(), tab, q=q or None, process=process or None, status=status or None, sort=sort,
                            page=page, per_page=per_page)
    pages = max(math.ceil(result["total"] / per_page), 1)
    return render_template("inbox.html", tab=tab, tabs=TABS, statuses=STATUSES[tab], sorts=SORTS, q=q,
                           process=process, status=status, sort=sort, page=page, pages=pages, result=result,
                           processes=_process_choices(), emergency=EMERGENCY)


def _process_choices() -> list[tuple[str, str]]:
    latest = {}
    for definition in engine().definitions():
        latest[definition["key"]] = definition.get("title") or definition["key"]
    return sorted(latest.items())


@bp.get("/copies/<int:copy_id>")
def open_copy(copy_id: int):
    """Open a copy (抄送) from the inbox: the read receipt is recorded, then the instance is shown."""
    receipt = engine().read_copy(copy_id, me())
    instance_id = request.args.get("instance", type=int) or (receipt or {}).get("instance")
    if not instance_id:
        abort(404)
    return redirect(url_for("web.instance", instance_id=instance_id))


@bp.get("/notifications")
def notifications():
    unread_only = request.args.get("unread") == "1"
    items = engine().notifications(me(), unread_only=unread_only, limit=100)
    return render_template("notifications.html", items=items, unread_only=unread_only)


@bp.post("/notifications/read")
def mark_notifications_read():
    ids = [int(v) for v in request.form.getlist("id") if v.isdigit()]
    engine().mark_read(me(), ids or None)
    return redirect(url_for("web.notifications"))


@bp.post("/notifications/<int:notification_id>/open")
def open_notification(notification_id: int):
    engine().mark_read(me(), [notification_id])
    task_id = request.form.get("task", type=int)
    instance_id = request.form.get("instance", type=int)
    if task_id:
        return redirect(url_for("web.task", task_id=task_id))
    if instance_id:
        return redirect(url_for("web.instance", instance_id=instance_id))
    return redirect(url_for("web.notifications"))


# --- starting a procedure -------------------------------------------------------------------------

@bp.get("/start")
def start_list():
    return render_template("start_list.html", procedures=engine().startable(me()))


def _startable(key: str) -> dict:
    procedure = next((p for p in engine().startable(me()) if p["key"] == key), None)
    if procedure is None:
        known = {d["key"] for d in engine().definitions()}
        if key not in known:
            abort(404)
        abort(403)
    return procedure


@bp.route("/start/<key>", methods=["GET", "POST"])
def start(key: str):
    _startable(key)
    form = engine().start_form(key)
    if request.method == "GET":
        return _render_start(form)
    data = formfields.parse(form.get("schema"), request.form)
    try:
        result = engine().start(key, me(), data)
    except InvalidInput as err:
        return _render_start(form, request.form, err, 422)
    flash(_("已发起「{title}」", title=form.get("title") or key), "success")
    mine = [t for t in result.get("tasks", []) if t.get("assignee") == me()]
    if mine:
        return redirect(url_for("web.task", task_id=mine[0]["id"]))
    return redirect(url_for("web.instance", instance_id=result["instance"]))


def _render_start(form: dict, submitted=None, err: InvalidInput | None = None, status: int = 200):
    by_field, general = formfields.errors_by_field(err.details if err else None)
    fields = formfields.fields(form.get("schema"), {}, by_field, submitted)
    general += _unplaced(fields, by_field)
    if err is not None and not err.details:
        general.append(err.message)
    return render_template("start_form.html", form=form, fields=fields, general_errors=general), status


def _unplaced(fields, by_field: dict) -> list[str]:
    """Messages for fields the page does not show (a nested required field, an unknown field)."""
    shown = set()

    def walk(items):
        for item in items:
            shown.add(item.name.replace("-", "."))
            for group in item.groups:
                walk(group)

    walk(fields)
    return [f"{path}: {message}" for path, message in by_field.items() if path not in shown]


# --- tasks ----------------------------------------------------------------------------------------

@bp.get("/tasks/<int:task_id>")
def task(task_id: int):
    return _render_task(engine().task_view(task_id, me()))


def _render_task(view: dict, submitted=None, err: InvalidInput | None = None, status: int = 200):
    task = view["task"]
    by_field, general = formfields.errors_by_field(err.details if err else None)
    values = task.get("draft") or {}
    fields = formfields.fields(task.get("schema"), values, by_field, submitted)
    general += _unplaced(fields, by_field)
    if err is not None and not err.details:
        general.append(err.message)
    instance = view["instance"]
    return render_template("task.html", view=view, task=task, instance=instance, fields=fields,
                           general_errors=general, labels=_labels(instance, task.get("schema"),
                                                        view.get("field_titles") or task.get("field_titles")),
                           users=_users(), emergency=instance.get("process") == EMERGENCY), status


@bp.post("/tasks/<int:task_id>/complete")
def complete(task_id: int):
    view = engine().task_view(task_id, me())
    data = formfields.parse(view["task"].get("schema"), request.form)
    try:
        engine().complete(task_id, me(), data)
    except InvalidInput as err:
        return _render_task(view, request.form, err, 422)
    except Conflict as err:
        flash(pick(err.message), "error")
        return redirect(url_for("web.task", task_id=task_id))
    flash(_("已提交「{title}」", title=view["task"]["title"]), "success")
    return redirect(url_for("web.inbox"))


def _act(call, done: str, back: str, then: str | None = None):
    """Run one engine command from a form: a refusal for bad input or a conflict is shown on the page the
    user came from (nothing changed); a forbidden action is the 403 page."""
    try:
        call()
    except (InvalidInput, Conflict) as err:
        flash(pick(err.message), "error")
        return redirect(back, code=303)
    flash(done, "success")
    return redirect(then or back, code=303)


def _check_may_see_task(task_id: int) -> None:
    """Someone who may not even see the task gets the 403 page, whatever the state of the task."""
    engine().task_view(task_id, me())


def _reason() -> str:
    return request.form.get("reason", "").strip()


@bp.post("/tasks/<int:task_id>/claim")
def claim(task_id: int):
    _check_may_see_task(task_id)
    here = url_for("web.task", task_id=task_id)
    return _act(lambda: engine().claim(task_id, me()), _("已认领，任务已进入您的待办"), here)


@bp.post("/tasks/<int:task_id>/release")
def release(task_id: int):
    _check_may_see_task(task_id)
    here = url_for("web.task", task_id=task_id)
    return _act(lambda: engine().release(task_id, me()), _("已释放，任务回到可认领列表"), here,
                url_for("web.inbox"))


@bp.post("/tasks/<int:task_id>/return")
def return_task(task_id: int):
    _check_may_see_task(task_id)
    here = url_for("web.task", task_id=task_id)
    to_task = request.form.get("to_task", type=int)
    if not to_task:
        flash(_("请选择退回到哪一步"), "error")
        return redirect(here, code=303)
    return _act(lambda: engine().return_task(task_id, me(), to_task, _reason()), _("已退回"), here,
                url_for("web.inbox"))


@bp.post("/tasks/<int:task_id>/transfer")
def transfer(task_id: int):
    _check_may_see_task(task_id)
    return _to_person(task_id, lambda who: engine().transfer(task_id, me(), who, _reason()), _("已转办给 {name}"))


@bp.post("/tasks/<int:task_id>/delegate")
def delegate(task_id: int):
    _check_may_see_task(task_id)
    return _to_person(task_id, lambda who: engine().delegate(task_id, me(), who, _reason()),
                      _("已委派给 {name}，对方办理后任务将回到您这里"))


@bp.post("/tasks/<int:task_id>/add-signer")
def add_signer(task_id: int):
    _check_may_see_task(task_id)
    position = request.form.get("position", "")
    if position not in ("before", "after"):
        flash(_("请选择前加签或后加签"), "error")
        return redirect(url_for("web.task", task_id=task_id), code=303)
    then = url_for("web.inbox") if position == "before" else None
    return _to_person(task_id, lambda who: engine().add_signer(task_id, me(), who, position, _reason()),
                      _("已加签 {name}"), then)


def _to_person(task_id: int, call, done: str, then: str | None = "inbox"):
    here = url_for("web.task", task_id=task_id)
    who = request.form.get("to_user", "").strip()
    if not who:
        flash(_("请选择人员"), "error")
        return redirect(here, code=303)
    from .present import name
    target = url_for("web.inbox") if then == "inbox" else then
    return _act(lambda: call(who), done.format(name=name(who)), here, target)


@bp.post("/tasks/<int:task_id>/withdraw")
def withdraw(task_id: int):
    _check_may_see_task(task_id)
    here = url_for("web.task", task_id=task_id)
    return _act(lambda: engine().withdraw(task_id, me(), _reason()), _("已撤回，该步骤回到您的待办"), here,
                url_for("web.inbox", tab="todo"))


# --- instances ------------------------------------------------------------------------------------

@bp.get("/instances/<int:instance_id>")
def instance(instance_id: int):
    view = engine().instance_view(instance_id, me())
    shown = view["instance"]
    return render_template("instance.html", view=view, instance=shown, labels=_labels(shown, None, view.get("field_titles")),
                           users=_users(), emergency=shown.get("process") == EMERGENCY)


def _back_to_instance(instance_id: int) -> str:
    return safe_next(request.form.get("back")) if request.form.get("back") else url_for(
        "web.instance", instance_id=instance_id)


@bp.post("/instances/<int:instance_id>/copy")
def copy_to(instance_id: int):
    back = _back_to_instance(instance_id)
    recipients = [r for r in request.form.getlist("recipients") if r]
    if not recipients:
        flash(_("请选择抄送给谁"), "error")
        return redirect(back, code=303)
    note = request.form.get("note", "").strip()
    return _act(lambda: engine().copy_to(instance_id, me(), recipients, note), _("已抄送"), back)


@bp.post("/instances/<int:instance_id>/urge")
def urge(instance_id: int):
    back = _back_to_instance(instance_id)
    notified = []

    def call():
        notified.extend(engine().urge(instance_id, me(), request.form.get("note", "").strip()) or [])

    response = _act(call, _("已催办"), back)
    return response


@bp.post("/instances/<int:instance_id>/comments")
def comment(instance_id: int):
    back = _back_to_instance(instance_id)
    text = request.form.get("text", "").strip()
    if not text:
        flash(_("意见不能为空"), "error")
        return redirect(back, code=303)
    return _act(lambda: engine().comment(instance_id, me(), text), _("已发表意见"), back)


@bp.post("/instances/<int:instance_id>/attachments")
def upload(instance_id: int):
    back = _back_to_instance(instance_id)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        flash(_("请选择要上传的文件"), "error")
        return redirect(back, code=303)
    content = upload.read()
    note = request.form.get("note", "").strip()
    return _act(lambda: engine().attach(instance_id, me(), upload.filename, content, note),
                _("已上传「{name}」", name=upload.filename), back)


@bp.get("/attachments/<int:attachment_id>")
def download(attachment_id: int):
    meta, content = engine().download(attachment_id, me())
    filename = meta.get("name", f"attachment-{attachment_id}")
    response = Response(content, mimetype="application/octet-stream")
    response.headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(filename)}"
    return response


# --- settings: API tokens -------------------------------------------------------------------------

@bp.route("/settings", methods=["GET", "POST"])
def settings():
    token = None
    if request.method == "POST":
        label = request.form.get("label", "").strip() or "web"
        action = request.form.get("action", "create")
        try:
            if action == "revoke":
                engine().revoke_token(me(), label)
                flash(_("已撤销令牌「{label}」", label=label), "success")
            else:
                token = engine().issue_token(me(), label)
        except (InvalidInput, Conflict, NotFound) as err:
            flash(pick(err.message), "error")
    tokens = engine().tokens(me())
    return render_template("settings.html", token=token, tokens=tokens)


# --- helpers --------------------------------------------------------------------------------------

def _users() -> list[dict]:
    """Everyone else, for the person pickers, grouped by department."""
    people = [{**u, "department_name": u.get("department_name") or u.get("department") or _("其他")}
              for u in engine().users() if u["username"] != me()]
    return sorted(people, key=lambda u: (u["department_name"], u["username"]))


def _department_names() -> dict[str, str]:
    return {u["department"]: u["department_name"] for u in engine().users()
            if u.get("department") and u.get("department_name")}


BUILT_IN_TITLES = {"initiator_name": "发起人", "department": "承办部门", "started_at": "发起时间"}


def _labels(instance: dict, schema: dict | None, field_titles: dict | None = None) -> dict:
    """The instance's data so far: {"fields": [(title, key, value)]} for what a form of the procedure names,
    {"other": [...]} for the rest (the engine's own bookkeeping), each left out when empty."""
    titles = {key: _(title) for key, title in BUILT_IN_TITLES.items()}
    titles.update(field_titles or {})
    try:
        start_schema = engine().start_form(instance["process"]).get("schema") or {}
    except (GovflowError, KeyError):
        start_schema = {}
    for source in (start_schema, schema or {}):
        for key, prop in (source.get("properties") or {}).items():
            titles[key] = prop.get("title") or key
    shown = {"fields": [], "other": []}
    for key, value in (instance.get("data") or {}).items():
        if key in HIDDEN_DATA or value in (None, "", [], {}):
            continue
        if key == "department" and isinstance(value, str):
            value = _department_names().get(value, value)
        if key in titles:
            shown["fields"].append((titles[key], key, value))
        else:
            shown["other"].append((key, key, value))
    return shown
