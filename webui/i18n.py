"""zh-CN by default, English on request: the Chinese text is the key, ``EN`` holds its English.

Templates call ``_("待办")``; the engine's messages are bilingual ("中文 / English") and ``pick`` keeps the
reader's half. The language is kept in the session (the switch in the header).
"""
from __future__ import annotations

from flask import session

from .translations import EN

LANGUAGES = {"zh-CN": "中文", "en": "English"}
DEFAULT = "zh-CN"


def language() -> str:
    try:
        chosen = session.get("lang")
    except RuntimeError:  # outside a request
        chosen = None
    return chosen if chosen in LANGUAGES else DEFAULT


def gettext(text: str, **values) -> str:
    translated = EN.get(text, text) if language() == "en" else text
    return translated.format(**values) if values else translated


def pick(message: str | None) -> str:
    """The reader's half of a bilingual "中文 / English" message (the whole message if it is not one)."""
    if not message:
        return ""
    zh, sep, en = str(message).partition(" / ")
    if not sep:
        return str(message)
    return en if language() == "en" else zh


def install(app) -> None:
    app.jinja_env.globals.update(_=gettext, pick=pick, language=language, LANGUAGES=LANGUAGES)
    app.jinja_env.filters["pick"] = pick
