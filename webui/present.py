"""How things read on a page: instants in Asia/Shanghai, time left to a limit, people's names, the history."""
from __future__ import annotations

from datetime import datetime

from flask import g

from engine.calendar import WorkingCalendar
from engine.clock import LOCAL_ZONE, parse_instant

from .i18n import gettext as _, language

# Audit actions as people say them (the engine's action names are English keys).
ACTIONS = {
    "start": "发起了流程", "complete": "办理了", "claim": "认领了", "release": "释放了", "return": "退回了",
    "return_task": "退回了", "transfer": "转办了", "delegate": "委派了", "add_signer": "加签了", "copy": "抄送了",
    "copy_to": "抄送了", "read_copy": "阅读了抄送", "urge": "催办了", "withdraw": "撤回了", "comment": "发表了意见",
    "attach": "上传了附件", "timer_fired": "时限到达", "failed": "流程运行出错", "absence_handover": "因请假转由代理人办理",
    "view_classified": "查阅了涉密文件", "deploy": "部署了流程", "overdue": "已超期", "duty_handover": "交班移交了",
    "delegate_back": "委派办理完毕，交回", "sign": "加签办理了", "pass_on": "办理后转交", "late_flagged": "标记为超期",
    "delegated": "受委派办理", "signed_before": "前加签办理", "signed": "后加签办理",
}
INSTANCE_STATES = [("running", "办理中"), ("completed", "已办结"), ("suspended", "已暂停"), ("failed", "出错"),
                   ("cancelled", "已取消")]
PROCESS_STATES = dict(INSTANCE_STATES)
TASK_STATES = {"open": "待办", "completed": "已办", "cancelled": "已取消", "returned": "已退回", "withdrawn": "已撤回",
               "transferred": "已转办", "delegated": "已委派"}
NOTIFICATION_KINDS = {"new_task": "新任务", "urged": "催办", "returned": "退回", "overdue": "超期", "copied": "抄送",
                      "delegated": "委派", "transferred": "转办", "signer": "加签"}


def now() -> datetime:
    from .app import engine
    return engine().clock.now()


def instant(value) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value
    try:
        return parse_instant(str(value))
    except ValueError:
        return None


def localtime(value, fmt: str = "%Y-%m-%d %H:%M") -> str:
    moment = instant(value)
    return moment.astimezone(LOCAL_ZONE).strftime(fmt) if moment else ""


def span(minutes: int) -> str:
    """Whole minutes as people read them: 45 分钟, 3 小时 20 分, 2 天 4 小时."""
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return _("{d} 天 {h} 小时", d=days, h=hours)
    if hours:
        return _("{h} 小时 {m} 分", h=hours, m=mins)
    return _("{m} 分钟", m=mins)


def due(row: dict) -> dict | None:
    """The time left to a row's limit: working days for a limit days away, hours and minutes for a near one."""
    due_at = instant(row.get("due_at"))
    if due_at is None:
        return None
    current = now()
    seconds = (due_at - current).total_seconds()
    result = {"at": localtime(due_at), "iso": due_at.astimezone(LOCAL_ZONE).isoformat(), "overdue": seconds < 0,
              "soon": 0 <= seconds < 24 * 3600, "note": row.get("due_note")}
    left = row.get("due_left") or {}
    if seconds < 0:
        result["text"] = _("已超期 {span}", span=span(int(-seconds // 60)))
    elif seconds < 24 * 3600 or "minutes" in left:
        result["text"] = _("剩 {span}", span=span(int(seconds // 60)))
    else:
        days = left.get("working_days")
        if days is None:  # a row without the engine's count: the calendar without admin overrides
            days = WorkingCalendar().working_days_between(current, due_at).value
        result["text"] = _("剩 {n} 个工作日", n=days)
    return result


def user_names() -> dict[str, str]:
    if "user_names" not in g:
        from .app import engine
        try:
            g.user_names = {u["username"]: u["display_name"] for u in engine().users()}
        except AttributeError:  # engine without the directory query
            g.user_names = {}
    return g.user_names


def name(username: str | None) -> str:
    if not username:
        return ""
    if username == "system":
        return _("系统")
    return user_names().get(username, username)


def event_text(event: dict) -> str:
    """One line of an instance's history in words: who did what, to whom, and why."""
    data = event.get("data") or {}
    parts = [_(ACTIONS.get(event["action"], event["action"]))]
    title = data.get("title") or data.get("task_title")
    if title and event["action"] not in ("start", "deploy"):
        parts[0] += f" “{title}”" if language() == "en" else f"「{title}」"
    targets = (data.get("to_user") or data.get("to") or data.get("signer") or data.get("recipients")
               or data.get("notified"))
    if isinstance(targets, str):
        targets = [targets]
    if targets and isinstance(targets, list):
        parts.append("→ " + "、".join(name(t) for t in targets if isinstance(t, str)))
    if data.get("position") in ("before", "after"):
        parts.append(_("（前加签）") if data["position"] == "before" else _("（后加签）"))
    if data.get("to_title"):
        parts.append(_("至「{step}」", step=data["to_title"]))
    if data.get("timers"):
        parts.append("、".join(map(str, data["timers"])))
    reason = data.get("reason") or data.get("note") or data.get("text")
    if reason and isinstance(reason, str):
        parts.append(_("理由：{reason}", reason=reason) if event["action"] != "comment" else f"：{reason}")
    if data.get("error"):
        parts.append(str(data["error"]))
    return " ".join(parts)


def actor_text(event: dict) -> str:
    who = name(event.get("actor"))
    if event.get("on_behalf_of") and event["on_behalf_of"] != event.get("actor"):
        who += _("（代 {name}）", name=name(event["on_behalf_of"]))
    return who


def label(mapping: dict, key) -> str:
    return _(mapping.get(key, key)) if key else ""


def install(app) -> None:
    @app.context_processor
    def _now():
        try:
            return {"now_iso": now().astimezone(LOCAL_ZONE).isoformat()}
        except Exception:  # pragma: no cover - a page without an engine (error before setup)
            return {"now_iso": ""}

    app.jinja_env.filters.update(localtime=localtime, name=name, event_text=event_text, actor_text=actor_text)
    app.jinja_env.globals.update(due=due, label=label, PROCESS_STATES=PROCESS_STATES, TASK_STATES=TASK_STATES,
                                 NOTIFICATION_KINDS=NOTIFICATION_KINDS, ACTIONS=ACTIONS)
