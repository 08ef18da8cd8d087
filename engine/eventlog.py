"""The event log for process mining: one case per instance, as XES (IEEE 1849-2016) or CSV.

Each case starts with its start event (activity 发起, by the initiator); each user task adds a ``schedule``
event when it opened (resource: its assignee, else its role) and, when it closed, ``complete`` (by whoever
completed it, at the instant the step was made), ``ate_abort`` (returned 退回) or ``withdraw`` (withdrawn 撤回
or cancelled by the flow). Read from the instances and the task index only.
"""
from __future__ import annotations

import csv
import io
from datetime import datetime

from lxml import etree
from sqlalchemy import select

from .clock import local_iso
from .models import Instance, TaskIndex

XES_NS = "http://www.xes-standard.org/"
EXTENSIONS = (("Concept", "concept"), ("Time", "time"), ("Organizational", "org"), ("Lifecycle", "lifecycle"))
CLOSED_AS = {"completed": "complete", "returned": "ate_abort", "withdrawn": "withdraw", "cancelled": "withdraw"}
CSV_COLUMNS = ("case_id", "process", "case_title", "activity", "timestamp", "resource", "lifecycle", "task_id")
START_ACTIVITY = "发起"


def events(conn, process: str | None, start: datetime, end: datetime) -> list[dict]:
    """Every event of the instances of ``process`` (every process when None) started in [start, end), by
    case and then by time."""
    instances = select(Instance.id, Instance.process_key, Instance.title, Instance.started_at, Instance.started_by) \
        .where(Instance.started_at >= start, Instance.started_at < end)
    if process:
        instances = instances.where((Instance.process_key == process) | Instance.process_key.like(f"{process}.%"))
    cases = {row.id: row for row in conn.execute(instances.order_by(Instance.id))}
    result = {case_id: [_event(row, START_ACTIVITY, row.started_at, row.started_by, "complete", None)]
              for case_id, row in cases.items()}
    tasks = (select(TaskIndex.id, TaskIndex.instance_id, TaskIndex.title, TaskIndex.state, TaskIndex.created_at,
                    TaskIndex.completed_at, TaskIndex.done_at, TaskIndex.completed_by, TaskIndex.assignee,
                    TaskIndex.role)
             .where(TaskIndex.instance_id.in_(list(cases))).order_by(TaskIndex.id))
    for task in conn.execute(tasks):
        case = cases[task.instance_id]
        result[case.id].append(_event(case, task.title, task.created_at, task.assignee or task.role, "schedule",
                                      task.id))
        if task.state in CLOSED_AS:
            when = task.done_at or task.completed_at
            who = task.completed_by or task.assignee or task.role
            result[case.id].append(_event(case, task.title, when, who, CLOSED_AS[task.state], task.id))
    return [event for case_id in cases for event in sorted(result[case_id], key=lambda e: e["at"])]


def _event(case, activity: str, at: datetime, resource: str | None, lifecycle: str, task_id: int | None) -> dict:
    return {"case_id": case.id, "process": case.process_key, "case_title": case.title, "activity": activity,
            "at": at, "timestamp": local_iso(at), "resource": resource or "", "lifecycle": lifecycle,
            "task_id": task_id}


def to_csv(rows: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def to_xes(rows: list[dict]) -> bytes:
    log = etree.Element("log", nsmap={None: XES_NS},
                        attrib={"xes.version": "1849-2016", "xes.features": "nested-attributes"})
    for name, prefix in EXTENSIONS:
        etree.SubElement(log, "extension", name=name, prefix=prefix, uri=f"{XES_NS}{prefix}.xesext")
    for scope, keys in (("trace", ("concept:name",)),
                        ("event", ("concept:name", "org:resource", "lifecycle:transition"))):
        declared = etree.SubElement(log, "global", scope=scope)
        for key in keys:
            etree.SubElement(declared, "string", key=key, value="__INVALID__")
    etree.SubElement(log, "classifier", name="Activity", keys="concept:name lifecycle:transition")
    trace, case_id = None, None
    for row in rows:
        if row["case_id"] != case_id:
            case_id = row["case_id"]
            trace = etree.SubElement(log, "trace")
            _attribute(trace, "string", "concept:name", str(case_id))
            _attribute(trace, "string", "process", row["process"])
            _attribute(trace, "string", "title", row["case_title"])
        event = etree.SubElement(trace, "event")
        _attribute(event, "string", "concept:name", row["activity"])
        _attribute(event, "date", "time:timestamp", row["at"].isoformat(timespec="milliseconds"))
        _attribute(event, "string", "org:resource", row["resource"])
        _attribute(event, "string", "lifecycle:transition", row["lifecycle"])
    return etree.tostring(log, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _attribute(parent, kind: str, key: str, value: str) -> None:
    etree.SubElement(parent, kind, key=key, value=value)
