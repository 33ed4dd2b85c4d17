"""Check a file against its dataset contract before it is dropped, as ingestion would."""

from __future__ import annotations

import tempfile
from pathlib import Path

import duckdb

from mianshen_pipeline.clock import today_in_shanghai
from mianshen_pipeline.contracts import load_contracts
from mianshen_pipeline.decoding import UnreadableFile
from mianshen_pipeline.landing import inspect
from mianshen_pipeline.quality import RejectedDrop
from mianshen_pipeline.receipts import build_findings
from mianshen_pipeline.warehouse import configure, quote_literal


def _load_references(con: duckdb.DuckDBPyConnection, warehouse: Path | None) -> str:
    """Copy what the dataset's checks against the warehouse read, from a warehouse file."""
    if warehouse is None or not warehouse.exists():
        return ("note: no warehouse found, so rows were checked as if nobody had been asked "
                "to confirm yet")
    con.execute(f"ATTACH {quote_literal(str(warehouse))} AS source (READ_ONLY)")
    try:
        con.execute("INSERT INTO delivery.push_log SELECT * FROM source.delivery.push_log")
    finally:
        con.execute("DETACH source")
    return f"note: requests and deadlines were read from {warehouse}"


def check_file(path: Path, dataset: str, warehouse: Path | None = None) -> tuple[str, bool]:
    """Return a readable report of the findings and whether the drop would be accepted.

    Checks against earlier deliveries, such as whether a confirmation was requested, read
    the warehouse file ``warehouse`` when it is given and exists.
    """
    contracts = load_contracts()
    if dataset not in contracts:
        known = ", ".join(sorted(contracts))
        return f"{dataset}: no such dataset contract; known datasets: {known}", False
    contract = contracts[dataset]
    con = configure(duckdb.connect(":memory:"))
    notes = []
    if contract.row_checks:
        notes.append(_load_references(con, warehouse))
    try:
        with tempfile.TemporaryDirectory(prefix="mianshen-check-") as workdir:
            try:
                inspection = inspect(con, path, contract, Path(workdir), today_in_shanghai())
            except (UnreadableFile, RejectedDrop) as exc:
                return f"REJECTED {path.name} for {dataset}: {exc}", False
        findings = build_findings(con)
    finally:
        con.close()

    decoded, checked = inspection.decoded, inspection.checked
    lines = notes + [
        f"ACCEPTED {path.name} for {dataset} ({decoded.format}"
        f"{', ' + decoded.encoding if decoded.encoding else ''}): read {decoded.rows_read}, "
        f"accepted {checked.accepted}, quarantined {checked.quarantined}",
    ]
    if checked.header_map.unknown:
        lines.append("ignored columns not in the contract: "
                     + ", ".join(checked.header_map.unknown))
    for finding in findings["failed_checks"]:
        examples = ", ".join(e for e in finding["examples"] if e)
        lines.append(f"  {finding['rows']} rows: {finding['reason']}"
                     + (f" (e.g. {examples})" if examples else "") + f"; {finding['fix']}")
    for row in findings["quarantined_rows"]:
        lines.append(f"  row {row['row']}: {row['reason']}")
    return "\n".join(lines), True
