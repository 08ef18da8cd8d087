"""Commands: every change of state runs here as one unit of work.

    caller -> command (actor, task and input checked) -> SpiffWorkflow advances the instance
           -> state rows + task index + timers + one audit event, in ONE transaction

A command that fails on bad input or a conflict changes nothing. A command whose instance cannot be
advanced (a script error, an unsafe expression, the depth guard) records the instance as failed, with
the reason and the data that was submitted, and reports it.
"""
from __future__ import annotations

import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import Connection, bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.util.task import TaskState

from . import (access, accounts, attachments, audit, compliance, deploy as deployment, designer, directory,
               eventlog, forms, handling, inbox, notify, outcomes, overdue, queries, replay as replaying, reports,
               services, sharing, steps, store, taskindex, views)
from .bpmn import DepthLimitError, FalseCompletionError, TrackedWorkflow, json_dumps
from .calendar import WorkingCalendar
from .calendar_admin import working_calendar
from .clock import Clock
from .db import begin_writing, connect, database_url, for_writing, in_pipeline, migrate, pipelined
from .errors import Conflict, Forbidden, GovflowError, InvalidInput
from .models import DefinitionVersion, Timer
from .operations import InstanceOperations, check_admin
from .scripting import RestrictedScriptEngine, UnsafeExpression
from .store import CONFLICT_MESSAGE, Definition, DefinitionCache, InstanceCache, LiveInstance

SYSTEM = "system"
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
# Only running instances have timer rows (store.save drops them otherwise), so this reads one index.
DUE_TIMERS = (select(Timer.instance_id, Timer.name).where(Timer.due_at <= bindparam("now"))
              .order_by(Timer.due_at))
ENGINE_FAILURES = (SpiffWorkflowException, UnsafeExpression, DepthLimitError, FalseCompletionError)


@dataclass
class UnitOfWork:
    """One transaction: a connection for the commands' statements, an ORM session on the same transaction
    for the rarer administrative work, the instant the command runs at, and what to do after commit."""
    conn: Connection
    now: datetime
    after_commit: list = field(default_factory=list)
    rollback_only: bool = False
    service_calls: list = field(default_factory=list)  # diagram service calls of the current step (services.py)
    _session: Session | None = None
    _calendar: WorkingCalendar | None = None

    @property
    def session(self) -> Session:
        if self._session is None:
            self._session = Session(bind=self.conn, expire_on_commit=False)
        return self._session

    def calendar(self) -> WorkingCalendar:
        """The working-day calendar with the admins' overrides, read when a deadline first needs it."""
        if self._calendar is None:
            self._calendar = working_calendar(self.conn)
        return self._calendar


class Engine(InstanceOperations):
    """GovFlow's engine: the commands that change instances and the queries that read them."""

    def __init__(self, url: str | None = None, clock: Clock | None = None):
        self.clock = clock or Clock.from_env()
        self.db = connect(url or database_url(), json_serializer=json_dumps)
        self._writer = for_writing(self.db)
        self._sessions = sessionmaker(self.db, expire_on_commit=False)
        self._definitions = DefinitionCache()
        self._instances = InstanceCache()

    def migrate(self) -> None:
        migrate(self.db)

    @contextmanager
    def unit_of_work(self):
        with self._writer.connect() as conn:
            transaction = begin_writing(conn)
            uow = UnitOfWork(conn, self.clock.now())
            try:
                yield uow
                if uow._session is not None:
                    uow._session.flush()
                if uow.rollback_only:
                    transaction.rollback()
                    return
                transaction.commit()
            except IntegrityError as err:
                transaction.rollback()
                raise Conflict(CONFLICT_MESSAGE) from err
            except BaseException:
                transaction.rollback()
                raise
            finally:
                if uow._session is not None:
                    uow._session.close()
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

    def deploy(self, paths: list[Path], actor: str, check_only: bool = False) -> list[deployment.DeployResult]:
        """Deploy every model under ``paths`` in one transaction: all of them or none. With ``check_only``
        every model is validated and compiled exactly as a deployment would, and nothing is stored."""
        results = []
        with self.unit_of_work() as uow:
            uow.rollback_only = check_only
            for bpmn_path in deployment.find_models(paths):
                result = deployment.deploy_bundle(uow.session, deployment.Bundle.from_path(bpmn_path), actor, uow.now)
                results.append(result)
                if result.status == "deployed":
                    audit.record(uow.session, action="deploy", actor=actor, at=uow.now, data=result.to_dict())
        if check_only:
            return [deployment.DeployResult(r.key, r.version, r.sha256, "valid" if r.status == "deployed" else r.status)
                    for r in results]
        return results

    def versions(self, key: str | None = None) -> list[dict]:
        """Every version of a definition (or of all), with who deployed it, when, its note and instance counts."""
        with self.db.connect() as conn:
            return designer.versions(conn, key)

    def definition_source(self, key: str, version: int | None = None) -> dict:
        with self.read() as session:
            return designer.source(session, key, version)

    def save_draft(self, key: str, xml: str, actor: str, dmn: dict | None = None, forms: dict | None = None) -> dict:
        with self.unit_of_work() as uow:
            check_admin(uow.conn, actor)
            saved = designer.save_draft(uow.session, key, xml, dmn, forms, actor, uow.now)
            audit.record(uow.session, action="save_draft", actor=actor, at=uow.now,
                         data={"key": key, "base_version": saved["base_version"]})
            return saved

    def draft(self, key: str) -> dict | None:
        with self.read() as session:
            return designer.draft(session, key)

    def discard_draft(self, key: str, actor: str) -> bool:
        with self.unit_of_work() as uow:
            check_admin(uow.conn, actor)
            discarded = designer.discard_draft(uow.session, key)
            if discarded:
                audit.record(uow.session, action="discard_draft", actor=actor, at=uow.now, data={"key": key})
            return discarded

    def validate_model(self, key: str, xml: str, actor: str, dmn: dict | None = None,
                       forms: dict | None = None) -> dict:
        """Validate a model given as text exactly as deploy would; nothing is stored."""
        with self.unit_of_work() as uow:
            uow.rollback_only = True
            return designer.validate(uow.session, key, xml, dmn, forms, actor, uow.now)

    def deploy_model(self, key: str, xml: str, actor: str, note: str, dmn: dict | None = None,
                     forms: dict | None = None) -> dict:
        """Deploy a model given as text (admins), with a change note; identical content changes nothing."""
        with self.unit_of_work() as uow:
            return designer.deploy(uow.session, key, xml, dmn, forms, actor, uow.now, note)

    def run_draft_scenarios(self, key: str, xml: str, actor: str, processes: Path, directory_document: dict,
                            dmn: dict | None = None, forms: dict | None = None) -> list[dict]:
        """The procedure's scenario fixtures run against a draft (admins), each in a throw-away database."""
        with self.read() as session:
            check_admin(session.connection(), actor)
            dmn, forms = designer.sources(session, key, dmn, forms)
        return designer.run_scenarios(key, xml, dmn, forms, directory_document, processes, Engine)

    # --- running instances --------------------------------------------------------------------------

    def start(self, process_key: str, actor: str, data: dict) -> dict:
        with self.unit_of_work() as uow:
            conn = uow.conn
            directory.read_ahead_profile(conn, actor)  # on PostgreSQL: with the definition's read, one round trip
            definition = self._definitions.latest(conn, process_key)
            person = directory.profile(conn, actor)
            _check_may_start(definition, person)
            props = definition.properties
            fields = data
            if props.get("start_form"):
                schema = definition.forms[props["start_form"]]
                forms.validate(schema, data, props["start_form"])
                fields = forms.with_all_fields(schema, data)
            if props.get("start_check"):
                _check_rule(self._script_engine(uow, None).environment, props["start_check"],
                            props.get("start_check_message"), fields)
            initial = {**fields, "initiator": actor, "initiator_name": person.display_name,
                       "initiator_roles": person.roles, "initiator_portfolio": person.portfolio,
                       "department": fields.get("department") or person.department,
                       "started_at": uow.now.isoformat()}
            row = store.insert_instance(conn, definition, _title(props, initial), actor, uow.now, meanwhile=lambda:
                                        taskindex.read_ahead_first(conn, definition, initial["department"], actor,
                                                                   uow.now))
            live = LiveInstance(row, TrackedWorkflow.start(definition.compiled, self._script_engine(uow, row.id)))
            initial = {**initial, "instance_id": row.id}
            event = outcomes.event("start", actor, process=process_key, version=definition.version, data=data,
                                   initial=initial)
            failure = self._advance(uow, live, definition, lambda: steps.start(live.tracked.workflow, initial), event,
                                    sent_by=actor)
        return outcomes.raise_if_failed(outcomes.result(live), failure)

    def complete(self, task_id: int, actor: str, data: dict) -> dict:
        with self.unit_of_work() as uow:
            conn = uow.conn
            self._read_ahead(conn, task_id, uow.now)
            task, row = store.task_with_instance(conn, task_id)
            _check_open(task, row)
            on_behalf_of = handling.acting(uow, task, actor)
            definition = self._definitions.get(conn, row.definition_id)
            fields = data
            if task.form:
                forms.validate(definition.forms[task.form], data, task.form)
                fields = forms.with_all_fields(definition.forms[task.form], data)
            if task.queue:
                return handling.pass_on(uow, task, row, actor, on_behalf_of, data)
            live = store.load(conn, row, definition.compiled, self._script_engine(uow, row.id), self._instances)
            spiff_task = taskindex.find_task(live.tracked.workflow, task.spiff_task_id)
            if spiff_task is None or spiff_task.state != TaskState.READY:
                raise Conflict(f"任务「{task.title}」已不能办理 / the task '{task.title}' is no longer ready")

            task_props = taskindex.task_properties(spiff_task)
            environment, step_data = live.tracked.workflow.script_engine.environment, {**spiff_task.data, **fields}
            _check_rule(environment, task_props.get("completeCheck"), task_props.get("completeCheckMessage"),
                        step_data)
            made_at = _made_at(environment, task_props.get("doneAt"), step_data, uow.now)

            signers = steps.signers(task.hops)

            def step():
                steps.complete(live.tracked.workflow, spiff_task, fields, actor, uow.now.isoformat(), signers)

            event = outcomes.event("complete", actor, task_id=task.id, on_behalf_of=on_behalf_of, task=task.name,
                                   title=task.title, spiff_task=task.spiff_task_id, data=data, signers=signers)
            failure = self._advance(uow, live, definition, step, event, completions={task.id: (actor, made_at)},
                                    sent_by=actor)
        return outcomes.raise_if_failed(outcomes.result(live), failure)

    def fire_due_timers(self) -> list[dict]:
        """Fire every timer due at the clock's now: one indexed query, then one transaction per instance."""
        now = self.clock.now()
        with self.db.connect() as conn:
            due = conn.execute(DUE_TIMERS, {"now": now}).all()
        fired: dict[int, list[str]] = {}
        for instance_id, name in due:
            fired.setdefault(instance_id, []).append(name)
        return [self._fire(instance_id, names) for instance_id, names in fired.items()]

    def _fire(self, instance_id: int, names: list[str]) -> dict:
        try:
            with self.unit_of_work() as uow:
                row = store.instance_row(uow.conn, instance_id)
                _check_running(row)
                definition = self._definitions.get(uow.conn, row.definition_id)
                live = store.load(uow.conn, row, definition.compiled, self._script_engine(uow, row.id),
                                  self._instances)

                def step():
                    steps.fire_timers(live.tracked.workflow)

                event = outcomes.event("timer_fired", SYSTEM, timers=names)
                failure = self._advance(uow, live, definition, step, event)
            outcomes.raise_if_failed(outcomes.result(live), failure)
            return {"instance": instance_id, "timers": names, "result": "fired"}
        except GovflowError as err:
            return {"instance": instance_id, "timers": names, "result": err.code, "message": err.message}

    # --- task actions -------------------------------------------------------------------------------

    def claim(self, task_id: int, actor: str) -> dict:
        return self._on_task(task_id, lambda uow, task, row: handling.claim(uow, task, row, actor))

    def release(self, task_id: int, actor: str) -> dict:
        return self._on_task(task_id, lambda uow, task, row: handling.release(uow, task, row, actor))

    def transfer(self, task_id: int, actor: str, to_user: str, reason: str) -> dict:
        """转办: the task goes to ``to_user``, who completes it in the holder's place."""
        return self._on_task(task_id, lambda uow, task, row: handling.transfer(uow, task, row, actor, to_user, reason))

    def delegate(self, task_id: int, actor: str, to_user: str, reason: str) -> dict:
        """委派: ``to_user`` acts on the task, then it comes back to the holder to complete."""
        return self._on_task(task_id, lambda uow, task, row: handling.delegate(uow, task, row, actor, to_user, reason))

    def add_signer(self, task_id: int, actor: str, signer: str, position: str, reason: str) -> dict:
        """加签: ``signer`` must also act on the task, before or after the holder."""
        return self._on_task(task_id, lambda uow, task, row: handling.add_signer(uow, task, row, actor, signer,
                                                                                 position, reason))

    def _on_task(self, task_id: int, action) -> dict:
        with self.unit_of_work() as uow:
            task, row = store.task_with_instance(uow.conn, task_id)
            _check_open(task, row)
            return action(uow, task, row)

    def return_task(self, task_id: int, actor: str, to_task_id: int, reason: str) -> dict:
        """退回: re-open an earlier step on this task's path for the person who did it, with the reason; the
        steps after it are dropped and run again from there."""
        reason = outcomes.required_reason(reason)
        with self.unit_of_work() as uow:
            conn = uow.conn
            task, row = store.task_with_instance(conn, task_id)
            _check_open(task, row)
            on_behalf_of = handling.acting(uow, task, actor)
            definition = self._definitions.get(conn, row.definition_id)
            live = store.load(conn, row, definition.compiled, self._script_engine(uow, row.id), self._instances)
            target = next((step for step in views.returnable(conn, live.tracked.workflow, task)
                           if step["id"] == to_task_id), None)
            if target is None:
                raise InvalidInput(f"只能退回到本任务之前已办理的步骤 / task {to_task_id} is not an earlier step of "
                                   f"task {task_id} that it can be returned to",
                                   [{"field": "to_task", "message": "请选择之前的步骤 / choose an earlier step"}])
            round_ = target["round"] + 1
            event = outcomes.event("return", actor, task_id=task.id, on_behalf_of=on_behalf_of, task=task.name,
                                   title=task.title, to_task=target["id"], to_step=target["name"],
                                   to_title=target["title"], to_spiff_task=target["spiff_task_id"],
                                   to_user=target["completed_by"], reason=reason, round=round_)
            reopened = {target["spiff_task_id"]: {
                "assignee": target["completed_by"], "assigned_by": "returned", "round": round_,
                "draft": views.submitted(conn, target["id"]), "notice": notify.RETURNED,
                "message": f"{notify.name(conn, actor)} 将「{row.title}」退回到「{target['title']}」，请重新办理："
                           f"{reason}"}}
            failure = self._reset(uow, live, definition, target["spiff_task_id"], event, reopened, "returned")
        return outcomes.raise_if_failed(outcomes.result(live), failure)

    def withdraw(self, task_id: int, actor: str, reason: str) -> dict:
        """撤回: take back one's own last step while nobody has acted on what it led to."""
        reason = outcomes.required_reason(reason)
        with self.unit_of_work() as uow:
            conn = uow.conn
            task, row = store.task_with_instance(conn, task_id)
            if task.completed_by != actor:
                raise Forbidden(f"只能撤回自己办理的步骤 / task {task_id} was not completed by {actor}")
            refusal = views.withdraw_refusal(conn, task.id, task.title, task.state, row)
            if refusal:
                raise Conflict(refusal)
            definition = self._definitions.get(conn, row.definition_id)
            live = store.load(conn, row, definition.compiled, self._script_engine(uow, row.id), self._instances)
            spiff = taskindex.find_task(live.tracked.workflow, task.spiff_task_id)
            if spiff is None or spiff.state != TaskState.COMPLETED:
                raise Conflict(f"步骤「{task.title}」已不能撤回 / step '{task.title}' can no longer be withdrawn")
            waiting = [row_["assignee"] for row_ in live.open_tasks.values()]
            event = outcomes.event("withdraw", actor, task_id=task.id, task=task.name, title=task.title,
                                   spiff_task=task.spiff_task_id, reason=reason, round=task.round + 1)
            reopened = {task.spiff_task_id: {
                "assignee": actor, "assigned_by": "withdrawn", "round": task.round + 1,
                "draft": views.submitted(conn, task.id), "notice": notify.NEW_TASK,
                "message": f"您已撤回「{row.title}」的「{task.title}」，可修改后重新提交"}}
            failure = self._reset(uow, live, definition, task.spiff_task_id, event, reopened, "withdrawn")
            still_open = {row_["assignee"] for row_ in live.open_tasks.values()}
            notify.send(uow, [name for name in waiting if name not in still_open and name != actor],
                        notify.WITHDRAWN, f"{notify.name(conn, actor)} 撤回了「{row.title}」的「{task.title}」：{reason}",
                        instance_id=row.id)
        return outcomes.raise_if_failed(outcomes.result(live), failure)

    def _reset(self, uow: UnitOfWork, live: LiveInstance, definition: Definition, spiff_task_id: str, event: dict,
               reopened: dict, vanished_as: str) -> str | None:
        def step():
            steps.reset_to(live.tracked.workflow, spiff_task_id)

        return self._advance(uow, live, definition, step, event, sent_by=event["actor"], reopened=reopened,
                             vanished_as=vanished_as)

    def copy_to(self, instance_id: int, actor: str, recipients: list[str], note: str = "") -> list[dict]:
        """抄送: a read-only copy for each recipient, who get a notice; opening it records the receipt."""
        with self.unit_of_work() as uow:
            return sharing.copy_to(uow, instance_id, actor, recipients, note)

    def read_copy(self, copy_id: int, actor: str) -> dict:
        with self.unit_of_work() as uow:
            return sharing.read_copy(uow, copy_id, actor)

    def urge(self, instance_id: int, actor: str, note: str = "") -> list[str]:
        """催办: notify everyone the instance is waiting for."""
        with self.unit_of_work() as uow:
            return sharing.urge(uow, instance_id, actor, note)

    def comment(self, instance_id: int, actor: str, text: str) -> dict:
        with self.unit_of_work() as uow:
            return sharing.comment(uow, instance_id, actor, text)

    def flag_overdue(self) -> list[dict]:
        """Notify the holders of every open task past its due instant, once per task, and record it."""
        with self.unit_of_work() as uow:
            return overdue.flag(uow)

    # --- people, sign-in, notifications ------------------------------------------------------------

    def authenticate(self, username: str, password: str) -> directory.Profile | None:
        with self.db.connect() as conn:
            if not accounts.password_matches(conn, username, password):
                return None
            return directory.profile(conn, username)

    def profile(self, username: str) -> directory.Profile:
        with self.db.connect() as conn:
            return directory.profile(conn, username)

    def users(self) -> list[dict]:
        with self.db.connect() as conn:
            return directory.active_users(conn)

    def issue_token(self, username: str, label: str) -> str:
        with self.unit_of_work() as uow:
            token = accounts.issue_token(uow.conn, username, label, uow.now)
            audit.record(uow.conn, action="issue_token", actor=username, at=uow.now, data={"label": label})
            return token

    def user_for_token(self, token: str) -> str | None:
        with self.unit_of_work() as uow:
            return accounts.token_owner(uow.conn, token, uow.now)

    def revoke_token(self, username: str, label: str) -> int:
        with self.unit_of_work() as uow:
            revoked = accounts.revoke_token(uow.conn, username, label, uow.now)
            audit.record(uow.conn, action="revoke_token", actor=username, at=uow.now, data={"label": label})
            return revoked

    def tokens(self, username: str) -> list[dict]:
        """A person's API tokens that are not revoked (never the tokens themselves)."""
        with self.db.connect() as conn:
            return accounts.tokens(conn, username)

    def notifications(self, username: str, unread_only: bool = False, limit: int = 50) -> list[dict]:
        with self.db.connect() as conn:
            return notify.listing(conn, username, unread_only, limit)

    def mark_read(self, username: str, ids: list[int] | None = None) -> int:
        with self.unit_of_work() as uow:
            return notify.mark_read(uow.conn, username, ids, uow.now)

    # --- what pages show ---------------------------------------------------------------------------

    def inbox(self, username: str, tab: str, *, q: str | None = None, process: str | None = None,
              status: str | None = None, sort: str = "due", page: int = 1, per_page: int = 20) -> dict:
        with self.db.connect() as conn:
            return inbox.page(conn, username, tab, self.clock.now(), q=q, process=process, status=status,
                              sort=sort, page=page, per_page=per_page)

    def counts(self, username: str) -> dict:
        with self.db.connect() as conn:
            return inbox.counts(conn, username, self.clock.now())

    def startable(self, username: str) -> list[dict]:
        """The latest version of every process ``username`` may start, with its one-line description: of a
        procedure with district variants, only the variant their district uses."""
        with self.db.connect() as conn:
            person = directory.profile(conn, username)
            latest = deployment.latest_versions(conn)
        return [{"key": d.process_key, "title": d.properties.get("title") or d.process_key,
                 "description": d.properties.get("description") or "", "version": d.version}
                for d in latest
                if (not d.properties.get("start_roles") or set(d.properties["start_roles"]) & set(person.roles))
                and directory.offers(person, d.process_key)]

    def start_form(self, process_key: str) -> dict:
        with self.db.connect() as conn:
            definition = self._definitions.latest(conn, process_key)
        props = definition.properties
        return {"key": definition.key, "title": props.get("title") or definition.key,
                "description": props.get("description") or "", "version": definition.version,
                "schema": definition.forms.get(props["start_form"]) if props.get("start_form") else None}

    def task_view(self, task_id: int, viewer: str) -> dict:
        """Everything the task page shows ``viewer``; Forbidden when they may not see the task."""
        with self.unit_of_work() as uow:
            conn = uow.conn
            task, row = store.task_with_instance(conn, task_id)
            views.check_may_view_task(conn, task, row.id, viewer, uow.now)
            definition = self._definitions.get(conn, row.definition_id)
            live = self._read_live(uow, row, definition)
            steps = views.returnable(conn, live.tracked.workflow, task) if task.state == "open" else []
            withdrawable = (task.completed_by == viewer
                            and views.withdraw_refusal(conn, task.id, task.title, task.state, row) is None)
            may_act, actions = views.task_actions(conn, task, row, viewer, uow.now, steps, withdrawable)
            shown = self._shown(conn, row.id)
            actions += views.instance_actions(row, viewer, shown)
            shown_task = next(t for t in shown["tasks"] if t["id"] == task.id)
            return {"task": {**shown_task, "schema": definition.forms.get(task.form) if task.form else None,
                             "draft": task.draft or {}, "hops": task.hops, "queue": task.queue,
                             "kind": inbox.task_kind(task.assigned_by),
                             "field_titles": _field_titles(definition),
                             "due_left": inbox.due_left(task.due_at, task.due_unit, uow.now, uow.calendar)},
                    "instance": shown, "may_act": may_act, "actions": actions,
                    "returnable": [{key: step[key] for key in ("id", "title", "completed_by", "completed_at")}
                                   for step in steps],
                    "diagram": views.diagram(conn, row.definition_id, row.id, live.tracked.workflow,
                                             live.open_tasks.values())}

    def instance_view(self, instance_id: int, viewer: str) -> dict:
        with self.unit_of_work() as uow:
            conn = uow.conn
            access.check_may_see(conn, instance_id, viewer, uow.now)
            row = store.instance_row(conn, instance_id)
            definition = self._definitions.get(conn, row.definition_id)
            live = self._read_live(uow, row, definition)
            shown = self._shown(conn, instance_id)
            mine = [t for t in shown["tasks"] if t["completed_by"] == viewer]
            withdrawable = [t["id"] for t in mine[-1:]
                            if views.withdraw_refusal(conn, t["id"], t["title"], t["state"], row) is None]
            return {"instance": shown, "actions": views.instance_actions(row, viewer, shown),
                    "withdrawable": withdrawable, "field_titles": _field_titles(definition),
                    "diagram": views.diagram(conn, row.definition_id, row.id, live.tracked.workflow,
                                             live.open_tasks.values())}

    def timeline(self, instance_id: int, viewer: str) -> dict:
        """The instance's history for stepping through: every event with the data and the diagram's marks as
        they stood just after it (auditors and the people involved)."""
        with self.unit_of_work() as uow:
            conn = uow.conn
            access.check_may_see(conn, instance_id, viewer, uow.now)
            row = store.instance_row(conn, instance_id)
            shown = self._shown(conn, instance_id)
            xml = conn.scalar(select(DefinitionVersion.source_xml).where(DefinitionVersion.id == row.definition_id))
            return {"instance": {key: shown[key] for key in ("id", "process", "version", "title", "state",
                                                             "started_at", "started_by", "ended_at", "error")},
                    "xml": xml, "events": views.timeline(shown["events"]),
                    "field_titles": _field_titles(self._definitions.get(conn, row.definition_id))}

    def _read_live(self, uow: UnitOfWork, row: store.InstanceRow, definition: Definition) -> LiveInstance:
        """The live instance for a page to read; it goes back to the cache unchanged."""
        live = store.load(uow.conn, row, definition.compiled, self._script_engine(uow, row.id), self._instances)
        uow.after_commit.append(lambda: self._instances.put(live))
        return live

    def _shown(self, conn, instance_id: int) -> dict:
        with Session(bind=conn) as session:
            shown = queries.show(session, instance_id)
        shown["attachments"] = attachments.listing(conn, instance_id)
        return views.enrich(conn, shown, instance_id)

    # --- the shared step ----------------------------------------------------------------------------

    def _advance(self, uow: UnitOfWork, live: LiveInstance, definition: Definition, step, event: dict,
                 completions: dict[int, tuple[str, datetime]] | None = None, sent_by: str = SYSTEM,
                 reopened: dict[str, dict] | None = None, vanished_as: str = "cancelled",
                 keep_state: bool = False) -> str | None:
        """Run ``step`` on the workflow and write everything it changed, with the command's audit ``event``
        (from outcomes.event) and the instance data it changed. If the engine fails, the instance is saved as
        failed and the reason is returned, for the caller to raise after the commit. ``sent_by``, ``reopened``
        and ``vanished_as`` say how new and closed task rows are recorded (taskindex.work_out and
        close_finished).
        With ``keep_state`` a suspended or failed instance stays so (a migration moves it as it is)."""
        conn = uow.conn
        failure = None
        uow.service_calls.clear()
        workflow = live.tracked.workflow
        try:
            step()
            open_tasks, completed = live.tracked.open_tasks(), workflow.is_completed()
            live.tracked.check_health(open_tasks, completed)
        except ENGINE_FAILURES as err:
            failure = _describe_failure(err)
            open_tasks, completed = live.tracked.open_tasks(), workflow.is_completed()
        data = steps.current_data(workflow, open_tasks, completed)
        events = [audit.event(action=event["action"], actor=event["actor"], at=uow.now, instance_id=live.row.id,
                              task_id=event["task_id"], on_behalf_of=event["on_behalf_of"],
                              data={**event["data"], "changes": steps.changes(live.data, data),
                                    "open": steps.open_steps(open_tasks), "services": list(uow.service_calls)})]
        worked_out = []
        if failure is None:
            try:
                worked_out = taskindex.work_out(conn, live, open_tasks, definition, uow.now, uow.calendar, sent_by,
                                                reopened)
            except ENGINE_FAILURES as err:
                failure = _describe_failure(err)
        # Every read is done: the writes go out together (one round trip per wait on PostgreSQL).
        with pipelined(conn):
            audit.lock(conn)
            taskindex.close_finished(conn, live, uow.now, completions or {}, vanished_as)
            opened = taskindex.add(conn, live, worked_out)
            events += _handovers(uow, live, opened)
            _announce(uow, live, opened, reopened or {})
            held = keep_state and failure is None and live.row.state in ("suspended", "failed")
            if held:
                state, ended_at, failure_kept = live.row.state, None, live.row.error
            elif failure is not None:
                state, ended_at = "failed", None
                events.append(audit.event(action="failed", actor=SYSTEM, at=uow.now, instance_id=live.row.id,
                                          data={"error": failure}))
            elif completed:
                state, ended_at = "completed", uow.now
            else:
                state, ended_at = "running", None
            audit.append(conn, events)
            store.save(conn, live, open_tasks, data=data, state=state, error=failure_kept if held else failure,
                       ended_at=ended_at)
        uow.after_commit.append(lambda: self._keep(live))
        return failure

    def _read_ahead(self, conn: Connection, task_id: int, now: datetime) -> None:
        """On PostgreSQL, send the assignee queries that completing ``task_id`` will likely make together with
        the task's own read, so that one round trip brings both (taskindex.read_ahead). They are guessed from the
        instance as this process last saved it, when it has it."""
        if not in_pipeline(conn):
            return
        live = self._instances.holding(task_id)
        definition = self._definitions.known(live.row.definition_id) if live is not None else None
        if definition is not None:
            taskindex.read_ahead(conn, live, task_id, definition, now)

    def _keep(self, live: LiveInstance) -> None:
        """After the commit: the instance as saved, kept for the next command on it."""
        live.resolve_ids()
        self._instances.put(live)

    def _script_engine(self, uow: UnitOfWork, instance_id: int | None) -> RestrictedScriptEngine:
        return RestrictedScriptEngine(services=services.bound(uow, instance_id), clock=Clock(uow.now),
                                      functions=services.calendar_functions(uow))

    # --- queries ------------------------------------------------------------------------------------

    def definitions(self) -> list[dict]:
        with self.read() as session:
            return queries.definitions(session)

    def tasks(self, user: str | None = None, instance: int | None = None, state: str | None = "open") -> list[dict]:
        with self.read() as session:
            return queries.tasks(session, user, instance, state, now=self.clock.now())

    def instances(self, process: str | None = None, state: str | None = None) -> list[dict]:
        with self.read() as session:
            return queries.instances(session, process, state)

    def instance_page(self, **filters) -> dict:
        """A page of instances, newest first, filtered and counted in the database (queries.instance_page)."""
        with self.read() as session:
            return queries.instance_page(session, **filters)

    def show(self, instance_id: int, viewer: str | None = None) -> dict:
        """An instance with its data, tasks, history and files; with ``viewer``, only if they may see it (a
        view of a classified instance is recorded)."""
        if viewer is not None:
            with self.unit_of_work() as uow:
                access.check_may_see(uow.conn, instance_id, viewer, uow.now)
        with self.db.connect() as conn:
            return self._shown(conn, instance_id)

    def event_log(self, process: str | None = None, start: datetime | None = None,
                  end: datetime | None = None) -> list[dict]:
        """The process-mining event log of the instances started in [start, end) (engine.eventlog)."""
        with self.db.connect() as conn:
            return eventlog.events(conn, process, start or _EPOCH, end or self.clock.now() + timedelta(seconds=1))

    def replay(self, instance_id: int) -> dict:
        """Rebuild the instance from its audit trail and compare it with what is stored (engine.replay)."""
        with self.db.connect() as conn:
            store.instance_row(conn, instance_id)
            return replaying.replay(conn, instance_id, self._definitions)

    def verify_audit(self) -> dict:
        """Check the audit trail's hash chains; names the first broken event."""
        with self.db.connect() as conn:
            return audit.verify(conn)

    # --- files --------------------------------------------------------------------------------------

    def attach(self, instance_id: int, actor: str, name: str, content: bytes, note: str = "") -> dict:
        """Keep a file with an instance; the same name again is its next version."""
        with self.unit_of_work() as uow:
            return attachments.attach(uow.conn, instance_id, actor, name, content, note, uow.now)

    def attachments(self, instance_id: int, viewer: str) -> list[dict]:
        with self.unit_of_work() as uow:
            access.check_may_see(uow.conn, instance_id, viewer, uow.now)
            return attachments.listing(uow.conn, instance_id)

    def download(self, attachment_id: int, viewer: str) -> tuple[dict, bytes]:
        with self.unit_of_work() as uow:
            instance_id, content = attachments.content_of(uow.conn, attachment_id)
            access.check_may_see(uow.conn, instance_id, viewer, uow.now)
            return attachments.listing(uow.conn, instance_id, attachment_id)[0], content

    def compliance(self, process: str, start: datetime | None = None, end: datetime | None = None) -> dict:
        """Every time-limited step of ``process`` instances started in [start, end): met or late, by how much."""
        now = self.clock.now()
        with self.db.connect() as conn:
            return compliance.report(conn, process, start or _EPOCH, end or now + timedelta(seconds=1), now,
                                     self._limit_names(conn))

    def report(self, start: datetime | None = None, end: datetime | None = None,
               process: str | None = None) -> dict:
        """Instances started and finished, step durations and every time limit, for instances started in
        [start, end) (engine.reports)."""
        now = self.clock.now()
        with self.db.connect() as conn:
            return reports.report(conn, start or _EPOCH, end or now + timedelta(seconds=1), now,
                                  self._limit_names(conn), process)

    def _limit_names(self, conn):
        def limit_name(definition_id: int, task_name: str) -> str | None:
            spec = self._definitions.get(conn, definition_id).compiled.spec.task_specs.get(task_name)
            return taskindex.spec_properties(spec).get("limitName") if spec is not None else None
        return limit_name


def _field_titles(definition: Definition) -> dict[str, str]:
    """The titles of the data fields, from the start form first and then every task form of the version."""
    start = definition.properties.get("start_form")
    ordered = ([definition.forms[start]] if start in definition.forms else []) + \
        [schema for name, schema in sorted(definition.forms.items()) if name != start]
    return forms.field_titles(ordered)


def _check_may_start(definition: Definition, person: directory.Profile) -> None:
    allowed = definition.properties.get("start_roles") or []
    if allowed and not set(allowed) & set(person.roles):
        raise Forbidden(f"{person.username} 无权发起「{definition.properties['title']}」/ {person.username} may not "
                        f"start {definition.key}: it needs one of the roles {', '.join(allowed)}")
    directory.check_variant(person, definition.key)


def _check_rule(environment, check: str | None, message: str | None, data: dict) -> None:
    """A designer's rule over the submitted data that a form alone cannot state (``startCheck`` on a start
    event, ``completeCheck`` on a task): refused with the designer's message when it does not hold."""
    if not check:
        return
    message = message or f"the data does not satisfy {check}"
    try:
        satisfied = environment.evaluate(check, data)
    except Exception as err:
        raise InvalidInput(f"{message} ({err})") from err
    if not satisfied:
        raise InvalidInput(message)


def _made_at(environment, expression: str | None, data: dict, now: datetime) -> datetime:
    """When the step was actually made (e.g. the phone call's recorded time), checked before anything runs."""
    try:
        return taskindex.done_at(expression, environment, data, now)
    except Exception as err:  # the designer's expression over the submitted data: any failure is bad input
        raise InvalidInput(f"记录的时间不对 / the recorded time of this step is not usable: {err}") from err


def _check_open(task, row: store.InstanceRow) -> None:
    if task.state != "open":
        by = f" by {task.completed_by}" if task.completed_by else ""
        at = task.completed_at.isoformat() if task.completed_at else "?"
        raise Conflict(f"任务「{task.title}」已经办结 / task {task.id} is already {task.state}{by} at {at}")
    _check_running(row)


def _check_running(row: store.InstanceRow) -> None:
    if row.state != "running":
        raise Conflict(f"流程实例 {row.id} 的状态是 {row.state}，不能办理 / instance {row.id} is {row.state}"
                       + (f": {row.error}" if row.error else ""))


def _handovers(uow: UnitOfWork, live: LiveInstance, opened) -> list[dict]:
    """An audit event for each new task that went to an acting person, naming the rule that sent it (the
    event's content names the task's id, so that waits for the ids)."""
    handed_over = [(task, assignment) for _, task, assignment in opened if assignment.handed_over_from]
    if handed_over:
        live.resolve_ids()
    return [audit.event(action="absence_handover", actor=SYSTEM, at=uow.now, instance_id=live.row.id,
                        task_id=task["id"], on_behalf_of=assignment.handed_over_from,
                        data={"task": task["name"], "from": assignment.handed_over_from, "to": task["assignee"],
                              "rule": assignment.rule})
            for task, assignment in handed_over]


def _announce(uow: UnitOfWork, live: LiveInstance, opened, reopened: dict[str, dict]) -> None:
    """Tell each new task's assignee it is waiting for them (a re-opened step says why it came back)."""
    for spiff_id, task, _ in opened:
        if task["assignee"] is None:
            continue
        again = reopened.get(spiff_id)
        kind, message = ((again["notice"], again["message"]) if again else
                         (notify.NEW_TASK, f"新待办：「{live.row.title}」的「{task['title']}」"))
        notify.send(uow, [task["assignee"]], kind, message, instance_id=live.row.id, spiff_task_id=spiff_id)


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


