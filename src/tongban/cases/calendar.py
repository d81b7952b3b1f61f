"""Working-day arithmetic for time limits (domain: no database, no web).

Rules, as in Chinese administrative practice:

- The day of acceptance is not counted: a period of N days starts on the next day.
- ``working_days`` count only working days: Monday to Friday, minus public holidays, plus the adjusted
  weekend working days (调休上班) announced each year. ``calendar_days`` count every day.
- Paused intervals (the applicant is supplying missing materials) do not count. A pause started on day P and
  ended on day R removes the days after P up to and including R: the day the clock stopped was a day of work,
  and the day the materials arrive is treated like a new acceptance day (the clock runs again the next day).
- Which days are holidays comes, per year, from (1) an operator's schedule file for that year when there is
  one, else (2) the ``chinese_calendar`` library when it covers the year, else (3) weekends only. The third is
  a guess: every result says which years were guessed (``years_without_data``), so the caller can warn; it
  never fails.

Operator schedule files: one file per year, named ``<year>.toml``, in the calendar directory
(``TONGBAN_CALENDAR_DIR``)::

    year = 2027
    source = "State Council General Office notice on the 2027 holidays"   # free text, shown to operators
    # days off, single dates or inclusive ranges "first..last"; weekend days inside a holiday may be listed
    holidays = ["2027-01-01", "2027-02-05..2027-02-12"]
    # adjusted working days: Saturdays or Sundays that are worked
    workdays = ["2027-02-14"]

Every date must lie in the file's year; a date may not be both a holiday and a working day; a listed working
day must be a Saturday or Sunday. A broken file is refused with a message naming the file and the problem.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone
from enum import StrEnum
from functools import lru_cache
from pathlib import Path

import chinese_calendar

# China Standard Time: no daylight saving since 1991, so a fixed offset is exact.
CHINA_TZ = timezone(timedelta(hours=8), "CST")

# A limit longer than this is a data error, not a real time limit; it also bounds every loop here.
MAX_LIMIT_DAYS = 3660


class DayUnit(StrEnum):
    WORKING_DAYS = "working_days"
    CALENDAR_DAYS = "calendar_days"


@dataclass(frozen=True)
class TimeLimit:
    value: int
    unit: DayUnit

    def __post_init__(self) -> None:
        if not 0 <= self.value <= MAX_LIMIT_DAYS:
            raise ValueError(f"time limit out of range: {self.value}")

    @classmethod
    def working_days(cls, value: int) -> TimeLimit:
        return cls(value, DayUnit.WORKING_DAYS)

    @classmethod
    def calendar_days(cls, value: int) -> TimeLimit:
        return cls(value, DayUnit.CALENDAR_DAYS)

    def __str__(self) -> str:
        return f"{self.value} {self.unit.value}"


@dataclass(frozen=True)
class Pause:
    """A stop of the clock: from ``start`` (a day that counts) to ``end`` (a day that does not count)."""

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError("a pause cannot end before it starts")

    def covers(self, day: date) -> bool:
        return self.start < day <= self.end


class ScheduleError(ValueError):
    """An operator's schedule file is broken; the message names the file and the problem."""


@dataclass(frozen=True)
class YearSchedule:
    year: int
    holidays: frozenset[date]
    workdays: frozenset[date]
    source: str = ""

    def __post_init__(self) -> None:
        for d in self.holidays | self.workdays:
            if d.year != self.year:
                raise ScheduleError(f"{d.isoformat()} is not in year {self.year}")
        both = self.holidays & self.workdays
        if both:
            raise ScheduleError(
                "listed as both holiday and working day: " + ", ".join(sorted(d.isoformat() for d in both))
            )
        weekdays = sorted(d.isoformat() for d in self.workdays if d.weekday() < 5)
        if weekdays:
            raise ScheduleError("adjusted working days must be Saturdays or Sundays: " + ", ".join(weekdays))

    def is_workday(self, day: date) -> bool:
        if day in self.workdays:
            return True
        return day.weekday() < 5 and day not in self.holidays


def _parse_days(values: object, what: str) -> set[date]:
    if not isinstance(values, list):
        raise ScheduleError(f"{what} must be a list of dates or 'first..last' ranges")
    days: set[date] = set()
    for raw in values:
        text = raw.isoformat() if isinstance(raw, date) else raw
        if not isinstance(text, str):
            raise ScheduleError(f"{what}: not a date: {raw!r}")
        try:
            if ".." in text:
                first_s, last_s = text.split("..", 1)
                first, last = date.fromisoformat(first_s.strip()), date.fromisoformat(last_s.strip())
                if last < first or (last - first).days > 366:
                    raise ScheduleError(f"{what}: bad range {text!r}")
                days.update(first + timedelta(n) for n in range((last - first).days + 1))
            else:
                days.add(date.fromisoformat(text.strip()))
        except ValueError as exc:
            if isinstance(exc, ScheduleError):
                raise
            raise ScheduleError(f"{what}: not a date: {text!r}") from exc
    return days


def parse_schedule(text: str, *, name: str = "<schedule>") -> YearSchedule:
    """Read one year's schedule from TOML text (see the module doc); errors name ``name``."""
    try:
        doc = tomllib.loads(text)
        year = doc.get("year")
        if not isinstance(year, int) or isinstance(year, bool) or not 1949 <= year <= 9999:
            raise ScheduleError("'year' must be a year number")
        unknown = set(doc) - {"year", "source", "holidays", "workdays"}
        if unknown:
            raise ScheduleError("unknown keys: " + ", ".join(sorted(unknown)))
        source = doc.get("source", "")
        if not isinstance(source, str):
            raise ScheduleError("'source' must be text")
        return YearSchedule(
            year=year,
            holidays=frozenset(_parse_days(doc.get("holidays", []), "holidays")),
            workdays=frozenset(_parse_days(doc.get("workdays", []), "workdays")),
            source=source,
        )
    except tomllib.TOMLDecodeError as exc:
        raise ScheduleError(f"{name}: not valid TOML: {exc}") from exc
    except ScheduleError as exc:
        raise ScheduleError(f"{name}: {exc}") from exc


def load_schedules(directory: Path | None) -> dict[int, YearSchedule]:
    """Every ``<year>.toml`` of ``directory`` (none when it is unset or missing)."""
    if directory is None or not directory.is_dir():
        return {}
    schedules: dict[int, YearSchedule] = {}
    for path in sorted(directory.glob("*.toml")):
        schedule = parse_schedule(path.read_text(encoding="utf-8"), name=str(path))
        if path.stem != str(schedule.year):
            raise ScheduleError(f"{path}: file name must be the year it describes ({schedule.year}.toml)")
        schedules[schedule.year] = schedule
    return schedules


class DaySource(StrEnum):
    FILE = "file"
    LIBRARY = "library"
    WEEKENDS_ONLY = "weekends_only"


@dataclass(frozen=True)
class DueDate:
    """The last day of a period, and the years whose holidays had to be guessed (weekends only)."""

    due: date
    years_without_data: tuple[int, ...] = ()

    @property
    def complete(self) -> bool:
        return not self.years_without_data

    def deadline_at(self) -> datetime:
        """The instant the period ends: midnight after the due day, China time, as UTC."""
        return end_of_day(self.due)


def end_of_day(day: date) -> datetime:
    return datetime.combine(day + timedelta(days=1), time(0), CHINA_TZ).astimezone(UTC)


def local_date(instant: datetime) -> date:
    """The date in China of an aware instant."""
    if instant.tzinfo is None:
        raise ValueError("naive datetime: times must carry their zone")
    return instant.astimezone(CHINA_TZ).date()


@dataclass
class WorkingCalendar:
    """Which days are working days; operator schedules first, then the library, then weekends only."""

    schedules: Mapping[int, YearSchedule] = field(default_factory=dict)
    use_library: bool = True

    @classmethod
    def from_dir(cls, directory: Path | None) -> WorkingCalendar:
        return cls(schedules=load_schedules(directory))

    def source_for(self, year: int) -> DaySource:
        if year in self.schedules:
            return DaySource.FILE
        if self.use_library and library_covers(year):
            return DaySource.LIBRARY
        return DaySource.WEEKENDS_ONLY

    def is_workday(self, day: date) -> bool:
        source = self.source_for(day.year)
        if source is DaySource.FILE:
            return self.schedules[day.year].is_workday(day)
        if source is DaySource.LIBRARY:
            return library_schedule(day.year).is_workday(day)
        return day.weekday() < 5

    def due(self, start: date, limit: TimeLimit, pauses: Iterable[Pause] = ()) -> DueDate:
        """The last day of a period of ``limit`` that starts the day after ``start``.

        Days inside a pause are skipped. A limit of 0 ends on ``start`` itself (decided on the spot).
        """
        pause_list = list(pauses)
        guessed: set[int] = set()
        day = start
        counted = 0
        while counted < limit.value:
            day += timedelta(days=1)
            if any(p.covers(day) for p in pause_list):
                continue
            if limit.unit is DayUnit.CALENDAR_DAYS:
                counted += 1
                continue
            if self.source_for(day.year) is DaySource.WEEKENDS_ONLY:
                guessed.add(day.year)
            if self.is_workday(day):
                counted += 1
        return DueDate(due=day, years_without_data=tuple(sorted(guessed)))

    def working_days_between(self, after: date, until: date) -> int:
        """Working days in (after, until]; negative when ``until`` is before ``after``."""
        if until < after:
            return -self.working_days_between(until, after)
        count = 0
        day = after
        while day < until:
            day += timedelta(days=1)
            if self.is_workday(day):
                count += 1
        return count

    def years_without_data(self, years: Sequence[int]) -> list[int]:
        return [y for y in years if self.source_for(y) is DaySource.WEEKENDS_ONLY]


@lru_cache(maxsize=1)
def _library_years() -> tuple[int, int]:
    years = [d.year for d in chinese_calendar.holidays]
    return min(years), max(years)


def library_covers(year: int) -> bool:
    """Whether the installed ``chinese_calendar`` knows the holidays of ``year``."""
    first, last = _library_years()
    return first <= year <= last


@lru_cache(maxsize=64)
def library_schedule(year: int) -> YearSchedule:
    """The library's data for one year as a schedule (set lookups instead of the library's per-call scans)."""
    return YearSchedule(
        year=year,
        holidays=frozenset(d for d in chinese_calendar.holidays if d.year == year),
        workdays=frozenset(d for d in chinese_calendar.workdays if d.year == year),
        source=f"chinese_calendar {getattr(chinese_calendar, '__version__', '')}".strip(),
    )
