"""Task forms as HTML: every JSON Schema form of every procedure gets an input for each field, and what a
browser submits comes back as data of the schema's types (the engine then validates it)."""
import json
from pathlib import Path

import pytest
from werkzeug.datastructures import MultiDict

from engine import forms
from webui import formfields

FORMS = sorted(Path(__file__).resolve().parent.parent.glob("processes/*/forms/*.json"))
DECISIONS = json.loads((Path(__file__).resolve().parent.parent / "processes/meeting/forms/decisions.json").read_text())


@pytest.mark.parametrize("path", FORMS, ids=[f"{p.parent.parent.name}/{p.name}" for p in FORMS])
def test_every_field_of_every_form_gets_an_input(path):
    schema = json.loads(path.read_text(encoding="utf-8"))
    fields = formfields.fields(schema)
    assert [f.key for f in fields] == list(schema["properties"])
    for field in fields:
        assert field.kind in {"text", "textarea", "integer", "number", "date", "datetime", "select", "radios",
                              "boolean", "confirm", "checkboxes", "lines", "objects"}
        assert field.title
        if field.kind == "objects":
            assert field.groups and field.template


def test_kinds_follow_the_schema():
    kinds = {f.key: f.kind for f in formfields.fields({"properties": {
        "short": {"type": "string", "maxLength": 50}, "long": {"type": "string", "maxLength": 2000},
        "few": {"type": "string", "enum": ["a", "b"]}, "many": {"type": "string", "enum": list("abcdef")},
        "when": {"type": "string", "format": "date-time"}, "day": {"type": "string", "format": "date"},
        "flag": {"type": "boolean"}, "sure": {"type": "boolean", "const": True}, "n": {"type": "integer"},
        "x": {"type": "number"}, "picks": {"type": "array", "items": {"type": "string", "enum": ["p", "q"]}},
        "names": {"type": "array", "items": {"type": "string"}}}})}
    assert kinds == {"short": "text", "long": "textarea", "few": "radios", "many": "select", "when": "datetime",
                     "day": "date", "flag": "boolean", "sure": "confirm", "n": "integer", "x": "number",
                     "picks": "checkboxes", "names": "lines"}


def test_submitted_strings_become_the_schemas_types():
    schema = {"properties": {
        "n": {"type": "integer"}, "x": {"type": "number"}, "flag": {"type": "boolean"},
        "when": {"type": "string", "format": "date-time"}, "order": {"type": "array", "items": {"type": "integer"}},
        "names": {"type": "array", "items": {"type": "string"}}, "empty": {"type": "string"},
        "picks": {"type": "array", "items": {"type": "string", "enum": ["p", "q"]}}}}
    data = formfields.parse(schema, MultiDict([
        ("n", "3"), ("x", "2.5"), ("flag", "false"), ("when", "2026-06-01T09:30"), ("order", "3\n1, 2"),
        ("names", "wang_mayor\nli_exec\n"), ("empty", ""), ("picks", "p"), ("picks", "q")]))
    assert data == {"n": 3, "x": 2.5, "flag": False, "when": "2026-06-01T09:30:00+08:00", "order": [3, 1, 2],
                    "names": ["wang_mayor", "li_exec"], "picks": ["p", "q"]}
    assert formfields.parse(schema, MultiDict([("n", "three")]))["n"] == "three"  # left for the engine to refuse


def test_repeated_groups_of_an_array_of_objects_blank_ones_dropped():
    submitted = MultiDict([("present", "wang_mayor\nli_exec"),
                           ("decisions-0-topic", "12"), ("decisions-0-decision", "同意"),
                           ("decisions-0-follow_up", "true"), ("decisions-0-responsible_department", "civil_affairs"),
                           ("decisions-1-topic", ""), ("decisions-1-decision", ""), ("decisions-1-follow_up", "false")])
    data = formfields.parse(DECISIONS, submitted)
    assert data == {"present": ["wang_mayor", "li_exec"],
                    "decisions": [{"topic": 12, "decision": "同意", "follow_up": True,
                                   "responsible_department": "civil_affairs"}]}
    assert forms.field_errors(DECISIONS, data) == []
    shown = formfields.fields(DECISIONS, errors={"decisions.0.decision": "必填"}, submitted=submitted)
    groups = shown[1].groups
    assert len(groups) == 2 and groups[0][1].value == "同意" and groups[0][1].error == "必填"


def test_engine_messages_are_placed_by_field():
    by_field, general = formfields.errors_by_field([{"field": "action", "message": "必填 / required"},
                                                    {"field": "a, b", "message": "not a field"},
                                                    {"field": "", "message": "整体有误"}])
    assert by_field == {"action": "必填 / required", "a": "not a field", "b": "not a field"}
    assert general == ["整体有误"]
