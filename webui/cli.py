"""The ``govflow`` command line: the same engine commands and queries the web UI calls.

With ``--json`` every command prints JSON on stdout. A failure exits non-zero with a one-line error on
stderr (and, with ``--json``, the error as JSON on stdout).
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click

from engine import directory, eventlog, reports, roster
from engine.calendar_admin import CalendarAdmin
from engine.directory_admin import DirectoryAdmin
from engine.clock import Clock, parse_instant
from engine.commands import Engine
from engine.scenarios import find as scenario_files
from engine.errors import GovflowError
from webui.demo import run_scenarios

PROCESSES = Path(__file__).resolve().parent.parent / "processes"
DEMO_DIRECTORY = PROCESSES / "directory.json"


class Context:
    def __init__(self, now: str | None, as_json: bool):
        self.as_json = as_json
        clock = Clock(parse_instant(now)) if now else Clock.from_env()
        self._clock = clock
        self._engine: Engine | None = None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = Engine(clock=self._clock)
        return self._engine

    def emit(self, value, human: str | None = None) -> None:
        if self.as_json or human is None:
            click.echo(json.dumps(value, ensure_ascii=False, indent=2))
        else:
            click.echo(human)


pass_ctx = click.make_pass_decorator(Context)


def _period(start: str | None, end: str | None) -> tuple:
    """The --from and --to options as instants (None where not given)."""
    return tuple(parse_instant(text) if text else None for text in (start, end))


def _data(text: str | None) -> dict:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise click.BadParameter(f"--data is not valid JSON: {err.msg} at column {err.colno}") from err
    if not isinstance(value, dict):
        raise click.BadParameter("--data must be a JSON object, e.g. '{\"reason\": \"...\"}'")
    return value


@click.group()
@click.option("--now", help="Fix the clock at this ISO-8601 instant (default: GOVFLOW_NOW, else real time).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def cli(ctx, now, as_json):
    """GovFlow 政务流程引擎."""
    ctx.obj = Context(now, as_json)


@cli.command()
@pass_ctx
def init(ctx: Context):
    """Create or migrate the database."""
    ctx.engine.migrate()
    ctx.emit({"database": "ready"}, "database ready")


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--as", "actor", default="admin", show_default=True)
@pass_ctx
def deploy(ctx: Context, paths, actor):
    """Deploy process models (default: every model under processes/)."""
    results = [r.to_dict() for r in ctx.engine.deploy(list(paths) or [PROCESSES], actor)]
    human = "\n".join(f"{r['key']} v{r['version']} {r['status']}"
                      + (" (identical content is already deployed)" if r["status"] == "unchanged" else "")
                      for r in results)
    ctx.emit(results, human)


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@pass_ctx
def validate(ctx: Context, paths):
    """Check process models exactly as deploy would (XSD, roles, forms, DMN, expressions), storing nothing."""
    results = [r.to_dict() for r in ctx.engine.deploy(list(paths) or [PROCESSES], "admin", check_only=True)]
    ctx.emit(results, "\n".join(f"{r['key']}: {'ok' if r['status'] == 'valid' else 'ok, same as v' + str(r['version'])}"
                                  for r in results))


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@pass_ctx
def scenarios(ctx: Context, paths):
    """Run scenario fixtures (default: every processes/*/scenarios/*.json), each in a fresh temporary
    database with the demo directory and the models as they are on disk now."""
    files = [p for path in paths for p in ([path] if path.is_file() else sorted(path.rglob("scenarios/*.json")))]
    results = run_scenarios(files or scenario_files(PROCESSES), DEMO_DIRECTORY, PROCESSES)
    ctx.emit([r.to_dict() for r in results],
             "\n".join(f"{'PASS' if r.passed else 'FAIL'}  {r.source}" + "".join(f"\n      {f}" for f in r.failures)
                       for r in results))
    failed = sum(not r.passed for r in results)
    if failed:
        click.echo(f"govflow: {failed} of {len(results)} scenarios failed", err=True)
        raise click.exceptions.Exit(1)


@cli.command()
@pass_ctx
def definitions(ctx: Context):
    """Deployed process keys, versions and hashes."""
    rows = ctx.engine.definitions()
    ctx.emit(rows, "\n".join(f"{r['key']}\tv{r['version']}\t{r['sha256'][:12]}\t{r['title']}" for r in rows))


@cli.command()
@click.argument("key")
@click.option("--as", "actor", required=True)
@click.option("--data", "data_text")
@pass_ctx
def start(ctx: Context, key, actor, data_text):
    """Start an instance of the latest version of KEY."""
    result = ctx.engine.start(key, actor, _data(data_text))
    ctx.emit(result, _describe_result(result))


@cli.command()
@click.option("--as", "actor")
@click.option("--instance", "instance_id", type=int)
@click.option("--state", default="open", show_default=True, help="open, completed, cancelled or all")
@pass_ctx
def tasks(ctx: Context, actor, instance_id, state):
    """User tasks (by default the open ones)."""
    rows = ctx.engine.tasks(actor, instance_id, None if state == "all" else state)
    ctx.emit(rows, "\n".join(_task_line(t) for t in rows) or "no tasks")


@cli.command()
@click.argument("task_id", type=int)
@click.option("--as", "actor", required=True)
@click.option("--data", "data_text")
@pass_ctx
def complete(ctx: Context, task_id, actor, data_text):
    """Complete a task with form data."""
    result = ctx.engine.complete(task_id, actor, _data(data_text))
    ctx.emit(result, _describe_result(result))


@cli.command()
@click.option("--process")
@click.option("--state")
@pass_ctx
def instances(ctx: Context, process, state):
    """Process instances."""
    rows = ctx.engine.instances(process, state)
    ctx.emit(rows, "\n".join(f"#{r['id']}\t{r['process']} v{r['version']}\t{r['state']}\t{r['title']}"
                             for r in rows) or "no instances")


@cli.command()
@click.argument("instance_id", type=int)
@click.option("--as", "viewer", help="Show it only if this user may see it (classified instances).")
@pass_ctx
def show(ctx: Context, instance_id, viewer):
    """One instance: state, data, tasks, history and files."""
    ctx.emit(ctx.engine.show(instance_id, viewer))


@cli.command()
@click.argument("instance_id", type=int)
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--as", "actor", required=True)
@click.option("--name", help="The file's name in GovFlow (default: the file's own name).")
@click.option("--note", default="")
@pass_ctx
def attach(ctx: Context, instance_id, path, actor, name, note):
    """Keep a file with an instance; the same name again is its next version."""
    saved = ctx.engine.attach(instance_id, actor, name or path.name, path.read_bytes(), note)
    ctx.emit(saved, f"#{saved['id']} {saved['name']} v{saved['version']} ({saved['size']} bytes)")


@cli.command()
@click.argument("instance_id", type=int)
@click.option("--as", "viewer", required=True)
@pass_ctx
def attachments(ctx: Context, instance_id, viewer):
    """The files of an instance, every version."""
    rows = ctx.engine.attachments(instance_id, viewer)
    ctx.emit(rows, "\n".join(f"#{r['id']}\t{r['name']} v{r['version']}\t{r['size']} bytes\t{r['uploaded_by']}"
                             for r in rows) or "no files")


@cli.command()
@click.argument("attachment_id", type=int)
@click.option("--as", "viewer", required=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
@pass_ctx
def download(ctx: Context, attachment_id, viewer, output):
    """Write one version of a file to OUTPUT."""
    meta, content = ctx.engine.download(attachment_id, viewer)
    output.write_bytes(content)
    ctx.emit({**meta, "written_to": str(output)}, f"{meta['name']} v{meta['version']} -> {output}")


@cli.command()
@click.option("--once", is_flag=True, help="Run one pass (timers due now, duty hand-over, overdue) and exit.")
@click.option("--interval", default=5.0, show_default=True, help="Seconds between passes.")
@pass_ctx
def worker(ctx: Context, once, interval):
    """Fire due BPMN timers, hand duty tasks over to whoever is on duty now, notify overdue tasks."""
    while True:
        fired = ctx.engine.fire_due_timers()
        moved = roster.hand_over(ctx.engine)
        late = ctx.engine.flag_overdue()
        if once:
            lines = [f"instance {f['instance']}: {', '.join(f['timers'])} {f['result']}" for f in fired]
            lines += [_handover_line(m) for m in moved]
            lines += [f"task {t['task']} of instance {t['instance']} is overdue: notified {', '.join(t['notified'])}"
                      for t in late]
            ctx.emit({"timers": fired, "handovers": moved, "overdue": late},
                     "\n".join(lines) or "no timers due, no duty tasks to hand over, nothing newly overdue")
            return
        for item in fired:
            click.echo(json.dumps(item, ensure_ascii=False))
        for item in moved:
            click.echo(json.dumps({"handover": item}, ensure_ascii=False))
        for item in late:
            click.echo(json.dumps({"overdue": item}, ensure_ascii=False))
        time.sleep(interval)


# --- task actions: the same engine commands the web UI calls ------------------------------------------

@cli.command()
@click.argument("task_id", type=int)
@click.option("--as", "actor", required=True)
@pass_ctx
def claim(ctx: Context, task_id, actor):
    """认领: take an unassigned task of one of your roles."""
    ctx.emit(ctx.engine.claim(task_id, actor), f"task {task_id} claimed by {actor}")


@cli.command()
@click.argument("task_id", type=int)
@click.option("--as", "actor", required=True)
@pass_ctx
def release(ctx: Context, task_id, actor):
    """释放: give a claimed task back to its role."""
    ctx.emit(ctx.engine.release(task_id, actor), f"task {task_id} released")


@cli.command("return")
@click.argument("task_id", type=int)
@click.option("--to", "to_task_id", type=int, required=True, help="The earlier step's task id (see `show`).")
@click.option("--reason", required=True)
@click.option("--as", "actor", required=True)
@pass_ctx
def return_(ctx: Context, task_id, to_task_id, reason, actor):
    """退回: return the task to an earlier step, re-opened for whoever did it."""
    result = ctx.engine.return_task(task_id, actor, to_task_id, reason)
    ctx.emit(result, _describe_result(result))


@cli.command()
@click.argument("task_id", type=int)
@click.argument("to_user")
@click.option("--reason", required=True)
@click.option("--as", "actor", required=True)
@pass_ctx
def transfer(ctx: Context, task_id, to_user, reason, actor):
    """转办: give the task to another person."""
    ctx.emit(ctx.engine.transfer(task_id, actor, to_user, reason), f"task {task_id} transferred to {to_user}")


@cli.command()
@click.argument("task_id", type=int)
@click.argument("to_user")
@click.option("--reason", required=True)
@click.option("--as", "actor", required=True)
@pass_ctx
def delegate(ctx: Context, task_id, to_user, reason, actor):
    """委派: let another person act on the task; it comes back to you afterwards."""
    ctx.emit(ctx.engine.delegate(task_id, actor, to_user, reason), f"task {task_id} delegated to {to_user}")


@cli.command("add-signer")
@click.argument("task_id", type=int)
@click.argument("signer")
@click.option("--position", type=click.Choice(["before", "after"]), required=True)
@click.option("--reason", required=True)
@click.option("--as", "actor", required=True)
@pass_ctx
def add_signer(ctx: Context, task_id, signer, position, reason, actor):
    """加签: another person signs the task before or after you."""
    ctx.emit(ctx.engine.add_signer(task_id, actor, signer, position, reason),
           f"{signer} signs task {task_id} {position} its holder")


@cli.command()
@click.argument("task_id", type=int)
@click.option("--reason", required=True)
@click.option("--as", "actor", required=True)
@pass_ctx
def withdraw(ctx: Context, task_id, reason, actor):
    """撤回: take back your completed step while the next one is untouched."""
    result = ctx.engine.withdraw(task_id, actor, reason)
    ctx.emit(result, _describe_result(result))


@cli.command("copy")
@click.argument("instance_id", type=int)
@click.argument("recipients", nargs=-1, required=True)
@click.option("--note", default="")
@click.option("--as", "actor", required=True)
@pass_ctx
def copy_(ctx: Context, instance_id, recipients, note, actor):
    """抄送: send a read-only copy of an instance."""
    copies = ctx.engine.copy_to(instance_id, actor, list(recipients), note)
    ctx.emit(copies, "\n".join(f"copy {c['id']} to {c['recipient']}" for c in copies))


@cli.command("read-copy")
@click.argument("copy_id", type=int)
@click.option("--as", "actor", required=True)
@pass_ctx
def read_copy(ctx: Context, copy_id, actor):
    """Open a copy sent to you (records the read receipt)."""
    result = ctx.engine.read_copy(copy_id, actor)
    ctx.emit(result, f"copy {copy_id} of instance {result['instance']} read at {result['read_at']}")


@cli.command()
@click.argument("instance_id", type=int)
@click.option("--note", default="")
@click.option("--as", "actor", required=True)
@pass_ctx
def urge(ctx: Context, instance_id, note, actor):
    """催办: notify whoever the instance is waiting for."""
    notified = ctx.engine.urge(instance_id, actor, note)
    ctx.emit({"notified": notified}, f"notified {', '.join(notified) or 'nobody'}")


@cli.command()
@click.argument("instance_id", type=int)
@click.argument("text")
@click.option("--as", "actor", required=True)
@pass_ctx
def comment(ctx: Context, instance_id, text, actor):
    """Add a comment to an instance."""
    ctx.emit(ctx.engine.comment(instance_id, actor, text), f"comment added to instance {instance_id}")


@cli.command()
@click.option("--as", "user", required=True)
@click.option("--tab", type=click.Choice(["todo", "claimable", "done", "copied"]), default="todo", show_default=True)
@click.option("--q", help="Search titles.")
@click.option("--process")
@click.option("--status", help="overdue or due_soon; for copies unread or read")
@click.option("--page", default=1, show_default=True, type=int)
@pass_ctx
def inbox(ctx: Context, user, tab, q, process, status, page):
    """A person's inbox: 待办, 可认领, 已办 or 抄送我的."""
    result = ctx.engine.inbox(user, tab, q=q, process=process, status=status, page=page)
    lines = [f"{r['id']}\t{r['process_title']}\t{r['instance_title']}\t{r.get('title', r.get('note', ''))}"
             f"\t{r.get('due_at') or r.get('sent_at') or ''}" for r in result["rows"]]
    ctx.emit(result, "\n".join(lines + [f"{result['total']} in all, page {result['page']}"]))


@cli.command()
@click.option("--as", "user", required=True)
@click.option("--unread", is_flag=True)
@click.option("--mark-read", is_flag=True, help="Mark them all read.")
@pass_ctx
def notifications(ctx: Context, user, unread, mark_read):
    """In-app notifications (new task, urged, returned, overdue, copied)."""
    rows = ctx.engine.notifications(user, unread_only=unread)
    if mark_read:
        ctx.engine.mark_read(user)
    ctx.emit(rows, "\n".join(f"{n['created_at']}\t{n['kind']}\t{n['message']}" for n in rows) or "none")


@cli.group()
def token():
    """API tokens for scripts calling /api/."""


@token.command("issue")
@click.argument("label")
@click.option("--as", "user", required=True)
@pass_ctx
def token_issue(ctx: Context, label, user):
    issued = ctx.engine.issue_token(user, label)
    ctx.emit({"token": issued, "label": label}, issued)


@token.command("revoke")
@click.argument("label")
@click.option("--as", "user", required=True)
@pass_ctx
def token_revoke(ctx: Context, label, user):
    ctx.emit({"revoked": ctx.engine.revoke_token(user, label)}, f"token {label} revoked")



@cli.group("audit")
def audit_group():
    """The audit trail."""


@audit_group.command("export")
@click.option("--format", "fmt", type=click.Choice(["xes", "csv"]), default="xes", show_default=True)
@click.option("--process", help="Only this process (a key, or a procedure with all its district variants).")
@click.option("--from", "start", help="Instances started at or after this ISO-8601 instant.")
@click.option("--to", "end", help="Instances started before this ISO-8601 instant.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
@pass_ctx
def audit_export(ctx: Context, fmt, process, start, end, output):
    """The event log for process mining, as XES (IEEE 1849) or CSV."""
    rows = ctx.engine.event_log(process, *_period(start, end))
    output.write_bytes(eventlog.to_xes(rows) if fmt == "xes" else eventlog.to_csv(rows).encode("utf-8"))
    cases = len({row["case_id"] for row in rows})
    ctx.emit({"file": str(output), "format": fmt, "cases": cases, "events": len(rows)},
             f"{output}: {cases} cases, {len(rows)} events ({fmt})")

@cli.command()
@click.argument("instance_ids", nargs=-1, type=int)
@click.option("--all", "every", is_flag=True, help="Replay every instance.")
@pass_ctx
def replay(ctx: Context, instance_ids, every):
    """Rebuild instances from their audit trail and compare with what is stored; exit 1 naming where one parts."""
    ids = [i["id"] for i in ctx.engine.instances()] if every else list(instance_ids)
    if not ids:
        raise click.UsageError("give INSTANCE ids or --all")
    results = [ctx.engine.replay(instance_id) for instance_id in ids]
    parted = [r for r in results if not r["consistent"]]
    lines = [f"instance {r['instance']}: " + ("consistent" if r["consistent"] else
             f"parts at event {r['parted_at']['event']}: {r['parted_at']['message']}") for r in results]
    if parted:
        raise GovflowError("\n".join(line for line, r in zip(lines, results) if not r["consistent"]), results)
    ctx.emit(results[0] if len(results) == 1 else results, "\n".join(lines))

@audit_group.command("report")
@click.option("--process", help="Only this process (a key, or a procedure with all its district variants).")
@click.option("--from", "start", help="Instances started at or after this ISO-8601 instant.")
@click.option("--to", "end", help="Instances started before this ISO-8601 instant.")
@click.option("--csv", "section", type=click.Choice(sorted(reports.CSV_SECTIONS)),
              help="Print one table of the report as CSV instead.")
@pass_ctx
def audit_report(ctx: Context, process, start, end, section):
    """Instances started and finished, time per step (median, p90) and every time limit met or missed."""
    result = ctx.engine.report(*_period(start, end), process)
    if section:
        click.echo(reports.to_csv(result, section), nl=False)
        return
    lines = [f"{p['title']}\tstarted {p['started']}\tfinished {p['finished']}" for p in result["procedures"]]
    lines += [f"{s['process']}\t{s['step']}\tmedian {s['median_minutes']} min\tp90 {s['p90_minutes']} min"
              for s in result["steps"]]
    lines += [f"{t['process']}\t{t['limit']}\tmet {t['met']}\tlate {t['late']}\toverdue {t['overdue']}\t"
              f"worst {t['max_minutes_late']} min" for t in result["limit_totals"]]
    ctx.emit(result, "\n".join(lines) or "no instances in the period")

@audit_group.command("verify")
@pass_ctx
def audit_verify(ctx: Context):
    """Check every hash chain of the audit trail (global and per instance); exit 1 naming the first broken event."""
    result = ctx.engine.verify_audit()
    if result["broken"] is not None:
        raise GovflowError(result["broken"]["message"], [result])
    ctx.emit(result, f"audit trail intact: {result['events']} events, {result['instances']} instance chains")


# --- admins' operations on instances --------------------------------------------------------------------

def _operation(name: str, doc: str):
    @cli.command(name)
    @click.argument("instance_id", type=int)
    @click.option("--reason", required=True)
    @click.option("--as", "actor", required=True)
    @pass_ctx
    def operation(ctx: Context, instance_id, reason, actor):
        result = getattr(ctx.engine, name)(instance_id, actor, reason)
        ctx.emit(result, f"instance {instance_id}: {result['state']}")
    operation.__doc__ = doc
    return operation


suspend = _operation("suspend", "Suspend an instance (admins): its tasks leave the inboxes, its timers wait.")
resume = _operation("resume", "Resume a suspended instance (admins).")
cancel = _operation("cancel", "Cancel an instance with a reason (admins).")
retry = _operation("retry", "Run a failed instance's failed steps again (admins), e.g. after a fix and a migration.")


@cli.command()
@click.argument("instance_ids", nargs=-1, type=int, required=True)
@click.option("--to-version", type=int, required=True)
@click.option("--reason")
@click.option("--check", is_flag=True, help="Only report what would move; move nothing.")
@click.option("--as", "actor", required=True)
@pass_ctx
def migrate(ctx: Context, instance_ids, to_version, reason, check, actor):
    """Move instances to another version of their definition (admins): all of them, or none."""
    ids = list(instance_ids)
    report = ctx.engine.migration_check(ids, to_version, actor) if check else \
        ctx.engine.migrate_instances(ids, to_version, actor, reason or "")
    lines = [f"instance {e['instance']} (version {e['from_version']}): "
             + ("can move" if e["movable"] else f"cannot move: {e.get('reason')} "
                f"{', '.join(e['missing_active'] + e['missing_finished'])}") for e in report["instances"]]
    ctx.emit(report, "\n".join(lines))

@cli.group()
def users():
    """The directory: users, roles, departments, portfolios, districts, AB-role partners."""


@users.command("list")
@pass_ctx
def users_list(ctx: Context):
    with ctx.engine.read() as session:
        rows = directory.list_users(session)
    ctx.emit(rows, "\n".join(f"{u['username']}\t{u['display_name']}\t{u['department'] or '-'}\t{','.join(u['roles'])}"
                             for u in rows))


@users.command("load")
@click.argument("path", type=click.Path(exists=True, path_type=Path), required=False)
@pass_ctx
def users_load(ctx: Context, path):
    """Load a directory file (default: the demo directory in processes/)."""
    document = json.loads((path or DEMO_DIRECTORY).read_text(encoding="utf-8"))
    with ctx.engine.unit_of_work() as uow:
        counts = directory.load(uow.session, document)
    ctx.emit(counts, ", ".join(f"{n} {k}" for k, n in counts.items()))


@users.command("add")
@click.argument("username")
@click.option("--name", "display_name", required=True)
@click.option("--department")
@click.option("--role", "roles", multiple=True, help="role or role@department; repeat for several")
@click.option("--portfolio", multiple=True, help="a department in a vice-mayor's charge; repeat for several")
@click.option("--password")
@pass_ctx
def users_add(ctx: Context, username, display_name, department, roles, portfolio, password):
    """Create or update a user."""
    item = {"username": username, "display_name": display_name, "department": department, "roles": list(roles),
            "password": password}
    if portfolio:
        item["portfolio"] = list(portfolio)
    with ctx.engine.unit_of_work() as uow:
        directory.put_user(uow.session, item)
        saved = directory.role_specs(uow.session, username)
    ctx.emit({"username": username, "roles": saved}, f"{username}: {', '.join(saved) or 'no roles'}")


@users.command("districts")
@pass_ctx
def users_districts(ctx: Context):
    """Every district with the procedure variants it uses and its departments."""
    rows = DirectoryAdmin(ctx.engine).districts()
    ctx.emit(rows, "\n".join(_district_line(d) for d in rows) or "no districts")


@users.command("district")
@click.argument("key")
@click.option("--name", help="The district's Chinese name (required for a new district).")
@click.option("--use", "uses", multiple=True, metavar="PROCEDURE=KEY",
              help="The variant the district uses of a procedure, e.g. overseas_travel=overseas_travel.fangshan; "
                   "PROCEDURE= for none. Repeat for several.")
@click.option("--as", "actor", default="admin", show_default=True)
@pass_ctx
def users_district(ctx: Context, key, name, uses, actor):
    """Create or update district KEY: its name and the variant it uses of each procedure."""
    district = DirectoryAdmin(ctx.engine).put_district(key, name, _variant_choices(uses), actor)
    ctx.emit(district, _district_line(district))


@users.command("department")
@click.argument("key")
@click.option("--name", required=True, help="The department's Chinese name.")
@click.option("--district", help="The district it belongs to (none if not given).")
@click.option("--as", "actor", default="admin", show_default=True)
@pass_ctx
def users_department(ctx: Context, key, name, district, actor):
    """Add department KEY, or rename it and set its district."""
    department = DirectoryAdmin(ctx.engine).put_department(key, name, district, actor)
    ctx.emit(department, f"{department['key']}\t{department['name']}\t{department['district'] or '-'}")


@users.command("remove-department")
@click.argument("key")
@click.option("--as", "actor", default="admin", show_default=True)
@pass_ctx
def users_remove_department(ctx: Context, key, actor):
    """Delete department KEY; refused while users, roles or portfolios still use it."""
    removed = DirectoryAdmin(ctx.engine).remove_department(key, actor)
    ctx.emit({"removed": removed}, f"removed {key}")


@users.command("roles")
@pass_ctx
def users_roles(ctx: Context):
    """Every role: key, Chinese and English names, whether it is held per department."""
    rows = DirectoryAdmin(ctx.engine).roles()
    ctx.emit(rows, "\n".join(_role_line(r) for r in rows) or "no roles")


@users.command("role")
@click.argument("key")
@click.option("--name", required=True, help="The role's Chinese name (a diagram's lane may name it).")
@click.option("--name-en", default="", help="Its English name (the key if not given).")
@click.option("--per-department", "scoped", is_flag=True, help="Held separately in each department.")
@click.option("--as", "actor", default="admin", show_default=True)
@pass_ctx
def users_role(ctx: Context, key, name, name_en, scoped, actor):
    """Add role KEY, or rename it."""
    role = DirectoryAdmin(ctx.engine).put_role(key, name, name_en, scoped, actor)
    ctx.emit(role, _role_line(role))


@users.command("remove-role")
@click.argument("key")
@click.option("--as", "actor", default="admin", show_default=True)
@pass_ctx
def users_remove_role(ctx: Context, key, actor):
    """Delete role KEY; refused while someone holds it, the roster names it or a diagram's lane stands for it."""
    removed = DirectoryAdmin(ctx.engine).remove_role(key, actor)
    ctx.emit({"removed": removed}, f"removed {key}")


def _role_line(role: dict) -> str:
    return f"{role['key']}\t{role['name']}\t{role['name_en']}" + ("\tper department" if role["scoped"] else "")


@users.command("partner")
@click.argument("username")
@click.argument("partner", required=False)
@click.option("--none", "no_partner", is_flag=True, help="Leave USERNAME without an AB-role partner.")
@click.option("--as", "actor", default="admin", show_default=True)
@pass_ctx
def users_partner(ctx: Context, username, partner, no_partner, actor):
    """Pair USERNAME and PARTNER as each other's AB-role partner (AB角互补), or --none."""
    if bool(partner) == no_partner:
        raise click.UsageError("give either PARTNER or --none")
    result = DirectoryAdmin(ctx.engine).set_partner(username, partner, actor)
    ctx.emit(result, f"{username} <-> {partner}" if partner else f"{username}: no AB-role partner")


def _variant_choices(uses: tuple[str, ...]) -> dict[str, str | None]:
    choices = {}
    for use in uses:
        procedure, equals, key = use.partition("=")
        if not equals or not procedure.strip():
            raise click.BadParameter(f"--use {use!r}: write PROCEDURE=KEY, "
                                     "e.g. overseas_travel=overseas_travel.fangshan")
        choices[procedure.strip()] = key.strip() or None
    return choices


def _district_line(district: dict) -> str:
    variants = ", ".join(f"{procedure}={key}" for procedure, key in sorted(district["variants"].items()))
    departments = ", ".join(d["key"] for d in district.get("departments", []))
    return f"{district['key']}\t{district['name']}\t{variants or '-'}" + (f"\t[{departments}]" if departments else "")


@cli.group()
def calendar():
    """Working-day calendar: holiday and make-up-workday overrides."""


@calendar.command("list")
@pass_ctx
def calendar_list(ctx: Context):
    rows = CalendarAdmin(ctx.engine).overrides()
    ctx.emit(rows, "\n".join(f"{r['day']}\t{'workday' if r['is_workday'] else 'day off'}\t{r['note']}"
                             for r in rows) or "no overrides")


@calendar.command("set")
@click.argument("day")
@click.argument("kind", type=click.Choice(["workday", "off"]))
@click.option("--note", default="")
@click.option("--as", "actor", default="admin", show_default=True)
@pass_ctx
def calendar_set(ctx: Context, day, kind, note, actor):
    """Mark DAY (YYYY-MM-DD) as a workday or a day off."""
    row = CalendarAdmin(ctx.engine).set(day, kind == "workday", note, actor)
    ctx.emit(row, f"{row['day']}: {'workday' if row['is_workday'] else 'day off'}")


@calendar.command("unset")
@click.argument("day")
@click.option("--as", "actor", default="admin", show_default=True)
@pass_ctx
def calendar_unset(ctx: Context, day, actor):
    """Remove the override for DAY."""
    removed = CalendarAdmin(ctx.engine).unset(day, actor)
    ctx.emit({"day": day, "removed": removed}, f"{day}: {'override removed' if removed else 'no override'}")


@calendar.command("add-days")
@click.argument("start")
@click.argument("days", type=int)
@pass_ctx
def calendar_add_days(ctx: Context, start, days):
    """The deadline DAYS working days after START (an ISO-8601 instant)."""
    ctx.emit(CalendarAdmin(ctx.engine).add_working_days(parse_instant(start), days))


@calendar.command("between")
@click.argument("start")
@click.argument("end")
@pass_ctx
def calendar_between(ctx: Context, start, end):
    """Working days from START to END."""
    ctx.emit(CalendarAdmin(ctx.engine).working_days_between(parse_instant(start), parse_instant(end)))


@cli.group("roster")
def roster_group():
    """Duty roster (值班表): who is on duty for a role, shift by shift."""


@roster_group.command("add")
@click.argument("role")
@click.argument("username")
@click.option("--from", "starts_at", required=True, help="Shift start, ISO-8601 with a zone.")
@click.option("--to", "ends_at", required=True, help="Shift end (exclusive), ISO-8601 with a zone.")
@click.option("--note", default="")
@click.option("--as", "actor", default="admin", show_default=True)
@pass_ctx
def roster_add(ctx: Context, role, username, starts_at, ends_at, note, actor):
    """Put USERNAME on duty for ROLE from --from until --to."""
    entry = roster.add(ctx.engine, role, username, starts_at, ends_at, note, actor)
    ctx.emit(entry, f"#{entry['id']} {_entry_line(entry)}")


@roster_group.command("list")
@click.option("--from", "start", help="Only entries still in force after this instant.")
@click.option("--to", "end", help="Only entries starting before this instant.")
@pass_ctx
def roster_list(ctx: Context, start, end):
    """Roster entries, by start."""
    rows = roster.list(ctx.engine, start, end)
    ctx.emit(rows, "\n".join(f"#{r['id']}\t{_entry_line(r)}" for r in rows) or "no roster entries")


@roster_group.command("remove")
@click.argument("entry_id", type=int)
@click.option("--as", "actor", default="admin", show_default=True)
@pass_ctx
def roster_remove(ctx: Context, entry_id, actor):
    """Delete roster entry ENTRY_ID."""
    entry = roster.remove(ctx.engine, entry_id, actor)
    ctx.emit({"removed": entry}, f"removed #{entry['id']} {_entry_line(entry)}")


@roster_group.command("now")
@click.argument("role")
@pass_ctx
def roster_now(ctx: Context, role):
    """Who is on duty for ROLE now."""
    duty = roster.on_duty(ctx.engine, role)
    if duty["username"] is None:
        human = f"{role}: nobody is on duty at {duty['at']}"
    else:
        human = f"{role}: {duty['username']} until {duty['entry']['ends_at']}" + (
            f" (absent; {duty['acting']} acts)" if duty["acting"] else "")
    ctx.emit(duty, human)


@cli.command()
@click.argument("process")
@click.option("--from", "start", help="Instances started from this ISO-8601 instant (default: all).")
@click.option("--to", "end", help="...and before this one (default: now).")
@pass_ctx
def compliance(ctx: Context, process, start, end):
    """Time-limit compliance of PROCESS: every limited step met or late, per department on-time rates."""
    report = ctx.engine.compliance(process, *_period(start, end))
    lines = [_department_line(d) for d in report["departments"]]
    ctx.emit(report, "\n".join(lines) or "no limited steps in that period")


@cli.command()
@pass_ctx
def demo(ctx: Context):
    """Create the database, deploy every model, load the demo directory and start sample instances."""
    from webui.demo import run_demo
    summary = run_demo(ctx.engine, DEMO_DIRECTORY, PROCESSES)
    ctx.emit(summary, summary["text"])


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@pass_ctx
def serve(ctx: Context, host, port):
    """Run the web UI on the Flask development server (production: gunicorn 'webui.app:create_app()')."""
    from webui.app import create_app
    app = create_app(ctx.engine)
    click.echo(f"GovFlow web UI: http://{host}:{port}/login  (demo logins, password 'demo': wang_mayor, li_exec, "
               "zhao_vice, liu_civil, ma_civil_staff, zheng_clerk, xie_emergency_staff, feng_duty, shen_auditor)")
    app.run(host=host, port=port, debug=False, use_reloader=False)


def _department_line(figures: dict) -> str:
    rate = "-" if figures["on_time_rate"] is None else f"{figures['on_time_rate']:.0%}"
    return (f"{figures['department'] or '-'}\t{figures['instances']} instances\tmet {figures['met']}\t"
            f"late {figures['late']}\toverdue {figures['overdue']}\ton time {rate}")


def _task_line(task: dict) -> str:
    who = task["assignee"] or f"[{task['role']}{'@' + task['department'] if task['department'] else ''}]"
    due = f" due {task['due_at']}" if task["due_at"] else ""
    return f"#{task['id']}\tinstance {task['instance']}\t{task['title']}\t{who}{due}"


def _entry_line(entry: dict) -> str:
    note = f"\t{entry['note']}" if entry["note"] else ""
    return f"{entry['role']}\t{entry['username']}\t{entry['starts_at']} – {entry['ends_at']}{note}"


def _handover_line(moved: dict) -> str:
    return f"task #{moved['task']} (instance {moved['instance']}, {moved['title']}): {moved['from']} -> {moved['to']}"


def _describe_result(result: dict) -> str:
    lines = [f"instance {result['instance']}: {result['state']}"]
    lines += [f"  {_task_line(t)}" for t in result["tasks"]]
    return "\n".join(lines)


def main(argv=None) -> int:
    as_json = "--json" in (argv if argv is not None else sys.argv[1:])
    try:
        return cli.main(args=argv, standalone_mode=False) or 0
    except GovflowError as err:
        return _fail(err.message, err.to_dict(), as_json)
    except click.ClickException as err:
        return _fail(err.format_message(), {"error": "usage", "message": err.format_message()}, as_json, code=2)
    except click.exceptions.Abort:
        return _fail("aborted", {"error": "aborted", "message": "aborted"}, as_json)
    except ValueError as err:
        return _fail(str(err), {"error": "invalid_input", "message": str(err)}, as_json)


def _fail(message: str, payload: dict, as_json: bool, code: int = 1) -> int:
    if as_json:
        click.echo(json.dumps(payload, ensure_ascii=False))
    one_line = " | ".join(line.strip() for line in message.strip().splitlines() if line.strip()) or "error"
    click.echo(f"govflow: {one_line}", err=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
