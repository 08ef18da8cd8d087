#!/usr/bin/env python
"""Does one timer worker pass cost the same however many other instances are waiting on timers?

Run by hand (never part of the test suite); it prints figures and always exits 0:

    .venv/bin/python bench/timers.py                      # SQLite and PostgreSQL, a few minutes
    .venv/bin/python bench/timers.py --skip-postgres      # SQLite only
    .venv/bin/python bench/timers.py --waiting 2000       # a quicker run

Every instance runs bench/fixtures/timer_wait: start, a 20-minute timer, the user task 办理, end.
Scenario A: ``--waiting`` (10,000) instances whose timers are not due at the measured instant, plus
``--due`` (100) whose timers are. Scenario B: ``--baseline-waiting`` (100) not due, plus the same 100 due.
What is timed is one ``Engine.fire_due_timers()`` at that instant on a fresh Engine (empty caches, so each
due instance is read from its rows); the median of ``--samples`` passes is kept, each pass with a freshly
armed set of due instances. Target: pass A / pass B < 2. The due-timer query is also timed on its own,
and on PostgreSQL its EXPLAIN plan is printed to show the index on timers.due_at at work.

All instances are seeded through ``Engine.start`` (no row cloning); bench/README.md explains every figure.
The engines run on fixed clocks; only the timing here reads the real time (``time.perf_counter``).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import timedelta

# common first: it puts the repository root on sys.path, for the imports from engine below
from common import (FIXTURES, Report, StatementCounter, add_postgres_options, environment, load_directory,
                    median_ms, ms, run_each_database, timed)
from sqlalchemy import func, select, text

from engine import directory
from engine.clock import Clock, local_iso, parse_instant
from engine.commands import DUE_TIMERS, Engine
from engine.models import Instance, TaskIndex, Timer

PROCESS = "timer_wait"             # bench/fixtures/timer_wait: a 20-minute timer, then the user task 办理
NEXT_TASK = "handle"               # the user task a fired instance must have open
NOW = "2026-06-01T09:00:00+08:00"  # the measured instant, a Monday
WAITING_STARTED = timedelta(0)             # not due: started at NOW, due at NOW + 20 min
DUE_STARTED = timedelta(minutes=-30)       # due: started at NOW - 30 min, due at NOW - 10 min
USER = "zheng_clerk"               # holds office_clerk, the role of the lane 办公室文秘
SCHEMA = "govflow_bench_timers"
QUERY_REPEATS = 20                 # executions of the due-timer query per sample

TARGET_RATIO = 2.0


# --- helpers ----------------------------------------------------------------------------------------

def due_query(now):
    """The statement Engine.fire_due_timers runs (engine.commands.DUE_TIMERS), bound to ``now``."""
    return DUE_TIMERS.params(now=now)


# --- one database ------------------------------------------------------------------------------------

class TimerBench:
    """The seeding engine of one database (its clock moves between the two start instants) and the
    measured passes, each on a fresh Engine whose clock stays at NOW."""

    def __init__(self, name: str, url: str, databases: list):
        self.name, self.url, self.databases = name, url, databases
        self.now = parse_instant(NOW)
        self.seed_clock = Clock(self.now)
        self.seeder = Engine(url, clock=self.seed_clock)
        databases.append(self.seeder.db)
        self.seeder.migrate()
        with self.seeder.unit_of_work() as uow:
            directory.load(uow.session, load_directory())
        for result in self.seeder.deploy([FIXTURES / PROCESS], "admin"):
            if result.status != "deployed":
                raise RuntimeError(f"{result.key} was not deployed: {result.status}")
        self.waiting = 0
        self.seed_seconds = 0.0
        self.seeded = 0

    def start(self, count: int, started: timedelta) -> list[int]:
        """Start ``count`` instances with the seeding clock at NOW + ``started``; each waits on its timer."""
        self.seed_clock.set(self.now + started)
        ids = []
        began = time.perf_counter()
        for _ in range(count):
            result = self.seeder.start(PROCESS, USER, {})
            if result["state"] != "running" or result["tasks"]:
                raise RuntimeError(f"instance {result['instance']} is not waiting on its timer: {result}")
            ids.append(result["instance"])
        self.seed_seconds += time.perf_counter() - began
        self.seeded += count
        self.seed_clock.set(self.now)
        return ids

    def grow_waiting(self, total: int) -> None:
        """Bring the instances waiting on a timer that is not due at NOW up to ``total``."""
        if total > self.waiting:
            self.start(total - self.waiting, WAITING_STARTED)
            self.waiting = total
        if self.seeder.db.dialect.name == "postgresql":
            with self.seeder.db.begin() as conn:  # fresh planner statistics, as autovacuum would keep them
                conn.execute(text("ANALYZE timers; ANALYZE instances"))

    def analyze(self) -> None:
        """Give SQLite planner statistics (GovFlow never does; PostgreSQL's autovacuum does), then drop the
        pooled connections so new ones read them."""
        with self.seeder.db.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
        self.seeder.db.dispose()

    def time_query(self) -> float:
        """The due-timer query alone on a warm connection: the median of QUERY_REPEATS executions."""
        samples = []
        with self.seeder.db.connect() as conn:
            for _ in range(QUERY_REPEATS):
                elapsed, _ = timed(lambda: conn.execute(due_query(self.now)).all())
                samples.append(elapsed)
        return statistics.median(samples)

    def explain(self) -> list[str]:
        """The query plan of the due-timer query, as the database reports it."""
        with self.seeder.db.connect() as conn:
            compiled = due_query(self.now).compile(dialect=conn.dialect)
            params = dict(compiled.params)
            if conn.dialect.name == "postgresql":
                rows = conn.exec_driver_sql("EXPLAIN " + str(compiled), params).all()
                return [row[0] for row in rows]
            # SQLite stores instants as naive UTC text; the plan does not depend on the value
            params = [self.now.replace(tzinfo=None).isoformat(sep=" ") if key.startswith("due_at") else value
                      for key, value in params.items()]
            rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + str(compiled), tuple(params)).all()
            return [row[-1] for row in rows]

    def not_due_versions(self) -> tuple:
        """How many instances wait on a timer that is not due, and the sum of their lock versions: a pass
        that stepped any of them would change the sum."""
        with self.seeder.db.connect() as conn:
            return tuple(conn.execute(select(func.count(), func.sum(Instance.lock_version))
                                      .join(Timer, Timer.instance_id == Instance.id)
                                      .where(Timer.due_at > self.now)).one())

    def fresh_engine(self) -> Engine:
        """A new Engine at NOW: empty definition and instance caches. Its pool gets one connection opened
        (SELECT 1) before the pass, so the pass does not pay for connecting."""
        engine = Engine(self.url, clock=Clock(self.now))
        self.databases.append(engine.db)
        with engine.db.connect() as conn:
            conn.execute(text("SELECT 1"))
        return engine

    def sample(self, due: int, count_statements: bool = False) -> dict:
        """Arm ``due`` instances, time one pass on a fresh Engine, check every one of them advanced and
        nothing else was touched."""
        armed = self.start(due, DUE_STARTED)
        before = self.not_due_versions()
        query = self.time_query()
        engine = self.fresh_engine()
        try:
            if count_statements:
                with StatementCounter(engine.db) as counter:
                    elapsed, fired = timed(engine.fire_due_timers)
            else:
                counter = None
                elapsed, fired = timed(engine.fire_due_timers)
            loaded = sorted(engine._instances._entries)  # what the pass loaded (cache holds 256)
        finally:
            engine.db.dispose()
        self.verify(armed, fired, loaded, before)
        return {"pass": elapsed, "query": query, "statements": counter.count if counter else None}

    def verify(self, armed: list[int], fired: list[dict], loaded: list[int], before: tuple) -> None:
        problems = []
        if sorted(f["instance"] for f in fired) != sorted(armed):
            problems.append(f"the pass fired {len(fired)} instances, not the {len(armed)} armed")
        bad = [f for f in fired if f["result"] != "fired"]
        if bad:
            problems.append(f"{len(bad)} timers did not fire, e.g. {bad[0]}")
        if loaded != sorted(armed):
            problems.append(f"the pass loaded {len(loaded)} instances, {len(set(loaded) - set(armed))} not due")
        with self.seeder.db.connect() as conn:
            left = conn.scalar(select(func.count()).select_from(Timer).where(Timer.instance_id.in_(armed)))
            opened = conn.scalar(select(func.count()).select_from(TaskIndex)
                                 .where(TaskIndex.instance_id.in_(armed), TaskIndex.name == NEXT_TASK,
                                        TaskIndex.state == "open"))
            running = conn.scalar(select(func.count()).select_from(Instance)
                                  .where(Instance.id.in_(armed), Instance.state == "running"))
            pending = conn.scalar(select(func.count()).select_from(Timer))
        if left:
            problems.append(f"{left} fired instances still have a timer row")
        if opened != len(armed) or running != len(armed):
            problems.append(f"only {opened} of {len(armed)} fired instances have {NEXT_TASK} open "
                            f"({running} running)")
        if pending != self.waiting:
            problems.append(f"{pending} timers pending, expected {self.waiting}")
        if self.not_due_versions() != before:
            problems.append("the pass changed instances whose timers were not due")
        if problems:
            raise RuntimeError(f"{self.name}: " + "; ".join(problems))

    def scenario(self, waiting: int, due: int, samples: int, warmup: int) -> dict:
        self.grow_waiting(waiting)
        for _ in range(warmup):
            self.sample(due)
        results = [self.sample(due) for _ in range(samples)]
        counted = self.sample(due, count_statements=True)
        plan = self.explain()
        return {"passes": [r["pass"] for r in results], "queries": [r["query"] for r in results],
                "statements": counted["statements"], "plan": plan}


# --- the run ------------------------------------------------------------------------------------------

def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--waiting", type=int, default=10000,
                        help="scenario A: instances waiting on timers not due at the measured instant (default 10000)")
    parser.add_argument("--due", type=int, default=100, help="instances whose timers are due, per pass (default 100)")
    parser.add_argument("--baseline-waiting", type=int, default=100,
                        help="scenario B: instances waiting on timers not due (default 100)")
    parser.add_argument("--samples", type=int, default=3, help="timed passes per scenario (default 3)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed passes first, per scenario (default 1)")
    add_postgres_options(parser, SCHEMA, "measure SQLite only")
    args = parser.parse_args(argv)
    if args.due < 1 or args.samples < 1 or args.warmup < 0:
        parser.error("--due and --samples must be at least 1, --warmup at least 0")
    if not 0 <= args.baseline_waiting <= args.waiting:
        parser.error("--baseline-waiting must be between 0 and --waiting")

    began = time.perf_counter()
    report = Report(strict=True)  # the target is pass A / pass B < 2, not <= 2
    print(f"GovFlow timer pass benchmark: A = {args.waiting} waiting + {args.due} due, B = "
          f"{args.baseline_waiting} waiting + {args.due} due; median of {args.samples} passes each "
          f"(after {args.warmup} untimed)")
    print(f"{environment()}; measured instant {NOW}")

    return run_each_database(args, SCHEMA, report, run, began)


def run(args, report: Report, name: str, url: str, databases: list) -> None:
    print(f"\n{name}: seeding and measuring ...", flush=True)
    bench = TimerBench(name, url, databases)
    # B first, then the same database grows to A: only the instances waiting on timers differ
    b = bench.scenario(args.baseline_waiting, args.due, args.samples, args.warmup)
    print(f"  B ({args.baseline_waiting} waiting): passes {_list_ms(b['passes'])} ms", flush=True)
    a = bench.scenario(args.waiting, args.due, args.samples, args.warmup)
    print(f"  A ({args.waiting} waiting): passes {_list_ms(a['passes'])} ms", flush=True)

    pass_a, pass_b = median_ms(a["passes"]), median_ms(b["passes"])
    report.section(f"{name}: one worker pass (Engine.fire_due_timers) at {local_iso(bench.now)}, "
                   f"median of {args.samples}")
    report.row(f"A: pass, {args.waiting} waiting + {args.due} due", pass_a, "ms", "", _list_ms(a["passes"]))
    report.row(f"B: pass, {args.baseline_waiting} waiting + {args.due} due", pass_b, "ms", "",
               _list_ms(b["passes"]))
    report.ratio(f"{name}: pass A / pass B", pass_a / pass_b, TARGET_RATIO)
    report.row("  A per fired instance", pass_a / args.due, "ms")
    report.row("  B per fired instance", pass_b / args.due, "ms")
    report.row("due-timer query alone, A", median_ms(a["queries"]), "ms", "", "information")
    report.row("due-timer query alone, B", median_ms(b["queries"]), "ms", "", "information")
    report.row("SQL statements per pass, A", a["statements"], "stmts", "", "information")
    report.row("SQL statements per pass, B", b["statements"], "stmts", "", "information")
    report.row("instances seeded with Engine.start", bench.seeded, "", "",
               f"{bench.seed_seconds:.1f} s, {ms(bench.seed_seconds / bench.seeded):.2f} ms each")
    report.row("every pass checked", "yes", "", "", f"{args.due} fired, {NEXT_TASK} open, timers gone, "
                                                   "others untouched")
    title = "EXPLAIN" if name == "PostgreSQL" else "EXPLAIN QUERY PLAN"
    _plan_row(report, "plan uses ix_timers_due_at (A)", a["plan"])
    report.note(f"{name}: {title} of the due-timer query with {args.waiting} waiting", a["plan"])
    if name == "SQLite":  # information: what planner statistics would change (the engine never runs ANALYZE)
        bench.start(args.due, DUE_STARTED)
        bench.analyze()
        query, plan = bench.time_query(), bench.explain()
        report.row("  after ANALYZE: query alone, A", ms(query), "ms", "", "information")
        _plan_row(report, "  after ANALYZE: plan uses ix_timers_due_at", plan)
        report.note(f"{name}: {title} with {args.waiting} waiting, after ANALYZE (information only)", plan)


def _plan_row(report: Report, figure: str, plan: list[str]) -> None:
    index_lines = [line.strip() for line in plan if "ix_timers_due_at" in line]
    report.row(figure, "yes" if index_lines else "NO", "", "", index_lines[0] if index_lines else "")


def _list_ms(samples: list[float]) -> str:
    return ", ".join(f"{ms(s):.1f}" for s in samples)


if __name__ == "__main__":
    sys.exit(main())
