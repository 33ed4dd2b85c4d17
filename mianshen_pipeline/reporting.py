"""Reconciliation and the evaluation report (绩效评估) across policies and cycles."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import duckdb
from jinja2 import Environment, FileSystemLoader, select_autoescape

from mianshen_pipeline.catalogue import load_catalogue
from mianshen_pipeline.cohorts import cycle_window
from mianshen_pipeline.paths import ASSETS_DIR
from mianshen_pipeline.warehouse import quote_literal, read_sql, table_exists

_templates = Environment(loader=FileSystemLoader(ASSETS_DIR / "templates"),
                         autoescape=select_autoescape(["html", "j2"]))


def reconcile(con: duckdb.DuckDBPyConnection) -> list[dict]:
    """Rebuild ``reporting.reconciliation`` from every cohort table; return its rows."""
    con.execute("CREATE SCHEMA IF NOT EXISTS reporting")
    parts = []
    for card in load_catalogue().values():
        if not (card.pays and table_exists(con, "cohort", card.id)):
            continue
        columns = {row[0] for row in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = "
            "'cohort' AND table_name = ?", [card.id]).fetchall()}
        correction = "correction_applied" if "correction_applied" in columns else "NULL"
        starts = ", ".join(
            f"({quote_literal(key)}, DATE '{cycle_window(card.cycle, key).start}')"
            for (key,) in con.execute(f"SELECT DISTINCT cycle FROM cohort.{card.id}").fetchall()
        ) or "(NULL, NULL)"
        parts.append(
            f"SELECT {quote_literal(card.id)} AS policy_id, c.cycle, c.subject_id, c.amount, "
            f"w.cycle_start, CAST({correction} AS VARCHAR) AS correction_applied "
            f"FROM cohort.{card.id} AS c JOIN (VALUES {starts}) AS w(cycle, cycle_start) "
            "USING (cycle)"
        )
    if not parts:
        parts = ["SELECT NULL::VARCHAR AS policy_id, NULL::VARCHAR AS cycle, "
                 "NULL::VARCHAR AS subject_id, NULL::DECIMAL(18, 2) AS amount, "
                 "NULL::DATE AS cycle_start, NULL::VARCHAR AS correction_applied WHERE false"]
    con.execute(read_sql("reporting/reconciliation.sql").replace(
        "{cohorts}", " UNION ALL ".join(parts)))
    cursor = con.execute("SELECT * FROM reporting.reconciliation")
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def write_evaluation(rows: list[dict], reports: Path, as_of: dt.date) -> Path:
    """Render the evaluation report with a bar chart per policy; return its path."""
    cards = load_catalogue()
    by_policy: dict[str, list[dict]] = {}
    for row in rows:
        card = cards[row["policy_id"]]
        row["budget"] = card.budget_ceiling
        row["confirmation_rate"] = (row["confirmed"] / row["pushed"]
                                    if card.mode.value == "confirm" and row["pushed"] else None)
        by_policy.setdefault(row["policy_id"], []).append(row)
    folder = reports / "evaluation"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"evaluation_{as_of.isoformat()}.html"
    html = _templates.get_template("evaluation.html.j2").render(
        as_of=as_of, policies=by_policy, cards=cards,
        scale=max([r["eligible"] for r in rows] or [1]) or 1,
    )
    partial = target.with_name(target.name + ".tmp")
    partial.write_text(html, encoding="utf-8")
    os.replace(partial, target)
    return target
