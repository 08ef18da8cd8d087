"""The event log for process mining: XES (IEEE 1849) read back by an independent reader (pm4py) and CSV, with
case id, activity, timestamp, resource and lifecycle; counts checked against the instances run."""
import csv
import io

import pm4py
import pytest

from engine import eventlog

from .helpers import open_task
from .test_document_incoming import CLERK, REGISTER, complete, start

MAYOR = "wang_mayor"


def run_three(engine):
    """Three requests: one returned once and approved, one waiting for the mayor, one only filed."""
    first, second, third = start(engine), start(engine), start(engine)
    for instance_id in (first, second):
        complete(engine, instance_id, "register", CLERK, REGISTER)
    review = open_task(engine, first, "mayor_review")
    [register] = engine.task_view(review["id"], MAYOR)["returnable"]
    engine.return_task(review["id"], MAYOR, register["id"], "请补充")
    complete(engine, first, "register", CLERK, REGISTER)
    return first, second, third


@pytest.mark.filterwarnings("ignore:Install the optional requirement:UserWarning")
def test_xes_is_read_back_by_pm4py_with_every_event(engine, tmp_path):
    first, second, third = run_three(engine)
    rows = engine.event_log("document_incoming")
    path = tmp_path / "log.xes"
    path.write_bytes(eventlog.to_xes(rows))

    log = pm4py.read_xes(str(path), return_legacy_log_object=True)
    assert [trace.attributes["concept:name"] for trace in log] == [str(first), str(second), str(third)]
    # first: 发起, register scheduled/completed, mayor_review scheduled/returned, register again, mayor again
    counts = [len(trace) for trace in log]
    assert counts == [1 + 2 + 2 + 2 + 1, 1 + 2 + 1, 1 + 1]
    assert sum(counts) == len(rows)
    [first_trace, *_] = log
    register, review = "办公室登记并提出拟办意见", "区长审批"
    assert [(e["concept:name"], e["lifecycle:transition"]) for e in first_trace] == [
        ("发起", "complete"), (register, "schedule"), (register, "complete"), (review, "schedule"),
        (review, "ate_abort"), (register, "schedule"), (register, "complete"), (review, "schedule")]
    assert {e["org:resource"] for e in first_trace} >= {"liu_civil", CLERK, MAYOR}
    assert "ate_abort" in {e["lifecycle:transition"] for e in first_trace}
    timestamps = [e["time:timestamp"] for e in first_trace]
    assert timestamps == sorted(timestamps)


def test_csv_has_one_row_per_event(engine):
    run_three(engine)
    rows = engine.event_log("document_incoming")
    read = list(csv.DictReader(io.StringIO(eventlog.to_csv(rows))))
    assert len(read) == len(rows) and set(read[0]) == set(eventlog.CSV_COLUMNS)
    assert read[0]["activity"] == "发起" and read[0]["lifecycle"] == "complete"
    assert engine.event_log("leave") == []


def test_govflow_audit_export(govflow, tmp_path):
    govflow("users", "load")
    govflow("deploy")
    result = govflow("audit", "export", "--format", "csv", "-o", str(tmp_path / "log.csv"))
    assert result == {"file": str(tmp_path / "log.csv"), "format": "csv", "cases": 0, "events": 0}
