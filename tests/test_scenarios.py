"""Every scenario fixture of every procedure, walked through the real engine on both databases."""
import pytest

from engine import scenarios

from .conftest import PROCESSES

SCENARIOS = scenarios.find(PROCESSES)


def test_every_procedure_has_scenarios():
    procedures = {path.parent.name for path in PROCESSES.glob("*/*.bpmn")}
    covered = {path.parent.parent.name for path in SCENARIOS}
    assert procedures and procedures <= covered, f"procedures without scenarios: {procedures - covered}"


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: f"{p.parent.parent.name}/{p.stem}")
def test_scenario(engine, path):
    """The scenario passes, and replaying each of its instances from the audit trail gives what is stored."""
    result = scenarios.run(engine, scenarios.load(path), str(path))
    assert result.passed, f"{result.name}\n" + "\n".join(result.failures)
    replays = [engine.replay(instance["id"]) for instance in engine.instances()]
    assert [r for r in replays if not r["consistent"]] == []
