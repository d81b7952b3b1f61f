"""Due dates honour public holidays, adjusted working weekends, pauses, and years without data."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tongban.cases.calendar import (
    DaySource,
    Pause,
    ScheduleError,
    TimeLimit,
    WorkingCalendar,
    load_schedules,
    local_date,
    parse_schedule,
)

CAL = WorkingCalendar()


def test_acceptance_day_is_not_counted() -> None:
    # Monday 2025-06-09 accepted: one working day ends Tuesday, not Monday.
    assert CAL.due(date(2025, 6, 9), TimeLimit.working_days(1)).due == date(2025, 6, 10)
    assert CAL.due(date(2025, 6, 9), TimeLimit.calendar_days(1)).due == date(2025, 6, 10)


def test_zero_days_ends_on_the_day_itself() -> None:
    assert CAL.due(date(2025, 6, 9), TimeLimit.working_days(0)).due == date(2025, 6, 9)


def test_friday_acceptance_skips_the_weekend() -> None:
    assert CAL.due(date(2025, 6, 13), TimeLimit.working_days(1)).due == date(2025, 6, 16)


def test_national_day_2025_and_its_adjusted_sunday() -> None:
    # Sunday 2025-09-28 is a working day; 1-8 October are off; Saturday 2025-10-11 is worked.
    assert CAL.is_workday(date(2025, 9, 28))
    assert not CAL.is_workday(date(2025, 10, 1))
    assert CAL.is_workday(date(2025, 10, 11))
    # Accepted Friday 2025-09-26: the adjusted Sunday is the first working day.
    assert CAL.due(date(2025, 9, 26), TimeLimit.working_days(1)).due == date(2025, 9, 28)
    # 9-28, 9-29, 9-30, then the holiday, then 10-09, 10-10.
    assert CAL.due(date(2025, 9, 26), TimeLimit.working_days(5)).due == date(2025, 10, 10)
    # Accepted on the last day before the holiday: the next working day is 9 October.
    assert CAL.due(date(2025, 9, 30), TimeLimit.working_days(1)).due == date(2025, 10, 9)
    # ... and the adjusted Saturday counts.
    assert CAL.due(date(2025, 9, 30), TimeLimit.working_days(3)).due == date(2025, 10, 11)


def test_spring_festival_2026() -> None:
    # 15-23 February 2026 are off; Saturdays 14 and 28 February are worked.
    assert CAL.due(date(2026, 2, 13), TimeLimit.working_days(1)).due == date(2026, 2, 14)
    assert CAL.due(date(2026, 2, 14), TimeLimit.working_days(1)).due == date(2026, 2, 24)
    # 13, 14 (Saturday, worked), then the holiday, then 24, 25, 26, 27, 28 (Saturday, worked), 2 March.
    assert CAL.due(date(2026, 2, 12), TimeLimit.working_days(5)).due == date(2026, 2, 26)
    assert CAL.due(date(2026, 2, 12), TimeLimit.working_days(7)).due == date(2026, 2, 28)
    assert CAL.due(date(2026, 2, 12), TimeLimit.working_days(8)).due == date(2026, 3, 2)


def test_calendar_days_ignore_holidays() -> None:
    assert CAL.due(date(2025, 9, 30), TimeLimit.calendar_days(5)).due == date(2025, 10, 5)
    assert CAL.due(date(2026, 1, 20), TimeLimit.calendar_days(45)).due == date(2026, 3, 6)


def test_a_year_without_data_falls_back_to_weekends_and_says_so() -> None:
    assert CAL.source_for(2026) is DaySource.LIBRARY
    assert CAL.source_for(2099) is DaySource.WEEKENDS_ONLY
    result = CAL.due(date(2099, 1, 1), TimeLimit.working_days(5))  # Thursday
    assert result.due == date(2099, 1, 8)
    assert result.years_without_data == (2099,)
    assert not result.complete
    # Crossing from a known year into an unknown one names only the unknown one.
    across = CAL.due(date(2026, 12, 30), TimeLimit.working_days(3))
    assert across.years_without_data == (2027,)
    # Calendar days need no holiday data.
    assert CAL.due(date(2099, 1, 1), TimeLimit.calendar_days(5)).complete


def test_operator_schedule_file_covers_a_year(tmp_path: Path) -> None:
    (tmp_path / "2099.toml").write_text(
        'year = 2099\nsource = "synthetic test schedule"\n'
        'holidays = ["2099-01-01", "2099-01-05..2099-01-07"]\nworkdays = ["2099-01-10"]\n',
        encoding="utf-8",
    )
    cal = WorkingCalendar.from_dir(tmp_path)
    assert cal.source_for(2099) is DaySource.FILE
    # Thu 1 Jan accepted: Fri 2 (1), Mon 5-Wed 7 off, Thu 8 (2), Fri 9 (3), Sat 10 worked (4), Mon 12 (5).
    result = cal.due(date(2099, 1, 1), TimeLimit.working_days(5))
    assert result.due == date(2099, 1, 12)
    assert result.complete


def test_operator_file_overrides_the_library(tmp_path: Path) -> None:
    (tmp_path / "2025.toml").write_text('year = 2025\nholidays = ["2025-06-10"]\n', encoding="utf-8")
    cal = WorkingCalendar.from_dir(tmp_path)
    assert cal.due(date(2025, 6, 9), TimeLimit.working_days(1)).due == date(2025, 6, 11)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("year = 2099\nholidays = ['2098-12-31']\n", "not in year 2099"),
        (
            "year = 2099\nholidays = ['2099-01-03']\nworkdays = ['2099-01-03']\n",
            "both holiday and working day",
        ),
        ("year = 2099\nworkdays = ['2099-01-05']\n", "Saturdays or Sundays"),
        ("year = 2099\nholidays = ['2099-13-01']\n", "not a date"),
        ("year = 2099\nholidays = ['2099-02-10..2099-02-01']\n", "bad range"),
        ("year = 'soon'\n", "'year' must be a year number"),
        ("year = 2099\nholiday = []\n", "unknown keys: holiday"),
        ("year = 2099\nholidays = [\n", "not valid TOML"),
    ],
)
def test_broken_schedule_files_are_refused_with_the_reason(text: str, problem: str) -> None:
    with pytest.raises(ScheduleError, match=r"2099\.toml") as info:
        parse_schedule(text, name="cal/2099.toml")
    assert problem in str(info.value)


def test_schedule_file_name_must_match_its_year(tmp_path: Path) -> None:
    (tmp_path / "2098.toml").write_text("year = 2099\n", encoding="utf-8")
    with pytest.raises(ScheduleError, match=r"2099\.toml"):
        load_schedules(tmp_path)


def test_missing_calendar_dir_is_no_error(tmp_path: Path) -> None:
    assert load_schedules(tmp_path / "absent") == {}
    assert load_schedules(None) == {}


def test_pauses_do_not_count() -> None:
    # Accepted Monday 2025-06-09, 3 working days would end Thursday 12.
    assert CAL.due(date(2025, 6, 9), TimeLimit.working_days(3)).due == date(2025, 6, 12)
    # Paused on Tuesday 10 (which counts), materials in on Monday 16 (which does not): 17 and 18 follow.
    paused = CAL.due(
        date(2025, 6, 9), TimeLimit.working_days(3), [Pause(date(2025, 6, 10), date(2025, 6, 16))]
    )
    assert paused.due == date(2025, 6, 18)
    # A pause opened and closed on the same day removes nothing.
    same_day = CAL.due(
        date(2025, 6, 9), TimeLimit.working_days(3), [Pause(date(2025, 6, 10), date(2025, 6, 10))]
    )
    assert same_day.due == date(2025, 6, 12)
    # Pauses stop calendar-day clocks too.
    assert CAL.due(
        date(2025, 6, 9), TimeLimit.calendar_days(3), [Pause(date(2025, 6, 9), date(2025, 6, 11))]
    ).due == date(2025, 6, 14)


def test_local_date_is_china_time() -> None:
    # 17:00 UTC on 30 September is already 1 October in Beijing.
    assert local_date(datetime(2025, 9, 30, 17, 0, tzinfo=UTC)) == date(2025, 10, 1)
    due = CAL.due(date(2025, 6, 9), TimeLimit.working_days(1))
    assert due.deadline_at() == datetime(2025, 6, 10, 16, 0, tzinfo=UTC)


@given(
    start=st.dates(min_value=date(2004, 1, 1), max_value=date(2026, 6, 30)),
    n=st.integers(min_value=1, max_value=40),
)
def test_working_day_due_dates_are_working_days_and_count_exactly(start: date, n: int) -> None:
    result = CAL.due(start, TimeLimit.working_days(n))
    assert CAL.is_workday(result.due)
    assert CAL.working_days_between(start, result.due) == n
    assert result.complete


def test_the_documented_schedule_example_parses() -> None:
    import tongban.cases.calendar as module

    doc = module.__doc__ or ""
    block = doc.split("(``TONGBAN_CALENDAR_DIR``)::", 1)[1].split("\n\nEvery date", 1)[0]
    text = "\n".join(line[4:] for line in block.strip("\n").splitlines())
    schedule = parse_schedule(text, name="example")
    assert schedule.year == 2027
    assert date(2027, 2, 8) in schedule.holidays
    assert date(2027, 2, 14) in schedule.workdays


def test_library_years_agree_with_the_library_day_by_day() -> None:
    import chinese_calendar

    day = date(2004, 1, 1)
    while day <= date(2026, 12, 31):
        assert CAL.is_workday(day) == chinese_calendar.is_workday(day), day
        day += timedelta(days=1)
