"""Deploying process models: validate, compile with SpiffWorkflow, store a definition version.

A process model is a .bpmn file in a procedure folder (``processes/<procedure>/``) with the DMN tables
(*.dmn) and forms (``forms/*.json``) beside it. Its key is the folder name, or ``<folder>.<file stem>`` for
a district variant (``overseas_travel/fangshan.bpmn`` -> ``overseas_travel.fangshan``). The version's
content hash covers the diagram and every DMN table and form it uses, so changing any of them deploys a
new version; deploying the same content again changes nothing.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from lxml import etree
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from . import directory, forms
from .bpmn import CompiledSpec, GovflowParser
from .errors import InvalidDiagram, InvalidInput
from .models import DefinitionVersion
from .scripting import check_expression, check_script
from .validation import DiagramInvalid, ValidatedDiagram, validate_bpmn, validate_dmn
from .xmlsafe import DiagramError, parse_xml

SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
NS = {"bpmn": BPMN_NS, "spiffworkflow": SPIFF_NS}
EXPRESSION_PROPERTIES = ("startCheck", "completeCheck", "dueFrom", "doneAt", "assignee", "departmentFrom")


@dataclass
class Bundle:
    """One diagram with the DMN tables and forms of its folder."""
    key: str
    bpmn_path: Path
    bpmn: bytes
    dmn: dict[str, bytes]
    forms: dict[str, dict]

    @classmethod
    def from_path(cls, bpmn_path: Path) -> "Bundle":
        folder = bpmn_path.parent
        key = folder.name if bpmn_path.stem == folder.name else f"{folder.name}.{bpmn_path.stem}"
        dmn = {p.name: p.read_bytes() for p in sorted(folder.glob("*.dmn"))}
        form_files = sorted(folder.glob("forms/*.json"))
        loaded = {}
        for path in form_files:
            try:
                loaded[path.name] = json.loads(path.read_text(encoding="utf-8"))
            except json.JSONDecodeError as err:
                raise InvalidDiagram(f"{path}: line {err.lineno}: the form is not valid JSON: {err.msg}") from err
        return cls(key, bpmn_path, bpmn_path.read_bytes(), dmn, loaded)

    @classmethod
    def from_sources(cls, key: str, bpmn: str, dmn: dict[str, str], forms: dict[str, dict]) -> "Bundle":
        """A model given as text (from the editor or an upload) rather than files on disk."""
        name = key.rpartition(".")[2] or key
        return cls(key, Path(f"{name}.bpmn"), bpmn.encode("utf-8"), {n: t.encode("utf-8") for n, t in dmn.items()},
                   dict(forms))


@dataclass
class DeployResult:
    key: str
    version: int
    sha256: str
    status: str  # "deployed" or "unchanged"

    def to_dict(self) -> dict:
        return {"key": self.key, "version": self.version, "sha256": self.sha256, "status": self.status}


def find_models(paths: list[Path]) -> list[Path]:
    """The .bpmn files named by ``paths`` (files, or folders searched recursively); a .dmn file or form
    stands for the diagrams of its procedure folder."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(path.rglob("*.bpmn")))
        elif path.suffix == ".bpmn":
            found.append(path)
        elif path.suffix in (".dmn", ".json") and path.exists():
            folder = path.parent.parent if path.parent.name == "forms" else path.parent
            found.extend(sorted(folder.glob("*.bpmn")))
        else:
            raise InvalidInput(f"{path}: not a .bpmn/.dmn file or a folder of them")
    return list(dict.fromkeys(found))


def deploy_bundle(session: Session, bundle: Bundle, actor: str, now, note: str = "") -> DeployResult:
    decisions = _validated_decisions(bundle)
    diagram = _validated_diagram(session, bundle, decisions)
    _check_rules(bundle, diagram)
    used_forms = {name: bundle.forms[name] for name in _referenced_forms(diagram.root)}
    for name, schema in used_forms.items():
        forms.check_schema(schema, name)
    used_dmn = _used_dmn(bundle, decisions, _referenced_decisions(diagram.root))
    sha = _content_hash(bundle.bpmn, used_dmn, used_forms)
    latest = session.scalars(select(DefinitionVersion).where(DefinitionVersion.process_key == bundle.key)
                             .order_by(DefinitionVersion.version.desc())).first()
    if latest is not None and latest.sha256 == sha:
        return DeployResult(bundle.key, latest.version, sha, "unchanged")
    compiled = _compile(bundle, diagram, used_dmn)
    version = (session.scalar(select(func.max(DefinitionVersion.version))
                              .where(DefinitionVersion.process_key == bundle.key)) or 0) + 1
    session.add(DefinitionVersion(
        process_key=bundle.key, version=version, sha256=sha, source_name=str(bundle.bpmn_path.name),
        source_xml=bundle.bpmn.decode("utf-8"), dmn_sources={n: b.decode("utf-8") for n, b in used_dmn.items()},
        forms=used_forms, spec=compiled.to_dict(), properties=_process_properties(session, diagram),
        deployed_at=now, deployed_by=actor, note=note[:512]))
    session.flush()
    return DeployResult(bundle.key, version, sha, "deployed")


def _validated_decisions(bundle: Bundle) -> dict[str, str]:
    """decision id -> DMN file name, for every valid DMN file of the folder."""
    decisions = {}
    for name, content in bundle.dmn.items():
        try:
            ids = validate_dmn(content, name, check_expression=check_expression)
        except DiagramInvalid as err:
            raise _invalid(err.problems) from err
        except DiagramError as err:
            raise _invalid([err]) from err
        decisions.update({decision_id: name for decision_id in ids})
    return decisions


def _validated_diagram(session: Session, bundle: Bundle, decisions: dict[str, str]) -> ValidatedDiagram:
    def file_exists(name: str) -> bool:
        if name.startswith("dmn:"):
            return name[4:] in decisions
        return name in bundle.forms

    try:
        return validate_bpmn(bundle.bpmn, bundle.bpmn_path.name,
                             known_roles=lambda lane: directory.lane_is_known(session, lane),
                             file_exists=file_exists, check_expression=check_expression, check_script=check_script)
    except DiagramInvalid as err:
        raise _invalid(err.problems) from err
    except DiagramError as err:
        raise _invalid([err]) from err


def _invalid(problems) -> InvalidDiagram:
    details = [{"source": p.source, "line": p.line, "element": p.element_id, "message": p.message}
               for p in problems]
    listing = "\n".join(str(p) for p in problems)
    return InvalidDiagram(f"the diagram cannot be deployed:\n{listing}", details)


def _check_rules(bundle: Bundle, diagram: ValidatedDiagram) -> None:
    """``startCheck``/``completeCheck`` rules and the ``dueFrom``/``doneAt``/``assignee``/``departmentFrom``
    expressions go through the same restricted-expression check as every other expression."""
    for name in EXPRESSION_PROPERTIES:
        for node in diagram.root.xpath(f".//spiffworkflow:property[@name='{name}']", namespaces=NS):
            problems = check_expression(node.get("value", ""))
            if problems:
                raise InvalidDiagram(f"{bundle.bpmn_path.name}:{node.sourceline}: {name}: {'; '.join(problems)}",
                                     [{"source": bundle.bpmn_path.name, "line": node.sourceline,
                                       "element": None, "message": "; ".join(problems)}])


def _referenced_forms(root) -> list[str]:
    values = root.xpath(".//spiffworkflow:property[@name='formJsonSchemaFilename']/@value", namespaces=NS)
    return sorted(set(values))


def _referenced_decisions(root) -> set[str]:
    return {text.strip() for text in root.xpath(".//spiffworkflow:calledDecisionId/text()", namespaces=NS)}


def _used_dmn(bundle: Bundle, decisions: dict[str, str], referenced: set[str]) -> dict[str, bytes]:
    files = sorted({decisions[decision] for decision in referenced})
    return {name: bundle.dmn[name] for name in files}


def _content_hash(bpmn: bytes, dmn: dict[str, bytes], used_forms: dict[str, dict]) -> str:
    digest = hashlib.sha256(bpmn)
    for name, content in sorted(dmn.items()):
        digest.update(b"\0dmn:" + name.encode() + b"\0" + content)
    for name, schema in sorted(used_forms.items()):
        digest.update(b"\0form:" + name.encode() + b"\0" + json.dumps(schema, sort_keys=True).encode())
    return digest.hexdigest()


def _compile(bundle: Bundle, diagram: ValidatedDiagram, used_dmn: dict[str, bytes]) -> CompiledSpec:
    parser = GovflowParser()
    parser.add_bpmn_xml(diagram.root, filename=bundle.bpmn_path.name)
    for name, content in used_dmn.items():
        parser.add_dmn_xml(parse_xml(content, name).getroot(), filename=name)
    main = diagram.process_ids[0]
    try:
        return CompiledSpec(parser.get_spec(main), parser.get_subprocess_specs(main))
    except ValidationException as err:
        where = f"element '{err.id}'" if getattr(err, "id", None) else "the diagram"
        raise InvalidDiagram(f"{bundle.bpmn_path.name}: SpiffWorkflow cannot run {where}: {err}",
                             [{"source": bundle.bpmn_path.name, "line": err.line_number or None,
                               "element": err.id or None, "message": str(err)}]) from err


def _process_properties(session: Session, diagram: ValidatedDiagram) -> dict:
    """What lists and the start page show (title, description, start form, who may start it) and the role
    each lane stands for, resolved now so a step does not look it up."""
    root = diagram.root
    process = root.xpath(f".//bpmn:process[@id='{diagram.process_ids[0]}']", namespaces=NS)[0]
    start = process.xpath("./bpmn:startEvent[not(bpmn:timerEventDefinition) and not(bpmn:messageEventDefinition)]",
                          namespaces=NS)
    start_props = _properties(start[0]) if start else {}
    documentation = process.xpath("./bpmn:documentation/text()", namespaces=NS)
    return {
        "process_id": diagram.process_ids[0],
        "title": process.get("name") or diagram.process_ids[0],
        "description": documentation[0].strip() if documentation else "",
        "start_form": start_props.get("formJsonSchemaFilename"),
        "start_roles": [r.strip() for r in start_props.get("startRoles", "").split(",") if r.strip()],
        "title_template": start_props.get("instanceTitle"),
        "start_check": start_props.get("startCheck"),
        "start_check_message": start_props.get("startCheckMessage"),
        "lanes": {lane: directory.role_for_lane(session, lane) for lane in _lane_names(root)},
    }


def _lane_names(root) -> set[str]:
    return {name for name in root.xpath(".//bpmn:lane/@name", namespaces=NS) if name}


def _properties(element: etree._Element) -> dict[str, str]:
    nodes = element.xpath("./bpmn:extensionElements/spiffworkflow:properties/spiffworkflow:property", namespaces=NS)
    return {node.get("name"): node.get("value") for node in nodes}


def latest_versions(conn) -> list:
    """The latest version of every deployed process: key, version and properties, by key."""
    newest = (select(DefinitionVersion.process_key, func.max(DefinitionVersion.version).label("version"))
              .group_by(DefinitionVersion.process_key).subquery())
    return conn.execute(select(DefinitionVersion.process_key, DefinitionVersion.version, DefinitionVersion.properties)
                        .join(newest, (newest.c.process_key == DefinitionVersion.process_key)
                              & (newest.c.version == DefinitionVersion.version))
                        .order_by(DefinitionVersion.process_key)).all()
