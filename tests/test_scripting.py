"""Restricted expression/script evaluation (engine.scripting), alone and inside real SpiffWorkflow runs."""
import json
import re
from datetime import date, datetime, timedelta, timezone

import pytest
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from SpiffWorkflow.util.task import TaskState

from engine.scripting import (
    MAX_LOOP_ITERATIONS,
    RestrictedEnvironment,
    RestrictedScriptEngine,
    UnsafeExpression,
    check_expression,
    check_script,
)


@pytest.fixture
def env():
    return RestrictedEnvironment()


def data():
    return {
        "amount": 150,
        "applicant": {"name": "张三", "district": "海淀", "tags": ["elderly", "resident"]},
        "items": [{"price": 2, "qty": 3}, {"price": 5, "qty": 1}],
        "submitted": "2026-05-06T09:30:00+08:00",
        "note": None,
    }


# ---------------------------------------------------------------- expressions that work

@pytest.mark.parametrize("expression, expected", [
    ("amount * 2 + 1", 301),
    ("amount / 4", 37.5),
    ("amount // 4, amount % 4", (37, 2)),
    ("2 ** 10", 1024),
    ("-amount + abs(-3)", -147),
    ("amount > 100", True),
    ("100 < amount <= 150", True),
    ("amount == 150 and not note", True),
    ("amount < 100 or applicant['district'] == '海淀'", True),
    ("'elderly' in applicant['tags']", True),
    ("'child' not in applicant['tags']", True),
    ("note is None", True),
    ("applicant['tags'][-1]", "resident"),
    ("applicant['tags'][0:1]", ["elderly"]),
    ("applicant.get('phone', 'n/a')", "n/a"),
    ("sorted(applicant.keys())", ["district", "name", "tags"]),
    ("'high' if amount > 100 else 'low'", "high"),
    ("[i['price'] * i['qty'] for i in items]", [6, 5]),
    ("sum(i['price'] * i['qty'] for i in items if i['qty'] > 0)", 11),
    ("{i['price']: i['qty'] for i in items}", {2: 3, 5: 1}),
    ("any(t.startswith('eld') for t in applicant['tags'])", True),
    ("len(items), min(1, 2), max([3, 4]), round(2.345, 2)", (2, 1, 4, 2.35)),
    ("int('7') + float('0.5'), str(3), bool(0)", (7.5, "3", False)),
    ("list(range(3)), set([1, 1]), tuple([1]), dict(a=1)", ([0, 1, 2], {1}, (1,), {"a": 1})),
    ("' x '.strip().upper() + ','.join(['a', 'b'])", "Xa,b"),
    ("f'{applicant[\"name\"]}: {amount}'", "张三: 150"),
])
def test_expressions_evaluate(env, expression, expected):
    assert env.evaluate(expression, data()) == expected


def test_date_helpers(env):
    context = data()
    assert env.evaluate("parse_datetime(submitted)", context) == datetime(2026, 5, 6, 1, 30, tzinfo=timezone.utc)
    assert env.evaluate("parse_datetime(submitted).year", context) == 2026
    assert env.evaluate("date(2026, 5, 6) + timedelta(days=3)", context) == date(2026, 5, 9)
    assert env.evaluate("date(2026, 5, 9).weekday()", context) == 5
    assert env.evaluate("(datetime(2026, 5, 6, 12) - datetime(2026, 5, 6)).total_seconds()", context) == 43200
    assert env.evaluate("parse_datetime(submitted) + timedelta(hours=1) > parse_datetime(submitted)", context)
    assert env.evaluate("parse_datetime(submitted).date().isoformat()", context) == "2026-05-06"
    assert env.evaluate("date(2026, 5, 6).replace(year=2027)", context) == date(2027, 5, 6)
    assert env.evaluate("sum([timedelta(days=1), timedelta(days=2)], timedelta())", context) == timedelta(days=3)
    with pytest.raises(ValueError, match="no time zone"):
        env.evaluate("parse_datetime('2026-05-06T09:30:00')", context)


def test_external_context_overlays_task_data(env):
    assert env.evaluate("x + y", {"x": 1, "y": 2}, {"y": 40}) == 41


def test_undefined_name_is_named(env):
    with pytest.raises(NameError, match="'amout'"):
        env.evaluate("amout > 1", data())


def test_evaluate_does_not_mutate_context(env):
    context = data()
    snapshot = repr(context)
    env.evaluate("[t.upper() for t in applicant['tags']]", context)
    env.evaluate("sorted(applicant['tags'], reverse=True)", context)
    with pytest.raises(UnsafeExpression, match="'.append' is not allowed in an expression"):
        env.evaluate("applicant['tags'].append('x')", context)
    with pytest.raises(UnsafeExpression, match="'.update' is not allowed in an expression"):
        env.evaluate("applicant.update(name='李四')", context)
    assert repr(context) == snapshot


# ---------------------------------------------------------------- attacks

ATTACKS = [
    ("__import__('os').system('id')", "'__import__'"),
    ("open('/etc/passwd').read()", "'open'"),
    ("().__class__.__base__.__subclasses__()", "'.__class__'"),
    ("(lambda: 1)()", "'lambda'"),
    ("[c for c in ().__class__.__mro__]", "'.__mro__'"),
    ("getattr(x, '__class__')", "'getattr'"),
    ("x.__dict__", "'.__dict__'"),
    ("'{0.__class__}'.format(1)", "'.format'"),
    ("eval('1')", "'eval'"),
    ("type(1)", "'type'"),
    ("globals()", "'globals'"),
    ("f'{x!r}'", "f-string"),
    ("len.__self__", "'.__self__'"),
    ("(x := 1)", "':='"),
]


@pytest.mark.parametrize("expression, construct", ATTACKS)
def test_attacks_are_refused_before_running(env, monkeypatch, expression, construct):
    touched = []
    monkeypatch.setattr("engine.scripting._Evaluator.eval", lambda *a: touched.append(a))
    with pytest.raises(UnsafeExpression, match=construct):
        env.evaluate(expression, {"x": 1})
    assert touched == []
    assert any(construct in problem for problem in check_expression(expression))


@pytest.mark.parametrize("expression", [
    "9**9**9",
    "'a' * 10**9",
    "[0] * 10**9",
    "range(10**12)",
    "round(5, -10**9)",
    "'%0999999999d' % 1",
    "b'%0999999999d' % 1",
    "sum([[0] * 1000] * 1000, [])",
    "','.join(['x' * 1000] * 1000)",
    "('x' * 1000).replace('x', 'y' * 1000)",
    "[i for i in range(50000)]",
])
def test_resource_bombs_are_refused(env, expression):
    with pytest.raises(UnsafeExpression):
        env.evaluate(expression, {})


@pytest.mark.parametrize("expression", ["int", "applicant.get", "date"])
def test_functions_and_methods_are_not_values(env, expression):
    with pytest.raises((NameError, UnsafeExpression)):
        env.evaluate(expression, data())


def test_attributes_only_on_plain_data(env):
    with pytest.raises(UnsafeExpression, match="not allowed on"):
        env.evaluate("amount.year", data())
    with pytest.raises(UnsafeExpression, match="not allowed on"):
        env.evaluate("applicant.count(1)", data())  # count is a list/str/tuple method, not a dict one


# ---------------------------------------------------------------- scripts

SCRIPT = """\
total = amount * 2
low, high = 1, 2
if total > 500:
    level = "director"
elif total > 200:
    level = "section"
else:
    level = "clerk"
lines = []
cost = 0
for item in items:
    lines.append(item["price"] * item["qty"])
    cost += item["price"] * item["qty"]
    item["seen"] = True
applicant["tags"][0] = "senior"
applicant["score"] = len(lines)
summary = {"count": len(lines)}
summary["count"] += 1
del summary["count"]
pass
"""


def test_script_writes_into_context(env):
    context = data()
    assert env.execute(SCRIPT, context) is True
    assert context["total"] == 300
    assert (context["low"], context["high"]) == (1, 2)
    assert context["level"] == "section"
    assert context["lines"] == [6, 5]
    assert context["cost"] == 11
    assert all(item["seen"] for item in context["items"])
    assert context["applicant"]["tags"] == ["senior", "resident"]
    assert context["applicant"]["score"] == 2
    assert context["summary"] == {}
    assert context["amount"] == 150 and context["note"] is None  # untouched data stays


def test_script_sees_external_context_but_writes_task_data(env):
    context = {"x": 1}
    env.execute("y = x + obj\nobj2 = obj", context, {"obj": 10})
    assert context == {"x": 1, "y": 11, "obj2": 10}


@pytest.mark.parametrize("script, line, construct", [
    ("import os", 1, "'import'"),
    ("x = 1\nfrom os import path", 2, "'import'"),
    ("x = 1\ny = 2\ndef f():\n    pass", 3, "'def'"),
    ("while True:\n    pass", 1, "'while'"),
    ("x = {}\nx.y = 1", 2, "attribute ('.y')"),
    ("class A:\n    pass", 1, "'class'"),
    ("with x:\n    pass", 1, "'with'"),
    ("try:\n    x = 1\nexcept Exception:\n    pass", 1, "'try'"),
    ("x = 1\nglobal y", 2, "'global'"),
    ("f = lambda: 1", 1, "'lambda'"),
    ("x = [1]\nf = x.append", 2, "'.append' may only be called"),
    ("for i in []:\n    pass\nelse:\n    pass", 1, "'else' after a for loop"),
    ("x = 1\nprint(x)", 2, "calling 'print'"),
    ("x = 1\ndel x.real", 2, "attribute ('.real')"),
])
def test_forbidden_statements_are_refused_with_line(env, script, line, construct):
    context = {"x": 0}
    with pytest.raises(UnsafeExpression, match=f"line {line}: .*{re.escape(construct)}"):
        env.execute(script, context)
    assert context == {"x": 0}, "nothing may run when the script is refused"


def test_runtime_refusal_names_line(env):
    with pytest.raises(UnsafeExpression, match="line 3: .*not allowed on"):
        env.execute("x = 1\nif x:\n    y = x.year", {})


def test_over_long_loop_stops(env):
    context = {}
    script = "n = 0\nfor i in range(1000):\n    for j in range(1000):\n        n += 1"
    with pytest.raises(UnsafeExpression, match=f"line 3: .*more than {MAX_LOOP_ITERATIONS}") as caught:
        env.execute(script, context)
    assert caught.value.script_line == 3
    assert 0 < context["n"] < MAX_LOOP_ITERATIONS


@pytest.mark.parametrize("script", [
    "lst = [1]\nfor i in range(40):\n    lst.extend(lst)",
    "n = 2 ** 5000\nfor i in range(20):\n    n *= n",
    "s = 'x' * 1000\nfor i in range(20):\n    s += s",
])
def test_doubling_in_loops_is_capped(env, script):
    with pytest.raises(UnsafeExpression, match="line 3"):
        env.execute(script, {})


def test_runtime_errors_carry_script_line(env):
    with pytest.raises(NameError, match="'missing'") as caught:
        env.execute("a = 1\nb = missing + 1", {})
    assert caught.value.script_line == 2
    with pytest.raises(ValueError, match="unpack"):
        env.execute("a, b = [1, 2, 3]", {})


def test_indented_script_from_xml_is_accepted(env):
    context = {}
    env.execute("\n    a = 1\n    if a:\n        b = 2\n", context)
    assert context == {"a": 1, "b": 2}


# ---------------------------------------------------------------- static checks

def test_checks_accept_good_text():
    assert check_expression("amount > 100 and 'x' in tags") == []
    assert check_script(SCRIPT) == []


def test_check_script_lists_every_forbidden_construct():
    problems = check_script(
        "import os\n"
        "x = open('f')\n"
        "def f():\n"
        "    return eval('1')\n"
        "while x:\n"
        "    y = x.__class__\n"
        "z = (lambda: 1)\n"
        "x.y = 2\n"
        "v = vars()\n"
    )
    expected = [
        ("line 1", "'import'"), ("line 2", "'open'"), ("line 3", "'def'"), ("line 4", "'return'"),
        ("line 4", "'eval'"), ("line 5", "'while'"), ("line 6", "'.__class__'"), ("line 7", "'lambda'"),
        ("line 8", "('.y')"), ("line 9", "'vars'"),
    ]
    for line, construct in expected:
        assert any(p.startswith(line) and construct in p for p in problems), (line, construct, problems)


def test_check_expression_lists_every_forbidden_construct():
    problems = check_expression("__import__('os') or compile('x') or getattr(a, 'b') or a.__dict__ or [*a]")
    for construct in ("'__import__'", "'compile'", "'getattr'", "'.__dict__'", "'* unpacking'"):
        assert any(construct in p for p in problems), (construct, problems)


def test_checks_report_syntax_errors_with_line():
    assert check_expression("amount >") == ["line 1: syntax error: invalid syntax"]
    [problem] = check_script("x = 1\nif x\n    y = 2")
    assert problem.startswith("line 2: syntax error")


def test_expression_checks_refuse_statements_and_mutation():
    assert check_expression("x = 1")[0].startswith("line 1: syntax error")
    assert "'.append' is not allowed in an expression" in check_expression("lst.append(1)")[0]
    assert check_script("lst.append(1)") == []


def test_engine_validate():
    engine = RestrictedScriptEngine()
    engine.validate("'A'")
    with pytest.raises(SyntaxError):
        engine.validate("> 5")
    with pytest.raises(UnsafeExpression):
        engine.validate("__import__('os')")


# ---------------------------------------------------------------- services

def test_call_service_delegates_with_parameter_values():
    calls = []

    def lookup(context, district):
        calls.append((context["amount"], district))
        return {"office": "海淀办"}

    env = RestrictedEnvironment(services={"lookup_office": lookup})
    result = env.call_service(
        {"amount": 1}, operation_name="lookup_office",
        operation_params={"district": {"value": "海淀", "type": "str"}})
    assert json.loads(result) == {"office": "海淀办"}
    assert calls == [(1, "海淀")]
    with pytest.raises(ValueError, match="unknown service operation 'nope'.*lookup_office"):
        env.call_service({}, operation_name="nope", operation_params={})


# ---------------------------------------------------------------- in real workflows

BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
    id="defs" targetNamespace="http://govflow.example/bpmn">
  <bpmn:process id="{process_id}" isExecutable="true">
    <bpmn:startEvent id="start"/>
    {body}
  </bpmn:process>
</bpmn:definitions>
"""

GATEWAY_BODY = """
    <bpmn:scriptTask id="double"><bpmn:script>total = amount * 2</bpmn:script></bpmn:scriptTask>
    <bpmn:exclusiveGateway id="route"/>
    <bpmn:scriptTask id="director"><bpmn:script>approver = "director"</bpmn:script></bpmn:scriptTask>
    <bpmn:scriptTask id="clerk"><bpmn:script>approver = "clerk"</bpmn:script></bpmn:scriptTask>
    <bpmn:endEvent id="end_director"/>
    <bpmn:endEvent id="end_clerk"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="double"/>
    <bpmn:sequenceFlow id="f2" sourceRef="double" targetRef="route"/>
    <bpmn:sequenceFlow id="big" sourceRef="route" targetRef="director">
      <bpmn:conditionExpression>amount &gt; 100</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="small" sourceRef="route" targetRef="clerk">
      <bpmn:conditionExpression>amount &lt;= 100</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f3" sourceRef="director" targetRef="end_director"/>
    <bpmn:sequenceFlow id="f4" sourceRef="clerk" targetRef="end_clerk"/>
"""


def single_task_body(task_xml):
    return f"""
    {task_xml}
    <bpmn:endEvent id="end"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="task"/>
    <bpmn:sequenceFlow id="f2" sourceRef="task" targetRef="end"/>
"""


def start_workflow(body, data, parser=None, engine=None, process_id="proc"):
    parser = parser or SpiffBpmnParser()
    parser.add_bpmn_str(BPMN.format(process_id=process_id, body=body).encode(), filename=f"{process_id}.bpmn")
    workflow = BpmnWorkflow(parser.get_spec(process_id), script_engine=engine or RestrictedScriptEngine())
    workflow.get_next_task(state=TaskState.READY).data.update(data)
    return workflow


def completed_spec_names(workflow):
    return {task.task_spec.name for task in workflow.get_tasks(state=TaskState.COMPLETED)}


@pytest.mark.parametrize("amount, approver", [(150, "director"), (100, "clerk")])
def test_gateway_and_script_task_in_workflow(amount, approver):
    workflow = start_workflow(GATEWAY_BODY, {"amount": amount})
    workflow.do_engine_steps()
    assert workflow.is_completed()
    assert approver in completed_spec_names(workflow)
    assert ({"director", "clerk"} - {approver}).isdisjoint(completed_spec_names(workflow))
    end = workflow.get_next_task(spec_name=f"end_{approver}")
    assert end.data == {"amount": amount, "total": amount * 2, "approver": approver}


def test_unsafe_script_task_fails_without_running(monkeypatch):
    ran = []
    monkeypatch.setattr("os.system", lambda *a: ran.append(a))
    body = single_task_body(
        "<bpmn:scriptTask id='task'><bpmn:script>x = 1\nos = __import__('os')\nos.system('id')</bpmn:script></bpmn:scriptTask>")
    workflow = start_workflow(body, {"amount": 1})
    with pytest.raises(WorkflowTaskException) as caught:
        workflow.do_engine_steps()
    assert caught.value.error_type == "UnsafeExpression"
    assert "__import__" in str(caught.value)
    assert ran == []
    task = workflow.get_next_task(spec_name="task")
    assert "x" not in task.data  # the refusal came before the first line ran


def test_unsafe_gateway_condition_fails_at_runtime():
    body = GATEWAY_BODY.replace("amount &gt; 100", "().__class__.__bases__")
    workflow = start_workflow(body, {"amount": 150})
    with pytest.raises(WorkflowTaskException, match="__class__"):
        workflow.do_engine_steps()


def test_script_error_reports_line_number():
    body = single_task_body(
        "<bpmn:scriptTask id='task'><bpmn:script>a = 1\nb = a.real</bpmn:script></bpmn:scriptTask>")
    workflow = start_workflow(body, {})
    with pytest.raises(WorkflowTaskException) as caught:
        workflow.do_engine_steps()
    assert caught.value.line_number == 2
    assert caught.value.error_line == "b = a.real"


def test_service_task_calls_injected_service():
    body = single_task_body("""
    <bpmn:serviceTask id="task">
      <bpmn:extensionElements>
        <spiffworkflow:serviceTaskOperator id="lookup_office" resultVariable="office">
          <spiffworkflow:parameters>
            <spiffworkflow:parameter id="district" type="str" value="applicant['district']"/>
          </spiffworkflow:parameters>
        </spiffworkflow:serviceTaskOperator>
      </bpmn:extensionElements>
    </bpmn:serviceTask>""")
    services = {"lookup_office": lambda context, district: {"name": f"{district}政务服务中心"}}
    workflow = start_workflow(body, {"applicant": {"district": "海淀"}}, engine=RestrictedScriptEngine(services))
    workflow.do_engine_steps()
    assert workflow.is_completed()
    assert workflow.get_next_task(spec_name="end").data["office"] == {"name": "海淀政务服务中心"}


DMN = """<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="defs_fee" name="Fees"
    namespace="http://govflow.example/dmn">
  <decision id="fee_decision" name="Fee">
    <decisionTable id="fee_table" hitPolicy="UNIQUE">
      <input id="in_kind" label="Kind">
        <inputExpression id="in_kind_expr" typeRef="string"><text>kind</text></inputExpression>
      </input>
      <input id="in_pages" label="Pages">
        <inputExpression id="in_pages_expr" typeRef="integer"><text>pages</text></inputExpression>
      </input>
      <output id="out_fee" label="Fee" name="fee" typeRef="integer"/>
      <output id="out_desk" label="Desk" name="desk" typeRef="string"/>
      <rule id="r1">
        <inputEntry id="r1_kind"><text>"A"</text></inputEntry>
        <inputEntry id="r1_pages"><text>&gt; 5</text></inputEntry>
        <outputEntry id="r1_fee"><text>pages * 10</text></outputEntry>
        <outputEntry id="r1_desk"><text>"large"</text></outputEntry>
      </rule>
      <rule id="r2">
        <inputEntry id="r2_kind"><text>"A"</text></inputEntry>
        <inputEntry id="r2_pages"><text>-</text></inputEntry>
        <outputEntry id="r2_fee"><text>20</text></outputEntry>
        <outputEntry id="r2_desk"><text>"small"</text></outputEntry>
      </rule>
      <rule id="r3">
        <inputEntry id="r3_kind"><text>"B"</text></inputEntry>
        <inputEntry id="r3_pages"><text>4 &lt; ? &lt; 6</text></inputEntry>
        <outputEntry id="r3_fee"><text>5</text></outputEntry>
        <outputEntry id="r3_desk"><text>"middle"</text></outputEntry>
      </rule>
      <rule id="r4">
        <inputEntry id="r4_kind"><text>!= "A"</text></inputEntry>
        <inputEntry id="r4_pages"><text>-</text></inputEntry>
        <outputEntry id="r4_fee"><text>0</text></outputEntry>
        <outputEntry id="r4_desk"><text>"free"</text></outputEntry>
      </rule>
    </decisionTable>
  </decision>
</definitions>
"""

RULE_TASK = """
    <bpmn:businessRuleTask id="task">
      <bpmn:extensionElements>
        <spiffworkflow:calledDecisionId>fee_decision</spiffworkflow:calledDecisionId>
      </bpmn:extensionElements>
    </bpmn:businessRuleTask>"""


def run_decision(tmp_path, dmn, data):
    dmn_file = tmp_path / "fee.dmn"
    dmn_file.write_text(dmn, encoding="utf-8")
    parser = SpiffBpmnParser()
    parser.add_dmn_file(str(dmn_file))
    workflow = start_workflow(single_task_body(RULE_TASK), data, parser=parser)
    workflow.do_engine_steps()
    assert workflow.is_completed()
    return workflow.get_next_task(spec_name="end").data


@pytest.mark.parametrize("kind, pages, fee, desk", [
    ("A", 8, 80, "large"),   # "A" equality, then "> 5"
    ("A", 3, 20, "small"),   # "-" matches anything
    ("B", 5, 5, "middle"),   # 4 < ? < 6
    ("B", 9, 0, "free"),     # "!= ..." is appended to the input expression
    ("C", 1, 0, "free"),
])
def test_dmn_business_rule_task(tmp_path, kind, pages, fee, desk):
    result = run_decision(tmp_path, DMN, {"kind": kind, "pages": pages})
    assert (result["fee"], result["desk"]) == (fee, desk)


def test_dmn_unsafe_cell_is_refused(tmp_path):
    dmn = DMN.replace("<text>&gt; 5</text>", "<text>__import__('os').getcwd()</text>")
    with pytest.raises(WorkflowTaskException, match="__import__"):
        run_decision(tmp_path, dmn, {"kind": "A", "pages": 8})


def test_time_helpers_count_limits_from_a_recorded_instant():
    env = RestrictedEnvironment()
    data = {"occurred_at": "2026-06-01T09:00:00+08:00", "called_at": "2026-06-01T09:21:30+08:00"}
    assert env.evaluate("add_minutes(occurred_at, 20).isoformat()", data) == "2026-06-01T01:20:00+00:00"
    assert env.evaluate("add_hours(occurred_at, 5) < parse_datetime(called_at)", data) is False
    assert env.evaluate("minutes_between(occurred_at, called_at)", data) == 21.5
    assert env.evaluate("hours_between(occurred_at, called_at) > 0.3", data) is True
    assert env.evaluate("local_date(occurred_at) == date(2026, 6, 1)", data) is True


def test_now_is_the_commands_instant_and_unknown_outside_a_command():
    fixed = datetime(2026, 6, 1, 1, 0, tzinfo=timezone.utc)

    class FixedClock:
        def now(self):
            return fixed

    clock = FixedClock()
    engine = RestrictedScriptEngine(clock=clock)
    assert engine.clock is clock
    env = engine.environment
    assert env.evaluate("minutes_between(add_minutes(now(), -30), now())", {}) == 30
    context = {}
    env.execute("stamp = now().isoformat()", context)
    assert context == {"stamp": "2026-06-01T01:00:00+00:00"}
    with pytest.raises(UnsafeExpression, match="only known while a command runs"):
        RestrictedEnvironment().evaluate("now()", {})
    with pytest.raises(ValueError, match="not allow-listed"):
        RestrictedEnvironment(functions={"open": open})
