"""Dataset contracts: what each department delivers, declared in YAML under ``assets/datasets``.

A contract names the dataset's columns with their types, header aliases (English or the
department's Chinese wording), whether each is required or personal, the primary key, whether
a drop is a full snapshot or a delta, the cadence, and the file formats accepted.
"""

from __future__ import annotations

import re
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from mianshen_pipeline.paths import ASSETS_DIR

CONTRACTS_DIR = ASSETS_DIR / "datasets"
FORMATS = ("csv", "xlsx", "parquet", "jsonl")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class ColumnType(StrEnum):
    STRING = "string"
    RESIDENT_ID = "resident_id"
    CREDIT_CODE = "credit_code"
    DATE = "date"
    CODE = "code"
    INTEGER = "integer"
    DECIMAL = "decimal"


PersonalKind = Literal["id", "name", "account", "phone", "text"]


class Column(BaseModel):
    """One column of a dataset contract."""

    model_config = ConfigDict(extra="forbid")

    name: str
    type: ColumnType = ColumnType.STRING
    required: bool = False
    personal: PersonalKind | None = None
    description: str = ""
    aliases: list[str] = Field(default_factory=list)
    codes: dict[str, str] | None = None
    pattern: str | None = None
    pattern_hint: str | None = None
    min: float | None = None
    max: float | None = None
    allow_future: bool = Field(
        default=False, description="Dates: whether a date after the as-of date is plausible."
    )
    after_birth_of: str | None = Field(
        default=None,
        description="Dates: resident ID column whose holder's birth date this date cannot precede.",
    )
    birth_date_of: str | None = Field(
        default=None,
        description="Dates: resident ID column whose encoded birth date this date must equal.",
    )

    @model_validator(mode="after")
    def _check(self) -> Column:
        if not _NAME.match(self.name):
            raise ValueError(f"column name {self.name!r} must be lower_snake_case")
        if self.type == ColumnType.CODE and not self.codes:
            raise ValueError(f"column {self.name!r} has type code but no codes")
        if self.pattern is not None:
            re.compile(self.pattern)
        return self

    @property
    def label(self) -> str:
        """Column name with its first Chinese alias, as departments know it."""
        return f"{self.name} ({self.aliases[0]})" if self.aliases else self.name

    @property
    def sql_type(self) -> str:
        return {
            ColumnType.DATE: "DATE",
            ColumnType.INTEGER: "BIGINT",
            ColumnType.DECIMAL: "DECIMAL(18, 2)",
        }.get(self.type, "VARCHAR")


class Cadence(BaseModel):
    """How often a department must deliver the dataset."""

    model_config = ConfigDict(extra="forbid")

    every: int = Field(gt=0)
    unit: Literal["working_days", "months"]


class DatasetContract(BaseModel):
    """The contract one department follows for one dataset."""

    model_config = ConfigDict(extra="forbid")

    department: str
    dataset: str
    title: str
    description: str = ""
    load: Literal["snapshot", "delta"]
    primary_key: list[str]
    delete_column: str | None = Field(
        default=None,
        description="Delta datasets: column whose canonical code 'delete' removes the key.",
    )
    cadence: Cadence
    row_checks: str | None = Field(
        default=None,
        description="SQL file under sql/checks returning rows that fail a check against the "
        "warehouse: _row, column, check, reason.",
    )
    max_shrink: float = Field(
        default=0.3, ge=0, le=1,
        description="Snapshots: largest share of rows a new snapshot may lose against the "
        "previous accepted one before it is held for review.",
    )
    formats: list[Literal["csv", "xlsx", "parquet", "jsonl"]]
    columns: list[Column]

    @model_validator(mode="after")
    def _check(self) -> DatasetContract:
        names = [c.name for c in self.columns]
        if len(set(names)) != len(names):
            raise ValueError("column names repeat")
        for key in self.primary_key:
            if key not in names:
                raise ValueError(f"primary key column {key!r} is not a column")
        if self.delete_column and self.delete_column not in names:
            raise ValueError(f"delete_column {self.delete_column!r} is not a column")
        if self.delete_column and self.load != "delta":
            raise ValueError("delete_column is only meaningful for delta datasets")
        for col in self.columns:
            for referent in (col.after_birth_of, col.birth_date_of):
                if referent and (
                    referent not in names
                    or self.column(referent).type != ColumnType.RESIDENT_ID
                ):
                    raise ValueError(
                        f"column {col.name}: {referent!r} must name a resident_id column"
                    )
        return self

    @property
    def id_birth_columns(self) -> list[str]:
        """Resident ID columns whose encoded birth date another column is compared with."""
        referents = {c.after_birth_of for c in self.columns} | {
            c.birth_date_of for c in self.columns
        }
        return [c.name for c in self.columns if c.name in referents]

    @property
    def key(self) -> str:
        """``department/dataset``, the name departments and the UI use."""
        return f"{self.department}/{self.dataset}"

    @property
    def table(self) -> str:
        """Table name shared by the raw and staging schemas."""
        return f"{self.department}__{self.dataset}"

    @property
    def personal(self) -> dict[str, str | None]:
        return {c.name: c.personal for c in self.columns}

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(f"{self.key} has no column {name!r}")


class ContractError(ValueError):
    """A contract file that does not match the schema."""


def load_contract(path: Path) -> DatasetContract:
    """Load one contract file, naming the file and field on error."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        contract = DatasetContract.model_validate(data)
    except (yaml.YAMLError, ValidationError) as exc:
        raise ContractError(f"dataset contract {path.name} is invalid: {exc}") from exc
    expected = (path.parent.name, path.stem)
    if (contract.department, contract.dataset) != expected:
        raise ContractError(
            f"dataset contract {path.name}: department/dataset {contract.key} must match its "
            f"location {expected[0]}/{expected[1]}.yaml"
        )
    return contract


@cache
def load_contracts(directory: Path = CONTRACTS_DIR) -> dict[str, DatasetContract]:
    """Load every contract under ``directory``, keyed by ``department/dataset``."""
    contracts = {}
    for path in sorted(directory.glob("*/*.yaml")):
        contract = load_contract(path)
        contracts[contract.key] = contract
    return contracts
