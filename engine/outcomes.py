"""What every command shares about its outcome: the audit event it records, the reason it requires, and what
it gives back (raising when the engine failed the instance)."""
from __future__ import annotations

from .errors import InstanceFailed, InvalidInput


def event(action: str, actor: str, task_id: int | None = None, on_behalf_of: str | None = None, **data) -> dict:
    """A command's audit event, recorded by Engine._advance once the data it changed is known."""
    return {"action": action, "actor": actor, "task_id": task_id, "on_behalf_of": on_behalf_of, "data": data}


def required_reason(reason: str | None) -> str:
    if not reason or not reason.strip():
        raise InvalidInput("请填写理由 / give a reason", [{"field": "reason", "message": "必填 / required"}])
    return reason.strip()


def result(live) -> dict:
    live.resolve_ids()
    return {"instance": live.row.id, "state": live.row.state, "error": live.row.error,
            "tasks": sorted(live.open_tasks.values(), key=lambda task: task["id"])}


def raise_if_failed(outcome: dict, failure: str | None) -> dict:
    if failure is not None:
        instance_id = outcome["instance"]
        raise InstanceFailed(f"流程实例 {instance_id} 运行出错，已标记为失败 / instance {instance_id} failed: "
                             f"{failure}", [{"instance": instance_id}])
    return outcome
