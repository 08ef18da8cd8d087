"""What process designers and admins work with besides running instances: every version of a definition with
its instance counts and sources, drafts of a model being edited, validation of a draft exactly as deploy
validates, deployment of a model given as text (from the editor or an upload) with a change note, and the
procedure's scenario fixtures run against a draft in throw-away databases."""
from __future__ import annotations

import tempfile
from pathlib import Path

from sqlalchemy import delete, func, select

from . import audit, scenarios
from .clock import local_iso
from .deploy import Bundle, deploy_bundle
from .errors import InvalidDiagram, NotFound
from .models import DefinitionVersion, Draft, Instance
from .operations import check_admin


def versions(conn, key: str | None = None) -> list[dict]:
    counts = {}
    for definition_id, state, count in conn.execute(select(Instance.definition_id, Instance.state, func.count())
                                                    .group_by(Instance.definition_id, Instance.state)):
        counts.setdefault(definition_id, {})[state] = count
    query = select(DefinitionVersion.id, DefinitionVersion.process_key, DefinitionVersion.version,
                   DefinitionVersion.sha256, DefinitionVersion.properties, DefinitionVersion.deployed_at,
                   DefinitionVersion.deployed_by, DefinitionVersion.note, DefinitionVersion.source_name)
    if key:
        query = query.where(DefinitionVersion.process_key == key)
    rows = conn.execute(query.order_by(DefinitionVersion.process_key, DefinitionVersion.version)).all()
    return [{"key": r.process_key, "version": r.version, "sha256": r.sha256,
             "title": r.properties.get("title") or r.process_key, "source": r.source_name,
             "deployed_at": local_iso(r.deployed_at), "deployed_by": r.deployed_by, "note": r.note,
             "instances": counts.get(r.id, {})} for r in rows]


def source(session, key: str, version: int | None = None) -> dict:
    query = select(DefinitionVersion).where(DefinitionVersion.process_key == key)
    query = query.where(DefinitionVersion.version == version) if version else \
        query.order_by(DefinitionVersion.version.desc()).limit(1)
    row = session.scalars(query).first()
    if row is None:
        raise NotFound(f"没有这个流程版本 / no version {version or 'latest'} of {key}")
    return {"key": key, "version": row.version, "xml": row.source_xml, "dmn": row.dmn_sources, "forms": row.forms,
            "note": row.note}


def save_draft(session, key: str, xml: str, dmn: dict | None, forms: dict | None, actor: str, now) -> dict:
    """Save the draft of ``key``; DMN tables or forms not given stay as the draft had them (the decision-table page
    saves only its tables, the diagram page its diagram and forms), else are those of the latest version."""
    base = _latest(session, key)
    existing = session.get(Draft, key)
    draft = existing or Draft(process_key=key)
    kept = existing or base
    draft.source_xml = xml
    draft.dmn_sources = dmn if dmn is not None else (kept.dmn_sources if kept else {})
    draft.forms = forms if forms is not None else (kept.forms if kept else {})
    draft.base_version = base.version if base else None
    draft.updated_by, draft.updated_at = actor, now
    session.add(draft)
    session.flush()
    return draft_dict(draft)


def draft(session, key: str) -> dict | None:
    found = session.get(Draft, key)
    return draft_dict(found) if found else None


def discard_draft(session, key: str) -> bool:
    return session.execute(delete(Draft).where(Draft.process_key == key)).rowcount > 0


def draft_dict(found: Draft) -> dict:
    return {"key": found.process_key, "xml": found.source_xml, "dmn": found.dmn_sources, "forms": found.forms,
            "base_version": found.base_version, "updated_by": found.updated_by,
            "updated_at": local_iso(found.updated_at)}


def sources(session, key: str, dmn: dict | None, forms: dict | None) -> tuple[dict, dict]:
    """The DMN tables and forms a model given as text goes with: those given, else the draft's (the decision-table
    page saves its tables to the draft), else the latest version's."""
    if dmn is not None and forms is not None:
        return dmn, forms
    kept = session.get(Draft, key) or _latest(session, key)
    return (dmn if dmn is not None else (kept.dmn_sources if kept else {}),
            forms if forms is not None else (kept.forms if kept else {}))


def bundle(session, key: str, xml: str, dmn: dict | None, forms: dict | None) -> Bundle:
    """The model as deploy reads it, with its tables and forms as ``sources`` finds them."""
    return Bundle.from_sources(key, xml, *sources(session, key, dmn, forms))


def validate(session, key: str, xml: str, dmn: dict | None, forms: dict | None, actor: str, now) -> dict:
    """Every problem deploy would report, each with its line and element; nothing is stored."""
    try:
        result = deploy_bundle(session, bundle(session, key, xml, dmn, forms), actor, now)
    except InvalidDiagram as err:
        return {"valid": False, "problems": err.details or [{"source": key, "line": None, "element": None,
                                                             "message": err.message}]}
    return {"valid": True, "problems": [], "would_be": result.to_dict()}


def deploy(session, key: str, xml: str, dmn: dict | None, forms: dict | None, actor: str, now, note: str) -> dict:
    check_admin(session.connection(), actor)
    result = deploy_bundle(session, bundle(session, key, xml, dmn, forms), actor, now, note)
    if result.status == "deployed":
        audit.record(session, action="deploy", actor=actor, at=now, data={**result.to_dict(), "note": note})
        session.execute(delete(Draft).where(Draft.process_key == key))
    return result.to_dict()


def run_scenarios(key: str, xml: str, dmn: dict, forms: dict, directory_document: dict, processes: Path,
                  engine_class) -> list[dict]:
    """The scenario fixtures of ``key``'s procedure that start ``key``, each in a fresh temporary SQLite
    database holding the directory, every model on disk and this model (the draft, with the tables and forms
    ``sources`` gave) as its newest version."""
    folder_name = key.partition(".")[0]
    paths = [path for path in scenarios.find(processes) if path.parent.parent.name == folder_name
             and any(step.get("start") == key for step in scenarios.load(path)["steps"])]
    results = []
    with tempfile.TemporaryDirectory(prefix="govflow-draft-") as folder:
        for number, path in enumerate(paths):
            with scenarios.scratch_engine(engine_class, f"sqlite:///{folder}/{number}.db", directory_document,
                                          processes) as engine:
                with engine.unit_of_work() as uow:
                    deploy_bundle(uow.session, bundle(uow.session, key, xml, dmn, forms), "admin", uow.now, "draft")
                results.append(scenarios.run(engine, scenarios.load(path), str(path.relative_to(processes))).to_dict())
    return results


def _latest(session, key: str):
    return session.scalars(select(DefinitionVersion).where(DefinitionVersion.process_key == key)
                           .order_by(DefinitionVersion.version.desc()).limit(1)).first()
