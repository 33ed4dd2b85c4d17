"""Row-level checks of a decoded drop against its dataset contract, set-at-a-time in DuckDB.

The decoded table contains the file's own headers as text. ``check_drop`` maps the headers to the
contract's columns, parses every value into its contract type, and splits the records into
accepted rows (typed, ready for staging) and quarantined rows, each with the list of what is
wrong: the column, the check, the value (masked when personal) and what to fix.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from dataclasses import dataclass, field

import duckdb

from mianshen_pipeline.contracts import Column, ColumnType, DatasetContract
from mianshen_pipeline.decoding import Decoded
from mianshen_pipeline.suites import ExpectationOutcome, validate_drop
from mianshen_pipeline.warehouse import quote_ident, quote_literal, read_sql

ERROR_TYPE = "STRUCT(\"column\" VARCHAR, \"check\" VARCHAR, \"value\" VARCHAR, reason VARCHAR)"
MIN_DATE = "1880-01-01"
MAX_DATE = "2100-12-31"
_MASK_MACRO = {"id": "mask_id", "name": "mask_name", "account": "mask_account",
               "phone": "mask_account"}


class RejectedDrop(ValueError):
    """A drop that fails a check on the file as a whole; nothing of it is applied."""

    def __init__(self, message: str, expectations: list | None = None) -> None:
        super().__init__(message)
        self.expectations = expectations or []


def _normalise_header(text: str) -> str:
    folded = unicodedata.normalize("NFKC", text).strip().lower()
    return folded.replace(" ", "").replace("-", "_")


@dataclass
class HeaderMap:
    """Mapping from contract columns to the file headers that feed them."""

    sources: dict[str, str]
    unknown: list[str] = field(default_factory=list)
    missing_optional: list[str] = field(default_factory=list)


def map_headers(headers: list[str], contract: DatasetContract, file_name: str) -> HeaderMap:
    """Match file headers to contract columns by name or alias; reject a missing required one."""
    lookup: dict[str, str] = {}
    for col in contract.columns:
        for label in (col.name, *col.aliases):
            lookup[_normalise_header(label)] = col.name

    sources: dict[str, str] = {}
    unknown = []
    for header in headers:
        target = lookup.get(_normalise_header(header))
        if target is None:
            unknown.append(header)
            continue
        if target in sources:
            raise RejectedDrop(
                f"{file_name}: headers {sources[target]!r} and {header!r} both mean column "
                f"{target}; keep one of them"
            )
        sources[target] = header

    missing = [c for c in contract.columns if c.name not in sources]
    required = [c.label for c in missing if c.required]
    if required:
        # Unknown headers may be a data row of a file without headers, so they are masked.
        shown = [h if h in sources.values() else _mask_header(h) for h in headers]
        hint = (" The first line looks like data: add a header line."
                if not sources and headers else "")
        raise RejectedDrop(
            f"{file_name}: required column(s) {', '.join(required)} missing; the file has "
            f"{len(headers)} headers ({', '.join(shown[:12]) or 'none'}). Add the column(s) "
            f"with these headers and deliver again.{hint}"
        )
    return HeaderMap(sources, unknown, [c.name for c in missing])


def _mask_header(header: str) -> str:
    return header[:1] + "*" * min(len(header) - 1, 6) if len(header) > 1 else "*"


def _masked(col: Column, raw: str) -> str:
    macro = _MASK_MACRO.get(col.personal or "")
    if macro:
        return f"{macro}({raw})"
    if col.personal == "text":
        return f"left({raw}, 4) || '***'"
    return f"left({raw}, 60)"


def _error(col: Column, check: str, raw: str, reason_sql: str) -> str:
    return (
        f"{{'column': {quote_literal(col.name)}, 'check': {quote_literal(check)}, "
        f"'value': {_masked(col, raw)}, 'reason': {reason_sql}}}"
    )


def _date_expr(raw: str) -> str:
    formats = ["%Y-%m-%d", "%Y%m%d", "%Y/%m/%d", "%Y年%m月%d日", "%Y-%m-%d %H:%M:%S",
               "%Y/%m/%d %H:%M:%S", "%Y.%m.%d"]
    parsed = ", ".join(f"try_strptime({raw}, {quote_literal(f)})" for f in formats)
    # Excel stores dates as serial days since 1899-12-30 (serial 61 is 1900-03-01).
    serial = (
        f"CASE WHEN regexp_full_match({raw}, '[0-9]{{2,5}}(\\.0+)?') "
        f"AND TRY_CAST({raw} AS DOUBLE) BETWEEN 61 AND 73050 "
        f"THEN DATE '1899-12-30' + CAST(TRY_CAST({raw} AS DOUBLE) AS INTEGER) END"
    )
    return f"CAST(coalesce({parsed}, {serial}) AS DATE)"


def _code_expr(col: Column, raw: str) -> str:
    assert col.codes is not None
    whens = " ".join(
        f"WHEN {quote_literal(k)} THEN {quote_literal(v)}" for k, v in col.codes.items()
    )
    return f"CASE {raw} {whens} END"


def _column_sql(col: Column, raw: str, exempt: str = "false") -> tuple[str, list[str]]:
    """Return the typed value expression and the error expressions for one column.

    ``exempt`` is a SQL condition under which a missing required value is allowed, such as a
    deletion row of a delta, which needs only its key.
    """
    label = quote_literal(col.label)
    errors = []
    if col.required:
        errors.append(
            f"CASE WHEN {raw} IS NULL AND NOT ({exempt}) THEN "
            + _error(col, "required", raw, f"{label} || ' is missing; fill it in'")
            + " END"
        )

    if col.type in (ColumnType.RESIDENT_ID, ColumnType.CREDIT_CODE):
        kind = "resident_id" if col.type == ColumnType.RESIDENT_ID else "credit_code"
        checked = f"check_{kind}({raw})"
        value = f"{checked}.value"
        errors.append(
            f"CASE WHEN {raw} IS NOT NULL AND {checked}.error IS NOT NULL THEN "
            + _error(col, kind, raw, f"{label} || ' ' || {checked}.error")
            + " END"
        )
    elif col.type == ColumnType.DATE:
        value = _date_expr(raw)
        errors.append(
            f"CASE WHEN {raw} IS NOT NULL AND {value} IS NULL THEN "
            + _error(col, "date", raw, f"{label} || ' is not a date; write it as YYYY-MM-DD'")
            + f" WHEN {value} NOT BETWEEN DATE '{MIN_DATE}' AND DATE '{MAX_DATE}' THEN "
            + _error(col, "date_range", raw,
                     f"{label} || ' is outside {MIN_DATE[:4]}-{MAX_DATE[:4]}; check the year'")
            + " END"
        )
    elif col.type == ColumnType.CODE:
        value = _code_expr(col, raw)
        allowed = ", ".join(col.codes)
        errors.append(
            f"CASE WHEN {raw} IS NOT NULL AND {value} IS NULL THEN "
            + _error(col, "code", raw,
                     f"{label} || ' has an unknown code; use one of {allowed}'")
            + " END"
        )
    elif col.type in (ColumnType.INTEGER, ColumnType.DECIMAL):
        value = f"TRY_CAST(replace({raw}, ',', '') AS {col.sql_type})"
        errors.append(
            f"CASE WHEN {raw} IS NOT NULL AND {value} IS NULL THEN "
            + _error(col, "number", raw, f"{label} || ' is not a number'")
            + " END"
        )
        bounds = []
        if col.min is not None:
            bounds.append(f"{value} < {col.min!r}")
        if col.max is not None:
            bounds.append(f"{value} > {col.max!r}")
        if bounds:
            errors.append(
                f"CASE WHEN {' OR '.join(bounds)} THEN "
                + _error(col, "range", raw,
                         f"{label} || ' is outside {col.min} to {col.max}'")
                + " END"
            )
    else:
        value = raw

    errors.append(
        f"CASE WHEN regexp_matches({raw}, '[\\x00-\\x1f\\x7f]') THEN "
        + _error(col, "control_character", raw,
                 f"{label} || ' contains a line break, tab or other control character; "
                 "remove it'")
        + " END"
    )
    if col.pattern:
        hint = quote_literal(col.pattern_hint or f"of the form {col.pattern}")
        pattern = quote_literal(col.pattern)
        # A number column in Excel drops leading zeros, so the reason names that when zeros
        # would make the value match.
        zeros_lost = " OR ".join(
            f"regexp_full_match('{'0' * n}' || {raw}, {pattern})" for n in (1, 2, 3)
        )
        errors.append(
            f"CASE WHEN {raw} IS NOT NULL AND NOT regexp_full_match({raw}, {pattern}) THEN "
            + _error(
                col, "pattern", raw,
                f"{label} || ' must be ' || {hint} || CASE WHEN regexp_full_match({raw}, "
                f"'[0-9]+') AND ({zeros_lost}) THEN '; it looks like a number that lost its "
                "leading zeros in Excel: format the column as text and export again' "
                "ELSE '' END",
            )
            + " END"
        )
    return value, errors


@dataclass
class CheckedDrop:
    """Counts of one checked drop, whose rows are in the temp tables ``_accepted`` and
    ``_quarantined``, with the outcome of each expectation of the dataset's suite."""

    header_map: HeaderMap
    accepted: int
    quarantined: int
    expectations: list[ExpectationOutcome] = field(default_factory=list)


def check_drop(
    con: duckdb.DuckDBPyConnection,
    decoded: Decoded,
    contract: DatasetContract,
    file_name: str,
    as_of: dt.date,
) -> CheckedDrop:
    """Check every record of ``decoded`` and build ``_accepted`` and ``_quarantined``.

    Values are parsed and checked for their form in SQL; the dataset's Great Expectations
    suite then runs on the parsed rows. A failed critical expectation rejects the drop, a
    failed row-level one quarantines its rows, and repeated keys are resolved last.
    """
    header_map = map_headers(decoded.headers, contract, file_name)
    source = quote_ident(decoded.table)

    raw_columns = []
    value_columns = []
    error_items = []
    deletion = "false"
    if contract.delete_column:
        action = contract.column(contract.delete_column)
        action_raw = quote_ident(f"{action.name}__raw")
        deletion = f"coalesce({_code_expr(action, action_raw)} = 'delete', false)"
    for col in contract.columns:
        header = header_map.sources.get(col.name)
        raw_name = quote_ident(f"{col.name}__raw")
        if header is None:
            raw_columns.append(f"CAST(NULL AS VARCHAR) AS {raw_name}")
        else:
            cleaned = f"nullif(trim(CAST({quote_ident(header)} AS VARCHAR)), '')"
            raw_columns.append(f"{cleaned} AS {raw_name}")
        exempt = "false" if col.name in contract.primary_key else deletion
        value, errors = _column_sql(col, raw_name, exempt)
        value_columns.append(f"{value} AS {quote_ident(col.name)}")
        error_items.extend(errors)

    errors_list = ", ".join(error_items) if error_items else ""
    errors_sql = (
        f"list_filter([{errors_list}], lambda e: e IS NOT NULL)"
        if error_items else f"CAST([] AS {ERROR_TYPE}[])"
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _checked AS
        WITH cleaned AS (SELECT _row, {', '.join(raw_columns)} FROM {source})
        SELECT cleaned.*, {', '.join(value_columns)}, {errors_sql} AS _errors FROM cleaned
        """
    )
    expectations = validate_drop(con, contract, as_of)
    critical = [o for o in expectations if o.action == "reject_drop" and not o.success]
    if critical:
        reasons = "; ".join(
            f"{o.reason} ({o.unexpected_count} of {o.element_count - o.missing_count} rows"
            + (f", e.g. {', '.join(o.examples)}" if o.examples else "") + ")"
            for o in critical
        )
        raise RejectedDrop(f"{file_name}: {reasons}", expectations)
    _merge_expectation_failures(con, contract, expectations)
    if contract.row_checks:
        _merge_row_checks(con, contract)
    _flag_duplicate_keys(con, contract)
    _split(con, contract, decoded)

    accepted = con.execute("SELECT count(*) FROM _accepted").fetchone()[0]
    quarantined = con.execute("SELECT count(*) FROM _quarantined").fetchone()[0]
    return CheckedDrop(header_map, accepted, quarantined, expectations)


def _merge_expectation_failures(
    con: duckdb.DuckDBPyConnection, contract: DatasetContract,
    expectations: list[ExpectationOutcome],
) -> None:
    """Add each failed row-level expectation to the rows it failed on.

    A row already rejected on the same column by the form checks keeps only that finding,
    because it describes the problem more precisely.
    """
    failures = [
        (row, o.column.removesuffix("__raw"), o.check, o.reason)
        for o in expectations if o.action == "quarantine_rows" and not o.success
        for row in o.unexpected_rows
    ]
    if not failures:
        return
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _gx_failures (_row BIGINT, \"column\" VARCHAR, "
        "\"check\" VARCHAR, reason VARCHAR)"
    )
    con.executemany("INSERT INTO _gx_failures VALUES (?, ?, ?, ?)", failures)
    masked = " ".join(
        f"WHEN {quote_literal(col.name)} THEN "
        f"{_masked(col, 'c.' + quote_ident(col.name + '__raw'))}"
        for col in contract.columns
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _gx_errors AS
        SELECT g._row, list({{'column': g."column", 'check': g."check",
                             'value': CASE g."column" {masked} END, 'reason': g.reason}}
                            ORDER BY g."column") AS errors
        FROM _gx_failures g JOIN _checked c USING (_row)
        WHERE NOT list_contains(list_transform(c._errors, lambda e: e."column"), g."column")
        GROUP BY g._row
        """
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _checked AS SELECT c.* REPLACE ("
        "list_concat(c._errors, coalesce(g.errors, [])) AS _errors) "
        "FROM _checked c LEFT JOIN _gx_errors g USING (_row)"
    )


def _merge_row_checks(con: duckdb.DuckDBPyConnection, contract: DatasetContract) -> None:
    """Add the failures of the contract's checks against the warehouse to their rows."""
    sql = read_sql(f"checks/{contract.row_checks}").strip().rstrip(";")
    masked = " ".join(
        f"WHEN {quote_literal(col.name)} THEN "
        f"{_masked(col, 'c.' + quote_ident(col.name + '__raw'))}"
        for col in contract.columns
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _checked AS
        WITH failures AS ({sql}),
        grouped AS (
            SELECT f._row, list({{'column': f."column", 'check': f."check",
                                 'value': CASE f."column" {masked} END,
                                 'reason': f.reason}}) AS errors
            FROM failures f JOIN _checked c USING (_row)
            WHERE len(c._errors) = 0
            GROUP BY f._row
        )
        SELECT c.* REPLACE (list_concat(c._errors, coalesce(g.errors, [])) AS _errors)
        FROM _checked c LEFT JOIN grouped g USING (_row)
        """
    )


def _flag_duplicate_keys(con: duckdb.DuckDBPyConnection, contract: DatasetContract) -> None:
    """Add a duplicate-key error to repeated keys among rows that are otherwise valid.

    An exact copy of an earlier row is quarantined and the first kept. When rows share a key
    but differ elsewhere, none of them can be trusted, so all are quarantined.
    """
    key = ", ".join(quote_ident(k) for k in contract.primary_key)
    values = ", ".join(quote_ident(c.name) for c in contract.columns)
    key_label = quote_literal(", ".join(contract.column(k).label for k in contract.primary_key))
    first = contract.column(contract.primary_key[0])
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _checked AS
        WITH ranked AS (
            SELECT *,
                   count(*) OVER keyed AS _copies,
                   count(DISTINCT hash(row({values}))) OVER keyed AS _variants,
                   min(_row) OVER keyed AS _first_row,
                   row_number() OVER (PARTITION BY {key} ORDER BY _row) AS _rank
            FROM _checked
            WHERE len(_errors) = 0
            WINDOW keyed AS (PARTITION BY {key})
        )
        SELECT c.* REPLACE (
            CASE
                WHEN r._copies > 1 AND r._variants > 1 THEN list_append(c._errors, {{
                    'column': {quote_literal(first.name)}, 'check': 'duplicate_key',
                    'value': {_masked(first, 'CAST(c.' + quote_ident(first.name) + ' AS VARCHAR)')},
                    'reason': 'the key ' || {key_label} || ' repeats with different values '
                        || '(first at row ' || r._first_row || '); deliver one row per key'}})
                WHEN r._copies > 1 AND r._rank > 1 THEN list_append(c._errors, {{
                    'column': {quote_literal(first.name)}, 'check': 'duplicate_row',
                    'value': {_masked(first, 'CAST(c.' + quote_ident(first.name) + ' AS VARCHAR)')},
                    'reason': 'exact copy of row ' || r._first_row || '; delete the copy'}})
                ELSE c._errors
            END AS _errors)
        FROM _checked c LEFT JOIN ranked r USING (_row)
        """
    )


def _split(con: duckdb.DuckDBPyConnection, contract: DatasetContract, decoded: Decoded) -> None:
    columns = ", ".join(quote_ident(c.name) for c in contract.columns)
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _accepted AS SELECT _row, {columns} FROM _checked "
        "WHERE len(_errors) = 0 ORDER BY _row"
    )
    source = quote_ident(decoded.table)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _quarantined AS
        SELECT s.*, c._errors FROM {source} s JOIN _checked c USING (_row)
        WHERE len(c._errors) > 0
        """
    )
    if decoded.malformed:
        con.execute(
            "ALTER TABLE _quarantined ADD COLUMN _text VARCHAR"
        )
        con.executemany(
            "INSERT INTO _quarantined (_row, _errors, _text) VALUES (?, [{'column': NULL, "
            "'check': 'malformed', 'value': NULL, 'reason': ?}], ?)",
            [[m.row, m.reason, m.text] for m in decoded.malformed],
        )


def quarantine_all(con: duckdb.DuckDBPyConnection, decoded: Decoded, reason: str) -> int:
    """Quarantine every record of a drop rejected whole, so its rows still add up."""
    source = quote_ident(decoded.table)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _quarantined AS SELECT s.*, [{'column': NULL, "
        "'check': 'drop_rejected', 'value': NULL, 'reason': $reason}] AS _errors "
        f"FROM {source} s",
        {"reason": "the whole file was rejected and none of its rows applied: " + reason},
    )
    if decoded.malformed:
        con.execute("ALTER TABLE _quarantined ADD COLUMN _text VARCHAR")
        con.executemany(
            "INSERT INTO _quarantined (_row, _errors, _text) VALUES (?, [{'column': NULL, "
            "'check': 'malformed', 'value': NULL, 'reason': ?}], ?)",
            [[m.row, m.reason, m.text] for m in decoded.malformed],
        )
    return con.execute("SELECT count(*) FROM _quarantined").fetchone()[0]

