"""Designers' rules a form cannot state: startCheck and completeCheck, with working days and now()."""
import shutil

import pytest

from engine.calendar_admin import CalendarAdmin
from engine.errors import InvalidDiagram, InvalidInput

from .helpers import CLERK, FIXTURES, deploy, open_task

# 2026-06-01 is a Monday; 06-08 is five working days later. The clock starts at 2026-06-01 09:00.
TOPIC = {"title": "关于调整养老服务补贴的议题", "meeting_at": "2026-06-08T09:00:00+08:00", "members": 9,
         "personnel": False}


def test_a_start_rule_counts_working_days_on_the_calendar_with_its_overrides(engine):
    deploy(engine, "checked_meeting")
    assert engine.start("checked_meeting", CLERK, TOPIC)["state"] == "running"
    with pytest.raises(InvalidInput, match="会前5个工作日"):
        engine.start("checked_meeting", CLERK, {**TOPIC, "meeting_at": "2026-06-05T09:00:00+08:00"})
    CalendarAdmin(engine).set("2026-06-03", False, "防汛", "admin")  # a day off declared by the admins
    with pytest.raises(InvalidInput, match="会前5个工作日"):
        engine.start("checked_meeting", CLERK, TOPIC)


@pytest.mark.parametrize("personnel, present, allowed", [
    (False, 5, True), (False, 4, False), (True, 6, True), (True, 5, False)])
def test_a_completion_rule_refuses_a_decision_without_quorum_and_changes_nothing(engine, personnel, present,
                                                                                  allowed):
    deploy(engine, "checked_meeting")
    instance_id = engine.start("checked_meeting", CLERK, {**TOPIC, "personnel": personnel})["instance"]
    task = open_task(engine, instance_id, "record_decision")
    data = {"present": present, "decision": "同意"}
    if allowed:
        assert engine.complete(task["id"], CLERK, data)["state"] == "completed"
    else:
        with pytest.raises(InvalidInput, match="法定人数"):
            engine.complete(task["id"], CLERK, data)
        assert open_task(engine, instance_id, "record_decision")["id"] == task["id"]


def test_an_unsafe_rule_is_refused_at_deploy(engine, tmp_path):
    folder = tmp_path / "checked_meeting"
    shutil.copytree(FIXTURES / "checked_meeting", folder)
    bpmn = folder / "checked_meeting.bpmn"
    bpmn.write_text(bpmn.read_text(encoding="utf-8").replace("present * 2 &gt; members", "().__class__"),
                    encoding="utf-8")
    with pytest.raises(InvalidDiagram, match="completeCheck"):
        engine.deploy([folder], "admin")
