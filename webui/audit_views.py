"""The auditors' pages (role ``auditor``), all read-only:

    /audit                              every instance (procedure, state, started in a period); verify the audit
                                        chain (POST); the event log downloads
    /audit/instances/<id>?event=<id>    the step-through: every event, and for the chosen one the data and the
                                        diagram as they stood just after it; replay (POST)
    /audit/reports                      instances started and finished, time per step, every time limit, with
                                        inline SVG charts; /audit/reports.csv?section=… per table
    /audit/export.xes, /audit/export.csv  the process-mining event log

Anyone else gets the 403 page and nothing changes. The POSTs (verify, replay) only read; the engine records each
view of a classified instance. The step-through page carries every event's panel in a <template>, so stepping
in the browser (webui/static/js/audit.js) asks the server nothing and records no further view; without
JavaScript each step is a link to ``?event=<id>``, rendered by the server.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from flask import Blueprint, Response, abort, g, render_template, request

from engine import eventlog, reports as engine_reports
from engine.clock import LOCAL_ZONE

from .app import engine, per_page
from .i18n import gettext as _
from .present import ACTIONS, INSTANCE_STATES as STATES, event_text, span

bp = Blueprint("audit", __name__, url_prefix="/audit")

INLINE_EVENTS = 400  # above this many events the step-through pages by links only (no <template> per event)
LIMIT_STATUSES = {"met": "按时", "late": "超时办结", "overdue": "已超期未办", "pending": "计时中", "returned": "已退回",
                  "withdrawn": "已撤回", "cancelled": "已取消"}
MISSED = {"late", "overdue"}
# Audit actions the instance history does not name (present.ACTIONS has the others).
MORE_ACTIONS = {"cancel": "取消了流程", "suspend": "暂停了流程", "resume": "恢复了流程", "migrate": "迁移到新版本",
                "retry": "重试了出错的流程", "issue_token": "生成了 API 令牌", "revoke_token": "撤销了 API 令牌",
                "calendar_override": "调整了工作日", "roster_change": "调整了值班表", "ignore": "忽略了"}
BUILT_IN_TITLES = {"initiator_name": "发起人", "department": "承办部门", "started_at": "发起时间"}
SECTIONS = {"procedures": "各流程办理情况", "departments": "各部门办理情况", "steps": "各步骤用时",
            "limits": "时限执行情况"}


@bp.before_request
def auditors_only():
    """Only auditors: anyone else gets the 403 page (the app has already sent the signed-out to /login)."""
    if g.get("user") is None or "auditor" not in (g.user.roles or []):
        abort(403)


def me() -> str:
    return g.user.username


# --- filters: procedure and period ----------------------------------------------------------------

@dataclass
class Period:
    """A period of Beijing dates, both included: [from 00:00, the day after to 00:00)."""
    since: str = ""
    until: str = ""
    start: datetime | None = None
    end: datetime | None = None

    def args(self) -> dict:
        return {key: value for key, value in (("from", self.since), ("to", self.until)) if value}


def _period(errors: list[str]) -> Period:
    period = Period()
    for name in ("from", "to"):
        raw = request.args.get(name, "").strip()
        if not raw:
            continue
        try:
            day = date.fromisoformat(raw)
        except ValueError:
            errors.append(_("日期格式应为 YYYY-MM-DD：{value}", value=raw))
            continue
        if name == "from":
            period.since, period.start = raw, datetime.combine(day, time(0), tzinfo=LOCAL_ZONE)
        else:
            period.until = raw
            period.end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=LOCAL_ZONE)
    if period.start and period.end and period.start >= period.end:
        errors.append(_("开始日期晚于结束日期"))
    return period


def _process_titles() -> dict[str, str]:
    """Each procedure's title (of its latest version), read once per request."""
    if "audit_titles" not in g:
        g.audit_titles = {d["key"]: d.get("title") or d["key"] for d in engine().definitions()}
    return g.audit_titles


def _procedures() -> list[dict]:
    """The procedures to filter by: each family (e.g. 发文签发, every district's variant) then its variants."""
    titles = _process_titles()
    families: dict[str, list[str]] = {}
    for key in sorted(titles):
        families.setdefault(key.split(".")[0], []).append(key)
    choices = []
    for family, keys in families.items():
        if keys == [family]:
            choices.append({"key": family, "title": titles[family], "variant": False})
            continue
        title = titles.get(family) or titles[keys[0]].split("（")[0]
        choices.append({"key": family, "title": title, "variant": False})
        choices += [{"key": key, "title": titles[key], "variant": True} for key in keys if key != family]
    return choices


def _chosen_process(choices: list[dict]) -> str:
    process = request.args.get("process", "").strip()
    return process if process in {c["key"] for c in choices} else ""


# --- the instances list, verifying the chain --------------------------------------------------------

@bp.get("")
def index():
    return _render_index()


@bp.post("/verify")
def verify():
    """Check every hash chain of the audit trail (reads only) and show the result above the list."""
    return _render_index(verification=engine().verify_audit())


def _render_index(verification: dict | None = None):
    errors: list[str] = []
    period = _period(errors)
    choices = _procedures()
    process = _chosen_process(choices)
    state = request.args.get("state", "")
    if state not in dict(STATES):
        state = ""
    listing = engine().instance_page(family=process or None, state=state or None, started_from=period.start,
                                     started_before=period.end, page=request.args.get("page", 1, type=int) or 1,
                                     per_page=per_page())
    filters = {**period.args(), **({"process": process} if process else {}), **({"state": state} if state else {})}
    return render_template("audit_index.html", rows=listing["rows"], listing=listing, choices=choices,
                           process=process, state=state, states=STATES, period=period, errors=errors,
                           filters=filters, export_args=_export_args(period, process), state_names=dict(STATES),
                           titles=_process_titles(), verification=verification)


def _export_args(period: Period, process: str) -> dict:
    return {**period.args(), **({"process": process} if process else {})}


# --- the step-through -----------------------------------------------------------------------------

@bp.get("/instances/<int:instance_id>")
def instance(instance_id: int):
    return _render_instance(instance_id)


@bp.post("/instances/<int:instance_id>/replay")
def replay(instance_id: int):
    """Rebuild the instance from its audit trail and compare (reads only); the page shows the verdict."""
    return _render_instance(instance_id, replay=True)


def _render_instance(instance_id: int, replay: bool = False):
    timeline = engine().timeline(instance_id, me())  # Forbidden/NotFound first; a classified view is recorded once
    replayed = engine().replay(instance_id) if replay else None
    events = timeline["events"]
    if not events:
        abort(404)
    titles = _field_titles(timeline)
    wanted = request.values.get("event", type=int)
    ids = [event["id"] for event in events]
    if wanted is None:
        chosen = len(events) - 1
    elif wanted in ids:
        chosen = ids.index(wanted)
    else:
        abort(404)
    steps = []
    previous: dict = {}
    for index, event in enumerate(events):
        steps.append(_step(index, event, previous, titles))
        previous = event["state"]["data"]
    return render_template("audit_instance.html", instance=timeline["instance"], xml=timeline["xml"], steps=steps,
                           chosen=steps[chosen], inline=len(steps) <= INLINE_EVENTS, replayed=replayed,
                           process_title=_process_titles().get(timeline["instance"]["process"]))


def _field_titles(timeline: dict) -> dict[str, str]:
    """Titles for the data's keys: the engine's (every form of the version, when it gives them), else what the
    procedure's start form names, and the keys the engine adds itself."""
    titles = {key: _(title) for key, title in BUILT_IN_TITLES.items()}
    try:
        schema = engine().start_form(timeline["instance"]["process"]).get("schema") or {}
    except Exception:  # a procedure without a start form, or no longer deployed
        schema = {}
    for key, prop in (schema.get("properties") or {}).items():
        titles[key] = prop.get("title") or key
    titles.update(timeline.get("field_titles") or {})
    return titles


def _step(index: int, event: dict, before: dict, titles: dict) -> dict:
    """One event as the page shows it: what happened, and the data as it stood after it, the fields the event
    changed marked with their value before and after."""
    state = event["state"]
    recorded = event.get("data") or {}
    changes = recorded.get("changes") or {}
    data = state["data"]
    keys = list(data) + [key for key in changes if key not in data]
    ordered = [key for key in titles if key in keys] + sorted(key for key in keys if key not in titles)
    fields = []
    for key in ordered:
        change = changes.get(key)
        fields.append({"key": key, "title": titles.get(key), "value": data.get(key), "changed": change is not None,
                       "removed": bool(change and change.get("removed")),
                       "added": bool(change) and key not in before and not change.get("removed"),
                       "before": change.get("before") if change else None,
                       "after": change.get("after") if change else None})
    submitted = [(titles.get(key) or key, key, value) for key, value in recorded["data"].items()] \
        if isinstance(recorded.get("data"), dict) else []
    action = event["action"]
    shown = {**event, "action": MORE_ACTIONS[action]} if action not in ACTIONS and action in MORE_ACTIONS else event
    return {"index": index, "id": event["id"], "at": event["at"], "actor": event.get("actor"),
            "on_behalf_of": event.get("on_behalf_of"), "action": action, "text": event_text(shown),
            "task_title": recorded.get("title") or recorded.get("task_title"), "reason": recorded.get("reason"),
            "submitted": submitted, "fields": fields, "changed": sum(1 for f in fields if f["changed"]),
            "finished": state["finished"], "active": state["active"], "returned": state["returned"]}


# --- reports --------------------------------------------------------------------------------------

def _report_request():
    errors: list[str] = []
    period = _period(errors)
    choices = _procedures()
    process = _chosen_process(choices)
    return errors, period, choices, process, engine().report(period.start, period.end, process or None)


@bp.get("/reports")
def reports():
    errors, period, choices, process, result = _report_request()
    missed_only = request.args.get("missed") == "1"
    departments = _department_names()
    titles = _process_titles()
    limits = [limit for limit in result["limits"] if not missed_only or limit["status"] in MISSED]
    charts = {
        "procedures": bar_chart([titles.get(r["process"], r["process"]) for r in result["procedures"]],
                                [("started", _("已发起"), [r["started"] for r in result["procedures"]]),
                                 ("finished", _("已办结"), [r["finished"] for r in result["procedures"]])]),
        "steps": bar_chart([f'{r["step"]}' for r in result["steps"]],
                           [("median", _("中位数"), [r["median_minutes"] for r in result["steps"]]),
                            ("p90", "P90", [r["p90_minutes"] for r in result["steps"]])], duration),
        "limits": bar_chart([f'{titles.get(r["process"], r["process"])} · {r["limit"]}' for r in result["limit_totals"]],
                            [(status, _(LIMIT_STATUSES[status]), [r[status] for r in result["limit_totals"]])
                             for status in ("met", "late", "overdue", "pending")], stacked=True),
    }
    filters = {**period.args(), **({"process": process} if process else {})}
    return render_template("audit_reports.html", result=result, limits=limits, missed_only=missed_only,
                           charts=charts, choices=choices, process=process, period=period, errors=errors,
                           filters=filters, titles=titles, departments=departments, sections=SECTIONS,
                           statuses=LIMIT_STATUSES, missed=MISSED, duration=duration)


@bp.get("/reports.csv")
def reports_csv():
    section = request.args.get("section", "")
    if section not in engine_reports.CSV_SECTIONS:
        abort(400, description=_("没有这个表：{section}（可选 {choices}）", section=section,
                                 choices="、".join(engine_reports.CSV_SECTIONS)))
    errors, period, _choices, process, result = _report_request()
    if errors:
        abort(400, description="；".join(errors))
    # with a byte-order mark, so that Excel opens the Chinese text as UTF-8
    body = "\ufeff" + engine_reports.to_csv(result, section)
    return _download(body.encode("utf-8"), "text/csv; charset=utf-8", _filename(f"report-{section}", period, "csv"))


def _department_names() -> dict[str, str]:
    return {u["department"]: u["department_name"] for u in engine().users()
            if u.get("department") and u.get("department_name")}


def duration(minutes) -> str:
    """Minutes as people read them: 45 分钟, 3 小时 20 分, 2 天 4 小时."""
    if minutes is None:
        return ""
    if 0 < float(minutes) < 1:
        return _("{m} 分钟", m=round(float(minutes), 1))
    return span(int(round(float(minutes))))


def bar_chart(labels: list[str], series: list[tuple], text=None, stacked: bool = False) -> dict:
    """A horizontal bar chart drawn as inline SVG by the template (no script, CSP-safe): one row per label,
    one bar per series (or the series stacked in one bar), scaled to the largest value."""
    label_width, bar_width, value_width, bar_height, gap = 190, 280, 110, 16, 10
    text = text or (lambda value: f"{value:g}" if isinstance(value, float) else str(value))
    per_row = 1 if stacked else max(len(series), 1)
    row_height = per_row * bar_height + gap
    totals = [sum(values[i] or 0 for _key, _name, values in series) for i in range(len(labels))]
    largest = max(totals if stacked else [v or 0 for _k, _n, values in series for v in values], default=0)
    scale = bar_width / largest if largest else 0
    rows = []
    for i, label in enumerate(labels):
        top = i * row_height
        bars, x = [], label_width
        for j, (key, name, values) in enumerate(series):
            value = values[i] or 0
            width = round(value * scale, 1)
            y = top if stacked else top + j * bar_height
            bars.append({"key": key, "name": name, "value": value, "text": text(value), "x": x if stacked else label_width,
                         "y": y, "width": width, "height": bar_height - 2})
            if stacked:
                x += width
        end = (label_width + totals[i] * scale) if stacked else None
        rows.append({"label": label, "short": label if len(label) <= 14 else label[:13] + "…", "y": top,
                     "bars": bars, "total": totals[i], "total_text": text(totals[i]), "end": end})
    return {"rows": rows, "series": [(key, name) for key, name, _values in series], "stacked": stacked,
            "width": label_width + bar_width + value_width, "height": max(len(labels) * row_height, 1),
            "label_width": label_width, "bar_height": bar_height}


# --- the event log for process mining -------------------------------------------------------------

def _event_log():
    errors: list[str] = []
    period = _period(errors)
    if errors:
        abort(400, description="；".join(errors))
    process = _chosen_process(_procedures())
    return period, engine().event_log(process or None, period.start, period.end)


@bp.get("/export.xes")
def export_xes():
    period, rows = _event_log()
    return _download(eventlog.to_xes(rows), "application/xml", _filename("eventlog", period, "xes"))


@bp.get("/export.csv")
def export_csv():
    period, rows = _event_log()
    return _download(eventlog.to_csv(rows).encode("utf-8"), "text/csv; charset=utf-8",
                     _filename("eventlog", period, "csv"))


def _filename(stem: str, period: Period, extension: str) -> str:
    span = "-".join(part for part in (period.since, period.until) if part)
    return f"govflow-{stem}{'-' + span if span else ''}.{extension}"


def _download(body: bytes, mimetype: str, filename: str) -> Response:
    response = Response(body, mimetype=mimetype.split(";")[0])
    response.headers["Content-Type"] = mimetype
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
