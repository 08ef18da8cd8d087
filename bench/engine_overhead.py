#!/usr/bin/env python
"""How much GovFlow adds to SpiffWorkflow, and whether a step stays flat as an instance loops.

Run by hand (never part of the test suite); it prints figures and always exits 0:

    .venv/bin/python bench/engine_overhead.py                  # SQLite and PostgreSQL
    .venv/bin/python bench/engine_overhead.py --skip-postgres  # SQLite only
    .venv/bin/python bench/engine_overhead.py --instances 50   # a quicker, noisier run

Part 1, a five-user-task sequential process (bench/fixtures/five_tasks), per instance start to end:
  (a) raw SpiffWorkflow in memory, (b) GovFlow's Engine on SQLite, (c) GovFlow's Engine on PostgreSQL,
  plus the median bare PostgreSQL commit. Targets: b/a <= 3 and c / (a + 6 x bare commit) <= 2. For
  information, (b0): the least durable store on SQLite (least_store.py), the floor under (b).
Part 2, a looping instance (bench/fixtures/loop): one ``Engine.complete`` after 10 and after 400
  iterations. Target: late/early <= 2. For comparison, the cost of serializing and restoring the whole
  uncompacted SpiffWorkflow tree at the same points, which is what a naive store would pay per step.

bench/README.md explains every figure. All engines run on a fixed clock; only the timing here reads the
real time (``time.perf_counter``).
"""
from __future__ import annotations

import argparse
import json
import sys

# common first: it puts the repository root on sys.path, for the imports from engine below
from common import (FIXTURES, Report, add_postgres_options, count_statements, environment, load_directory,
                    median_ms, postgres_schema, run_guarded, timed)
from sqlalchemy import create_engine, func, select, text
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState

from engine import directory
from engine.bpmn import SERIALIZER, GovflowParser, json_dumps
from engine.clock import Clock, parse_instant
from engine.commands import Engine
from engine.db import normalise_url
from engine.models import InstanceTask
from engine.scripting import RestrictedScriptEngine
from engine.xmlsafe import parse_xml
from least_store import LeastStore

NOW = "2026-06-01T09:00:00+08:00"  # a Monday
USER = "zheng_clerk"               # holds office_clerk, the role of the lane 办公室文秘
ROLE = "office_clerk"
FIVE_TASKS, LOOP = "five_tasks", "loop"
SCHEMA = "govflow_bench"
SPIFF_DEPTH_ROOM = 450  # the uncompacted raw loop deepens 2 tasks per iteration; SpiffWorkflow stops at 1000

TARGET_B_OVER_A = 3.0
TARGET_POSTGRES = 2.0
TARGET_LOOP = 2.0


# --- helpers ----------------------------------------------------------------------------------------

def make_engine(url: str, clock: Clock) -> Engine:
    """A migrated GovFlow engine with the demo directory and both benchmark processes deployed."""
    engine = Engine(url, clock=clock)
    engine.migrate()
    with engine.unit_of_work() as uow:
        directory.load(uow.session, load_directory())
    for result in engine.deploy([FIXTURES], "admin"):
        if result.status != "deployed":
            raise RuntimeError(f"{result.key} was not deployed: {result.status}")
    return engine


def parse_spec(process_key: str):
    """The process spec as deploy compiles it: GovflowParser over the hardened XML parser."""
    path = FIXTURES / process_key / f"{process_key}.bpmn"
    parser = GovflowParser()
    parser.add_bpmn_xml(parse_xml(path.read_bytes(), path.name).getroot(), filename=path.name)
    return parser.get_spec(process_key), parser.get_subprocess_specs(process_key)


def initial_data(clock: Clock) -> dict:
    """What Engine.start puts in a new instance's data, so raw runs carry the same data as GovFlow's."""
    return {"initiator": USER, "initiator_name": "郑小燕（办公室文秘）", "initiator_roles": ["office_clerk"],
            "department": "gov_office", "started_at": clock.now().isoformat()}


# --- (a) raw SpiffWorkflow ------------------------------------------------------------------------

def raw_workflow(spec, subprocess_specs, clock: Clock) -> BpmnWorkflow:
    workflow = BpmnWorkflow(spec, subprocess_specs, script_engine=RestrictedScriptEngine(clock=clock))
    workflow.task_tree.data.update(initial_data(clock))
    workflow.do_engine_steps()
    return workflow


def raw_complete(workflow: BpmnWorkflow, clock: Clock, data: dict) -> None:
    """Complete the first READY manual task the way Engine.complete does, then run the engine steps."""
    ready = workflow.get_tasks(state=TaskState.READY, manual=True)
    if not ready:
        raise RuntimeError("raw workflow has no ready user task")
    task = ready[0]
    task.data.update(data)
    task.data[f"{task.task_spec.name}_by"] = USER
    task.data[f"{task.task_spec.name}_at"] = clock.now().isoformat()
    task.run()
    workflow.do_engine_steps()


def raw_instance(spec, subprocess_specs, clock: Clock) -> int:
    workflow = raw_workflow(spec, subprocess_specs, clock)
    steps = 0
    while not workflow.is_completed():
        raw_complete(workflow, clock, {})
        steps += 1
    return steps


# --- (b), (c) GovFlow -------------------------------------------------------------------------------

def govflow_instance(engine: Engine) -> int:
    result = engine.start(FIVE_TASKS, USER, {})
    steps = 0
    while result["tasks"]:
        result = engine.complete(result["tasks"][0]["id"], USER, {})
        steps += 1
    if result["state"] != "completed":
        raise RuntimeError(f"instance {result['instance']} ended {result['state']}: {result.get('error')}")
    return steps


class BareCommit:
    """One tiny INSERT + COMMIT through SQLAlchemy on ``db`` per call: the floor a command's transaction
    cannot go below."""

    def __init__(self, db, table: str):
        self.db = db
        with db.begin() as conn:
            conn.execute(text(f"CREATE TABLE IF NOT EXISTS {table} (v TEXT)"))
        self.statement = text(f"INSERT INTO {table} (v) VALUES (:v)")

    def __call__(self) -> None:
        with self.db.begin() as conn:
            conn.execute(self.statement, {"v": "bench"})


def interleaved(variants: dict, count: int, warmup: int) -> dict[str, list[float]]:
    """Time every variant once per round, round after round, so a burst of load on the machine hits
    them alike; the first ``warmup`` rounds are not kept."""
    samples = {name: [] for name in variants}
    for round_no in range(warmup + count):
        for name, fn in variants.items():
            elapsed, _ = timed(fn)
            if round_no >= warmup:
                samples[name].append(elapsed)
    return samples


# --- part 2: the loop ---------------------------------------------------------------------------------

def windows(points: list[int], half: int = 2) -> dict[int, range]:
    return {point: range(point - half, point + half + 1) for point in points}


class RawLoop:
    """The loop in raw SpiffWorkflow, in memory and never compacted: the tree grows with every pass."""

    def __init__(self, spec, subprocess_specs, clock: Clock):
        self.clock = clock
        self.workflow = raw_workflow(spec, subprocess_specs, clock)

    def step(self, _timed_point: bool) -> float:
        elapsed, _ = timed(lambda: raw_complete(self.workflow, self.clock, {"again": True}))
        return elapsed

    def full_round_trip(self) -> dict:
        """What a store that saves the whole tree would pay: to_dict + from_dict, and with JSON text."""
        to_dict, dct = timed(lambda: SERIALIZER.to_dict(self.workflow))
        from_dict, restored = timed(lambda: SERIALIZER.from_dict(dct))
        if len(restored.tasks) != len(self.workflow.tasks):
            raise RuntimeError("the restored workflow lost tasks")
        encoded, blob = timed(lambda: json_dumps(dct))
        decoded, _ = timed(lambda: json.loads(blob))
        return {"ser": to_dict + from_dict, "ser_json": to_dict + encoded + decoded + from_dict,
                "tasks": len(self.workflow.tasks), "bytes": len(blob.encode("utf-8"))}

    def finish(self) -> None:
        raw_complete(self.workflow, self.clock, {"again": False})
        if not self.workflow.is_completed():
            raise RuntimeError("the raw loop did not end")


class GovflowLoop:
    """The loop through GovFlow's Engine. With ``cold``, the engine's in-memory workflow cache is emptied
    before each timed step, so that step restores the instance from its stored rows (give a cold loop its
    own Engine, or it would empty the warm loop's cache too)."""

    def __init__(self, engine: Engine, cold: bool):
        self.engine, self.cold = engine, cold
        self.result = engine.start(LOOP, USER, {})
        self.instance_id = self.result["instance"]

    def _complete(self, again: bool) -> dict:
        self.result = self.engine.complete(self.result["tasks"][0]["id"], USER, {"again": again})
        return self.result

    def step(self, timed_point: bool) -> float:
        cache = getattr(self.engine, "_instances", None)
        if self.cold and timed_point and cache is not None:
            cache.clear()
        elapsed, _ = timed(lambda: self._complete(True))
        return elapsed

    def statements_per_step(self) -> int:
        count, _ = count_statements(self.engine.db, lambda: self._complete(True))
        return count

    def stored_rows(self) -> int:
        with self.engine.read() as session:
            return session.scalar(select(func.count()).select_from(InstanceTask)
                                  .where(InstanceTask.instance_id == self.instance_id))

    def finish(self) -> None:
        result = self._complete(False)
        if result["state"] != "completed":
            raise RuntimeError(f"loop instance {self.instance_id} ended {result['state']}: {result.get('error')}")


def run_loops(make_runners, points: list[int], repeats: int) -> tuple[dict, dict, dict]:
    """Advance every runner's loop in lockstep, timing the steps around each point; repeat ``repeats``
    times with fresh instances. Returns step samples, the raw full round-trips, and per-runner facts."""
    around = windows(points)
    last = max(r.stop for r in around.values())
    samples: dict[str, dict[int, list[float]]] = {}
    round_trips = {point: [] for point in points}
    facts: dict[str, dict] = {}
    for _ in range(repeats):
        runners = make_runners()
        for name in runners:
            samples.setdefault(name, {point: [] for point in points})
        for step in range(1, last):
            at = [point for point, steps in around.items() if step in steps]
            for name, runner in runners.items():
                elapsed = runner.step(bool(at))
                for point in at:
                    samples[name][point].append(elapsed)
                if at and isinstance(runner, RawLoop):
                    for point in at:
                        round_trips[point].append(runner.full_round_trip())
        for name, runner in runners.items():
            if isinstance(runner, GovflowLoop) and not runner.cold and name not in facts:
                facts[name] = {"rows": runner.stored_rows(), "statements": runner.statements_per_step()}
            runner.finish()
    return samples, round_trips, facts


# --- the run ------------------------------------------------------------------------------------------

def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--instances", type=int, default=200,
                        help="instances timed per variant in part 1, and bare commits timed (default 200)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed rounds run first in part 1 (default 5)")
    add_postgres_options(parser, SCHEMA, "measure SQLite and raw SpiffWorkflow only")
    parser.add_argument("--early", type=int, default=10, help="early loop point, in iterations (default 10)")
    parser.add_argument("--late", type=int, default=400, help="late loop point, in iterations (default 400)")
    parser.add_argument("--loops", type=int, default=3,
                        help="looping instances per variant in part 2; each gives 5 steps per point (default 3)")
    args = parser.parse_args(argv)
    if not 3 <= args.early < args.late - 4:
        parser.error("--early must be at least 3 and more than 4 below --late")
    if args.late > SPIFF_DEPTH_ROOM:
        parser.error(f"--late above {SPIFF_DEPTH_ROOM} would take the uncompacted raw loop past "
                     "SpiffWorkflow's task depth limit")
    if args.instances < 1 or args.loops < 1 or args.warmup < 0:
        parser.error("--instances and --loops must be at least 1, --warmup at least 0")

    clock = Clock(parse_instant(NOW))
    report = Report()
    print(f"GovFlow engine overhead benchmark: {args.instances} instances per variant; loop points "
          f"{args.early} and {args.late} (steps {args.early - 2}-{args.early + 2} and "
          f"{args.late - 2}-{args.late + 2} of {args.loops} looping instances per variant)")
    print(f"{environment()}; clock fixed at {NOW}")

    with postgres_schema(None if args.skip_postgres else args.postgres_url, SCHEMA) as postgres:
        run_guarded(lambda sqlite_url, databases: run(args, clock, report, sqlite_url, postgres, databases))
    report.print()
    return 0


def run(args, clock: Clock, report: Report, sqlite_url: str, postgres: str | None, databases: list) -> None:
    n = args.instances
    early, late = points = [args.early, args.late]

    def engine_on(url: str, fresh: bool = True) -> Engine:
        engine = make_engine(url, clock) if fresh else Engine(url, clock=clock)
        databases.append(engine.db)
        return engine

    sqlite = engine_on(sqlite_url)
    pg = engine_on(postgres) if postgres is not None else None

    # Part 1 -------------------------------------------------------------------------------------------
    print("\npart 1: five sequential user tasks, a b c interleaved ...", flush=True)
    spec, subprocess_specs = parse_spec(FIVE_TASKS)
    raw_steps = raw_instance(spec, subprocess_specs, clock)
    sqlite_statements, steps = count_statements(sqlite.db, lambda: govflow_instance(sqlite))
    commands = 1 + steps
    least_store = LeastStore(sqlite.db, FIVE_TASKS, USER, ROLE, clock.now().isoformat(),
                             lambda: raw_workflow(spec, subprocess_specs, clock),
                             lambda workflow: raw_complete(workflow, clock, {}))
    stored = least_store.stored(least_store.instance())
    expected = {"state": "completed", "version": 1 + commands, "tasks": {"completed": steps},
                "events": {"start": 1, "complete": steps}}
    if stored != expected:
        raise RuntimeError(f"the least store kept {stored}, not {expected}")
    variants = {"a": lambda: raw_instance(spec, subprocess_specs, clock),
                "b": lambda: govflow_instance(sqlite),
                "least store": least_store.instance,
                "sqlite commit": BareCommit(sqlite.db, "bench_commit")}
    if pg is not None:
        pg_statements, _ = count_statements(pg.db, lambda: govflow_instance(pg))
        plain = create_engine(normalise_url(postgres))  # psycopg, default pool, no pre-ping
        databases.append(plain)
        variants.update({"c": lambda: govflow_instance(pg),
                         "pg commit": BareCommit(plain, "bench_commit"),
                         "pg commit via Engine.db": BareCommit(pg.db, "bench_commit_engine")})
    part1 = interleaved(variants, n, args.warmup)
    least_store.close()
    a, b, least = median_ms(part1["a"]), median_ms(part1["b"]), median_ms(part1["least store"])
    print(f"  (a) raw SpiffWorkflow {a:.3f} ms, (b) GovFlow on SQLite {b:.3f} ms per instance", flush=True)

    report.section(f"Part 1: five-user-task instance, start to end (median of {n} instances each)")
    report.row("(a) raw SpiffWorkflow, in memory", a, "ms", "", f"{raw_steps} user tasks")
    report.row("(b) GovFlow Engine, SQLite file", b, "ms", "", f"{commands} commands")
    report.row("    per command (b / commands)", b / commands, "ms")
    report.row("    SQL statements per instance", sqlite_statements, "stmts", "", "information")
    report.row("bare SQLite INSERT + COMMIT", median_ms(part1["sqlite commit"]), "ms", "", "information")
    report.row("least durable store, SQLite (b0)", least, "ms", "", "least_store.py")
    report.row("    b0 / a", least / a, "x", "", "information")
    report.row("    b0 / b", least / b, "x", "", "information")
    report.ratio("b / a", b / a, TARGET_B_OVER_A)
    if pg is not None:
        c, bare = median_ms(part1["c"]), median_ms(part1["pg commit"])
        print(f"  (c) GovFlow on PostgreSQL {c:.3f} ms per instance, bare commit {bare:.3f} ms", flush=True)
        ideal = a + commands * bare
        report.row("(c) GovFlow Engine, PostgreSQL", c, "ms", "", f"{commands} commands")
        report.row("    per command (c / commands)", c / commands, "ms")
        report.row("    SQL statements per instance", pg_statements, "stmts", "", "information")
        report.row("bare PostgreSQL INSERT + COMMIT", bare, "ms", "", "plain pool")
        report.row("  same through Engine.db", median_ms(part1["pg commit via Engine.db"]), "ms", "",
                   "information")
        report.row(f"a + {commands} x bare commit", ideal, "ms")
        report.row("c / a", c / a, "x", "", "information")
        report.ratio(f"c / (a + {commands} x bare commit)", c / ideal, TARGET_POSTGRES)

    # Part 2 -------------------------------------------------------------------------------------------
    print(f"\npart 2: looping instances, raw SpiffWorkflow first, then GovFlow's variants in lockstep, {args.loops} "
          f"round(s) ...", flush=True)
    loop_spec, loop_subprocess_specs = parse_spec(LOOP)
    cold_sqlite = engine_on(sqlite_url, fresh=False)  # its own workflow cache, emptied before timed steps
    cold_pg = engine_on(postgres, fresh=False) if pg is not None else None

    def govflow_runners() -> dict:
        runners = {"SQLite": GovflowLoop(sqlite, cold=False), "SQLite cold": GovflowLoop(cold_sqlite, cold=True)}
        if pg is not None:
            runners.update({"PostgreSQL": GovflowLoop(pg, cold=False),
                            "PostgreSQL cold": GovflowLoop(cold_pg, cold=True)})
        return runners

    # The raw loop runs in a pass of its own: at 400 iterations each of its full round trips leaves a whole
    # tree and 300 KiB of JSON behind, and in lockstep that garbage would be collected in GovFlow's late steps.
    samples, round_trips, _ = run_loops(lambda: {"raw": RawLoop(loop_spec, loop_subprocess_specs, clock)}, points,
                                        args.loops)
    govflow_samples, _, facts = run_loops(govflow_runners, points, args.loops)
    samples.update(govflow_samples)
    per_point = len(samples["raw"][early])
    report.section(f"Part 2: one step (Engine.complete) of a looping instance, median of {per_point} steps "
                   f"around {early} and {late} iterations")
    for name in ("SQLite", "PostgreSQL"):
        if name not in samples:
            continue
        step_early, step_late = median_ms(samples[name][early]), median_ms(samples[name][late])
        print(f"  GovFlow on {name}: {step_early:.3f} ms after {early}, {step_late:.3f} ms after {late}",
              flush=True)
        report.row(f"GovFlow {name}: step after {early}", step_early, "ms")
        report.row(f"GovFlow {name}: step after {late}", step_late, "ms")
        report.ratio(f"GovFlow {name}: step {late} / step {early}", step_late / step_early, TARGET_LOOP)
        cold = samples[f"{name} cold"]
        report.row(f"  {name}, cold cache: step after {early}", median_ms(cold[early]), "ms", "", "information")
        report.row(f"  {name}, cold cache: step after {late}", median_ms(cold[late]), "ms", "", "information")
        report.row(f"  {name}: SQL statements per step", facts[name]["statements"], "stmts", "", "information")
        report.row(f"  {name}: task rows stored after {late + 2}", facts[name]["rows"], "rows", "", "information")

    report.section("Part 2, for comparison: raw SpiffWorkflow loop, in memory, never compacted")
    for point in points:
        trips = round_trips[point]
        report.row(f"raw step after {point}", median_ms(samples["raw"][point]), "ms")
        report.row(f"  full to_dict + from_dict after {point}", median_ms([t["ser"] for t in trips]), "ms", "",
                   f"{trips[-1]['tasks']} tasks")
        report.row(f"  same + JSON encode/decode after {point}", median_ms([t["ser_json"] for t in trips]), "ms",
                   "", f"{trips[-1]['bytes'] / 1024:.0f} KiB JSON")
    report.row(f"raw step {late} / step {early}",
               median_ms(samples["raw"][late]) / median_ms(samples["raw"][early]), "x", "", "information")
    report.row(f"full to_dict + from_dict {late} / {early}",
               median_ms([t["ser"] for t in round_trips[late]]) / median_ms([t["ser"] for t in round_trips[early]]),
               "x", "", "information")


if __name__ == "__main__":
    sys.exit(main())
