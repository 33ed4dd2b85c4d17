"""Evaluate a policy's rule for one cycle and keep its eligible cohort.

A rule under ``sql/policies`` is one SELECT returning a row per candidate subject with
``subject_id``, ``subject_name``, its conditions as boolean ``cond_*`` columns, the
``amount`` and any explanatory columns (ages, source rows). Eligible are the subjects whose
conditions are all true. Parameters reach the SQL as typed prepared-statement values
(``$name``) or, for table parameters, as temporary tables ``param_<name>``. No value is ever
pasted into the SQL text.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass

import duckdb

from mianshen_pipeline.catalogue import Cycle, PolicyCard
from mianshen_pipeline.contracts import load_contracts
from mianshen_pipeline.staging import accepted_drops
from mianshen_pipeline.warehouse import quote_ident, read_sql, table_exists

_SQL_TYPES = {"string": "VARCHAR", "integer": "BIGINT", "decimal": "DECIMAL(18, 2)",
              "date": "DATE"}
_PLACEHOLDER = re.compile(r"\$([a-z_][a-z0-9_]*)")


class PolicyError(RuntimeError):
    """A policy that cannot be evaluated for a cycle, with the reason and what to do."""


@dataclass(frozen=True)
class CycleWindow:
    """The period a cycle key covers, inclusive on both ends, in local dates."""

    cycle: Cycle
    key: str
    start: dt.date
    end: dt.date


def cycle_key(cycle: Cycle, day: dt.date) -> str:
    """Return the key of the cycle that contains ``day``, e.g. ``2026-11`` for monthly."""
    if cycle == Cycle.DAILY:
        return day.isoformat()
    if cycle == Cycle.MONTHLY:
        return f"{day.year:04d}-{day.month:02d}"
    if cycle == Cycle.QUARTERLY:
        return f"{day.year:04d}-Q{(day.month - 1) // 3 + 1}"
    return f"{day.year:04d}"


def previous_cycle_key(cycle: Cycle, key: str) -> str:
    """Return the key of the cycle just before ``key``."""
    return cycle_key(cycle, cycle_window(cycle, key).start - dt.timedelta(days=1))


def cycle_window(cycle: Cycle, key: str) -> CycleWindow:
    """Return the first and last day of the cycle ``key``."""
    if cycle == Cycle.DAILY:
        day = dt.date.fromisoformat(key)
        return CycleWindow(cycle, key, day, day)
    if cycle == Cycle.MONTHLY:
        year, month = (int(part) for part in key.split("-"))
        start = dt.date(year, month, 1)
        end = _month_end(year, month)
    elif cycle == Cycle.QUARTERLY:
        year, quarter = int(key[:4]), int(key[-1])
        start = dt.date(year, 3 * quarter - 2, 1)
        end = _month_end(year, 3 * quarter)
    else:
        start, end = dt.date(int(key), 1, 1), dt.date(int(key), 12, 31)
    return CycleWindow(cycle, key, start, end)


def _month_end(year: int, month: int) -> dt.date:
    following = dt.date(year + month // 12, month % 12 + 1, 1)
    return following - dt.timedelta(days=1)


def missing_datasets(con: duckdb.DuckDBPyConnection, card: PolicyCard) -> list[str]:
    """Return the datasets the card needs that have no accepted drop yet."""
    contracts = load_contracts()
    return [key for key in card.needs.datasets if not accepted_drops(con, contracts[key])]


def _bind_parameters(
    con: duckdb.DuckDBPyConnection, card: PolicyCard, window: CycleWindow,
    served_district: str, as_of: dt.date | None,
) -> tuple[dict, dict]:
    """Create table parameters and return the scalar values and the record of values used."""
    values: dict = {
        "cycle": window.key,
        "cycle_start": window.start,
        "cycle_end": window.end,
        "served_district": served_district,
        "as_of": as_of or window.end,
    }
    used: dict = {}
    for name, parameter in card.parameters.items():
        dated = parameter.value_on(window.start)
        if dated is None:
            raise PolicyError(
                f"{card.id}: parameter {name} has no value in force on {window.start}; add a "
                "dated value to the card"
            )
        used[name] = {"valid_from": dated.valid_from.isoformat(), "value": dated.value}
        if parameter.type != "table":
            values[name] = dated.value
            continue
        assert parameter.columns is not None
        table = quote_ident(f"param_{name}")
        columns = ", ".join(
            f"{quote_ident(col)} {_SQL_TYPES[kind]}" for col, kind in parameter.columns.items()
        )
        con.execute(f"CREATE OR REPLACE TEMP TABLE {table} ({columns})")
        if dated.value:
            placeholders = ", ".join("?" for _ in parameter.columns)
            con.executemany(
                f"INSERT INTO {table} VALUES ({placeholders})",
                [[row[col] for col in parameter.columns] for row in dated.value],
            )
    return values, used


def evaluate(
    con: duckdb.DuckDBPyConnection,
    card: PolicyCard,
    window: CycleWindow,
    served_district: str,
    subject_id: str | None = None,
    as_of: dt.date | None = None,
) -> tuple[list[str], dict]:
    """Run the card's rule into the temp table ``_evaluation``; return conditions and params.

    ``_evaluation`` contains every candidate with an ``eligible`` column. With ``subject_id`` only
    that subject is evaluated, for explanations. ``as_of`` (default: the cycle's last day)
    is the date on which lists such as the dishonesty lists are read.
    """
    values, used = _bind_parameters(con, card, window, served_district, as_of)
    rule = read_sql(f"policies/{card.rule}").strip().rstrip(";")
    referenced = set(_PLACEHOLDER.findall(rule))
    unknown = referenced - set(values) - {"subject_id"}
    if unknown:
        raise PolicyError(
            f"{card.id}: rule {card.rule} uses ${', $'.join(sorted(unknown))}, which is not a "
            "parameter of the card"
        )
    bound = {k: v for k, v in values.items() if k in referenced}
    where = ""
    if subject_id is not None:
        where = "WHERE subject_id = $subject_id"
        bound["subject_id"] = subject_id

    con.execute(f"CREATE OR REPLACE TEMP TABLE _rule AS SELECT * FROM ({rule}) {where}", bound)
    columns = [row[0] for row in con.execute("DESCRIBE _rule").fetchall()]
    for required in ("subject_id", "subject_name", "amount"):
        if required not in columns:
            raise PolicyError(f"{card.id}: rule {card.rule} must return a {required} column")
    conditions = [c for c in columns if c.startswith("cond_")]
    if not conditions:
        raise PolicyError(f"{card.id}: rule {card.rule} returns no cond_* column")

    repeated = con.execute(
        "SELECT subject_id, count(*) FROM _rule GROUP BY subject_id HAVING count(*) > 1 LIMIT 1"
    ).fetchone()
    if repeated:
        # Two rows for one subject mean two rule branches disagree; refuse to pick one.
        raise PolicyError(
            f"{card.id}: rule {card.rule} returned {repeated[1]} rows for one subject "
            f"(a subject appears at most once per cycle); fix the rule's joins"
        )
    joins, extra, control_conditions = _controls(con, card, columns)
    conditions = conditions + control_conditions
    all_true = " AND ".join(f"coalesce({quote_ident(c)}, false)" for c in conditions)
    payee = "" if "payee_id" in columns else (
        ", subject_id AS payee_id, subject_name AS payee_name"
    )
    # An approved inclusion makes a candidate eligible whatever its conditions, as long as
    # the rule could compute its amount. An exclusion is one of the conditions.
    included = "included_by_correction" if "included_by_correction" in extra else "false"
    has_amount = "amount IS NOT NULL" if card.pays else "true"
    sql = (f"CREATE OR REPLACE TEMP TABLE _evaluation AS SELECT *{payee}, "
           f"({all_true}) OR ({included} AND {has_amount}) AS eligible FROM ("
           f"SELECT r.*{''.join(', ' + e for e in extra.values())} FROM _rule AS r {joins})")
    control_values = {"policy_id": card.id, "subject_type": card.service_object,
                      "as_of": values["as_of"], "cycle_start": window.start}
    con.execute(sql, {k: v for k, v in control_values.items()
                      if k in set(_PLACEHOLDER.findall(sql))})
    return conditions, used


def _controls(
    con: duckdb.DuckDBPyConnection, card: PolicyCard, columns: list[str],
) -> tuple[str, dict[str, str], list[str]]:
    """Return the joins, extra columns and conditions every rule gets from the controls.

    A card with ``credit_exclusion`` excludes subjects on a dishonesty list on the as-of
    date (守信优先、失信受限). Approved corrections of the lead unit apply from the first
    cycle that starts after their approval, unless a correction approved before that cycle
    reverses them.
    """
    joins, extra, conditions = [], {}, []
    if card.credit_exclusion and "cond_not_on_dishonesty_list" not in columns and (
        table_exists(con, "staging", "credit__dishonest_entities")
    ):
        joins.append(
            "LEFT JOIN (SELECT DISTINCT subject_id AS listed_id FROM "
            "staging.credit__dishonest_entities WHERE subject_type = $subject_type "
            "AND listed_on <= $as_of AND (removed_on IS NULL OR removed_on > $as_of)) AS dl "
            "ON dl.listed_id = r.subject_id"
        )
        extra["cond_not_on_dishonesty_list"] = (
            "dl.listed_id IS NULL AS cond_not_on_dishonesty_list"
        )
        conditions.append("cond_not_on_dishonesty_list")
    if table_exists(con, "staging", "lead_units__corrections"):
        joins.append(
            """LEFT JOIN (
                SELECT subject_id AS corrected_id,
                       arg_max(action, approved_on) AS corrected_action,
                       arg_max(correction_id, approved_on) AS corrected_by
                FROM staging.lead_units__corrections
                WHERE policy_id = $policy_id AND approved_on < $cycle_start
                  AND action <> 'reverse'
                  AND correction_id NOT IN (
                      SELECT reverses FROM staging.lead_units__corrections
                      WHERE policy_id = $policy_id AND action = 'reverse'
                        AND approved_on < $cycle_start AND reverses IS NOT NULL)
                GROUP BY subject_id
            ) AS cr ON cr.corrected_id = r.subject_id"""
        )
        extra["cond_not_excluded_by_correction"] = (
            "coalesce(cr.corrected_action <> 'exclude', true) "
            "AS cond_not_excluded_by_correction"
        )
        extra["included_by_correction"] = (
            "coalesce(cr.corrected_action = 'include', false) AS included_by_correction"
        )
        extra["correction_applied"] = "cr.corrected_by AS correction_applied"
        conditions.append("cond_not_excluded_by_correction")
    return " ".join(joins), extra, conditions


def cohort_table(card: PolicyCard) -> str:
    return f"cohort.{quote_ident(card.id)}"


@dataclass
class CohortResult:
    """Counts of one cohort materialisation, for metadata and the CLI summary."""

    candidates: int
    eligible: int
    amount_total: float
    failed_by_condition: dict[str, int]
    parameters: dict
    in_force: bool = True
    previous_cycle: str | None = None
    new_entrants: int = 0
    continuing: int = 0
    leavers: int = 0

    @property
    def change_share(self) -> float:
        """Share of the previous cohort that changed (entrants plus leavers)."""
        before = self.continuing + self.leavers
        if before == 0:
            return 0.0
        return (self.new_entrants + self.leavers) / before


def store_cohort(
    con: duckdb.DuckDBPyConnection,
    card: PolicyCard,
    window: CycleWindow,
    served_district: str,
    run_id: str,
    as_of: dt.date | None = None,
) -> CohortResult:
    """Evaluate the rule and replace the cycle's rows of ``cohort.<policy_id>``."""
    target = cohort_table(card)
    if window.end < card.effective_from:
        _ensure_empty_cycle(con, card, window)
        return CohortResult(0, 0, 0.0, {}, {}, in_force=False)

    conditions, used = evaluate(con, card, window, served_district, as_of=as_of)
    previous = previous_cycle_key(card.cycle, window.key)
    if table_exists(con, "cohort", card.id):
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE _previous_cohort AS SELECT subject_id FROM {target} "
            "WHERE cycle = ?", [previous]
        )
    else:
        con.execute("CREATE OR REPLACE TEMP TABLE _previous_cohort (subject_id VARCHAR)")
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _cohort AS SELECT $cycle AS cycle, * EXCLUDE (eligible), "
        "subject_id NOT IN (SELECT subject_id FROM _previous_cohort) AS new_entrant, "
        "$parameters AS parameters, $run_id AS run_id FROM _evaluation WHERE eligible "
        "ORDER BY subject_id",
        {"cycle": window.key, "parameters": json.dumps(used, ensure_ascii=False, default=str),
         "run_id": run_id},
    )
    con.execute("BEGIN TRANSACTION")
    if not table_exists(con, "cohort", card.id):
        con.execute(f"CREATE TABLE {target} AS SELECT * FROM _cohort WHERE false")
    else:
        _add_missing_columns(con, card)
    con.execute(f"DELETE FROM {target} WHERE cycle = ?", [window.key])
    con.execute(f"INSERT INTO {target} BY NAME SELECT * FROM _cohort")
    con.execute("COMMIT")

    failed = {
        c: con.execute(
            f"SELECT count(*) FROM _evaluation WHERE NOT coalesce({quote_ident(c)}, false)"
        ).fetchone()[0]
        for c in conditions
    }
    candidates, eligible, total = con.execute(
        "SELECT count(*), count(*) FILTER (eligible), "
        "coalesce(sum(amount) FILTER (eligible), 0) FROM _evaluation"
    ).fetchone()
    entrants, continuing = con.execute(
        "SELECT count(*) FILTER (new_entrant), count(*) FILTER (NOT new_entrant) FROM _cohort"
    ).fetchone()
    leavers = con.execute(
        "SELECT count(*) FROM _previous_cohort WHERE subject_id NOT IN "
        "(SELECT subject_id FROM _cohort)"
    ).fetchone()[0]
    return CohortResult(candidates, eligible, float(total), failed, used,
                        previous_cycle=previous, new_entrants=entrants, continuing=continuing,
                        leavers=leavers)


def _ensure_empty_cycle(
    con: duckdb.DuckDBPyConnection, card: PolicyCard, window: CycleWindow
) -> None:
    if table_exists(con, "cohort", card.id):
        con.execute(f"DELETE FROM {cohort_table(card)} WHERE cycle = ?", [window.key])


def _add_missing_columns(con: duckdb.DuckDBPyConnection, card: PolicyCard) -> None:
    present = {
        row[0] for row in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'cohort' "
            "AND table_name = ?", [card.id]
        ).fetchall()
    }
    for name, kind in con.execute("SELECT column_name, column_type FROM "
                                  "(DESCRIBE _cohort)").fetchall():
        if name not in present:
            con.execute(f"ALTER TABLE {cohort_table(card)} ADD COLUMN {quote_ident(name)} {kind}")
