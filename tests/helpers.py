"""Helpers shared by the engine tests."""
from pathlib import Path

from engine.commands import Engine
from engine.models import Base

FIXTURES = Path(__file__).parent / "fixtures" / "processes"
CLERK = "zheng_clerk"


def deploy(engine: Engine, name: str) -> str:
    """Deploy the test model ``tests/fixtures/processes/<name>`` and return its key."""
    [result] = engine.deploy([FIXTURES / name], "admin")
    assert result.status == "deployed"
    return result.key


def open_task(engine: Engine, instance_id: int, name: str) -> dict:
    """The one open task of the instance with this BPMN id."""
    [task] = [task for task in engine.tasks(instance=instance_id) if task["name"] == name]
    return task


def model_keys(processes: Path) -> list[str]:
    """The keys of every process model under ``processes`` (folder, or folder.variant)."""
    return sorted(path.parent.name if path.stem == path.parent.name else f"{path.parent.name}.{path.stem}"
                  for path in processes.glob("*/*.bpmn"))


def snapshot(engine: Engine) -> dict:
    """Every row of every table, to prove a failed command changed nothing."""
    with engine.db.connect() as conn:
        return {table.name: sorted(map(repr, conn.execute(table.select()).all()))
                for table in Base.metadata.sorted_tables}
