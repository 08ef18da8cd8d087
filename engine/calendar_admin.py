"""Admin-editable overrides of the working-day calendar, and calendar questions answered with them."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import select

from . import audit
from .calendar import WorkingCalendar
from .clock import local_iso
from .errors import InvalidInput
from .models import CalendarOverride


def working_calendar(conn) -> WorkingCalendar:
    """The working-day calendar with the admins' overrides."""
    return WorkingCalendar(dict(conn.execute(select(CalendarOverride.day, CalendarOverride.is_workday)).all()))


class CalendarAdmin:
    def __init__(self, engine):
        self._engine = engine

    def overrides(self) -> list[dict]:
        with self._engine.read() as session:
            rows = session.scalars(select(CalendarOverride).order_by(CalendarOverride.day)).all()
            return [_row_dict(row) for row in rows]

    def set(self, day: str, is_workday: bool, note: str, actor: str) -> dict:
        parsed = _day(day)
        with self._engine.unit_of_work() as uow:
            row = uow.session.get(CalendarOverride, parsed) or CalendarOverride(day=parsed)
            before = _row_dict(row) if row.is_workday is not None else None
            row.is_workday, row.note, row.updated_by, row.updated_at = is_workday, note, actor, uow.now
            uow.session.add(row)
            audit.record(uow.session, action="calendar_override", actor=actor, at=uow.now,
                         data={"day": day, "before": before, "after": _row_dict(row)})
            return _row_dict(row)

    def unset(self, day: str, actor: str) -> bool:
        parsed = _day(day)
        with self._engine.unit_of_work() as uow:
            row = uow.session.get(CalendarOverride, parsed)
            if row is None:
                return False
            audit.record(uow.session, action="calendar_override", actor=actor, at=uow.now,
                         data={"day": day, "before": _row_dict(row), "after": None})
            uow.session.delete(row)
            return True

    def add_working_days(self, start: datetime, days: int) -> dict:
        with self._engine.unit_of_work() as uow:
            result = uow.calendar().add_working_days(start, days)
        return {"start": local_iso(start), "working_days": days, "deadline": local_iso(result.value),
                "guessed": result.is_guess, "warning": result.warning()}

    def working_days_between(self, start: datetime, end: datetime) -> dict:
        with self._engine.unit_of_work() as uow:
            result = uow.calendar().working_days_between(start, end)
        return {"start": local_iso(start), "end": local_iso(end), "working_days": result.value,
                "guessed": result.is_guess, "warning": result.warning()}


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as err:
        raise InvalidInput(f"not a date: {text!r}; write it as YYYY-MM-DD") from err


def _row_dict(row: CalendarOverride) -> dict:
    return {"day": row.day.isoformat(), "is_workday": row.is_workday, "note": row.note,
            "updated_by": row.updated_by, "updated_at": local_iso(row.updated_at)}
