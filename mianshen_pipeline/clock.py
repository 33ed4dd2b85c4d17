"""The pipeline's notion of today: a local date in Asia/Shanghai, or a run's as-of date."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")
AS_OF_TAG = "mianshen/as_of"


def now() -> dt.datetime:
    """Return the current time in Asia/Shanghai; the one clock drops and payouts are dated by."""
    return dt.datetime.now(SHANGHAI)


def today_in_shanghai() -> dt.date:
    return now().date()


def as_of_from_tags(tags: Mapping[str, str]) -> dt.date:
    """Return the run's as-of date from its tags, or today in Shanghai when it has none."""
    value = tags.get(AS_OF_TAG)
    return dt.date.fromisoformat(value) if value else today_in_shanghai()
