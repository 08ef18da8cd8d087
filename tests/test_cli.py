"""The ``govflow`` CLI contract: JSON on stdout with --json, non-zero exit and one line on stderr on failure."""
import json
import os
import shutil
import subprocess
import sys



from .conftest import PROCESSES
from .helpers import model_keys

TRIP = {"leave_kind": "出省", "destination": "上海市", "reason": "培训", "depart_at": "2026-06-08T08:00:00+08:00",
        "return_at": "2026-06-10T18:00:00+08:00", "acting_person": "ma_civil_staff"}


def test_a_procedure_end_to_end_through_the_cli(govflow):
    assert govflow("init") == {"database": "ready"}
    assert govflow("users", "load")["users"] > 10
    deployed = govflow("deploy")
    assert sorted((d["key"], d["version"], d["status"]) for d in deployed) == [
        (key, 1, "deployed") for key in model_keys(PROCESSES)]
    assert govflow("deploy", str(PROCESSES / "leave"))[0]["status"] == "unchanged"
    assert [d["key"] for d in govflow("definitions")] == model_keys(PROCESSES)

    started = govflow("start", "leave", "--as", "liu_civil", "--data", json.dumps(TRIP, ensure_ascii=False))
    [task] = started["tasks"]
    assert (task["name"], task["assignee"], task["due_at"]) == ("vice_approval", "zhao_vice", "2026-06-03T00:00:00+08:00")
    assert [t["id"] for t in govflow("tasks", "--as", "zhao_vice")] == [task["id"]]
    assert govflow("tasks", "--as", "wang_mayor") == []

    done = govflow("complete", str(task["id"]), "--as", "zhao_vice", "--data", '{"decision": "同意"}')
    assert [t["name"] for t in done["tasks"]] == ["mayor_approval"]
    [instance] = govflow("instances", "--process", "leave", "--state", "running")
    assert (instance["id"], instance["version"]) == (started["instance"], 1)
    shown = govflow("show", str(started["instance"]))
    assert {"state", "process", "version", "data", "tasks", "events"} <= set(shown)
    assert [e["action"] for e in shown["events"]] == ["start", "complete"]
    assert shown["data"]["decision"] == "同意"


def test_worker_once_fires_the_timers_due_at_the_given_now(govflow):
    govflow("users", "load")
    govflow("deploy")
    instance = govflow("start", "leave", "--as", "li_exec", "--data",
                       json.dumps({**TRIP, "acting_person": "wang_mayor"}, ensure_ascii=False))["instance"]
    for name, actor in (("mayor_approval", "wang_mayor"), ("secretary_approval", "zhou_secretary"),
                        ("notify_leaders", "zheng_clerk")):
        [task] = [t for t in govflow("tasks", "--instance", str(instance)) if t["name"] == name]
        data = {"notified": True} if name == "notify_leaders" else {"decision": "同意"}
        govflow("complete", str(task["id"]), "--as", actor, "--data", json.dumps(data))
    assert govflow("--now", "2026-06-10T17:59:00+08:00", "worker", "--once") == {"timers": [], "handovers": [],
                                                                                "overdue": []}
    fired = govflow("--now", "2026-06-10T18:00:00+08:00", "worker", "--once")
    assert fired == {"timers": [{"instance": instance, "timers": ["返回时间到"], "result": "fired"}], "handovers": [],
                     "overdue": []}
    assert [t["name"] for t in govflow("tasks", "--as", "li_exec")] == ["report_return"]


def test_failures_exit_non_zero_with_one_line_and_json(govflow):
    govflow("users", "load")
    govflow("deploy")
    code, payload, err = govflow("start", "nope", "--as", "liu_civil", ok=False)
    assert code == 1
    assert payload["error"] == "not_found"
    assert err.count("\n") == 1 and err.startswith("govflow: ") and "nope" in err

    code, payload, err = govflow("start", "leave", "--as", "liu_civil", "--data", "{not json", ok=False)
    assert code == 2 and "--data is not valid JSON" in err

    code, payload, err = govflow("start", "leave", "--as", "liu_civil", "--data", "{}", ok=False)
    assert payload["error"] == "invalid_input"
    assert {d["field"] for d in payload["details"]} >= {"destination", "depart_at"}
    assert err.count("\n") == 1


def test_an_invalid_diagram_is_reported_on_one_line_with_every_problem(govflow, tmp_path):
    govflow("users", "load")
    folder = tmp_path / "leave"
    shutil.copytree(PROCESSES / "leave", folder)
    bpmn = folder / "leave.bpmn"
    bpmn.write_text(bpmn.read_text(encoding="utf-8").replace('name="区委书记"', 'name="书记"')
                    .replace('value="notify.json"', 'value="nope.json"'), encoding="utf-8")
    code, payload, err = govflow("deploy", str(folder), ok=False)
    assert payload["error"] == "invalid_diagram"
    assert len(payload["details"]) == 2 and all(d["line"] for d in payload["details"])
    assert err.count("\n") == 1 and "书记" in err and "nope.json" in err


def test_users_and_calendar_overrides_are_edited_with_the_cli(govflow):
    govflow("users", "load")
    added = govflow("users", "add", "yang_staff", "--name", "杨帆", "--department", "education",
                    "--role", "dept_staff@education")
    assert added == {"username": "yang_staff", "roles": ["dept_staff@education"]}
    assert "yang_staff" in [u["username"] for u in govflow("users", "list")]
    code, payload, err = govflow("users", "add", "x", "--name", "X", "--role", "pope", ok=False)
    assert "no such role: pope" in err

    assert govflow("calendar", "add-days", "2026-06-01T09:00:00+08:00", "1")["deadline"] == "2026-06-03T00:00:00+08:00"
    govflow("calendar", "set", "2026-06-02", "off", "--note", "防汛停工")
    moved = govflow("calendar", "add-days", "2026-06-01T09:00:00+08:00", "1")
    assert (moved["deadline"], moved["guessed"]) == ("2026-06-04T00:00:00+08:00", False)
    assert [o["day"] for o in govflow("calendar", "list")] == ["2026-06-02"]
    assert govflow("calendar", "unset", "2026-06-02") == {"day": "2026-06-02", "removed": True}
    beyond = govflow("calendar", "add-days", "2031-06-06T09:00:00+08:00", "1")
    assert beyond["guessed"] and "2031" in beyond["warning"]


def test_the_installed_console_script_runs(database_url, tmp_path):
    script = shutil.which("govflow", path=os.path.dirname(sys.executable))
    assert script, "the govflow console script is not installed"
    env = {**os.environ, "GOVFLOW_DATABASE_URL": database_url}
    result = subprocess.run([script, "--json", "definitions"], capture_output=True, text=True, env=env, check=True)
    assert json.loads(result.stdout) == []


def test_demo_sets_up_a_usable_database_once(govflow):
    first = govflow("demo")
    assert [d["status"] for d in first["deployed"]] == ["deployed"] * len(model_keys(PROCESSES))
    assert len(first["started"]) == 3 and first["open_tasks"] == 7
    again = govflow("demo")
    assert set(d["status"] for d in again["deployed"]) == {"unchanged"} and again["started"] == []
    assert [t["name"] for t in govflow("tasks", "--as", "zhao_vice")] == ["vice_approval"]


def test_compliance_report_through_the_cli(govflow):
    govflow("users", "load")
    govflow("deploy")
    report = {"event_type": "事故灾难", "severity": "一般", "occurred_at": "2026-06-01T08:30:00+08:00",
              "location": "某仓库", "summary": "仓库起火", "reporter": "谢宁", "phone": "13900000000"}
    instance = govflow("start", "emergency_report", "--as", "xie_emergency_staff", "--data",
                       json.dumps(report, ensure_ascii=False))["instance"]
    result = govflow("compliance", "emergency_report", "--from", "2026-06-01T00:00:00+08:00")
    [entry] = result["instances"]
    assert entry["instance"] == instance and entry["department"] == "emergency"
    statuses = {limit["task"]: (limit["status"], limit["minutes_late"]) for limit in entry["limits"]}
    assert statuses == {"dept_phone": ("overdue", 10), "city_phone": ("pending", 0),
                        "dept_written": ("pending", 0), "city_written": ("pending", 0)}
    assert govflow("compliance", "emergency_report", "--to", "2026-06-01T00:00:00+08:00")["instances"] == []


def test_validate_checks_models_as_deploy_would_and_stores_nothing(govflow, tmp_path):
    govflow("users", "load")
    assert {r["status"] for r in govflow("validate")} == {"valid"}
    assert govflow("definitions") == []
    folder = tmp_path / "leave"
    shutil.copytree(PROCESSES / "leave", folder)
    bpmn = folder / "leave.bpmn"
    bpmn.write_text(bpmn.read_text(encoding="utf-8").replace('value="notify.json"', 'value="nope.json"'),
                    encoding="utf-8")
    code, payload, err = govflow("validate", str(folder), ok=False)
    assert payload["error"] == "invalid_diagram" and "nope.json" in err
    assert govflow("definitions") == []


def test_scenarios_run_each_in_a_fresh_database_and_a_failure_exits_non_zero(govflow, tmp_path):
    passing = PROCESSES / "leave" / "scenarios" / "filed_too_late_is_rejected.json"
    [result] = govflow("scenarios", str(passing))
    assert result["passed"] and result["failures"] == []
    failing = tmp_path / "wrong.json"
    scenario = json.loads(passing.read_text(encoding="utf-8"))
    scenario["steps"][0]["expect"]["data"]["outcome"] = "approved"
    failing.write_text(json.dumps(scenario, ensure_ascii=False), encoding="utf-8")
    code, payload, err = govflow("scenarios", str(passing), str(failing), ok=False)
    assert code == 1 and [r["passed"] for r in payload] == [True, False]
    assert "expected 'approved'" in payload[1]["failures"][0]
    assert err == "govflow: 1 of 2 scenarios failed\n"


def test_the_task_actions_from_the_command_line(govflow):
    """The CLI runs the same engine commands as the web UI: transfer, return, withdraw, copy, urge, inbox."""
    govflow("users", "load")
    govflow("deploy", str(PROCESSES / "document_incoming"))
    filed = govflow("start", "document_incoming", "--as", "liu_civil", "--data", json.dumps(
        {"doc_type": "请示", "classification": "无", "title": "关于调整养老服务补贴标准的请示", "body": "妥否，请批示。",
         "matters": 1, "contains_request": False, "request_kind": "请示批示", "important": False,
         "departments_involved": []}, ensure_ascii=False))
    instance = filed["instance"]
    [register] = filed["tasks"]
    register_data = json.dumps({"action": "登记", "registered_number": "区府收〔2026〕7号",
                                "proposed_handling": "拟请区领导阅示"}, ensure_ascii=False)
    [review] = govflow("complete", str(register["id"]), "--as", "zheng_clerk", "--data", register_data)["tasks"]
    assert govflow("inbox", "--as", review["assignee"])["total"] == 1
    govflow("withdraw", str(register["id"]), "--reason", "编号有误", "--as", "zheng_clerk")
    [again] = govflow("tasks", "--instance", str(instance))
    [review] = govflow("complete", str(again["id"]), "--as", "zheng_clerk", "--data", register_data)["tasks"]
    govflow("transfer", str(review["id"]), "li_exec", "--reason", "出差", "--as", review["assignee"])
    returned = govflow("return", str(review["id"]), "--to", str(again["id"]), "--reason", "请补充", "--as", "li_exec")
    assert [(t["name"], t["assignee"], t["round"]) for t in returned["tasks"]] == [("register", "zheng_clerk", 3)]
    [copy] = govflow("copy", str(instance), "he_commerce", "--note", "请知悉", "--as", "liu_civil")
    assert govflow("inbox", "--as", "he_commerce", "--tab", "copied")["rows"][0]["read_at"] is None
    assert govflow("read-copy", str(copy["id"]), "--as", "he_commerce")["read_at"]
    assert govflow("urge", str(instance), "--as", "liu_civil")["notified"] == ["zheng_clerk"]
    assert [n["kind"] for n in govflow("notifications", "--as", "zheng_clerk")][:2] == ["urged", "returned"]
    code, error, stderr = govflow("claim", str(returned["tasks"][0]["id"]), "--as", "he_commerce", ok=False)
    assert error["error"] == "forbidden" and stderr.startswith("govflow: ")
