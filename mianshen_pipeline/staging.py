"""Staging: merge accepted drops into one current table per dataset.

``raw.<table>`` keeps every accepted row of every drop for audit. ``staging.<table>`` is the
current state: for a snapshot dataset the rows of its latest accepted drop, for a delta
dataset the latest row per primary key across all accepted drops, without keys whose latest
row is a deletion.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from mianshen_pipeline.contracts import DatasetContract
from mianshen_pipeline.landing import ensure_raw_table, raw_table
from mianshen_pipeline.warehouse import quote_ident


@dataclass
class StagingResult:
    """The state of one staging table after a merge."""

    rows: int
    drops_applied: int
    latest_drop_id: str | None


def staging_table(contract: DatasetContract) -> str:
    return f"staging.{quote_ident(contract.table)}"


def accepted_drops(con: duckdb.DuckDBPyConnection, contract: DatasetContract) -> list[tuple]:
    """Return ``(drop_seq, drop_id)`` of the dataset's accepted drops, oldest first."""
    return con.execute(
        "SELECT drop_seq, drop_id FROM landing.drops WHERE department = ? AND dataset = ? "
        "AND status = 'accepted' ORDER BY drop_seq",
        [contract.department, contract.dataset],
    ).fetchall()


def merge(con: duckdb.DuckDBPyConnection, contract: DatasetContract) -> StagingResult:
    """Rebuild ``staging.<table>`` from the accepted rows in ``raw.<table>``."""
    ensure_raw_table(con, contract)
    drops = accepted_drops(con, contract)
    columns = ", ".join(quote_ident(c.name) for c in contract.columns)
    target = staging_table(contract)
    source = raw_table(contract)

    if contract.load == "snapshot":
        latest = drops[-1][0] if drops else -1
        con.execute(
            f"CREATE OR REPLACE TABLE {target} AS SELECT _drop_id, _row, {columns} "
            f"FROM {source} WHERE _drop_seq = ? ORDER BY _row",
            [latest],
        )
    else:
        key = ", ".join(quote_ident(k) for k in contract.primary_key)
        deleted = (
            f"AND coalesce({quote_ident(contract.delete_column)}, 'upsert') <> 'delete'"
            if contract.delete_column
            else ""
        )
        con.execute(
            f"""
            CREATE OR REPLACE TABLE {target} AS
            SELECT _drop_id, _row, {columns}
            FROM {source}
            WHERE _drop_seq IN (SELECT drop_seq FROM landing.drops WHERE department = ?
                                AND dataset = ? AND status = 'accepted')
            QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY _drop_seq DESC, _row DESC)
                    = 1 {deleted}
            ORDER BY {key}
            """,
            [contract.department, contract.dataset],
        )
    rows = con.execute(f"SELECT count(*) FROM {target}").fetchone()[0]
    return StagingResult(rows, len(drops), drops[-1][1] if drops else None)
