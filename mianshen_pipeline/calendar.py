"""The Chinese working-day calendar: statutory holidays off, announced make-up days (调休) on.

The State Council announces each year's schedule late in the year before, so the
``chinese-calendar`` package covers only the years announced when it was released. For any
other year an override file ``assets/calendar/<year>.yaml`` with that year's announced
schedule takes precedence. A year with neither falls back to weekends alone, and every date
computed from it is marked provisional.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import chinese_calendar
import yaml

from mianshen_pipeline.paths import ASSETS_DIR

OVERRIDES_DIR = ASSETS_DIR / "calendar"


@dataclass(frozen=True)
class YearSchedule:
    """One year's announced holidays and make-up working days."""

    year: int
    holidays: frozenset[dt.date]
    workdays: frozenset[dt.date]
    source: str


class CalendarError(ValueError):
    """An override file that cannot be used."""


def _dates(entries: list, path: Path, field_name: str) -> set[dt.date]:
    """Expand a list of dates and ``[first, last]`` ranges."""
    days: set[dt.date] = set()
    for entry in entries or []:
        if isinstance(entry, dt.date):
            days.add(entry)
        elif isinstance(entry, list) and len(entry) == 2 and all(
            isinstance(d, dt.date) for d in entry
        ):
            first, last = entry
            while first <= last:
                days.add(first)
                first += dt.timedelta(days=1)
        else:
            raise CalendarError(
                f"{path.name}: {field_name} entry {entry!r} must be a date or a "
                "[first, last] pair of dates"
            )
    return days


@cache
def load_override(year: int, directory: Path = OVERRIDES_DIR) -> YearSchedule | None:
    """Return the year's schedule from ``<directory>/<year>.yaml``, if that file exists."""
    path = directory / f"{year}.yaml"
    if not path.exists():
        return None
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    holidays = _dates(data.get("holidays"), path, "holidays")
    workdays = _dates(data.get("workdays"), path, "workdays")
    stray = sorted(d for d in holidays | workdays if d.year != year)
    if stray:
        raise CalendarError(f"{path.name}: {stray[0]} is not in {year}")
    source = data.get("source")
    if not source:
        raise CalendarError(f"{path.name}: add a source naming the State Council notice")
    return YearSchedule(year, frozenset(holidays), frozenset(workdays), str(source))


def _library_covers(year: int) -> bool:
    try:
        chinese_calendar.is_workday(dt.date(year, 6, 1))
    except NotImplementedError:
        return False
    return True


@dataclass
class WorkingCalendar:
    """Working-day arithmetic that records the years it had to guess."""

    overrides_dir: Path = OVERRIDES_DIR
    provisional_years: set[int] = field(default_factory=set)

    def is_workday(self, day: dt.date) -> bool:
        """Return whether ``day`` is a working day, counting weekends only for unknown years."""
        override = load_override(day.year, self.overrides_dir)
        if override is not None:
            if day in override.workdays:
                return True
            if day in override.holidays:
                return False
            return day.weekday() < 5
        if _library_covers(day.year):
            return chinese_calendar.is_workday(day)
        self.provisional_years.add(day.year)
        return day.weekday() < 5

    def add_working_days(self, start: dt.date, days: int) -> tuple[dt.date, bool]:
        """Return the ``days``-th working day after ``start`` and whether it is provisional."""
        before = set(self.provisional_years)
        self.provisional_years = set()
        current, counted = start, 0
        while counted < days:
            current += dt.timedelta(days=1)
            if self.is_workday(current):
                counted += 1
        provisional = bool(self.provisional_years)
        self.provisional_years |= before
        return current, provisional

    def working_days_between(self, first: dt.date, last: dt.date) -> int:
        """Count working days after ``first`` up to and including ``last``."""
        count, current = 0, first
        while current < last:
            current += dt.timedelta(days=1)
            if self.is_workday(current):
                count += 1
        return count

    def missing_override_warnings(self) -> list[str]:
        """Warnings naming each year computed from weekends alone and the file to add."""
        return [
            f"no holiday schedule for {year}: dates in {year} count weekends only and are "
            f"provisional; add assets/calendar/{year}.yaml with the State Council's announced "
            "holidays and make-up working days"
            for year in sorted(self.provisional_years)
        ]
