"""Working days and due dates on the Chinese calendar, including uncovered years."""

import datetime as dt

import pytest

from mianshen_pipeline.calendar import WorkingCalendar, load_override
from mianshen_pipeline.sla import DataRequest, request_status

D = dt.date


@pytest.fixture
def overrides(tmp_path):
    load_override.cache_clear()
    yield tmp_path
    load_override.cache_clear()


def test_spring_festival_2026(overrides):
    calendar = WorkingCalendar(overrides)
    # 2026-02-14 (Saturday) is a make-up working day; 15-23 February are off.
    assert calendar.is_workday(D(2026, 2, 14))
    assert not calendar.is_workday(D(2026, 2, 16))
    assert not calendar.is_workday(D(2026, 2, 23))
    # From Friday 6 February: 9-13 Feb (5), 14 Feb (6), 24-27 Feb (10), Saturday 28 Feb (11),
    # 2-5 March (15).
    assert calendar.add_working_days(D(2026, 2, 6), 15) == (D(2026, 3, 5), False)


def test_national_day_2026(overrides):
    calendar = WorkingCalendar(overrides)
    # Sunday 20 September and Saturday 10 October are make-up days; 1-7 October are off.
    assert calendar.is_workday(D(2026, 9, 20))
    assert calendar.is_workday(D(2026, 10, 10))
    assert not calendar.is_workday(D(2026, 10, 7))
    # From Thursday 24 September: 24 Sep is excluded; 25 Sep is Mid-Autumn (off);
    # 28-30 Sep (3), 8-9 Oct (5), 10 Oct (6), 12-16 Oct (11), 19-22 Oct (15).
    assert calendar.add_working_days(D(2026, 9, 24), 15) == (D(2026, 10, 22), False)


def test_uncovered_year_is_provisional(overrides):
    calendar = WorkingCalendar(overrides)
    due, provisional = calendar.add_working_days(D(2026, 12, 18), 15)
    # Weekends only from 1 January 2027: 21-25 Dec (5), 28-31 Dec (9), 1 Jan (10),
    # 4-8 Jan (15).
    assert due == D(2027, 1, 8)
    assert provisional
    [warning] = calendar.missing_override_warnings()
    assert "2027" in warning
    assert "assets/calendar/2027.yaml" in warning


def test_override_makes_year_final(overrides):
    (overrides / "2027.yaml").write_text(
        "source: test schedule\n"
        "holidays:\n  - [2027-01-01, 2027-01-03]\n"
        "workdays:\n  - 2027-01-09\n",
        encoding="utf-8",
    )
    calendar = WorkingCalendar(overrides)
    due, provisional = calendar.add_working_days(D(2026, 12, 18), 15)
    # 21-25 Dec (5), 28-31 Dec (9), 4-8 Jan (14), Saturday 9 Jan made a working day (15).
    assert due == D(2027, 1, 9)
    assert not provisional
    assert calendar.missing_override_warnings() == []


def test_override_without_source_rejected(overrides):
    (overrides / "2027.yaml").write_text("holidays: [2027-01-01]\n", encoding="utf-8")
    with pytest.raises(ValueError, match="add a source"):
        WorkingCalendar(overrides).is_workday(D(2027, 1, 1))


@pytest.mark.parametrize(
    ("delivered", "as_of", "status", "late"),
    [
        (D(2026, 3, 5), D(2026, 3, 20), "on_time", 0),
        (D(2026, 3, 9), D(2026, 3, 20), "late", 2),
        (None, D(2026, 3, 4), "pending", 0),
        (None, D(2026, 3, 10), "overdue", 3),
    ],
)
def test_request_status(overrides, delivered, as_of, status, late):
    request = DataRequest(request_id="DR-1", dataset="psb/household_register",
                          requesting_policy="elderly_allowance", requested_on=D(2026, 2, 6),
                          department="psb")
    result = request_status(request, delivered, as_of, WorkingCalendar(overrides))
    assert result.due_on == D(2026, 3, 5)
    assert result.status == status
    assert result.working_days_late == late
