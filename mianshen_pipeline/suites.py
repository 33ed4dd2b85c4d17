"""Great Expectations suites: one JSON suite per dataset contract under ``data_quality/``, run
on every drop in bounded chunks of a pandas frame.

Each expectation carries GX's own ``severity`` and, in ``meta``, the action the pipeline
takes when it fails:

- ``critical`` (action ``reject_drop``): the whole drop is rejected and nothing is applied;
- ``warning`` (action ``quarantine_rows``): the failing rows are quarantined with the reason;
- ``info`` (action ``record``): the failure is shown in the receipt and in Dagster only.

GX's SQL datasources cannot read DuckDB, so the decoded drop is streamed from DuckDB in
chunks of ``CHUNK_ROWS`` rows, each validated as a pandas frame. Chunks never split a
primary key, so uniqueness is exact across the whole drop.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import duckdb
import pandas as pd

from mianshen_pipeline.contracts import ColumnType, DatasetContract
from mianshen_pipeline.paths import DATA_QUALITY_DIR
from mianshen_pipeline.security import mask
from mianshen_pipeline.warehouse import quote_ident

# GX sends usage statistics unless this variable disables them, and a pipeline host may
# have no network to send them to.
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

import great_expectations as gx  # noqa: E402
from great_expectations.data_context.types.base import ProgressBarsConfig  # noqa: E402

import mianshen_pipeline.expectations  # noqa: E402,F401  (registers the custom expectations)

CHUNK_ROWS = 100_000
EXAMPLES = 3
REJECT_SHARE = 0.5
ACTIONS = {"critical": "reject_drop", "warning": "quarantine_rows", "info": "record"}


def suite_path(contract: DatasetContract, directory: Path = DATA_QUALITY_DIR) -> Path:
    return directory / f"{contract.table}.json"


def _expectation(kind: str, kwargs: dict, severity: str, check: str, reason: str) -> dict:
    return {
        "type": kind,
        "kwargs": kwargs,
        "severity": severity,
        "meta": {"check": check, "action": ACTIONS[severity], "reason": reason},
    }


def build_suite(contract: DatasetContract) -> dict:
    """Derive the dataset's suite from its contract, as a GX 1.x suite dictionary."""
    expectations = []
    for col in contract.columns:
        raw = f"{col.name}__raw"
        label = col.label
        if col.required:
            kwargs: dict = {"column": col.name}
            if contract.delete_column and col.name not in contract.primary_key:
                # A deletion row of a delta needs only its key.
                kwargs |= {"row_condition": f'{contract.delete_column} != "delete"',
                           "condition_parser": "pandas"}
            expectations.append(_expectation(
                "expect_column_values_to_not_be_null", kwargs, "warning",
                f"{col.name}_present", f"{label} is missing or unreadable",
            ))
        if col.type in (ColumnType.RESIDENT_ID, ColumnType.CREDIT_CODE):
            kind = ("expect_column_values_to_be_valid_resident_id"
                    if col.type == ColumnType.RESIDENT_ID
                    else "expect_column_values_to_be_valid_credit_code")
            word = "resident ID" if col.type == ColumnType.RESIDENT_ID else "credit code"
            expectations.append(_expectation(
                kind, {"column": raw}, "warning", f"{col.name}_valid",
                f"{label} is not a valid {word}",
            ))
            expectations.append(_expectation(
                kind, {"column": raw, "mostly": REJECT_SHARE}, "critical",
                f"{col.name}_mostly_valid",
                f"more than half of {label} are not valid {word}s; the column is probably "
                "mangled or shifted, so the whole file is rejected",
            ))
        if col.type == ColumnType.CODE and col.codes:
            expectations.append(_expectation(
                "expect_column_values_to_be_in_set",
                {"column": raw, "value_set": sorted(col.codes)}, "warning",
                f"{col.name}_in_code_list",
                f"{label} is not one of {', '.join(col.codes)}",
            ))
        if col.pattern:
            expectations.append(_expectation(
                "expect_column_values_to_match_regex",
                {"column": raw, "regex": f"^(?:{col.pattern})$"}, "warning",
                f"{col.name}_format", f"{label} must be {col.pattern_hint or col.pattern}",
            ))
        if col.type == ColumnType.DATE and not col.allow_future:
            expectations.append(_expectation(
                "expect_column_values_to_be_between",
                {"column": col.name, "max_value": {"$PARAMETER": "as_of"}}, "warning",
                f"{col.name}_not_in_future", f"{label} is after the delivery date",
            ))
        if col.after_birth_of:
            referent = contract.column(col.after_birth_of)
            expectations.append(_expectation(
                "expect_column_pair_values_a_to_be_greater_than_b",
                {"column_A": col.name, "column_B": f"{referent.name}__birth_date",
                 "or_equal": True, "ignore_row_if": "either_value_is_missing"}, "warning",
                f"{col.name}_after_birth", f"{label} is before the birth date in "
                f"{referent.label}",
            ))
        if col.birth_date_of:
            referent = contract.column(col.birth_date_of)
            expectations.append(_expectation(
                "expect_column_pair_values_to_be_equal",
                {"column_A": col.name, "column_B": f"{referent.name}__birth_date",
                 "ignore_row_if": "either_value_is_missing"}, "warning",
                f"{col.name}_matches_id", f"{label} differs from the birth date in "
                f"{referent.label}; correct whichever is wrong",
            ))
        if col.type in (ColumnType.INTEGER, ColumnType.DECIMAL) and (
            col.min is not None or col.max is not None
        ):
            expectations.append(_expectation(
                "expect_column_values_to_be_between",
                {"column": col.name, "min_value": col.min, "max_value": col.max}, "warning",
                f"{col.name}_in_range", f"{label} is outside {col.min} to {col.max}",
            ))

    key = contract.primary_key
    if len(key) == 1:
        unique = ("expect_column_values_to_be_unique", {"column": key[0]})
    else:
        unique = ("expect_compound_columns_to_be_unique", {"column_list": key})
    # Which repeated row survives is decided by the row checks (an exact copy keeps its
    # first row), so this expectation only reports.
    expectations.append(_expectation(
        *unique, "info", "key_unique", f"the key {', '.join(key)} repeats within the file",
    ))
    return {"name": contract.table, "expectations": expectations,
            "meta": {"dataset": contract.key,
                     "note": "Derived from the dataset contract; edit either, keep both."}}


def write_suite(contract: DatasetContract, directory: Path = DATA_QUALITY_DIR) -> Path:
    """Write the suite derived from the contract as JSON; return its path."""
    path = suite_path(contract, directory)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(build_suite(contract), ensure_ascii=False, indent=2) + "\n"
    path.write_text(text, encoding="utf-8")
    return path


@cache
def load_suite(path: Path) -> gx.ExpectationSuite:
    """Load a stored suite; raise with the file name when it is missing or invalid."""
    if not path.exists():
        raise FileNotFoundError(
            f"{path.name}: no Great Expectations suite for this dataset; run "
            "`mianshen quality suites` to derive it from the contract"
        )
    data = json.loads(path.read_text(encoding="utf-8"))
    return gx.ExpectationSuite(**data)


@cache
def _batch_definition():
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False,
                                                         metric_calculations=False)
    source = context.data_sources.add_pandas("drops")
    asset = source.add_dataframe_asset("chunk")
    return asset.add_batch_definition_whole_dataframe("whole_chunk")


@dataclass
class ExpectationOutcome:
    """One expectation aggregated over every chunk of a drop."""

    check: str
    expectation_type: str
    column: str | None
    severity: str
    action: str
    reason: str
    mostly: float = 1.0
    element_count: int = 0
    missing_count: int = 0
    unexpected_count: int = 0
    examples: list[str] = field(default_factory=list)
    unexpected_rows: list[int] = field(default_factory=list)

    @property
    def success(self) -> bool:
        checked = self.element_count - self.missing_count
        if checked <= 0:
            return True
        return (checked - self.unexpected_count) / checked >= self.mostly

    def as_dict(self) -> dict:
        return {"check": self.check, "expectation_type": self.expectation_type,
                "column": self.column, "severity": self.severity, "action": self.action,
                "success": self.success, "rows_checked": self.element_count,
                "unexpected": self.unexpected_count, "examples": self.examples,
                "reason": self.reason}


def _frame_sql(contract: DatasetContract) -> str:
    """Columns of the frame GX validates: typed values, raw text and encoded birth dates."""
    columns = ["_row"]
    for col in contract.columns:
        columns.append(quote_ident(col.name))
        if col.type in (ColumnType.RESIDENT_ID, ColumnType.CREDIT_CODE, ColumnType.CODE) or (
            col.pattern
        ):
            columns.append(quote_ident(f"{col.name}__raw"))
    for name in contract.id_birth_columns:
        columns.append(
            f"try_strptime(substr({quote_ident(name)}, 7, 8), '%Y%m%d')::DATE "
            f"AS {quote_ident(name + '__birth_date')}"
        )
    return ", ".join(columns)


def _personal_kind(contract: DatasetContract, column: str | None) -> str | None:
    if column is None:
        return None
    base = column.removesuffix("__raw").removesuffix("__birth_date")
    try:
        return contract.column(base).personal
    except KeyError:
        return None


def validate_drop(
    con: duckdb.DuckDBPyConnection, contract: DatasetContract, as_of: dt.date,
    chunk_rows: int = CHUNK_ROWS,
) -> list[ExpectationOutcome]:
    """Run the dataset's suite over ``_checked`` chunk by chunk and aggregate the results."""
    suite = load_suite(suite_path(contract))
    outcomes: dict[str, ExpectationOutcome] = {}
    for expectation in suite.expectations:
        config = expectation.configuration
        outcomes[config.meta["check"]] = ExpectationOutcome(
            check=config.meta["check"], expectation_type=config.type,
            column=(config.kwargs.get("column") or config.kwargs.get("column_A")
                    or (config.kwargs.get("column_list") or [None])[0]),
            severity=str(expectation.severity.value), action=config.meta["action"],
            reason=config.meta["reason"], mostly=config.kwargs.get("mostly") or 1.0,
        )

    key = ", ".join(quote_ident(k) for k in contract.primary_key)
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _gx_frame AS SELECT {_frame_sql(contract)}, "
        f"(dense_rank() OVER (ORDER BY {key}) - 1) // {int(chunk_rows)} AS _chunk "
        "FROM _checked"
    )
    chunks = [row[0] for row in con.execute(
        "SELECT DISTINCT _chunk FROM _gx_frame ORDER BY 1").fetchall()]
    batch_definition = _batch_definition()
    parameters = {"as_of": as_of}
    for chunk in chunks:
        frame = con.sql(
            "SELECT * EXCLUDE (_chunk) FROM _gx_frame WHERE _chunk = ? ORDER BY _row",
            params=[chunk],
        ).to_arrow_table().to_pandas(date_as_object=True)
        frame = frame.set_index("_row")
        frame.index.name = None  # GX then reports the unexpected rows as plain row numbers
        batch = batch_definition.get_batch(batch_parameters={"dataframe": frame})
        result = batch.validate(suite, result_format="COMPLETE",
                                expectation_parameters=parameters)
        for item in result.results:
            _accumulate(outcomes[item.expectation_config.meta["check"]], item, contract,
                        frame)
    con.execute("DROP TABLE _gx_frame")
    return list(outcomes.values())


def _accumulate(outcome: ExpectationOutcome, item, contract: DatasetContract, frame) -> None:
    info = item.exception_info or {}
    raised = info.get("raised_exception") or any(
        isinstance(v, dict) and v.get("raised_exception") for v in info.values()
    )
    if raised:
        raise RuntimeError(
            f"Great Expectations could not evaluate {outcome.check} of {contract.key}: "
            f"{json.dumps(info, default=str)[:500]}"
        )
    details = item.result
    outcome.element_count += int(details.get("element_count") or 0)
    outcome.missing_count += int(details.get("missing_count") or 0)
    outcome.unexpected_count += int(details.get("unexpected_count") or 0)
    rows = [int(r) for r in details.get("unexpected_index_list") or []]
    outcome.unexpected_rows.extend(rows)
    kind = _personal_kind(contract, outcome.column)
    for row in rows:
        if len(outcome.examples) >= EXAMPLES:
            break
        value = frame.at[row, outcome.column] if outcome.column in frame.columns else None
        if value is None or (not isinstance(value, str) and pd.isna(value)):
            outcome.examples.append("(empty)")
        else:
            outcome.examples.append(mask(str(value), kind))
