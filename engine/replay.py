"""Replay: rebuild an instance from its audit trail and compare it with what is stored.

From the first event on, each recorded command that stepped the workflow (start, complete, timer fired,
return, withdraw) is run again — with engine.steps, as the commands ran it — on a fresh workflow of the
definition version the instance ran on, at the event's instant, with the answers the diagram's services gave
then. After every event the replayed open steps and data must equal what the event recorded; at the end the
replayed state, data and open tasks must equal the stored instance. Else the first event where they part is
named. Nothing is written.
"""
from __future__ import annotations

from sqlalchemy import select
from SpiffWorkflow.util.task import TaskState

from . import forms, services, steps, taskindex
from .bpmn import TrackedWorkflow
from .calendar_admin import working_calendar
from .models import AuditEvent, Instance, TaskIndex
from .scripting import RestrictedScriptEngine

STEPPED = ("start", "complete", "timer_fired", "return", "withdraw")


class Diverged(Exception):
    def __init__(self, event, message: str):
        super().__init__(message)
        self.event, self.message = event, message


class _At:
    """The clock and calendar a replayed step sees: the event's instant."""

    def __init__(self, conn, now):
        self._conn, self._now, self._calendar = conn, now, None

    def now(self):
        return self._now

    def calendar(self):
        if self._calendar is None:
            self._calendar = working_calendar(self._conn)
        return self._calendar


def replay(conn, instance_id: int, definitions) -> dict:
    instance = conn.execute(select(Instance.id, Instance.definition_id, Instance.state, Instance.data)
                            .where(Instance.id == instance_id)).one()
    definition = definitions.get(conn, instance.definition_id)
    events = conn.execute(select(AuditEvent.id, AuditEvent.action, AuditEvent.actor, AuditEvent.at, AuditEvent.data)
                          .where(AuditEvent.instance_id == instance_id).order_by(AuditEvent.id)).all()
    stepped = [event for event in events if event.action in STEPPED]
    if not stepped or stepped[0].action != "start" or "initial" not in stepped[0].data:
        return _result(instance_id, len(events), False,
                       {"event": None, "message": "这个实例的审计记录不足以重放 / the trail of this instance was "
                                                  "recorded before replay data was kept"})
    tracked = TrackedWorkflow.start(definition.compiled, None)
    workflow, ids, expected = tracked.workflow, {}, {}
    try:
        for event in stepped:
            calls = list(event.data.get("services") or [])
            at = _At(conn, event.at)
            workflow.script_engine = RestrictedScriptEngine(services=_answers(event, calls), clock=at,
                                                            functions=services.calendar_functions(at))
            _step(workflow, event, ids, definition)
            if calls:
                raise Diverged(event, f"{len(calls)} recorded service calls were not made again")
            open_tasks = tracked.open_tasks()
            _match_open(event, open_tasks, ids)
            steps.apply_changes(expected, event.data.get("changes"))
            _same_data(event, steps.current_data(workflow, open_tasks, workflow.is_completed()), expected)
        _same_as_stored(conn, instance, stepped[-1], workflow, tracked.open_tasks())
    except Diverged as diverged:
        return _result(instance_id, len(events), False,
                       {"event": diverged.event.id, "action": diverged.event.action, "message": diverged.message})
    return _result(instance_id, len(events), True, None)


def _step(workflow, event, ids: dict, definition) -> None:
    data = event.data
    try:
        if event.action == "start":
            steps.start(workflow, data["initial"])
        elif event.action == "complete":
            task = _task(event, ids, data["spiff_task"])
            form = taskindex.task_properties(task).get("formJsonSchemaFilename")
            fields = forms.with_all_fields(definition.forms[form], data["data"]) if form else data["data"]
            steps.complete(workflow, task, fields, event.actor, event.at.isoformat(), data.get("signers") or [])
        elif event.action == "timer_fired":
            steps.fire_timers(workflow)
        else:
            target = data["to_spiff_task"] if event.action == "return" else data["spiff_task"]
            steps.reset_to(workflow, str(_task(event, ids, target).id))
    except Diverged:
        raise
    except Exception as err:  # the recorded command failed the instance, or replay went another way
        if "error" not in (data.get("changes") or {}):
            raise Diverged(event, f"重放出错 / replaying {event.action} failed: {err}") from err


def _task(event, ids: dict, recorded_id: str):
    task = ids.get(recorded_id)
    if task is None:
        raise Diverged(event, f"重放中没有对应的任务 / no replayed task stands for task {recorded_id}")
    return task


def _answers(event, calls: list):
    """The diagram's services, answering as they did when the event was recorded."""

    def answer(name):
        def call(context, *args, **kwargs):
            if not calls or calls[0]["service"] != name:
                raise Diverged(event, f"服务调用不同 / the replay called {name}, the record "
                                      f"{calls[0]['service'] if calls else 'nothing'}")
            return calls.pop(0)["result"]
        return call

    return {name: answer(name) for name in ("record_absence", "count_absences", "find_instances",
                                            "issue_document_number")}


def _match_open(event, open_tasks: list, ids: dict) -> None:
    recorded = event.data.get("open")
    if recorded is None:
        raise Diverged(event, "事件没有记录打开的步骤 / the event does not record its open steps")
    replayed = steps.open_steps(open_tasks)
    if [step["name"] for step in replayed] != [step["name"] for step in recorded]:
        raise Diverged(event, f"打开的步骤不同 / open steps differ: recorded {[s['name'] for s in recorded]}, "
                              f"replayed {[s['name'] for s in replayed]}")
    by_id = {str(task.id): task for task in open_tasks}
    for old, new in zip(recorded, replayed):
        ids[old["spiff_task"]] = by_id[new["spiff_task"]]


def _same_data(event, replayed: dict, expected: dict) -> None:
    differ = sorted(key for key in replayed.keys() | expected.keys() if replayed.get(key) != expected.get(key))
    if differ:
        raise Diverged(event, f"数据不同 / data differs in {', '.join(differ[:8])}")


def _same_as_stored(conn, instance, last_event, workflow, open_tasks) -> None:
    completed = workflow.is_completed()
    state = "completed" if completed else "running"
    if instance.state in ("running", "completed") and instance.state != state:
        raise Diverged(last_event, f"状态不同 / stored state {instance.state}, replayed {state}")
    _same_data(last_event, steps.current_data(workflow, open_tasks, completed), instance.data or {})
    stored = sorted(conn.scalars(select(TaskIndex.name).where(TaskIndex.instance_id == instance.id,
                                                                TaskIndex.state == "open")))
    replayed = sorted(task.task_spec.name for task in open_tasks
                      if task.task_spec.manual and task.state == TaskState.READY)
    if stored != replayed:
        raise Diverged(last_event, f"待办任务不同 / stored open tasks {stored}, replayed {replayed}")


def _result(instance_id: int, events: int, consistent: bool, parted: dict | None) -> dict:
    return {"instance": instance_id, "events": events, "consistent": consistent, "parted_at": parted}
