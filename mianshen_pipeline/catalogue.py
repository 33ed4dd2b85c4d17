"""The policy catalogue: one YAML card per policy under ``assets/policies``.

A card carries the basic information the district publishes for each policy, the data it
needs, its calculation cycle, push and payout rules, and its parameters as dated values with
their source. The rule itself is SQL under ``sql/policies``. Adding a policy is a card and a
rule, with no Python change.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from mianshen_pipeline.paths import ASSETS_DIR, SQL_DIR

POLICIES_DIR = ASSETS_DIR / "policies"
RULES_DIR = SQL_DIR / "policies"
THEMES = ("person", "legal_entity", "kinship", "marriage", "address")


class Mode(StrEnum):
    DIRECT = "direct"  # 直接兑现: pay and notify
    CONFIRM = "confirm"  # 一键确认: push a confirmation, pay once confirmed
    QR = "qr"  # 扫码识别: recognise the entitled group when a QR code is scanned


class Cycle(StrEnum):
    DAILY = "daily"
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    YEARLY = "yearly"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ServiceItem(_Strict):
    """The registered government service item (政务服务事项) behind the policy."""

    name: str
    code: str


class DatedValue(_Strict):
    """A parameter value in force from ``valid_from`` until the next value's date."""

    valid_from: dt.date
    value: Any
    reference: str = Field(min_length=1, description="Where the value comes from.")


class Parameter(_Strict):
    """A parameter of the rule: a scalar, or a table of rows such as age brackets."""

    type: Literal["string", "integer", "decimal", "date", "table"]
    description: str = ""
    columns: dict[str, Literal["string", "integer", "decimal", "date"]] | None = None
    values: list[DatedValue] = Field(min_length=1)

    @model_validator(mode="after")
    def _check(self) -> Parameter:
        dates = [v.valid_from for v in self.values]
        if dates != sorted(dates) or len(set(dates)) != len(dates):
            raise ValueError("values must be in increasing valid_from order, one per date")
        if self.type == "table":
            if not self.columns:
                raise ValueError("a table parameter needs columns")
            for dated in self.values:
                if not isinstance(dated.value, list):
                    raise ValueError(f"value from {dated.valid_from} must be a list of rows")
                for row in dated.value:
                    if not isinstance(row, dict) or set(row) != set(self.columns):
                        raise ValueError(
                            f"each row from {dated.valid_from} must have exactly the columns "
                            f"{', '.join(self.columns)}"
                        )
        return self

    def value_on(self, day: dt.date) -> DatedValue | None:
        """Return the dated value in force on ``day``, or None before the first one."""
        current = None
        for dated in self.values:
            if dated.valid_from <= day:
                current = dated
        return current


class PushRules(_Strict):
    """Push rules: the audience, channel, templates and frequency of messages."""

    audience: Literal["everyone", "new_entrants"] = "everyone"
    channel: Literal["citizen_homepage", "enterprise_page", "sms"] = "citizen_homepage"
    templates: dict[str, str]
    frequency: Literal["every_cycle", "once"] = "every_cycle"


class Needs(_Strict):
    """The datasets and theme tables a rule reads."""

    datasets: list[str] = Field(default_factory=list)
    themes: list[Literal["person", "legal_entity", "kinship", "marriage", "address"]] = Field(
        default_factory=list
    )


class PolicyCard(_Strict):
    """One policy of the catalogue."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str
    name_en: str
    service_object: Literal["person", "legal_entity"]
    service_content: str
    conditions_text: str
    times_per_year: int = Field(ge=0)
    application_window: str
    implementing_department: str
    payout_time: str
    hotline: str
    mode: Mode
    notes: str = ""
    links: list[str] = Field(default_factory=list)
    service_item: ServiceItem
    lead_unit: str
    data_units: list[str]
    needs: Needs
    cycle: Cycle
    cycle_lag: int = Field(
        default=0, ge=0,
        description="Cycles before the one containing the as-of date that the run computes, "
        "e.g. 1 for a yearly refund of the previous year.",
    )
    effective_from: dt.date
    rule: str
    condition_texts: dict[str, str] = Field(
        description="Plain words for each cond_* column of the rule, shown by explain and "
        "checkup.",
    )
    push: PushRules
    budget_ceiling: float = Field(gt=0, description="Yuan per cycle.")
    credit_exclusion: bool = Field(
        default=False,
        description="Whether subjects on a dishonesty list on the as-of date are excluded.",
    )
    max_cohort_change: float = Field(
        default=0.3, ge=0,
        description="Share of the previous cohort that may enter or leave in one cycle "
        "before a warning check fails.",
    )
    notice_working_days: int = Field(
        default=5, ge=0, description="Working days the public disclosure list is shown.",
    )
    confirm_days: int = Field(
        default=30, gt=0,
        description="Confirm mode: days from the first request to the confirmation deadline.",
    )
    parameters: dict[str, Parameter] = Field(default_factory=dict)

    @property
    def rule_path(self) -> Path:
        return RULES_DIR / self.rule

    @property
    def cases_path(self) -> Path:
        return POLICIES_DIR / f"{self.id}.cases.yaml"

    @property
    def pays(self) -> bool:
        """Whether the policy pays money (direct and confirm modes) rather than recognising a
        group at a QR scan."""
        return self.mode in (Mode.DIRECT, Mode.CONFIRM)

    @model_validator(mode="after")
    def _check_card(self) -> PolicyCard:
        for name in self.condition_texts:
            if not name.startswith("cond_"):
                raise ValueError(f"condition_texts key {name!r} must start with cond_")
        # Conditions every rule gets from the pipeline's controls.
        self.condition_texts.setdefault(
            "cond_not_excluded_by_correction",
            "未被批准的纠错排除 not excluded by an approved correction",
        )
        if self.credit_exclusion:
            self.condition_texts.setdefault(
                "cond_not_on_dishonesty_list", "不在失信名单上 not on a dishonesty list"
            )
        for template in self.push.templates.values():
            if not (ASSETS_DIR / "templates" / template).is_file():
                raise ValueError(f"push template {template} not found under assets/templates")
        return self


class CardError(ValueError):
    """A policy card that does not match the schema."""


def _describe(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        location = ".".join(str(p) for p in error["loc"]) or "(card)"
        fix = {"missing": "add it", "extra_forbidden": "remove it or check its spelling"}.get(
            error["type"], "correct the value"
        )
        parts.append(f"field {location}: {error['msg']}; {fix}")
    return "; ".join(parts)


def load_card(path: Path) -> PolicyCard:
    """Load and validate one card, naming the card and the field on error."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise CardError(f"policy card {path.name}: not valid YAML: {exc}") from exc
    try:
        card = PolicyCard.model_validate(data)
    except ValidationError as exc:
        raise CardError(f"policy card {path.name}: {_describe(exc)}") from exc
    if card.id != path.stem:
        raise CardError(f"policy card {path.name}: field id is {card.id!r}; it must match the "
                        f"file name {path.stem!r}")
    if not card.rule_path.is_file():
        raise CardError(f"policy card {path.name}: field rule names {card.rule}, which does "
                        f"not exist under sql/policies")
    return card


@cache
def load_catalogue(directory: Path = POLICIES_DIR) -> dict[str, PolicyCard]:
    """Load every card under ``directory``, keyed by policy id."""
    paths = sorted(p for p in directory.glob("*.yaml") if not p.name.endswith(".cases.yaml"))
    return {card.id: card for card in map(load_card, paths)}
