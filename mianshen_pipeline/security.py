"""Masking, pseudonyms and spreadsheet-safe text for personal data.

Every value that may identify a person passes through one of these masks before it reaches a
log line, Dagster metadata, a preview or an error message. The same masks exist as DuckDB
macros (see ``SQL_MACROS``) so that set-at-a-time exports mask inside the database.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def mask_id(value: str | None) -> str:
    """Mask an ID number or credit code, keeping the area code and the last four characters."""
    if not value:
        return ""
    text = str(value)
    if len(text) <= 8:
        return "*" * len(text)
    if len(text) < 14:
        # Too short to keep the area code and last four and still hide anything.
        return text[:2] + "*" * (len(text) - 4) + text[-2:]
    return text[:6] + "*" * (len(text) - 10) + text[-4:]


def mask_name(value: str | None) -> str:
    """Mask a personal name as the public notices do: 张三 becomes 张*, 张小三 becomes 张*三."""
    if not value:
        return ""
    text = str(value)
    if len(text) == 1:
        return "*"
    if len(text) == 2:
        return text[0] + "*"
    return text[0] + "*" * (len(text) - 2) + text[-1]


def mask_account(value: str | None) -> str:
    """Mask a bank account or phone number, keeping its last four digits."""
    if not value:
        return ""
    text = str(value)
    if len(text) <= 4:
        return "*" * len(text)
    return "*" * (len(text) - 4) + text[-4:]


def mask_text(value: str | None) -> str:
    """Mask free text such as an address, keeping only its first four characters."""
    if not value:
        return ""
    text = str(value)
    return text[:4] + "*" * max(len(text) - 4, 0)


MASKS = {
    "id": mask_id,
    "name": mask_name,
    "account": mask_account,
    "phone": mask_account,
    "text": mask_text,
}


def mask(value: object, kind: str | None) -> str:
    """Mask ``value`` by the personal-data kind of its column; ``None`` means not personal."""
    if value is None:
        return ""
    if kind is None:
        return str(value)
    return MASKS[kind](str(value))


def neutralise_formula(value: str | None) -> str | None:
    """Prefix a quote to a cell that a spreadsheet would otherwise run as a formula."""
    if value and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def pseudonym(value: str, key: bytes) -> str:
    """Return the keyed HMAC-SHA256 pseudonym of an identifier, as 64 hex characters."""
    return hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()


def masked_preview(rows: Iterable[dict], personal: dict[str, str | None]) -> list[dict]:
    """Mask every personal column of a few rows for display in the UI."""
    return [{col: mask(val, personal.get(col)) for col, val in row.items()} for row in rows]


# DuckDB macros equivalent to the Python masks above; created on every warehouse connection.
SQL_MACROS = """
CREATE OR REPLACE TEMP MACRO mask_id(v) AS
    CASE WHEN v IS NULL OR v = '' THEN ''
         WHEN length(v) <= 8 THEN repeat('*', length(v))
         WHEN length(v) < 14 THEN left(v, 2) || repeat('*', length(v) - 4) || right(v, 2)
         ELSE left(v, 6) || repeat('*', length(v) - 10) || right(v, 4) END;
CREATE OR REPLACE TEMP MACRO mask_name(v) AS
    CASE WHEN v IS NULL OR v = '' THEN ''
         WHEN length(v) = 1 THEN '*'
         WHEN length(v) = 2 THEN left(v, 1) || '*'
         ELSE left(v, 1) || repeat('*', length(v) - 2) || right(v, 1) END;
CREATE OR REPLACE TEMP MACRO mask_account(v) AS
    CASE WHEN v IS NULL OR v = '' THEN ''
         WHEN length(v) <= 4 THEN repeat('*', length(v))
         ELSE repeat('*', length(v) - 4) || right(v, 4) END;
CREATE OR REPLACE TEMP MACRO csv_safe(v) AS
    CASE WHEN regexp_matches(v, '^[=+\\-@\\t\\r]') THEN '''' || v ELSE v END;
"""
