"""Working-day (工作日) arithmetic for statutory deadlines.

Which days count
    A day is a working day unless it is a weekend or a Chinese statutory
    holiday; make-up workdays (调休上班, e.g. a Saturday worked in exchange for a
    holiday) do count.  Each date is judged, in order, by
      1. the admin override table (``date -> True`` workday / ``False`` day off),
      2. the ``chinese_calendar`` package, for the years it knows
         (``known_years()``, read once from the package data at import),
      3. weekends only.  Such dates are *guesses*: they are reported in
         ``CalendarResult.fallback_dates`` so callers can warn about them.

Instants and days
    All instants must be timezone-aware (naive datetimes raise ValueError).
    Days are the local calendar dates of the calendar's zone (Asia/Shanghai by
    default): 2026-10-08 17:00 UTC is already 2026-10-09 in Shanghai.
    A day D is the half-open interval [D 00:00, D+1 00:00) local time.

Deadlines: ``add_working_days(start, n)``
    The start day never counts.  The deadline is the END of the n-th working
    day after the start's local date, expressed as the exclusive instant
    "00:00 local of the following day": the work is on time iff it is done
    strictly before the returned instant (overdue iff ``now >= deadline``).
    ``n == 0`` means the end of the start day if that is a working day, else
    the end of the next working day.  ``n`` must be in 0..MAX_WORKING_DAYS.

Elapsed working days: ``working_days_between(start, end)``
    The number of working days after the start's local date that have begun
    before ``end`` -- i.e. up to and including the local date of ``end``,
    where an ``end`` at exactly local midnight closes the previous day.
    Hence ``working_days_between(start, add_working_days(start, n)) == n`` for
    every ``n >= 1`` (and for ``n == 0`` when the start day is a working day).
    If ``end < start`` the result is ``-working_days_between(end, start)``.

Both operations refuse spans longer than MAX_SPAN_DAYS calendar days.
"""

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import chinese_calendar

MAX_WORKING_DAYS = 3660
MAX_SPAN_DAYS = 7320
_ONE_DAY = timedelta(days=1)
_KNOWN_YEARS = range(
    min(day.year for day in chinese_calendar.holidays),
    max(day.year for day in chinese_calendar.holidays) + 1,
)


@lru_cache(maxsize=None)
def _package_workday(day: date) -> bool:
    """The package's verdict for a date inside ``_KNOWN_YEARS`` (cached)."""
    return chinese_calendar.is_workday(day)


@dataclass(frozen=True)
class CalendarResult:
    """A deadline instant or a day count, plus the dates that were guessed."""

    value: datetime | int
    fallback_dates: tuple[date, ...]

    @property
    def is_guess(self) -> bool:
        return bool(self.fallback_dates)

    def warning(self) -> str | None:
        """A bilingual notice naming the years judged weekends-only, or None."""
        if not self.fallback_dates:
            return None
        years = sorted({day.year for day in self.fallback_dates})
        zh = "、".join(map(str, years))
        en = ", ".join(map(str, years))
        return (
            f"{zh}年的法定节假日尚未收录，按周末计算 / "
            f"holidays for {en} are not known yet; weekends only"
        )


class WorkingCalendar:
    """Working days per the package, admin overrides and the local zone."""

    def __init__(
        self, overrides: Mapping[date, bool] | None = None, tz: str = "Asia/Shanghai"
    ):
        self._overrides = dict(overrides or {})
        self._zone = ZoneInfo(tz)

    def known_years(self) -> range:
        return _KNOWN_YEARS

    def is_workday(self, day: date) -> tuple[bool, bool]:
        """``(is_workday, known)``; ``known`` is False for a weekends-only guess."""
        if day in self._overrides:
            return self._overrides[day], True
        if day.year in _KNOWN_YEARS:
            return _package_workday(day), True
        return day.weekday() < 5, False

    def add_working_days(self, start: datetime, n: int) -> CalendarResult:
        """Deadline instant: 00:00 local after the n-th working day (exclusive)."""
        if not 0 <= n <= MAX_WORKING_DAYS:
            raise ValueError(f"n must be between 0 and {MAX_WORKING_DAYS}, got {n}")
        start_day = self._local_date(start)
        first, needed = (start_day, 1) if n == 0 else (start_day + _ONE_DAY, n)
        fallback = []
        for day in _days(first, MAX_SPAN_DAYS):
            workday, known = self.is_workday(day)
            if not known:
                fallback.append(day)
            needed -= 1 if workday else 0
            if needed == 0:
                return CalendarResult(self._midnight(day + _ONE_DAY), tuple(fallback))
        raise ValueError(f"no deadline within {MAX_SPAN_DAYS} days of {start_day}")

    def working_days_between(self, start: datetime, end: datetime) -> CalendarResult:
        """Working days after start's local date that have begun before ``end``."""
        first = self._local_date(start)
        last = self._local_date(end - timedelta(microseconds=1))
        if end < start:
            result = self.working_days_between(end, start)
            return CalendarResult(-result.value, result.fallback_dates)
        span = (last - first).days
        if span > MAX_SPAN_DAYS:
            raise ValueError(f"span of {span} days exceeds {MAX_SPAN_DAYS}")
        count, fallback = 0, []
        for day in _days(first + _ONE_DAY, span):
            workday, known = self.is_workday(day)
            count += 1 if workday else 0
            if not known:
                fallback.append(day)
        return CalendarResult(count, tuple(fallback))

    def _local_date(self, instant: datetime) -> date:
        if instant.tzinfo is None or instant.utcoffset() is None:
            raise ValueError(f"naive datetime refused: {instant!r}")
        return instant.astimezone(self._zone).date()

    def _midnight(self, day: date) -> datetime:
        return datetime.combine(day, time.min, tzinfo=self._zone)


def _days(first: date, count: int) -> Iterator[date]:
    """``count`` consecutive dates from ``first`` (none if count <= 0)."""
    return (first + timedelta(days=offset) for offset in range(count))
