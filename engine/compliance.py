"""Time-limit compliance: every limited step of every instance in a period, met or late and by how much.

A limited step is a user task with a due instant in the task index (its ``dueIn`` rule). It is met when the
step was made (``done_at``: a recorded instant such as a phone call's time, else the completion time) no
later than the limit. Reads the task index and instances only; never a workflow.
"""
from __future__ import annotations

import math
from collections import defaultdict
from datetime import datetime

from sqlalchemy import bindparam, or_, select

from .clock import local_iso
from .models import Instance, TaskIndex

_LIMITED_STEPS = (
    select(TaskIndex.instance_id, TaskIndex.name, TaskIndex.title, TaskIndex.state, TaskIndex.due_at,
           TaskIndex.done_at, TaskIndex.completed_at, TaskIndex.completed_by, Instance.definition_id,
           Instance.title.label("instance_title"), Instance.started_by, Instance.started_at, Instance.state.label(
               "instance_state"), Instance.data)
    .join(Instance, Instance.id == TaskIndex.instance_id)
    .where(or_(Instance.process_key == bindparam("process"), Instance.process_key.like(bindparam("variants"))),
           TaskIndex.due_at.is_not(None),
           Instance.started_at >= bindparam("start"), Instance.started_at < bindparam("end"))
    .order_by(Instance.started_at, TaskIndex.instance_id, TaskIndex.due_at, TaskIndex.id))


def report(conn, process: str, start: datetime, end: datetime, now: datetime, limit_name) -> dict:
    """Every instance of ``process`` (and its district variants) started in [start, end), each limited step
    with its status, and per department the counts and on-time rate. ``limit_name(definition_id, task)``
    names a step's limit for people (the task's ``limitName`` property)."""
    rows = conn.execute(_LIMITED_STEPS, {"process": process, "variants": f"{process}.%", "start": start,
                                         "end": end}).all()
    instances: dict[int, dict] = {}
    for row in rows:
        instance = instances.setdefault(row.instance_id, _instance(row))
        instance["limits"].append(_limit(row, now, limit_name(row.definition_id, row.name)))
    return {"process": process, "from": local_iso(start), "to": local_iso(end), "at": local_iso(now),
            "instances": list(instances.values()), "departments": _by_department(instances.values())}


def _instance(row) -> dict:
    data = row.data or {}
    return {"instance": row.instance_id, "title": row.instance_title, "state": row.instance_state,
            "department": data.get("department"), "reported_by": row.started_by, "reporter": data.get("reporter"),
            "occurred_at": data.get("occurred_at"), "started_at": local_iso(row.started_at), "limits": []}


def _limit(row, now: datetime, name: str | None) -> dict:
    made = (row.done_at or row.completed_at) if row.state == "completed" else None
    if row.state == "completed":
        status = "met" if made <= row.due_at else "late"
        minutes_late = _minutes_after(made, row.due_at)
    elif row.state != "open":  # cancelled by the flow, returned (退回) or withdrawn (撤回): not judged
        status, minutes_late = row.state, None
    else:
        status = "overdue" if now > row.due_at else "pending"
        minutes_late = _minutes_after(now, row.due_at)
    flagged = bool((row.data or {}).get(f"late_{row.name}"))
    return {"task": row.name, "limit": name or row.title, "step": row.title, "due_at": local_iso(row.due_at),
            "made_at": local_iso(made), "made_by": row.completed_by, "status": status,
            "minutes_late": minutes_late, "flagged_late": flagged}


def _minutes_after(instant: datetime, due: datetime) -> int:
    """Whole minutes past the limit, rounded up (half a minute late is a minute late); 0 when on time."""
    return max(0, math.ceil((instant - due).total_seconds() / 60))


def _by_department(instances) -> list[dict]:
    counts: dict[str | None, dict] = defaultdict(lambda: {"instances": 0, "met": 0, "late": 0, "overdue": 0,
                                                          "pending": 0})
    for instance in instances:
        department = counts[instance["department"]]
        department["instances"] += 1
        for limit in instance["limits"]:
            if limit["status"] in department:
                department[limit["status"]] += 1
    result = []
    for name, figures in sorted(counts.items(), key=lambda item: item[0] or ""):
        judged = figures["met"] + figures["late"] + figures["overdue"]
        rate = round(figures["met"] / judged, 4) if judged else None
        result.append({"department": name, **figures, "on_time_rate": rate})
    return result
