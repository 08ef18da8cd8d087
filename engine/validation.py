"""Checks that a BPMN or DMN file is valid and that GovFlow can actually run it.

Every problem is reported at once, each with its file, line and element, in words
a process designer understands and saying what to fix.
"""
import ast
import re
import threading
from collections.abc import Callable
from copy import deepcopy
from dataclasses import dataclass
from datetime import datetime
from functools import cache

from lxml import etree
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnValidator
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.dmn.parser.BpmnDmnParser import SCHEMAS as DMN_SCHEMAS

from engine.xmlsafe import DiagramError, parse_xml

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
NS = {"bpmn": BPMN_NS, "spiffworkflow": SPIFF_NS}

_SUBPROCESS_TAGS = {f"{{{BPMN_NS}}}{tag}" for tag in ("subProcess", "transaction", "adHocSubProcess")}
_CONDITIONAL_GATEWAYS = ("exclusiveGateway", "inclusiveGateway")
_FORM_PROPERTY = "formJsonSchemaFilename"
_DUE_PROPERTY = "dueIn"

_DUE_RULE = re.compile(r"P(?:T([0-9]+)([MH])|([0-9]+)(WD|D))")
_DUE_UNITS = {"M": "minutes", "H": "hours", "WD": "working_days", "D": "days"}
_DUE_HELP = "write PT45M (minutes), PT5H (hours), P5WD (working days) or P3D (calendar days)"

# A "?" outside quotes stands for the column's input value in a DMN cell (as SpiffWorkflow reads it).
_DMN_INPUT_MARK = re.compile(r"(\?)(?=(?:[^'\"]|['\"][^'\"]*['\"])*$)")
_DMN_INPUT_NAME = "dmninputexpr"

_XSD_LOCK = threading.Lock()


class DiagramInvalid(ValueError):
    """A diagram with one or more problems; ``problems`` holds every one of them."""

    def __init__(self, problems):
        self.problems = list(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems))


@dataclass(frozen=True)
class ValidatedDiagram:
    source_name: str
    root: etree._Element
    process_ids: list[str]
    element_names: dict[str, str]
    user_task_roles: dict[str, str]


def parse_due_rule(text: str) -> tuple[int, str]:
    """Read a dueIn value: PT45M, PT5H, P5WD or P3D -> (amount, unit)."""
    match = _DUE_RULE.fullmatch(text)
    if match is None:
        raise ValueError(f"'{text}' is not a due time: {_DUE_HELP}")
    amount = int(match[1] or match[3])
    if amount == 0:
        raise ValueError(f"'{text}' gives no time at all: {_DUE_HELP}, with a number above 0")
    return amount, _DUE_UNITS[match[2] or match[4]]


def validate_bpmn(
    data: bytes,
    source_name: str,
    *,
    known_roles: Callable[[str], bool],
    file_exists: Callable[[str], bool],
    check_expression: Callable[[str], list[str]],
    check_script: Callable[[str], list[str]],
) -> ValidatedDiagram:
    """Validate a BPMN file against the BPMN 2.0 schema and GovFlow's rules, or raise DiagramInvalid."""
    root = _parse(data, source_name)
    report = _Report(source_name)
    _check_schema(root, _bpmn_validator(), report, "BPMN 2.0")
    processes = _executable_processes(root, report)
    roles = _check_lanes(root, processes, known_roles, report)
    _check_extension_ids(root, report)
    checker = _ProcessChecker(report, file_exists, check_expression, check_script)
    for process in processes:
        checker.check(process)
    report.raise_if_any()
    return ValidatedDiagram(
        source_name=source_name,
        root=root,
        process_ids=[process.get("id") for process in processes],
        element_names=_element_names(processes),
        user_task_roles=roles,
    )


def validate_dmn(data: bytes, source_name: str, *, check_expression: Callable[[str], list[str]]) -> list[str]:
    """Validate a DMN file and its cell expressions; return its decision ids or raise DiagramInvalid."""
    root = _parse(data, source_name)
    namespace = _dmn_namespace(root, source_name)
    report = _Report(source_name)
    _check_schema(root, _dmn_validator(namespace), report, "DMN")
    checker = _DecisionChecker(namespace, report, check_expression)
    decisions = checker.decisions(root)
    for decision in decisions:
        checker.table(decision)
    report.raise_if_any()
    return [decision.get("id") for decision in decisions]


# --- shared plumbing ---------------------------------------------------------------------------


class _Report:
    def __init__(self, source_name):
        self.source_name = source_name
        self.problems = []

    def add(self, owner, message, *, at=None):
        """Record a problem with ``owner`` (the element named in it), located at ``at`` or the owner."""
        where = owner if at is None else at
        self.problems.append(DiagramError(self.source_name, message, line=where.sourceline, element_id=owner.get("id")))

    def add_each(self, owner, prefix, messages, *, at=None):
        for message in messages:
            self.add(owner, f"{prefix}: {message}", at=at)

    def raise_if_any(self):
        if self.problems:
            raise DiagramInvalid(sorted(self.problems, key=lambda problem: problem.line or 0))


def _parse(data, source_name):
    try:
        return parse_xml(data, source_name).getroot()
    except DiagramError as error:
        raise DiagramInvalid([error]) from error


def _describe(element):
    """E.g. "user task 'Approve leave' (Task_1)" or "sequence flow Flow_2"."""
    kind = re.sub(r"(?<!^)(?=[A-Z])", " ", etree.QName(element).localname).lower()
    name = (element.get("name") or "").strip()
    return f"{kind} '{name}' ({element.get('id')})" if name else f"{kind} {element.get('id')}"


def _bpmn(tag):
    return f"{{{BPMN_NS}}}{tag}"


def _spiff(tag):
    return f"{{{SPIFF_NS}}}{tag}"


def _text(element):
    return (element.text or "").strip() if element is not None else ""


# --- XSD ---------------------------------------------------------------------------------------


@cache
def _bpmn_validator():
    return BpmnValidator()


@cache
def _dmn_validator(namespace):
    return BpmnValidator(DMN_SCHEMAS[namespace])


def _check_schema(root, validator, report, standard):
    copy = deepcopy(root)  # SpiffWorkflow's preprocess renames tags; keep the caller's tree intact
    validator.preprocess(copy)
    with _XSD_LOCK:
        validator.validator.validate(copy)
        errors = list(validator.validator.error_log)
    for error in errors:
        owner = _element_at(copy, error.path)
        message = re.sub(r"\{[^}]*\}", "", error.message)
        report.problems.append(
            DiagramError(
                report.source_name,
                f"this does not follow the {standard} standard: {message}",
                line=error.line,
                element_id=owner.get("id") if owner is not None else None,
            )
        )


def _element_at(root, path):
    prefixes = {prefix: uri for prefix, uri in root.nsmap.items() if prefix}
    try:
        found = root.getroottree().xpath(path, namespaces=prefixes)
    except etree.XPathError:
        return None
    return found[0] if len(found) == 1 and isinstance(found[0], etree._Element) else None


# --- BPMN: processes and lanes -----------------------------------------------------------------


def _executable_processes(root, report):
    processes = [p for p in root.iterfind("bpmn:process", NS) if p.get("isExecutable") == "true"]
    if not processes:
        report.add(
            root,
            "no process in this file is marked executable: tick 'Executable' on the process "
            '(isExecutable="true") so GovFlow can run it',
        )
    return processes


def _check_extension_ids(root, report):
    """SpiffWorkflow finds elements by id across the whole file, so a service operator or parameter whose id
    is also a BPMN element's id makes it parse the wrong element."""
    element_ids = {node.get("id") for node in root.iter() if isinstance(node.tag, str)
                   and node.tag.startswith(f"{{{BPMN_NS}}}") and node.get("id")}
    for node in root.iter(_spiff("serviceTaskOperator"), _spiff("parameter")):
        if node.get("id") in element_ids:
            report.add(node, f"the service {'parameter' if node.tag == _spiff('parameter') else 'operator'} "
                             f"'{node.get('id')}' has the same id as a diagram element: rename the element, "
                             f"since SpiffWorkflow would read the wrong one")


def _check_lanes(root, processes, known_roles, report):
    """Every user task must sit in a lane named after a known role; returns task id -> role."""
    lanes = {ref.text: ref.getparent() for ref in root.iter(_bpmn("flowNodeRef")) if ref.text}
    task_lanes = {task: _lane_of(task, lanes) for p in processes for task in p.iter(_bpmn("userTask"))}
    for task, lane in task_lanes.items():
        if lane is None:
            report.add(task, f"{_describe(task)} is not in any lane: put it in the lane of the role that does it")
    for lane in dict.fromkeys(lane for lane in task_lanes.values() if lane is not None):
        _check_lane_role(lane, known_roles, report)
    return {task.get("id"): lane.get("name") for task, lane in task_lanes.items() if lane is not None}


def _lane_of(node, lanes):
    """The lane SpiffWorkflow gives a node: its enclosing sub-process's lane, else its own."""
    container = node.getparent()
    if container is not None and container.tag in _SUBPROCESS_TAGS:
        lane = _lane_of(container, lanes)
        if lane is not None:
            return lane
    return lanes.get(node.get("id"))


def _check_lane_role(lane, known_roles, report):
    name = (lane.get("name") or "").strip()
    if not name:
        report.add(lane, f"{_describe(lane)} has user tasks but no name: name it after the role that works in it")
    elif not known_roles(name):
        report.add(
            lane,
            f"{_describe(lane)} is not a known role: rename it to one of the roles set up in GovFlow, "
            "or ask an administrator to add the role",
        )


def _element_names(processes):
    return {
        element.get("id"): element.get("name") or ""
        for process in processes
        for element in process.iter(_bpmn("*"))
        if element.get("id")
    }


# --- BPMN: checks inside one process -----------------------------------------------------------


class _ProcessChecker:
    def __init__(self, report, file_exists, check_expression, check_script):
        self.report = report
        self.file_exists = file_exists
        self.check_expression = check_expression
        self.check_script = check_script

    def check(self, process):
        self.forms(process)
        self.decisions(process)
        self.gateways(process)
        self.conditions(process)
        self.timers(process)
        self.scripts(process)
        self.due_rules(process)

    def forms(self, process):
        """Forms of user tasks (and of start events, which the start page shows)."""
        for element in process.iter(_bpmn("*")):
            for prop in _properties(element, _FORM_PROPERTY):
                form = (prop.get("value") or "").strip()
                if not form:
                    message = f"{_describe(element)} names no form file: enter the form's file name"
                    self.report.add(element, message, at=prop)
                elif not self.file_exists(form):
                    self.report.add(
                        element,
                        f"{_describe(element)} uses form '{form}', which does not exist: "
                        "add the form file or correct its name",
                        at=prop,
                    )

    def decisions(self, process):
        for task in process.iter(_bpmn("businessRuleTask")):
            called = task.find("bpmn:extensionElements/spiffworkflow:calledDecisionId", NS)
            decision_id = _text(called)
            if not decision_id:
                self.report.add(task, f"{_describe(task)} does not say which decision to run: set its decision id")
            elif not self.file_exists("dmn:" + decision_id):
                self.report.add(
                    task,
                    f"{_describe(task)} runs decision '{decision_id}', which does not exist: "
                    "add a DMN file with that decision id or correct the id",
                    at=called,
                )

    def gateways(self, process):
        for tag in _CONDITIONAL_GATEWAYS:
            for gateway in process.iter(_bpmn(tag)):
                self._gateway_conditions(gateway)

    def _gateway_conditions(self, gateway):
        flows = gateway.getparent().iterfind("bpmn:sequenceFlow", NS)
        outgoing = [flow for flow in flows if flow.get("sourceRef") == gateway.get("id")]
        if len(outgoing) < 2:
            return
        for flow in outgoing:
            if flow.get("id") != gateway.get("default") and not _text(flow.find("bpmn:conditionExpression", NS)):
                self.report.add(
                    flow,
                    f"{_describe(flow)} leaves {_describe(gateway)} without a condition: "
                    "add a condition, or make it the gateway's default flow",
                )

    def conditions(self, process):
        for flow in process.iter(_bpmn("sequenceFlow")):
            for condition in flow.iterfind("bpmn:conditionExpression", NS):
                self._expression(flow, "condition", condition, self.check_expression)

    def timers(self, process):
        for timer in process.iter(_bpmn("timerEventDefinition")):
            event = timer.getparent()
            values = [value for value in timer if etree.QName(value).localname in _TIMER_KINDS]
            if not any(_text(value) for value in values):
                self.report.add(
                    event, f"{_describe(event)} has a timer with no time set: enter a date, duration or cycle"
                )
            for value in values:
                self._expression(event, "timer", value, self.check_expression)
                self._timer_literal(event, value)

    def _timer_literal(self, event, value):
        text = _text(value)
        kind = _TIMER_KINDS[etree.QName(value).localname]
        literal = _string_literal(text)
        if literal is None:
            if text and kind.read(text) is not None:
                self.report.add(
                    event,
                    f"{_describe(event)} has timer {text} without quotes; timer values are expressions, "
                    f"so write it as \"{text}\"",
                    at=value,
                )
            return
        parsed = kind.read(literal)
        if parsed is None:
            problem = f"which is not {kind.what}: write it like '{kind.example}'"
        elif isinstance(parsed, datetime) and parsed.tzinfo is None:
            problem = (
                "which has no time zone, so it would fire in the server's local time: "
                f"add one, e.g. '{kind.example}'"
            )
        else:
            return
        self.report.add(event, f"{_describe(event)} has timer '{literal}', {problem}", at=value)

    def scripts(self, process):
        for task in process.iter(_bpmn("scriptTask")):
            for script in task.iterfind("bpmn:script", NS):
                self._expression(task, "script", script, self.check_script)
        for tag, part in (("preScript", "script run before the task"), ("postScript", "script run after the task")):
            for script in process.iter(_spiff(tag)):
                self._expression(script.getparent().getparent(), part, script, self.check_script)

    def due_rules(self, process):
        for element in process.iter(_bpmn("*")):
            for prop in _properties(element, _DUE_PROPERTY):
                try:
                    parse_due_rule(prop.get("value", ""))
                except ValueError as exc:
                    message = f"{_describe(element)} has a due time that is not understood: {exc}"
                    self.report.add(element, message, at=prop)

    def _expression(self, owner, part, element, check):
        if _text(element):
            self.report.add_each(owner, f"{_describe(owner)}, {part}", check(element.text), at=element)


def _properties(element, name):
    return element.iterfind(
        f"bpmn:extensionElements/spiffworkflow:properties/spiffworkflow:property[@name='{name}']", NS
    )


def _string_literal(text):
    try:
        value = ast.literal_eval(text)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None
    return value if isinstance(value, str) else None


# --- BPMN: timer values ------------------------------------------------------------------------


@dataclass(frozen=True)
class _TimerKind:
    reader: Callable[[str], object]
    what: str
    example: str

    def read(self, value):
        """The value as SpiffWorkflow reads it, or None if it cannot."""
        try:
            return self.reader(value)
        except Exception:  # SpiffWorkflow's readers raise bare Exception, ValueError, AttributeError...
            return None


_TIMER_KINDS = {
    "timeDate": _TimerKind(datetime.fromisoformat, "a date and time", "2025-03-01T09:00:00+08:00"),
    "timeDuration": _TimerKind(TimerEventDefinition.parse_iso_duration, "an ISO 8601 duration", "PT30M"),
    "timeCycle": _TimerKind(TimerEventDefinition.parse_iso_recurring_interval, "a repeating interval", "R3/PT1H"),
}


# --- DMN ---------------------------------------------------------------------------------------


def _dmn_namespace(root, source_name):
    qname = etree.QName(root)
    if qname.localname != "definitions" or qname.namespace not in DMN_SCHEMAS:
        message = "this is not a DMN decision file (DMN 1.1, 1.2 or 1.3): save the decision table from the DMN modeler"
        raise DiagramInvalid([DiagramError(source_name, message, line=root.sourceline)])
    return qname.namespace


class _DecisionChecker:
    def __init__(self, namespace, report, check_expression):
        self.ns = {"dmn": namespace}
        self.report = report
        self.check_expression = check_expression

    def decisions(self, root):
        decisions = root.findall("dmn:decision", self.ns)
        if not decisions:
            self.report.add(root, "the file contains no decision: add a decision table")
        elif len(decisions) > 1:
            self.report.add(
                decisions[1],
                f"the file holds {len(decisions)} decisions but GovFlow reads one decision per file: "
                "move each decision into its own DMN file",
            )
        for decision in decisions:
            if not (decision.get("id") or "").strip():
                self.report.add(decision, "a decision has no id: give it the id business rule tasks call it by")
        return decisions

    def table(self, decision):
        tables = decision.findall("dmn:decisionTable", self.ns)
        if len(tables) != 1:
            self.report.add(decision, f"{_describe(decision)} has {len(tables)} decision tables: it needs exactly one")
            return
        for column, expression in enumerate(tables[0].iterfind("dmn:input/dmn:inputExpression", self.ns), 1):
            self._input_expression(decision, column, expression)
        for row, rule in enumerate(tables[0].iterfind("dmn:rule", self.ns), 1):
            self._cells(decision, f"rule {row}, input", rule.iterfind("dmn:inputEntry", self.ns), _dmn_test_expression)
            self._cells(decision, f"rule {row}, output", rule.iterfind("dmn:outputEntry", self.ns), str)

    def _input_expression(self, decision, column, expression):
        text = _text(expression.find("dmn:text", self.ns))
        prefix = f"{_describe(decision)}, input column {column}"
        if not text:
            message = f"{prefix} has no expression: enter the variable or expression it reads"
            self.report.add(decision, message, at=expression)
        else:
            self.report.add_each(decision, prefix, self.check_expression(text), at=expression)

    def _cells(self, decision, where, entries, to_expression):
        for column, entry in enumerate(entries, 1):
            text = _text(entry.find("dmn:text", self.ns))
            if text and text != "-":
                prefix = f"{_describe(decision)}, {where} column {column}"
                self.report.add_each(decision, prefix, self.check_expression(to_expression(text)), at=entry)


def _dmn_test_expression(text):
    """Turn an input cell such as '> 5', '4 < ? < 6' or '"yes"' into the Python expression Spiff evaluates."""
    marked = _DMN_INPUT_MARK.sub(_DMN_INPUT_NAME, text)
    if marked != text:
        return marked
    try:
        ast.parse(text, mode="eval")
    except SyntaxError:
        return f"{_DMN_INPUT_NAME} {text}"
    return text
