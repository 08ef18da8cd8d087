"""SpiffWorkflow adapter: parsing with clock-aware timers, the serializer, and workflow state as rows.

State is stored as one row per SpiffWorkflow task plus a small workflow header, so a step rewrites only
the tasks it changed. Finished history is compacted out of the live task tree (the audit trail and the
task index keep it), which keeps a step's cost flat however long an instance loops and keeps loops away
from SpiffWorkflow's task-iterator depth limit.
"""
from __future__ import annotations

from dataclasses import dataclass, field
import json
from datetime import date, datetime, timezone
from uuid import UUID

import orjson
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter
from SpiffWorkflow.bpmn.serializer.default import TimerConditionalEventDefinitionConverter
from SpiffWorkflow.bpmn.serializer.helpers.encoder import create_encoder
from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.specs.event_definitions.timer import (DurationTimerEventDefinition,
                                                               TimeDateEventDefinition,
                                                               TimerEventDefinition)
from SpiffWorkflow.bpmn.specs.mixins.events.event_types import CatchingEvent
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.parser.event_parsers import (SpiffBoundaryEventParser,
                                                      SpiffIntermediateCatchEventParser,
                                                      SpiffStartEventParser)
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.bpmn.parser.BpmnParser import full_tag
from SpiffWorkflow.bpmn.specs.defaults import BoundaryEvent, IntermediateCatchEvent, StartEvent
from SpiffWorkflow.util.task import TaskState

# SpiffWorkflow's task iterator silently stops at this depth (and then reports a false completion).
SPIFF_MAX_DEPTH = 1000
DEPTH_GUARD = 900
# Compaction: once a run of finished single-child tasks above an open task is this long, cut it to KEEP.
COMPACT_AT = 60
COMPACT_KEEP = 20

FINISHED = TaskState.COMPLETED | TaskState.CANCELLED
OPEN = TaskState.READY | TaskState.WAITING | TaskState.STARTED | TaskState.ERROR


class DepthLimitError(RuntimeError):
    """An instance's task tree came close to SpiffWorkflow's iterator depth limit."""


class FalseCompletionError(RuntimeError):
    """SpiffWorkflow reported completion without the process reaching its end."""


# --- timers that read GovFlow's clock -------------------------------------------------------------

def _now(my_task) -> datetime:
    return my_task.workflow.script_engine.clock.now()


def timer_instant(value: str) -> datetime:
    instant = datetime.fromisoformat(value)
    if instant.tzinfo is None:
        raise ValueError(f"timer instant {value!r} has no time zone")
    return instant.astimezone(timezone.utc)


class _ClockTimer:
    """A timer whose due instant is worked out once, when it is reached, and compared with GovFlow's clock:
    it fires from that instant on. A value from task data that is not a usable time fails the instance
    with the timer named."""

    expected = ""

    def has_fired(self, my_task):
        if my_task._get_internal_data("event_value") is None:
            value = my_task.workflow.script_engine.evaluate(my_task, self.expression)
            try:
                due = self.due_instant(value, _now(my_task))
            except Exception as err:
                raise WorkflowTaskException(f"timer '{self.name}': {value!r} is not {self.expected}: {err}",
                                            task=my_task, exception=err) from err
            my_task._set_internal_data(event_value=due.isoformat())
        if timer_instant(my_task._get_internal_data("event_value")) <= _now(my_task):
            my_task._set_internal_data(event_fired=True)
        return my_task._get_internal_data("event_fired", False)


class ClockTimeDateTimer(_ClockTimer, TimeDateEventDefinition):
    """A timeDate timer; the expression gives the instant (it must carry a zone)."""

    expected = "an ISO-8601 instant with a time zone, e.g. 2026-06-03T14:30:00+08:00"

    @staticmethod
    def due_instant(value, now: datetime) -> datetime:
        return timer_instant(value.isoformat() if isinstance(value, datetime) else str(value))


class ClockDurationTimer(_ClockTimer, DurationTimerEventDefinition):
    """A timeDuration timer, counted from the moment the timer is reached on GovFlow's clock."""

    expected = "an ISO-8601 duration such as PT20M"

    @staticmethod
    def due_instant(value, now: datetime) -> datetime:
        parsed = TimerEventDefinition.parse_iso_duration(str(value))
        return now + TimerEventDefinition.get_timedelta_from_start(parsed, now)


_CLOCK_TIMERS = {TimeDateEventDefinition: ClockTimeDateTimer, DurationTimerEventDefinition: ClockDurationTimer}


class _ClockTimerParsing:
    def parse_timer_event(self, event):
        definition = super().parse_timer_event(event)
        clock_class = _CLOCK_TIMERS.get(type(definition))
        if clock_class is None:
            raise ValidationException("timeCycle timers are not supported; use a timeDuration or timeDate",
                                      node=self.node, file_name=self.filename)
        return clock_class(definition.name, definition.expression, description=definition.description)


class _StartEventParser(_ClockTimerParsing, SpiffStartEventParser):
    pass


class _BoundaryEventParser(_ClockTimerParsing, SpiffBoundaryEventParser):
    pass


class _IntermediateCatchEventParser(_ClockTimerParsing, SpiffIntermediateCatchEventParser):
    pass


class GovflowParser(SpiffBpmnParser):
    OVERRIDE_PARSER_CLASSES = {
        **SpiffBpmnParser.OVERRIDE_PARSER_CLASSES,
        full_tag("startEvent"): (_StartEventParser, StartEvent),
        full_tag("boundaryEvent"): (_BoundaryEventParser, BoundaryEvent),
        full_tag("intermediateCatchEvent"): (_IntermediateCatchEventParser, IntermediateCatchEvent),
    }


# --- serializer -----------------------------------------------------------------------------------

class _SharedSpecWorkflowConverter(BpmnWorkflowConverter):
    """Restores a workflow around spec objects that are restored once per definition version."""

    def from_dict(self, dct, spec=None, subprocess_specs=None):
        if spec is None:
            return super().from_dict(dct)
        workflow = self.target_class(spec, subprocess_specs, deserializing=True)
        workflow.tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return workflow


def _serializer() -> BpmnWorkflowSerializer:
    config = dict(SPIFF_CONFIG)
    config[BpmnWorkflow] = _SharedSpecWorkflowConverter
    for clock_class in _CLOCK_TIMERS.values():
        config[clock_class] = TimerConditionalEventDefinitionConverter
    registry = BpmnWorkflowSerializer.configure(config)
    registry.register(date, lambda v: {"value": v.isoformat()}, lambda v: date.fromisoformat(v["value"]))
    return BpmnWorkflowSerializer(registry)


SERIALIZER = _serializer()
_ENCODER = create_encoder(SERIALIZER.registry)


_ENCODE_OTHER = _ENCODER().default
# Datetimes and dataclasses go to the serializer's registry (through _ENCODE_OTHER), as with the encoder class.
_ORJSON_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def json_dumps(value) -> str:
    """JSON for the database: task data may hold datetimes and dates, stored the way the serializer
    restores them. orjson writes it several times faster than the json module; what orjson refuses
    (an integer beyond 64 bits) is written by the json module."""
    try:
        return orjson.dumps(value, default=_ENCODE_OTHER, option=_ORJSON_OPTIONS).decode("utf-8")
    except orjson.JSONEncodeError:
        return json.dumps(value, cls=_ENCODER, ensure_ascii=False)


@dataclass
class CompiledSpec:
    """The parsed process spec of one definition version, shared by all its instances."""
    spec: object
    subprocess_specs: dict

    def to_dict(self) -> dict:
        return {"spec": SERIALIZER.to_dict(self.spec),
                "subprocess_specs": {name: SERIALIZER.to_dict(s) for name, s in self.subprocess_specs.items()}}

    @classmethod
    def from_dict(cls, dct: dict) -> "CompiledSpec":
        return cls(SERIALIZER.from_dict(dct["spec"]),
                   {name: SERIALIZER.from_dict(s) for name, s in dct["subprocess_specs"].items()})


# --- state as rows --------------------------------------------------------------------------------

TOP = ""  # workflow_id of the top-level workflow's task rows


@dataclass
class StoredState:
    """What the database holds for one instance: a header and task rows keyed by (workflow_id, task_id)."""
    header: dict
    rows: dict[str, tuple[str, dict]] = field(default_factory=dict)  # task_id -> (workflow_id, body)


@dataclass
class StateChanges:
    """What a save writes: the header, the task rows that are new, those that changed, and those gone (task
    rows by task id: workflow id and body)."""
    header: dict
    inserts: dict[str, tuple[str, dict]]
    updates: dict[str, tuple[str, dict]]
    deletes: set[str]


class TrackedWorkflow:
    """A live BpmnWorkflow plus what is known to be stored, so saving writes only changed tasks."""

    def __init__(self, workflow: BpmnWorkflow):
        self.workflow = workflow
        self._stored: dict[UUID, tuple] = {}  # the fingerprint of every stored task, by task id

    @classmethod
    def start(cls, compiled: CompiledSpec, script_engine) -> "TrackedWorkflow":
        workflow = BpmnWorkflow(compiled.spec, compiled.subprocess_specs, script_engine=script_engine)
        return cls(workflow)

    @classmethod
    def restore(cls, compiled: CompiledSpec, state: StoredState, script_engine) -> "TrackedWorkflow":
        header = dict(state.header)
        by_workflow: dict[str, dict] = {}
        for task_id, (workflow_id, body) in state.rows.items():
            by_workflow.setdefault(workflow_id, {})[task_id] = body
        subprocesses = {sp_id: {**sp_header, "tasks": _parents_first(by_workflow.get(sp_id, {}), sp_header["root"])}
                        for sp_id, sp_header in header.pop("subprocesses").items()}
        dct = {**header, "tasks": _parents_first(by_workflow.get(TOP, {}), header["root"]),
               "subprocesses": subprocesses}
        workflow = SERIALIZER.registry.restore({**dct, "typename": "BpmnWorkflow"}, spec=compiled.spec,
                                               subprocess_specs=compiled.subprocess_specs)
        workflow.script_engine = script_engine
        tracked = cls(workflow)
        tracked._stored = {task.id: _fingerprint(task) for _, task in tracked._all_tasks()}
        return tracked

    def _all_tasks(self):
        yield from ((TOP, task) for task in self.workflow.tasks.values())
        for sp_id, subprocess in self.workflow.subprocesses.items():
            yield from ((str(sp_id), task) for task in subprocess.tasks.values())

    def changes(self) -> StateChanges:
        """The header and the task rows that differ from what is stored, then marks them stored. Task ids
        are compared as UUIDs and written as text only for the rows that go out."""
        self._compact()
        stored, current, tasks = self._stored, {}, {}
        dirty: set[UUID] = set()
        for workflow_id, task in self._all_tasks():
            fingerprint = current[task.id] = _fingerprint(task)
            tasks[task.id] = (workflow_id, task)
            if fingerprint != stored.get(task.id) or task.state & OPEN:
                dirty.add(task.id)
                dirty.update(task._children)
        inserts, updates = {}, {}
        for task_id in dirty:
            if task_id in tasks:
                workflow_id, task = tasks[task_id]
                rows = updates if task_id in stored else inserts
                rows[str(task_id)] = (workflow_id, SERIALIZER.registry.convert(task))
        deletes = {str(task_id) for task_id in stored.keys() - current.keys()}
        self._stored = current
        return StateChanges(self._header(), inserts, updates, deletes)

    def _header(self) -> dict:
        workflow = self.workflow
        return {
            "serializer_version": SERIALIZER.VERSION,
            **_workflow_fields(workflow),
            "bpmn_events": SERIALIZER.registry.convert(workflow.bpmn_events),
            "subprocesses": {str(sp_id): _subprocess_header(sp) for sp_id, sp in workflow.subprocesses.items()},
        }

    def _compact(self) -> None:
        """Splice long runs of finished single-child tasks out of every task tree, keeping the COMPACT_KEEP
        nearest each open task.

        Only tasks with exactly one child, finished, and owning no subprocess are removed, and the task each
        run hangs from (the root, a split, a boundary-event parent, an open task) is kept, so joins, boundary
        events and subprocesses never lose what they look at; a kept task's data is whole in memory, and the
        serializer writes it against its new parent."""
        for workflow in (self.workflow, *self.workflow.subprocesses.values()):
            _splice_finished_runs(workflow, self.workflow.subprocesses)
        if self.workflow.last_task is not None and self.workflow.last_task.id not in self.workflow.tasks:
            self.workflow.last_task = None

    def open_tasks(self) -> list:
        """Every ready, waiting, started or failed task, top level and subprocesses, in one pass over the
        task dictionaries (cheaper than SpiffWorkflow's tree iterator)."""
        return [task for _, task in self._all_tasks() if task.state & OPEN]

    def check_health(self, open_tasks: list, completed: bool) -> None:
        """Fail loudly rather than trust SpiffWorkflow past its depth limit or a completion without an end
        (``completed``: what SpiffWorkflow says of the workflow now)."""
        for task in open_tasks:
            if task.depth >= DEPTH_GUARD:
                raise DepthLimitError(
                    f"task '{task.task_spec.bpmn_name or task.task_spec.name}' is at depth {task.depth} of the "
                    f"task tree; SpiffWorkflow stops looking at depth {SPIFF_MAX_DEPTH} and would report a "
                    f"false completion. Finished rounds of a loop are compacted away, but here the rounds leave "
                    f"branches open (for example a parallel split whose other branch never finishes): close "
                    f"those branches in the model, or split the work into separate instances.")
        if completed and not self._reached_end():
            raise FalseCompletionError("SpiffWorkflow reported the instance completed, but its process never "
                                       "reached an end event")

    def _reached_end(self) -> bool:
        return any(task.task_spec.name == "End" and task.state == TaskState.COMPLETED
                   for task in self.workflow.tasks.values())


def _fingerprint(task) -> tuple:
    """What a task's stored row depends on besides its data (an open task is always written)."""
    return task.state, tuple(task._children), task.last_state_change, task._parent


def _splice_finished_runs(workflow, subprocesses) -> None:
    root = workflow.task_tree
    removable = {task.id for task in workflow.tasks.values()
                 if task.state & FINISHED and len(task._children) == 1 and task is not root
                 and task.id not in subprocesses}
    for task in [t for t in workflow.tasks.values() if t.state & OPEN]:
        run, node = [], task.parent
        while node is not None and node.id in removable:
            run.append(node)
            node = node.parent
        removable.difference_update(t.id for t in run)
        if len(run) < COMPACT_AT or node is None:
            continue
        kept, dropped = run[COMPACT_KEEP - 1], run[COMPACT_KEEP:]
        node._children = [kept.id if child == dropped[-1].id else child for child in node._children]
        kept._parent = node.id
        for old in dropped:
            del workflow.tasks[old.id]


def _workflow_fields(workflow) -> dict:
    """What the serializer writes for a workflow or subprocess besides its tasks (they are rows of their own)."""
    registry = SERIALIZER.registry
    return {
        "data": registry.convert(registry.clean(workflow.data)),
        "correlations": workflow.correlations,
        "last_task": str(workflow.last_task.id) if workflow.last_task is not None else None,
        "success": workflow.success,
        "completed": workflow.completed,
        "root": str(workflow.task_tree.id),
    }


def _subprocess_header(subprocess) -> dict:
    return {"typename": SERIALIZER.registry.typenames[type(subprocess)], **_workflow_fields(subprocess),
            "parent_task_id": str(subprocess.parent_task_id), "spec": subprocess.spec.name}


def _parents_first(tasks: dict[str, dict], root: str) -> dict[str, dict]:
    """Task bodies in tree order: the serializer rebuilds each task's data from its parent's."""
    ordered, pending = {}, [root]
    while pending:
        task_id = pending.pop()
        body = tasks.get(task_id)
        if body is not None:
            ordered[task_id] = body
            pending.extend(reversed(body["children"]))
    if len(ordered) != len(tasks):
        raise ValueError(f"stored state has {len(tasks) - len(ordered)} task rows outside the task tree")
    return ordered


def is_timer_task(task) -> bool:
    spec = task.task_spec
    return isinstance(spec, CatchingEvent) and isinstance(getattr(spec, "event_definition", None),
                                                          TimerEventDefinition)


def pending_timers(open_tasks: list) -> list[tuple[str, str, datetime]]:
    """(task id, timer name, due instant) of every timer among the open tasks that is waiting."""
    timers = []
    for task in open_tasks:
        if task.state == TaskState.WAITING and is_timer_task(task):
            value = task._get_internal_data("event_value")
            if value is not None:
                name = task.task_spec.bpmn_name or task.task_spec.event_definition.name
                timers.append((str(task.id), name, timer_instant(value)))
    return timers
