"""Timeliness: every data request against its due date, and every dataset against its cadence.

A department must complete a requested collection within 15 working days: the due date is
the 15th working day after the request date, on the Chinese working-day calendar.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from mianshen_pipeline.calendar import WorkingCalendar
from mianshen_pipeline.contracts import DatasetContract, load_contracts
from mianshen_pipeline.paths import ASSETS_DIR

SHANGHAI = ZoneInfo("Asia/Shanghai")
DUE_WORKING_DAYS = 15
REQUESTS_PATH = ASSETS_DIR / "data_requests.yaml"


class DataRequest(BaseModel):
    """A request (数据需求) from a policy's lead unit for a department's dataset."""

    model_config = ConfigDict(extra="forbid")

    request_id: str
    dataset: str
    requesting_policy: str
    requested_on: dt.date
    department: str | None = None


@cache
def load_requests(path: Path = REQUESTS_PATH) -> list[DataRequest]:
    """Load the data requests, naming the file, entry and field on error."""
    entries = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    contracts = load_contracts()
    requests = []
    for position, entry in enumerate(entries, start=1):
        try:
            request = DataRequest.model_validate(entry)
        except ValidationError as exc:
            raise ValueError(f"{path.name}: entry {position} is invalid: {exc}") from exc
        if request.dataset not in contracts:
            raise ValueError(
                f"{path.name}: entry {position} ({request.request_id}) names dataset "
                f"{request.dataset}, which has no contract"
            )
        request.department = contracts[request.dataset].department
        requests.append(request)
    return requests


@dataclass
class RequestStatus:
    """One row of ``sla.data_requests``."""

    request_id: str
    dataset: str
    department: str
    requesting_policy: str
    requested_on: dt.date
    due_on: dt.date
    due_on_provisional: bool
    delivered_on: dt.date | None
    status: str
    working_days_late: int


def _first_delivery(
    con: duckdb.DuckDBPyConnection, dataset: str, since: dt.date
) -> dt.date | None:
    department, name = dataset.split("/")
    row = con.execute(
        "SELECT min(received_at) FROM landing.drops WHERE department = ? AND dataset = ? "
        "AND status = 'accepted' AND CAST(timezone('Asia/Shanghai', received_at) AS DATE) >= ?",
        [department, name, since],
    ).fetchone()
    return row[0].astimezone(SHANGHAI).date() if row and row[0] else None


def request_status(
    request: DataRequest, delivered_on: dt.date | None, as_of: dt.date,
    calendar: WorkingCalendar,
) -> RequestStatus:
    """Work out the due date and status of one request as of a date."""
    due_on, provisional = calendar.add_working_days(request.requested_on, DUE_WORKING_DAYS)
    late = 0
    if delivered_on is not None:
        status = "on_time" if delivered_on <= due_on else "late"
        if status == "late":
            late = calendar.working_days_between(due_on, delivered_on)
    elif as_of > due_on:
        status = "overdue"
        late = calendar.working_days_between(due_on, as_of)
    else:
        status = "pending"
    return RequestStatus(request.request_id, request.dataset, request.department or "",
                         request.requesting_policy, request.requested_on, due_on, provisional,
                         delivered_on, status, late)


def build_sla(
    con: duckdb.DuckDBPyConnection, as_of: dt.date, calendar: WorkingCalendar,
    requests: list[DataRequest] | None = None,
) -> list[RequestStatus]:
    """Replace ``sla.data_requests`` with every request's status as of a date."""
    rows = [
        request_status(r, _first_delivery(con, r.dataset, r.requested_on), as_of, calendar)
        for r in (load_requests() if requests is None else requests)
    ]
    con.execute("CREATE SCHEMA IF NOT EXISTS sla")
    con.execute(
        "CREATE OR REPLACE TABLE sla.data_requests (request_id VARCHAR, dataset VARCHAR, "
        "department VARCHAR, requesting_policy VARCHAR, requested_on DATE, due_on DATE, "
        "due_on_provisional BOOLEAN, delivered_on DATE, status VARCHAR, "
        "working_days_late INTEGER, as_of DATE)"
    )
    con.executemany(
        "INSERT INTO sla.data_requests VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [[r.request_id, r.dataset, r.department, r.requesting_policy, r.requested_on,
          r.due_on, r.due_on_provisional, r.delivered_on, r.status, r.working_days_late,
          as_of] for r in rows],
    )
    return rows


@dataclass
class Freshness:
    """Whether a dataset's last accepted drop is recent enough for its cadence."""

    dataset: str
    last_delivered_on: dt.date | None
    next_due_on: dt.date | None
    provisional: bool
    stale: bool
    working_days_overdue: int


def _add_months(day: dt.date, months: int) -> dt.date:
    """Return the same day ``months`` later, or the month's last day when it is shorter."""
    year, month = divmod(day.year * 12 + day.month - 1 + months, 12)
    following = dt.date(year + (month + 1) // 12, (month + 1) % 12 + 1, 1)
    last_day = (following - dt.timedelta(days=1)).day
    return dt.date(year, month + 1, min(day.day, last_day))


def freshness(
    con: duckdb.DuckDBPyConnection, contract: DatasetContract, as_of: dt.date,
    calendar: WorkingCalendar,
) -> Freshness:
    """Compare the dataset's last accepted drop with its cadence, in working days."""
    row = con.execute(
        "SELECT max(received_at) FROM landing.drops WHERE department = ? AND dataset = ? "
        "AND status = 'accepted'",
        [contract.department, contract.dataset],
    ).fetchone()
    if not row or row[0] is None:
        return Freshness(contract.key, None, None, False, True, 0)
    last = row[0].astimezone(SHANGHAI).date()
    cadence = contract.cadence
    provisional = False
    if cadence.unit == "working_days":
        next_due, provisional = calendar.add_working_days(last, cadence.every)
    else:
        next_due = _add_months(last, cadence.every)
    stale = as_of > next_due
    overdue = calendar.working_days_between(next_due, as_of) if stale else 0
    return Freshness(contract.key, last, next_due, provisional, stale, overdue)
