"""Receipts: what a department reads back about each drop, as JSON and as an HTML page."""

from __future__ import annotations

import json
import os
from pathlib import Path

import duckdb
from jinja2 import Environment, FileSystemLoader, select_autoescape

from mianshen_pipeline.paths import ASSETS_DIR, Home

RECEIPT_ROW_LIMIT = 1000
EXAMPLES_PER_FINDING = 3

_FIXES = {
    "required": "fill in the value in the source system and export again",
    "resident_id": "copy the ID number from the resident's card; format the column as text",
    "credit_code": "copy the code from the business licence; format the column as text",
    "date": "write dates as YYYY-MM-DD",
    "date_range": "check the year of the date",
    "code": "use one of the codes listed in the dataset contract",
    "number": "write plain numbers without units",
    "range": "check the value against the contract's range",
    "pattern": "correct the value to the form given in the reason",
    "duplicate_key": "deliver exactly one row per key",
    "duplicate_row": "remove the repeated row",
    "malformed": "export the file again; the line is cut or badly quoted",
    "control_character": "remove line breaks and tabs from the value in the source system",
    "drop_rejected": "fix the problem named for the whole file and deliver it again",
}

_environment = Environment(
    loader=FileSystemLoader(ASSETS_DIR / "templates"),
    autoescape=select_autoescape(["html", "j2"]),
    keep_trailing_newline=True,
)


def fix_for(check: str) -> str:
    """Return what a department should do about a failed check."""
    return _FIXES.get(check, "correct the value and deliver again")


def build_findings(con: duckdb.DuckDBPyConnection) -> dict:
    """Summarise ``_quarantined``: counts and masked examples per failed check and row list."""
    summary = con.execute(
        f"""
        SELECT e."column", e."check", count(*) AS rows,
               list(e."value" ORDER BY _row)[1:{EXAMPLES_PER_FINDING}] AS examples,
               arg_min(e.reason, _row) AS reason, min(_row) AS first_row
        FROM (SELECT _row, unnest(_errors) AS e FROM _quarantined)
        GROUP BY ALL ORDER BY first_row
        """
    ).fetchall()
    rows = con.execute(
        f"""
        SELECT _row, e."column", e."check", e."value", e.reason
        FROM (SELECT _row, unnest(_errors) AS e FROM _quarantined)
        ORDER BY _row, e."column" LIMIT {RECEIPT_ROW_LIMIT}
        """
    ).fetchall()
    total_errors = con.execute(
        "SELECT coalesce(sum(len(_errors)), 0) FROM _quarantined"
    ).fetchone()[0]
    return {
        "failed_checks": [
            {"column": column, "check": check, "rows": count, "examples": examples,
             "reason": reason, "fix": fix_for(check)}
            for column, check, count, examples, reason, _first in summary
        ],
        "quarantined_rows": [
            {"row": row, "column": column, "check": check, "value": value, "reason": reason,
             "fix": fix_for(check)}
            for row, column, check, value, reason in rows
        ],
        "quarantined_rows_truncated": total_errors > len(rows),
    }


def receipt_paths(home: Home, department: str, drop_id: str) -> tuple[Path, Path]:
    folder = home.receipts / department
    return folder / f"{drop_id}.json", folder / f"{drop_id}.html"


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".tmp")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


def _deliveries(con: duckdb.DuckDBPyConnection, info: dict) -> list[dict]:
    rows = con.execute(
        "SELECT file_name, arrived_at, redelivery FROM landing.deliveries "
        "WHERE department = ? AND dataset = ? AND drop_id = ? ORDER BY arrived_at",
        [info["department"], info["dataset"], info["drop_id"]],
    ).fetchall()
    return [
        {"file_name": name, "arrived_at": arrived.isoformat(), "redelivery": again}
        for name, arrived, again in rows
    ]


def write_receipt(
    home: Home, con: duckdb.DuckDBPyConnection, info: dict, findings: dict | None
) -> Path:
    """Write the JSON and HTML receipt of one drop; return the JSON path."""
    receipt = dict(info)
    receipt.update(findings or {"failed_checks": [], "quarantined_rows": [],
                                "quarantined_rows_truncated": False})
    receipt["deliveries"] = _deliveries(con, info)
    return _render(home, receipt)


def _render(home: Home, receipt: dict) -> Path:
    json_path, html_path = receipt_paths(home, receipt["department"], receipt["drop_id"])
    _write_atomic(json_path, json.dumps(receipt, ensure_ascii=False, indent=2, default=str))
    html = _environment.get_template("receipt.html.j2").render(r=receipt)
    _write_atomic(html_path, html)
    return json_path


def record_redelivery(
    home: Home, con: duckdb.DuckDBPyConnection, department: str, drop_id: str
) -> Path | None:
    """Add a re-delivery to the drop's receipt, so the department can see that it arrived."""
    json_path, _ = receipt_paths(home, department, drop_id)
    if not json_path.exists():
        return None
    receipt = json.loads(json_path.read_text(encoding="utf-8"))
    receipt["deliveries"] = _deliveries(con, receipt)
    return _render(home, receipt)
