"""Example cases a policy's lead unit writes in plain YAML, run against the real rule SQL.

A case file ``assets/policies/<policy>.cases.yaml`` lists cases. Each gives the cycle, the
rows of the staged datasets that matter (canonical values, as staging stores them) and the
expected outcome for some subjects: eligible or not, the amount, and the conditions that
fail. The runner loads the rows into an in-memory DuckDB, builds the theme tables with the
same SQL as production and evaluates the same rule.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import duckdb
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from mianshen_pipeline.catalogue import PolicyCard, load_catalogue
from mianshen_pipeline.cohorts import cycle_window, evaluate
from mianshen_pipeline.contracts import load_contracts
from mianshen_pipeline.reference import seed_reference
from mianshen_pipeline.resources import DEFAULT_SERVED_DISTRICT
from mianshen_pipeline.themes import THEME_SPECS
from mianshen_pipeline.warehouse import configure, quote_ident, read_sql


class Expectation(BaseModel):
    """The expected outcome for one subject."""

    model_config = ConfigDict(extra="forbid")

    subject: str
    eligible: bool
    amount: Decimal | None = None
    failed: list[str] | None = None
    payee: str | None = None


class Case(BaseModel):
    """One example: the data, the cycle and what the rule must decide."""

    model_config = ConfigDict(extra="forbid")

    name: str
    cycle: str
    as_of: dt.date | None = None
    served_district: str = DEFAULT_SERVED_DISTRICT
    datasets: dict[str, list[dict]] = Field(default_factory=dict)
    expect: list[Expectation] = Field(min_length=1)

    @field_validator("cycle", mode="before")
    @classmethod
    def _cycle_as_text(cls, value: object) -> str:
        # YAML reads 2026-12-01 as a date and 2025 as a number; cycle keys are text.
        return value.isoformat() if isinstance(value, dt.date) else str(value)


class CaseFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    policy: str
    cases: list[Case] = Field(min_length=1)


class CaseFileError(ValueError):
    """A case file that cannot be read, naming the file, case and field."""


def load_cases(card: PolicyCard) -> list[Case]:
    """Load the card's case file; a card without one has no cases."""
    path: Path = card.cases_path
    if not path.exists():
        return []
    try:
        parsed = CaseFile.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except (yaml.YAMLError, ValidationError) as exc:
        raise CaseFileError(f"{path.name}: {exc}") from exc
    if parsed.policy != card.id:
        raise CaseFileError(f"{path.name}: policy is {parsed.policy!r}; expected {card.id!r}")
    contracts = load_contracts()
    for case in parsed.cases:
        for dataset, rows in case.datasets.items():
            if dataset not in contracts:
                raise CaseFileError(f"{path.name}, case {case.name!r}: no dataset {dataset}")
            known = {c.name for c in contracts[dataset].columns}
            for position, row in enumerate(rows, start=1):
                unknown = set(row) - known
                if unknown:
                    raise CaseFileError(
                        f"{path.name}, case {case.name!r}, {dataset} row {position}: unknown "
                        f"column(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(known))}"
                    )
    return parsed.cases


def _load_case_data(con: duckdb.DuckDBPyConnection, case: Case) -> None:
    for key, contract in load_contracts().items():
        columns = ", ".join(f"{quote_ident(c.name)} {c.sql_type}" for c in contract.columns)
        table = f"staging.{quote_ident(contract.table)}"
        con.execute(f"CREATE TABLE {table} (_drop_id VARCHAR, _row BIGINT, {columns})")
        rows = case.datasets.get(key, [])
        if not rows:
            continue
        names = [c.name for c in contract.columns]
        placeholders = ", ".join("?" for _ in range(len(names) + 2))
        con.executemany(
            f"INSERT INTO {table} VALUES ({placeholders})",
            [["case", position, *(row.get(name) for name in names)]
             for position, row in enumerate(rows, start=1)],
        )


@dataclass
class Mismatch:
    """One expectation the rule did not meet."""

    subject: str
    expected: dict
    actual: dict

    def describe(self) -> str:
        return f"subject {self.subject}: expected {self.expected}, got {self.actual}"


def run_case(card: PolicyCard, case: Case) -> list[Mismatch]:
    """Evaluate the card's rule on the case's data and return every unmet expectation."""
    con = configure(duckdb.connect(":memory:"))
    try:
        seed_reference(con)
        _load_case_data(con, case)
        for spec in THEME_SPECS.values():
            con.execute(read_sql(spec.sql_file))
        window = cycle_window(card.cycle, case.cycle)
        conditions, _ = evaluate(con, card, window, case.served_district, as_of=case.as_of)
        columns = ["subject_id", "eligible", "amount", "payee_id", *conditions]
        rows = {
            row[0]: dict(zip(columns, row, strict=True))
            for row in con.execute(
                f"SELECT {', '.join(quote_ident(c) for c in columns)} FROM _evaluation"
            ).fetchall()
        }
    finally:
        con.close()

    mismatches = []
    for expected in case.expect:
        row = rows.get(expected.subject)
        actual = {"eligible": False, "failed": ["(not a candidate)"]} if row is None else {
            "eligible": row["eligible"],
            "amount": row["amount"] if row["eligible"] else None,
            "failed": sorted(c for c in conditions if not row[c]),
            "payee": row["payee_id"],
        }
        wanted = {"eligible": expected.eligible}
        if expected.amount is not None:
            wanted["amount"] = expected.amount
        if expected.failed is not None:
            wanted["failed"] = sorted(expected.failed)
        if expected.payee is not None:
            wanted["payee"] = expected.payee
        got = {k: actual.get(k) for k in wanted}
        if "amount" in got and got["amount"] is not None:
            got["amount"] = Decimal(str(got["amount"]))
        if got != wanted:
            mismatches.append(Mismatch(expected.subject, wanted, actual))
    return mismatches


def run_all(policy: str | None = None) -> list[tuple[str, str, list[Mismatch]]]:
    """Run every case of one policy, or of all; return (policy, case, mismatches)."""
    cards = load_catalogue()
    if policy is not None and policy not in cards:
        raise KeyError(f"no policy {policy!r}; known: {', '.join(sorted(cards))}")
    results = []
    for card in cards.values():
        if policy not in (None, card.id):
            continue
        for case in load_cases(card):
            results.append((card.id, case.name, run_case(card, case)))
    return results
