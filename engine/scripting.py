"""Restricted evaluation of the Python-like text that designers put in diagrams.

Gateway conditions, timer and multi-instance expressions, DMN cells and script-task bodies all
arrive in uploaded BPMN/DMN files, so SpiffWorkflow's plain ``eval``/``exec`` must never see them.
Here every text is parsed with ``ast`` and checked against one allow-list (``_Checker``) -- the same
check serves deploy time (``check_expression``/``check_script``) and run time -- and is then
evaluated by simpleeval; script statements are interpreted one by one (``_ScriptRunner``).

Only plain data is reachable: task-data values, literals, and the results of the functions in
``FUNCTIONS``. Attributes are limited per value type (``_READ_ATTRS``; scripts may also call the
methods in ``_MUTATING_METHODS``), names and attributes starting with ``_`` are refused, and sizes
are capped (loop iterations, ranges, string/list growth, integer size).
"""
from __future__ import annotations

import ast
import json
import textwrap
from collections import ChainMap
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from functools import partial
from zoneinfo import ZoneInfo

from simpleeval import (
    DEFAULT_OPERATORS,
    MAX_STRING_LENGTH,
    EvalWithCompoundTypes,
    InvalidExpression,
    safe_mult,
    safe_power,
)
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.script_engine.python_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment

from .clock import as_instant, parse_instant

LOCAL_ZONE = ZoneInfo("Asia/Shanghai")

MAX_LOOP_ITERATIONS = 100_000  # all for-loop iterations of one script run, and the longest range()
MAX_INT_BITS = 10_000  # about 3000 decimal digits: far beyond any amount, far below a memory bomb
MAX_ROUND_DIGITS = 100


class UnsafeExpression(ValueError):
    """Expression or script text uses something the restricted evaluator does not allow."""


# ---------------------------------------------------------------- functions and operators

def _check_size(size):
    if size > MAX_STRING_LENGTH:
        raise UnsafeExpression(f"the result would have {size} items or characters; the limit is {MAX_STRING_LENGTH}")


def _check_int_bits(bits):
    if bits > MAX_INT_BITS:
        raise UnsafeExpression(f"the result would be a number of about {bits} bits; the limit is {MAX_INT_BITS}")


def _range(*args):
    numbers = range(*args)
    if numbers[MAX_LOOP_ITERATIONS:MAX_LOOP_ITERATIONS + 1]:  # slicing, unlike len(), never overflows
        raise UnsafeExpression(f"range() may produce at most {MAX_LOOP_ITERATIONS} numbers")
    return numbers


def _sum(values, start=0):
    values = list(values)
    if not all(isinstance(v, (int, float, timedelta)) for v in [start, *values]):
        raise UnsafeExpression("sum() only adds numbers or timedeltas")
    return sum(values, start)


def _round(number, ndigits=None):
    if ndigits is not None and abs(ndigits) > MAX_ROUND_DIGITS:
        raise UnsafeExpression(f"round() accepts at most {MAX_ROUND_DIGITS} digits")
    return round(number, ndigits)


def _mult(a, b):
    if isinstance(a, int) and isinstance(b, int):
        _check_int_bits(a.bit_length() + b.bit_length())
    return safe_mult(a, b)


def _power(a, b):
    if isinstance(a, int) and isinstance(b, int) and b > 0:
        _check_int_bits(a.bit_length() * b)
    return safe_power(a, b)


def _mod(a, b):
    if isinstance(a, (str, bytes)):
        raise UnsafeExpression("'%' formatting of strings is not allowed; use f-strings or +")
    return a % b


def _local_date(instant) -> date:
    """The Asia/Shanghai calendar date of an instant (a datetime or ISO-8601 text with a zone)."""
    return as_instant(instant).astimezone(LOCAL_ZONE).date()


def _hours_between(start, end) -> float:
    """Hours from ``start`` to ``end`` (instants or ISO-8601 text); negative when end is earlier."""
    return (as_instant(end) - as_instant(start)).total_seconds() / 3600


def _minutes_between(start, end) -> float:
    """Minutes from ``start`` to ``end`` (instants or ISO-8601 text); negative when end is earlier."""
    return (as_instant(end) - as_instant(start)).total_seconds() / 60


def _add_minutes(instant, minutes) -> datetime:
    """The instant ``minutes`` after ``instant`` (e.g. a reporting limit counted from when an event occurred)."""
    return as_instant(instant) + timedelta(minutes=minutes)


def _parse_date(text) -> date:
    """A calendar date from ISO-8601 text (YYYY-MM-DD)."""
    return text if isinstance(text, date) and not isinstance(text, datetime) else date.fromisoformat(str(text))


def _add_hours(instant, hours) -> datetime:
    return as_instant(instant) + timedelta(hours=hours)


def _only_in_a_command(name):
    def refuse(*_args):
        raise UnsafeExpression(f"{name}() is only known while a command runs")
    return refuse


# Bound to the running command's clock and working-day calendar (RestrictedScriptEngine's ``functions``).
COMMAND_FUNCTIONS = ("now", "add_working_days", "working_days_between")

FUNCTIONS = {
    **{name: _only_in_a_command(name) for name in COMMAND_FUNCTIONS},
    "len": len, "min": min, "max": max, "sum": _sum, "abs": abs, "round": _round,
    "int": int, "float": float, "str": str, "bool": bool, "sorted": sorted, "any": any, "all": all,
    "list": list, "dict": dict, "set": set, "tuple": tuple, "range": _range,
    "date": date, "datetime": datetime, "timedelta": timedelta, "parse_datetime": parse_instant,
    "local_date": _local_date, "hours_between": _hours_between, "minutes_between": _minutes_between,
    "add_minutes": _add_minutes, "add_hours": _add_hours, "parse_date": _parse_date,
}
_OPERATORS = {**DEFAULT_OPERATORS, ast.Mult: _mult, ast.Pow: _power, ast.Mod: _mod}


# ---------------------------------------------------------------- attributes of data values

_DATE_ATTRS = {"year", "month", "day", "weekday", "isoweekday", "isoformat", "replace"}
_READ_ATTRS = {
    str: {"strip", "split", "join", "lower", "upper", "replace", "startswith", "endswith", "count", "index"},
    dict: {"get", "keys", "values", "items"},
    list: {"count", "index"},
    tuple: {"count", "index"},
    date: _DATE_ATTRS,
    datetime: _DATE_ATTRS | {"hour", "minute", "second", "microsecond", "date", "timestamp"},
    timedelta: {"days", "seconds", "microseconds", "total_seconds"},
}
_MUTATING_METHODS = {
    list: {"append", "extend", "insert", "pop", "remove"},
    dict: {"pop", "update", "setdefault"},
    set: {"add", "discard", "remove", "pop", "update"},
}
_SCRIPT_ATTRS = {
    kind: _READ_ATTRS.get(kind, set()) | _MUTATING_METHODS.get(kind, set())
    for kind in _READ_ATTRS.keys() | _MUTATING_METHODS.keys()
}
_PROPERTIES = {"year", "month", "day", "hour", "minute", "second", "microsecond", "days", "seconds", "microseconds"}


def _guarded_join(join, items):
    items = list(items)
    separator = join.__self__
    _check_size(len(separator) * len(items) + sum(len(item) for item in items if isinstance(item, str)))
    return join(items)


def _guarded_replace(replace, *args, **kwargs):
    text = replace.__self__  # a str, or a date/datetime (whose replace() cannot grow anything)
    if isinstance(text, str) and len(args) >= 2:
        old, new = args[:2]
        hits = text.count(old) if len(args) < 3 or args[2] < 0 else min(args[2], text.count(old))
        _check_size(len(text) + hits * (len(new) - len(old)))
    return replace(*args, **kwargs)


def _guarded_extend(extend, items):
    items = list(items)
    _check_size(len(extend.__self__) + len(items))
    extend(items)


# Methods whose result can grow far beyond their inputs are wrapped by a size check.
_GROWTH_GUARDS = {"join": _guarded_join, "replace": _guarded_replace, "extend": _guarded_extend}


# ---------------------------------------------------------------- static check

_FORBIDDEN_NAMES = {
    "open", "eval", "exec", "compile", "getattr", "setattr", "delattr", "globals", "locals", "vars",
    "type", "breakpoint", "help", "exit", "quit",
}
_EXPRESSION_NODES = {
    ast.Expression, ast.Constant, ast.Name, ast.Load, ast.Store, ast.Attribute, ast.Subscript, ast.Slice,
    ast.Call, ast.keyword, ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.And, ast.Or, ast.Compare, ast.IfExp,
    ast.List, ast.Tuple, ast.Dict, ast.Set, ast.ListComp, ast.DictComp, ast.GeneratorExp, ast.comprehension,
    ast.JoinedStr, ast.FormattedValue, *DEFAULT_OPERATORS,
}
_SCRIPT_NODES = _EXPRESSION_NODES | {
    ast.Module, ast.Assign, ast.AugAssign, ast.If, ast.For, ast.Pass, ast.Expr, ast.Delete, ast.Del,
}
_DESCRIPTIONS = {
    ast.Import: "import", ast.ImportFrom: "import", ast.FunctionDef: "def", ast.AsyncFunctionDef: "def",
    ast.ClassDef: "class", ast.Lambda: "lambda", ast.While: "while", ast.With: "with",
    ast.AsyncWith: "with", ast.Try: "try", ast.TryStar: "try", ast.Raise: "raise", ast.Return: "return",
    ast.Global: "global", ast.Nonlocal: "nonlocal", ast.Yield: "yield", ast.YieldFrom: "yield",
    ast.Await: "await", ast.Assert: "assert", ast.Break: "break", ast.Continue: "continue",
    ast.Match: "match", ast.NamedExpr: ":=", ast.Starred: "* unpacking", ast.SetComp: "set comprehension",
    ast.AsyncFor: "async for", ast.MatMult: "@",
}
# Parts of statements that are refused as a whole; reporting them again would only be noise.
_PARTS_OF_REFUSED = (ast.arguments, ast.arg, ast.alias, ast.withitem, ast.excepthandler, ast.match_case, ast.pattern)


class _Checker(ast.NodeVisitor):
    """Collects (line, message) for every construct outside the allow-list."""

    def __init__(self, script):
        self.nodes = _SCRIPT_NODES if script else _EXPRESSION_NODES
        self.attributes = set().union(*(_SCRIPT_ATTRS if script else _READ_ATTRS).values())
        self.where = "a script" if script else "an expression"
        self.line = 1
        self.problems = []

    def refuse(self, message):
        self.problems.append((self.line, message))

    def visit(self, node):
        self.line = getattr(node, "lineno", self.line)
        super().visit(node)

    def generic_visit(self, node):
        if type(node) not in self.nodes and not isinstance(node, _PARTS_OF_REFUSED):
            self.refuse(f"'{_DESCRIPTIONS.get(type(node), type(node).__name__)}' is not allowed")
        super().generic_visit(node)

    def visit_Name(self, node):
        if node.id.startswith("_"):
            self.refuse(f"the name '{node.id}' is not allowed (names starting with '_' are reserved)")
        elif node.id in _FORBIDDEN_NAMES:
            self.refuse(f"the name '{node.id}' is not allowed")
        self.generic_visit(node)

    def visit_Attribute(self, node):
        self.check_attribute(node, called=False)
        self.generic_visit(node)

    def check_attribute(self, node, called):
        attr = node.attr
        if not isinstance(node.ctx, ast.Load):
            self.refuse(f"assigning to or deleting an attribute ('.{attr}') is not allowed")
        elif attr.startswith("_"):
            self.refuse(f"the attribute '.{attr}' is not allowed (names starting with '_' are internal)")
        elif attr not in self.attributes:
            self.refuse(f"the attribute '.{attr}' is not allowed in {self.where}")
        elif not called and attr not in _PROPERTIES:
            self.refuse(f"the method '.{attr}' may only be called, not used as a value")

    def visit_Call(self, node):
        if isinstance(node.func, ast.Attribute):
            self.check_attribute(node.func, called=True)
            self.visit(node.func.value)
        else:
            self.check_callee(node.func)
            self.visit(node.func)
        for child in [*node.args, *node.keywords]:
            self.visit(child)

    def check_callee(self, func):
        if not isinstance(func, ast.Name):
            self.refuse("only the listed functions and data methods may be called")
        elif func.id not in FUNCTIONS and not func.id.startswith("_") and func.id not in _FORBIDDEN_NAMES:
            self.refuse(f"calling '{func.id}' is not allowed; the functions are: {', '.join(FUNCTIONS)}")

    def visit_keyword(self, node):
        if node.arg is None:
            self.refuse("'**' argument unpacking is not allowed")
        self.generic_visit(node)

    def visit_FormattedValue(self, node):
        if node.conversion != -1 or node.format_spec is not None:
            self.refuse("f-string conversions and format specs ({x!r}, {x:>10}) are not allowed")
        self.generic_visit(node)

    def visit_comprehension(self, node):
        targets = node.target.elts if isinstance(node.target, ast.Tuple) else [node.target]
        if node.is_async or not all(isinstance(t, ast.Name) for t in targets):
            self.refuse("comprehension variables must be plain names")
        self.generic_visit(node)

    def visit_For(self, node):
        if node.orelse:
            self.refuse("'else' after a for loop is not allowed")
        self.generic_visit(node)


def _parse(text, mode):
    """Parse text as an expression ("eval") or a script ("exec"); return (tree, [(line, problem)])."""
    source = text.strip() if mode == "eval" else textwrap.dedent(text)
    tree = ast.parse(source, mode=mode)
    checker = _Checker(script=mode == "exec")
    checker.visit(tree)
    return tree, checker.problems


def _problems(text, mode):
    try:
        problems = _parse(text, mode)[1]
    except SyntaxError as err:
        problems = [(err.lineno, f"syntax error: {err.msg}")]
    return [f"line {line}: {message}" for line, message in problems]


def _checked(text, mode):
    """The parsed tree of text; SyntaxError if unparsable, UnsafeExpression if not allowed."""
    tree, problems = _parse(text, mode)
    if problems:
        err = UnsafeExpression("; ".join(f"line {line}: {message}" for line, message in problems))
        err.script_line = problems[0][0]
        raise err
    return tree


def check_expression(text) -> list[str]:
    """Deploy-time check of an expression: one message per forbidden construct, [] if fine."""
    return _problems(text, "eval")


def check_script(text) -> list[str]:
    """Deploy-time check of a script-task body: one message per forbidden construct, [] if fine."""
    return _problems(text, "exec")


# ---------------------------------------------------------------- evaluation

class _Names(ChainMap):
    """Variables visible to an expression; writes go to the first mapping."""

    def __missing__(self, key):
        raise NameError(f"name '{key}' is not defined")


@contextmanager
def _limits_as_refusals():
    """simpleeval reports refusals and exceeded limits as InvalidExpression; make them ours."""
    try:
        yield
    except InvalidExpression as err:
        raise UnsafeExpression(str(err)) from err


class _Evaluator(EvalWithCompoundTypes):
    """simpleeval with our functions, operators and per-type attributes; functions are not values."""

    def __init__(self, names, attributes, functions):
        super().__init__(operators=_OPERATORS, functions=functions, names=names, allowed_attrs=attributes)
        self.ATTR_INDEX_FALLBACK = False

    def eval(self, expr, previously_parsed=None):
        with _limits_as_refusals():
            return super().eval(expr, previously_parsed)

    def _eval_name(self, node):
        return self.names[node.id]

    def _eval_attribute(self, node):
        value = super()._eval_attribute(node)
        guard = _GROWTH_GUARDS.get(node.attr)
        return partial(guard, value) if guard else value


def _mark_line(err, line):
    """Record the innermost script line an error came from (on UnsafeExpression, in its message too)."""
    if getattr(err, "script_line", None) is None:
        err.script_line = line
        if isinstance(err, UnsafeExpression):
            err.args = (f"line {line}: {err.args[0]}",)


class _ScriptRunner:
    """Interprets the statements _Checker lets through, writing variables into the task data."""

    def __init__(self, source, context, external_context, functions):
        self.lines = source.splitlines()
        self.names = _Names(context, external_context)
        self.evaluator = _Evaluator(self.names, _SCRIPT_ATTRS, functions)
        self.iterations = 0
        self.handlers = {
            ast.Assign: self.assign, ast.AugAssign: self.augmented_assign, ast.Delete: self.delete,
            ast.If: self.if_, ast.For: self.for_, ast.Expr: self.expression, ast.Pass: lambda stmt: None,
        }

    def run(self, statements):
        for statement in statements:
            try:
                self.handlers[type(statement)](statement)
            except Exception as err:
                _mark_line(err, statement.lineno)
                raise

    def value(self, node):
        return self.evaluator.eval(self.lines[node.lineno - 1].strip(), node)

    def slot(self, target):
        """(container, key) that a Name or Subscript target refers to."""
        if isinstance(target, ast.Name):
            return self.names, target.id
        container = self.value(target.value)
        if not isinstance(container, (dict, list)):
            raise UnsafeExpression(f"only items of dicts and lists can be assigned, not of {type(container).__name__}")
        return container, self.value(target.slice)

    def store(self, target, value):
        if isinstance(target, (ast.Tuple, ast.List)):
            values = list(value)
            if len(values) != len(target.elts):
                raise ValueError(f"cannot unpack {len(values)} values into {len(target.elts)} targets")
            for element, item in zip(target.elts, values):
                self.store(element, item)
        else:
            container, key = self.slot(target)
            container[key] = value

    def assign(self, statement):
        value = self.value(statement.value)
        for target in statement.targets:
            self.store(target, value)

    def augmented_assign(self, statement):
        container, key = self.slot(statement.target)
        operator = _OPERATORS[type(statement.op)]
        with _limits_as_refusals():
            container[key] = operator(container[key], self.value(statement.value))

    def delete(self, statement):
        for target in statement.targets:
            self.remove(target)

    def remove(self, target):
        if isinstance(target, (ast.Tuple, ast.List)):
            for element in target.elts:
                self.remove(element)
        else:
            container, key = self.slot(target)
            del container[key]

    def if_(self, statement):
        self.run(statement.body if self.value(statement.test) else statement.orelse)

    def for_(self, statement):
        for item in self.value(statement.iter):
            self.iterations += 1
            if self.iterations > MAX_LOOP_ITERATIONS:
                raise UnsafeExpression(f"the script's loops ran more than {MAX_LOOP_ITERATIONS} times in total")
            self.store(statement.target, item)
            self.run(statement.body)

    def expression(self, statement):
        self.value(statement.value)


class RestrictedEnvironment(BasePythonScriptEngineEnvironment):
    """Script-engine environment that evaluates only allow-listed constructs on plain data. ``functions``
    binds allow-listed names to this run's implementations (``now`` to the command's clock)."""

    def __init__(self, services=None, functions=None):
        super().__init__()
        self.services = dict(services or {})
        unknown = set(functions or {}) - set(FUNCTIONS)
        if unknown:
            raise ValueError(f"not allow-listed functions: {', '.join(sorted(unknown))}")
        self.functions = {**FUNCTIONS, **(functions or {})}

    def evaluate(self, expression, context, external_context=None):
        """Value of one expression; names come from context overlaid by external_context."""
        tree = _checked(expression, "eval")
        names = _Names(external_context or {}, context)
        return _Evaluator(names, _READ_ATTRS, self.functions).eval(expression.strip(), tree.body)

    def execute(self, script, context, external_context=None):
        """Run a script-task body; assignments land in context (the task data) in place.

        Names are looked up in context first, so what the script assigns shadows external_context.
        """
        tree = _checked(script, "exec")
        _ScriptRunner(textwrap.dedent(script), context, external_context or {}, self.functions).run(tree.body)
        return True

    def call_service(self, context, operation_name=None, operation_params=None, **_ignored):
        """Call services[operation_name](context, **params) with each parameter's evaluated value; the
        service returns plain data, handed to SpiffWorkflow as the JSON text its ServiceTask expects.

        operation_params is SpiffWorkflow's {name: {"value": ..., "type": ...}}; keywords some
        SpiffWorkflow versions add (task_data) repeat context and are ignored.
        """
        if operation_name not in self.services:
            known = ", ".join(sorted(self.services)) or "none"
            raise ValueError(f"unknown service operation '{operation_name}' (available: {known})")
        params = {name: param["value"] for name, param in (operation_params or {}).items()}
        return json.dumps(self.services[operation_name](context, **params))


class RestrictedScriptEngine(PythonScriptEngine):
    """PythonScriptEngine whose evaluation goes through RestrictedEnvironment."""

    def __init__(self, services=None, clock=None, functions=None):
        bound = {"now": clock.now} if clock is not None else {}
        super().__init__(environment=RestrictedEnvironment(services, {**bound, **(functions or {})}))
        self.clock = clock

    def validate(self, expression):
        """SyntaxError if unparsable (DMNEngine.needs_eq relies on it), UnsafeExpression if refused."""
        _checked(expression, "eval")

    def evaluate(self, task, expression, external_context=None):
        try:
            return self.environment.evaluate(expression, task.data, external_context)
        except Exception as err:
            raise WorkflowTaskException(
                f"Error evaluating expression '{expression}': {err}", task=task, exception=err) from err

    def call_service(self, task, **kwargs):
        try:
            return self.environment.call_service(task.data, **kwargs)
        except Exception as err:
            raise WorkflowTaskException(f"Service call failed: {err}", task=task, exception=err) from err

    def get_error_line_number_and_content(self, script, err):
        line = getattr(err, "script_line", None)
        if line is None:
            return super().get_error_line_number_and_content(script, err)
        return line, script.splitlines()[line - 1]
