"""The admins' and process designers' pages (role ``admin``; admins are the designers):

    /admin/instances                 every instance, filtered by procedure and state; suspend, resume, cancel (with
                                     a reason), retry a failed one (its error shown); migrate the chosen ones to a
                                     version: the check report first, then confirm
    /admin/definitions               every key with its versions (who, when, hash, note, instance counts); upload
                                     .bpmn/.dmn files to deploy with a change note
    /admin/definitions/<key>/<v>     one version: its note and its diagram
    /admin/editor/<key>              the bpmn-js modeler with its properties panel and GovFlow's properties group
                                     (webui/static/js/editor.js, bundle in static/vendor/govflow-modeler/), and the
                                     forms panel (each form's JSON Schema as text: edit, upload, add, remove); the
                                     JSON calls below validate, save the draft, run the scenarios and deploy, with
                                     the forms, each checked as a JSON Schema here first
    /admin/dmn/<key>                 the dmn-js modeler for the key's decision tables, saved with the draft
    /admin/directory, /admin/calendar  users and their roles, department, active flag and portfolio; districts and
                                     the procedure variant each uses; departments and their district; AB-role
                                     partners; the duty roster; holiday and make-up-workday overrides

Anyone else gets the 403 page and nothing changes (the engine checks the admin role again on every operation).
Every form and every JSON POST carries the CSRF token (forms: ``csrf_token``; fetch: the ``X-CSRFToken`` header).
"""
from __future__ import annotations

import json
from pathlib import Path

from flask import Blueprint, abort, flash, g, jsonify, redirect, render_template, request, url_for
from sqlalchemy import select

from engine import audit, directory, forms, roster
from engine.calendar_admin import CalendarAdmin
from engine.directory_admin import DirectoryAdmin
from engine.errors import Conflict, GovflowError, InvalidInput, NotFound
from engine.models import Portfolio, Role

from .app import STATUS, engine, per_page
from .i18n import gettext as _, pick
from .present import INSTANCE_STATES as STATES

bp = Blueprint("admin", __name__, url_prefix="/admin")

ROOT = Path(__file__).resolve().parent.parent
PROCESSES = ROOT / "processes"
DEMO_DIRECTORY = PROCESSES / "directory.json"
GOVFLOW_PROPERTIES = ["formJsonSchemaFilename", "dueIn", "dueFrom", "limitName", "completeCheck",
                      "completeCheckMessage"]
NEW_DIAGRAM = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI"
                  xmlns:dc="http://www.omg.org/spec/DD/20100524/DC"
                  xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
                  id="definitions_{key}" targetNamespace="http://govflow.example/bpmn">
  <bpmn:process id="{key}" name="{key}" isExecutable="true">
    <bpmn:startEvent id="start"/>
  </bpmn:process>
  <bpmndi:BPMNDiagram id="diagram_{key}">
    <bpmndi:BPMNPlane id="plane_{key}" bpmnElement="{key}">
      <bpmndi:BPMNShape id="start_di" bpmnElement="start"><dc:Bounds x="180" y="160" width="36" height="36"/></bpmndi:BPMNShape>
    </bpmndi:BPMNPlane>
  </bpmndi:BPMNDiagram>
</bpmn:definitions>
"""


@bp.before_request
def admins_only():
    """Only admins: anyone else gets the 403 page (the app has already sent the signed-out to /login)."""
    if g.get("user") is None or "admin" not in (g.user.roles or []):
        abort(403)


def me() -> str:
    return g.user.username


@bp.context_processor
def _admin_globals():
    return {"ADMIN_STATES": dict(STATES)}


@bp.get("/")
def index():
    return redirect(url_for("admin.instances"))


# --- instances ------------------------------------------------------------------------------------------

@bp.get("/instances")
def instances():
    process = request.args.get("process", "")
    state = request.args.get("state", "")
    if state not in dict(STATES):
        state = ""
    listing = engine().instance_page(process=process or None, state=state or None,
                                     page=request.args.get("page", 1, type=int) or 1, per_page=per_page())
    keys = sorted({v["key"] for v in engine().versions()})
    versions = {}
    for v in engine().versions(process) if process else []:
        versions.setdefault(v["key"], []).append(v["version"])
    filters = {**({"process": process} if process else {}), **({"state": state} if state else {})}
    return render_template("admin_instances.html", rows=listing["rows"], listing=listing, filters=filters,
                           process=process, state=state, states=STATES, keys=keys,
                           versions=versions.get(process, []))


def _reason() -> str:
    return request.form.get("reason", "").strip()


def _back() -> str:
    target = request.form.get("back", "")
    return target if target.startswith("/admin/") and not target.startswith("//") else url_for("admin.instances")


def _operate(call, done: str):
    try:
        call()
    except Conflict as err:
        flash(pick(err.message), "error")
        return redirect(_back())
    except InvalidInput as err:
        flash(pick(err.message), "error")
        return redirect(_back())
    flash(done, "success")
    return redirect(_back())


@bp.post("/instances/<int:instance_id>/suspend")
def suspend(instance_id: int):
    return _operate(lambda: engine().suspend(instance_id, me(), _reason() or _("管理员暂停")),
                    _("流程实例 {id} 已暂停", id=instance_id))


@bp.post("/instances/<int:instance_id>/resume")
def resume(instance_id: int):
    return _operate(lambda: engine().resume(instance_id, me(), _reason() or _("管理员恢复")),
                    _("流程实例 {id} 已恢复", id=instance_id))


@bp.post("/instances/<int:instance_id>/cancel")
def cancel(instance_id: int):
    return _operate(lambda: engine().cancel(instance_id, me(), _reason()), _("流程实例 {id} 已取消", id=instance_id))


@bp.post("/instances/<int:instance_id>/retry")
def retry(instance_id: int):
    def call():
        try:
            engine().retry(instance_id, me(), _reason() or _("管理员重试"))
        except GovflowError as err:
            if err.code != "instance_failed":
                raise
            raise Conflict(_("重试后仍然出错：{message}", message=pick(err.message))) from err
    return _operate(call, _("流程实例 {id} 已重试", id=instance_id))


def _chosen_ids() -> list[int]:
    ids = []
    for value in request.form.getlist("instance"):
        try:
            ids.append(int(value))
        except ValueError:
            abort(400)
    return ids


@bp.post("/instances/migrate")
def migrate():
    """Without ``confirm``: the check report (nothing moves) with a confirm form when every instance can move.
    With ``confirm``: the migration itself; a refusal shows the report again and moves nothing."""
    ids = _chosen_ids()
    to_version = request.form.get("to_version", type=int)
    process = request.form.get("process", "")
    if not ids or not to_version:
        flash(_("请选择要迁移的流程实例和目标版本"), "error")
        return redirect(url_for("admin.instances", process=process))
    if request.form.get("confirm") != "1":
        report = engine().migration_check(ids, to_version, me())
        return render_template("admin_migrate.html", report=report, ids=ids, to_version=to_version,
                               process=process)
    try:
        report = engine().migrate_instances(ids, to_version, me(), _reason())
    except Conflict as err:
        report = (err.details or [{}])[0]
        return render_template("admin_migrate.html", report=report, ids=ids, to_version=to_version,
                               process=process, refused=pick(err.message)), 409
    flash(_("已将 {n} 个流程实例迁移到第 {v} 版", n=len(ids), v=to_version), "success")
    return redirect(url_for("admin.instances", process=process))


# --- definitions ------------------------------------------------------------------------------------

def _grouped_versions() -> list[dict]:
    grouped: dict[str, dict] = {}
    for v in engine().versions():
        entry = grouped.setdefault(v["key"], {"key": v["key"], "title": v["title"], "versions": []})
        entry["title"] = v["title"]
        entry["versions"].append(v)
    for entry in grouped.values():
        entry["versions"].sort(key=lambda v: v["version"], reverse=True)
    return sorted(grouped.values(), key=lambda e: e["key"])


@bp.get("/definitions")
def definitions():
    return render_template("admin_definitions.html", groups=_grouped_versions())


@bp.get("/definitions/<key>/<int:version>")
def definition(key: str, version: int):
    source = engine().definition_source(key, version)
    [info] = [v for v in engine().versions(key) if v["version"] == version] or [None]
    return render_template("admin_definition.html", key=key, source=source, info=info,
                           versions=sorted(engine().versions(key), key=lambda v: -v["version"]))


def upload_key(filename: str, chosen: str) -> str:
    """A model's key: the one chosen, else the file's stem (``overseas_travel.fangshan.bpmn`` →
    ``overseas_travel.fangshan``)."""
    if chosen:
        return chosen
    name = Path(filename or "").name
    return name[:-5] if name.endswith(".bpmn") else Path(name).stem


@bp.post("/definitions/upload")
def upload():
    note = request.form.get("note", "").strip()
    chosen = request.form.get("key", "").strip()
    files = [f for f in request.files.getlist("files") if f and f.filename]
    bpmn = [f for f in files if f.filename.lower().endswith(".bpmn")]
    dmn_files = [f for f in files if f.filename.lower().endswith(".dmn")]
    if not note:
        flash(_("请填写变更说明"), "error")
        return redirect(url_for("admin.definitions"))
    if len(bpmn) > 1 or (not bpmn and not dmn_files) or len(files) != len(bpmn) + len(dmn_files):
        flash(_("请上传一个 .bpmn 文件（可附 .dmn 决策表），或只上传 .dmn 决策表并选择流程"), "error")
        return redirect(url_for("admin.definitions"))
    try:
        dmn = {Path(f.filename).name: f.read().decode("utf-8") for f in dmn_files}
        if bpmn:
            key = upload_key(bpmn[0].filename, chosen)
            xml = bpmn[0].read().decode("utf-8")
        else:
            if not chosen:
                flash(_("只上传决策表时请选择流程"), "error")
                return redirect(url_for("admin.definitions"))
            key = chosen
            xml = engine().definition_source(key)["xml"]
        if dmn:
            try:
                dmn = {**(engine().definition_source(key)["dmn"] or {}), **dmn}
            except GovflowError:
                pass
    except UnicodeDecodeError:
        flash(_("文件不是 UTF-8 文本"), "error")
        return redirect(url_for("admin.definitions"))
    try:
        result = engine().deploy_model(key, xml, me(), note, dmn=dmn or None)
    except GovflowError as err:
        if err.code in ("forbidden",):
            raise
        return render_template("admin_definitions.html", groups=_grouped_versions(), upload_error=pick(err.message),
                               problems=_problems(err.details), key=key), STATUS.get(err.code, 400)
    if result["status"] == "unchanged":
        flash(_("{key} 内容未变，仍为第 {v} 版", key=key, v=result["version"]), "info")
    else:
        flash(_("已部署 {key} 第 {v} 版", key=key, v=result["version"]), "success")
    return redirect(url_for("admin.definitions") + f"#def-{key}")


def _problems(details) -> list[dict]:
    return [d for d in (details or []) if isinstance(d, dict) and "message" in d]


# --- the editors ---------------------------------------------------------------------------------------

def _roles() -> list[dict]:
    with engine().read() as session:
        return [{"key": r.key, "name": r.name_zh} for r in session.scalars(select(Role).order_by(Role.key))]


@bp.get("/editor/<key>")
def editor(key: str):
    version = request.args.get("version", type=int)
    draft = None if version else engine().draft(key)
    try:
        deployed = engine().definition_source(key)
    except GovflowError:
        deployed = None
    if draft:
        xml, opened, forms = draft["xml"], "draft", draft["forms"]
    elif deployed:
        source = engine().definition_source(key, version) if version else deployed
        xml, opened, forms = source["xml"], f"v{source['version']}", source["forms"]
    else:
        xml, opened, forms = NEW_DIAGRAM.replace("{key}", key.replace(".", "_")), "new", {}
    data = {"key": key, "xml": xml, "opened": opened, "deployed_xml": deployed["xml"] if deployed else None,
            "deployed_version": deployed["version"] if deployed else None, "roles": _roles(),
            "forms": {name: json.dumps(schema, ensure_ascii=False, indent=2) for name, schema in (forms or {}).items()},
            "properties": GOVFLOW_PROPERTIES,
            "urls": {name: url_for(f"admin.editor_{name}", key=key)
                     for name in ("validate", "draft", "discard", "scenarios", "deploy")}}
    return render_template("admin_editor.html", key=key, data=data, draft=draft, deployed=deployed,
                           opened=opened)


def _payload() -> dict:
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("xml"), str) or not body["xml"].strip():
        raise InvalidInput(_("缺少流程图 XML"))
    dmn = body.get("dmn")
    if dmn is not None and not (isinstance(dmn, dict) and all(isinstance(v, str) for v in dmn.values())):
        raise InvalidInput(_("决策表格式有误"))
    texts = body.get("forms")
    if texts is not None and not (isinstance(texts, dict) and all(isinstance(v, str) for v in texts.values())):
        raise InvalidInput(_("表单格式有误"))
    return body


def _checked_forms(body: dict) -> tuple[dict | None, list[dict]]:
    """The forms the editor sent (name -> JSON text), each parsed and checked as a JSON Schema: the schemas, and a
    problem for each form that is not one (that form then stands in as an empty schema, so that the diagram's
    own problems are listed once). None when the editor sent no forms."""
    texts = body.get("forms")
    if texts is None:
        return None, []
    schemas, problems = {}, []
    for name, text in sorted(texts.items()):
        try:
            schemas[name] = forms.parse_schema(name, text)
        except InvalidInput as err:
            schemas[name] = {}
            problems.append({"source": name, "form": name, "line": None, "element": None,
                             "message": pick(err.message), "name": ""})
    return schemas, problems


def _valid_forms(body: dict) -> dict | None:
    """The forms the editor sent, all of them valid JSON Schemas; else InvalidInput listing each problem."""
    schemas, problems = _checked_forms(body)
    if problems:
        raise InvalidInput(_("表单有误：{names}", names=", ".join(p["form"] for p in problems)), problems)
    return schemas


def _json_error(err: GovflowError):
    response = jsonify({"error": err.code, "message": pick(err.message), "details": err.details or []})
    response.status_code = STATUS.get(err.code, 400)
    return response


def _with_names(problems: list[dict], xml: str) -> list[dict]:
    """Each problem with the name of its element (from the diagram as sent)."""
    from engine import xmlsafe
    names = {}
    try:
        root = xmlsafe.parse_xml(xml.encode("utf-8"), "diagram").getroot()
    except Exception:  # noqa: BLE001 - a diagram that does not parse has no names to offer
        root = None
    if root is not None:
        for node in root.iter():
            if isinstance(node.tag, str) and node.get("id"):
                names[node.get("id")] = node.get("name") or ""
    return [{**p, "message": pick(p.get("message")), "name": names.get(p.get("element") or "", "")}
            for p in problems]


@bp.post("/editor/<key>/validate")
def editor_validate(key: str):
    try:
        body = _payload()
        schemas, form_problems = _checked_forms(body)
        result = engine().validate_model(key, body["xml"], me(), dmn=body.get("dmn"), forms=schemas)
    except GovflowError as err:
        return _json_error(err)
    problems = form_problems + _with_names(result["problems"], body["xml"])
    return jsonify({"valid": not problems, "problems": problems})


@bp.post("/editor/<key>/draft")
def editor_draft(key: str):
    try:
        body = _payload()
        saved = engine().save_draft(key, body["xml"], me(), dmn=body.get("dmn"), forms=_valid_forms(body))
    except GovflowError as err:
        return _json_error(err)
    return jsonify({"saved": True, "updated_at": saved["updated_at"], "base_version": saved["base_version"]})


@bp.post("/editor/<key>/discard")
def editor_discard(key: str):
    discarded = engine().discard_draft(key, me())
    if request.is_json:
        return jsonify({"discarded": discarded})
    flash(_("草稿已丢弃") if discarded else _("没有草稿"), "info")
    return redirect(url_for("admin.editor", key=key))


@bp.post("/editor/<key>/scenarios")
def editor_scenarios(key: str):
    try:
        body = _payload()
        document = json.loads(DEMO_DIRECTORY.read_text(encoding="utf-8"))
        results = engine().run_draft_scenarios(key, body["xml"], me(), PROCESSES, document, dmn=body.get("dmn"),
                                               forms=_valid_forms(body))
    except GovflowError as err:
        return _json_error(err)
    return jsonify({"results": [{"name": r.get("name"), "source": r.get("source"), "passed": bool(r.get("passed")),
                                 "failures": [pick(str(f)) for f in r.get("failures") or []]} for r in results]})


@bp.post("/editor/<key>/deploy")
def editor_deploy(key: str):
    try:
        body = _payload()
        note = str(body.get("note") or "").strip()
        if not note:
            raise InvalidInput(_("请填写变更说明"))
        result = engine().deploy_model(key, body["xml"], me(), note, dmn=body.get("dmn"), forms=_valid_forms(body))
    except GovflowError as err:
        if err.code == "invalid_diagram":
            return jsonify({"error": err.code, "message": pick(err.message),
                            "details": _with_names(_problems(err.details), body["xml"])}), 422
        return _json_error(err)
    return jsonify(result)


@bp.get("/dmn/<key>")
def dmn_editor(key: str):
    draft = engine().draft(key)
    try:
        deployed = engine().definition_source(key)
    except GovflowError:
        deployed = None
    if draft is None and deployed is None:
        abort(404)
    tables = (draft or {}).get("dmn") or (deployed or {}).get("dmn") or {}
    xml = draft["xml"] if draft else deployed["xml"]
    data = {"key": key, "tables": tables, "urls": {"save": url_for("admin.dmn_save", key=key)}}
    return render_template("admin_dmn.html", key=key, data=data, names=sorted(tables), draft=draft,
                           has_xml=bool(xml))


@bp.post("/dmn/<key>")
def dmn_save(key: str):
    """Save the decision tables with the draft (a draft of the latest diagram is made when there is none)."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("dmn"), dict) or \
            not all(isinstance(v, str) for v in body["dmn"].values()):
        return _json_error(InvalidInput(_("决策表格式有误")))
    draft = engine().draft(key)
    try:
        xml = draft["xml"] if draft else engine().definition_source(key)["xml"]
        tables = {**((draft or {}).get("dmn") or {}), **body["dmn"]}
        saved = engine().save_draft(key, xml, me(), dmn=tables)
    except GovflowError as err:
        return _json_error(err)
    return jsonify({"saved": True, "updated_at": saved["updated_at"]})


# --- directory and calendar -------------------------------------------------------------------------

@bp.get("/directory")
def directory_page():
    return _directory_page()


def _directory_page(problem: dict | None = None, status: int = 200):
    """The directory page; ``problem`` ({"form", "key", "message", "values"}) is a refused edit, shown next to its
    form with what was entered kept."""
    admin = DirectoryAdmin(engine())
    with engine().read() as session:
        users = directory.list_users(session)
        portfolios = {}
        for row in session.scalars(select(Portfolio).order_by(Portfolio.username, Portfolio.department_key)):
            portfolios.setdefault(row.username, []).append(row.department_key)
        roles = directory.list_roles(session)
    for user in users:
        user["portfolio"] = portfolios.get(user["username"], [])
    edit = request.args.get("edit", "")
    editing = next((u for u in users if u["username"] == edit), None)
    districts = admin.districts()
    return render_template("admin_directory.html", users=users, departments=admin.departments(), roles=roles,
                           editing=editing, entries=roster.list(engine()), districts=districts,
                           district_names={d["key"]: d["name"] for d in districts},
                           choices=_variant_choices(admin, districts), partners=admin.partners(),
                           problem=problem or {}), status


def _variant_choices(admin: DirectoryAdmin, districts: list[dict]) -> dict[str, list[str]]:
    """procedure -> the variants a district may choose: the deployed ones, and any a district uses already."""
    choices = admin.variant_choices()
    for district in districts:
        for procedure, key in district["variants"].items():
            if key not in choices.setdefault(procedure, []):
                choices[procedure].append(key)
    return {procedure: sorted(keys) for procedure, keys in sorted(choices.items())}


def _directory_edit(form: str, key: str, call, done: str, anchor: str):
    """Run an edit of the directory: done → back to the page with ``done``; refused → the page again (422, or
    409 for a department still in use) with the message next to the form and the input kept."""
    try:
        call()
    except (InvalidInput, Conflict, NotFound) as err:
        problem = {"form": form, "key": key, "message": pick(err.message), "values": request.form.to_dict()}
        return _directory_page(problem, STATUS.get(err.code, 422))
    flash(done, "success")
    return redirect(url_for("admin.directory_page") + anchor)


@bp.post("/directory/districts")
def put_district():
    form = request.form
    key = form.get("key", "").strip()
    variants = {name[len("variant:"):]: value or None for name, value in form.items() if name.startswith("variant:")}
    return _directory_edit("district", key,
                           lambda: DirectoryAdmin(engine()).put_district(key, form.get("name", ""), variants, me()),
                           _("已保存区 {key}", key=key), "#districts")


@bp.post("/directory/departments")
def put_department():
    form = request.form
    key = form.get("key", "").strip()
    return _directory_edit("department", key,
                           lambda: DirectoryAdmin(engine()).put_department(key, form.get("name", ""),
                                                                           form.get("district") or None, me()),
                           _("已保存部门 {key}", key=key), "#departments")


@bp.post("/directory/departments/<key>/remove")
def remove_department(key: str):
    return _directory_edit("department", key, lambda: DirectoryAdmin(engine()).remove_department(key, me()),
                           _("已删除部门 {key}", key=key), "#departments")


@bp.post("/directory/roles")
def put_role():
    form = request.form
    key = form.get("key", "").strip()
    return _directory_edit("role", key,
                           lambda: DirectoryAdmin(engine()).put_role(key, form.get("name", ""), form.get("name_en", ""),
                                                                     form.get("scoped") == "1", me()),
                           _("已保存角色 {key}", key=key), "#roles")


@bp.post("/directory/roles/<key>/remove")
def remove_role(key: str):
    return _directory_edit("role", key, lambda: DirectoryAdmin(engine()).remove_role(key, me()),
                           _("已删除角色 {key}", key=key), "#roles")


@bp.post("/directory/partners")
def set_partner():
    form = request.form
    username = form.get("username", "")
    partner = form.get("partner") or None
    return _directory_edit("partner", username,
                           lambda: DirectoryAdmin(engine()).set_partner(username, partner, me()),
                           _("已保存 {name} 的 AB 角", name=username), "#partners")


def _words(text: str) -> list[str]:
    return [w for w in text.replace(",", " ").replace("，", " ").split() if w]


@bp.post("/directory/users")
def put_user():
    username = request.form.get("username", "").strip()
    if not username:
        flash(_("请填写用户名"), "error")
        return redirect(url_for("admin.directory_page"))
    item = {"username": username, "display_name": request.form.get("display_name", "").strip() or username,
            "department": request.form.get("department") or None, "active": request.form.get("active") == "1",
            "roles": _words(request.form.get("roles", "")), "portfolio": _words(request.form.get("portfolio", ""))}
    password = request.form.get("password", "")
    if password:
        item["password"] = password
    try:
        with engine().unit_of_work() as uow:
            directory.put_user(uow.session, item)
            audit.record(uow.session, action="directory_change", actor=me(), at=uow.now,
                         data={key: value for key, value in item.items() if key != "password"})
    except GovflowError as err:
        flash(pick(err.message), "error")
        return redirect(url_for("admin.directory_page", edit=username))
    flash(_("已保存用户 {name}", name=username), "success")
    return redirect(url_for("admin.directory_page"))


@bp.post("/roster")
def roster_add():
    form = request.form
    try:
        roster.add(engine(), form.get("role", ""), form.get("username", ""), _local(form.get("starts_at", "")),
                   _local(form.get("ends_at", "")), form.get("note", ""), me())
    except GovflowError as err:
        flash(pick(err.message), "error")
    else:
        flash(_("值班安排已添加"), "success")
    return redirect(url_for("admin.directory_page") + "#roster")


def _local(value: str) -> str:
    """``2026-06-01T08:30`` from a datetime-local input, in Beijing time."""
    value = value.strip()
    if value and len(value) <= 16 and "T" in value:
        return value + ":00+08:00"
    return value


@bp.post("/roster/<int:entry_id>/remove")
def roster_remove(entry_id: int):
    try:
        roster.remove(engine(), entry_id, me())
    except GovflowError as err:
        flash(pick(err.message), "error")
    else:
        flash(_("值班安排已删除"), "success")
    return redirect(url_for("admin.directory_page") + "#roster")


@bp.get("/calendar")
def calendar():
    return render_template("admin_calendar.html", overrides=CalendarAdmin(engine()).overrides())


@bp.post("/calendar")
def calendar_set():
    form = request.form
    try:
        if form.get("kind") == "unset":
            CalendarAdmin(engine()).unset(form.get("day", ""), me())
        else:
            CalendarAdmin(engine()).set(form.get("day", ""), form.get("kind") == "workday", form.get("note", ""), me())
    except GovflowError as err:
        flash(pick(err.message), "error")
    else:
        flash(_("工作日调整已保存"), "success")
    return redirect(url_for("admin.calendar"))
