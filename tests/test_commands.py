"""Engine commands: deployment versions, and every kind of bad input leaves the database as it was."""
import shutil
import threading
from pathlib import Path

import pytest
from sqlalchemy import event

from engine.commands import Engine
from engine.errors import Conflict, Forbidden, InvalidDiagram, InvalidInput, NotFound

from .conftest import PROCESSES
from .helpers import open_task, snapshot

TRIP = {"leave_kind": "出省", "destination": "上海市", "reason": "培训", "depart_at": "2026-06-08T08:00:00+08:00",
        "return_at": "2026-06-10T18:00:00+08:00", "acting_person": "ma_civil_staff"}
APPROVE = {"decision": "同意"}


def copy_leave(tmp_path: Path) -> Path:
    folder = tmp_path / "leave"
    shutil.copytree(PROCESSES / "leave", folder)
    return folder


def replace_in(path: Path, old: str, new: str) -> None:
    content = path.read_text(encoding="utf-8")
    assert old in content
    path.write_text(content.replace(old, new, 1), encoding="utf-8")


def line_of(path: Path, needle: str) -> int:
    lines = path.read_text(encoding="utf-8").splitlines()
    return next(number for number, line in enumerate(lines, start=1) if needle in line)


# --- deployment ---------------------------------------------------------------------------------------

def test_deploying_identical_content_again_is_a_no_op_that_says_so(engine):
    before = snapshot(engine)
    [result] = engine.deploy([PROCESSES / "leave"], "admin")
    assert (result.key, result.version, result.status) == ("leave", 1, "unchanged")
    assert snapshot(engine) == before


def test_changed_content_is_the_next_version_and_running_instances_stay_on_theirs(engine, tmp_path):
    first = engine.start("leave", "liu_civil", TRIP)["instance"]
    folder = copy_leave(tmp_path)
    replace_in(folder / "leave.bpmn", 'name="区长审批"', 'name="区长审批（新版）"')
    [result] = engine.deploy([folder], "admin")
    assert (result.version, result.status) == (2, "deployed")
    second = engine.start("leave", "liu_civil", TRIP)["instance"]

    assert [i["version"] for i in engine.instances(process="leave")] == [1, 2]
    engine.complete(open_task(engine, first, "vice_approval")["id"], "zhao_vice", APPROVE)
    engine.complete(open_task(engine, second, "vice_approval")["id"], "zhao_vice", APPROVE)
    assert open_task(engine, first, "mayor_approval")["title"] == "区长审批"
    assert open_task(engine, second, "mayor_approval")["title"] == "区长审批（新版）"


def test_a_changed_form_alone_is_a_new_version(engine, tmp_path):
    folder = copy_leave(tmp_path)
    replace_in(folder / "forms" / "approve.json", '"maxLength": 500', '"maxLength": 300')
    [result] = engine.deploy([folder], "admin")
    assert (result.version, result.status) == (2, "deployed")


def test_deploy_records_who_and_when(engine):
    [definition] = [d for d in engine.definitions() if d["key"] == "leave"]
    assert definition["deployed_by"] == "admin"
    assert definition["deployed_at"] == "2026-06-01T09:00:00+08:00"
    assert len(definition["sha256"]) == 64


@pytest.mark.parametrize("problem, old, new, expected", [
    ("malformed XML names the line", 'name="已销假"', 'name="已<销假"',
     "leave.bpmn:{line}: the file is not well-formed XML"),
    ("a user task outside any lane", "<bpmn:flowNodeRef>notify_leaders</bpmn:flowNodeRef>", "",
     "user task '通报区政府其他领导' (notify_leaders) is not in any lane"),
    ("a lane naming no role", 'name="区委书记"', 'name="区委副书记"', "lane '区委副书记'"),
    ("a missing form", 'value="notify.json"', 'value="notice.json"', "uses form 'notice.json', which does not exist"),
    ("an unsafe condition", 'route == "vice_then_mayor"', "__import__('os').system('id')", "f_to_vice"),
])
def test_a_diagram_that_cannot_run_is_refused_and_nothing_is_stored(engine, tmp_path, problem, old, new, expected):
    folder = copy_leave(tmp_path)
    replace_in(folder / "leave.bpmn", old, new)
    before = snapshot(engine)
    with pytest.raises(InvalidDiagram) as error:
        engine.deploy([folder], "admin")
    line = line_of(PROCESSES / "leave" / "leave.bpmn", old)
    assert expected.format(line=line) in error.value.message, problem
    assert snapshot(engine) == before


def test_an_external_entity_is_refused_and_nothing_is_read(engine, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-7f3a", encoding="utf-8")
    folder = copy_leave(tmp_path)
    content = (folder / "leave.bpmn").read_text(encoding="utf-8")
    content = content.replace('<?xml version="1.0" encoding="UTF-8"?>',
                              f'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE d [<!ENTITY x SYSTEM "{secret.as_uri()}">]>')
    content = content.replace('name="区长审批"', 'name="&x;"')
    (folder / "leave.bpmn").write_text(content, encoding="utf-8")
    before = snapshot(engine)
    with pytest.raises(InvalidDiagram) as error:
        engine.deploy([folder], "admin")
    assert "entit" in error.value.message
    assert "TOP-SECRET" not in str(error.value.to_dict())
    assert snapshot(engine) == before


def test_deploying_several_models_is_all_or_nothing(engine, tmp_path):
    good = copy_leave(tmp_path / "good")
    replace_in(good / "leave.bpmn", 'name="区长审批"', 'name="区长审批（改）"')
    bad = copy_leave(tmp_path / "bad")
    replace_in(bad / "leave.bpmn", 'name="区委书记"', 'name="不存在的角色"')
    before = snapshot(engine)
    with pytest.raises(InvalidDiagram):
        engine.deploy([good, bad], "admin")
    assert snapshot(engine) == before


# --- running ------------------------------------------------------------------------------------------

def test_an_unknown_process_key_is_not_found_and_changes_nothing(engine):
    before = snapshot(engine)
    with pytest.raises(NotFound, match="no process with the key 'holiday'"):
        engine.start("holiday", "liu_civil", TRIP)
    assert snapshot(engine) == before


def test_form_errors_name_each_field_and_change_nothing(engine):
    before = snapshot(engine)
    data = {**TRIP, "depart_at": "next monday", "leave_kind": "旅游"}
    del data["destination"]
    with pytest.raises(InvalidInput) as error:
        engine.start("leave", "liu_civil", data)
    fields = {d["field"]: d["message"] for d in error.value.details}
    assert set(fields) == {"destination", "depart_at", "leave_kind"}
    assert "必填" in fields["destination"]
    assert "出省" in fields["leave_kind"]
    assert snapshot(engine) == before


def test_completing_a_task_twice_is_a_conflict_naming_who_did_it(engine):
    instance = engine.start("leave", "liu_civil", TRIP)["instance"]
    task = open_task(engine, instance, "vice_approval")["id"]
    engine.complete(task, "zhao_vice", APPROVE)
    before = snapshot(engine)
    with pytest.raises(Conflict, match="already completed by zhao_vice"):
        engine.complete(task, "zhao_vice", APPROVE)
    assert snapshot(engine) == before


def test_a_task_that_is_not_yours_is_forbidden_and_changes_nothing(engine):
    instance = engine.start("leave", "liu_civil", TRIP)["instance"]
    task = open_task(engine, instance, "vice_approval")["id"]
    before = snapshot(engine)
    with pytest.raises(Forbidden, match="not yours"):
        engine.complete(task, "sun_vice", APPROVE)
    assert snapshot(engine) == before


def test_an_unknown_task_is_not_found(engine):
    with pytest.raises(NotFound):
        engine.complete(999, "zhao_vice", APPROVE)


def test_two_completions_racing_one_wins_and_one_gets_a_conflict(engine, database_url, clock):
    """Another process completes the same task while this one is in its transaction. On PostgreSQL the rival
    commits just before this command appends to the audit trail (it waits for the append lock), so this
    command's version check fails. SQLite lets one writer in at a time (BEGIN IMMEDIATE), so the rival waits
    for this command to commit and then finds the task done. Either way one completion wins, the other is a
    Conflict, and the stored state is the winner's."""
    instance = engine.start("leave", "liu_civil", TRIP)["instance"]
    task = open_task(engine, instance, "vice_approval")["id"]
    rival = Engine(database_url, clock=clock)  # another process: its own connections and cache
    outcome = {}

    def rival_completes():
        try:
            rival.complete(task, "zhao_vice", {"decision": "同意", "opinion": "rival"})
            outcome["rival"] = "won"
        except Conflict:
            outcome["rival"] = "conflict"

    thread = threading.Thread(target=rival_completes)

    postgres = engine.db.dialect.name == "postgresql"

    def rival_starts(conn, cursor, statement, parameters, context, executemany):
        """After this engine has read the instance and its task: on PostgreSQL just before it takes the audit
        append lock (and the rival is let finish first), on SQLite at its first write."""
        moment = "pg_advisory_xact_lock" in statement if postgres else \
            statement.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))
        if moment and not thread.is_alive() and "rival" not in outcome:
            thread.start()
            if postgres:
                thread.join()

    event.listen(engine.db, "before_cursor_execute", rival_starts)
    try:
        engine.complete(task, "zhao_vice", {"decision": "不同意", "opinion": "loser"})
        outcome["engine"] = "won"
    except Conflict as err:
        assert "changed by another action" in err.message
        outcome["engine"] = "conflict"
    event.remove(engine.db, "before_cursor_execute", rival_starts)
    thread.join()

    expected_winner = "rival" if postgres else "engine"
    assert outcome == {"engine": "won" if expected_winner == "engine" else "conflict",
                       "rival": "won" if expected_winner == "rival" else "conflict"}
    shown = engine.show(instance)
    completions = [e for e in shown["events"] if e["action"] == "complete"]
    assert [e["data"]["data"]["opinion"] for e in completions] == ["loser" if expected_winner == "engine" else "rival"]
    if expected_winner == "rival":
        assert shown["state"] == "running"
        assert [t["name"] for t in shown["tasks"] if t["state"] == "open"] == ["mayor_approval"]
        engine.complete(open_task(engine, instance, "mayor_approval")["id"], "wang_mayor", APPROVE)
    rival.db.dispose()
