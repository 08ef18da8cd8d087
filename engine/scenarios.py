"""Scenario fixtures: a procedure walked step by step through the real engine, with expectations.

A scenario is a JSON document (``processes/<procedure>/scenarios/*.json``)::

    {"name": "...", "now": "2026-06-01T09:00:00+08:00",
     "steps": [
       {"start": "leave", "as": "liu_civil", "data": {...}, "instance": "a",
        "expect": {"state": "running", "tasks": [{"name": "vice_approval", "assignee": "zhao_vice"}]}},
       {"complete": "vice_approval", "as": "zhao_vice", "data": {...}, "instance": "a"},
       {"at": "2026-06-10T18:00:00+08:00"},
       {"fire_timers": true},
       {"check": true, "instance": "a", "expect": {"state": "completed", "data": {"outcome": "approved"}}}
     ]}

A scenario of another district's variant says ``"district": "xicheng"``: before the first step every department
of the directory is placed in that district, so its people start that district's variants (scenarios run in
throw-away databases). ``instance`` names an instance within the scenario (default "main"). ``expect`` may give
``state``, ``tasks`` (the open tasks, each a subset of the task fields), ``data`` (a subset of the instance's data)
and ``error`` (the error code a failing step must raise, e.g. "forbidden"). Times without ``at`` stay where they
are.
"""
from __future__ import annotations

import json
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from . import directory
from .clock import Clock, parse_instant
from .errors import GovflowError


@dataclass
class ScenarioResult:
    name: str
    source: str
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures

    def to_dict(self) -> dict:
        return {"name": self.name, "source": self.source, "passed": self.passed, "failures": self.failures}


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def find(root: Path) -> list[Path]:
    return sorted(root.glob("*/scenarios/*.json"))


def run(engine, scenario: dict, source: str = "") -> ScenarioResult:
    result = ScenarioResult(scenario.get("name", source), source)
    if scenario.get("now"):
        engine.clock.set(parse_instant(scenario["now"]))
    if scenario.get("district"):
        with engine.unit_of_work() as uow:
            directory.move_all_departments(uow.session, scenario["district"])
    instances: dict[str, int] = {}
    for number, step in enumerate(scenario["steps"], start=1):
        failure = _run_step(engine, step, instances)
        if failure:
            result.failures.append(f"step {number} ({_describe(step)}): {failure}")
            break
    return result


def _run_step(engine, step: dict, instances: dict[str, int]) -> str | None:
    alias = step.get("instance", "main")
    expect = step.get("expect", {})
    if "at" in step:
        engine.clock.set(parse_instant(step["at"]))
    try:
        if "start" in step:
            instances[alias] = engine.start(step["start"], step["as"], step.get("data", {}))["instance"]
        elif "complete" in step:
            engine.complete(_open_task(engine, instances, alias, step["complete"]), step["as"], step.get("data", {}))
        elif step.get("fire_timers"):
            engine.fire_due_timers()
    except GovflowError as err:
        if expect.get("error") == err.code:
            return None
        return f"unexpected error {err.code}: {err.message}"
    except LookupError as err:
        return str(err)
    if "error" in expect:
        return f"expected the error {expect['error']}, but the step succeeded"
    return _check(engine, instances.get(alias), expect)


def _open_task(engine, instances: dict[str, int], alias: str, name: str) -> int:
    if alias not in instances:
        raise LookupError(f"no instance '{alias}' has been started in this scenario")
    for task in engine.tasks(instance=instances[alias]):
        if task["name"] == name:
            return task["id"]
    open_names = [t["name"] for t in engine.tasks(instance=instances[alias])]
    raise LookupError(f"no open task '{name}' in instance '{alias}' (open: {', '.join(open_names) or 'none'})")


def _check(engine, instance_id: int | None, expect: dict) -> str | None:
    if not expect:
        return None
    if instance_id is None:
        return "nothing to check: no instance was started"
    shown = engine.show(instance_id)
    problems = []
    if "state" in expect and shown["state"] != expect["state"]:
        problems.append(f"state is {shown['state']!r}, expected {expect['state']!r}"
                        + (f" ({shown['error']})" if shown["error"] else ""))
    for key, value in expect.get("data", {}).items():
        if shown["data"].get(key) != value:
            problems.append(f"data[{key!r}] is {shown['data'].get(key)!r}, expected {value!r}")
    if "tasks" in expect:
        problems.extend(_check_tasks([t for t in shown["tasks"] if t["state"] == "open"], expect["tasks"]))
    return "; ".join(problems) or None


def _check_tasks(actual: list[dict], expected: list[dict]) -> list[str]:
    if len(actual) != len(expected):
        return [f"open tasks are {[t['name'] for t in actual]}, expected {[t['name'] for t in expected]}"]
    problems = []
    for want in expected:
        matches = [t for t in actual if all(t.get(k) == v for k, v in want.items())]
        if not matches:
            near = [{k: t.get(k) for k in want} for t in actual]
            problems.append(f"no open task matches {want}; open: {near}")
    return problems


def _describe(step: dict) -> str:
    for key in ("start", "complete"):
        if key in step:
            return f"{key} {step[key]} as {step.get('as')}"
    if step.get("fire_timers"):
        return "fire timers" + (f" at {step['at']}" if "at" in step else "")
    return "check" + (f" at {step['at']}" if "at" in step else "")


@contextmanager
def scratch_engine(engine_class, url: str, directory_document: dict, processes: Path):
    """An engine (of ``engine_class``, so that this module need not import the commands) on the fresh database
    at ``url``, migrated, holding ``directory_document`` and every model under ``processes``, on the real
    clock; its connections are closed when the block ends."""
    engine = engine_class(url, clock=Clock())
    try:
        engine.migrate()
        with engine.unit_of_work() as uow:
            directory.load(uow.session, directory_document)
        engine.deploy([processes], "admin")
        yield engine
    finally:
        engine.db.dispose()
