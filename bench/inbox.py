#!/usr/bin/env python
"""Does a person's inbox page stay fast with 100,000 tasks in the database?

Run by hand (never part of the test suite); it prints figures and always exits 0:

    .venv/bin/python bench/inbox.py                                  # SQLite and PostgreSQL, a few minutes
    .venv/bin/python bench/inbox.py --skip-postgres                  # SQLite only
    .venv/bin/python bench/inbox.py --tasks 20000 --samples 50       # a quicker run

What is timed: ``Engine.inbox`` (engine/inbox.py ``page()``) for the four tabs, a search, a status filter, a
sort and a deep page, and ``Engine.counts`` (the header badge every web page shows), each ``--samples`` times
on a fresh Engine, interleaved. Each figure is given as median and p95 in ms; the target is p95 < 100 ms over
all inbox page samples together, and for each query on its own. The plans of the to-do, claimable and count
queries are printed (PostgreSQL EXPLAIN (ANALYZE, BUFFERS), SQLite EXPLAIN QUERY PLAN), to show which indexes
are at work.

How the ``--tasks`` (100,000) task index rows are made:

1. A few hundred real instances (``--real``) of processes/document_incoming, processes/leave and
   processes/emergency_report run through the engine: their scenarios (processes/*/scenarios/*.json) are
   replayed again and again with ``engine.scenarios.run``, which calls ``Engine.start``, ``Engine.complete``
   and ``Engine.fire_due_timers`` and checks every expectation; only the document title, the leave
   destination and the incident location are varied. These rows are exactly what the engine writes.
2. The rest are CLONED from the shape of those real rows and bulk-inserted with SQLAlchemy Core
   (``insert()`` executemany, batches of 5,000) into ``instances``, ``task_index``, ``copies``,
   ``notifications`` and ``absences``: every task row copies a real row's process, name, title, role, form and due rule, and
   every instance row a real instance's definition, data and workflow header; only people, states and
   instants are drawn (a fixed random seed). Running 100,000 tasks through the engine would take far too long
   (tens of minutes per database) for a benchmark run by hand.

The inbox never reads workflow state: it reads ``task_index`` joined to ``instances`` (state and title),
``user_roles``, ``absences``, ``copies``, ``notifications``, ``users`` and ``definition_versions``, never
``instance_tasks`` nor the ``instances.workflow`` column, and the run checks that. So cloned rows are, for
what is measured, the same as rows the engine would have written.

The mix: about 30 % of tasks are open, the rest completed (and some cancelled); open tasks are spread over
about 220 people (the demo directory and 200 added staff), three "heavy" people (zheng_clerk, feng_duty,
li_exec) hold about 2,000 open tasks each at 100,000 tasks, about 10 % are unassigned role tasks (可认领),
deadlines lie around now, some overdue; instance titles are Chinese, some containing the searched word.

bench/README.md explains every figure. The engines run on a fixed clock; only the timing here reads the real
time (``time.perf_counter``).
"""
from __future__ import annotations

import argparse
import copy
import itertools
import math
import random
import re
import statistics
import sys
import time
import uuid
from datetime import timedelta

# common first: it puts the repository root on sys.path, for the imports from engine below
from common import (ROOT, Report, add_postgres_options, environment, load_directory, ms,
                    run_each_database, timed)
import sqlalchemy
from sqlalchemy import func, insert, select, text

from engine import directory, scenarios
from engine.clock import Clock, parse_instant
from engine.commands import Engine
from engine.models import (Absence, Copy, DefinitionVersion, Instance, Notification, TaskIndex, User,
                           UserRole)

NOW = "2026-06-01T09:00:00+08:00"  # the measured instant, a Monday (the scenarios' own "now")
SCHEMA = "govflow_bench_inbox"
PROCESSES = ("document_incoming", "leave", "emergency_report")
PROCESS_WEIGHTS = {"document_incoming": 5, "leave": 2, "emergency_report": 3}  # of cloned instances
BATCH = 5000                       # rows per executemany
SEED = 20260601                    # the cloned rows are the same on every run and both databases
TARGET_MS = 100.0

OPEN_SHARE = 0.30                  # of all tasks
HEAVY = ("zheng_clerk", "feng_duty", "li_exec")
HEAVY_SHARE = 2000 / 30000         # of the open tasks, per heavy person: 2,000 each at 100,000 tasks
UNASSIGNED_SHARE = 0.10            # of the open tasks: unassigned role tasks, waiting to be claimed
CANCELLED_SHARE = 0.08             # of the closed tasks
FAILED_SHARE = 0.01                # of the cloned instances: failed, their open rows left (hidden by the inbox)
COPY_SHARE = 0.08                  # of the cloned instances: copied (抄送) to one or two people
ADDED_STAFF = 200                  # people added to the demo directory

HEAVY_USER = "zheng_clerk"         # office clerk: heavy to-do, heavy done, and holds office_clerk (可认领)
LIGHT_USER = "staff_001"           # an added staff member, acting for staff_002 (absent now)
ABSENT_USER = "staff_002"
ROLE_HOLDER = "ma_civil_staff"     # dept_staff@civil_affairs, which 25 added staff also hold
COPIES_USER = "li_exec"            # gets about 30 % of all copies
SEARCH = "养老"                     # in one document title in five: about one task in ten
DEEP_PAGE = 50
ASSIGNEE_INDEX = "ix_task_index_assignee_state_due"  # what a person's to-do list should be read through
# This scenario expects the leaders it names to be present on the days it steps through; once other replays
# have recorded approved leave on those days (the mayor's, li_exec acting), the engine rightly sends the tasks
# to the acting person and a second run no longer matches its expectations. So it runs once.
RUN_ONCE = {"absent_vice_mayor_tasks_go_to_acting_person.json"}

DEPARTMENTS = ("gov_office", "civil_affairs", "education", "commerce", "emergency", "justice", "fao",
               "chengguan_street")
CLAIM_POOLS = ([("office_clerk", "gov_office"), ("duty_office", "gov_office"), ("supervision_office", "gov_office")]
               + [("dept_staff", d) for d in DEPARTMENTS])
TOPICS = ("调整高龄老人养老服务补贴标准", "社区养老服务驿站建设", "新建区第二实验小学", "老旧小区改造", "2026年防汛工作",
          "城关街道便民服务中心", "农村公路养护", "中小学课后服务", "安全生产大检查", "外贸企业稳岗补贴",
          "公共法律服务体系建设", "养老机构消防安全整治", "重点项目用地保障", "冬季供暖保障", "政务服务“一网通办”",
          "食品安全专项整治", "区级财政预算调整", "街道综合执法改革", "外事接待经费", "居家养老上门服务试点")
DOC_TYPES = ("请示", "报告", "函")
CITIES = ("上海市", "广州市", "成都市", "西安市", "杭州市", "武汉市", "南京市", "天津市", "重庆市", "深圳市")
PLACES = ("应急局辖区某仓库", "城关街道某小区", "区第二实验小学", "滨河路与建设路交叉口", "开发区某化工企业",
          "区人民医院", "农贸市场", "高速公路收费站")
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏魏吕丁任沈"
GIVEN = ("伟", "芳", "娜", "敏", "静", "磊", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超", "秀兰", "霞", "平", "刚",
         "桂英", "建华", "晓东", "海燕", "志强", "丽华", "国庆", "文博", "雪梅", "振宇")
_FIELD = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
# SQLite: "SEARCH task_index USING INDEX ...", "SCAN task_index"; PostgreSQL: "Seq Scan on task_index",
# "Bitmap Index Scan on ix_task_index_...", "Index Scan using ix_task_index_... on task_index"
_TASK_INDEX_ACCESS = re.compile(r"(SEARCH|SCAN) task_index\b|Scan on task_index\b|Scan (on|using) ix_task_index_")


# --- helpers ----------------------------------------------------------------------------------------

def p95(samples: list[float]) -> float:
    """The 95th percentile by nearest rank: the smallest sample at least 95 % of the samples do not exceed."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def batches(rows: list, size: int = BATCH):
    for start in range(0, len(rows), size):
        yield rows[start:start + size]


def insert_returning_ids(conn, table, rows: list[dict]) -> list[int]:
    """Bulk insert in batches (executemany with RETURNING, as the engine inserts task rows); the new ids in
    the order of ``rows``."""
    statement = insert(table).returning(table.c.id, sort_by_parameter_order=True)
    ids: list[int] = []
    for chunk in batches(rows):
        ids.extend(conn.execute(statement, chunk).scalars().all())
    return ids


def insert_plain(conn, table, rows: list[dict]) -> None:
    for chunk in batches(rows):
        conn.execute(insert(table), chunk)


# --- seeding: real instances -------------------------------------------------------------------------

def vary(scenario: dict, rng: random.Random) -> dict:
    """The scenario with its start data's document title, leave destination and incident location drawn
    afresh, so the real instances' titles differ; nothing a step checks depends on them."""
    scenario = copy.deepcopy(scenario)
    for step in scenario["steps"]:
        data = step.get("data") if "start" in step else None
        if not data or "error" in step.get("expect", {}):  # a start that must be refused stays as written
            continue
        if data.get("title"):
            data["title"] = f"关于{rng.choice(TOPICS)}的{data.get('doc_type') or '请示'}"
        if data.get("destination"):
            data["destination"] = rng.choice(CITIES)
        if data.get("location"):
            data["location"] = rng.choice(PLACES)
    return scenario


def run_real(engine: Engine, clock: Clock, wanted: int, rng: random.Random) -> dict:
    """Replay the three processes' scenarios until at least ``wanted`` instances exist; every step and every
    expectation goes through the engine. Returns what was run."""
    paths = [p for p in sorted((ROOT / "processes").glob("*/scenarios/*.json")) if p.parent.parent.name in PROCESSES]
    loaded = [(path, scenarios.load(path)) for path in paths]
    runs, failures, instances, rounds = 0, [], 0, 0
    while instances < wanted:
        rounds += 1
        for path, scenario in loaded:
            if path.name in RUN_ONCE and rounds > 1:
                continue
            result = scenarios.run(engine, vary(scenario, rng), path.name)
            runs += 1
            if not result.passed:
                failures.append(f"{path.name}: {result.failures[0]}")
        with engine.db.connect() as conn:
            instances = conn.scalar(select(func.count()).select_from(Instance))
    clock.set(parse_instant(NOW))
    return {"runs": runs, "instances": instances, "failures": failures}


# --- seeding: people ----------------------------------------------------------------------------------

def added_staff() -> list[dict]:
    """ADDED_STAFF people: each department's staff (dept_staff@department), some of them also office clerks
    or duty-office staff, so these roles have many holders and their tasks wait to be claimed."""
    people = []
    for number in range(1, ADDED_STAFF + 1):
        department = DEPARTMENTS[number % len(DEPARTMENTS)]
        roles = [f"dept_staff@{department}"]
        if number % 10 == 0:
            roles.append("office_clerk")
        if number % 20 == 5:
            roles.append("duty_office")
        name = SURNAMES[number % len(SURNAMES)] + GIVEN[(number * 7) % len(GIVEN)]
        people.append({"username": f"staff_{number:03d}", "display_name": f"{name}（{number:03d}）",
                       "department": department, "roles": roles})
    return people


# --- seeding: cloned rows -----------------------------------------------------------------------------

class Shapes:
    """The real rows the clones copy: task shapes per process, instance rows per process and state, the
    instance title templates, and everyone's display name."""

    def __init__(self, conn):
        self.tasks: dict[str, list[dict]] = {p: [] for p in PROCESSES}
        for row in conn.execute(select(TaskIndex.process_key, TaskIndex.name, TaskIndex.title, TaskIndex.role,
                                       TaskIndex.candidate_department, TaskIndex.form, TaskIndex.due_unit,
                                       TaskIndex.due_note, TaskIndex.assigned_by).order_by(TaskIndex.id)):
            self.tasks[row.process_key].append(dict(row._mapping))
        self.instances: dict[tuple[str, str], list[dict]] = {}
        for row in conn.execute(select(Instance.definition_id, Instance.process_key, Instance.state, Instance.data,
                                       Instance.workflow).order_by(Instance.id)):
            self.instances.setdefault((row.process_key, row.state), []).append(dict(row._mapping))
        self.title_templates = {}
        for key, properties in conn.execute(select(DefinitionVersion.process_key, DefinitionVersion.properties)):
            self.title_templates[key] = properties.get("title_template") or properties.get("title", key)
        self.names = dict(conn.execute(select(User.username, User.display_name)).all())
        missing = [p for p in PROCESSES if not self.tasks[p] or (p, "running") not in self.instances]
        if missing:
            raise RuntimeError(f"no real running instance or task rows of {missing} to clone")

    def instance_like(self, rng: random.Random, process: str, state: str) -> dict:
        pool = (self.instances.get((process, state)) or self.instances.get((process, "completed"))
                or self.instances[(process, "running")])
        return rng.choice(pool)


class Cloner:
    """Draws the cloned instances, tasks, copies, notifications and absences (all from one seeded random)."""

    def __init__(self, shapes: Shapes, now, rng: random.Random):
        self.shapes, self.now, self.rng = shapes, now, rng
        everyone = [u for u in shapes.names if u not in ("admin", "shen_auditor")]
        self.light = [u for u in everyone if u not in HEAVY]
        light_weights = [rng.uniform(0.3, 1.7) for _ in self.light]
        assigned_share = 1 - UNASSIGNED_SHARE
        heavy_each = HEAVY_SHARE / assigned_share           # of the assigned open tasks
        light_total = 1 - heavy_each * len(HEAVY)
        scale = light_total / sum(light_weights)
        self.people = list(HEAVY) + self.light
        self.cum_weights = list(itertools.accumulate([heavy_each] * len(HEAVY) + [w * scale for w in light_weights]))

    def person(self) -> str:
        return self.rng.choices(self.people, cum_weights=self.cum_weights)[0]

    def instant(self, days_before_max: float, days_before_min: float = 0.0):
        return self.now - timedelta(days=self.rng.uniform(days_before_min, days_before_max))

    def title(self, process: str, started_by: str, data: dict) -> str:
        fields = {**data, "initiator_name": self.shapes.names.get(started_by, started_by)}
        doc_type = self.rng.choice(DOC_TYPES)
        fields.update(doc_type=doc_type, title=f"关于{self.rng.choice(TOPICS)}的{doc_type}",
                      destination=self.rng.choice(CITIES), location=self.rng.choice(PLACES))
        return _FIELD.sub(lambda m: str(fields.get(m.group(1), "")), self.shapes.title_templates[process])[:256]

    def clone(self, wanted_tasks: int, real_open: int, real_total: int):
        """Instances and their tasks until ``wanted_tasks`` task rows; each instance is running (its last one
        or two tasks open) or completed (all closed), chosen so that open tasks stay near OPEN_SHARE of all
        (real ones included); a few are failed."""
        rng = self.rng
        instances, tasks = [], []
        open_count, total = real_open, real_total
        processes = list(PROCESS_WEIGHTS)
        weights = [PROCESS_WEIGHTS[p] for p in processes]
        while len(tasks) < wanted_tasks:
            process = rng.choices(processes, weights)[0]
            if rng.random() < FAILED_SHARE:
                state = "failed"
            else:
                state = "running" if open_count < OPEN_SHARE * max(total, 1) else "completed"
            like = self.shapes.instance_like(rng, process, state)
            started_by = self.person()
            if state == "completed":
                started = self.instant(730, 2)
                closed_n, open_n = rng.randint(3, 7), 0
            else:
                started = self.instant(40, 0.05)
                closed_n, open_n = rng.randint(0, 3), (2 if rng.random() < 0.15 else 1)
            closed_n = min(closed_n, wanted_tasks - len(tasks))
            open_n = min(open_n, wanted_tasks - len(tasks) - closed_n)
            index = len(instances)
            at = started
            department = like["data"].get("department") or rng.choice(DEPARTMENTS)
            for _ in range(closed_n):
                completed_at = min(at + timedelta(hours=rng.uniform(0.5, 72)), self.now - timedelta(minutes=1))
                tasks.append(self.task(index, process, department, at, completed_at, started_by))
                at = completed_at
            for _ in range(open_n):
                tasks.append(self.task(index, process, department, at, None, started_by))
            ended = at if state == "completed" else None
            instances.append({"definition_id": like["definition_id"], "process_key": process,
                              "title": self.title(process, started_by, like["data"]), "state": state,
                              "lock_version": closed_n + 1, "started_at": started, "started_by": started_by,
                              "ended_at": ended, "error": "bench: a script failed" if state == "failed" else None,
                              "data": like["data"], "workflow": like["workflow"]})
            open_count += open_n
            total += closed_n + open_n
        return instances, tasks

    def task(self, index: int, process: str, department: str, created, completed_at, sent_by: str) -> dict:
        rng = self.rng
        shape = rng.choice(self.shapes.tasks[process])
        role, candidate, assigned_by = shape["role"], shape["candidate_department"] or department, shape["assigned_by"]
        state, completed_by, assignee = "open", None, None
        if completed_at is None:
            if rng.random() < UNASSIGNED_SHARE:
                role, candidate = rng.choice(CLAIM_POOLS)
                assigned_by = "role"
            else:
                assignee = self.person()
            due_at = created + timedelta(days=rng.uniform(1, 28)) if shape["due_unit"] else None
        else:
            assignee = self.person()
            if rng.random() < CANCELLED_SHARE:
                state = "cancelled"
            else:
                state, completed_by = "completed", assignee
            due_at = created + timedelta(days=rng.uniform(1, 5)) if shape["due_unit"] else None
        return {"_instance": index, "spiff_task_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "process_key": process, "name": shape["name"], "title": shape["title"], "role": role,
                "candidate_department": candidate, "assignee": assignee, "form": shape["form"], "state": state,
                "created_at": created, "completed_at": completed_at, "completed_by": completed_by, "due_at": due_at,
                "due_note": shape["due_note"], "due_unit": shape["due_unit"], "done_at": None,
                "assigned_by": assigned_by, "sent_by": sent_by, "round": 1, "queue": [], "hops": [], "draft": None,
                "overdue_notified_at": None}

    def notifications(self, tasks: list[dict], task_ids: list[int], titles: list[str]) -> list[dict]:
        """A new-task notice for every task that had an assignee, as the engine sends one; read, except for
        half of those still open."""
        rows = []
        for task, task_id in zip(tasks, task_ids, strict=True):
            if task["assignee"] is None:
                continue
            unread = task["state"] == "open" and self.rng.random() < 0.5
            read_at = None if unread else min(task["created_at"] + timedelta(hours=self.rng.uniform(0.1, 24)),
                                               self.now)
            rows.append({"username": task["assignee"], "kind": "new_task",
                         "message": f"新待办：{task['title']}（{titles[task['_instance']]}）"[:512],
                         "instance_id": task["instance_id"], "task_id": task_id,
                         "created_at": task["created_at"], "read_at": read_at})
        return rows

    def copies(self, instances: list[dict], instance_ids: list[int]) -> list[dict]:
        rows = []
        for instance, instance_id in zip(instances, instance_ids, strict=True):
            if self.rng.random() >= COPY_SHARE:
                continue
            for _ in range(self.rng.randint(1, 2)):
                recipient = COPIES_USER if self.rng.random() < 0.3 else self.rng.choice(self.light)
                sent_at = min(instance["started_at"] + timedelta(hours=self.rng.uniform(0.5, 48)), self.now)
                read_at = sent_at + timedelta(hours=1) if self.rng.random() < 0.6 else None
                rows.append({"instance_id": instance_id, "recipient": recipient, "sent_by": instance["started_by"],
                             "sent_at": sent_at, "note": "请阅知", "read_at": read_at})
        return rows

    def absences(self) -> list[dict]:
        """LIGHT_USER acts for ABSENT_USER now; forty absences of others lie in the past."""
        rows = [{"username": ABSENT_USER, "starts_at": self.now - timedelta(days=2),
                 "ends_at": self.now + timedelta(days=5), "acting_username": LIGHT_USER, "rule": "", "kind": "leave",
                 "recorded_at": self.now - timedelta(days=3)}]
        for _ in range(40):
            starts = self.instant(300, 20)
            rows.append({"username": self.rng.choice(self.light), "starts_at": starts,
                         "ends_at": starts + timedelta(days=self.rng.uniform(1, 10)),
                         "acting_username": self.rng.choice(self.light), "rule": "", "kind": "leave",
                         "recorded_at": starts - timedelta(days=1)})
        return rows


def seed(engine: Engine, clock: Clock, args) -> dict:
    """Real instances, the added staff, then the cloned rows; returns what was seeded and how long it took."""
    rng = random.Random(SEED)
    began = time.perf_counter()
    real = run_real(engine, clock, args.real, rng)
    real_seconds = time.perf_counter() - began
    with engine.db.connect() as conn:
        real_total = conn.scalar(select(func.count()).select_from(TaskIndex))
        real_open = conn.scalar(select(func.count()).select_from(TaskIndex).where(TaskIndex.state == "open"))
    with engine.unit_of_work() as uow:
        directory.load(uow.session, {"users": added_staff()})

    began = time.perf_counter()
    with engine.db.connect() as conn:
        shapes = Shapes(conn)
    cloner = Cloner(shapes, parse_instant(NOW), rng)
    instances, tasks = cloner.clone(max(0, args.tasks - real_total), real_open, real_total)
    draw_seconds = time.perf_counter() - began

    began = time.perf_counter()
    with engine.db.begin() as conn:
        instance_ids = insert_returning_ids(conn, Instance.__table__, instances)
        for task in tasks:
            task["instance_id"] = instance_ids[task["_instance"]]
        task_ids = insert_returning_ids(conn, TaskIndex.__table__,
                                        [{k: v for k, v in t.items() if k != "_instance"} for t in tasks])
        notifications = cloner.notifications(tasks, task_ids, [i["title"] for i in instances])
        insert_plain(conn, Notification.__table__, notifications)
        copies = cloner.copies(instances, instance_ids)
        insert_plain(conn, Copy.__table__, copies)
        insert_plain(conn, Absence.__table__, cloner.absences())
    insert_seconds = time.perf_counter() - began
    if engine.db.dialect.name == "postgresql":  # fresh planner statistics, as autovacuum would keep them
        with engine.db.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    return {"real": real, "real_seconds": real_seconds, "real_tasks": real_total, "cloned_instances": len(instances),
            "cloned_tasks": len(tasks), "notifications": len(notifications), "copies": len(copies),
            "draw_seconds": draw_seconds, "insert_seconds": insert_seconds}


def census(conn, now) -> dict:
    """What the database holds after seeding, and what the measured people have."""
    def count(table, *conditions):
        return conn.scalar(select(func.count()).select_from(table).where(*conditions))

    running = select(Instance.id).where(Instance.state == "running")
    open_running = (TaskIndex.state == "open", TaskIndex.instance_id.in_(running))
    per_person = dict(conn.execute(select(TaskIndex.assignee, func.count()).where(*open_running)
                                   .group_by(TaskIndex.assignee)).all())
    light = sorted(v for k, v in per_person.items() if k is not None and k not in HEAVY)
    return {
        "tasks": count(TaskIndex), "open": count(TaskIndex, TaskIndex.state == "open"),
        "instances": count(Instance), "running": count(Instance, Instance.state == "running"),
        "users": count(User), "user_roles": count(UserRole), "copies": count(Copy),
        "notifications": count(Notification),
        "unassigned": count(TaskIndex, *open_running, TaskIndex.assignee.is_(None)),
        "overdue": count(TaskIndex, *open_running, TaskIndex.due_at < now),
        "heavy": {u: per_person.get(u, 0) for u in HEAVY},
        "light_median": statistics.median(light) if light else 0, "people_with_open": len(light) + len(HEAVY),
        "light_user": per_person.get(LIGHT_USER, 0), "absent_user": per_person.get(ABSENT_USER, 0),
    }


# --- measuring ----------------------------------------------------------------------------------------

def queries() -> list[tuple[str, object]]:
    """(label, call on an Engine): the inbox pages, then counts (last)."""
    return [
        (f"todo, heavy ({HEAVY_USER}), page 1", lambda e: e.inbox(HEAVY_USER, "todo")),
        (f"todo, light ({LIGHT_USER}, acting for {ABSENT_USER})", lambda e: e.inbox(LIGHT_USER, "todo")),
        (f"claimable, role holder ({ROLE_HOLDER})", lambda e: e.inbox(ROLE_HOLDER, "claimable")),
        (f"done, heavy ({HEAVY_USER})", lambda e: e.inbox(HEAVY_USER, "done")),
        (f"copied ({COPIES_USER})", lambda e: e.inbox(COPIES_USER, "copied")),
        (f"todo, heavy, search q={SEARCH}", lambda e: e.inbox(HEAVY_USER, "todo", q=SEARCH)),
        ("todo, heavy, status=overdue", lambda e: e.inbox(HEAVY_USER, "todo", status="overdue")),
        ("todo, heavy, sort=-received", lambda e: e.inbox(HEAVY_USER, "todo", sort="-received")),
        (f"todo, heavy, page {DEEP_PAGE}", lambda e: e.inbox(HEAVY_USER, "todo", page=DEEP_PAGE)),
        (f"counts ({HEAVY_USER})", lambda e: e.counts(HEAVY_USER)),
    ]


class Capture:
    """The SELECT statements (and their DBAPI parameters) an SQLAlchemy engine sends while active."""

    def __init__(self, db):
        self.db, self.statements = db, []

    def _seen(self, _conn, _cursor, statement, parameters, _context, _executemany):
        if statement.lstrip().upper().startswith("SELECT"):  # not SQLite's BEGIN (engine/db.py)
            self.statements.append((statement, parameters))

    def __enter__(self):
        sqlalchemy.event.listen(self.db, "before_cursor_execute", self._seen)
        return self

    def __exit__(self, *_exc):
        sqlalchemy.event.remove(self.db, "before_cursor_execute", self._seen)


def fresh_engine(url: str, databases: list) -> Engine:
    """A new Engine at NOW, not warmed by the seeding; one connection opened (SELECT 1) so that connecting is
    not timed."""
    engine = Engine(url, clock=Clock(parse_instant(NOW)))
    databases.append(engine.db)
    with engine.db.connect() as conn:
        conn.execute(text("SELECT 1"))
    return engine


def measure(engine: Engine, samples: int, warmup: int) -> dict:
    """Every query ``samples`` times, round-robin (so a burst of load falls on all alike), after the first
    call (timed on its own) and ``warmup`` untimed rounds."""
    calls = queries()
    first = {label: timed(lambda: call(engine))[0] for label, call in calls}
    for _ in range(warmup):
        for _label, call in calls:
            call(engine)
    times: dict[str, list[float]] = {label: [] for label, _ in calls}
    for _ in range(samples):
        for label, call in calls:
            times[label].append(timed(lambda: call(engine))[0])
    return {"first": first, "times": times}


def inspect_calls(engine: Engine) -> dict:
    """One more untimed call of each query, capturing its statements: how many, whether any reads workflow
    state, and what each page returned."""
    facts = {}
    for label, call in queries():
        with Capture(engine.db) as capture:
            result = call(engine)
        sql = [s.lower() for s, _ in capture.statements]
        facts[label] = {"statements": len(sql),
                        "workflow_reads": sum(1 for s in sql if "instance_tasks" in s or "workflow" in s),
                        "shown": _shown(result)}
    return facts


def _shown(result: dict) -> str:
    if "rows" in result:
        return f"{len(result['rows'])} rows of {result['total']}"
    return ", ".join(f"{k} {v}" for k, v in result.items())


def explain(engine: Engine) -> list[tuple[str, list[str]]]:
    """The plans of the to-do page's two statements and of counts' to-do and claimable counts, exactly as the
    engine sends them: PostgreSQL EXPLAIN (ANALYZE, BUFFERS), SQLite EXPLAIN QUERY PLAN."""
    with Capture(engine.db) as todo:
        engine.inbox(HEAVY_USER, "todo")
    with Capture(engine.db) as counts:
        engine.counts(HEAVY_USER)
    with Capture(engine.db) as claimable:
        engine.inbox(ROLE_HOLDER, "claimable")
    wanted = [(f"todo page rows ({HEAVY_USER})", todo.statements[0]),
              (f"todo page total ({HEAVY_USER})", todo.statements[1]),
              (f"claimable page rows ({ROLE_HOLDER})", claimable.statements[0]),
              (f"counts: todo ({HEAVY_USER})", counts.statements[0]),
              (f"counts: claimable ({HEAVY_USER})", counts.statements[1])]
    postgres = engine.db.dialect.name == "postgresql"
    plans = []
    with engine.db.connect() as conn:
        for title, (statement, parameters) in wanted:
            if postgres:
                rows = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters).all()
                plans.append((title, [r[0] for r in rows]))
            else:
                rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
                plans.append((title, [r[-1] for r in rows]))
    return plans


# --- the run ------------------------------------------------------------------------------------------

def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=100000, help="task index rows in all (default 100000)")
    parser.add_argument("--samples", type=int, default=200, help="timed calls per query (default 200)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed rounds of every query first (default 2)")
    parser.add_argument("--real", type=int, default=300,
                        help="at least this many real instances run through the engine first (default 300)")
    add_postgres_options(parser, SCHEMA, "measure SQLite only")
    args = parser.parse_args(argv)
    if args.tasks < 1 or args.samples < 1 or args.warmup < 0 or args.real < 1:
        parser.error("--tasks, --samples and --real must be at least 1, --warmup at least 0")

    began = time.perf_counter()
    report = Report(strict=True)  # the target is p95 < 100 ms
    print(f"GovFlow inbox benchmark: {args.tasks} tasks, {args.samples} samples per query "
          f"(after the first call and {args.warmup} untimed rounds); target p95 < {TARGET_MS:g} ms")
    print(f"{environment()}; clock fixed at {NOW}")

    return run_each_database(args, SCHEMA, report, run, began)


def run(args, report: Report, name: str, url: str, databases: list) -> None:
    print(f"\n{name}: seeding ...", flush=True)
    clock = Clock(parse_instant(NOW))
    seeder = Engine(url, clock=clock)
    databases.append(seeder.db)
    seeder.migrate()
    with seeder.unit_of_work() as uow:
        directory.load(uow.session, load_directory())
    for result in seeder.deploy([ROOT / "processes" / p for p in PROCESSES], "admin"):
        if result.status != "deployed":
            raise RuntimeError(f"{result.key} was not deployed: {result.status}")
    seeded = seed(seeder, clock, args)
    real = seeded["real"]
    if real["failures"]:
        print(f"  {len(real['failures'])} scenario replays did not go as expected, e.g. {real['failures'][0]}")
    with seeder.db.connect() as conn:
        facts = census(conn, parse_instant(NOW))
    seeder.db.dispose()
    print(f"  {real['instances']} real instances ({real['runs']} scenario replays, {seeded['real_seconds']:.1f} s), "
          f"{seeded['cloned_tasks']} cloned tasks in {seeded['cloned_instances']} instances "
          f"(drawn {seeded['draw_seconds']:.1f} s, inserted {seeded['insert_seconds']:.1f} s)", flush=True)
    print(f"  {facts['tasks']} tasks, {facts['open']} open; heavy {facts['heavy']}; measuring ...", flush=True)

    engine = fresh_engine(url, databases)
    measured = measure(engine, args.samples, args.warmup)
    calls = inspect_calls(engine)
    cached = len(engine._instances._entries)  # workflows the measuring engine restored: must be none
    plans = explain(engine)

    labels = [label for label, _ in queries()]
    page_labels = [label for label in labels if not label.startswith("counts")]
    times = measured["times"]
    report.section(f"{name}: inbox on {facts['tasks']:,} tasks, median and p95 of {args.samples} calls each "
                   f"(value: p95)")
    for label in labels:
        samples = times[label]
        worst = p95(samples)
        verdict = "PASS" if ms(worst) < TARGET_MS else "MISS"
        report.row(label, ms(worst), "ms", f"< {TARGET_MS:g}",
                   f"{verdict}; median {ms(statistics.median(samples)):.2f} ms; {calls[label]['shown']}")
    pooled = [s for label in page_labels for s in times[label]]
    overall = ms(p95(pooled))
    print(f"  all pages: median {ms(statistics.median(pooled)):.1f} ms, p95 {overall:.1f} ms; counts: median "
          f"{ms(statistics.median(times[labels[-1]])):.1f} ms, p95 {ms(p95(times[labels[-1]])):.1f} ms", flush=True)
    report.row(f"all page samples ({len(pooled)}): median", ms(statistics.median(pooled)), "ms")
    report.row(f"all page samples ({len(pooled)}): p95", overall, "ms", f"< {TARGET_MS:g}",
               "PASS" if overall < TARGET_MS else "MISS")
    report.ratio(f"{name}: inbox page p95 / {TARGET_MS:g} ms", overall / TARGET_MS, 1.0)
    heavy = f"todo, heavy ({HEAVY_USER}), page 1"
    report.row("  first call on the fresh engine: todo, heavy", ms(measured["first"][heavy]), "ms", "",
               "information (compiles the statements)")
    report.row("  SQL statements: todo page / counts", f"{calls[heavy]['statements']} / "
               f"{calls[labels[-1]]['statements']}", "stmts", "", "information")
    workflow_reads = sum(c["workflow_reads"] for c in calls.values())
    report.row("  statements reading workflow state", workflow_reads, "", "", "must be 0: instance_tasks, "
               "instances.workflow")
    report.row("  workflows restored by the measuring engine", cached, "", "", "must be 0")
    if workflow_reads or cached:
        print(f"  WARNING: the inbox read workflow state ({workflow_reads} statements, {cached} restored)")

    report.section(f"{name}: what was seeded")
    report.row("task index rows / open", f"{facts['tasks']} / {facts['open']}", "", "",
               f"{100 * facts['open'] / facts['tasks']:.0f} % open")
    report.row("  real, through the engine", seeded["real_tasks"], "rows", "",
               f"{real['instances']} instances, {real['runs']} scenario replays, {seeded['real_seconds']:.1f} s")
    report.row("  cloned, bulk-inserted", seeded["cloned_tasks"], "rows", "",
               f"{seeded['cloned_instances']} instances; inserted in {seeded['insert_seconds']:.1f} s")
    report.row("instances / running", f"{facts['instances']} / {facts['running']}")
    report.row("open tasks of running instances: heavy people", ", ".join(str(v) for v in facts["heavy"].values()),
               "", "", ", ".join(facts["heavy"]))
    report.row("  others: median per person", facts["light_median"], "", "",
               f"{facts['people_with_open']} people with open tasks")
    report.row(f"  {LIGHT_USER} / {ABSENT_USER} (absent, {LIGHT_USER} acts)",
               f"{facts['light_user']} / {facts['absent_user']}")
    report.row("  unassigned (可认领) / overdue", f"{facts['unassigned']} / {facts['overdue']}")
    report.row("users / user_roles", f"{facts['users']} / {facts['user_roles']}")
    report.row("copies / notifications", f"{facts['copies']} / {facts['notifications']}")

    title = "EXPLAIN (ANALYZE, BUFFERS)" if name == "PostgreSQL" else "EXPLAIN QUERY PLAN"
    report.section(f"{name}: how the plans read task_index ({title} below)")
    for what, plan in plans:
        access = task_index_access(plan)
        report.row(f"{what}: by {ASSIGNEE_INDEX}", "yes" if ASSIGNEE_INDEX in " ".join(access) else "NO", "", "",
                   "; ".join(access))
        report.note(f"{name}: {title}, {what}", plan)



def task_index_access(plan: list[str]) -> list[str]:
    """The plan lines that say how task_index is read (which index, or a scan), without the cost figures."""
    lines = []
    for line in plan:
        line = line.strip().removeprefix("->").strip()
        if _TASK_INDEX_ACCESS.search(line):
            lines.append(line.split("  (cost")[0])
    return lines


if __name__ == "__main__":
    sys.exit(main())
