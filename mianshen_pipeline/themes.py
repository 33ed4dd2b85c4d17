"""The five theme tables (主题库) built in SQL from the staged datasets."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from mianshen_pipeline.contracts import load_contracts
from mianshen_pipeline.staging import accepted_drops
from mianshen_pipeline.warehouse import read_sql


@dataclass(frozen=True)
class ThemeSpec:
    """A theme table, the SQL that builds it and the datasets it reads."""

    name: str
    title: str
    datasets: tuple[str, ...]

    @property
    def sql_file(self) -> str:
        return f"themes/{self.name}.sql"


THEME_SPECS = {
    spec.name: spec
    for spec in (
        ThemeSpec("person", "自然人 persons: household register with deaths",
                  ("psb/household_register", "civil_affairs/death_records")),
        ThemeSpec("legal_entity", "法人 legal entities: the enterprise register",
                  ("market/enterprise_register",)),
        ThemeSpec("kinship", "亲属关系 parent-child links from birth certificates and households",
                  ("health/birth_certificates", "psb/household_register")),
        ThemeSpec("marriage", "婚姻 marriages with the date and reason they ended",
                  ("civil_affairs/marriage_registrations", "civil_affairs/death_records")),
        ThemeSpec("address", "地址 standard addresses with street, committee and residents",
                  ("planning/standard_addresses", "psb/household_register")),
    )
}


@dataclass
class ThemeResult:
    """Row count of a rebuilt theme and the inputs that have not been delivered yet."""

    rows: int
    undelivered: list[str]


def build_theme(con: duckdb.DuckDBPyConnection, spec: ThemeSpec) -> ThemeResult:
    """Rebuild one theme table; an input never delivered contributes no rows."""
    contracts = load_contracts()
    undelivered = [key for key in spec.datasets if not accepted_drops(con, contracts[key])]
    con.execute(read_sql(spec.sql_file))
    rows = con.execute(f"SELECT count(*) FROM theme.{spec.name}").fetchone()[0]
    return ThemeResult(rows, undelivered)
