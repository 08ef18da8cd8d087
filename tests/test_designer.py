"""Designers' and admins' work on models: drafts, validation as deploy validates (every problem with its line
and element), deployment of a model given as text with a change note (admins only; identical content is a
no-op), every version with its instance counts, and the procedure's scenarios run against a draft."""
import pytest

from engine.errors import Forbidden, InvalidDiagram

from .conftest import DIRECTORY, PROCESSES
from .helpers import snapshot

KEY = "leave"
ADMIN = "admin"


def leave_xml(engine) -> str:
    return engine.definition_source(KEY)["xml"]


def test_a_draft_is_kept_validated_and_deployed_as_the_next_version(engine):
    xml = leave_xml(engine)
    [v1] = engine.versions(KEY)
    assert v1["version"] == 1 and v1["instances"] == {}
    changed = xml.replace('name="请假报备"', 'name="请假报备（修订）"', 1)
    assert changed != xml
    draft = engine.save_draft(KEY, changed, ADMIN)
    assert draft["base_version"] == 1 and engine.draft(KEY)["xml"] == changed
    assert engine.validate_model(KEY, changed, "zheng_clerk")["valid"] is True

    deployed = engine.deploy_model(KEY, changed, ADMIN, "流程名称加注修订")
    assert deployed["status"] == "deployed" and deployed["version"] == 2
    assert engine.draft(KEY) is None
    assert [v["note"] for v in engine.versions(KEY)] == ["", "流程名称加注修订"]
    assert engine.deploy_model(KEY, changed, ADMIN, "again")["status"] == "unchanged"
    assert engine.definition_source(KEY, 1)["xml"] == xml


def test_decision_tables_saved_to_the_draft_go_with_the_diagram_when_it_is_validated_deployed_or_run(engine):
    xml = leave_xml(engine)
    tables = engine.definition_source(KEY)["dmn"]
    [name] = [name for name in tables if name.startswith("leave_route")]
    engine.save_draft(KEY, xml, ADMIN, dmn={name: "<not a decision table"})  # what the DMN page saves
    assert engine.validate_model(KEY, xml, ADMIN)["valid"] is False  # the diagram page sends no tables
    with pytest.raises(InvalidDiagram, match="leave_route"):
        engine.run_draft_scenarios(KEY, xml, ADMIN, PROCESSES, DIRECTORY)

    fixed = tables[name].replace("</definitions>", "<!-- 修订 --></definitions>")
    assert fixed != tables[name]
    engine.save_draft(KEY, xml, ADMIN, dmn={name: fixed})
    assert engine.validate_model(KEY, xml, ADMIN)["valid"] is True
    assert engine.deploy_model(KEY, xml, ADMIN, "决策表加注")["version"] == 2
    assert engine.definition_source(KEY)["dmn"][name] == fixed


def test_validation_names_each_problem_with_its_element(engine):
    xml = leave_xml(engine)
    broken = xml.replace('value="apply.json"', 'value="missing_form.json"', 1)
    assert broken != xml
    result = engine.validate_model(KEY, broken, "zheng_clerk")
    assert result["valid"] is False
    [problem] = [p for p in result["problems"] if "missing_form.json" in p["message"]]
    assert problem["element"] and problem["line"]
    assert engine.validate_model(KEY, "<not xml", "zheng_clerk")["valid"] is False


def test_only_admins_keep_drafts_run_them_and_deploy_and_a_refusal_changes_nothing(engine):
    xml = leave_xml(engine).replace("请假报备", "请假", 1)
    before = snapshot(engine)
    with pytest.raises(Forbidden):
        engine.deploy_model(KEY, xml, "zheng_clerk", "x")
    with pytest.raises(Forbidden):
        engine.save_draft(KEY, xml, "zheng_clerk")
    with pytest.raises(Forbidden):
        engine.discard_draft(KEY, "zheng_clerk")
    with pytest.raises(Forbidden):
        engine.run_draft_scenarios(KEY, xml, "zheng_clerk", PROCESSES, DIRECTORY)
    assert snapshot(engine) == before


def test_the_procedures_scenarios_run_against_a_draft(engine):
    xml = leave_xml(engine)
    results = engine.run_draft_scenarios(KEY, xml, ADMIN, PROCESSES, DIRECTORY)
    assert results and all(r["passed"] for r in results)
    renamed = xml.replace("vice_approval", "vice_check")  # a valid draft the scenarios no longer fit
    assert renamed != xml
    after = engine.run_draft_scenarios(KEY, renamed, ADMIN, PROCESSES, DIRECTORY)
    assert [r["source"] for r in after] == [r["source"] for r in results]
    assert any(not r["passed"] for r in after) and all(r["failures"] for r in after if not r["passed"])
