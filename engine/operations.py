"""Admins' operations on instances: suspend and resume, cancel, retry a failed instance, and migrate running
instances to another version of their definition. Each is one audited command, for admins only.

A suspended instance keeps its state but its tasks leave every inbox and its timers are set aside (they are
armed again on resume, and any that fell due meanwhile fire at the next worker pass). Migration first checks
every instance asked for: each of its steps — active or finished — must exist in the target version
(SpiffWorkflow's spec diff); if any instance cannot move, none moves.
"""
from __future__ import annotations

from sqlalchemy import bindparam, delete, select, update
from SpiffWorkflow.bpmn.util.diff import diff_workflow, migrate_workflow
from SpiffWorkflow.util.task import TaskState

from . import audit, directory, outcomes, steps, store
from .bpmn import FINISHED, OPEN, SERIALIZER
from .errors import Conflict, Forbidden, InvalidInput, NotFound
from .models import DefinitionVersion, Instance, TaskIndex, Timer

ADMIN = "admin"
_SET_STATE = (update(Instance).where(Instance.id == bindparam("b_id"), Instance.lock_version == bindparam("b_version"))
              .values(state=bindparam("b_state"), ended_at=bindparam("b_ended"), lock_version=bindparam("b_next")))


def check_admin(conn, actor: str) -> None:
    if ADMIN not in directory.profile(conn, actor).roles:
        raise Forbidden(f"只有管理员可以这样做 / only admins may do this; {actor} is not an admin")


class InstanceOperations:
    """Mixed into engine.commands.Engine: these use its unit of work, caches and shared step."""

    def suspend(self, instance_id: int, actor: str, reason: str) -> dict:
        with self.unit_of_work() as uow:
            row = self._admin_row(uow, instance_id, actor, ("running",))
            _set_state(uow.conn, row, "suspended")
            uow.conn.execute(delete(Timer).where(Timer.instance_id == row.id))
            audit.record(uow.conn, action="suspend", actor=actor, at=uow.now, instance_id=row.id,
                         data={"reason": outcomes.required_reason(reason)})
            return {"instance": row.id, "state": "suspended"}

    def resume(self, instance_id: int, actor: str, reason: str) -> dict:
        with self.unit_of_work() as uow:
            row = self._admin_row(uow, instance_id, actor, ("suspended",))
            _set_state(uow.conn, row, "running")
            definition = self._definitions.get(uow.conn, row.definition_id)
            live = store.load(uow.conn, row, definition.compiled, self._script_engine(uow, row.id), self._instances)
            store.arm_timers(uow.conn, live)
            audit.record(uow.conn, action="resume", actor=actor, at=uow.now, instance_id=row.id,
                         data={"reason": outcomes.required_reason(reason)})
            return {"instance": row.id, "state": "running"}

    def cancel(self, instance_id: int, actor: str, reason: str) -> dict:
        with self.unit_of_work() as uow:
            row = self._admin_row(uow, instance_id, actor, ("running", "suspended", "failed"))
            reason = outcomes.required_reason(reason)
            _set_state(uow.conn, row, "cancelled", ended_at=uow.now)
            uow.conn.execute(delete(Timer).where(Timer.instance_id == row.id))
            closed = uow.conn.execute(update(TaskIndex).where(TaskIndex.instance_id == row.id,
                                                              TaskIndex.state == "open")
                                      .values(state="cancelled", completed_at=uow.now)).rowcount
            audit.record(uow.conn, action="cancel", actor=actor, at=uow.now, instance_id=row.id,
                         data={"reason": reason, "tasks_cancelled": closed})
            return {"instance": row.id, "state": "cancelled", "tasks_cancelled": closed}

    def retry(self, instance_id: int, actor: str, reason: str) -> dict:
        """Run a failed instance's failed steps again (after the cause was fixed: the data, the directory, or
        a migration to a corrected version)."""
        with self.unit_of_work() as uow:
            row = self._admin_row(uow, instance_id, actor, ("failed",))
            definition = self._definitions.get(uow.conn, row.definition_id)
            live = store.load(uow.conn, row, definition.compiled, self._script_engine(uow, row.id), self._instances)
            failed = list(live.tracked.workflow.get_tasks(state=TaskState.ERROR))
            if not failed:
                raise Conflict(f"流程实例 {row.id} 没有出错的步骤 / instance {row.id} has no failed step to retry")

            def step():
                for task in failed:
                    steps.reset_to(live.tracked.workflow, str(task.id))

            event = outcomes.event("retry", actor, reason=outcomes.required_reason(reason),
                                   steps=[t.task_spec.name for t in failed], error=row.error)
            failure = self._advance(uow, live, definition, step, event, sent_by=actor)
        return outcomes.raise_if_failed(outcomes.result(live), failure)

    def migration_check(self, instance_ids: list[int], to_version: int, actor: str) -> dict:
        with self.unit_of_work() as uow:
            uow.rollback_only = True
            return self._plan(uow, instance_ids, to_version, actor)[0]

    def migrate_instances(self, instance_ids: list[int], to_version: int, actor: str, reason: str) -> dict:
        """Move instances to version ``to_version`` of their definition: all of them, or none."""
        reason = outcomes.required_reason(reason)
        with self.unit_of_work() as uow:
            report, plans = self._plan(uow, instance_ids, to_version, actor)
            if not report["movable"]:
                raise Conflict("有流程实例不能迁移，未做任何迁移 / not every instance can move to version "
                               f"{to_version}; none was moved", [report])
            for row, live, target, diffs in plans:
                top_diff, sub_diffs = diffs
                workflow = live.tracked.workflow
                migrate_workflow(top_diff, workflow, target.compiled.spec)
                for sub_id, sub_diff in sub_diffs.items():
                    subprocess = workflow.subprocesses[sub_id]
                    migrate_workflow(sub_diff, subprocess, target.compiled.subprocess_specs[subprocess.spec.name])
                uow.conn.execute(update(Instance).where(Instance.id == row.id).values(definition_id=target.id))
                from_version = self._definitions.get(uow.conn, row.definition_id).version
                row.definition_id = target.id
                event = outcomes.event("migrate", actor, reason=reason, from_version=from_version,
                                       to_version=target.version)
                self._advance(uow, live, target, workflow.do_engine_steps, event, sent_by=actor, keep_state=True)
            return report

    def _plan(self, uow, instance_ids: list[int], to_version: int, actor: str):
        conn = uow.conn
        check_admin(conn, actor)
        if not instance_ids:
            raise InvalidInput("请选择要迁移的流程实例 / choose the instances to migrate")
        report, plans = {"to_version": to_version, "instances": [], "movable": True}, []
        for instance_id in instance_ids:
            row = store.instance_row(conn, instance_id)
            target_id = conn.scalar(select(DefinitionVersion.id).where(DefinitionVersion.process_key == row.process_key,
                                                                       DefinitionVersion.version == to_version))
            if target_id is None:
                raise NotFound(f"{row.process_key} 没有第 {to_version} 版 / {row.process_key} has no version {to_version}")
            current = self._definitions.get(conn, row.definition_id)
            target = self._definitions.get(conn, target_id)
            entry = {"instance": row.id, "title": row.title, "state": row.state, "from_version": current.version,
                     "missing_active": [], "missing_finished": [], "movable": False}
            report["instances"].append(entry)
            if row.state not in ("running", "suspended", "failed"):
                entry["reason"] = f"instance is {row.state}"
            elif current.id == target.id:
                entry["reason"] = "already on that version"
            else:
                live = store.load(conn, row, current.compiled, self._script_engine(uow, row.id), self._instances)
                diffs = diff_workflow(SERIALIZER.registry, live.tracked.workflow, target.compiled.spec,
                                      target.compiled.subprocess_specs)
                removed = list(diffs[0].removed)
                for sub_id, sub_diff in diffs[1].items():
                    if sub_diff is None:
                        removed.extend(live.tracked.workflow.subprocesses[sub_id].get_tasks())
                    else:
                        removed.extend(sub_diff.removed)
                # Predicted tasks are dropped and predicted again from the new version; open and finished ones stay.
                blocking = [task for task in removed if task.state & (OPEN | FINISHED)]
                for task in blocking:
                    key = "missing_active" if task.state & OPEN else "missing_finished"
                    name = task.task_spec.bpmn_name or task.task_spec.name
                    if name not in entry[key]:
                        entry[key].append(name)
                entry["movable"] = not blocking
                if blocking:
                    entry["reason"] = "steps missing in the target version"
                else:
                    plans.append((row, live, target, diffs))
            report["movable"] = report["movable"] and entry["movable"]
        return report, plans

    def _admin_row(self, uow, instance_id: int, actor: str, states: tuple) -> store.InstanceRow:
        check_admin(uow.conn, actor)
        row = store.instance_row(uow.conn, instance_id)
        if row.state not in states:
            raise Conflict(f"流程实例 {row.id} 的状态是 {row.state} / instance {row.id} is {row.state}; this needs "
                           f"{' or '.join(states)}")
        return row


def _set_state(conn, row: store.InstanceRow, state: str, ended_at=None) -> None:
    changed = conn.execute(_SET_STATE, {"b_id": row.id, "b_version": row.lock_version, "b_state": state,
                                        "b_ended": ended_at, "b_next": row.lock_version + 1}).rowcount
    if changed != 1:
        raise Conflict(store.CONFLICT_MESSAGE)
    row.lock_version, row.state = row.lock_version + 1, state
