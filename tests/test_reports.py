"""The auditors' compliance and duration report, against figures worked out by hand: three incoming requests
filed at 09:00 on Monday 1 June 2026, registered after 10, 30 and 90 minutes; the mayor approves the first
after 2 hours (met) and the second on Tuesday 9 June at 01:30, 90 minutes after its 5-working-day limit ended
at 00:00 (late); the third has waited for the mayor since 09:10 on 1 June, 90 minutes past the same limit
(overdue). The vice-mayor's step of the first request opened on 1 June too, so its limit also ended at 00:00
on 9 June (overdue by 90 minutes); the second's, opened on 9 June, ends on 17 June (pending)."""
import csv
import io
from datetime import timedelta

from engine import reports
from engine.clock import parse_instant
from webui.cli import main as cli_main

from .test_document_incoming import CLERK, REGISTER, complete, start

MAYOR = "wang_mayor"
OPINION = {"opinion_kind": "批示", "opinion": "同意"}
LIMIT = "领导审批（5个工作日）"


def hand_worked(engine, clock):
    a, b, c = start(engine), start(engine), start(engine)
    for minutes, instance_id in ((10, c), (30, a), (90, b)):
        clock.set(parse_instant("2026-06-01T09:00:00+08:00") + timedelta(minutes=minutes))
        complete(engine, instance_id, "register", CLERK, REGISTER)
    clock.set(parse_instant("2026-06-01T11:30:00+08:00"))
    complete(engine, a, "mayor_review", MAYOR, OPINION)
    clock.set(parse_instant("2026-06-09T01:30:00+08:00"))
    complete(engine, b, "mayor_review", MAYOR, OPINION)
    return a, b, c


def test_the_report_gives_the_hand_worked_figures(engine, clock):
    a, b, c = hand_worked(engine, clock)
    result = engine.report(process="document_incoming")
    [procedure] = result["procedures"]
    assert procedure == {"process": "document_incoming", "title": "收文呈批", "started": 3, "finished": 0,
                         "running": 3, "failed": 0}
    assert [d["department"] for d in result["departments"]] == ["civil_affairs"]
    steps = {s["step"]: s for s in result["steps"]}
    assert steps["办公室登记并提出拟办意见"] == {"process": "document_incoming", "step": "办公室登记并提出拟办意见",
                                         "count": 3, "median_minutes": 30.0, "p90_minutes": 90.0,
                                         "max_minutes": 90.0}
    assert steps["区长审批"]["count"] == 2
    # a: 09:30 to 11:30 is 120 minutes; b: 1 June 10:30 to 9 June 01:30 is 7 days 15 hours
    assert steps["区长审批"]["median_minutes"] == (120 + 7 * 24 * 60 + 15 * 60) / 2
    limits = {(l["instance"], l["step"]): (l["status"], l["minutes_late"]) for l in result["limits"]}
    assert limits[(a, "区长审批")] == ("met", 0)
    assert limits[(b, "区长审批")] == ("late", 90)
    assert limits[(c, "区长审批")] == ("overdue", 90)
    assert limits[(a, "分管副区长审批")] == ("overdue", 90)
    assert limits[(b, "分管副区长审批")] == ("pending", 0)
    assert result["limit_totals"] == [
        {"process": "document_incoming", "limit": LIMIT, "met": 1, "late": 1, "overdue": 2, "pending": 1,
         "max_minutes_late": 90}]


def test_the_report_as_csv(engine, clock):
    hand_worked(engine, clock)
    result = engine.report()
    rows = list(csv.DictReader(io.StringIO(reports.to_csv(result, "limits"))))
    assert sorted(row["status"] for row in rows) == ["late", "met", "overdue", "overdue", "pending"]
    assert list(rows[0]) == list(reports.CSV_SECTIONS["limits"])
    assert reports.percentile([5, 1, 3, 2, 4], 0.9) == 5 and reports.percentile([7], 0.9) == 7


def test_govflow_audit_report(engine, clock, govflow, capsys):
    hand_worked(engine, clock)
    result = govflow("--now", "2026-06-09T01:30:00+08:00", "audit", "report", "--process", "document_incoming")
    assert result["limit_totals"][0]["late"] == 1
    assert cli_main(["audit", "report", "--csv", "steps"]) == 0
    assert capsys.readouterr().out.startswith("process,step,count,median_minutes,p90_minutes,max_minutes\n")
