"""Normalise and validate resident ID numbers and unified social credit codes.

Departments export identifiers in every shape a spreadsheet or an old system produces:
full-width digits, a lower-case check character, embedded spaces, 15-digit first-generation
numbers, and numbers that Excel turned into floats. Each function here takes the raw text of
one cell and returns either the canonical identifier or a reason a department can act on.
Validation itself is python-stdnum's ``cn.ric`` (GB 11643-1999) and ``cn.uscc``
(GB 32100-2015).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from stdnum.cn import ric, uscc
from stdnum.exceptions import (
    InvalidChecksum,
    InvalidComponent,
    InvalidFormat,
    InvalidLength,
    ValidationError,
)

_SCIENTIFIC = re.compile(r"^[0-9]+(\.[0-9]+)?E\+?[0-9]+$")
_FLOAT_SUFFIX = re.compile(r"^([0-9]{15,18})\.0+$")
_SEPARATORS = re.compile(r"[\s\-_'\"‘’“”]+")


@dataclass(frozen=True)
class Checked:
    """Outcome of checking one identifier cell: the canonical value or the reason it failed."""

    value: str | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def _to_halfwidth(text: str) -> str:
    # NFKC maps full-width digits and letters (０-９, Ｘ) to ASCII.
    return unicodedata.normalize("NFKC", text)


def _clean(raw: str) -> str:
    return _SEPARATORS.sub("", _to_halfwidth(raw)).upper()


def _excel_damage(cleaned: str, expected_length: int) -> str | None:
    """Return an explanation if the text looks like an identifier mangled by Excel."""
    if _SCIENTIFIC.match(cleaned):
        return (
            "looks like Excel scientific notation: the cell was stored as a number and lost "
            "its last digits; format the column as text before exporting"
        )
    if _FLOAT_SUFFIX.match(cleaned):
        return (
            "ends in '.0': the column was exported as a number; format it as text "
            "before exporting"
        )
    if len(cleaned) == expected_length and cleaned.isdigit() and cleaned.endswith("000"):
        return (
            "ends in 000 and fails the check digit: Excel keeps only 15 significant digits "
            "of a number; format the column as text and export again from the source system"
        )
    return None


def convert_15_to_18(number: str) -> str:
    """Convert a first-generation 15-digit ID to 18 digits (insert century 19, add check)."""
    body = number[:6] + "19" + number[6:]
    # calc_check_digit ignores the last character of its argument, the check position.
    return body + ric.calc_check_digit(body + "0")


@lru_cache(maxsize=1 << 16)
def check_resident_id(raw: str | None) -> Checked:
    """Normalise and validate a resident ID number (居民身份证号码)."""
    if raw is None or not raw.strip():
        return Checked(None, "missing")
    cleaned = _clean(raw)

    if len(cleaned) == 15 and cleaned.isdigit():
        try:
            ric.get_birth_date(convert_15_to_18(cleaned))
        except ValidationError:
            return Checked(None, "15-digit ID with an impossible birth date")
        cleaned = convert_15_to_18(cleaned)

    try:
        return Checked(ric.validate(cleaned))
    except InvalidChecksum:
        damage = _excel_damage(cleaned, 18)
        return Checked(None, damage or "check digit is wrong: re-enter the number from the card")
    except InvalidLength:
        damage = _excel_damage(cleaned, 18)
        return Checked(None, damage or f"has {len(cleaned)} characters; expected 18 (or 15)")
    except InvalidFormat:
        damage = _excel_damage(cleaned, 18)
        return Checked(
            None, damage or "contains characters other than digits and a final X"
        )
    except InvalidComponent:
        return Checked(None, "birth date or area code in the number does not exist")
    except ValidationError:
        return Checked(None, "not a valid resident ID number")


@lru_cache(maxsize=1 << 14)
def check_credit_code(raw: str | None) -> Checked:
    """Normalise and validate a unified social credit code (统一社会信用代码)."""
    if raw is None or not raw.strip():
        return Checked(None, "missing")
    cleaned = _clean(raw)
    try:
        return Checked(uscc.validate(cleaned))
    except InvalidChecksum:
        return Checked(None, "check character is wrong: copy the code from the licence again")
    except InvalidLength:
        return Checked(None, f"has {len(cleaned)} characters; expected 18")
    except InvalidFormat:
        return Checked(
            None, "contains characters outside 0-9 and A-Y (I, O, S, V and Z are never used)"
        )
    except ValidationError:
        return Checked(None, "not a valid unified social credit code")
