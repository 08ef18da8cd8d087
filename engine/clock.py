"""The one place GovFlow reads the time.

Real by default; fixed when ``GOVFLOW_NOW`` (ISO-8601) is set or a caller (the CLI's ``--now``, a test)
sets it. Everything returns timezone-aware UTC datetimes.
"""
from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

LOCAL_ZONE = ZoneInfo("Asia/Shanghai")


def parse_instant(text: str) -> datetime:
    """Parse an ISO-8601 instant; a zone is required, so no instant is read as server-local time."""
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as err:
        raise ValueError(f"not an ISO-8601 instant: {text!r}") from err
    if value.tzinfo is None:
        raise ValueError(f"the instant {text!r} has no time zone; write e.g. 2026-05-06T09:30:00+08:00")
    return value.astimezone(timezone.utc)


def as_instant(value) -> datetime:
    """An instant from a timezone-aware datetime or ISO-8601 text with a zone (task data holds either)."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"the instant {value.isoformat()} has no time zone")
        return value
    return parse_instant(str(value))


def local_iso(instant: datetime | None) -> str | None:
    """An instant as people here read it: ISO-8601 in Asia/Shanghai time."""
    return instant.astimezone(LOCAL_ZONE).isoformat() if instant is not None else None


class Clock:
    """Injectable source of "now": real, or fixed at an instant that tests and the CLI can move."""

    def __init__(self, fixed: datetime | None = None):
        self._fixed = fixed.astimezone(timezone.utc) if fixed is not None else None

    @classmethod
    def from_env(cls, environ=os.environ) -> "Clock":
        text = environ.get("GOVFLOW_NOW")
        return cls(parse_instant(text) if text else None)

    def now(self) -> datetime:
        if self._fixed is not None:
            return self._fixed
        return datetime.now(timezone.utc)

    def set(self, instant: datetime) -> None:
        if instant.tzinfo is None:
            raise ValueError("the clock needs a timezone-aware instant")
        self._fixed = instant.astimezone(timezone.utc)

    def advance(self, **delta) -> datetime:
        self.set(self.now() + timedelta(**delta))
        return self.now()
