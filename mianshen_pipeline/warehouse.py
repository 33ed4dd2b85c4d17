"""The DuckDB warehouse: connection settings, SQL functions and the bookkeeping schemas."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pyarrow as pa

from mianshen_pipeline.identifiers import check_credit_code, check_resident_id
from mianshen_pipeline.paths import SQL_DIR
from mianshen_pipeline.security import SQL_MACROS

TIMEZONE = "Asia/Shanghai"
CHECKED_TYPE = "STRUCT(value VARCHAR, error VARCHAR)"


def _arrow_checker(check):
    def udf(values: pa.Array) -> pa.StructArray:
        results = [check(v) for v in values.to_pylist()]
        return pa.StructArray.from_arrays(
            [pa.array([r.value for r in results], pa.string()),
             pa.array([r.error for r in results], pa.string())],
            names=["value", "error"],
        )

    return udf


def register_functions(con: duckdb.DuckDBPyConnection) -> None:
    """Create the identifier checks and masking macros on one connection."""
    con.create_function(
        "check_resident_id", _arrow_checker(check_resident_id), ["VARCHAR"], CHECKED_TYPE,
        type="arrow", null_handling="special", side_effects=False,
    )
    con.create_function(
        "check_credit_code", _arrow_checker(check_credit_code), ["VARCHAR"], CHECKED_TYPE,
        type="arrow", null_handling="special", side_effects=False,
    )
    con.execute(SQL_MACROS)
    con.execute(read_sql("macros.sql"))


def configure(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """Apply the session settings every pipeline connection uses."""
    con.execute(f"SET TimeZone = '{TIMEZONE}'")
    register_functions(con)
    bootstrap(con)
    return con


@contextmanager
def connect(
    database: Path | str,
    *,
    memory_limit: str | None = None,
    threads: int | None = None,
    read_only: bool = False,
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the warehouse with the pipeline's settings, outside Dagster (CLI, tests)."""
    config = {}
    if memory_limit:
        config["memory_limit"] = memory_limit
    if threads:
        config["threads"] = threads
    if not read_only:
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(database), read_only=read_only, config=config)
    try:
        con.execute(f"SET TimeZone = '{TIMEZONE}'")
        register_functions(con)
        if not read_only:
            bootstrap(con)
        yield con
    finally:
        con.close()


def bootstrap(con: duckdb.DuckDBPyConnection) -> None:
    """Create the bookkeeping schemas and tables if they do not exist yet."""
    con.execute((SQL_DIR / "bootstrap.sql").read_text(encoding="utf-8"))


def quote_ident(name: str) -> str:
    """Quote an identifier for DuckDB, escaping embedded double quotes."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    """Quote a string literal for DuckDB, escaping embedded single quotes."""
    return "'" + value.replace("'", "''") + "'"


def table_exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    row = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? "
        "AND table_name = ?",
        [schema, table],
    ).fetchone()
    return bool(row and row[0])


def read_sql(relative: str) -> str:
    """Read one SQL file shipped under ``sql/``."""
    return (SQL_DIR / relative).read_text(encoding="utf-8")
