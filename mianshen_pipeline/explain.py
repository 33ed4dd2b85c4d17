"""Explanations of single decisions: why a subject is or is not eligible for a policy in a
cycle (explain), and the outcome of every policy for one subject (政策体检, checkup)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import duckdb

from mianshen_pipeline.catalogue import PolicyCard, load_catalogue
from mianshen_pipeline.cohorts import (
    cohort_table,
    cycle_key,
    cycle_window,
    evaluate,
    previous_cycle_key,
)
from mianshen_pipeline.identifiers import check_credit_code, check_resident_id
from mianshen_pipeline.security import mask_id
from mianshen_pipeline.warehouse import table_exists


@dataclass
class Explanation:
    """The evaluation of one subject for one policy and cycle."""

    policy: PolicyCard
    cycle: str
    subject: str
    candidate: bool
    eligible: bool = False
    amount: float | None = None
    conditions: list[tuple[str, bool | None, str]] = field(default_factory=list)
    details: dict = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)
    parameters: dict = field(default_factory=dict)
    stored: bool | None = None
    holds: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[tuple[str, bool | None, str]]:
        return [c for c in self.conditions if not c[1]]


def _sources(con: duckdb.DuckDBPyConnection, refs: dict[str, str | None]) -> list[str]:
    lines = []
    for column, ref in refs.items():
        label = column.removeprefix("source_")
        if not ref:
            lines.append(f"{label}: no row")
            continue
        drop_id, _, row = ref.partition(":")
        found = con.execute(
            "SELECT department || '/' || dataset, file_name FROM landing.drops "
            "WHERE drop_id = ? LIMIT 1", [drop_id]
        ).fetchone()
        where = f"{found[0]} drop {drop_id} ({found[1]})" if found else f"drop {drop_id}"
        lines.append(f"{label}: {where}, row {row}")
    return lines


def explain(
    con: duckdb.DuckDBPyConnection, card: PolicyCard, cycle: str, subject: str,
    served_district: str, as_of: dt.date | None = None,
) -> Explanation:
    """Evaluate the rule for one subject on the current data and compare with the stored
    cohort of that cycle."""
    window = cycle_window(card.cycle, cycle)
    conditions, used = evaluate(con, card, window, served_district, subject_id=subject,
                                as_of=as_of)
    cursor = con.execute("SELECT * FROM _evaluation")
    names = [d[0] for d in cursor.description]
    row = cursor.fetchone()
    result = Explanation(card, cycle, subject, candidate=row is not None, parameters=used)
    result.holds = [
        f"held by objection {objection_id} filed {filed_at}"
        for objection_id, filed_at in con.execute(
            "SELECT objection_id, filed_at FROM staging.two_pages__objections WHERE "
            "policy_id = ? AND cycle = ? AND subject_id = ? AND resolved_at IS NULL",
            [card.id, cycle, subject],
        ).fetchall()
    ] if table_exists(con, "staging", "two_pages__objections") else []
    if table_exists(con, "cohort", card.id):
        result.stored = con.execute(
            f"SELECT count(*) FROM {cohort_table(card)} WHERE cycle = ? AND subject_id = ?",
            [cycle, subject],
        ).fetchone()[0] > 0
    if row is None:
        return result
    values = dict(zip(names, row, strict=True))
    result.eligible = bool(values["eligible"])
    result.amount = None if values["amount"] is None else float(values["amount"])
    result.conditions = [(c, values[c], card.condition_texts.get(c, c)) for c in conditions]
    hidden = {"subject_id", "subject_name", "payee_name", "eligible", "amount", *conditions}
    result.details = {k: v for k, v in values.items()
                      if k not in hidden and not k.startswith("source_")}
    result.sources = _sources(con, {k: v for k, v in values.items()
                                    if k.startswith("source_")})
    return result


def current_cycle(card: PolicyCard, as_of: dt.date) -> str:
    """Return the cycle that a nightly run as of ``as_of`` computes for the card."""
    key = cycle_key(card.cycle, as_of)
    for _ in range(card.cycle_lag):
        key = previous_cycle_key(card.cycle, key)
    return key


def subject_kinds(subject: str) -> list[str]:
    """Return the service objects an identifier can be: a person, a legal entity or both."""
    kinds = []
    if check_resident_id(subject).ok:
        kinds.append("person")
    if check_credit_code(subject).ok:
        kinds.append("legal_entity")
    return kinds


def checkup(
    con: duckdb.DuckDBPyConnection, subject: str, served_district: str, as_of: dt.date,
) -> list[Explanation]:
    """Evaluate one subject against every policy it could be served by."""
    kinds = subject_kinds(subject)
    results = []
    for card in load_catalogue().values():
        if card.service_object in kinds:
            results.append(explain(con, card, current_cycle(card, as_of), subject,
                                   served_district, as_of))
    return results


def format_explanation(result: Explanation, masked_subject: str) -> str:
    """Render one explanation as text for the console."""
    card = result.policy
    head = f"{card.name} ({card.id}) {result.cycle}, subject {masked_subject}"
    if not result.candidate:
        return f"{head}: not a candidate; the rule found no record of this subject"
    verdict = "ELIGIBLE" if result.eligible else "not eligible"
    lines = [f"{head}: {verdict}"
             + (f", amount {result.amount:.2f} yuan" if result.eligible and card.pays else "")]
    for name, value, text in result.conditions:
        mark = "yes" if value else "NO "
        lines.append(f"  [{mark}] {name}: {text}")
    for key, value in result.details.items():
        shown = mask_id(str(value)) if key.endswith(("_id", "id_no")) and value else value
        lines.append(f"  {key} = {shown}")
    for name, dated in result.parameters.items():
        lines.append(f"  parameter {name} (from {dated['valid_from']}) = {dated['value']}")
    for source in result.sources:
        lines.append(f"  source {source}")
    for hold in result.holds:
        lines.append(f"  HOLD: {hold}; not paid until it is resolved")
    if result.stored is not None:
        lines.append(f"  in the stored cohort of {result.cycle}: "
                     f"{'yes' if result.stored else 'no'}")
    return "\n".join(lines)


def format_checkup(results: list[Explanation], masked_subject: str) -> str:
    """Render a 政策体检 report: eligible, nearly eligible and not eligible policies."""
    if not results:
        return (f"{masked_subject} is neither a valid resident ID number nor a valid unified "
                "social credit code")
    lines = [f"政策体检 policy checkup for {masked_subject}"]
    for result in results:
        card = result.policy
        name = f"{card.name} ({card.id}) {result.cycle}"
        if not result.candidate:
            lines.append(f"  - {name}: not covered (no record for this policy)")
        elif result.eligible:
            amount = f", {result.amount:.2f} yuan" if card.pays else ""
            lines.append(f"  + {name}: eligible{amount}")
        elif len(result.failed) == 1:
            lines.append(f"  ~ {name}: nearly eligible; missing: {result.failed[0][2]}")
        else:
            missing = "; ".join(text for _, _, text in result.failed)
            lines.append(f"  - {name}: not eligible; failed: {missing}")
    return "\n".join(lines)
