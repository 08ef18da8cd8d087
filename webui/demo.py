"""``govflow demo`` (a ready-to-use database with the demo directory, every model and sample instances) and
``govflow scenarios`` (scenario fixtures, each in a fresh temporary database)."""
from __future__ import annotations

import json
import tempfile
from datetime import timedelta
from pathlib import Path

from engine import directory, queries, scenarios
from engine.clock import LOCAL_ZONE
from engine.commands import Engine


def run_demo(engine: Engine, directory_path: Path, processes_path: Path) -> dict:
    engine.migrate()
    with engine.unit_of_work() as uow:
        directory.load(uow.session, json.loads(directory_path.read_text(encoding="utf-8")))
    deployed = [r.to_dict() for r in engine.deploy([processes_path], "admin")]
    with engine.read() as session:
        fresh = not queries.instances(session)
    started = _start_samples(engine) if fresh else []
    with engine.read() as session:
        open_tasks = queries.count_open_tasks(session)
    lines = [f"database: {engine.db.url.render_as_string(hide_password=True)}"]
    lines += [f"deployed {d['key']} v{d['version']} ({d['status']})" for d in deployed]
    lines += [f"started instance {s['instance']}: {s['title']}" for s in started]
    lines.append(f"{open_tasks} open tasks; try: govflow tasks --as zhao_vice, or govflow tasks --as feng_duty")
    lines.append("demo logins (password 'demo'): wang_mayor 区长, li_exec 常务副区长, zhao_vice 副区长, "
                 "liu_civil 民政局局长, zheng_clerk 办公室文秘, xie_emergency_staff 应急局值班员, "
                 "feng_duty 总值班室, shen_auditor 审计员, admin")
    return {"deployed": deployed, "started": started, "open_tasks": open_tasks, "text": "\n".join(lines)}


def run_scenarios(files: list[Path], directory_path: Path, processes_path: Path) -> list[scenarios.ScenarioResult]:
    """Each scenario in a fresh temporary SQLite database holding the directory and every model on disk."""
    document = json.loads(directory_path.read_text(encoding="utf-8"))
    results = []
    with tempfile.TemporaryDirectory(prefix="govflow-scenarios-") as folder:
        for number, path in enumerate(files):
            with scenarios.scratch_engine(Engine, f"sqlite:///{folder}/{number}.db", document, processes_path) as engine:
                results.append(scenarios.run(engine, scenarios.load(path), str(path)))
    return results


def _start_samples(engine: Engine) -> list[dict]:
    today = engine.clock.now().astimezone(LOCAL_ZONE).replace(hour=0, minute=0, second=0, microsecond=0)

    def local(days: int, hour: int) -> str:
        return (today + timedelta(days=days, hours=hour)).isoformat()

    samples = [
        ("emergency_report", "xie_emergency_staff", {
            "event_type": "事故灾难", "severity": "一般", "location": "城关街道某仓库",
            "occurred_at": (engine.clock.now() - timedelta(minutes=10)).astimezone(LOCAL_ZONE)
                           .replace(second=0, microsecond=0).isoformat(),
            "injuries": 1, "summary": "仓库起火，明火已扑灭，1人轻伤送医", "reporter": "谢宁", "phone": "13900000000"}),
        ("leave", "liu_civil", {"leave_kind": "出省", "destination": "上海市", "reason": "参加全国民政工作培训",
                       "depart_at": local(5, 8), "return_at": local(8, 18),
                       "contact_phone": "13800000001", "acting_person": "ma_civil_staff"}),
        ("leave", "zhao_vice", {"leave_kind": "离开市域到省内其他市(地)", "destination": "市郊调研", "reason": "带队考察养老服务",
                       "depart_at": local(2, 8), "return_at": local(2, 18), "acting_person": "li_exec"}),
    ]
    started = []
    for process, actor, data in samples:
        result = engine.start(process, actor, data)
        with engine.read() as session:
            title = queries.show(session, result["instance"])["title"]
        started.append({"instance": result["instance"], "title": title})
    return started
