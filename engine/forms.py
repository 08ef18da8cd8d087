"""Task forms as JSON Schema: validated before the engine sees the data, with messages per field."""
from __future__ import annotations

import json
import re

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import SchemaError

from .clock import parse_instant
from .errors import InvalidInput

_FORMATS = FormatChecker()
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}")


@_FORMATS.checks("date-time", raises=ValueError)
def _is_instant(value) -> bool:
    if not isinstance(value, str):
        return True
    parse_instant(value)
    return True


_MESSAGES = {
    "required": "必填 / required",
    "type": "类型不对 / wrong type: expected {validator_value}",
    "enum": "只能是 / must be one of: {choices}",
    "minLength": "至少 {validator_value} 个字 / at least {validator_value} characters",
    "maxLength": "最多 {validator_value} 个字 / at most {validator_value} characters",
    "minimum": "不能小于 {validator_value} / must be at least {validator_value}",
    "maximum": "不能大于 {validator_value} / must be at most {validator_value}",
    "format": "格式不对 / not a valid {validator_value}",
    "pattern": "格式不对 / does not match the expected pattern",
    "additionalProperties": "表单中没有这个字段 / not a field of this form",
    "minItems": "至少 {validator_value} 项 / at least {validator_value} items",
}


def check_schema(schema: dict, name: str) -> None:
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as err:
        where = "/".join(str(part) for part in err.absolute_path)
        at = f"（{where}）" if where else ""
        raise InvalidInput(f"表单 {name} 不是有效的 JSON Schema{at}：{err.message} / form {name} is not a valid JSON "
                           f"Schema{f' at {where}' if where else ''}: {err.message}") from err


def parse_schema(name: str, text: str) -> dict:
    """A form given as text (from the designer's page): its name checked, the text parsed as a JSON object and
    checked as a JSON Schema; InvalidInput saying what is wrong and where."""
    check_name(name)
    try:
        schema = json.loads(text)
    except json.JSONDecodeError as err:
        raise InvalidInput(f"表单 {name} 不是有效的 JSON：第 {err.lineno} 行第 {err.colno} 列，{err.msg} / form {name} "
                           f"is not valid JSON: line {err.lineno}, column {err.colno}: {err.msg}") from err
    if not isinstance(schema, dict):
        raise InvalidInput(f"表单 {name} 须是一个 JSON 对象 / form {name} must be a JSON object (a JSON Schema)")
    check_schema(schema, name)
    return schema


def check_name(name: str) -> None:
    """A form's name is what a task's formJsonSchemaFilename names: a file name such as ``approve.json``."""
    if not _NAME.fullmatch(name or ""):
        raise InvalidInput(f"表单名只能用字母、数字、下划线、点和连字符，如 approve.json / a form's name is letters, "
                           f"digits, _, . and - (at most 128), e.g. approve.json: {name!r}")


def field_errors(schema: dict, data: dict) -> list[dict]:
    """Every problem with ``data`` as {"field", "label", "message"}; empty when the data fits the form."""
    validator = Draft202012Validator(schema, format_checker=_FORMATS)
    problems = []
    for error in sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path)):
        field = _field_of(error)
        label = schema.get("properties", {}).get(field, {}).get("title", field) if field else ""
        problems.append({"field": field, "label": label, "message": _message(error)})
    return problems


def validate(schema: dict, data: dict, form_name: str) -> None:
    problems = field_errors(schema, data)
    if problems:
        listed = "; ".join(f"{p['label'] or p['field']}: {p['message']}" for p in problems)
        raise InvalidInput(f"表单填写有误 / the form {form_name} has errors: {listed}", problems)


def _field_of(error) -> str:
    """The field's path (``decisions.0.topic`` for a field of a nested item), so a form can show the message
    next to it."""
    path = [str(part) for part in error.absolute_path]
    if error.validator == "required":
        path.append(error.message.split("'")[1])
    elif error.validator == "additionalProperties":
        path.append(", ".join(sorted(set(error.instance) - set(error.schema.get("properties", {})))))
    return ".".join(path)


def _message(error) -> str:
    template = _MESSAGES.get(error.validator)
    if template is None:
        return error.message
    value = error.validator_value
    choices = "、".join(map(str, value)) if isinstance(value, list) else value
    return template.format(validator_value=value, choices=choices)


def with_all_fields(schema: dict, data: dict) -> dict:
    """The submitted data with every field of the form present (None where left empty), so conditions
    and scripts can name any field of the form."""
    return {**{name: None for name in schema.get("properties", {})}, **data}


def field_titles(schemas) -> dict[str, str]:
    """Each field's title (its ``title`` in the form), over all the given form schemas; first one wins."""
    titles: dict[str, str] = {}
    for schema in schemas:
        for name, field in (schema.get("properties") or {}).items():
            if isinstance(field, dict) and field.get("title"):
                titles.setdefault(name, field["title"])
    return titles
