from pathlib import Path

import pytest

from engine.validation import DiagramInvalid, ValidatedDiagram, parse_due_rule, validate_bpmn, validate_dmn
from engine.xmlsafe import MAX_BYTES, DiagramError, parse_xml

FIXTURES = Path(__file__).parent / "fixtures" / "bpmn"
VALID_BPMN = (FIXTURES / "leave_request.bpmn").read_text(encoding="utf-8")
VALID_DMN = (FIXTURES / "leave_level.dmn").read_text(encoding="utf-8")
ROLES = {"经办人", "科长"}


def forbid_dunder(text):
    return ["forbidden"] if "__" in text else []


def write(tmp_path, name, text, *replacements):
    """Write ``text`` with each (old, new) replacement applied to a real file and read it back as bytes."""
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return path.read_bytes()


def line_of(text, needle):
    return text[: text.index(needle)].count("\n") + 1


def check(data, source="leave.bpmn", roles=ROLES, missing=(), asked=None, expression=forbid_dunder):
    def file_exists(name):
        if asked is not None:
            asked.append(name)
        return name not in missing

    return validate_bpmn(
        data,
        source,
        known_roles=roles.__contains__,
        file_exists=file_exists,
        check_expression=expression,
        check_script=forbid_dunder,
    )


def problems(data, **kwargs):
    with pytest.raises(DiagramInvalid) as caught:
        check(data, **kwargs)
    return caught.value.problems


def only_problem(data, **kwargs):
    found = problems(data, **kwargs)
    assert len(found) == 1, [str(p) for p in found]
    return found[0]


# --- the valid diagram --------------------------------------------------------------------------


def test_valid_bpmn_js_diagram_passes_and_reports_what_it_found(tmp_path):
    asked, expressions = [], []
    diagram = check(
        write(tmp_path, "leave.bpmn", VALID_BPMN),
        asked=asked,
        expression=lambda text: expressions.append(text) or [],
    )
    assert isinstance(diagram, ValidatedDiagram)
    assert diagram.process_ids == ["leave_request"]
    assert diagram.root.find("{http://www.omg.org/spec/BPMN/20100524/DI}BPMNDiagram") is not None
    assert diagram.user_task_roles == {"Task_fill": "经办人", "Task_approve": "科长"}
    assert diagram.element_names["Gateway_decision"] == "是否同意?"
    assert asked == ["leave-schema.json", "approve-schema.json", "dmn:leave_level"]
    assert expressions == ["approved == True", '"P3D"']


def test_valid_dmn_passes_and_returns_its_decision(tmp_path):
    cells = []
    ids = validate_dmn(
        write(tmp_path, "leave_level.dmn", VALID_DMN),
        "leave_level.dmn",
        check_expression=lambda text: cells.append(text) or [],
    )
    assert ids == ["leave_level"]
    assert "dmninputexpr <= 3" in cells and "3 < dmninputexpr <= 10" in cells and '"director"' in cells
    assert "-" not in cells


# --- hostile or broken XML ----------------------------------------------------------------------


def test_malformed_xml_names_the_line(tmp_path):
    unclosed = ("</bpmn:userTask>\n    <bpmn:businessRuleTask", "\n    <bpmn:businessRuleTask")
    data = write(tmp_path, "leave.bpmn", VALID_BPMN, unclosed)
    problem = only_problem(data)
    assert problem.line is not None and problem.line > line_of(VALID_BPMN, 'id="Task_fill"')
    assert str(problem).startswith(f"leave.bpmn:{problem.line}: the file is not well-formed XML")


BOMB = (
    '<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n'
    + "".join(f' <!ENTITY lol{i} "{("&lol%d;" % (i - 1) if i > 1 else "&lol;") * 10}">\n' for i in range(1, 10))
    + "]>\n<lolz>&lol9;</lolz>\n"
)


def test_billion_laughs_is_refused_before_expansion(tmp_path):
    data = write(tmp_path, "bomb.bpmn", BOMB)
    problem = only_problem(data, source="bomb.bpmn")
    assert "declares XML entities" in problem.message
    assert str(problem).startswith("bomb.bpmn:3: ")


def external_entity_documents(secret):
    url = secret.as_uri()
    yield f'<?xml version="1.0"?>\n<!DOCTYPE d [<!ENTITY x SYSTEM "{url}">]>\n<d>&x;</d>'
    yield f'<?xml version="1.0"?>\n<!DOCTYPE d [<!ENTITY % p SYSTEM "{url}"> %p;]>\n<d>&leak;</d>'
    yield f'<?xml version="1.0"?>\n<!DOCTYPE d SYSTEM "{url}">\n<d>&leak;</d>'


def test_external_entities_are_refused_and_nothing_is_read(tmp_path, capsys):
    marker = "GOVFLOW-SECRET-7f3a9c1e"
    secret = tmp_path / "secret.dtd"
    secret.write_text(f'<!ENTITY leak "{marker}">', encoding="utf-8")
    for number, document in enumerate(external_entity_documents(secret)):
        data = write(tmp_path, f"evil{number}.bpmn", document)
        with pytest.raises(DiagramError) as caught:
            parse_xml(data, f"evil{number}.bpmn")
        assert "DTD" in caught.value.message or "entities" in caught.value.message
        report = str(only_problem(data, source=f"evil{number}.bpmn"))
        assert marker not in report and marker not in str(caught.value)
    output = capsys.readouterr()
    assert marker not in output.out and marker not in output.err


def test_entities_in_utf16_files_are_refused(tmp_path):
    document = '<?xml version="1.0" encoding="UTF-16"?>\n<!DOCTYPE d [<!ENTITY x "y">]>\n<d>&x;</d>'
    data = write(tmp_path, "wide.bpmn", document.encode("utf-16"))
    with pytest.raises(DiagramError, match="declares XML entities"):
        parse_xml(data, "wide.bpmn")


def test_oversized_file_is_refused(tmp_path):
    padding = "<!--" + "x" * MAX_BYTES + "-->"
    data = write(tmp_path, "huge.bpmn", VALID_BPMN, ("</bpmn:definitions>", padding + "</bpmn:definitions>"))
    assert "MB" in only_problem(data).message


# --- schema -------------------------------------------------------------------------------------


def test_xsd_violation_names_the_element_and_line(tmp_path):
    data = write(
        tmp_path, "leave.bpmn", VALID_BPMN,
        ('<bpmn:endEvent id="End_rejected"', '<bpmn:endEvnt id="End_rejected"'),
        ("</bpmn:endEvent>\n    <bpmn:sequenceFlow", "</bpmn:endEvnt>\n    <bpmn:sequenceFlow"),
    )
    problem = only_problem(data)
    assert problem.line == line_of(VALID_BPMN, '<bpmn:endEvent id="End_rejected"')
    assert problem.element_id == "End_rejected"
    assert "does not follow the BPMN 2.0 standard" in problem.message and "'endEvnt'" in problem.message
    assert "{http" not in problem.message


def test_no_executable_process(tmp_path):
    data = write(tmp_path, "leave.bpmn", VALID_BPMN, ('isExecutable="true"', 'isExecutable="false"'))
    assert 'isExecutable="true"' in only_problem(data).message


# --- lanes and roles ----------------------------------------------------------------------------


def test_user_task_outside_any_lane(tmp_path):
    data = write(tmp_path, "leave.bpmn", VALID_BPMN, ("<bpmn:flowNodeRef>Task_fill</bpmn:flowNodeRef>", ""))
    problem = only_problem(data)
    assert problem.message == (
        "user task '填写请假单' (Task_fill) is not in any lane: put it in the lane of the role that does it"
    )
    assert problem.line == line_of(VALID_BPMN, '<bpmn:userTask id="Task_fill"')
    assert problem.element_id == "Task_fill"


def test_lane_that_is_not_a_known_role_is_reported_once(tmp_path):
    problem = only_problem(write(tmp_path, "leave.bpmn", VALID_BPMN), roles={"经办人"})
    assert problem.message.startswith("lane '科长' (Lane_chief) is not a known role: ")
    assert problem.line == line_of(VALID_BPMN, 'id="Lane_chief"')


def test_user_task_in_a_sub_process_takes_the_sub_process_lane(tmp_path):
    document = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="D" targetNamespace="x">
  <bpmn:process id="nested" isExecutable="true">
    <bpmn:laneSet id="LaneSet_1">
      <bpmn:lane id="Lane_chief" name="科长"><bpmn:flowNodeRef>Sub</bpmn:flowNodeRef></bpmn:lane>
    </bpmn:laneSet>
    <bpmn:subProcess id="Sub"><bpmn:userTask id="Inner" name="内部审核" /></bpmn:subProcess>
    <bpmn:userTask id="Outside" name="外部审核" />
  </bpmn:process>
</bpmn:definitions>
"""
    problem = only_problem(write(tmp_path, "nested.bpmn", document), source="nested.bpmn")
    assert problem.element_id == "Outside" and "not in any lane" in problem.message
    assert str(problem).startswith("nested.bpmn:8: ")


# --- referenced files ---------------------------------------------------------------------------


def test_missing_form(tmp_path):
    problem = only_problem(write(tmp_path, "leave.bpmn", VALID_BPMN), missing={"approve-schema.json"})
    assert problem.message.startswith(
        "user task '科长审批' (Task_approve) uses form 'approve-schema.json', which does not exist"
    )
    assert problem.line == line_of(VALID_BPMN, 'value="approve-schema.json"')


def test_missing_start_form(tmp_path):
    start_form = (
        '<bpmn:startEvent id="StartEvent_1" name="提交申请">\n      <bpmn:extensionElements><spiffworkflow:properties>'
        '<spiffworkflow:property name="formJsonSchemaFilename" value="start.json" />'
        "</spiffworkflow:properties></bpmn:extensionElements>"
    )
    data = write(tmp_path, "leave.bpmn", VALID_BPMN, ('<bpmn:startEvent id="StartEvent_1" name="提交申请">', start_form))
    problem = only_problem(data, missing={"start.json"})
    assert problem.message.startswith("start event '提交申请' (StartEvent_1) uses form 'start.json', which does not exist")


def test_missing_dmn_decision(tmp_path):
    problem = only_problem(write(tmp_path, "leave.bpmn", VALID_BPMN), missing={"dmn:leave_level"})
    assert problem.message.startswith(
        "business rule task '确定审批级别' (Task_rules) runs decision 'leave_level', which does not exist"
    )
    assert problem.line == line_of(VALID_BPMN, "<spiffworkflow:calledDecisionId>")


# --- gateways, timers, due times ----------------------------------------------------------------


def test_gateway_flow_without_condition(tmp_path):
    data = write(tmp_path, "leave.bpmn", VALID_BPMN, (' default="Flow_rejected"', ""))
    problem = only_problem(data)
    assert problem.message.startswith(
        "sequence flow '不同意' (Flow_rejected) leaves exclusive gateway '是否同意?' (Gateway_decision) without a condition"
    )
    assert problem.element_id == "Flow_rejected"


def timer(tmp_path, tag, value):
    old = '<bpmn:timeDuration xsi:type="bpmn:tFormalExpression">"P3D"</bpmn:timeDuration>'
    new = f'<bpmn:{tag} xsi:type="bpmn:tFormalExpression">{value}</bpmn:{tag}>'
    return write(tmp_path, "leave.bpmn", VALID_BPMN, (old, new))


def test_time_date_without_zone(tmp_path):
    problem = only_problem(timer(tmp_path, "timeDate", '"2025-03-01T09:00:00"'))
    assert "'三天未处理' (Timer_reminder)" in problem.message and "no time zone" in problem.message
    assert problem.line == line_of(VALID_BPMN, "<bpmn:timeDuration")
    check(timer(tmp_path, "timeDate", '"2025-03-01T09:00:00+08:00"'))


def test_timer_literals_must_be_readable_and_quoted(tmp_path):
    assert "not an ISO 8601 duration" in only_problem(timer(tmp_path, "timeDuration", '"3 days"')).message
    assert 'write it as "P3D"' in only_problem(timer(tmp_path, "timeDuration", "P3D")).message
    check(timer(tmp_path, "timeDuration", "reminder_after"))


@pytest.mark.parametrize(
    "text, expected",
    [("PT45M", (45, "minutes")), ("PT5H", (5, "hours")), ("P5WD", (5, "working_days")), ("P3D", (3, "days"))],
)
def test_parse_due_rule(text, expected):
    assert parse_due_rule(text) == expected


@pytest.mark.parametrize("text", ["P5W", "PT5D", "5D", "P0D", "P3D ", "PT1H30M", ""])
def test_parse_due_rule_refuses(text):
    with pytest.raises(ValueError):
        parse_due_rule(text)


def test_bad_due_in(tmp_path):
    data = write(tmp_path, "leave.bpmn", VALID_BPMN, ('value="P5WD"', 'value="5 working days"'))
    problem = only_problem(data)
    assert problem.message.startswith("user task '科长审批' (Task_approve) has a due time that is not understood")
    assert "P5WD (working days)" in problem.message
    assert problem.line == line_of(VALID_BPMN, 'value="P5WD"')


# --- expressions and scripts --------------------------------------------------------------------


def test_forbidden_expressions_and_scripts_are_reported_where_they_are(tmp_path):
    data = write(
        tmp_path, "leave.bpmn", VALID_BPMN,
        ("approved == True", "approved.__class__"),
        ('reviewer_note = ""', "reviewer_note = ().__class__"),
        ('result = "approved"', "result = __import__('os')"),
    )
    found = {problem.element_id: problem for problem in problems(data)}
    assert found["Flow_approved"].message == "sequence flow '同意' (Flow_approved), condition: forbidden"
    assert found["Flow_approved"].line == line_of(VALID_BPMN, "approved == True")
    assert found["Task_approve"].message == "user task '科长审批' (Task_approve), script run before the task: forbidden"
    assert found["Task_record"].message == "script task '登记结果' (Task_record), script: forbidden"
    assert len(found) == 3


def test_all_problems_are_reported_at_once_one_per_line(tmp_path):
    data = write(
        tmp_path, "leave.bpmn", VALID_BPMN,
        ("<bpmn:flowNodeRef>Task_fill</bpmn:flowNodeRef>", ""),
        (' default="Flow_rejected"', ""),
        ('value="PT45M"', 'value="45 minutes"'),
    )
    with pytest.raises(DiagramInvalid) as caught:
        check(data, missing={"dmn:leave_level"})
    lines = str(caught.value).splitlines()
    assert len(lines) == len(caught.value.problems) == 4
    assert all(line.startswith("leave.bpmn:") for line in lines)
    assert [p.line for p in caught.value.problems] == sorted(p.line for p in caught.value.problems)


# --- DMN problems -------------------------------------------------------------------------------


def dmn_problems(data):
    with pytest.raises(DiagramInvalid) as caught:
        validate_dmn(data, "leave_level.dmn", check_expression=forbid_dunder)
    return caught.value.problems


def test_dmn_cell_expression_names_decision_and_rule(tmp_path):
    data = write(tmp_path, "leave_level.dmn", VALID_DMN, ('"division"', '"division".__class__'))
    [problem] = dmn_problems(data)
    assert problem.message == "decision '审批级别' (leave_level), rule 2, output column 1: forbidden"
    assert problem.line == line_of(VALID_DMN, 'id="LiteralExpression_2"')


def test_bpmn_file_is_not_a_dmn_file(tmp_path):
    [problem] = dmn_problems(write(tmp_path, "leave.dmn", VALID_BPMN))
    assert "not a DMN decision file" in problem.message


def test_dmn_with_two_decisions_is_refused(tmp_path):
    second = (
        '<decision id="other" name="其他">'
        '<decisionTable id="DecisionTable_2"><output id="Output_2" /></decisionTable></decision>'
    )
    data = write(tmp_path, "leave_level.dmn", VALID_DMN, ("  <dmndi:DMNDI>", second + "\n  <dmndi:DMNDI>"))
    [problem] = dmn_problems(data)
    assert "one decision per file" in problem.message


def test_a_service_parameter_sharing_an_element_id_is_reported(tmp_path):
    data = SERVICE_ID_CLASH.encode()
    with pytest.raises(DiagramInvalid) as error:
        validate_bpmn(data, "clash.bpmn", known_roles=lambda lane: True, file_exists=lambda name: True,
                      check_expression=lambda text: [], check_script=lambda text: [])
    [problem] = error.value.problems
    assert "parameter 'year' has the same id as a diagram element" in problem.message
    assert problem.line == 11


SERVICE_ID_CLASH = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" id="d" targetNamespace="http://x">
  <bpmn:process id="p" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="year"/>
    <bpmn:serviceTask id="year">
      <bpmn:extensionElements>
        <spiffworkflow:serviceTaskOperator id="issue_document_number" resultVariable="n">
          <spiffworkflow:parameters>
            <spiffworkflow:parameter id="year" type="int" value="2026"/>
          </spiffworkflow:parameters>
        </spiffworkflow:serviceTaskOperator>
      </bpmn:extensionElements>
      <bpmn:incoming>f1</bpmn:incoming>
      <bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:serviceTask>
    <bpmn:sequenceFlow id="f2" sourceRef="year" targetRef="end"/>
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
  </bpmn:process>
</bpmn:definitions>
"""
