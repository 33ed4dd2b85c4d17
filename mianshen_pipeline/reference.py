"""Reference tables shipped with the package: the served district's streets."""

from __future__ import annotations

import duckdb

from mianshen_pipeline.geography import STREETS


def seed_reference(con: duckdb.DuckDBPyConnection) -> None:
    """Create or refresh ``ref.streets`` (street code, street name) from the geography data."""
    con.execute("CREATE SCHEMA IF NOT EXISTS ref")
    con.execute("CREATE OR REPLACE TABLE ref.streets (street_code VARCHAR, street_name VARCHAR)")
    con.executemany("INSERT INTO ref.streets VALUES (?, ?)", sorted(STREETS.items()))
