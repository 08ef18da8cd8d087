"""Compliance and duration reports for auditors: for a period, per procedure and department, the instances
started and finished, the time each step took (median, p90), and every time limit met or missed with the
overshoot. Read from the instances and the task index only."""
from __future__ import annotations

import csv
import io
import math
import statistics
from collections import defaultdict
from datetime import datetime

from sqlalchemy import select

from . import compliance
from .clock import local_iso
from .inbox import process_titles
from .models import Instance, TaskIndex

FAMILY_SEPARATOR = "."


def report(conn, start: datetime, end: datetime, now: datetime, limit_name, process: str | None = None) -> dict:
    """Instances started in [start, end) (of ``process`` and its district variants, or of every process)."""
    titles = process_titles(conn)
    query = select(Instance.id, Instance.process_key, Instance.state, Instance.started_at, Instance.ended_at,
                   Instance.data).where(Instance.started_at >= start, Instance.started_at < end)
    if process:
        query = query.where((Instance.process_key == process) | Instance.process_key.like(f"{process}.%"))
    instances = conn.execute(query.order_by(Instance.id)).all()
    procedures: dict[str, dict] = {}
    departments: dict[tuple, dict] = {}
    for row in instances:
        for table, key in ((procedures, row.process_key),
                           (departments, (row.process_key, (row.data or {}).get("department")))):
            figures = table.setdefault(key, {"started": 0, "finished": 0, "running": 0, "failed": 0})
            figures["started"] += 1
            state = "finished" if row.state == "completed" else row.state
            figures[state] = figures.get(state, 0) + 1
    steps = _step_durations(conn, [row.id for row in instances])
    families = sorted({key.split(FAMILY_SEPARATOR)[0] for key in procedures})
    limits = [limit for family in families
              for limit in _limits(compliance.report(conn, family, start, end, now, limit_name))]
    return {"from": local_iso(start), "to": local_iso(end), "at": local_iso(now),
            "procedures": [{"process": key, "title": titles.get(key, key), **figures}
                           for key, figures in sorted(procedures.items())],
            "departments": [{"process": key, "department": department, **figures}
                            for (key, department), figures in sorted(departments.items(),
                                                                      key=lambda item: (item[0][0], item[0][1] or ""))],
            "steps": [{"process": key, "step": title, **figures} for (key, title), figures in sorted(steps.items())],
            "limits": limits,
            "limit_totals": _limit_totals(limits)}


def _step_durations(conn, instance_ids: list[int]) -> dict:
    rows = conn.execute(select(TaskIndex.process_key, TaskIndex.title, TaskIndex.created_at, TaskIndex.completed_at,
                               TaskIndex.done_at)
                        .where(TaskIndex.instance_id.in_(instance_ids), TaskIndex.state == "completed")).all()
    minutes = defaultdict(list)
    for row in rows:
        made = row.done_at or row.completed_at
        minutes[(row.process_key, row.title)].append(max(0.0, (made - row.created_at).total_seconds() / 60))
    return {key: {"count": len(values), "median_minutes": round(statistics.median(values), 1),
                  "p90_minutes": round(percentile(values, 0.9), 1), "max_minutes": round(max(values), 1)}
            for key, values in minutes.items()}


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile: the smallest value with at least ``fraction`` of the values at or below."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def _limits(compliance_report: dict) -> list[dict]:
    return [{"process": compliance_report["process"], "instance": instance["instance"], "title": instance["title"],
             "department": instance["department"], **limit}
            for instance in compliance_report["instances"] for limit in instance["limits"]]


def _limit_totals(limits: list[dict]) -> list[dict]:
    totals: dict[tuple, dict] = {}
    for limit in limits:
        figures = totals.setdefault((limit["process"], limit["limit"]),
                                    {"met": 0, "late": 0, "overdue": 0, "pending": 0, "max_minutes_late": 0})
        if limit["status"] in figures:
            figures[limit["status"]] += 1
        figures["max_minutes_late"] = max(figures["max_minutes_late"], limit["minutes_late"] or 0)
    return [{"process": process, "limit": name, **figures} for (process, name), figures in sorted(totals.items())]


CSV_SECTIONS = {
    "procedures": ("process", "title", "started", "finished", "running", "failed"),
    "departments": ("process", "department", "started", "finished", "running", "failed"),
    "steps": ("process", "step", "count", "median_minutes", "p90_minutes", "max_minutes"),
    "limits": ("process", "instance", "title", "department", "limit", "step", "due_at", "made_at", "made_by",
               "status", "minutes_late"),
}


def to_csv(result: dict, section: str) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, CSV_SECTIONS[section], extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(result[section])
    return out.getvalue()
