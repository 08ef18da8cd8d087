"""Helpers shared by the engine tests."""
import shutil
from pathlib import Path

from engine import directory
from engine.commands import Engine
from engine.models import Base

FIXTURES = Path(__file__).parent / "fixtures" / "processes"
CLERK = "zheng_clerk"


def deploy(engine: Engine, name: str) -> str:
    """Deploy the test model ``tests/fixtures/processes/<name>`` and return its key."""
    [result] = engine.deploy([FIXTURES / name], "admin")
    assert result.status == "deployed"
    return result.key


def work_in(engine: Engine, district: str) -> None:
    """Place every department of the demo directory in ``district``, so its people start that district's
    variants of a procedure (the demo directory's home district is fangshan)."""
    with engine.unit_of_work() as uow:
        directory.move_all_departments(uow.session, district)


def use_variant(engine: Engine, district: str, process_key: str) -> None:
    """Make ``district`` use ``process_key`` for its procedure (e.g. a test stub deployed as a variant)."""
    with engine.unit_of_work() as uow:
        directory.put_district(uow.session, district, None, {directory.procedure_of(process_key): process_key})


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


def fixture_copy(tmp_path: Path, name: str) -> tuple[Path, Path]:
    """A copy of the test model ``tests/fixtures/processes/<name>`` to edit: its folder and its .bpmn file."""
    folder = tmp_path / name
    shutil.copytree(FIXTURES / name, folder)
    return folder, folder / f"{name}.bpmn"


def drop_confirm_step(bpmn: Path) -> None:
    """Rewrite the copied ``script_error`` model without its step 确认分摊 (confirm): share goes straight to the end.
    Deployed, it is a version that instances waiting at 确认分摊 cannot migrate to."""
    text = bpmn.read_text(encoding="utf-8")
    confirm = text[text.index('    <bpmn:userTask id="confirm"'):text.index('    <bpmn:endEvent id="end">')]
    bpmn.write_text(text.replace(confirm, '    <bpmn:sequenceFlow id="f3" sourceRef="share" targetRef="end"/>\n')
                    .replace('    <bpmn:sequenceFlow id="f3" sourceRef="share" targetRef="confirm"/>\n', "")
                    .replace("<bpmn:flowNodeRef>confirm</bpmn:flowNodeRef>", "")
                    .replace("<bpmn:incoming>f4</bpmn:incoming>", "<bpmn:incoming>f3</bpmn:incoming>"), encoding="utf-8")
