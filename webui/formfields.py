"""A task's JSON Schema as HTML form fields, and a submitted HTML form back as the data the schema describes.

The engine validates the data (``engine.forms``); this module only decides how each property is asked for
and converts the browser's strings to the schema's types. A value that does not convert is passed on as
typed, so the engine's message for it is shown next to its field and the input is kept.

    string                      → text input, or a textarea for long text (maxLength > 200 or none)
    string + enum               → radio buttons (up to 4 choices) or a select
    string + format date/date-time → date / datetime-local input (read as Asia/Shanghai time)
    boolean                     → 是/否 radio buttons; a boolean that must be true (const) → one checkbox
    integer / number            → number input
    array of enum strings       → checkboxes
    array of strings / integers → a textarea, one item per line
    array of objects            → repeated groups of the fields above, blank groups ignored
"""
from __future__ import annotations

from dataclasses import dataclass, field

from werkzeug.datastructures import MultiDict

LONG_TEXT = 200
BLANK_GROUPS = 2


@dataclass
class Field:
    name: str  # the HTML name: "opinion", "decisions-0-topic"
    key: str  # the property name
    title: str
    description: str
    kind: str
    required: bool
    options: list = field(default_factory=list)
    value: object = None  # what the input shows: text, a list of chosen options, "true"/"false"
    error: str = ""
    schema: dict = field(default_factory=dict)
    groups: list = field(default_factory=list)  # for "objects": one list of Fields per group
    template: list = field(default_factory=list)  # for "objects": the fields of a blank group ("__i__")

    @property
    def dom_id(self) -> str:
        return "f-" + self.name


def kind_of(prop: dict) -> str:
    kind = prop.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if kind == "boolean":
        return "confirm" if prop.get("const") is True else "boolean"
    if kind in ("integer", "number"):
        return kind
    if kind == "array":
        items = prop.get("items") or {}
        if items.get("type") == "object":
            return "objects"
        if "enum" in items:
            return "checkboxes"
        return "lines"
    if "enum" in prop:
        return "radios" if len(prop["enum"]) <= 4 else "select"
    if prop.get("format") == "date":
        return "date"
    if prop.get("format") == "date-time":
        return "datetime"
    max_length = prop.get("maxLength")
    return "textarea" if max_length is None or max_length > LONG_TEXT else "text"


def fields(schema: dict | None, values: dict | None = None, errors: dict | None = None,
           submitted: MultiDict | None = None, prefix: str = "") -> list[Field]:
    """The form's fields in the schema's order, showing ``submitted`` (the browser's input, after an error)
    or else ``values`` (a draft, the data so far), with ``errors`` by field path."""
    if not schema:
        return []
    values, errors = values or {}, errors or {}
    required = set(schema.get("required", []))
    result = []
    for key, prop in (schema.get("properties") or {}).items():
        name = f"{prefix}{key}"
        path = name.replace("-", ".")
        item = Field(name=name, key=key, title=prop.get("title") or key, description=prop.get("description", ""),
                     kind=kind_of(prop), required=key in required, schema=prop, error=errors.get(path, ""))
        if item.kind in ("radios", "select"):
            item.options = list(prop["enum"])
        elif item.kind == "checkboxes":
            item.options = list(prop["items"]["enum"])
        if item.kind == "objects":
            _groups(item, prop["items"], values.get(key), errors, submitted)
        elif submitted is not None:
            item.value = (submitted.getlist(name) if item.kind == "checkboxes" else submitted.get(name, ""))
        else:
            item.value = _shown(item.kind, values.get(key))
        result.append(item)
    return result


def _groups(item: Field, item_schema: dict, saved, errors: dict, submitted: MultiDict | None) -> None:
    if submitted is not None:
        count = _group_count(submitted, item.name)
        item.groups = [fields(item_schema, None, errors, submitted, f"{item.name}-{i}-") for i in range(count)]
    else:
        saved = saved if isinstance(saved, list) else []
        item.groups = [fields(item_schema, v if isinstance(v, dict) else {}, errors, None, f"{item.name}-{i}-")
                       for i, v in enumerate(saved)]
        start = len(item.groups)
        item.groups += [fields(item_schema, {}, errors, None, f"{item.name}-{start + i}-")
                        for i in range(BLANK_GROUPS if not saved else 1)]
    item.template = fields(item_schema, {}, {}, None, f"{item.name}-__i__-")


def _group_count(submitted: MultiDict, name: str) -> int:
    indexes = [int(key.split("-")[-2]) for key in submitted.keys()
               if key.startswith(name + "-") and key.split("-")[-2].isdigit()]
    return max(indexes) + 1 if indexes else 1


def _shown(kind: str, value):
    if value is None:
        return [] if kind == "checkboxes" else ""
    if kind in ("boolean", "confirm"):
        return "true" if value is True else "false" if value is False else ""
    if kind == "checkboxes":
        return [str(v) for v in value] if isinstance(value, list) else []
    if kind == "lines":
        return "\n".join(str(v) for v in value) if isinstance(value, list) else str(value)
    if kind == "datetime":
        return str(value)[:16]  # 2026-06-01T09:30 for datetime-local
    return str(value)


def parse(schema: dict | None, form: MultiDict, prefix: str = "") -> dict:
    """The submitted HTML form as data of the schema's types; empty inputs are left out."""
    data = {}
    for key, prop in ((schema or {}).get("properties") or {}).items():
        name = f"{prefix}{key}"
        kind = kind_of(prop)
        if kind == "objects":
            groups = [parse(prop["items"], form, f"{name}-{i}-") for i in range(_group_count(form, name))
                      if _group_filled(prop["items"], form, f"{name}-{i}-")]
            if groups or any(k.startswith(name + "-") for k in form.keys()):
                data[key] = groups
            continue
        if kind == "checkboxes":
            chosen = form.getlist(name)
            if chosen or f"{name}__present" in form:
                data[key] = chosen
            continue
        raw = form.get(name, "")
        if kind != "textarea":
            raw = raw.strip()
        if raw == "":
            if kind == "lines" and f"{name}__present" in form and key in (schema.get("required") or []):
                data[key] = []
            continue
        data[key] = _typed(kind, prop, raw)
    return data


def _group_filled(item_schema: dict, form: MultiDict, prefix: str) -> bool:
    for key, prop in (item_schema.get("properties") or {}).items():
        kind = kind_of(prop)
        if kind == "boolean":
            continue  # a yes/no answer alone does not make a blank row a row
        if kind == "checkboxes" and form.getlist(prefix + key):
            return True
        if kind != "checkboxes" and form.get(prefix + key, "").strip():
            return True
    return False


def _typed(kind: str, prop: dict, raw: str):
    if kind in ("boolean", "confirm"):
        return {"true": True, "false": False, "on": True}.get(raw, raw)
    if kind == "integer":
        return _number(raw, int)
    if kind == "number":
        return _number(raw, float)
    if kind == "datetime":
        return _instant(raw)
    if kind == "lines":
        items = [part.strip() for line in raw.splitlines() for part in line.replace("，", ",").split(",")]
        items = [part for part in items if part]
        item_kind = (prop.get("items") or {}).get("type")
        if item_kind in ("integer", "number"):
            return [_number(part, int if item_kind == "integer" else float) for part in items]
        return items
    return raw


def _number(raw: str, kind):
    try:
        value = kind(raw)
    except ValueError:
        try:
            value = float(raw)
        except ValueError:
            return raw
    return int(value) if kind is int and float(value).is_integer() else value


def _instant(raw: str) -> str:
    """A datetime-local value (2026-06-01T09:30) is Shanghai time; a value with a zone is kept."""
    text = raw.replace(" ", "T")
    if len(text) == 16:
        text += ":00"
    if len(text) == 19:
        text += "+08:00"
    return text


def errors_by_field(details: list | None) -> tuple[dict, list]:
    """The engine's per-field messages by field path, and those that name no field of the form."""
    by_field, general = {}, []
    for problem in details or []:
        if isinstance(problem, dict) and problem.get("field"):
            for one in str(problem["field"]).split(", "):
                by_field.setdefault(one, problem.get("message", ""))
        elif isinstance(problem, dict):
            general.append(problem.get("message", ""))
    return by_field, general
