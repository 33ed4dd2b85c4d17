"""Dagster resources: the pipeline settings and the DuckDB warehouse, built once from the
environment in ``definitions.py``."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb
from dagster_duckdb import DuckDBResource

from mianshen_pipeline.paths import Home, home_from_env
from mianshen_pipeline.warehouse import configure

DEFAULT_SERVED_DISTRICT = "310105"
DEFAULT_STABLE_SECONDS = 300
DEFAULT_MEMORY_LIMIT = "4GB"
DEVELOPMENT_PSEUDONYM_KEY = b"mianshen-development-only-not-a-secret"


class PipelineSettings(dg.ConfigurableResource):
    """Settings every asset shares, starting with the runtime home."""

    home: str
    served_district: str = DEFAULT_SERVED_DISTRICT
    drop_stable_seconds: int = DEFAULT_STABLE_SECONDS
    environment: str = "development"
    pseudonym_key: str | None = None

    @property
    def paths(self) -> Home:
        return Home(Path(self.home)).ensure()

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        # Pseudonyms in the QR-code lists are only as safe as their key, so no run starts
        # outside development without one.
        if self.environment != "development" and not self.pseudonym_key:
            raise dg.DagsterInvariantViolationError(
                f"MIANSHEN_ENV is {self.environment!r} but MIANSHEN_PSEUDONYM_KEY is not set; "
                "set it to a secret of at least 32 random bytes before running"
            )

    @property
    def pseudonym_secret(self) -> bytes:
        """The HMAC key for pseudonyms; a fixed key in development, which is not secret."""
        if self.pseudonym_key:
            return self.pseudonym_key.encode("utf-8")
        if self.environment != "development":
            raise RuntimeError("MIANSHEN_PSEUDONYM_KEY is required outside development")
        return DEVELOPMENT_PSEUDONYM_KEY


class Warehouse(DuckDBResource):
    """The one DuckDB database, opened with the pipeline's session settings and functions."""

    @contextmanager
    def session(self) -> Iterator[duckdb.DuckDBPyConnection]:
        Path(self.database).parent.mkdir(parents=True, exist_ok=True)
        with self.get_connection() as con:
            try:
                yield configure(con)
            finally:
                con.close()


def resources_from_env(home: Path | None = None) -> dict:
    """Build the resources from ``MIANSHEN_*`` environment variables (or an explicit home)."""
    root = home or home_from_env()
    memory_limit = os.environ.get("MIANSHEN_DUCKDB_MEMORY_LIMIT", DEFAULT_MEMORY_LIMIT)
    connection_config: dict = {"memory_limit": memory_limit}
    if threads := os.environ.get("MIANSHEN_DUCKDB_THREADS"):
        connection_config["threads"] = int(threads)
    settings = PipelineSettings(
        home=str(root),
        served_district=os.environ.get("MIANSHEN_SERVED_DISTRICT", DEFAULT_SERVED_DISTRICT),
        drop_stable_seconds=int(
            os.environ.get("MIANSHEN_DROP_STABLE_SECONDS", DEFAULT_STABLE_SECONDS)
        ),
        environment=os.environ.get("MIANSHEN_ENV", "development"),
        pseudonym_key=os.environ.get("MIANSHEN_PSEUDONYM_KEY") or None,
    )
    warehouse = Warehouse(
        database=str(Home(root).warehouse), connection_config=connection_config
    )
    return {"settings": settings, "warehouse": warehouse}
