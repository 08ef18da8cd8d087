"""Commands: every change of state runs here as one unit of work.

    caller -> command (actor, task and input checked) -> SpiffWorkflow advances the instance
           -> state rows + task index + timers + one audit event, in ONE transaction

A command that fails on bad input or a conflict changes nothing. A command whose instance cannot be
advanced (a script error, an unsafe expression, the depth guard) records the instance as failed, with
the reason and the data that was submitted, and reports it.
"""
from __future__ import annotations

import copy
import json
import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.util.task import TaskState

from . import audit, deploy as deployment, directory, forms, queries, taskindex
from .bpmn import DepthLimitError, FalseCompletionError, TrackedWorkflow, json_dumps
from .calendar import WorkingCalendar
from .clock import Clock, parse_instant
from .db import connect, database_url, migrate
from .errors import Conflict, Forbidden, GovflowError, InstanceFailed, InvalidInput, NotFound
from .models import Absence, CalendarOverride, DefinitionVersion, Instance, TaskIndex, Timer
from .scripting import RestrictedScriptEngine, UnsafeExpression
from .store import SpecCache, WorkflowCache, load_workflow, save_workflow

SYSTEM = "system"
ENGINE_FAILURES = (SpiffWorkflowException, UnsafeExpression, DepthLimitError, FalseCompletionError)


@dataclass
class UnitOfWork:
    session: Session
    now: datetime
    _calendar: WorkingCalendar | None = None
    after_commit: list = field(default_factory=list)

    @property
    def calendar(self) -> WorkingCalendar:
        if self._calendar is None:
            overrides = dict(self.session.execute(select(CalendarOverride.day, CalendarOverride.is_workday)).all())
            self._calendar = WorkingCalendar(overrides)
        return self._calendar


class Engine:
    """GovFlow's engine: the commands that change instances and the queries that read them."""

    def __init__(self, url: str | None = None, clock: Clock | None = None):
        self.clock = clock or Clock.from_env()
        self.db = connect(url or database_url(), json_serializer=json_dumps)
        self._sessions = sessionmaker(self.db, expire_on_commit=False)
        self._specs = SpecCache()
        self._workflows = WorkflowCache()

    def migrate(self) -> None:
        migrate(self.db)

    @contextmanager
    def unit_of_work(self):
        session = self._sessions()
        uow = UnitOfWork(session, self.clock.now())
        try:
            yield uow
            session.commit()
        except (StaleDataError, IntegrityError) as err:
            session.rollback()
            raise Conflict("另一个操作刚刚修改了这个流程，请刷新后重试 / the instance was changed by another action "
                           "at the same moment; reload and try again") from err
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()
        for callback in uow.after_commit:
            callback()

    @contextmanager
    def read(self):
        session = self._sessions()
        try:
            yield session
        finally:
            session.close()

    # --- deployment ---------------------------------------------------------------------------------

    def deploy(self, paths: list[Path], actor: str) -> list[deployment.DeployResult]:
        """Deploy every model under ``paths`` in one transaction: all of them or none."""
        results = []
        with self.unit_of_work() as uow:
            for bpmn_path in deployment.find_models(paths):
                result = deployment.deploy_bundle(uow.session, deployment.Bundle.from_path(bpmn_path), actor, uow.now)
                results.append(result)
                if result.status == "deployed":
                    audit.record(uow.session, action="deploy", actor=actor, at=uow.now, data=result.to_dict())
        return results

    # --- running instances --------------------------------------------------------------------------

    def start(self, process_key: str, actor: str, data: dict) -> dict:
        with self.unit_of_work() as uow:
            session = uow.session
            definition = self._latest(session, process_key)
            user = directory.get_user(session, actor)
            self._check_may_start(session, definition, actor)
            props = definition.properties
            if props.get("start_form"):
                schema = definition.forms[props["start_form"]]
                forms.validate(schema, data, props["start_form"])
                data = forms.with_all_fields(schema, data)
            initial = {**data, "initiator": actor, "initiator_name": user.display_name,
                       "initiator_roles": directory.roles_of(session, actor),
                       "department": data.get("department") or user.department_key,
                       "started_at": uow.now.isoformat()}
            instance = Instance(definition_id=definition.id, process_key=definition.process_key,
                                title=_title(props, initial), state="running", started_at=uow.now,
                                started_by=actor, data={}, workflow={})
            session.add(instance)
            session.flush()
            tracked = TrackedWorkflow.start(self._specs.get(definition), self._script_engine(uow, instance))
            tracked.workflow.task_tree.data.update(initial)
            audit.record(session, action="start", actor=actor, at=uow.now, instance_id=instance.id,
                                 data={"process": process_key, "version": definition.version, "data": data})
            failure = self._advance(uow, instance, tracked, lambda: tracked.workflow.do_engine_steps())
            instance_id = instance.id
        return self._result(instance_id, failure)

    def complete(self, task_id: int, actor: str, data: dict) -> dict:
        with self.unit_of_work() as uow:
            session = uow.session
            row = self._open_task_for(session, task_id, actor)
            instance = self._running_instance(session, row.instance_id)
            definition = session.get(DefinitionVersion, instance.definition_id)
            if row.form:
                forms.validate(definition.forms[row.form], data, row.form)
                data = forms.with_all_fields(definition.forms[row.form], data)
            tracked = load_workflow(session, instance, self._specs.get(definition),
                                    self._script_engine(uow, instance), self._workflows)
            spiff_task = taskindex.find_task(tracked.workflow, row.spiff_task_id)
            if spiff_task is None or spiff_task.state != TaskState.READY:
                raise Conflict(f"任务「{row.title}」已不能办理 / the task '{row.title}' is no longer ready")
            row.completed_by, row.completed_at = actor, uow.now
            audit.record(session, action="complete", actor=actor, at=uow.now, instance_id=instance.id,
                                 task_id=row.id, data={"task": row.name, "title": row.title, "data": data})

            def step():
                spiff_task.data.update(copy.deepcopy(data))
                spiff_task.data[f"{row.name}_by"] = actor
                spiff_task.data[f"{row.name}_at"] = uow.now.isoformat()
                spiff_task.run()
                tracked.workflow.do_engine_steps()

            failure = self._advance(uow, instance, tracked, step)
            instance_id = instance.id
        return self._result(instance_id, failure)

    def fire_due_timers(self) -> list[dict]:
        """Fire every timer due at the clock's now: one indexed query, then one transaction per instance."""
        now = self.clock.now()
        with self.read() as session:
            due = session.execute(select(Timer.instance_id, Timer.name)
                                  .join(Instance, Instance.id == Timer.instance_id)
                                  .where(Timer.due_at <= now, Instance.state == "running")
                                  .order_by(Timer.due_at)).all()
        fired: dict[int, list[str]] = {}
        for instance_id, name in due:
            fired.setdefault(instance_id, []).append(name)
        results = []
        for instance_id, names in fired.items():
            results.append(self._fire(instance_id, names))
        return results

    def _fire(self, instance_id: int, names: list[str]) -> dict:
        try:
            with self.unit_of_work() as uow:
                instance = self._running_instance(uow.session, instance_id)
                definition = uow.session.get(DefinitionVersion, instance.definition_id)
                tracked = load_workflow(uow.session, instance, self._specs.get(definition),
                                        self._script_engine(uow, instance), self._workflows)
                audit.record(uow.session, action="timer_fired", actor=SYSTEM, at=uow.now,
                                     instance_id=instance_id, data={"timers": names})

                def step():
                    tracked.workflow.refresh_timers()
                    tracked.workflow.do_engine_steps()

                failure = self._advance(uow, instance, tracked, step)
            self._result(instance_id, failure)
            return {"instance": instance_id, "timers": names, "result": "fired"}
        except GovflowError as err:
            return {"instance": instance_id, "timers": names, "result": err.code, "message": err.message}

    # --- the shared step ----------------------------------------------------------------------------

    def _advance(self, uow: UnitOfWork, instance: Instance, tracked: TrackedWorkflow, step) -> str | None:
        """Run ``step`` on the workflow and write everything it changed. If the engine fails, the instance
        is saved as failed and the reason is returned, for the caller to raise after the commit."""
        session = uow.session
        failure = None
        try:
            step()
            tracked.check_health()
        except ENGINE_FAILURES as err:
            failure = _describe_failure(err)
        taskindex.close_finished(session, instance, tracked.workflow, uow.now)
        if failure is None:
            try:
                opened = taskindex.open_ready(session, instance, tracked.workflow, uow.now, uow.calendar)
            except ENGINE_FAILURES as err:
                failure, opened = _describe_failure(err), []
            _record_handovers(uow, instance, opened)
        save_workflow(session, instance, tracked)
        instance.data = _current_data(tracked)
        if failure is not None:
            instance.state, instance.error = "failed", failure
            audit.record(session, action="failed", actor=SYSTEM, at=uow.now, instance_id=instance.id,
                         data={"error": failure})
        elif tracked.workflow.is_completed():
            instance.state, instance.ended_at = "completed", uow.now
        session.flush()
        version = instance.lock_version
        uow.after_commit.append(lambda: self._workflows.put(instance.id, version, tracked))
        return failure

    def _script_engine(self, uow: UnitOfWork, instance: Instance) -> RestrictedScriptEngine:
        return RestrictedScriptEngine(services=self._services(uow, instance), clock=_FixedNow(uow.now))

    def _services(self, uow: UnitOfWork, instance: Instance) -> dict:
        def record_absence(context, username, starts_at, ends_at, acting_username=None, rule=""):
            absence = Absence(username=username, starts_at=_instant(starts_at), ends_at=_instant(ends_at),
                              acting_username=acting_username or None, rule=rule, instance_id=instance.id,
                              recorded_at=uow.now)
            uow.session.add(absence)
            uow.session.flush()
            return {"absence_id": absence.id}

        return {"record_absence": record_absence}

    # --- checks -------------------------------------------------------------------------------------

    def _latest(self, session: Session, process_key: str) -> DefinitionVersion:
        definition = session.scalars(select(DefinitionVersion).where(DefinitionVersion.process_key == process_key)
                                     .order_by(DefinitionVersion.version.desc())).first()
        if definition is None:
            raise NotFound(f"没有这个流程 / no process with the key '{process_key}' is deployed")
        return definition

    def _check_may_start(self, session: Session, definition: DefinitionVersion, actor: str) -> None:
        allowed = definition.properties.get("start_roles") or []
        if allowed and not set(allowed) & set(directory.roles_of(session, actor)):
            raise Forbidden(f"{actor} 无权发起「{definition.properties['title']}」/ {actor} may not start "
                            f"{definition.process_key}: it needs one of the roles {', '.join(allowed)}")

    def _open_task_for(self, session: Session, task_id: int, actor: str) -> TaskIndex:
        row = session.get(TaskIndex, task_id)
        if row is None:
            raise NotFound(f"没有这个任务 / no task {task_id}")
        if row.state != "open":
            by = f" by {row.completed_by}" if row.completed_by else ""
            raise Conflict(f"任务「{row.title}」已经办结 / task {task_id} is already {row.state}{by} "
                           f"at {row.completed_at.isoformat() if row.completed_at else '?'}")
        directory.get_user(session, actor)
        if not directory.may_act_on(session, actor, row.role, row.candidate_department, row.assignee):
            raise Forbidden(f"任务「{row.title}」不是您的 / task {task_id} is not yours: it is for "
                            f"{row.assignee or row.role}")
        return row

    def _running_instance(self, session: Session, instance_id: int) -> Instance:
        instance = session.get(Instance, instance_id)
        if instance is None:
            raise NotFound(f"没有这个流程实例 / no instance {instance_id}")
        if instance.state != "running":
            raise Conflict(f"流程实例 {instance_id} 的状态是 {instance.state}，不能办理 / instance {instance_id} "
                           f"is {instance.state}" + (f": {instance.error}" if instance.error else ""))
        return instance

    # --- queries ------------------------------------------------------------------------------------

    def definitions(self) -> list[dict]:
        with self.read() as session:
            return queries.definitions(session)

    def tasks(self, user: str | None = None, instance: int | None = None, state: str | None = "open") -> list[dict]:
        with self.read() as session:
            return queries.tasks(session, user, instance, state)

    def instances(self, process: str | None = None, state: str | None = None) -> list[dict]:
        with self.read() as session:
            return queries.instances(session, process, state)

    def show(self, instance_id: int) -> dict:
        with self.read() as session:
            return queries.show(session, instance_id)

    def _result(self, instance_id: int, failure: str | None) -> dict:
        if failure is not None:
            raise InstanceFailed(f"流程实例 {instance_id} 运行出错，已标记为失败 / instance {instance_id} failed: "
                                 f"{failure}", [{"instance": instance_id}])
        return self._instance_with_tasks(instance_id)

    def _instance_with_tasks(self, instance_id: int) -> dict:
        with self.read() as session:
            instance = session.get(Instance, instance_id)
            return {"instance": instance.id, "state": instance.state, "error": instance.error,
                    "tasks": queries.tasks(session, instance_id=instance_id)}


def _record_handovers(uow: UnitOfWork, instance: Instance, opened) -> None:
    """One audit event for each new task that went to an acting person, naming the rule that sent it."""
    for row, assignment in opened:
        if assignment.handed_over_from:
            audit.record(uow.session, action="absence_handover", actor=SYSTEM, at=uow.now, instance_id=instance.id,
                         task_id=row.id, on_behalf_of=assignment.handed_over_from,
                         data={"task": row.name, "from": assignment.handed_over_from, "to": row.assignee,
                               "rule": assignment.rule})


class _FixedNow:
    """The clock a command's SpiffWorkflow steps see: the instant the command started."""

    def __init__(self, now: datetime):
        self._now = now

    def now(self) -> datetime:
        return self._now


def _instant(value) -> datetime:
    return value if isinstance(value, datetime) else parse_instant(str(value))


def _describe_failure(err: Exception) -> str:
    if isinstance(err, SpiffWorkflowException):
        where = getattr(err, "task_name", None) or getattr(getattr(err, "task", None), "task_spec", None)
        name = getattr(where, "bpmn_name", None) or getattr(where, "name", None) or where
        notes = "; ".join(getattr(err, "__notes__", []))
        return f"{name + ': ' if name else ''}{err}{' (' + notes + ')' if notes else ''}"
    return str(err)


_FIELD = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _title(props: dict, data: dict) -> str:
    """An instance's title from the start event's ``instanceTitle`` template: ``{field}`` placeholders only."""
    template = props.get("title_template") or props.get("title", "")
    return _FIELD.sub(lambda m: str(data.get(m.group(1), "")), template)[:256]


def _current_data(tracked: TrackedWorkflow) -> dict:
    """The instance's data so far: the workflow's data when finished, else what its open tasks hold."""
    workflow = tracked.workflow
    if workflow.is_completed():
        merged = dict(workflow.data)
    else:
        merged = {}
        for task in workflow.get_tasks(state=TaskState.READY | TaskState.WAITING | TaskState.STARTED):
            merged.update(task.data)
        if not merged and workflow.last_task is not None:
            merged = dict(workflow.last_task.data)
    return json.loads(json.dumps(merged, default=_plain, ensure_ascii=False))


def _plain(value):
    """Task data as people read it: instants and dates as ISO-8601 text, sets as lists."""
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return None
