"""Locations of the declarative inputs shipped with the package and of the runtime home."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
ASSETS_DIR = PROJECT_DIR / "assets"
SQL_DIR = PROJECT_DIR / "sql"
DATA_QUALITY_DIR = PROJECT_DIR / "data_quality"

DEFAULT_HOME = "var"


def home_from_env() -> Path:
    """Return ``MIANSHEN_HOME`` as an absolute path (default ``./var``)."""
    return Path(os.environ.get("MIANSHEN_HOME", DEFAULT_HOME)).resolve()


@dataclass(frozen=True)
class Home:
    """The runtime home: every file the pipeline reads or writes at run time lives below it."""

    root: Path

    @property
    def landing(self) -> Path:
        return self.root / "landing"

    @property
    def archive(self) -> Path:
        return self.root / "archive"

    @property
    def quarantine(self) -> Path:
        return self.root / "quarantine"

    @property
    def receipts(self) -> Path:
        return self.root / "receipts"

    @property
    def warehouse(self) -> Path:
        return self.root / "warehouse" / "mianshen.duckdb"

    @property
    def outbox(self) -> Path:
        return self.root / "outbox"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    @property
    def dagster_home(self) -> Path:
        return self.root / "dagster"

    def ensure(self) -> Home:
        for path in (self.landing, self.archive, self.quarantine, self.receipts,
                     self.warehouse.parent, self.outbox, self.reports):
            path.mkdir(parents=True, exist_ok=True)
        return self
